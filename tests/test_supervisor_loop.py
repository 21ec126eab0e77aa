"""The supervisor's event loop without root: a fake control pass, fake probes, real timers and sockets.

What it must get right: a probe that falls due while a pass runs still runs, timers fire in time
order whatever order they were armed in, a probe result is folded in before that probe runs again,
and a poke on the socket runs a pass.
"""

import threading
import time

import pytest

from netlab import controlplane, names, state, supervisor
from netlab.kubelet import probes


class FakePlane:
    """Stands in for controlplane.control_pass: a scripted list of outcomes, and what it was given."""

    def __init__(self):
        self.calls = []                 # (time, probe results) of each pass
        self.script = []                # outcomes to return, then empty ones
        self.lock = threading.Lock()

    def __call__(self, lab, st, probe_results=(), finished=(), terminating=frozenset(), runtime=None):
        with self.lock:
            self.calls.append((time.time(), list(probe_results)))
            if self.script:
                return self.script.pop(0)(time.time())
        return controlplane.PassOutcome(now=time.time())


@pytest.fixture
def loop(tmp_path, monkeypatch):
    monkeypatch.setattr(names, "RUN_DIR", tmp_path)
    lab = "loop"
    state.save(state.LabState(lab=lab))
    state.lock_file(lab).touch()            # a lab that is up has its lock file (netlab up made it)
    plane = FakePlane()
    monkeypatch.setattr(controlplane, "control_pass", plane)
    ran = []
    monkeypatch.setattr(probes, "run_probe", lambda spec, ip, ns, pid: ran.append(time.time()) or
                        probes.ProbeOutcome(True, ""))
    boss = supervisor.Supervisor(lab)
    thread = threading.Thread(target=boss.run, daemon=True)
    yield lab, boss, plane, ran, thread
    boss._stop()
    thread.join(5)
    assert not thread.is_alive()


def _wait(check, seconds=3.0):
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


SPEC = probes.probe_spec("readiness", {"exec": {"command": ["true"]}, "periodSeconds": 1}, [])


def test_timers_fire_in_time_order_whatever_order_they_were_armed_in(loop):
    lab, boss, plane, _, thread = loop
    plane.script.append(lambda now: controlplane.PassOutcome(now=now, due=[now + 5.0, now + 0.2]))
    thread.start()
    assert _wait(lambda: len(plane.calls) >= 2, 2.0), "the 0.2 s timer did not fire before the 5 s one"
    assert plane.calls[1][0] - plane.calls[0][0] < 1.0


def test_a_probe_due_while_the_pass_ran_still_runs(loop):
    lab, boss, plane, ran, thread = loop
    # the pass decides at NOW and finds the probe due 50 ms later: by the time it returns, it is past
    def slow(now):
        time.sleep(0.1)
        return controlplane.PassOutcome(now=now - 0.1, due=[now - 0.05])
    plane.script.append(slow)
    plane.script.append(lambda now: controlplane.PassOutcome(now=now, probes=[("default/p", "c", SPEC,
                                                                                ("10.0.0.2", "n", 1))]))
    thread.start()
    assert _wait(lambda: ran, 2.0), "the probe that fell due during the pass never ran"


def test_a_probe_result_is_folded_in_by_the_next_pass_and_the_probe_is_not_run_twice_meanwhile(loop):
    lab, boss, plane, ran, thread = loop
    job = ("default/p", "c", SPEC, ("10.0.0.2", "n", 1))
    # every pass until the result is in says the probe is due (its state is not updated yet)
    for _ in range(3):
        plane.script.append(lambda now: controlplane.PassOutcome(now=now, probes=[job], again=True))
    thread.start()
    assert _wait(lambda: any(results for _, results in plane.calls), 3.0)
    folded = next(results for _, results in plane.calls if results)
    assert [(k, c, p.kind, o.success) for k, c, p, o, _ in folded] == [("default/p", "c", "readiness", True)]
    folded_at = next(when for when, results in plane.calls if results)
    assert len([t for t in ran if t < folded_at]) == 1             # once, however many passes came between


def test_a_poke_on_the_socket_runs_a_pass(loop):
    lab, boss, plane, _, thread = loop
    thread.start()
    assert _wait(lambda: len(plane.calls) == 1 and (names.lab_dir(lab) / supervisor.SOCKET_FILE).exists())
    time.sleep(0.05)
    assert len(plane.calls) == 1                       # nothing more to do: it sleeps
    supervisor.poke(lab)
    assert _wait(lambda: len(plane.calls) == 2)
