"""Recorded steps: the points of a command after which a crash leaves the machine half changed.

Every side effect that a later command must be able to finish or undo (a namespace pinned, a link
added, a pod forked, the state saved, a node's rules restored) calls `reached(NAME)` right after
it. In a normal run that is one comparison. Tests drive it with two environment variables, read
once and then removed so that no child (supervisor, pod) inherits them:

- NETLAB_STEPS_LOG=FILE   appends "N NAME" for each step to FILE (how many steps a command has);
- NETLAB_CRASH_AT=N       kills the command with SIGKILL right after its Nth step, a crash at
                          exactly that point (deterministic, unlike a kill after a sleep).
"""

from __future__ import annotations

import os
import signal

_CRASH_AT = int(os.environ.pop("NETLAB_CRASH_AT", "") or 0)
_LOG = os.environ.pop("NETLAB_STEPS_LOG", "") or None
_PID = os.getpid()                 # a forked child (a pod's owner) never counts or crashes
_count = 0


def reached(name: str) -> None:
    """Mark that this command has just completed the recorded step NAME."""
    global _count
    if not (_CRASH_AT or _LOG) or os.getpid() != _PID:
        return
    _count += 1
    if _LOG:
        fd = os.open(_LOG, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, f"{_count} {name}\n".encode())
        finally:
            os.close(fd)
    if _count == _CRASH_AT:
        os.kill(os.getpid(), signal.SIGKILL)
