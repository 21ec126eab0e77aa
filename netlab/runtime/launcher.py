"""A small process that forks pods' owners, so a big start_pods batch does not fork the caller.

Forking the caller (a CLI or the supervisor, tens of MB with netlab and pyroute2 loaded, busy
wiring the next pods) costs milliseconds a pod and leaves each owner sharing pages with a process
that keeps changing them. This launcher is a fresh interpreter with only the runtime loaded; it
stays quiet, so the owners it forks start fast and keep sharing its pages with each other.

    launcher = Launcher()               # spawns a Python that runs main()
    pid = launcher.fork_owner(plan, state_dir, start_pipe_w)   # the owner's pid, once forked
    launcher.close()                    # the launcher exits; the owners live on

Each request is one SOCK_SEQPACKET message (the pickled plan and state folder) carrying the write
end of the pod's start-up pipe; the answer is the owner's pid, or 0 when it could not fork.
"""

from __future__ import annotations

import gc
import os
import pathlib
import pickle
import socket
import struct
import subprocess
import sys

_MESSAGE_MAX = 1 << 20


class Launcher:
    """The parent's end: spawn the launcher, ask it for owners, let it go."""

    def __init__(self):
        mine, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        package_root = str(pathlib.Path(__file__).resolve().parents[2])
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in (package_root, os.environ.get("PYTHONPATH"))
                                                         if p))
        # -c, not -m: the package imports this module first, and runpy warns about running it again
        entry = "import sys; from netlab.runtime import launcher; sys.exit(launcher.main(int(sys.argv[1])))"
        self.proc = subprocess.Popen([sys.executable, "-c", entry, str(theirs.fileno())],
                                     pass_fds=(theirs.fileno(),), stdin=subprocess.DEVNULL, cwd="/", env=env,
                                     start_new_session=True)
        theirs.close()
        self.sock = mine

    def fork_owner(self, plan, state_dir: pathlib.Path, start_w: int, netns_fd: int) -> int:
        """Have the launcher fork the owner of PLAN, in the network namespace NETNS_FD, with START_W
        as its start-up pipe; its pid."""
        message = pickle.dumps((plan, str(state_dir)))
        socket.send_fds(self.sock, [message], [start_w, netns_fd])
        answer = self.sock.recv(16)
        if len(answer) != 4:
            raise RuntimeError("the pod launcher ended before forking an owner")
        return struct.unpack("!i", answer)[0]

    def close(self) -> None:
        self.sock.close()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


NETNS_PINS = "/run/netns"


def small_mount_namespace() -> None:
    """Move into a mount namespace of our own without the network namespaces' pins.

    A lab pins each namespace with a mount under /run/netns, so the host's mount table grows with
    the pods, and every container's unshare(CLONE_NEWNS) copies the whole table (and its set-up
    walks it twice more): a cost that grows with the lab. The owners forked here, and the
    containers they start, copy this smaller table instead. A slave, so the host's unmounts still
    reach it; nothing mounted here reaches the host."""
    from netlab.runtime import linux
    linux.unshare(linux.CLONE_NEWNS)
    linux.mount(None, "/", None, linux.MS_REC | linux.MS_SLAVE)
    try:
        linux.umount2(NETNS_PINS, linux.MNT_DETACH)          # the shared bind and every pin in it
    except OSError:
        for line in open("/proc/self/mountinfo").read().splitlines():     # pins on a plain folder
            point = line.split()[4]
            if point.startswith(NETNS_PINS + "/"):
                try:
                    linux.umount2(point, linux.MNT_DETACH)
                except OSError:
                    pass


def main(fd: int) -> int:
    from netlab.runtime import linux, pod
    sock = socket.socket(fileno=fd)
    try:
        small_mount_namespace()
    except OSError as e:      # then the owners copy the host's table: slower, not wrong
        sys.stderr.write(f"netlab launcher: staying in the host's mount namespace: {e}\n")
    gc.freeze()           # what is loaded now is never collected (nor its pages copied) in the owners
    while True:
        try:
            message, fds, _, _ = socket.recv_fds(sock, _MESSAGE_MAX, 2)
        except OSError:
            return 1
        if not message:
            return 0
        plan, state_dir = pickle.loads(message)
        start_w, netns_fd = fds
        # received descriptors are inheritable: one an exec'd container kept would hold the start-up
        # pipe open, and the caller would wait for its end in vain
        os.set_inheritable(start_w, False)
        pid = os.fork()
        if pid == 0:
            linux.setns(netns_fd, linux.CLONE_NEWNET)
            os.close(netns_fd)
            pod._owner_main(plan, pathlib.Path(state_dir), start_w, joined=True)     # never returns
        os.close(start_w)
        os.close(netns_fd)
        sock.send(struct.pack("!i", pid))
        while True:       # an owner that already ended (it failed at once) is not left a zombie
            try:
                if os.waitpid(-1, os.WNOHANG)[0] == 0:
                    break
            except ChildProcessError:
                break

