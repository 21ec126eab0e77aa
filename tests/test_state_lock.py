"""One lock per lab, shared by the CLI and the supervisor: a waiter never holds a removed lock file,
a busy lab names who holds it, and a damaged state file is moved aside in one line."""

import os
import threading
import time

import pytest

from netlab import names, state


@pytest.fixture(autouse=True)
def run_dir(tmp_path, monkeypatch):
    monkeypatch.setattr(names, "RUN_DIR", tmp_path)
    return tmp_path


def test_a_waiter_behind_a_down_locks_the_new_file_not_the_removed_one():
    holding, got = threading.Event(), []

    def down():
        with state.locked("x"):
            holding.set()
            time.sleep(0.2)                           # the waiter is blocked on the old file now
            state.remove_lock("x")

    def waiter():
        holding.wait()
        with state.locked("x", wait=5):
            path = state.lock_file("x")
            got.append(path.exists())
    threads = [threading.Thread(target=down), threading.Thread(target=waiter)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert got == [True]                               # it holds the file that is there


def test_a_busy_lab_says_who_holds_it():
    with state.locked("x"):
        with pytest.raises(state.LabBusy, match=rf"lab 'x' is busy: pid {os.getpid()}, since \d\d:\d\d:\d\d"):
            with state.locked("x", wait=0.1):
                pass


@pytest.mark.parametrize("text, why", [("{\"foo\": 1}", "not this lab's state"), ("{\"lab\": \"x\", ", "Expecting"),
                                       ("{\"lab\": \"x\", \"pods\": []}", "'pods' is not a dict")])
def test_a_damaged_state_file_is_moved_aside(text, why, run_dir):
    (run_dir / "x").mkdir()
    (run_dir / "x" / "state.json").write_text(text)
    with pytest.raises(state.StateDamaged, match=why) as info:
        state.load("x")
    assert "state.json.corrupt-" in str(info.value) and "netlab down --name x" in str(info.value)
    assert not (run_dir / "x" / "state.json").exists()
    assert len(list((run_dir / "x").glob("state.json.corrupt-*"))) == 1
    assert state.load("x") is None


def test_a_saved_state_loads_back_whole():
    st = state.LabState(lab="x", pods={"default/a": {"name": "a"}}, resource_version=3)
    state.save(st)
    again = state.load("x")
    assert again.pods == st.pods and again.resource_version == 3
