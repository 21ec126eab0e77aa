"""Commands racing on one lab: two `up`s and a `down` started together are serialised by the lab's
lock, every one of them succeeds, and the lab ends either whole or gone, never half of each."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.campaign import figures
from tests.campaign.leaks import leftovers, namespace_inodes, remove
from tests.campaign.test_crash_steps import BASE, _answers, _described, _running_pods, _wait_for
from tests.conftest import dns_settled, netlab_cli, unique_lab

pytestmark = pytest.mark.root

ROUNDS = 8


def _start(*args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "netlab", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def test_down_racing_two_ups_never_breaks_the_lock_and_the_lab_ends_whole_or_gone(tmp_path):
    base = tmp_path / "base.yaml"
    base.write_text(BASE)
    lab = unique_lab("ncr")
    inodes: set = set()
    try:
        netlab_cli("up", "-f", str(base), "--name", lab)
        for round_ in range(ROUNDS):
            inodes |= namespace_inodes(lab)
            # a different order each round: down first, between the ups, last
            order = [("up",), ("up",), ("down",)]
            order.insert(round_ % 3, order.pop())
            racers = [_start(*(("up", "-f", str(base)) if what == ("up",) else what), "--name", lab)
                      for what in order]
            said = []
            for racer in racers:
                out, err = racer.communicate(timeout=120)
                assert racer.returncode == 0, f"round {round_}: {racer.args[3:]} failed: {err}"
                said.append(f"{racer.args[3]}: {out.splitlines()[:1]}")
            inodes |= namespace_inodes(lab)
            if namespace_inodes(lab):              # the lab is up: whole
                assert _wait_for(lambda: dns_settled(lab)), f"round {round_}: the cluster DNS is not up"
                assert "nothing to change" in netlab_cli("up", "-f", str(base), "--name", lab).stdout
                assert len(_running_pods(lab)) == 1 and _answers(lab, 30080)
            else:                                   # the lab is down: gone
                # (a supervisor an `up` started just as `down` finished leaves on its own, at once)
                assert _wait_for(lambda: leftovers(lab, inodes) == [], 2.0), (leftovers(lab, inodes), said)
                netlab_cli("up", "-f", str(base), "--name", lab)
        figures.record("down racing ups: rounds", ROUNDS)
    finally:
        netlab_cli("down", "--name", lab, check=False)
        _wait_for(lambda: leftovers(lab, inodes) == [], 2.0)
        left = [_described(item) for item in leftovers(lab, inodes)]
        remove(leftovers(lab, inodes))
    assert left == []
