"""A lab's state in etcd, behind netlab.state's functions: against a real etcd on 127.0.0.1.

What it must get right: the state round-trips as the file's very JSON; commands on any machine
serialise on one lock that names its holder and outlives no dead holder of this machine; a
supervisor's lock sees a forgotten lab as gone; a watch wakes on every other process's save, even
across an etcd restart, stops at once, and lets the supervisor sleep through its own writes.
"""

import json
import os
import socket
import subprocess
import sys
import threading
import time

import pytest

from netlab import controlplane, names, state, state_etcd, supervisor
from tests.conftest import unique_lab, until
from tests.etcdserver import free_port, running_etcd


@pytest.fixture(scope="module")
def etcd(tmp_path_factory):
    with running_etcd(tmp_path_factory.mktemp("etcd")) as server:
        yield server


@pytest.fixture(autouse=True)
def run_dir(tmp_path, monkeypatch):
    """This test's /run/netlab, for this process and the ones it starts."""
    folder = tmp_path / "run"
    monkeypatch.setattr(names, "RUN_DIR", folder)
    monkeypatch.setenv("NETLAB_RUN_DIR", str(folder))
    monkeypatch.setattr(state, "notify_watcher", True)     # (a supervisor run in a thread turns it off)
    return folder


@pytest.fixture
def lab(etcd):
    name = unique_lab("nlet")
    state.use_etcd(name, etcd.endpoint)
    yield name
    try:
        state.forget(name)
    except state.StoreError:
        pass                              # the test stopped its etcd


def _env(run_dir=None) -> dict:
    """This process's environment; RUN_DIR, when given, as the other process's /run/netlab."""
    env = dict(os.environ)
    if run_dir is not None:
        env["NETLAB_RUN_DIR"] = str(run_dir)
    return env


def run_elsewhere(code: str, *args, run_dir=None) -> None:
    """Python CODE (with ARGS as sys.argv[1:]) run to its end in another process."""
    done = subprocess.run([sys.executable, "-c", code, *args], env=_env(run_dir), capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr


def save_elsewhere(lab: str, pod_name: str) -> None:
    """Another process saves LAB's state, with one pod named POD_NAME (through this test's pointer)."""
    run_elsewhere("import sys; from netlab import state; "
                  "state.save(state.LabState(lab=sys.argv[1], pods={'default/a': {'name': sys.argv[2]}}))",
                  lab, pod_name)


def forget_on_another_machine(lab: str, endpoint: str, machine_run_dir) -> None:
    """What the last machine's `down` does to the lab's store, from a /run/netlab of its own."""
    run_elsewhere("import sys; from netlab import state; state.use_etcd(sys.argv[1], sys.argv[2]); "
                  "state.forget(sys.argv[1])", lab, endpoint, run_dir=machine_run_dir)


HOLD = """
import sys
from netlab import state
with state.locked({lab!r}):
    print("held", flush=True)
    sys.stdin.readline()                  # until the test says so
    {then}
print("released", flush=True)
"""


class Holder:
    """A command in another process holding the lab's lock until let_go(); killed on the way out."""

    def __init__(self, lab: str, then: str = "pass", run_dir=None):
        self.proc = subprocess.Popen([sys.executable, "-c", HOLD.format(lab=lab, then=then)], env=_env(run_dir),
                                     text=True, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        line = self.proc.stdout.readline()
        assert line == "held\n", line + self.proc.stderr.read()

    def let_go(self) -> None:
        self.proc.stdin.write("\n")
        self.proc.stdin.flush()
        assert self.proc.stdout.readline() == "released\n", self.proc.stderr.read()
        self.proc.wait(10)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(10)
        for stream in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            stream.close()


@pytest.fixture
def holders():
    made = []
    yield lambda *args, **kwargs: made.append(Holder(*args, **kwargs)) or made[-1]
    for holder in made:
        holder.close()


# -- the pointer (no etcd needed) ---------------------------------------------------------------

def test_use_etcd_points_the_lab_at_its_etcd_and_store_endpoint_reads_it_back(run_dir):
    state.use_etcd("x", "http://10.0.0.1:2379/")
    assert state.store_endpoint("x") == "http://10.0.0.1:2379"
    assert json.loads((run_dir / "x" / "store.json").read_text()) == {"etcd": "http://10.0.0.1:2379"}
    assert state.store_endpoint("y") is None


@pytest.mark.parametrize("endpoint", ["10.0.0.1:2379", "http://10.0.0.1", "ftp://10.0.0.1:21", "http://h:99999",
                                      "http://h:2379/v3"])
def test_an_endpoint_that_is_not_http_addr_port_is_refused(endpoint, run_dir):
    with pytest.raises(state.StoreError, match="is not an etcd endpoint"):
        state.use_etcd("x", endpoint)
    assert not (run_dir / "x" / "store.json").exists()


def test_a_lab_without_a_pointer_keeps_its_state_in_its_file(run_dir):
    state.save(state.LabState(lab="x"))
    assert (run_dir / "x" / "state.json").exists() and state.has_state("x")
    assert state.watch("x", lambda: None)() is None          # nothing to watch: a stop that does nothing
    state.forget("x")
    assert state.load("x") is not None


def test_an_unreachable_etcd_is_a_store_error_that_names_it():
    closed = f"http://127.0.0.1:{free_port()}"
    state.use_etcd("x", closed)
    with pytest.raises(state.StoreError, match=rf"lab 'x': etcd at {closed} is unreachable"):
        state.load("x")


# -- the state ----------------------------------------------------------------------------------

@pytest.mark.root
def test_a_saved_state_loads_back_whole_from_etcd_as_the_files_json(lab, run_dir, etcd):
    assert state.load(lab) is None and not state.has_state(lab)
    st = state.LabState(lab=lab, pods={"default/a": {"name": "a"}}, resource_version=3)
    state.save(st)
    again = state.load(lab)
    assert again.pods == st.pods and again.resource_version == 3 and state.has_state(lab)
    [(value, _)] = state_etcd.client(etcd.endpoint).get(f"/netlab/labs/{lab}/state", metadata=True)
    assert value.decode() == st.to_json()
    assert not (run_dir / lab / "state.json").exists()        # nothing of it in the file
    assert lab in state.known_labs()


@pytest.mark.root
def test_a_damaged_state_in_etcd_is_moved_aside(lab, etcd):
    etcd_client = state_etcd.client(etcd.endpoint)
    etcd_client.put(f"/netlab/labs/{lab}/state", '{"lab": "someone-else"}')
    with pytest.raises(state.StateDamaged, match="not this lab's state") as info:
        state.load(lab)
    assert f"/netlab/labs/{lab}/state.corrupt-" in str(info.value) and f"netlab down --name {lab}" in str(info.value)
    assert state.load(lab) is None
    [(value, _)] = etcd_client.get_prefix(f"/netlab/labs/{lab}/state.corrupt-")
    assert value == b'{"lab": "someone-else"}'


@pytest.mark.root
def test_a_save_that_changes_nothing_under_the_lock_writes_nothing(lab, etcd):
    state.save(state.LabState(lab=lab, resource_version=1))
    key = f"/netlab/labs/{lab}/state"
    before = state_etcd.client(etcd.endpoint).get(key, metadata=True)[0][1]["mod_revision"]
    with state.locked(lab):
        st = state.load(lab)
        state.save(st)
        assert state_etcd.client(etcd.endpoint).get(key, metadata=True)[0][1]["mod_revision"] == before
        st.resource_version = 2
        state.save(st)
    assert state_etcd.client(etcd.endpoint).get(key, metadata=True)[0][1]["mod_revision"] != before


@pytest.mark.root
def test_a_state_larger_than_etcd_takes_is_a_store_error_that_says_how_to_make_room(lab):
    big = state.LabState(lab=lab, allocations={"padding": "x" * 2_000_000})    # over etcd's 1.5 MiB
    with pytest.raises(state.StoreError, match="request is too large; start etcd with a larger --max-request-bytes"):
        state.save(big)


# -- the lock -----------------------------------------------------------------------------------

@pytest.mark.root
def test_a_second_command_waits_until_the_first_lets_go_of_the_lab(lab, holders):
    first = holders(lab)
    got = threading.Event()

    def second():
        with state.locked(lab, wait=20):
            got.set()
    thread = threading.Thread(target=second, daemon=True)
    thread.start()
    assert not got.wait(0.5)                       # it waits while the first holds the lab
    first.let_go()
    assert got.wait(5)
    thread.join(5)


@pytest.mark.root
def test_a_command_that_waited_its_time_is_told_who_holds_the_lab(lab, holders, etcd):
    first = holders(lab)
    who = rf"pid {first.proc.pid} on {socket.gethostname()}, since \d\d:\d\d:\d\d,"
    began = time.monotonic()
    with pytest.raises(state.LabBusy, match=rf"lab '{lab}' is busy: {who} holds its lock in etcd at {etcd.endpoint}"):
        with state.locked(lab, wait=0.3):
            pass
    assert 0.3 <= time.monotonic() - began < 5
    assert state.holder(lab).startswith(f"pid {first.proc.pid} on ")


@pytest.mark.root
def test_a_holder_killed_on_this_machine_does_not_keep_the_lab(lab, holders):
    first = holders(lab)
    first.proc.kill()
    first.proc.wait(10)
    began = time.monotonic()
    with state.locked(lab, wait=10):
        pass
    assert time.monotonic() - began < state_etcd.LOCK_TTL / 10    # not the lease running out


@pytest.mark.root
def test_a_lock_held_longer_than_its_lease_lasts_is_kept_alive(lab, monkeypatch):
    monkeypatch.setattr(state_etcd, "LOCK_TTL", 2)
    monkeypatch.setattr(state_etcd, "KEEPALIVE_EVERY", 0.3)
    with state.locked(lab):
        time.sleep(3.0)
        state.save(state.LabState(lab=lab))                    # no LockLost: the lock is still ours
        with pytest.raises(state.LabBusy):
            with state.locked(lab, wait=0.1):
                pass


@pytest.mark.root
def test_a_save_once_the_lock_ran_out_is_refused(lab, etcd):
    state.save(state.LabState(lab=lab))
    etcd_client = state_etcd.client(etcd.endpoint)
    with state.locked(lab):
        st = state.load(lab)
        [(_, meta)] = etcd_client.get(f"/netlab/labs/{lab}/lock", metadata=True)
        state_etcd.Lease(int(meta["lease"]), client=etcd_client).revoke()    # as a lease that expired
        st.resource_version = 9
        with pytest.raises(state_etcd.LockLost, match="ran out"):
            state.save(st)
    assert state.load(lab).resource_version == 0


@pytest.mark.root
def test_a_supervisors_lock_finds_the_lab_gone_once_another_machine_forgot_it(lab, etcd, tmp_path):
    state.save(state.LabState(lab=lab))
    with state.locked(lab, create=False):
        pass
    forget_on_another_machine(lab, etcd.endpoint, tmp_path / "other-machine")
    assert state.store_endpoint(lab) == etcd.endpoint     # this machine's pointer is its own
    with pytest.raises(state.LabGone):
        with state.locked(lab, create=False):
            pass


@pytest.mark.root
def test_a_supervisor_waiting_behind_the_last_down_gets_lab_gone_not_the_lock(lab, holders):
    state.save(state.LabState(lab=lab))
    down = holders(lab, then="state.forget(" + repr(lab) + ")")
    outcome = []

    def supervisor_pass():
        try:
            with state.locked(lab, wait=20, create=False):
                outcome.append("locked")
        except state.LabGone:
            outcome.append("gone")
    thread = threading.Thread(target=supervisor_pass, daemon=True)
    thread.start()
    time.sleep(0.3)
    down.let_go()
    thread.join(10)
    assert outcome == ["gone"]


# -- the watch ----------------------------------------------------------------------------------

def _watching(lab):
    woken = threading.Event()
    return woken, state.watch(lab, woken.set)


def _watch_threads(lab):
    return [t for t in threading.enumerate() if t.name == f"etcd watch {lab}"]


@pytest.mark.root
def test_a_watch_wakes_on_another_processes_save_and_stops_at_once(lab):
    state.save(state.LabState(lab=lab))
    woken, stop = _watching(lab)
    try:
        assert not woken.wait(0.3)
        save_elsewhere(lab, "b")
        assert woken.wait(5), "no wake after another process saved"
    finally:
        began = time.monotonic()
        stop()
        assert time.monotonic() - began < 1.0
    assert _watch_threads(lab) == []


@pytest.mark.root
def test_a_watch_sleeps_through_its_own_processes_quiet_saves(lab, monkeypatch):
    woken, stop = _watching(lab)
    try:
        monkeypatch.setattr(state, "notify_watcher", False)       # as the supervisor does for its writes
        state.save(state.LabState(lab=lab, resource_version=1))
        assert not woken.wait(0.5)
        monkeypatch.setattr(state, "notify_watcher", True)
        state.save(state.LabState(lab=lab, resource_version=2))
        assert woken.wait(5)
    finally:
        stop()


@pytest.mark.root
def test_a_watch_wakes_when_the_lab_is_forgotten(lab, tmp_path):
    state.save(state.LabState(lab=lab))
    woken, stop = _watching(lab)
    try:
        forget_on_another_machine(lab, state.store_endpoint(lab), tmp_path / "other-machine")
        assert woken.wait(5)
    finally:
        stop()


@pytest.mark.root
def test_a_watch_that_broke_opens_again_and_wakes_on_the_next_save(tmp_path):
    with running_etcd(tmp_path / "own-etcd") as server:
        name = unique_lab("nlet")
        state.use_etcd(name, server.endpoint)
        state.save(state.LabState(lab=name))
        woken, stop = _watching(name)
        try:
            server.stop()                       # the stream breaks; the watch tries again meanwhile
            time.sleep(1.0)
            server.start()
            woken.clear()
            assert until(lambda: _reopened(name, woken), timeout=15), "the watch never woke again"
        finally:
            stop()
        assert _watch_threads(name) == []


def _reopened(lab, woken) -> bool:
    save_elsewhere(lab, "again")
    return woken.wait(1.0)


# -- the supervisor -----------------------------------------------------------------------------

@pytest.mark.root
def test_the_supervisor_wakes_on_a_change_another_process_saved_to_etcd(lab, monkeypatch):
    state.save(state.LabState(lab=lab))
    passes = []
    monkeypatch.setattr(controlplane, "control_pass", lambda lab, st, **_: passes.append(st.pods) or
                        controlplane.PassOutcome(now=time.time()))
    monkeypatch.setattr(supervisor.Supervisor, "_serve_api", lambda self, st: None)
    boss = supervisor.Supervisor(lab)
    thread = threading.Thread(target=boss.run, daemon=True)
    thread.start()
    try:
        assert until(lambda: passes, timeout=10), "the supervisor never ran its first pass"
        settled = len(passes)
        time.sleep(0.5)
        assert len(passes) == settled                  # idle: nothing woke it
        save_elsewhere(lab, "from-elsewhere")
        assert until(lambda: any(p.get("default/a", {}).get("name") == "from-elsewhere" for p in passes),
                     timeout=10), "no pass saw the other process's change"
    finally:
        boss._stop()
        thread.join(10)
    assert not thread.is_alive() and _watch_threads(lab) == []
