"""What a lab has built, on disk under /run/netlab/LAB/, guarded by a lock.

The state is written *before* each side effect it describes (a pod is recorded as "building"
before its namespace exists), so a run killed at any point leaves a record that the next `up`
finishes and `down` removes. /run is a tmpfs on most systems, like the namespaces themselves: a
reboot clears both together.
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
    and StateDamaged raised: the lab can still be taken down by its name.
    """
    path = state_path(lab)
    try:
        text = path.read_text()
    except FileNotFoundError:
        return None
    try:
        data = json.loads(text)
        if not isinstance(data, dict) or data.get("lab") != lab:
            raise ValueError("it is not this lab's state")
        for name, kind in _FIELD_TYPES.items():
            if name in data and not isinstance(data[name], kind):
                raise ValueError(f"its {name!r} is not a {kind.__name__ if isinstance(kind, type) else 'number'}")
        known = set(LabState.__dataclass_fields__) - {"version"}
        state = LabState(**{k: v for k, v in data.items() if k in known})
    except (ValueError, TypeError) as err:
        moved = path.with_name(f"state.json.corrupt-{time.strftime('%Y%m%dT%H%M%S')}")
        try:
            os.replace(path, moved)
        except OSError:
            moved = path
        raise StateDamaged(f"lab {lab!r}: its state file was damaged ({_short(str(err))}) and is kept as {moved}; "
                           f"`netlab down --name {lab}` removes what the lab made") from None
    return state


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
    tell the lab's supervisor."""
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
    """Labs with a state directory (a lab whose state is gone is found by its namespaces instead)."""
    try:
        return sorted(p.name for p in names.RUN_DIR.iterdir() if (p / "state.json").exists())
    except FileNotFoundError:
        return []


class LabGone(Exception):
    """The lab was taken down (its lock file is gone) while a supervisor waited for it."""


@contextmanager
def locked(lab: str, wait: float = 30.0, create: bool = True):
    """Serialise commands on one lab (the CLI's and the supervisor's): an exclusive flock on
    /run/netlab/LAB.lock, which records who holds it. Without CREATE (the supervisor's way) a lab
    whose lock file is gone raises LabGone instead of being locked anew.

    `down` removes the lock file while holding it; a command that opened the old file and then got
    its lock sees that the path no longer names that file and locks the new one instead, so two
    commands can never both believe they hold the lab.
    """
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
    try:
        data = json.loads(lock_file(lab).read_text())
        since = time.strftime("%H:%M:%S", time.localtime(data["since"]))
        return f"pid {data['pid']}, since {since},"
    except (OSError, ValueError, KeyError, TypeError):
        return "another netlab command"


def remove_lock(lab: str) -> None:
    """Remove the lab's lock file; call it only while holding the lock (see locked)."""
    try:
        lock_file(lab).unlink()
    except FileNotFoundError:
        pass
