"""The workload controllers, as pure functions: which pods and ReplicaSets should exist, and where.

plan() is one pass of the Deployment, ReplicaSet and garbage collector controllers plus the
scheduler and host-local IPAM, over the applied objects, the ReplicaSets the lab keeps, and the pods
it has (with what kubelet observed of them). The decisions themselves are upstream's, ported in
netlab.cluster.workloads; this module turns objects into their inputs and their outputs into pods:

- a Deployment owns ReplicaSets named NAME-HASH (pod-template-hash of its template), rolled by
  RollingUpdate (maxSurge/maxUnavailable) or Recreate, with revisions for `rollout undo`;
- a ReplicaSet (applied, or a Deployment's) adopts matching pods nobody owns, releases owned pods
  whose labels stop matching, creates pods NAME-xxxxx and deletes the surplus in upstream's order;
- a bare Pod is one pod of its own name (its labels change in place; a changed spec replaces it);
- a pod whose owner is gone is deleted (the garbage collector's background cascade).
Deleting means marking: the caller turns `delete` into Terminating pods. Running plan() again on
its own result changes nothing, which is what makes passes re-runnable and interruptions finishable.
"""

from __future__ import annotations

import copy
import hashlib
import json
import random
import uuid
from collections import Counter
from dataclasses import dataclass, field

from netlab.cluster import ipam, workloads
from netlab.cluster.scheduler import Unschedulable, choose_node

# k8s.io/apimachinery/pkg/util/rand: the alphabet of generated name suffixes (no vowels, no
# look-alikes such as 0/o, 1/l, 3/e).
_ALPHANUMS = "bcdfghjklmnpqrstvwxz2456789"
HASH_LABEL = "pod-template-hash"
REVISION_ANNOTATION = "deployment.kubernetes.io/revision"


@dataclass
class PodInstance:
    """One pod the lab has (or will have): identity, owner, placement and address."""

    namespace: str
    name: str
    uid: str
    source: tuple                    # (kind, namespace, name) of the object it comes from
    spec_hash: str                   # the pod spec + labels it was built from
    labels: dict = field(default_factory=dict)
    owner: tuple | None = None       # ("ReplicaSet", name) of the controller that owns it
    owner_uid: str | None = None     # that ReplicaSet's uid (ownerReferences[].uid)
    node: str | None = None          # None: Pending, see `reason`
    ip: str | None = None
    reason: str | None = None
    created: float = 0.0
    scheduling: dict = field(default_factory=dict)   # the spec's nodeName and nodeSelector
    ip6: str | None = None           # its IPv6 address, from the node's IPv6 pod CIDR (ip is None on an
                                     # IPv6-only lab)

    @property
    def key(self) -> tuple:
        return (self.namespace, self.name)

    def to_dict(self) -> dict:
        data = dict(self.__dict__)
        data["source"] = list(self.source)
        data["owner"] = list(self.owner) if self.owner else None
        if data["ip6"] is None:
            del data["ip6"]          # a single-stack lab's records stay as they were
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
class ReplicaSetRecord:
    """A ReplicaSet the lab keeps: applied by the user, or made by a Deployment (owner set)."""

    namespace: str
    name: str
    uid: str
    selector: dict                   # the LabelSelector map
    template: dict                   # the pod template map (labels include pod-template-hash)
    replicas: int
    created: float = 0.0
    owner: str | None = None         # the Deployment's name
    owner_uid: str | None = None
    revision: int = 0
    template_hash: str = ""
    min_ready_seconds: int = 0
    status: dict = field(default_factory=dict)
    annotations: dict = field(default_factory=dict)   # a Deployment's RS: the Deployment's, copied

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"

    def to_dict(self) -> dict:
        return dict(self.__dict__)

    @classmethod
    def from_dict(cls, data: dict) -> "ReplicaSetRecord":
        return cls(**data)

    def document(self) -> dict:
        """The apps/v1 ReplicaSet as the API would show it."""
        meta = {"name": self.name, "namespace": self.namespace, "uid": self.uid,
                "labels": dict((self.template.get("metadata") or {}).get("labels") or {})}
        if self.annotations:
            meta["annotations"] = dict(self.annotations)
        if self.owner:
            meta["annotations"] = {**self.annotations, REVISION_ANNOTATION: str(self.revision)}
            meta["ownerReferences"] = [{"apiVersion": "apps/v1", "kind": "Deployment", "name": self.owner,
                                        "uid": self.owner_uid, "controller": True, "blockOwnerDeletion": True}]
        return {"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": meta,
                "spec": {"replicas": self.replicas, "minReadySeconds": self.min_ready_seconds,
                         "selector": copy.deepcopy(self.selector), "template": copy.deepcopy(self.template)},
                "status": dict(self.status)}


@dataclass(frozen=True)
class Observed:
    """What kubelet reports of a pod, as the controllers read it from its status."""

    phase: str = "Pending"
    ready: bool = False
    ready_since: float | None = None
    restart_count: int = 0


@dataclass
class ControllerEvent:
    """An Event a controller records: on a Deployment or ReplicaSet."""

    kind: str
    namespace: str
    name: str
    reason: str
    message: str
    type: str = "Normal"


@dataclass
class Plan:
    keep: list
    create: list
    delete: list
    last_reserved: dict              # node -> last reserved IP, host-local's memory (ipam.last_reserved_key)
    warnings: list = field(default_factory=list)
    replicasets: dict = field(default_factory=dict)   # "ns/name" -> ReplicaSetRecord, after this pass
    deployments: dict = field(default_factory=dict)   # "ns/name" -> {"uid", "created", "status"}
    events: list = field(default_factory=list)
    deleted_objects: list = field(default_factory=list)  # Pod object keys a controller deleted

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


def _uid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128)))


def _selector(raw: dict):
    from netlab.manifest.model import LabelSelector
    return LabelSelector.from_dict(raw).matches


def deployment_replicasets(deploy, record: dict, replicasets: dict, pods: list, terminating: set, observed: dict,
                           rng, now: float, events: list) -> dict:
    """One Deployment pass: create, scale, revive or prune its ReplicaSets. Returns its new record."""
    spec = deploy.raw.get("spec") or {}
    template = copy.deepcopy(spec.get("template") or {})
    template_hash = pod_template_hash(template)
    namespace, name = deploy.meta.namespace, deploy.meta.name
    owned = [rs for rs in replicasets.values() if rs.owner_uid == record["uid"]]
    states = []
    min_ready = int(spec.get("minReadySeconds") or 0)
    for rs in owned:
        mine = [p for p in pods if p.owner_uid == rs.uid]
        live = [p for p in mine if p.key not in terminating]
        ready = [p for p in live if observed.get(p.key, Observed()).ready]
        available = [p for p in ready if _available(observed.get(p.key), min_ready, now)]
        states.append(workloads.RSState(name=rs.name, template_hash=rs.template_hash, replicas=rs.replicas,
                                        revision=rs.revision, created=rs.created, ready=len(ready),
                                        available=len(available), actual=len(mine)))
    facts = workloads.DeploymentFacts(
        namespace=namespace, name=name, uid=record["uid"], replicas=int(deploy.replicas),
        strategy=dict(spec.get("strategy") or {}), template_hash=template_hash, min_ready_seconds=min_ready,
        revision_history_limit=spec.get("revisionHistoryLimit", 10),
        progress_deadline_seconds=spec.get("progressDeadlineSeconds", 600), paused=bool(spec.get("paused")))
    decision = workloads.decide_deployment(facts, states, now, previous_status=record.get("status"))
    by_name = {rs.name: rs for rs in owned}
    if decision.create_new_rs:
        rs_name = f"{name}-{template_hash}"
        labels = dict((template.get("metadata") or {}).get("labels") or {})
        labels[HASH_LABEL] = template_hash
        template.setdefault("metadata", {})["labels"] = labels
        selector = copy.deepcopy(deploy.raw["spec"].get("selector") or {})
        selector.setdefault("matchLabels", {})[HASH_LABEL] = template_hash
        rs = ReplicaSetRecord(namespace=namespace, name=rs_name, uid=_uid(rng), selector=selector, template=template,
                              replicas=decision.new_rs_replicas or 0, created=now, owner=name,
                              owner_uid=record["uid"], revision=decision.new_revision or 1,
                              template_hash=template_hash, min_ready_seconds=min_ready)
        replicasets[rs.key] = rs
        by_name[rs_name] = rs
        events.append(ControllerEvent("Deployment", namespace, name, "ScalingReplicaSet",
                                      f"Scaled up replica set {rs_name} from 0 to {rs.replicas}"))
    elif decision.new_revision is not None:
        for rs in owned:
            if rs.template_hash == template_hash:
                rs.revision = decision.new_revision
    # setNewReplicaSetAnnotations: the new RS carries the Deployment's annotations (kubectl's
    # change-cause among them), except those that are the Deployment's own bookkeeping
    copied = {k: v for k, v in ((deploy.raw.get("metadata") or {}).get("annotations") or {}).items()
              if k not in _NOT_COPIED}
    for rs in by_name.values():
        if rs.template_hash == template_hash and copied and any(rs.annotations.get(k) != v for k, v in copied.items()):
            rs.annotations = {**rs.annotations, **copied}
    for rs_name, replicas in decision.scale.items():
        rs = by_name.get(rs_name)
        if rs is None or rs.replicas == replicas:
            continue
        verb = "up" if replicas > rs.replicas else "down"
        events.append(ControllerEvent("Deployment", namespace, name, "ScalingReplicaSet",
                                      f"Scaled {verb} replica set {rs_name} from {rs.replicas} to {replicas}"))
        rs.replicas = replicas
    for rs_name in decision.delete_rs:
        rs = by_name.get(rs_name)
        if rs is not None:
            replicasets.pop(rs.key, None)
    return {"uid": record["uid"], "created": record["created"], "status": decision.status,
            "generation": record.get("generation", 1), "template_hash": template_hash}


# pkg/controller/deployment/util: skipCopyAnnotation
_NOT_COPIED = frozenset({"kubectl.kubernetes.io/last-applied-configuration", REVISION_ANNOTATION,
                         "deployment.kubernetes.io/revision-history", "deployment.kubernetes.io/desired-replicas",
                         "deployment.kubernetes.io/max-replicas"})


def _available(seen: Observed | None, min_ready: int, now: float) -> bool:
    if seen is None or not seen.ready:
        return False
    return min_ready == 0 or (seen.ready_since is not None and now - seen.ready_since > min_ready)


def plan(objects, existing: list, topology, last_reserved: dict, rng: random.Random | None = None,
         now: float = 0.0, reserved: list = (), replicasets: dict | None = None, deployments: dict | None = None,
         observed: dict | None = None) -> Plan:
    """One pass of the workload controllers over the objects and the lab's pods.

    EXISTING pods are the live ones, RESERVED those being deleted (not counted, but their names and
    IPs stay taken until gone). REPLICASETS and DEPLOYMENTS are the records the last pass returned;
    OBSERVED maps "ns/name" to what kubelet reports of each pod. Nothing passed in is modified.
    """
    rng = rng or random.Random()
    observed = observed or {}
    replicasets = {k: ReplicaSetRecord.from_dict(v.to_dict()) for k, v in (replicasets or {}).items()}
    deployments = {k: dict(v) for k, v in (deployments or {}).items()}
    pods = [PodInstance.from_dict(p.to_dict()) for p in existing]
    reserved_pods = [PodInstance.from_dict(p.to_dict()) for p in reserved]
    events: list = []
    delete, deleted_objects = [], []
    by_kind: dict = {}
    for obj in objects:
        by_kind.setdefault(obj.kind, []).append(obj)

    # applied ReplicaSets: their records follow the objects (uid and creation kept)
    applied_rs = set()
    for obj in by_kind.get("ReplicaSet", ()):
        key = f"{obj.meta.namespace}/{obj.meta.name}"
        applied_rs.add(key)
        old = replicasets.get(key)
        spec = obj.raw.get("spec") or {}
        replicasets[key] = ReplicaSetRecord(
            namespace=obj.meta.namespace, name=obj.meta.name,
            uid=old.uid if old else ((obj.raw.get("metadata") or {}).get("uid") or _uid(rng)),
            selector=copy.deepcopy(spec.get("selector") or {}), template=copy.deepcopy(spec.get("template") or {}),
            replicas=int(obj.replicas), created=old.created if old else now,
            min_ready_seconds=int(spec.get("minReadySeconds") or 0), status=old.status if old else {})

    # Deployments: their ReplicaSets
    live_deployments = set()
    for deploy in by_kind.get("Deployment", ()):
        key = f"{deploy.meta.namespace}/{deploy.meta.name}"
        live_deployments.add(key)
        meta = deploy.raw.get("metadata") or {}
        record = deployments.get(key) or {"uid": meta.get("uid") or _uid(rng), "created": now, "status": {}}
        record["generation"] = meta.get("generation", 1)       # the generation this pass observed
        deployments[key] = deployment_replicasets(deploy, record, replicasets, pods + reserved_pods,
                                                  {p.key for p in reserved_pods}, observed, rng, now, events)

    # garbage collection: ReplicaSets whose owner is gone, applied ones no longer applied
    live_uids = {deployments[k]["uid"] for k in live_deployments}
    for key in [k for k in deployments if k not in live_deployments]:
        deployments.pop(key)
    for key, rs in list(replicasets.items()):
        if (rs.owner_uid and rs.owner_uid not in live_uids) or (not rs.owner_uid and key not in applied_rs):
            replicasets.pop(key)

    # a bare Pod's labels are mutable: they change on the running pod before any controller looks
    bare = {(o.meta.namespace, o.meta.name): o for o in by_kind.get("Pod", ())}
    for pod in pods:
        obj = bare.get(pod.key)
        if obj is not None and pod.source == ("Pod",) + pod.key:
            pod.labels = dict(obj.meta.labels or {})

    # ReplicaSet controller
    rs_uids = {rs.uid: rs for rs in replicasets.values()}
    for pod in pods:
        if pod.owner_uid and pod.owner_uid not in rs_uids:
            delete.append(pod)                                  # its owner is gone
    deleting = {p.key for p in delete}
    create_wants = []
    for rs in sorted(replicasets.values(), key=lambda r: (r.created, r.name)):
        candidates = [p for p in pods if p.namespace == rs.namespace and p.key not in deleting]
        facts = [_facts(p, observed) for p in candidates]
        facts += [_facts(p, observed, deleting=True) for p in reserved_pods if p.namespace == rs.namespace]
        decision = workloads.decide_replicaset(workloads.ReplicaSetFacts(
            namespace=rs.namespace, name=rs.name, uid=rs.uid, selector=_selector(rs.selector), replicas=rs.replicas,
            owner_uid=rs.owner_uid, created=rs.created, revision=rs.revision, template_hash=rs.template_hash,
            min_ready_seconds=rs.min_ready_seconds), facts, now)
        rs.status = dict(decision.status, observedGeneration=1)
        named = {p.name: p for p in candidates}
        for pod_name in decision.adopt:
            named[pod_name].owner, named[pod_name].owner_uid = ("ReplicaSet", rs.name), rs.uid
        for pod_name in decision.release:
            named[pod_name].owner, named[pod_name].owner_uid = None, None
        for pod_name in decision.delete:
            pod = named[pod_name]
            delete.append(pod)
            deleting.add(pod.key)
            events.append(ControllerEvent("ReplicaSet", rs.namespace, rs.name, "SuccessfulDelete",
                                          f"Deleted pod: {pod.name}"))
            if pod.source[0] == "Pod":
                deleted_objects.append(pod.source)
        create_wants += [rs] * decision.create

    # bare Pods: one pod of the object's name; labels change in place, a new spec replaces it
    by_key = {p.key: p for p in pods}
    reserved_keys = {p.key for p in reserved_pods}
    for (namespace, name), obj in bare.items():
        if obj.key in deleted_objects:
            continue
        pod = by_key.get((namespace, name))
        wanted = spec_hash(obj.raw.get("spec") or {}, {})
        if pod is not None and pod.source == ("Pod", namespace, name) and pod.spec_hash == wanted:
            continue
        if pod is not None and pod.key not in deleting:
            delete.append(pod)
            deleting.add(pod.key)
        if pod is None and (namespace, name) not in reserved_keys:
            create_wants.append(obj)
    for pod in pods:
        if pod.source[0] == "Pod" and (pod.source[1], pod.source[2]) not in bare and pod.key not in deleting:
            delete.append(pod)
            deleting.add(pod.key)

    keep = [p for p in pods if p.key not in deleting]
    create, warnings, last_reserved = _place(create_wants, keep, reserved_pods + delete, topology, last_reserved,
                                             rng, now, events)
    return Plan(keep=[p for p in keep if p.node is not None], create=create, delete=delete,
                last_reserved=last_reserved, warnings=warnings, replicasets=replicasets, deployments=deployments,
                events=events, deleted_objects=deleted_objects)


def plan_created(objects, existing: list, topology, last_reserved: dict, rng: random.Random | None = None,
                 now: float = 0.0, reserved: list = (), replicasets: dict | None = None,
                 deployments: dict | None = None, observed: dict | None = None, max_passes: int = 20) -> Plan:
    """plan(), then more passes while the last one created a ReplicaSet's BurstReplicas (500)
    pods: one Plan creating every pod the ReplicaSets want.

    kube-controller-manager creates at most 500 pods a ReplicaSet sync and syncs again as soon as
    its informer has seen them created, long before any runs: a Deployment of 1,000 replicas has
    its 1,000 Pod objects within moments, and the kubelets start them together. Each pass still
    decides as upstream's does; only the wait between them is gone."""
    result = plan(objects, existing, topology, last_reserved, rng=rng, now=now, reserved=reserved,
                  replicasets=replicasets, deployments=deployments, observed=observed)
    created = result.create
    for _ in range(max_passes - 1):
        if len(created) < workloads.BURST_REPLICAS:
            break
        going = {p.key for p in result.delete}
        more = plan(objects, [p for p in existing if p.key not in going] + result.create, topology,
                    result.last_reserved, rng=rng, now=now, reserved=list(reserved) + result.delete,
                    replicasets=result.replicasets, deployments=result.deployments, observed=observed)
        created = more.create
        result = Plan(keep=result.keep, create=result.create + more.create, delete=result.delete + more.delete,
                      last_reserved=more.last_reserved, warnings=result.warnings + more.warnings,
                      replicasets=more.replicasets, deployments=more.deployments,
                      events=result.events + more.events,
                      deleted_objects=result.deleted_objects + more.deleted_objects)
    return result


def _facts(pod: PodInstance, observed: dict, deleting: bool = False) -> "workloads.PodFacts":
    seen = observed.get(pod.key, Observed())
    return workloads.PodFacts(namespace=pod.namespace, name=pod.name, uid=pod.uid, labels=dict(pod.labels),
                              owner_uid=pod.owner_uid, node=pod.node, phase=seen.phase if pod.node else "Pending",
                              ready=seen.ready, ready_since=seen.ready_since, restart_count=seen.restart_count,
                              created=pod.created, deleting=deleting)


def _place(wants: list, keep: list, taken: list, topology, last_reserved: dict, rng, now: float, events: list):
    """Name, schedule and address the pods to create (and retry the Pending ones kept)."""
    retry = [p for p in keep if p.node is None]
    placed = [p for p in keep if p.node is not None]
    taken_names = {p.key for p in keep} | {p.key for p in taken}
    pods_per_node = Counter(p.node for p in placed)
    siblings: dict = {}
    for pod in placed:
        siblings.setdefault(pod.owner or pod.source, Counter())[pod.node] += 1
    used_ips = {ip for p in placed + list(taken) for ip in (p.ip, p.ip6) if ip}
    last_reserved = dict(last_reserved)
    create, warnings = [], []
    work = [(None, p) for p in retry] + [(w, None) for w in wants]
    for want, pod in work:
        if pod is None:
            pod = _new_pod(want, taken_names, rng, now)
            taken_names.add(pod.key)
            if isinstance(want, ReplicaSetRecord):
                events.append(ControllerEvent("ReplicaSet", want.namespace, want.name, "SuccessfulCreate",
                                              f"Created pod: {pod.name}"))
        spec = pod.scheduling
        sibling_count = siblings.setdefault(pod.owner or pod.source, Counter())
        try:
            node_name = choose_node(topology.nodes, spec.get("nodeName"), spec.get("nodeSelector"), pods_per_node,
                                    sibling_count)
            node = topology.node(node_name)
            addresses = {cidr: ipam.allocate(cidr, used_ips, last_reserved.get(ipam.last_reserved_key(node_name, cidr)))
                         for cidr in (node.pod_cidr, node.pod_cidr6) if cidr is not None}
        except (Unschedulable, ipam.RangeFull) as err:
            pod.reason = str(err)
            warnings.append(f"pod {pod.namespace}/{pod.name} stays Pending: {err}")
            create.append(pod)
            continue
        pod.node, pod.reason = node_name, None
        pod.ip, pod.ip6 = addresses.get(node.pod_cidr), addresses.get(node.pod_cidr6)
        for cidr, ip in addresses.items():
            used_ips.add(ip)
            last_reserved[ipam.last_reserved_key(node_name, cidr)] = ip
        pods_per_node[node_name] += 1
        sibling_count[node_name] += 1
        create.append(pod)
    return create, warnings, last_reserved


def _new_pod(want, taken_names: set, rng, now: float) -> PodInstance:
    """A pod for a ReplicaSet (NAME-xxxxx) or a bare Pod object (its own name)."""
    if isinstance(want, ReplicaSetRecord):
        template = want.template
        name = f"{want.name}-{random_suffix(rng)}"
        while (want.namespace, name) in taken_names:
            name = f"{want.name}-{random_suffix(rng)}"
        spec_raw = template.get("spec") or {}
        return PodInstance(namespace=want.namespace, name=name, uid=_uid(rng),
                           source=("ReplicaSet", want.namespace, want.name), spec_hash=spec_hash(spec_raw, {}),
                           labels=dict((template.get("metadata") or {}).get("labels") or {}),
                           owner=("ReplicaSet", want.name), owner_uid=want.uid, created=now,
                           scheduling=_scheduling(spec_raw))
    spec_raw = want.raw.get("spec") or {}
    return PodInstance(namespace=want.meta.namespace, name=want.meta.name, uid=_uid(rng),
                       source=("Pod", want.meta.namespace, want.meta.name), spec_hash=spec_hash(spec_raw, {}),
                       labels=dict(want.meta.labels or {}), created=now, scheduling=_scheduling(spec_raw))


def _scheduling(spec_raw: dict) -> dict:
    return {"nodeName": spec_raw.get("nodeName"), "nodeSelector": dict(spec_raw.get("nodeSelector") or {})}
