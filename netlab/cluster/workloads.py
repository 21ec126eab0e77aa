"""The ReplicaSet and Deployment controllers' decisions, pure: what one upstream sync pass would do.

Ported from kubernetes/kubernetes: pkg/controller/replicaset/replica_set.go (syncReplicaSet,
manageReplicas, getPodsToDelete) and replica_set_utils.go (calculateStatus); pkg/controller/
controller_utils.go (FilterActivePods, ActivePodsWithRanks) and controller_ref_manager.go (ClaimObject);
pkg/controller/deployment/{rolling,recreate,sync,progress}.go and util/deployment_util.go.

A caller applies a decision (creates or deletes pods, creates, scales or deletes ReplicaSets, stores the
status), lets the other controller and the kubelet act, and calls again; as upstream, passes converge.
Nothing here reads a clock: `now` (epoch seconds) is an argument. Where upstream reads an annotation
this model does not carry, the function's comments say what stands in for it.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass
from functools import cmp_to_key
from typing import Callable

BURST_REPLICAS = 500            # replicaset.BurstReplicas: creates or deletes per pass
TEMPLATE_HASH_LABEL = "pod-template-hash"
_MAX_INT32 = 2**31 - 1          # progressDeadlineSeconds / revisionHistoryLimit: "no limit"
_PHASE_ORDINAL = {"Pending": 0, "Unknown": 1, "Running": 2}

# deployment_util.go condition reasons used more than once
RS_UPDATED, NEW_RS_AVAILABLE = "ReplicaSetUpdated", "NewReplicaSetAvailable"
TIMED_OUT, PAUSED = "ProgressDeadlineExceeded", "DeploymentPaused"


@dataclass(frozen=True)
class PodFacts:
    """What the ReplicaSet controller sees of one pod."""

    namespace: str
    name: str
    uid: str
    labels: dict
    owner_uid: str | None           # uid of the controlling owner, None for an orphan
    node: str | None                # None: unscheduled
    phase: str                      # Pending | Running | Succeeded | Failed | Unknown
    ready: bool
    ready_since: float | None       # last transition to Ready
    restart_count: int
    created: float
    deleting: bool = False          # has a deletionTimestamp (Terminating)


@dataclass(frozen=True)
class ReplicaSetFacts:
    """One ReplicaSet's spec and identity."""

    namespace: str
    name: str
    uid: str
    selector: Callable[[dict], bool]
    replicas: int
    owner_uid: str | None = None
    created: float = 0.0
    revision: int = 0
    template_hash: str = ""
    min_ready_seconds: int = 0


@dataclass
class ReplicaSetDecision:
    """One ReplicaSet sync pass: ownership changes, pods to create and delete, the new status."""

    adopt: list[str]
    release: list[str]
    create: int
    delete: list[str]               # in upstream's deletion preference order
    status: dict


@dataclass(frozen=True)
class DeploymentFacts:
    """One Deployment's spec; strategy is spec.strategy as written (API defaults applied here)."""

    namespace: str
    name: str
    uid: str
    replicas: int
    strategy: dict
    template_hash: str
    min_ready_seconds: int = 0
    revision_history_limit: int | None = 10
    progress_deadline_seconds: int | None = 600
    paused: bool = False


@dataclass(frozen=True)
class RSState:
    """A ReplicaSet the Deployment owns: spec.replicas, revision and the pods its status counts."""

    name: str
    template_hash: str
    replicas: int
    revision: int
    created: float
    ready: int
    available: int
    actual: int                     # status.replicas: pods that exist


@dataclass
class DeploymentDecision:
    """One Deployment sync pass: ReplicaSets to create, scale and delete, and the new status."""

    create_new_rs: bool             # NAME-HASH with new_rs_replicas and revision new_revision
    new_rs_replicas: int | None
    new_revision: int | None        # set when the new (or revived) RS gets a new revision
    scale: dict                     # rs name -> replicas, only for those that change
    delete_rs: list[str]
    status: dict
    complete: bool                  # deploymentutil.DeploymentComplete


# ---------------------------------------------------------------- ReplicaSet


def is_pod_active(pod: PodFacts) -> bool:
    """controller.IsPodActive: neither Succeeded, Failed nor Terminating."""
    return pod.phase not in ("Succeeded", "Failed") and not pod.deleting


def is_pod_available(pod: PodFacts, min_ready_seconds: int, now: float) -> bool:
    """podutil.IsPodAvailable: Ready, and Ready for longer than minReadySeconds."""
    if not pod.ready:
        return False
    # strictly longer: upstream tests LastTransitionTime + minReadySeconds .Before(now)
    return min_ready_seconds == 0 or (pod.ready_since is not None and pod.ready_since + min_ready_seconds < now)


def _earlier_in_time_order(a: PodFacts, b: PodFacts, ta: float, tb: float, now: float) -> bool:
    """Rules 6 and 8: a zero time first, else the more recent one, on LogarithmicScaleDown's log2 scale."""
    if not ta or not tb:
        return not ta
    # Go takes log2 of a time.Duration, i.e. of nanoseconds
    rank_a, rank_b = (int(math.log2((now - t) * 1e9)) if now > t else -1 for t in (ta, tb))
    diff = rank_a - rank_b
    # same power-of-two age bucket: upstream breaks the tie by UID, pseudo-randomly
    return a.uid < b.uid if diff == 0 else diff < 0


def _delete_first(a: PodFacts, b: PodFacts, rank_a: int, rank_b: int, now: float) -> bool:
    """ActivePodsWithRanks.Less: True if A should be deleted before B."""
    if a.node != b.node and (not a.node or not b.node):
        return not a.node
    phase_a, phase_b = _PHASE_ORDINAL.get(a.phase, 0), _PHASE_ORDINAL.get(b.phase, 0)
    if phase_a != phase_b:
        return phase_a < phase_b
    if a.ready != b.ready:
        return not a.ready
    # rule 4, pod-deletion-cost, is omitted: this model has no annotations, so every cost is 0
    if rank_a != rank_b:
        return rank_a > rank_b
    if a.ready and b.ready and (a.ready_since or 0.0) != (b.ready_since or 0.0):
        return _earlier_in_time_order(a, b, a.ready_since or 0.0, b.ready_since or 0.0, now)
    if a.restart_count != b.restart_count:
        return a.restart_count > b.restart_count
    if a.created != b.created:
        return _earlier_in_time_order(a, b, a.created, b.created, now)
    return False


def rank_for_deletion(pods: list[PodFacts], now: float, related: list[PodFacts] | None = None) -> list[PodFacts]:
    """PODS in the order upstream prefers to delete them (getPodsRankedByRelatedPodsOnSameNode + sort)."""
    # rank = active related pods on the same node: doubled-up pods go first
    on_node = Counter(p.node for p in (pods if related is None else related) if is_pod_active(p))

    def compare(a: PodFacts, b: PodFacts) -> int:
        if _delete_first(a, b, on_node[a.node], on_node[b.node], now):
            return -1
        return 1 if _delete_first(b, a, on_node[b.node], on_node[a.node], now) else 0

    return sorted(pods, key=cmp_to_key(compare))


def decide_replicaset(rs: ReplicaSetFacts, pods: list[PodFacts], now: float) -> ReplicaSetDecision:
    """One syncReplicaSet pass: claim pods, then create or delete toward spec.replicas."""
    # upstream filters inactive pods before claiming, so a Terminating orphan is never adopted
    active = [p for p in pods if p.namespace == rs.namespace and is_pod_active(p)]
    claimed, adopt, release = [], [], []
    for pod in active:
        matches = rs.selector(pod.labels)
        if pod.owner_uid is not None:
            if pod.owner_uid != rs.uid:
                continue                        # another controller's pod
            if matches:
                claimed.append(pod)
            else:
                release.append(pod.name)
        elif matches:
            adopt.append(pod.name)
            claimed.append(pod)
    diff = len(claimed) - rs.replicas
    create = min(-diff, BURST_REPLICAS) if diff < 0 else 0
    delete = []
    if diff > 0:
        # relatedPods: upstream also counts the pods of sibling ReplicaSets of the same owner
        ranked = rank_for_deletion(claimed, now)
        delete = [p.name for p in ranked[: min(diff, BURST_REPLICAS)]]
    ready = [p for p in claimed if p.ready]
    # fullyLabeled wants the template's labels: the pod-template-hash label stands in for them
    fully = [p for p in claimed if not rs.template_hash or p.labels.get(TEMPLATE_HASH_LABEL) == rs.template_hash]
    status = {"replicas": len(claimed), "fullyLabeledReplicas": len(fully), "readyReplicas": len(ready),
              "availableReplicas": sum(is_pod_available(p, rs.min_ready_seconds, now) for p in ready)}
    return ReplicaSetDecision(adopt, release, create, delete, status)


# ---------------------------------------------------------------- Deployment


def _scaled_value(value, total: int, round_up: bool) -> int:
    """intstr.GetScaledValueFromIntOrPercent: an int as is, "N%" of TOTAL rounded up or down."""
    if value is None:
        return 0
    if isinstance(value, int):
        return value
    text = str(value)
    if not text.endswith("%"):
        raise ValueError(f"invalid value for IntOrString {value!r}: string is not a percentage")
    percent = int(text[:-1])
    return -(-percent * total // 100) if round_up else percent * total // 100


def resolve_fenceposts(max_surge, max_unavailable, replicas: int) -> tuple[int, int]:
    """deploymentutil.ResolveFenceposts: (surge rounded up, unavailable rounded down), never both 0."""
    surge = _scaled_value(max_surge, replicas, True)
    unavailable = _scaled_value(max_unavailable, replicas, False)
    if surge == 0 and unavailable == 0:
        # validation forbids 0/0, so this came from rounding down; surge may be blocked by quota
        unavailable = 1
    return surge, unavailable


def strategy_limits(d: DeploymentFacts) -> tuple[str, int, int]:
    """(strategy type, MaxSurge, MaxUnavailable), with the API defaults: RollingUpdate, 25%, 25%."""
    kind = d.strategy.get("type") or "RollingUpdate"
    if kind != "RollingUpdate":
        return kind, 0, 0
    rolling = d.strategy.get("rollingUpdate") or {}
    surge, unavailable = (rolling.get(k) for k in ("maxSurge", "maxUnavailable"))
    surge, unavailable = resolve_fenceposts("25%" if surge is None else surge,
                                            "25%" if unavailable is None else unavailable, d.replicas)
    return kind, surge, 0 if d.replicas == 0 else min(unavailable, d.replicas)


def _set_condition(conds: dict, ctype: str, status: str, reason: str, message: str, now: float,
                   refresh: bool = False) -> None:
    """deploymentutil.SetDeploymentCondition: unchanged when status and reason are the same, unless REFRESH."""
    cur = conds.get(ctype)
    if cur and cur.get("status") == status and cur.get("reason") == reason and not refresh:
        return
    since = cur.get("lastTransitionTime", now) if cur and cur.get("status") == status else now
    conds[ctype] = {"type": ctype, "status": status, "reason": reason, "message": message,
                    "lastUpdateTime": now, "lastTransitionTime": since}


class _Pass:
    """The working state of one Deployment sync pass."""

    def __init__(self, d: DeploymentFacts, rses: list[RSState], now: float, conds: dict):
        self.d, self.now, self.conds = d, now, conds
        self.kind, self.surge, self.unavailable = strategy_limits(d)
        ordered = sorted(rses, key=lambda r: (r.created, r.name))
        # FindNewReplicaSet: the oldest RS with the current template
        self.new = next((r for r in ordered if r.template_hash == d.template_hash), None)
        self.old = [r for r in ordered if r is not self.new]
        self.max_old_revision = max((r.revision for r in self.old), default=0)
        self.spec = {r.name: r.replicas for r in rses}
        self.decision = DeploymentDecision(False, None, None, {}, [], {}, False)
        self.has_deadline = d.progress_deadline_seconds not in (None, _MAX_INT32)

    def all(self) -> list[RSState]:
        return self.old + ([self.new] if self.new else [])

    def create_new(self, replicas: int) -> None:
        d, revision = self.d, self.max_old_revision + 1
        self.new = RSState(f"{d.name}-{d.template_hash}", d.template_hash, replicas, revision, self.now, 0, 0, 0)
        self.spec[self.new.name] = replicas
        dec = self.decision
        dec.create_new_rs, dec.new_rs_replicas, dec.new_revision = True, replicas, revision
        if self.has_deadline:
            _set_condition(self.conds, "Progressing", "True", "NewReplicaSetCreated",
                           f'Created new replica set "{self.new.name}"', self.now)

    def sync_revision(self) -> None:
        """getNewReplicaSet for an existing new RS: revision max(old)+1, or note that it was found."""
        if self.new is None:
            return
        if self.new.revision < self.max_old_revision + 1:
            self.decision.new_revision = self.max_old_revision + 1
        elif self.has_deadline and "Progressing" not in self.conds:
            _set_condition(self.conds, "Progressing", "True", "FoundNewReplicaSet",
                           f'Found new replica set "{self.new.name}"', self.now)

    def scale(self, rs: RSState, replicas: int) -> bool:
        if self.spec[rs.name] == replicas:
            return False
        self.spec[rs.name] = replicas
        if rs is self.new and self.decision.create_new_rs:
            self.decision.new_rs_replicas = replicas
        else:
            self.decision.scale[rs.name] = replicas
        return True

    def new_rs_new_replicas(self) -> int:
        """deploymentutil.NewRSNewReplicas: grow the new RS up to replicas + maxSurge pods in all."""
        current = self.spec[self.new.name] if self.new else 0
        if self.kind != "RollingUpdate":
            return self.d.replicas
        total, most = sum(self.spec[r.name] for r in self.all()), self.d.replicas + self.surge
        return current if total >= most else current + min(most - total, self.d.replicas - current)

    def reconcile_new(self) -> bool:
        current = self.spec[self.new.name]
        if current == self.d.replicas:
            return False
        return self.scale(self.new, self.d.replicas if current > self.d.replicas else self.new_rs_new_replicas())

    def reconcile_old(self) -> bool:
        """reconcileOldReplicaSets: cleanupUnhealthyReplicas, then scaleDownOldReplicaSetsForRollingUpdate."""
        active_old = [r for r in self.old if self.spec[r.name] > 0]
        if not active_old:
            return False
        min_available = self.d.replicas - self.unavailable
        new_unavailable = self.spec[self.new.name] - self.new.available
        # the new RS's unavailable pods count too, or a crashlooping new RS would drain the old ones
        max_scaled_down = sum(self.spec[r.name] for r in self.all()) - min_available - new_unavailable
        if max_scaled_down <= 0:
            return False
        cleaned = 0
        for rs in active_old:                   # oldest first
            if cleaned >= max_scaled_down:
                break
            current = self.spec[rs.name]
            if current == 0 or current == rs.available:
                continue
            down = min(max_scaled_down - cleaned, current - rs.available)
            if down < 0:
                # more available than spec (a scale-down under way): upstream errors out of the pass
                return False
            self.scale(rs, current - down)
            cleaned += down
        available = sum(r.available for r in active_old) + self.new.available
        if available <= min_available:
            return cleaned > 0
        budget, scaled = available - min_available, 0
        for rs in active_old:
            down = min(self.spec[rs.name], budget - scaled)
            if down > 0:
                self.scale(rs, self.spec[rs.name] - down)
                scaled += down
        return cleaned + scaled > 0

    def scale_paused(self) -> None:
        """DeploymentController.scale, for a paused Deployment: resize its one active RS.

        With several active RSes upstream resizes them in proportion to the max-replicas annotation,
        which this model does not carry: they keep their sizes until the rollout resumes.
        """
        active = [r for r in self.all() if self.spec[r.name] > 0]
        if len(active) <= 1:                    # FindActiveOrLatest
            target = active[0] if active else (self.new or (self.old[-1] if self.old else None))
            if target is not None:
                self.scale(target, self.d.replicas)
        elif self.new and self.spec[self.new.name] == self.d.replicas == self.new.available:
            # IsSaturated (less its desired-replicas annotation): the old RSes are leftovers
            for rs in active:
                if rs is not self.new:
                    self.scale(rs, 0)

    def cleanup(self) -> None:
        """cleanupDeployment: delete the lowest revisions beyond revisionHistoryLimit that have no pods."""
        limit = self.d.revision_history_limit
        if limit is None or limit == _MAX_INT32 or len(self.old) <= limit:
            return
        by_revision = sorted(self.old, key=lambda r: (r.revision, r.created, r.name))
        for rs in by_revision[: len(self.old) - limit]:
            # the spec as this pass found it: an RS scaled down just now may still have pods
            if rs.actual == 0 and rs.replicas == 0:
                self.decision.delete_rs.append(rs.name)

    def status(self) -> dict:
        """calculateStatus over the ReplicaSets as this pass found them (plus one it creates)."""
        rses = self.all()
        available = sum(r.available for r in rses)
        status = {"replicas": sum(r.actual for r in rses), "updatedReplicas": self.new.actual if self.new else 0,
                  "readyReplicas": sum(r.ready for r in rses), "availableReplicas": available,
                  "unavailableReplicas": max(0, sum(r.replicas for r in rses) - available)}
        if available >= self.d.replicas - self.unavailable:
            cond = ("True", "MinimumReplicasAvailable", "Deployment has minimum availability.")
        else:
            cond = ("False", "MinimumReplicasUnavailable", "Deployment does not have minimum availability.")
        _set_condition(self.conds, "Available", *cond, self.now)
        return status


def _complete(d: DeploymentFacts, status: dict) -> bool:
    """deploymentutil.DeploymentComplete (observedGeneration is the caller's)."""
    return status["updatedReplicas"] == status["replicas"] == status["availableReplicas"] == d.replicas


def _progressed(previous: dict, status: dict) -> bool:
    """deploymentutil.DeploymentProgressing: more updated, ready or available pods, or fewer old ones."""
    was = {k: previous.get(k, 0) for k in ("replicas", "updatedReplicas", "readyReplicas", "availableReplicas")}
    return (status["updatedReplicas"] > was["updatedReplicas"] or status["readyReplicas"] > was["readyReplicas"]
            or status["replicas"] - status["updatedReplicas"] < was["replicas"] - was["updatedReplicas"]
            or status["availableReplicas"] > was["availableReplicas"])


def _sync_rollout_status(p: _Pass, previous: dict, status: dict) -> None:
    """syncRolloutStatus: the Progressing condition after a rollout step."""
    d, conds, now = p.d, p.conds, p.now
    cur = conds.get("Progressing")
    reason = cur.get("reason") if cur else None
    if not p.has_deadline or (status["replicas"] == status["updatedReplicas"] and reason == NEW_RS_AVAILABLE):
        return                                  # no deadline, or a resync of a finished rollout
    subject = f'ReplicaSet "{p.new.name}"' if p.new else f'Deployment "{d.name}"'
    if _complete(d, status):
        _set_condition(conds, "Progressing", "True", NEW_RS_AVAILABLE, f"{subject} has successfully progressed.", now)
    elif _progressed(previous, status):
        # progress moves lastUpdateTime, and with it the deadline, even when the reason stays
        _set_condition(conds, "Progressing", "True", RS_UPDATED, f"{subject} is progressing.", now, refresh=True)
    elif cur and reason != NEW_RS_AVAILABLE and (
            reason == TIMED_OUT or cur.get("lastUpdateTime", now) + d.progress_deadline_seconds < now):
        _set_condition(conds, "Progressing", "False", TIMED_OUT, f"{subject} has timed out progressing.", now)


def decide_deployment(d: DeploymentFacts, rses: list[RSState], now: float, progressing_since: float | None = None,
                      previous_status: dict | None = None) -> DeploymentDecision:
    """One syncDeployment pass: paused → scale only; else rolloutRolling or rolloutRecreate.

    PREVIOUS_STATUS is the last pass's status (None for a new Deployment), from which progress is
    judged; PROGRESSING_SINCE, if given, is the Progressing condition's lastUpdateTime.
    """
    previous = previous_status or {}
    conds = {c["type"]: dict(c) for c in previous.get("conditions", ())}
    if progressing_since is not None:
        conds.setdefault("Progressing", {"type": "Progressing", "status": "True", "reason": RS_UPDATED,
                                         "message": "", "lastTransitionTime": progressing_since})
        conds["Progressing"]["lastUpdateTime"] = progressing_since
    p = _Pass(d, rses, now, conds)
    # checkPausedConditions: so that time spent paused never counts against the deadline
    reason = conds.get("Progressing", {}).get("reason")
    if p.has_deadline and reason != TIMED_OUT:
        if d.paused and reason != PAUSED:
            _set_condition(conds, "Progressing", "Unknown", PAUSED, "Deployment is paused", now)
        elif not d.paused and reason == PAUSED:
            _set_condition(conds, "Progressing", "Unknown", "DeploymentResumed", "Deployment is resumed", now)
    p.sync_revision()
    # DeploymentComplete(d, &d.Status): what the ReplicaSets report now stands in for the stored status
    was_complete = _complete(d, {"replicas": sum(r.actual for r in rses),
                                 "updatedReplicas": p.new.actual if p.new else 0,
                                 "availableReplicas": sum(r.available for r in rses)})
    if d.paused:
        p.scale_paused()                        # sync(): no new RS, no rollout step
        p.cleanup()
    elif p.kind == "Recreate":
        active_old = [r for r in p.old if p.spec[r.name] > 0]
        scaled_down = [p.scale(r, 0) for r in active_old]
        # no new pod before every old one is gone (Terminating ones included: count them in `actual`)
        if not any(scaled_down) and not any(r.actual > 0 for r in p.old):
            if p.new is None:
                p.create_new(p.new_rs_new_replicas())
            p.scale(p.new, d.replicas)
            if was_complete:
                p.cleanup()
    else:
        if p.new is None:
            p.create_new(p.new_rs_new_replicas())
        if not p.reconcile_new() and not p.reconcile_old() and was_complete:
            p.cleanup()
    status = p.status()
    if not d.paused:
        _sync_rollout_status(p, previous, status)
    if not p.has_deadline:
        conds.pop("Progressing", None)
    status["conditions"] = [conds[t] for t in ("Available", "Progressing") if t in conds]
    p.decision.status = status
    p.decision.complete = _complete(d, status)
    return p.decision


class ProgressDeadlineExceeded(Exception):
    """kubectl rollout status's error for a Deployment whose Progressing reason is ProgressDeadlineExceeded."""


def rollout_status_message(name: str, replicas: int, status: dict, generation: int = 0) -> str:
    """kubectl rollout status's line for a Deployment (DeploymentStatusViewer.Status), without the newline."""
    if generation > status.get("observedGeneration", generation):
        return "Waiting for deployment spec update to be observed..."
    for cond in status.get("conditions", ()):
        if cond.get("type") == "Progressing" and cond.get("reason") == TIMED_OUT:
            raise ProgressDeadlineExceeded(f'deployment "{name}" exceeded its progress deadline')
    updated, total = status.get("updatedReplicas", 0), status.get("replicas", 0)
    available = status.get("availableReplicas", 0)
    waiting = f'Waiting for deployment "{name}" rollout to finish: '
    if updated < replicas:
        return f"{waiting}{updated} out of {replicas} new replicas have been updated..."
    if total > updated:
        return f"{waiting}{total - updated} old replicas are pending termination..."
    if available < updated:
        return f"{waiting}{available} of {updated} updated replicas are available..."
    return f'deployment "{name}" successfully rolled out'
