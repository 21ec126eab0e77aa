"""Which commands the thin client sends to the lab's supervisor (netlab/client.py), and how a
command run for a client is captured."""

from netlab import client


def test_the_quick_commands_go_to_the_supervisor_unless_they_wait_or_read_local_files():
    assert client._quick(["get", "pods", "-o", "wide"]) and client._quick(["describe", "svc", "web"])
    assert client._quick(["label", "pod", "x", "a=b"]) and client._quick(["scale", "deploy/web", "--replicas", "2"])
    for argv in (["get", "pods", "-w"], ["get", "pods", "--watch"], ["apply", "-f", "x.yaml"], ["exec", "p", "--", "sh"],
                 ["get", "--help"], [], ["up"]):
        assert not client._quick(argv), argv


def test_the_lab_comes_from_name_then_the_current_lab(monkeypatch):
    assert client._lab_named(["get", "pods", "--name", "lab1"]) == "lab1"
    assert client._lab_named(["get", "pods", "--name=lab2"]) == "lab2"
    monkeypatch.setenv("NETLAB_LAB", "lab3")
    assert client._lab_named(["get", "pods"]) == "lab3"


def test_a_command_run_for_a_client_returns_its_output_and_exit_code():
    answer = client.run_here(["get", "frobs", "--name", "no-such-lab-here"])
    assert answer["code"] == 1 and answer["stdout"] == ""
    assert answer["stderr"].strip() == 'error: the server doesn\'t have a resource type "frobs"'
    assert client.run_here(["--version"]) == {"stdout": "netlab, version 0.1.0\n", "stderr": "", "code": 0}


def test_no_supervisor_answering_means_none():
    assert client.ask_supervisor("no-such-lab-here", ["get", "pods"]) is None


def test_usage_errors_are_kubectls_words_and_exit_1():
    import os
    import subprocess
    import sys
    env = dict(os.environ, NETLAB_LOCAL="1")
    flag = subprocess.run([sys.executable, "-m", "netlab", "get", "pods", "--frob"], env=env, capture_output=True,
                          text=True)
    assert (flag.returncode, flag.stderr) == (1, "error: unknown flag: --frob\nSee 'netlab get --help' for usage.\n")
    command = subprocess.run([sys.executable, "-m", "netlab", "frob"], env=env, capture_output=True, text=True)
    assert (command.returncode, command.stderr.splitlines()[0]) == (1, 'error: unknown command "frob" for "netlab"')


def test_status_of_every_lab_names_one_it_cannot_read_and_goes_on(monkeypatch):
    from click.testing import CliRunner
    from netlab import cli, inspect
    from netlab import lab as lab_mod
    from netlab.manifest.errors import ManifestError, Problem

    def summary(lab):
        if lab == "old":
            raise ManifestError([Problem("<lab config>", None, "spec.proxyMode", 'unknown field "proxyMode"')])
        return f"lab {lab}: 2 nodes"
    monkeypatch.setattr(lab_mod, "labs_up", lambda: ["old", "new"])
    monkeypatch.setattr(inspect, "summary", summary)
    result = CliRunner().invoke(cli.main, ["status"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].startswith("lab old: cannot be read: <lab config>") and lines[1] == "lab new: 2 nodes"
