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

    def fork_owner(self, plan, state_dir: pathlib.Path, start_w: int) -> int:
        """Have the launcher fork the owner of PLAN with START_W as its start-up pipe; its pid."""
        message = pickle.dumps((plan, str(state_dir)))
        socket.send_fds(self.sock, [message], [start_w])
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


def main(fd: int) -> int:
    from netlab.runtime import pod
    sock = socket.socket(fileno=fd)
    gc.freeze()           # what is loaded now is never collected (nor its pages copied) in the owners
    while True:
        try:
            message, fds, _, _ = socket.recv_fds(sock, _MESSAGE_MAX, 1)
        except OSError:
            return 1
        if not message:
            return 0
        plan, state_dir = pickle.loads(message)
        start_w = fds[0]
        # received descriptors are inheritable: one an exec'd container kept would hold the start-up
        # pipe open, and the caller would wait for its end in vain
        os.set_inheritable(start_w, False)
        pid = os.fork()
        if pid == 0:
            pod._owner_main(plan, pathlib.Path(state_dir), start_w)     # never returns
        os.close(start_w)
        sock.send(struct.pack("!i", pid))
        while True:       # an owner that already ended (it failed at once) is not left a zombie
            try:
                if os.waitpid(-1, os.WNOHANG)[0] == 0:
                    break
            except ChildProcessError:
                break

