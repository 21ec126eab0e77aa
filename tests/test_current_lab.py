"""The lab a command acts on without --name: $NETLAB_LAB, else `netlab use`'s choice, else the only one up."""

import os

import pytest
from click.testing import CliRunner

from netlab import cli, names


@pytest.fixture
def run_dir(tmp_path, monkeypatch):
    monkeypatch.setattr(names, "RUN_DIR", tmp_path)
    monkeypatch.delenv(names.LAB_ENV, raising=False)
    return tmp_path


@pytest.mark.skipif(os.geteuid() != 0, reason="netlab use writes under the run folder as root")
def test_netlab_use_sets_prints_and_forgets_the_current_lab(run_dir):
    runner = CliRunner()
    assert runner.invoke(cli.main, ["use"]).exit_code != 0           # none yet, said so
    result = runner.invoke(cli.main, ["use", "shop"])
    assert result.exit_code == 0 and result.output == 'Switched to lab "shop".\n'
    assert runner.invoke(cli.main, ["use"]).output == "shop\n"
    assert cli._which_lab(None) == "shop" and cli._which_lab("other") == "other"
    assert runner.invoke(cli.main, ["use", "Not_A_Lab"]).exit_code != 0
    assert runner.invoke(cli.main, ["use", "--none"]).exit_code == 0 and names.current_lab() is None


def test_the_environment_wins_over_the_current_lab(run_dir, monkeypatch):
    names.use_lab("shop")
    assert names.current_lab() == "shop"
    monkeypatch.setenv(names.LAB_ENV, "lab2")
    assert names.current_lab() == "lab2" and cli._which_lab(None) == "lab2"
