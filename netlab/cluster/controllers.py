"""The workload controllers, as pure functions: which pods should exist, on which node, with which IP.

Given the applied objects (Pods, ReplicaSets, Deployments) and the pods the lab already has, plan()
decides which pods to keep, which to create (named as Kubernetes names them, placed and addressed)
and which to delete. Running it twice on its own result changes nothing, which is what makes
`netlab up` re-runnable and an interrupted run finishable.
"""

from __future__ import annotations

import hashlib
import json
import random
import uuid
from collections import Counter
from dataclasses import dataclass, field

from netlab.cluster import ipam
from netlab.cluster.scheduler import Unschedulable, choose_node

# k8s.io/apimachinery/pkg/util/rand: the alphabet of generated name suffixes (no vowels, no
# look-alikes such as 0/o, 1/l, 3/e).
_ALPHANUMS = "bcdfghjklmnpqrstvwxz2456789"


@dataclass
class PodInstance:
    """One pod the lab has (or will have): identity, owner, placement and address."""

    namespace: str
    name: str
    uid: str
    source: tuple                    # (kind, namespace, name) of the object it comes from
    spec_hash: str                   # the pod spec + labels it was built from
    labels: dict = field(default_factory=dict)
    owner: tuple | None = None       # ("ReplicaSet", name) for controller-made pods
    node: str | None = None          # None: Pending, see `reason`
    ip: str | None = None
    reason: str | None = None
    created: float = 0.0

    @property
    def key(self) -> tuple:
        return (self.namespace, self.name)

    def to_dict(self) -> dict:
        data = dict(self.__dict__)
        data["source"] = list(self.source)
        data["owner"] = list(self.owner) if self.owner else None
        return data

    @classmethod
    def from_dict(cls, data: dict) -> "PodInstance":
        """The instance from a stored pod record (the store's own fields, kubelet's etc., are left out)."""
        known = set(cls.__dataclass_fields__)
        data = {k: v for k, v in data.items() if k in known}
        data["source"] = tuple(data["source"])
        data["owner"] = tuple(data["owner"]) if data.get("owner") else None
        return cls(**data)


@dataclass
class Plan:
    keep: list
    create: list
    delete: list
    last_reserved: dict              # node -> last reserved IP, host-local's memory
    warnings: list = field(default_factory=list)

    @property
    def pods(self) -> list:
        return self.keep + self.create


def random_suffix(rng: random.Random, length: int = 5) -> str:
    return "".join(rng.choice(_ALPHANUMS) for _ in range(length))


def safe_encode(text: str) -> str:
    """rand.SafeEncodeString: map each character onto the vowel-free alphabet."""
    return "".join(_ALPHANUMS[ord(ch) % len(_ALPHANUMS)] for ch in text)


def fnv32a(data: bytes) -> int:
    value = 0x811C9DC5
    for byte in data:
        value = ((value ^ byte) * 0x01000193) & 0xFFFFFFFF
    return value


def pod_template_hash(template_raw: dict) -> str:
    """The `pod-template-hash` a Deployment gives its ReplicaSet: FNV-32a, safe-encoded (ComputeHash)."""
    canonical = json.dumps(template_raw, sort_keys=True, separators=(",", ":")).encode()
    return safe_encode(str(fnv32a(canonical)))


def spec_hash(spec_raw: dict, labels: dict) -> str:
    canonical = json.dumps({"spec": spec_raw, "labels": labels}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class _Want:
    """What one source object asks for: COUNT pods from one template under one owner."""

    source: tuple
    namespace: str
    owner: tuple | None
    fixed_name: str | None           # bare pods keep their own name
    generate_prefix: str | None      # "web-7d4b9c5f8-" for controller pods
    labels: dict
    spec: object                     # the typed PodSpec (for scheduling)
    spec_raw: dict
    count: int


def _wants(objects) -> list:
    """Turn Pods, ReplicaSets and Deployments into what each asks for."""
    wants = []
    for obj in objects:
        kind = type(obj).__name__
        meta = obj.meta
        if kind == "Pod":
            labels = dict(meta.labels or {})
            wants.append(_Want(("Pod", meta.namespace, meta.name), meta.namespace, None, meta.name, None,
                               labels, obj.spec, _spec_raw(obj.raw), 1))
        elif kind in ("ReplicaSet", "Deployment"):
            template_raw = (obj.raw.get("spec") or {}).get("template") or {}
            labels = dict(obj.template.labels or {})
            rs_name = meta.name
            if kind == "Deployment":
                rs_hash = pod_template_hash(template_raw)
                rs_name = f"{meta.name}-{rs_hash}"
                labels["pod-template-hash"] = rs_hash
            wants.append(_Want((kind, meta.namespace, meta.name), meta.namespace, ("ReplicaSet", rs_name),
                               None, f"{rs_name}-", labels, obj.template.spec,
                               template_raw.get("spec") or {}, int(obj.replicas)))
    return wants


def _spec_raw(raw: dict) -> dict:
    return raw.get("spec") or {}


def plan(objects, existing: list, topology, last_reserved: dict, rng: random.Random | None = None,
         now: float = 0.0, reserved: list = ()) -> Plan:
    """Decide the lab's pods: keep what still matches, create what is missing, delete the rest.

    RESERVED pods are being deleted: not counted, but their names and IPs stay taken until gone.
    """
    rng = rng or random.Random()
    wants = _wants(objects)
    by_source: dict = {}
    for pod in existing:
        by_source.setdefault(pod.source, []).append(pod)

    keep, create_wants, delete = [], [], []
    claimed = set()
    for want in wants:
        candidates = [p for p in by_source.get(want.source, ())
                      if p.owner == want.owner and p.namespace == want.namespace]
        # labels are mutable on a running pod: only a changed spec needs a new pod
        wanted_hash = spec_hash(want.spec_raw, {})
        if want.fixed_name:
            candidates = [p for p in candidates if p.name == want.fixed_name]
        matching = [p for p in candidates if p.spec_hash == wanted_hash]
        for pod in matching:
            pod.labels = dict(want.labels)
        # ReplicaSet controller: when scaling down, the newest pods go first.
        matching.sort(key=lambda p: (p.created, p.name))
        kept = matching[: want.count]
        keep.extend(kept)
        claimed.update(p.key for p in kept)
        if want.fixed_name and (want.namespace, want.fixed_name) in {p.key for p in reserved}:
            continue            # the old pod of this name is still terminating: create it once it is gone
        for _ in range(want.count - len(kept)):
            create_wants.append(want)

    for pod in existing:
        if pod.key not in claimed:
            delete.append(pod)

    # A pod kept while Pending gets another chance at a node, under the same name.
    retry = [p for p in keep if p.node is None]
    keep = [p for p in keep if p.node is not None]
    deleted_keys = {p.key for p in delete}
    taken_names = {p.key for p in keep} | {p.key for p in existing if p.key not in deleted_keys} | \
        {p.key for p in reserved}
    pods_per_node = Counter(p.node for p in keep if p.node)
    siblings = {}
    for pod in keep:
        if pod.node:
            siblings.setdefault(pod.owner or pod.source, Counter())[pod.node] += 1
    used_ips = {p.ip for p in keep if p.ip} | {p.ip for p in reserved if p.ip} | {p.ip for p in delete if p.ip}
    last_reserved = dict(last_reserved)
    create, warnings = [], []
    wants_by_source = {w.source: w for w in wants}
    work = [(wants_by_source[p.source], p) for p in retry] + [(w, None) for w in create_wants]
    for want, pod in work:
        if pod is None:
            if want.fixed_name:
                name = want.fixed_name
            else:
                name = want.generate_prefix + random_suffix(rng)
                while (want.namespace, name) in taken_names:
                    name = want.generate_prefix + random_suffix(rng)
            taken_names.add((want.namespace, name))
            pod = PodInstance(namespace=want.namespace, name=name, uid=str(uuid.UUID(int=rng.getrandbits(128))),
                              source=want.source, spec_hash=spec_hash(want.spec_raw, {}),
                              labels=dict(want.labels), owner=want.owner, created=now)
        sibling_count = siblings.setdefault(want.owner or want.source, Counter())
        try:
            node_name = choose_node(topology.nodes, getattr(want.spec, "node_name", None),
                                    getattr(want.spec, "node_selector", None), pods_per_node, sibling_count)
            node = topology.node(node_name)
            pod.ip = ipam.allocate(node.pod_cidr, used_ips, last_reserved.get(node_name))
        except (Unschedulable, ipam.RangeFull) as err:
            pod.reason = str(err)
            warnings.append(f"pod {pod.namespace}/{pod.name} stays Pending: {err}")
            create.append(pod)
            continue
        pod.node = node_name
        used_ips.add(pod.ip)
        last_reserved[node_name] = pod.ip
        pods_per_node[node_name] += 1
        sibling_count[node_name] += 1
        create.append(pod)
    return Plan(keep=keep, create=create, delete=delete, last_reserved=last_reserved, warnings=warnings)

