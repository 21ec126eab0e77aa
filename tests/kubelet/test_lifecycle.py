"""kubelet's restart decisions: restartPolicy, the immediate first restart, back-off 10 s doubling to 5 min."""

from netlab.kubelet import lifecycle
from netlab.kubelet.lifecycle import NOTHING, RESTART, WAIT, ContainerRecord, Observed


def exited(code, started, finished):
    return Observed(state="terminated", exit_code=code, started_at=started, finished_at=finished)


def crash_loop(policy="Always", runs=8, run_seconds=1.0):
    """Simulate a container that exits 1 after RUN_SECONDS each run; the wait before each restart."""
    record, now, waits = ContainerRecord(), 0.0, []
    for _ in range(runs):
        started, now = now, now + run_seconds
        record, action = lifecycle.decide(policy, exited(1, started, now), record, now)
        if action == NOTHING:
            break
        waits.append(record.restart_at - now)
        now = record.restart_at
        record, action = lifecycle.decide(policy, exited(1, started, started + run_seconds), record, now)
        assert action == RESTART
        record = lifecycle.restarted(record, now)
    return record, waits


def test_the_first_restart_is_immediate_then_the_back_off_doubles_up_to_five_minutes():
    record, waits = crash_loop(runs=8)
    assert waits == [0, 10, 20, 40, 80, 160, 300, 300]
    assert record.restart_count == 8


def test_restart_policy_never_keeps_the_container_terminated():
    record, action = lifecycle.decide("Never", exited(1, 0, 1), ContainerRecord(), 1)
    assert action == NOTHING and record.restart_count == 0


def test_on_failure_restarts_a_failed_run_but_not_a_successful_one():
    assert lifecycle.decide("OnFailure", exited(2, 0, 1), ContainerRecord(), 1)[1] == RESTART
    assert lifecycle.decide("OnFailure", exited(0, 0, 1), ContainerRecord(), 1)[1] == NOTHING
    assert lifecycle.decide("Always", exited(0, 0, 1), ContainerRecord(), 1)[1] == RESTART


def test_a_waiting_restart_is_crash_loop_back_off_until_it_is_due():
    record, _ = crash_loop(runs=1)                       # one restart done, back-off now 10 s
    run = exited(1, 100, 101)
    record, action = lifecycle.decide("Always", run, record, 101)
    assert action == WAIT and record.restart_at == 111
    assert lifecycle.waiting_reason(record, run, 105) == ("CrashLoopBackOff",
                                                          "back-off 10s restarting failed container")
    assert lifecycle.decide("Always", run, record, 111)[1] == RESTART
    assert record.last_state["exitCode"] == 1 and record.last_state["reason"] == "Error"


def test_a_run_of_ten_minutes_forgets_the_back_off():
    record, _ = crash_loop(runs=5)
    assert record.backoff == 160
    record, action = lifecycle.decide("Always", exited(1, 1000, 1000 + 600), record, 1600)
    assert action == RESTART and record.restart_at == 1600


def test_a_run_already_handled_is_not_counted_twice():
    record, action = lifecycle.decide("Always", exited(1, 0, 1), ContainerRecord(), 1)
    record = lifecycle.restarted(record, 1)
    # the runtime has not replaced the old run's status yet: nothing more to do
    again, action = lifecycle.decide("Always", exited(1, 0, 1), record, 1.01)
    assert action == NOTHING and again.restart_count == 1


def test_a_running_container_needs_nothing():
    running = Observed(state="running", started_at=5)
    assert lifecycle.decide("Always", running, ContainerRecord(), 6) == (ContainerRecord(), NOTHING)
