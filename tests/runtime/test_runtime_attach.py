"""kubectl run -it / attach: containers with stdin and a tty, attached through their init's socket.

The pure parts (manifest -> ContainerSpec -> plan) run anywhere; the rest are root tests with real
pods in throwaway network namespaces, attach() driven through a pseudo-terminal or a pipe as its
stdin and a pipe as its stdout (no real terminal needed), or run in a process of its own on a
pseudo-terminal, as `netlab attach` would be."""

from __future__ import annotations

import fcntl
import io
import os
import pathlib
import select
import signal
import stat
import struct
import subprocess
import sys
import termios
import threading
import time

import pytest

from netlab import lab as lab_mod
from netlab.cluster.controllers import PodInstance
from netlab.cluster.topology import build_topology
from netlab.manifest import loads
from netlab.manifest.model import LabConfig
from netlab.runtime import ContainerSpec, attach, attachable, pod_status, read_logs, restart_container, stop_pod
from netlab.runtime import daemon, stdio
from tests.runtime.test_runtime_pods import Lab as PodsLab
from netlab.runtime.command import plan_container

root = pytest.mark.root


# -- pure: what the manifest asks for, and what is planned for it ------------------------------------

POD = """\
apiVersion: v1
kind: Pod
metadata: {name: p}
spec:
  containers:
  - {name: shell, image: busybox, command: [sh], stdin: true, stdinOnce: true, tty: true}
  - {name: reader, image: busybox, command: [cat], stdin: true}
  - {name: plain, image: busybox, command: [sleep, "300"]}
"""


def test_the_manifests_stdin_stdin_once_and_tty_reach_the_runtime():
    pod_obj, = loads(POD).pods
    topology = build_topology("t", LabConfig())
    pod = PodInstance(namespace="default", name="p", uid="u", node="node1", ip="10.244.1.2", source=pod_obj.key,
                      labels={}, spec_hash="h")
    spec = lab_mod.runtime_spec("t", pod, pod_obj, topology, [])
    assert [(c.name, c.stdin, c.stdin_once, c.tty) for c in spec.containers] == [
        ("shell", True, True, True), ("reader", True, False, False), ("plain", False, False, False)]


def test_only_a_command_gets_stdin_or_a_tty():
    shell = plan_container(ContainerSpec(name="sh", image="busybox", command=["sh"], stdin=True, stdin_once=True,
                                         tty=True), {})
    assert (shell.mode, shell.stdin, shell.stdin_once, shell.tty, shell.attachable) == ("exec", True, True, True, True)
    # stdinOnce means nothing without stdin; a tty alone is a terminal without input
    alone = plan_container(ContainerSpec(name="t", image="busybox", command=["top"], stdin_once=True, tty=True), {})
    assert (alone.stdin, alone.stdin_once, alone.tty, alone.attachable) == (False, False, True, True)
    # netlab's own servers (nginx's document root here, a placeholder sleep) read no stdin
    for spec in (ContainerSpec(name="web", image="nginx", stdin=True, tty=True),
                 ContainerSpec(name="idle", image="busybox", stdin=True, tty=True)):
        plan = plan_container(spec, {})
        assert plan.mode != "exec" and not (plan.stdin or plan.tty or plan.attachable)
    plain = plan_container(ContainerSpec(name="p", image="busybox", command=["sleep", "1"]), {})
    assert not plain.attachable


# -- root: real pods ----------------------------------------------------------------------------------


def _wait(what: str, check, timeout: float = 10.0):
    deadline = time.monotonic() + timeout
    while True:
        got = check()
        if got:
            return got
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


class Lab(PodsLab):
    """test_runtime_pods' throwaway namespaces and pods, under a long state path on purpose (the
    attach socket is reached through a descriptor, not its path)."""

    def __init__(self, tmp: pathlib.Path):
        super().__init__(tmp / ("deep-" * 12))

    def start(self, containers: list[ContainerSpec]) -> pathlib.Path:
        _, state = super().start(self.netns(f"at{len(self.namespaces)}"), containers, name="attach-1",
                                 pod_ip="10.250.8.2")
        return state


@pytest.fixture
def lab(tmp_path):
    lab = Lab(tmp_path)
    try:
        yield lab
    finally:
        lab.cleanup()


class Session:
    """attach() in a thread: its stdin a pseudo-terminal (TERMINAL) or a pipe we write, its stdout a
    pipe another thread drains (as a terminal would be), its output gathered in `out`."""

    def __init__(self, state: pathlib.Path, container: str, terminal: bool = False, size=None):
        if terminal:
            self.in_w, self.in_r = os.openpty()          # we type on the master, attach reads the slave
            if size:
                fcntl.ioctl(self.in_r, termios.TIOCSWINSZ, struct.pack("HHHH", size[0], size[1], 0, 0))
            self.cooked = termios.tcgetattr(self.in_r)
        else:
            self.in_r, self.in_w = os.pipe()
        out_r, out_w = os.pipe()
        self.out = b""
        self.result: list = []
        self.changed = threading.Condition()

        def run():
            try:
                self.result.append(attach(state, container, stdin=self.in_r, stdout=out_w))
            except BaseException as e:   # handed to the test
                self.result.append(e)
            finally:
                os.close(out_w)

        def drain():
            while chunk := os.read(out_r, 65536):
                with self.changed:
                    self.out += chunk
                    self.changed.notify_all()
            os.close(out_r)

        self.reader = threading.Thread(target=drain, daemon=True)
        self.reader.start()
        self.thread = threading.Thread(target=run, daemon=True)
        self.thread.start()

    def raw(self) -> bool:
        return not termios.tcgetattr(self.in_r)[3] & termios.ICANON

    def send(self, data: bytes) -> None:
        os.write(self.in_w, data)

    def end_input(self) -> None:
        os.close(self.in_w)
        self.in_w = None

    def expect(self, text: bytes, timeout: float = 10.0) -> bytes:
        """Wait until TEXT shows in the output; all of it so far."""
        with self.changed:
            if not self.changed.wait_for(lambda: text in self.out or not self.reader.is_alive(), timeout) \
                    or text not in self.out:
                raise AssertionError(f"no {text!r} in the output: {self.out!r}")
            return self.out

    def finish(self, timeout: float = 10.0):
        """What attach() returned, once it has (and all its output is read)."""
        self.thread.join(timeout)
        self.reader.join(timeout)
        assert not self.thread.is_alive(), f"attach() still runs; output so far: {self.out!r}"
        (result,) = self.result
        if isinstance(result, BaseException):
            raise result
        return result

    def close(self) -> None:
        for fd in (self.in_r, self.in_w):
            if fd is not None:
                try:
                    os.close(fd)
                except OSError:
                    pass


@pytest.fixture
def sessions():
    opened: list[Session] = []
    yield lambda *a, **kw: opened.append(Session(*a, **kw)) or opened[-1]
    for s in opened:
        if s.in_w is not None:
            s.end_input()               # a session left waiting on its input ends with it
    for s in opened:
        s.thread.join(5)
        s.close()


def _status(state, name):
    return next(c for c in pod_status(state).containers if c.name == name)


def _terminated(state, name):
    return _wait(f"{name} to terminate", lambda: (c := _status(state, name)).state == "terminated" and c)


def _socket(state, name) -> pathlib.Path:
    return state / "containers" / f"{name}.attach"


@root
@pytest.mark.parametrize("pid_namespaces", [True, False], ids=["pidns", "no-pidns"])
def test_a_tty_shell_is_attached_to_on_its_own_terminal(lab, sessions, monkeypatch, pid_namespaces):
    if not pid_namespaces:
        monkeypatch.setenv(daemon.NO_PID_NAMESPACES, "1")   # this test's own runtime starts with it
    state = lab.start([ContainerSpec(name="shell", image="busybox", command=["sh"], stdin=True, stdin_once=True,
                                     tty=True)])
    sock = _socket(state, "shell")
    mode = sock.stat().st_mode
    assert stat.S_ISSOCK(mode) and stat.S_IMODE(mode) == 0o600 and attachable(state, "shell")
    # the shell leads a session of its own whose controlling terminal is its fd 0, 1 and 2
    pid = _status(state, "shell").pid
    fields = pathlib.Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    assert int(fields[3]) == pid and int(fields[4]) != 0          # session, tty_nr
    assert len({os.readlink(f"/proc/{pid}/fd/{fd}") for fd in (0, 1, 2)}) == 1
    s = sessions(state, "shell", terminal=True, size=(33, 101))
    _wait("the terminal in raw mode", s.raw)
    s.send(b"tty\n")
    s.expect(b"/dev/pts/0")
    s.send(b"stty size\n")
    s.expect(b"33 101")
    # what attach() does on SIGWINCH: the new size on a connection of its own
    fcntl.ioctl(s.in_r, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    stdio._resize(state, "shell", (s.in_r,))
    s.send(b"stty size\n")
    s.expect(b"40 120")
    s.send(b"echo hello-$((40+2))\n")
    s.expect(b"hello-42")
    s.send(b"exit\n")
    assert s.finish() == 0
    assert termios.tcgetattr(s.in_r) == s.cooked               # the local terminal as it was
    st = _terminated(state, "shell")
    assert (st.exit_code, st.reason) == (0, "Completed")
    log = (state / "containers" / "shell.log").read_bytes()      # as the terminal wrote it
    assert b"hello-42\r\n" in log and b"/dev/pts/0\r\n" in log and b"33 101\r\n" in log
    assert log.endswith(b"exit\r\n")
    assert not sock.exists() and not attachable(state, "shell")


@root
def test_stdin_once_ends_the_containers_stdin_when_its_client_detaches(lab, sessions):
    state = lab.start([ContainerSpec(name="cat", image="busybox", command=["cat"], stdin=True, stdin_once=True),
                       ContainerSpec(name="count", image="busybox", command=["wc", "-c"], stdin=True, stdin_once=True)])
    # more than a pipe holds: the init queues what the container has not read yet
    data = b"".join(b"%06d netlab\n" % i for i in range(20000))
    s = sessions(state, "cat")
    s.send(data)
    s.end_input()
    assert s.finish() == 0
    st = _terminated(state, "cat")
    assert (st.exit_code, st.reason) == (0, "Completed")
    assert read_logs(state, "cat").encode() == data
    assert s.out == data               # its output came back while attached (what it logged)
    # file objects without descriptors (click's, a test's): all of stdin first, then detach
    out = io.StringIO()
    assert attach(state, "count", stdin=io.BytesIO(b"twelve bytes"), stdout=out) == 0
    assert out.getvalue().strip() == "12"
    assert _terminated(state, "count").exit_code == 0 and read_logs(state, "count").strip() == "12"
    # a restarted container has a new attach socket, and a new stdin to close
    assert restart_container(state, "cat")
    _wait("cat to run again", lambda: attachable(state, "cat"))
    again = sessions(state, "cat")
    again.send(b"again\n")
    again.end_input()
    assert again.finish() == 0 and again.out == b"again\n"
    assert _terminated(state, "cat").exit_code == 0 and read_logs(state, "cat") == "again\n"


@root
def test_without_stdin_once_a_detach_leaves_stdin_open_for_the_next_client(lab, sessions):
    state = lab.start([ContainerSpec(name="cat", image="busybox", command=["cat"], stdin=True)])
    first = sessions(state, "cat")
    first.send(b"one\n")
    first.end_input()
    assert first.finish() == 0                          # detached at once: the container goes on
    _wait("the first line logged", lambda: read_logs(state, "cat") == "one\n")
    assert _status(state, "cat").state == "running"
    second = sessions(state, "cat")
    second.send(b"two\n")
    second.expect(b"two\n")
    assert read_logs(state, "cat") == "one\ntwo\n"
    # signals still reach the main process through its init: SIGTERM ends cat
    began = time.monotonic()
    stop_pod(state, grace=10)
    st = _terminated(state, "cat")
    assert (st.signal, st.exit_code) == (signal.SIGTERM, 143) and time.monotonic() - began < 5
    assert second.finish() == 0                         # the container's end ends the attach


@root
def test_a_tty_with_stdin_once_is_hung_up_when_its_client_goes(lab, sessions):
    state = lab.start([ContainerSpec(name="shell", image="busybox", command=["sh"], stdin=True, stdin_once=True,
                                     tty=True)])
    s = sessions(state, "shell", terminal=True)
    _wait("the terminal in raw mode", s.raw)
    s.send(b"echo up-$((6*7))\n")
    s.expect(b"up-42")
    s.end_input()                   # the local terminal goes: attach reads EIO, detaches
    assert s.finish() == 0
    st = _terminated(state, "shell")
    assert (st.signal, st.exit_code) == (signal.SIGHUP, 129)


@root
def test_a_tty_without_stdin_is_a_terminal_whose_output_one_can_follow(lab, sessions):
    state = lab.start([ContainerSpec(name="top", image="busybox", tty=True, run_as_user=65534, command=[
        "sh", "-c", 'while :; do stat -c "%u %n" "$(tty)"; read -t 0.1 x; done'])])
    s = sessions(state, "top")                  # nothing it sends would reach the container
    s.expect(b"65534 /dev/pts/0\r\n")          # its terminal is its user's (runc's fixStdioPermissions)
    assert b"65534 /dev/pts/0\r\n" in (state / "containers" / "top.log").read_bytes()
    assert s.thread.is_alive()                  # its stdin is not read: only the container's end ends it
    stop_pod(state, grace=5)
    assert s.finish() == 0


@root
def test_a_container_without_stdin_has_no_attach_socket(lab):
    state = lab.start([ContainerSpec(name="plain", image="busybox", command=["sh", "-c", "echo hi; sleep 300"]),
                       ContainerSpec(name="web", image="nginx", ports=[(80, "TCP")], stdin=True, tty=True)])
    _wait("its output", lambda: read_logs(state, "plain") == "hi\n")
    assert sorted(p.name for p in (state / "containers").iterdir() if p.suffix == ".attach") == []
    assert not attachable(state, "plain") and not attachable(state, "web")
    fds = [os.readlink(f"/proc/{_status(state, 'plain').pid}/fd/{fd}") for fd in (0, 1, 2)]
    # stdout and stderr: one pipe to the init, which stamps the output into plain.log (as a
    # runtime's shim reads a container's output from its pipes)
    assert fds[0].endswith("/dev/null") and fds[1] == fds[2] and fds[1].startswith("pipe:")
    with pytest.raises(LookupError, match="neither stdin nor a tty"):
        attach(state, "plain")
    with pytest.raises(LookupError, match="is not in pod"):
        attach(state, "nope")


def _expect(fd: int, text: bytes, seen: bytearray, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while text not in seen:
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([fd], [], [], left)[0]:
            raise AssertionError(f"no {text!r} in {bytes(seen)!r}")
        try:
            seen += os.read(fd, 65536)
        except OSError:                 # EIO: the other side is gone
            raise AssertionError(f"no {text!r} in {bytes(seen)!r}") from None


@root
def test_attach_on_a_real_terminal_follows_its_size_and_passes_ctrl_c(lab):
    state = lab.start([ContainerSpec(name="loop", image="busybox", stdin=True, stdin_once=True, tty=True, command=[
        "sh", "-c", 'trap "stty size" WINCH; echo ready; while :; do sleep 0.05; done'])])
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 90, 0, 0))
    cooked = termios.tcgetattr(slave)
    # attach() in the main thread of a process whose controlling terminal this is, as `netlab attach`
    client = subprocess.Popen(
        ["setsid", "-c", sys.executable, "-c",
         "import sys; from netlab.runtime import attach; sys.exit(attach(sys.argv[1], 'loop'))", str(state)],
        stdin=slave, stdout=slave, stderr=slave, cwd=pathlib.Path(__file__).resolve().parents[2])
    try:
        seen = bytearray()
        _wait("the terminal in raw mode", lambda: not termios.tcgetattr(slave)[3] & termios.ICANON)
        _wait("the trap set", lambda: b"ready" in (state / "containers" / "loop.log").read_bytes())
        fcntl.ioctl(master, termios.TIOCSWINSZ, struct.pack("HHHH", 50, 150, 0, 0))   # SIGWINCH to attach
        _expect(master, b"50 150\r\n", seen)
        os.write(master, b"\x03")          # raw: ^C is the container terminal's, its SIGINT
        assert client.wait(10) == 0
        st = _terminated(state, "loop")
        assert (st.signal, st.exit_code) == (signal.SIGINT, 130)
        assert termios.tcgetattr(slave) == cooked
    finally:
        if client.poll() is None:
            client.kill()
            client.wait()
        os.close(master)
        os.close(slave)
