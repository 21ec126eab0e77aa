"""The container forker: a process the pod runtime starts before it serves anything, whose only work
is to fork each container's init, as the runtime's child (CLONE_PARENT), so the runtime reaps it.

Why a second process: a forked interpreter shares its pages with its parent until one of the two
writes a page, and a page either writes after the fork is the container's own from then on. The
runtime writes its heap all the time (requests, records, reaping), so a container forked from it
would end up owning a copy of much of the runtime's heap. The forker waits in recv() between forks
and writes next to nothing, so what its containers share stays shared.

Why a fresh interpreter (`python -I -S`, spawned, not forked from the runtime): it holds only the
modules a container runs, none of the runtime's, and no module that registers a fork handler. Each
handler is Python code every forked container runs before its first line, and a page it writes
(a refcount, a counter) is that container's own copy from then on: threading's handler alone made
~0.4 MB of each container private. So nothing the forker imports may import threading, random
(email.utils and secrets do) or logging; test_runtime_forker.py checks it.

    forker = Forker.start(use_pidns)           # in the runtime, before it serves
    pid, in_new_pidns = forker.fork_init(plan, c, cdir_fd, log_fd, w, netns_fd)

A request is one SOCK_SEQPACKET message carrying five descriptors (the pod's containers folder,
the log, the start-up pipe, the netns, and a memfd holding the pickled plan and container); the
answer is `PID 0|1` (1: in its own PID namespace) or `- ERROR`. The forker dies with the runtime (PDEATHSIG).
"""

from __future__ import annotations

import gc
import os
import pickle
import signal
import socket
import sys

from netlab.runtime import container, images, linux, records
from netlab.runtime.command import ContainerPlan, PodPlan



def child_setup(netns_fd: int, keep: tuple[int, ...]) -> None:
    """In a freshly forked child: none of its parent's descriptors or handlers, dead with the
    runtime, in the pod's network namespace."""
    signal.set_wakeup_fd(-1)
    container.default_signal_handlers()
    linux.prctl(linux.PR_SET_PDEATHSIG, signal.SIGKILL)
    linux.setns(netns_fd, linux.CLONE_NEWNET)
    keep_fds = sorted({0, 1, 2, *keep})
    for low, high in zip(keep_fds, keep_fds[1:] + [max(os.sysconf("SC_OPEN_MAX"), 65536)]):
        os.closerange(low + 1, high)
    for fd in keep:
        os.set_inheritable(fd, False)
    gc.freeze()        # what the parent allocated is never walked (nor its pages copied) here


def unshare_pid(use_pidns: bool) -> bool:
    """Make the next child PID 1 of a new PID namespace; False when not asked or refused."""
    # unshare(CLONE_NEWPID) only sets the namespace of the *next* child, and a second unshare
    # fails with EINVAL until setns() points children back at our own namespace
    if not use_pidns:
        return False
    try:
        linux.unshare(linux.CLONE_NEWPID)
        return True
    except OSError as e:
        records.log_line(2, f"no PID namespace: {e}")
        return False


def _init(plan: PodPlan, c: ContainerPlan, cdir_fd: int, log_fd: int, w: int, netns_fd: int,
          runtime_pid: int | None) -> None:
    """The container's init, in the child: never returns."""
    try:
        child_setup(netns_fd, keep=(cdir_fd, log_fd, w))
        container.run_init(plan, c, cdir_fd, log_fd, w, runtime_pid)
    finally:
        os._exit(128)


def fork_init(plan: PodPlan, c: ContainerPlan, fds: tuple[int, int, int, int], use_pidns: bool, pidns_fd: int,
              runtime_pid: int, beside: bool) -> tuple[int, bool]:
    """Fork container C's init (PID 1 of a new PID namespace when USE_PIDNS and the kernel lets
    us): (its pid, whether it has its own PID namespace). BESIDE: as our parent's child."""
    cdir_fd, log_fd, w, netns_fd = fds
    new_pidns = unshare_pid(use_pidns)
    try:
        pid = linux.fork_beside() if beside else os.fork()
        if pid == 0:
            _init(plan, c, cdir_fd, log_fd, w, netns_fd, None if new_pidns else runtime_pid)
    finally:
        if new_pidns:
            linux.setns(pidns_fd, linux.CLONE_NEWPID)
    return pid, new_pidns


_FDS = 5                      # cdir, log, start-up pipe, netns, the request's memfd
_ANCILLARY = socket.CMSG_SPACE(_FDS * 4)


def _serve(sock: socket.socket, use_pidns: bool, runtime_pid: int) -> None:
    """Fork an init per request, and nothing else: every page written here between two forks
    becomes the earlier container's own copy, so the request itself (the plan) is read by the
    child from the memfd it came in, never by the forker."""
    pidns_fd = os.open("/proc/self/ns/pid", os.O_RDONLY | os.O_CLOEXEC)
    recvmsg, send, close, fork, setns = sock.recvmsg, sock.send, os.close, linux.fork_beside, linux.setns
    while True:
        try:
            _, ancillary, _, _ = recvmsg(1, _ANCILLARY)
        except OSError:
            return
        if not ancillary:
            return                                   # the runtime closed its end
        fds = list(memoryview(ancillary[0][2]).cast("i"))
        try:
            new_pidns = unshare_pid(use_pidns)
            try:
                pid = fork()
                if pid == 0:
                    _child(fds, None if new_pidns else runtime_pid)
            finally:
                if new_pidns:
                    setns(pidns_fd, linux.CLONE_NEWPID)
            answer = b"%d %d" % (pid, new_pidns)
        except OSError as e:
            answer = b"- " + str(e).encode()
        for fd in fds:
            close(fd)
        try:
            send(answer)
        except OSError:
            return


def _child(fds: list[int], runtime_pid: int | None) -> None:
    """In a forked init: the plan from the request's memfd, then the container."""
    try:
        cdir_fd, log_fd, w, netns_fd, request_fd = fds
        with os.fdopen(request_fd, "rb") as f:
            plan, c = pickle.loads(f.read())
        for fd in (cdir_fd, log_fd, w, netns_fd):
            os.set_inheritable(fd, False)
    except BaseException:
        os._exit(128)
    _init(plan, c, cdir_fd, log_fd, w, netns_fd, runtime_pid)


# The forker's interpreter: the runtime's sys.path (the package and its dependencies: no site is
# imported), then main().
_PACKAGE_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
IMPORTS = "import sys; sys.path[:] = sys.argv[1].split(':'); from netlab.runtime import forker"
_BOOT = IMPORTS + "; forker.main(sys.argv[2:])"


def interpreter_path() -> str:
    """The forker's sys.path, ':'-separated: the package's root, then ours."""
    return ":".join(p for p in (_PACKAGE_ROOT, *sys.path) if p)


def main(argv: list[str]) -> None:
    """The forker's process: ARGV is (its socket's descriptor, 1 or 0 for PID namespaces, the
    runtime's pid). Serves until the runtime closes the socket or dies."""
    fd, use_pidns, runtime_pid = int(argv[0]), argv[1] == "1", int(argv[2])
    try:
        linux.prctl(linux.PR_SET_PDEATHSIG, signal.SIGKILL)
        if os.getppid() != runtime_pid:
            return                         # the runtime died before PDEATHSIG was armed
        linux.set_title("netlab-forker")
        images.busybox_applets()           # asked by busybox containers: listed once, here
        gc.freeze()                        # nothing loaded so far is walked (or copied) in a container
        _serve(socket.socket(fileno=fd), use_pidns, runtime_pid)
    finally:
        os._exit(0)


class Forker:
    """The runtime's end of its forker."""

    def __init__(self, sock: socket.socket, pid: int, use_pidns: bool):
        self.sock, self.pid, self.use_pidns = sock, pid, use_pidns

    @classmethod
    def start(cls, use_pidns: bool) -> "Forker":
        """Start a forker, our child: a fresh interpreter that imports what a container runs.
        Requests sent before it is ready wait in its socket."""
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            ours.set_inheritable(False)
            theirs.set_inheritable(True)
            argv = [sys.executable, "-I", "-S", "-c", _BOOT, interpreter_path(), str(theirs.fileno()),
                    "1" if use_pidns else "0", str(os.getpid())]
            pid = os.posix_spawn(sys.executable, argv, os.environ, setsigmask=(),
                                 setsigdef=(signal.SIGPIPE, signal.SIGXFSZ, signal.SIGINT, signal.SIGTERM,
                                            signal.SIGCHLD))
        except BaseException:
            ours.close()
            raise
        finally:
            theirs.close()
        return cls(ours, pid, use_pidns)

    def fork_init(self, plan: PodPlan, c: ContainerPlan, cdir_fd: int, log_fd: int, w: int,
                  netns_fd: int) -> tuple[int, bool]:
        """Container C's init, forked by the forker as our child: (pid, in its own PID namespace)."""
        request = os.memfd_create("netlab-init-plan", os.MFD_CLOEXEC)
        try:
            with open(request, "wb", closefd=False) as f:
                f.write(pickle.dumps((plan, c)))
            os.lseek(request, 0, os.SEEK_SET)
            socket.send_fds(self.sock, [b"f"], [cdir_fd, log_fd, w, netns_fd, request])
        finally:
            os.close(request)
        answer = self.sock.recv(4096)
        if not answer:
            raise OSError("the container forker ended")
        pid, _, rest = answer.partition(b" ")
        if pid == b"-":
            raise OSError(f"the container forker cannot fork: {rest.decode(errors='replace')}")
        return int(pid), rest == b"1"

    def close(self) -> None:
        self.sock.close()
