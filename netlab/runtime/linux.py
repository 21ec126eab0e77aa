"""Thin wrappers over the Linux calls Python 3.9-3.11 lacks (setns, unshare, mount, prctl) and /proc reading."""

from __future__ import annotations

import ctypes
import importlib.machinery
import importlib.util
import os
import select
import signal
import time


def _setproctitle_module():
    """setproctitle's C module, or None. Loaded by itself, not through its package, whose
    __init__ imports logging (for a message when the C module is missing), and logging imports
    threading, whose fork handler would run in every container (runtime/forker.py)."""
    try:
        package = importlib.util.find_spec("setproctitle")
        folder = package.submodule_search_locations[0]
        for suffix in importlib.machinery.EXTENSION_SUFFIXES:
            path = os.path.join(folder, "_setproctitle" + suffix)
            if os.path.exists(path):
                spec = importlib.util.spec_from_file_location("setproctitle._setproctitle", path)
                module = importlib.util.module_from_spec(spec)
                spec.loader.exec_module(module)
                return module
    except (ImportError, OSError, AttributeError, TypeError, IndexError):
        pass
    return None


# loaded here, not at first use: an import in a freshly forked owner or container writes ~2 MB of
# the interpreter's pages that its parent shared with it
setproctitle = _setproctitle_module()

CLONE_NEWNS = 0x00020000
CLONE_NEWUTS = 0x04000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000

MS_RDONLY = 0x1
MS_NOSUID = 0x2
MS_NODEV = 0x4
MS_NOEXEC = 0x8
MS_REMOUNT = 0x20
MS_BIND = 0x1000
MS_REC = 0x4000
MS_PRIVATE = 0x40000
MS_SLAVE = 0x80000
MNT_DETACH = 0x2

PR_SET_PDEATHSIG = 1
PR_SET_NAME = 15
PR_SET_CHILD_SUBREAPER = 36

_libc = ctypes.CDLL(None, use_errno=True)
_libc.setns.argtypes = [ctypes.c_int, ctypes.c_int]
_libc.unshare.argtypes = [ctypes.c_int]
_libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p]
_libc.umount2.argtypes = [ctypes.c_char_p, ctypes.c_int]
_libc.prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]


def _check(ret: int, what: str) -> None:
    if ret != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def _b(s: str | None) -> bytes | None:
    return None if s is None else os.fsencode(s)


def setns(fd: int, nstype: int) -> None:
    """Move the calling thread into the namespace `fd` refers to."""
    _check(_libc.setns(fd, nstype), "setns")


def unshare(flags: int) -> None:
    """Give the calling process new namespaces of the kinds in `flags`."""
    _check(_libc.unshare(flags), f"unshare(0x{flags:x})")


def mount(source: str | None, target: str, fstype: str | None, flags: int = 0, data: str | None = None) -> None:
    """mount(2); raises OSError naming the target."""
    _check(_libc.mount(_b(source), _b(target), _b(fstype), flags, _b(data)), f"mount {fstype or source} on {target}")


SYS_PIVOT_ROOT = 155          # x86_64; glibc has no wrapper
SYS_CLONE = 56                # x86_64
CLONE_PARENT = 0x00008000

# fork_beside's calls hold the GIL across the clone, as os.fork does
_pylibc = ctypes.PyDLL(None, use_errno=True)
_pylibc.syscall.restype = ctypes.c_long


def pivot_root(new_root: str, put_old: str) -> None:
    """pivot_root(2): NEW_ROOT becomes / of this mount namespace, the old root moves to PUT_OLD."""
    _check(_libc.syscall(SYS_PIVOT_ROOT, _b(new_root), _b(put_old)), f"pivot_root to {new_root}")


def fork_beside() -> int:
    """os.fork(), except that the child is our parent's child (clone's CLONE_PARENT): our parent
    reaps it and gets its SIGCHLD. 0 in the child, its pid in the caller. The caller must be
    single-threaded (glibc's own fork handlers do not run; Python's do)."""
    ctypes.pythonapi.PyOS_BeforeFork()
    pid = _pylibc.syscall(SYS_CLONE, CLONE_PARENT | signal.SIGCHLD, 0, 0, 0, 0)
    if pid == 0:
        ctypes.pythonapi.PyOS_AfterFork_Child()
        return 0
    err = ctypes.get_errno()
    ctypes.pythonapi.PyOS_AfterFork_Parent()
    if pid < 0:
        raise OSError(err, f"clone(CLONE_PARENT): {os.strerror(err)}")
    return pid


def umount2(target: str, flags: int = 0) -> None:
    """umount2(2); raises OSError naming the target."""
    _check(_libc.umount2(_b(target), flags), f"umount {target}")


def prctl(option: int, arg: int = 0) -> None:
    """prctl(2) with one integer argument."""
    _check(_libc.prctl(option, arg, 0, 0, 0), f"prctl({option})")


def set_process_name(name: str) -> None:
    """Set /proc/PID/comm (what `ps -o comm` and `top` show; 15 bytes at most)."""
    buf = ctypes.create_string_buffer(name.encode()[:15])
    _libc.prctl(PR_SET_NAME, ctypes.cast(buf, ctypes.c_void_p).value, 0, 0, 0)


def set_title(title: str) -> None:
    """Make `ps -ef` show TITLE for this process (a forked Python shows its parent's command line
    otherwise): setproctitle rewrites the argv area in place. /proc/PID/comm becomes the title's
    first word, as for a program of that name."""
    if setproctitle is not None:
        setproctitle.setproctitle(title)
    set_process_name(title.split()[0].rsplit("/", 1)[-1].rstrip(":") if title.strip() else "netlab")


# ---- /proc ----------------------------------------------------------------------------------------


def proc_stat(pid: int, proc: str = "/proc", dir_fd: int | None = None) -> tuple[str, int] | None:
    """(state letter, start time in clock ticks since boot) of a process, or None if it is gone."""
    try:
        if dir_fd is None:
            with open(f"{proc}/{pid}/stat", "rb") as f:
                data = f.read()
        else:
            fd = os.open(f"{pid}/stat", os.O_RDONLY, dir_fd=dir_fd)
            try:
                data = os.read(fd, 4096)
            finally:
                os.close(fd)
    except (FileNotFoundError, ProcessLookupError):
        return None
    # comm (field 2) may hold spaces and parentheses: split after the last ')'.
    fields = data.rsplit(b")", 1)[1].split()
    return fields[0].decode(), int(fields[19])


def starttime(pid: int) -> int | None:
    """The process's start time (ticks since boot); with the pid it names one process for ever."""
    st = proc_stat(pid)
    return None if st is None else st[1]


def is_alive(pid: int | None, start: int | None) -> bool:
    """True if `pid` is the process that started at `start` and has not exited (zombies count as gone)."""
    if not pid or start is None:
        return False
    st = proc_stat(pid)
    return st is not None and st[1] == start and st[0] not in ("Z", "X")


def open_process(pid: int | None, start: int | None) -> int | None:
    """A pidfd for the recorded process, or None if that process is gone (a reused pid is not it)."""
    if not pid or start is None:
        return None
    try:
        fd = os.pidfd_open(pid)
    except (ProcessLookupError, OSError):
        return None
    # Checked after opening: the pidfd pins the process, so the start time cannot change under us.
    if not is_alive(pid, start):
        os.close(fd)
        return None
    return fd


def pidfd_kill(fd: int, sig: int) -> None:
    """Signal the process behind a pidfd; a process that just exited is not an error."""
    try:
        signal.pidfd_send_signal(fd, sig)
    except ProcessLookupError:
        pass


def wait_pidfds(fds: list[int], timeout: float) -> list[int]:
    """Wait until the processes behind `fds` have exited or `timeout` passes; returns those still running."""
    deadline = time.monotonic() + timeout
    pending = list(fds)
    while pending:
        left = deadline - time.monotonic()
        if left <= 0:
            break
        poller = select.poll()
        for fd in pending:
            poller.register(fd, select.POLLIN)
        done = {fd for fd, _ in poller.poll(left * 1000)}
        pending = [fd for fd in pending if fd not in done]
    return pending


def netns_id(path: str) -> tuple[int, int]:
    """(device, inode) identifying a network namespace file."""
    st = os.stat(path)
    return st.st_dev, st.st_ino


def pids_in_netns(netns_path: str) -> list[int]:
    """Every live process whose network namespace is the one at `netns_path` (a name means /run/netns/NAME)."""
    if not netns_path.startswith("/"):
        netns_path = os.path.join("/run/netns", netns_path)
    try:
        want = netns_id(netns_path)
    except FileNotFoundError:
        return []
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            if netns_id(f"/proc/{entry}/ns/net") == want:
                found.append(int(entry))
        except OSError:  # gone, or a zombie (its namespaces are already released)
            continue
    return sorted(found)


# ---- mounts --------------------------------------------------------------------------------------


NETNS_PINS = "/run/netns"


def small_mount_namespace() -> None:
    """Move into a mount namespace of our own without the network namespaces' pins.

    A lab pins each namespace with a mount under /run/netns, so the host's mount table grows with
    the pods, and every container's unshare(CLONE_NEWNS) copies the whole table (and its set-up
    walks it twice more): a cost that grows with the lab. The containers forked here copy this
    smaller table instead. A slave, so the host's unmounts still reach it; nothing mounted here
    reaches the host."""
    unshare(CLONE_NEWNS)
    mount(None, "/", None, MS_REC | MS_SLAVE)
    try:
        umount2(NETNS_PINS, MNT_DETACH)          # the shared bind and every pin in it
    except OSError:
        for line in open("/proc/self/mountinfo").read().splitlines():     # pins on a plain folder
            point = line.split()[4]
            if point.startswith(NETNS_PINS + "/"):
                try:
                    umount2(point, MNT_DETACH)
                except OSError:
                    pass
