"""Named network namespaces, made and entered in-process (no `ip netns` child per call).

A namespace is pinned exactly as `ip netns add` pins it: a bind mount of the namespace file on
/run/netns/NAME, with /run/netns itself a shared mount so that the pin shows in every mount
namespace (iproute2 ip/ipnetns.c netns_add). Entering one is `setns(2)` on the calling thread only,
always undone before returning, so the process never lingers in a lab namespace.
"""

from __future__ import annotations

import ctypes
import errno
import os
import threading
from contextlib import contextmanager

from netlab import crashpoints
from netlab.names import NETNS_DIR

CLONE_NEWNET = 0x40000000
MS_BIND = 4096
MS_REC = 16384
MS_SHARED = 1 << 20
MNT_DETACH = 2

_libc = ctypes.CDLL(None, use_errno=True)
_libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_void_p]
_libc.umount2.argtypes = [ctypes.c_char_p, ctypes.c_int]
_libc.setns.argtypes = [ctypes.c_int, ctypes.c_int]
_libc.unshare.argtypes = [ctypes.c_int]


def _check(result: int, what: str, name: str) -> None:
    if result != 0:
        code = ctypes.get_errno()
        raise OSError(code, f"{what} failed for network namespace {name!r}: {os.strerror(code)}")


def path(name: str) -> str:
    return str(NETNS_DIR / name)


def exists(name: str) -> bool:
    """True if NAME is a pinned namespace: its file is a mount of nsfs, not a leftover plain file.

    A crash between creating the pin file and mounting the namespace on it leaves an empty file;
    trusting that would make every later step fail inside a namespace that is not there.
    """
    return _pinned(path(name))


def _pinned(pin: str) -> bool:
    try:
        return os.stat(pin).st_dev == os.stat("/proc/self/ns/net").st_dev
    except FileNotFoundError:
        return False


def list_names(prefix: str = "") -> list:
    """Named network namespaces whose name starts with PREFIX."""
    try:
        return sorted(n for n in os.listdir(NETNS_DIR) if n.startswith(prefix))
    except FileNotFoundError:
        return []


_run_dir_shared = False


def _share_run_dir() -> None:
    """Make /run/netns a shared mount point, as `ip netns add` does on first use."""
    global _run_dir_shared
    if _run_dir_shared:
        return
    os.makedirs(NETNS_DIR, exist_ok=True)
    target = str(NETNS_DIR).encode()
    if _libc.mount(b"none", target, None, MS_SHARED | MS_REC, None) != 0:
        _check(_libc.mount(target, target, b"none", MS_BIND | MS_REC, None), "bind-mounting /run/netns", "")
        _check(_libc.mount(b"none", target, None, MS_SHARED | MS_REC, None), "sharing /run/netns", "")
    _run_dir_shared = True


def create(name: str) -> bool:
    """Create and pin namespace NAME; return False when it already existed."""
    if exists(name):
        return False
    _share_run_dir()
    pin = path(name)
    if os.path.lexists(pin):
        _remove_pin(pin)            # a pin file a crash left unmounted: start it again
    fd = os.open(pin, os.O_RDONLY | os.O_CREAT | os.O_EXCL, 0)
    os.close(fd)
    crashpoints.reached("namespace pin file created")
    home = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    try:
        _check(_libc.unshare(CLONE_NEWNET), "unshare", name)
        try:
            own = f"/proc/self/task/{threading.get_native_id()}/ns/net".encode()
            _check(_libc.mount(own, pin.encode(), b"none", MS_BIND, None), "pinning", name)
        finally:
            _check(_libc.setns(home, CLONE_NEWNET), "returning from", name)
    except OSError:
        _remove_pin(pin)
        raise
    finally:
        os.close(home)
    crashpoints.reached("namespace pinned")
    return True


def _remove_pin(pin: str) -> None:
    _libc.umount2(pin.encode(), MNT_DETACH)
    try:
        os.unlink(pin)
    except FileNotFoundError:
        pass


def delete(name: str) -> bool:
    """Unpin namespace NAME (the kernel frees it once no process is left in it)."""
    pin = path(name)
    if not os.path.exists(pin):
        return False
    _remove_pin(pin)
    crashpoints.reached("namespace unpinned")
    return True


@contextmanager
def entered(name: str):
    """Run the body with the calling thread inside namespace NAME, then come back."""
    home = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    try:
        try:
            target = os.open(path(name), os.O_RDONLY)
        except FileNotFoundError:
            raise OSError(errno.ENOENT, f"network namespace {name!r} does not exist") from None
        try:
            _check(_libc.setns(target, CLONE_NEWNET), "entering", name)
        finally:
            os.close(target)
        try:
            yield
        finally:
            _check(_libc.setns(home, CLONE_NEWNET), "returning from", name)
    finally:
        os.close(home)


def _proc_path(key: str) -> str:
    """/proc/sys's path of a dotted sysctl KEY, sysctl(8)'s way: a "/" in it stands for a dot in a
    name (net.ipv6.conf.flannel/1.accept_ra is /proc/sys/net/ipv6/conf/flannel.1/accept_ra)."""
    return "/proc/sys/" + "/".join(part.replace("/", ".") for part in key.split("."))


def write_sysctl(name: str, key: str, value) -> None:
    """Set a per-namespace sysctl (dotted KEY) inside namespace NAME."""
    proc_path = _proc_path(key)
    with entered(name):
        with open(proc_path, "w") as handle:
            handle.write(f"{value}\n")


def read_sysctl(name: str, key: str) -> str:
    proc_path = _proc_path(key)
    with entered(name):
        with open(proc_path) as handle:
            return handle.read().strip()
