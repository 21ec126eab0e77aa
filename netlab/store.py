"""The lab's API server: the objects users applied, with the metadata the API server gives them.

Every stored object gets, as from kube-apiserver: `metadata.uid` (fixed for its life),
`metadata.creationTimestamp`, `metadata.generation` (1, then +1 whenever its spec changes) and
`metadata.resourceVersion` (the store's counter at its last write, so a stale update is refused as
a conflict). Each write is also a watch event (ADDED, MODIFIED, DELETED) in a bounded change log.

`Store` is the interface the rest of netlab uses (get/list/create/update/apply/delete/watch);
`EmbeddedStore` keeps the objects in the lab's state file under /run/netlab/LAB/ (written
atomically with the rest of the state, under the lab's lock). A store over etcd for labs that span
machines would implement the same interface.
"""

from __future__ import annotations

import copy
import datetime
import os
import random
import uuid
from typing import Optional, Protocol

CLUSTER_SCOPED = ("Namespace", "Node")
SERVER_FIELDS = ("uid", "resourceVersion", "generation", "creationTimestamp", "managedFields")
CHANGES_KEPT = 1000
SEED_VARIABLE = "NETLAB_SEED"


class StoreError(Exception):
    """A write the API server refuses: NotFound, AlreadyExists or Conflict (the message says which)."""


def key_of(obj: dict) -> tuple:
    """(kind, namespace, name): namespace None for cluster-scoped kinds, "default" when left out."""
    meta = obj.get("metadata") or {}
    kind = obj.get("kind")
    namespace = None if kind in CLUSTER_SCOPED else (meta.get("namespace") or "default")
    return kind, namespace, meta.get("name")


def as_applied(obj: dict) -> dict:
    """OBJ as a user writes it: without what the server sets (uid, resourceVersion, ...; status), and
    with its namespace spelled out."""
    result = copy.deepcopy(obj)
    meta = result.setdefault("metadata", {})
    for name in SERVER_FIELDS:
        meta.pop(name, None)
    namespace = key_of(obj)[1]
    if namespace is not None:
        meta["namespace"] = namespace
    result.pop("status", None)
    return result


def _spec_of(obj: dict) -> dict:
    """What bumps generation: everything but metadata and status (spec, and data for ConfigMaps)."""
    return {k: v for k, v in obj.items() if k not in ("metadata", "status")}


def _stamp(seconds: float) -> str:
    return datetime.datetime.fromtimestamp(seconds, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class Store(Protocol):
    """What netlab asks of its API server."""

    def get(self, kind: str, namespace: Optional[str], name: str) -> Optional[dict]: ...
    def list(self, kind: Optional[str] = None, namespace: Optional[str] = None) -> list: ...
    def create(self, obj: dict) -> dict: ...
    def update(self, obj: dict) -> dict: ...
    def apply(self, obj: dict) -> tuple: ...
    def delete(self, kind: str, namespace: Optional[str], name: str) -> dict: ...
    def watch(self, since: int) -> list: ...


class EmbeddedStore:
    """The Store in the lab's state: ST.objects (in write order), ST.resource_version, ST.changes."""

    def __init__(self, st, now: float, rng=None):
        self.st = st
        self.now = now
        self.rng = rng

    # -- reads --

    def get(self, kind: str, namespace: Optional[str], name: str) -> Optional[dict]:
        """The stored object, or None."""
        for obj in self.st.objects:
            if key_of(obj) == (kind, namespace, name):
                return obj
        return None

    def list(self, kind: Optional[str] = None, namespace: Optional[str] = None) -> list:
        """Stored objects of KIND (every kind if None) in NAMESPACE (every namespace if None)."""
        return [o for o in self.st.objects
                if (kind is None or o.get("kind") == kind) and (namespace is None or key_of(o)[1] == namespace)]

    def watch(self, since: int) -> list:
        """(type, resourceVersion, key) of every write after resourceVersion SINCE, oldest first."""
        return [(c["type"], c["resourceVersion"], tuple(c["key"])) for c in self.st.changes
                if c["resourceVersion"] > since]

    # -- writes --

    def create(self, obj: dict) -> dict:
        """Store a new object (uid, creationTimestamp, generation 1); StoreError if it exists."""
        key = key_of(obj)
        if self.get(*key) is not None:
            raise StoreError(f'{key[0]} "{key[2]}" already exists')
        stored = as_applied(obj)
        meta = stored["metadata"]
        meta["uid"] = str(uuid.UUID(int=self._rng(key).getrandbits(128))) if self._rng(key) else str(uuid.uuid4())
        meta["creationTimestamp"] = _stamp(self.now)
        meta["generation"] = 1
        self.st.objects.append(stored)
        self._written("ADDED", stored)
        return stored

    def _rng(self, key: tuple):
        """Where uids come from: the store's rng (tests), else $NETLAB_SEED (the same seed and the
        same commands give the same uids, so the same ClusterIPs and nodePorts), else none (uuid4)."""
        if self.rng is not None:
            return self.rng
        seed = os.environ.get(SEED_VARIABLE)
        if not seed:
            return None
        return random.Random(f"{seed}/{getattr(self.st, 'resource_version', 0)}/{key}")

    def update(self, obj: dict) -> dict:
        """Replace a stored object; generation +1 if its spec changed. StoreError if it is missing,
        or if OBJ carries a resourceVersion that is not the stored one (a conflict)."""
        key = key_of(obj)
        current = self.get(*key)
        if current is None:
            raise StoreError(f'{key[0]} "{key[2]}" not found')
        version = (obj.get("metadata") or {}).get("resourceVersion")
        if version is not None and version != current["metadata"].get("resourceVersion"):
            raise StoreError(f'Operation cannot be fulfilled on {key[0].lower()} "{key[2]}": the object has been '
                             "modified; please apply your changes to the latest version and try again")
        stored = as_applied(obj)
        meta = stored["metadata"]
        old = current["metadata"]
        meta["uid"], meta["creationTimestamp"] = old.get("uid"), old.get("creationTimestamp")
        meta["generation"] = old.get("generation", 1) + (1 if _spec_of(stored) != _spec_of(current) else 0)
        if "status" in current:
            stored["status"] = current["status"]
        current.clear()
        current.update(stored)
        self._written("MODIFIED", current)
        return current

    def apply(self, obj: dict) -> tuple:
        """kubectl apply: (stored object, "created" | "configured" | "unchanged")."""
        current = self.get(*key_of(obj))
        if current is None:
            return self.create(obj), "created"
        if as_applied(current) == as_applied(obj):
            return current, "unchanged"
        return self.update(as_applied(obj)), "configured"

    def delete(self, kind: str, namespace: Optional[str], name: str) -> dict:
        """Remove a stored object and return it; StoreError if there is none."""
        current = self.get(kind, namespace, name)
        if current is None:
            where = f' in namespace "{namespace}"' if namespace else ""
            raise StoreError(f'{kind.lower()} "{name}" not found{where}')
        self.st.objects = [o for o in self.st.objects if o is not current]
        self._written("DELETED", current)
        return current

    def _written(self, kind: str, obj: dict) -> None:
        self.st.resource_version = getattr(self.st, "resource_version", 0) + 1
        obj.setdefault("metadata", {})["resourceVersion"] = str(self.st.resource_version)
        self.st.changes.append({"type": kind, "resourceVersion": self.st.resource_version, "key": list(key_of(obj))})
        del self.st.changes[:-CHANGES_KEPT]
