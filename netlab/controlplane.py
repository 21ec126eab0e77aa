"""One pass of the lab's control plane, as the supervisor runs it under the lab's lock.

Order within a pass (each step sees what the one before changed):
  1. kubelet: fold in probe results; pods whose processes have stopped leave the store;
     restart exited containers; readiness of every pod
  2. controllers + kube-proxy: netlab.lab.reconcile (replace, scale, roll; every node's rules)
  3. kubelet again: pods marked for deletion are stopped (after step 2 took them out of the rules)
The pass returns what the supervisor does outside the lock: probes to run, pods to stop, pidfds
to watch, and when to look again.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field

from netlab import names
from netlab import state as lab_state
from netlab.cluster.topology import pod_ips
from netlab.kubelet import kubelet

EVENTS_FILE = "events.jsonl"
EVENTS_KEPT = 1000


@dataclass
class PassOutcome:
    """What the supervisor starts outside the lock after a pass."""

    probes: list = field(default_factory=list)     # (pod key, container, ProbeSpec, (pod ip, node netns, pid))
    terminate: list = field(default_factory=list)  # (pod key, state dir, grace seconds)
    watch: list = field(default_factory=list)      # (pid, start) of owners and container inits
    due: list = field(default_factory=list)        # wall-clock times to run another pass
    events: list = field(default_factory=list)
    again: bool = False                            # it changed pods: the next pass may take the next step
    now: float = 0.0                               # the time the pass decided at


def control_pass(lab: str, st, probe_results=(), finished=(), terminating=frozenset(),
                 runtime: kubelet.Runtime | None = None) -> PassOutcome:
    """Run every role once over the lab's store ST (saved before returning)."""
    from netlab.runtime import pod as process_pods
    with process_pods.status_snapshot():
        return _control_pass(lab, st, probe_results, finished, terminating, runtime)


def _control_pass(lab: str, st, probe_results, finished, terminating, runtime) -> PassOutcome:
    from netlab import lab as lab_mod
    runtime = runtime or kubelet.Runtime()
    now = time.time()
    outcome = PassOutcome(now=now)
    topology = lab_mod.topology_of(lab, st.config)
    sources = lab_mod._sources(st)

    def state_dir(record):
        return names.pod_dir(lab, record["namespace"], record["name"], record["uid"])

    # 1. kubelet: probe results, finished terminations, restarts, readiness
    statuses = {}
    for key, record in st.pods.items():
        # this machine's kubelet looks after its own nodes' pods; on a lab across hosts it publishes
        # what it sees of them in the store, for the other hosts' controllers and kube-proxies
        if record.get("node") and not record.get("deletionTimestamp") and topology.is_local(record["node"]):
            statuses[key] = runtime.pod_status(state_dir(record))
            if topology.hosts:
                lab_mod.publish_status(record, statuses[key])
    for pod_key, container, probe, result, when in probe_results:
        record = st.pods.get(pod_key)
        source = sources.get(tuple(record["source"])) if record else None
        if source is None or pod_key not in statuses:
            continue
        synced = kubelet.record_probe(record, source.pod_spec, statuses[pod_key], container, probe, result, when)
        outcome.events += synced.events
    for pod_key in finished:
        record = st.pods.get(pod_key)
        if record is not None and record.get("deletionTimestamp"):
            lab_mod._teardown_pod(lab, topology, lab_mod._instance(record))
            st.pods.pop(pod_key)
    start_inputs = {}

    def start_spec(record, source):
        """The pod's runtime spec as kubelet would start it now: its containers' environment holds
        the Services there are now (worked out only when a container restarts)."""
        if not start_inputs:
            objects = list(sources.values())
            start_inputs.update(lookup=lab_mod.stored_lookup(objects),
                                services=lab_mod._services_now(st, objects, topology))
        pod = lab_mod._instance(record)
        lookup = start_inputs["lookup"]
        return lab_mod.runtime_spec(lab, pod, source, topology, [], lab_mod.pod_volumes(pod, source, lookup), lookup,
                                    [], start_inputs["services"])

    for key, record in st.pods.items():
        source = sources.get(tuple(record["source"]))
        if key not in statuses or source is None or record.get("phase") != lab_mod.RUNNING:
            continue
        synced = kubelet.sync_pod(record, source.pod_spec, statuses[key], runtime, state_dir(record), now,
                                  start_spec=lambda record=record, source=source: start_spec(record, source))
        outcome.events += synced.events
        outcome.due += synced.due
    lab_state.save(st)

    # 2. controllers and kube-proxy
    report = lab_mod.Report(lab=lab, topology=topology)
    lab_mod.reconcile(lab, st, report, wait_ready=0, ensure_network=False)
    rules_pending = report.rules_deferred_until is not None
    if rules_pending:
        outcome.due.append(report.rules_deferred_until)
    # a rollout's next step waits on what this one did: new pods ready, old ones gone
    outcome.again = bool(report.created or report.deleted or finished)
    outcome.due += _min_ready_due(st, sources, now)
    outcome.due += _progress_deadlines(st)

    # 3. what runs outside the lock
    from netlab import runtime as process_runtime
    for key, record in st.pods.items():
        source = sources.get(tuple(record["source"]))
        if not record.get("node") or not topology.is_local(record["node"]):
            continue
        directory = state_dir(record)
        if record.get("deletionTimestamp"):
            # stopped only once kube-proxy has taken it out of every node's rules
            if key not in terminating and not rules_pending:
                # `delete --grace-period N` (or --now) overrides the pod's own
                grace = float(record["deletionGracePeriodSeconds"]) if record.get("deletionGracePeriodSeconds") \
                    is not None else float(source.pod_spec.termination_grace_period_seconds) if source else 30.0
                outcome.terminate.append((key, directory, grace))
                what = ("Stopping container " + ", ".join(c.name for c in source.pod_spec.containers)) if source \
                    else "Stopping pod"
                outcome.events.append(kubelet.Event("Normal", "Killing", what, namespace=record["namespace"],
                                                    name=record["name"]))
            continue
        owner = process_runtime.owner_of(directory)
        if owner:
            outcome.watch.append(owner)
        outcome.watch += list(process_runtime.container_inits(directory).values())
        if source is None or record.get("phase") != lab_mod.RUNNING:
            continue
        status = statuses.get(key) or runtime.pod_status(directory)
        spec = source.pod_spec
        node_netns = names.node_netns(lab, record["node"])
        for container, probe, pid in kubelet.probe_work(record, spec, status, now):
            # kubelet probes status.podIP: the primary family's address
            outcome.probes.append((key, container, probe, (pod_ips(record, topology.ip_families)[0], node_netns,
                                                           pid)))
        due = kubelet.next_probe_due(record, spec, status)
        if due is not None:
            outcome.due.append(due)
    record_events(lab, outcome.events, now)
    return outcome


def _progress_deadlines(st) -> list:
    """When rollouts still in progress pass their progressDeadlineSeconds (the condition then says so)."""
    from netlab.lab import object_key
    deadlines = {f"{k[1]}/{k[2]}": (raw.get("spec") or {}).get("progressDeadlineSeconds", 600)
                 for raw in st.objects for k in [object_key(raw)] if k[0] == "Deployment"}
    due = []
    for key, record in st.deployments.items():
        for condition in (record.get("status") or {}).get("conditions") or []:
            if condition.get("type") == "Progressing" and condition.get("reason") not in (
                    "NewReplicaSetAvailable", "ProgressDeadlineExceeded") and deadlines.get(key):
                due.append(float(condition.get("lastUpdateTime", 0)) + deadlines[key] + 0.01)
    return due


def _min_ready_due(st, sources, now: float) -> list:
    """When pods of ReplicaSets with minReadySeconds become available (a rollout's next step)."""
    due = []
    for rs in st.replicasets.values():
        wait = rs.get("min_ready_seconds") or 0
        if not wait:
            continue
        for record in st.pods.values():
            since = (record.get("kubelet") or {}).get("readySince")
            if record.get("owner_uid") == rs["uid"] and since and since + wait >= now - 1:
                due.append(since + wait + 0.01)
    return due


def record_events(lab: str, events: list, now: float) -> None:
    """Append EVENTS to the lab's event log (one JSON line each; a torn last line is skipped on read)."""
    if not events:
        return
    path = names.lab_dir(lab) / EVENTS_FILE
    lines = "".join(json.dumps({"time": now, **event.__dict__}) + "\n" for event in events)
    with open(path, "a") as handle:
        handle.write(lines)
    if path.stat().st_size > 512 * 1024:
        kept = read_events(lab)[-EVENTS_KEPT:]
        tmp = path.with_suffix(".tmp")
        tmp.write_text("".join(json.dumps(e) + "\n" for e in kept))
        tmp.replace(path)


def read_events(lab: str) -> list:
    """The lab's events, oldest first."""
    try:
        text = (names.lab_dir(lab) / EVENTS_FILE).read_text()
    except FileNotFoundError:
        return []
    events = []
    for line in text.splitlines():
        try:
            events.append(json.loads(line))
        except ValueError:
            continue
    return events
