"""What a lab has built, on disk under /run/netlab/LAB/, guarded by a lock.

The state is written *before* each side effect it describes (a pod is recorded as "building"
before its namespace exists), so a run killed at any point leaves a record that the next `up`
finishes and `down` removes. /run is a tmpfs on most systems, like the namespaces themselves: a
reboot clears both together.

A lab that spans machines keeps the same state in etcd instead (netlab/state_etcd.py), behind the
same functions: a machine's pointer /run/netlab/LAB/store.json (use_etcd) says so, and then load,
save, locked, holder and has_state go to etcd, and watch wakes the lab's supervisor on every
machine's writes.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import socket
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from netlab import crashpoints, names

STATE_VERSION = 1


class LabBusy(Exception):
    """Another netlab command holds the lab's lock."""


@dataclass
class LabState:
    lab: str
    created: float = field(default_factory=time.time)
    config: dict | None = None       # the Cluster document as applied (None: all defaults)
    objects: list = field(default_factory=list)   # the store's objects (netlab.store), in creation order
    pods: dict = field(default_factory=dict)      # "ns/name" -> PodInstance dict + "phase", "host_veth"
    last_reserved: dict = field(default_factory=dict)
    allocations: dict = field(default_factory=dict)  # ClusterIPs, nodePorts, LB IPs, applied rules, ...
    iptables_backend: str | None = None  # "restore" or "python-iptables" (None: the lab file's choice)
    replicasets: dict = field(default_factory=dict)  # "ns/name" -> ReplicaSetRecord dict (applied or a Deployment's)
    deployments: dict = field(default_factory=dict)  # "ns/name" -> uid, created, status of each Deployment
    resource_version: int = 0        # the store's counter (netlab.store)
    changes: list = field(default_factory=list)   # the store's recent writes, for watch
    version: int = STATE_VERSION

    @property
    def directory(self) -> Path:
        return names.lab_dir(self.lab)

    def to_json(self) -> str:
        # no indent: json's C encoder only runs without one, and a big lab's state is megabytes
        return json.dumps(self.__dict__, sort_keys=True, separators=(",", ":"))


def state_path(lab: str) -> Path:
    return names.lab_dir(lab) / "state.json"


class StateDamaged(Exception):
    """The lab's state file could not be read; it has been moved aside (the message says where)."""


_FIELD_TYPES = {"lab": str, "created": (int, float), "objects": list, "pods": dict, "last_reserved": dict,
                "allocations": dict, "replicasets": dict, "deployments": dict, "resource_version": int,
                "changes": list}


def load(lab: str) -> LabState | None:
    """The lab's recorded state, or None when the lab has none.

    A file that is torn, not JSON or not a lab's state is moved aside as state.json.corrupt-TIME
    and StateDamaged raised: the lab can still be taken down by its name. (An etcd-backed lab's
    state is read from etcd instead, and moved aside there: netlab/state_etcd.py.)
    """
    endpoint = store_endpoint(lab)
    if endpoint is not None:
        return _etcd().load(lab, endpoint)
    path = state_path(lab)
    try:
        text = path.read_text()
    except FileNotFoundError:
        return None
    try:
        return parse_state(lab, text)
    except ValueError as err:
        moved = path.with_name(f"state.json.corrupt-{time.strftime('%Y%m%dT%H%M%S')}")
        try:
            os.replace(path, moved)
        except OSError:
            moved = path
        raise damaged_state(lab, "its state file", str(err), moved) from None


def parse_state(lab: str, text: str) -> LabState:
    """LAB's state from its JSON text; ValueError says why TEXT is not a state of this lab."""
    try:
        data = json.loads(text)
        if not isinstance(data, dict) or data.get("lab") != lab:
            raise ValueError("it is not this lab's state")
        for name, kind in _FIELD_TYPES.items():
            if name in data and not isinstance(data[name], kind):
                raise ValueError(f"its {name!r} is not a {kind.__name__ if isinstance(kind, type) else 'number'}")
        known = set(LabState.__dataclass_fields__) - {"version"}
        return LabState(**{k: v for k, v in data.items() if k in known})
    except TypeError as err:
        raise ValueError(str(err)) from None


def damaged_state(lab: str, what: str, why: str, kept) -> StateDamaged:
    """The error for a lab whose state (WHAT: "its state file") could not be read for WHY, now kept as KEPT."""
    return StateDamaged(f"lab {lab!r}: {what} was damaged ({_short(why)}) and is kept as {kept}; "
                        f"`netlab down --name {lab}` removes what the lab made")


def _short(text: str, limit: int = 120) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


WATCH_SOCKET = "supervisor.sock"     # the lab's supervisor listens here (netlab/supervisor.py)

# Every write is a watch event for the lab's supervisor, as every write to the API server is for a
# cluster's controllers and kubelets: so what a command saved is acted on even when the command
# dies before it could say it is done. The supervisor turns this off for its own writes.
notify_watcher = True


_mounted: set = set()


def ensure_lab_dir(lab: str) -> Path:
    """The lab's folder /run/netlab/LAB, a tmpfs of its own: mounted when the folder is made (or
    found empty), unmounted by `netlab down` (unmount_lab_dir).

    Why: a lab writes a few dozen small files a pod (records, logs, each container's writable
    layer), and where /run is not a tmpfs (as on this kind of VM) ext4's inode allocator makes
    that most of a big lab's start-up (after many deletions it scans for inodes not recently
    freed). On a tmpfs the folder is what /run is on most machines: memory, gone at reboot."""
    folder = names.lab_dir(lab)
    if folder in _mounted:
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    # only in the machine's own folder: a run folder elsewhere (NETLAB_RUN_DIR, the unit tests'
    # temporary ones) is left a plain folder, so nothing is mounted that no `down` would unmount
    if names.RUN_DIR == names.DEFAULT_RUN_DIR and not os.path.ismount(folder) and not any(folder.iterdir()):
        from netlab.runtime import linux
        try:
            linux.mount("tmpfs", str(folder), "tmpfs", linux.MS_NOSUID | linux.MS_NODEV, "mode=0755")
        except OSError:
            pass                     # no tmpfs for us here: the folder works the same, slower
        else:
            crashpoints.reached("lab folder mounted")
    _mounted.add(folder)
    return folder


def unmount_lab_dir(lab: str) -> None:
    """Unmount the lab's tmpfs (its files go with it) and remove the folder."""
    folder = names.lab_dir(lab)
    _mounted.discard(folder)
    if os.path.ismount(folder):
        from netlab.runtime import linux
        linux.umount2(str(folder), linux.MNT_DETACH)   # a runtime on its way out may still hold it
    try:
        folder.rmdir()
    except OSError:
        pass            # not there, or (no tmpfs) still holding files: the caller removes them


def save(state: LabState) -> None:
    """Write the state atomically (a crash leaves the old or the new file, never half of one), and
    tell the lab's supervisor. (An etcd-backed lab's state is put to etcd instead, where its
    supervisors on every machine watch it: netlab/state_etcd.py.)"""
    endpoint = store_endpoint(state.lab)
    if endpoint is not None:
        _etcd().save(state, endpoint, notify=notify_watcher)
        crashpoints.reached("state saved")
        return
    path = state_path(state.lab)
    ensure_lab_dir(state.lab)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(state.to_json())
    os.replace(tmp, path)
    if notify_watcher:
        notify(state.lab)
    crashpoints.reached("state saved")


def notify(lab: str) -> None:
    """Wake the lab's supervisor: one datagram on its socket (nothing happens when none listens)."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    try:
        sock.sendto(b"sync", str(names.lab_dir(lab) / WATCH_SOCKET))
    except OSError:
        pass
    finally:
        sock.close()


def known_labs() -> list:
    """Labs with a state directory on this machine: a state file, or a pointer to the lab's etcd
    (a lab whose state is gone is found by its namespaces instead; an etcd's other labs, which
    this machine has no part in, are not listed)."""
    try:
        return sorted(p.name for p in names.RUN_DIR.iterdir()
                      if (p / "state.json").exists() or (p / STORE_POINTER).exists())
    except FileNotFoundError:
        return []


class LabGone(Exception):
    """The lab was taken down (its lock file is gone; in etcd, its state) while a supervisor waited for it."""


@contextmanager
def locked(lab: str, wait: float = 30.0, create: bool = True):
    """Serialise commands on one lab (the CLI's and the supervisor's): an exclusive flock on
    /run/netlab/LAB.lock, which records who holds it. Without CREATE (the supervisor's way) a lab
    whose lock file is gone raises LabGone instead of being locked anew.

    `down` removes the lock file while holding it; a command that opened the old file and then got
    its lock sees that the path no longer names that file and locks the new one instead, so two
    commands can never both believe they hold the lab.

    An etcd-backed lab is locked in etcd instead, for every machine of the lab at once (a lease
    kept alive while held; without CREATE, LabGone once the lab's state is gone from etcd).
    """
    endpoint = store_endpoint(lab)
    if endpoint is not None:
        with _etcd().locked(lab, endpoint, wait=wait, create=create):
            yield
        return
    names.RUN_DIR.mkdir(parents=True, exist_ok=True)
    lock_path = lock_file(lab)
    deadline = time.monotonic() + wait
    while True:
        try:
            handle = open(lock_path, "a+" if create else "r+")
        except FileNotFoundError:
            raise LabGone(f"lab {lab!r} is gone") from None
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as err:
            handle.close()
            if err.errno not in (errno.EAGAIN, errno.EACCES):
                raise
            if time.monotonic() > deadline:
                raise LabBusy(f"lab {lab!r} is busy: {holder(lab)} holds {lock_path}") from None
            time.sleep(0.05)
            continue
        try:
            current = os.stat(lock_path)
        except FileNotFoundError:
            current = None
        if current is None or (current.st_dev, current.st_ino) != (os.fstat(handle.fileno()).st_dev,
                                                                     os.fstat(handle.fileno()).st_ino):
            handle.close()                 # removed (or replaced) while we waited: lock the lab anew
            continue
        break
    try:
        handle.seek(0)
        handle.truncate()
        handle.write(json.dumps({"pid": os.getpid(), "since": time.time()}))
        handle.flush()
        yield
    finally:
        handle.close()


def lock_file(lab: str) -> Path:
    return names.RUN_DIR / f"{lab}.lock"


def holder(lab: str) -> str:
    """Who holds the lab's lock, as far as its file says: "pid N, since T" (or "another netlab command")."""
    endpoint = store_endpoint(lab)
    if endpoint is not None:
        return _etcd().holder(lab, endpoint)
    try:
        data = json.loads(lock_file(lab).read_text())
        since = time.strftime("%H:%M:%S", time.localtime(data["since"]))
        return f"pid {data['pid']}, since {since},"
    except (OSError, ValueError, KeyError, TypeError):
        return "another netlab command"


def remove_lock(lab: str) -> None:
    """Remove the lab's lock file; call it only while holding the lock (see locked).

    An etcd-backed lab has no lock file: its lock in etcd goes when its holder lets go (or its
    lease runs out), and the lab is gone for its supervisors once its state is (forget)."""
    if store_endpoint(lab) is not None:
        return
    try:
        lock_file(lab).unlink()
    except FileNotFoundError:
        pass


# -- where a lab's state is kept ----------------------------------------------------------------

STORE_POINTER = "store.json"    # in the lab's folder: {"etcd": "http://ADDR:PORT"} for an etcd-backed lab


class StoreError(Exception):
    """The lab's etcd could not be reached, or refused a request; the message says which and why."""


def use_etcd(lab: str, endpoint: str) -> None:
    """Keep LAB's state in the etcd at ENDPOINT ("http://ADDR:PORT") from now on, on this machine:
    the pointer /run/netlab/LAB/store.json (each machine of a lab has its own /run, so its own)."""
    from urllib.parse import urlsplit
    try:
        parts = urlsplit(endpoint)
        port = parts.port
    except ValueError as err:
        raise StoreError(f"lab {lab!r}: {endpoint!r} is not an etcd endpoint: {err}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname or port is None or parts.path.strip("/"):
        raise StoreError(f"lab {lab!r}: {endpoint!r} is not an etcd endpoint (http://ADDR:PORT)")
    pointer = ensure_lab_dir(lab) / STORE_POINTER
    tmp = pointer.with_suffix(".tmp")
    tmp.write_text(json.dumps({"etcd": f"{parts.scheme}://{parts.netloc}"}))
    os.replace(tmp, pointer)


def store_endpoint(lab: str) -> str | None:
    """The etcd endpoint LAB's state is kept in on this machine, or None when it is kept in its file."""
    pointer = names.lab_dir(lab) / STORE_POINTER
    try:
        text = pointer.read_text()
    except (FileNotFoundError, NotADirectoryError):
        return None
    try:
        endpoint = json.loads(text)["etcd"]
        if not isinstance(endpoint, str):
            raise TypeError("not a string")
    except (ValueError, KeyError, TypeError) as err:
        # no falling back to the file: this machine would go on with a lab of its own
        raise StoreError(f"lab {lab!r}: {pointer} does not name an etcd ({_short(str(err))}); "
                         f"remove it to keep the lab's state in its file on this machine") from None
    return endpoint


def has_state(lab: str) -> bool:
    """Whether LAB has recorded state: its state file, or (an etcd-backed lab) its key in etcd."""
    endpoint = store_endpoint(lab)
    if endpoint is not None:
        return _etcd().has_state(lab, endpoint)
    return state_path(lab).exists()


def forget(lab: str) -> None:
    """Delete an etcd-backed lab's keys from etcd, then this machine's pointer to it (for the
    `down` of a lab's last machine); a lab kept in its file has nothing in etcd."""
    endpoint = store_endpoint(lab)
    if endpoint is None:
        return
    _etcd().forget(lab, endpoint)
    try:
        (names.lab_dir(lab) / STORE_POINTER).unlink()
    except FileNotFoundError:
        pass


def watch(lab: str, wake: Callable[[], None]) -> Callable[[], None]:
    """Call WAKE() after each change to LAB's state, from a daemon thread, until the returned stop()
    is called. Only an etcd-backed lab is watched so: a lab kept in its file wakes its supervisor
    with notify's datagram, and gets a stop() that does nothing."""
    endpoint = store_endpoint(lab)
    if endpoint is None:
        return lambda: None
    return _etcd().watch(lab, endpoint, wake)


def _etcd():
    # imported on first use: a lab kept in its file never loads the HTTP client
    from netlab import state_etcd
    return state_etcd
