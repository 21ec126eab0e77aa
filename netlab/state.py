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
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from netlab import names

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


def load(lab: str) -> LabState | None:
    """The lab's recorded state, or None when the lab has none."""
    try:
        data = json.loads(state_path(lab).read_text())
    except FileNotFoundError:
        return None
    except ValueError as err:
        raise RuntimeError(f"the state file {state_path(lab)} is damaged ({err}); "
                           f"run `netlab down --name {lab}` to remove the lab") from err
    data.pop("version", None)
    return LabState(**data)


def save(state: LabState) -> None:
    """Write the state atomically (a crash leaves the old or the new file, never half of one)."""
    path = state_path(state.lab)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(state.to_json())
    os.replace(tmp, path)


def known_labs() -> list:
    """Labs with a state directory (a lab whose state is gone is found by its namespaces instead)."""
    try:
        return sorted(p.name for p in names.RUN_DIR.iterdir() if (p / "state.json").exists())
    except FileNotFoundError:
        return []


@contextmanager
def locked(lab: str, wait: float = 30.0):
    """Serialise commands on one lab: hold an exclusive flock on /run/netlab/LAB.lock."""
    names.RUN_DIR.mkdir(parents=True, exist_ok=True)
    lock_path = names.RUN_DIR / f"{lab}.lock"
    handle = open(lock_path, "w")
    deadline = time.monotonic() + wait
    try:
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError as err:
                if err.errno not in (errno.EAGAIN, errno.EACCES):
                    raise
                if time.monotonic() > deadline:
                    raise LabBusy(f"lab {lab!r} is busy: another netlab command holds {lock_path}") from None
                time.sleep(0.05)
        yield
    finally:
        handle.close()


def remove_lock(lab: str) -> None:
    try:
        (names.RUN_DIR / f"{lab}.lock").unlink()
    except FileNotFoundError:
        pass
