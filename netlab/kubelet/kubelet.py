"""The kubelet of every node: look at each pod's containers, decide, act through a small runtime.

One `sync_pod` call is one pass of kubelet's syncPod for one pod: containers that exited are
restarted as restartPolicy and the back-off say (netlab.kubelet.lifecycle), probe results turn into
the containers' `ready`/`started` and the pod's Ready condition, a failed liveness or startup probe
kills the container (which restartPolicy then brings back), and a pod with a deletionTimestamp is
stopped. What kubelet remembers (restart counts, last states, probe states) lives in the pod's
record in the lab's store under "kubelet", so a restarted supervisor carries on where it was.

The runtime is an interface (`Runtime`) with the real process runtime behind it, and an in-memory
fake in the unit tests.
"""

from __future__ import annotations

import os
import signal
import threading
from dataclasses import dataclass, field

from netlab.kubelet import lifecycle, probes
from netlab.kubelet.lifecycle import ContainerRecord, Observed


class Runtime:
    """What kubelet needs of the container runtime; the real one drives netlab.runtime."""

    def pod_status(self, state_dir):
        from netlab import runtime
        return runtime.pod_status(state_dir)

    def restart_container(self, state_dir, name: str, spec=None) -> bool:
        """Start container NAME again; SPEC (a PodRuntimeSpec, if given): the pod as it would start now."""
        from netlab import runtime
        return runtime.restart_container(state_dir, name, spec)

    def kill_container(self, pid: int, start: int | None, grace: float) -> None:
        """SIGTERM the container's main process, SIGKILL after GRACE seconds (in the background)."""
        from netlab.runtime import linux
        fd = linux.open_process(pid, start)
        if fd is None:
            return
        linux.pidfd_kill(fd, signal.SIGTERM)

        def finish():
            try:
                if linux.wait_pidfds([fd], grace):
                    linux.pidfd_kill(fd, signal.SIGKILL)
            finally:
                os.close(fd)
        threading.Thread(target=finish, daemon=True).start()


@dataclass
class Event:
    """A Kubernetes Event in the making: what happened to which object, and why."""

    type: str          # Normal | Warning
    reason: str        # Started, Killing, BackOff, Unhealthy, ...
    message: str
    kind: str = "Pod"
    namespace: str = "default"
    name: str = ""


@dataclass
class PodSync:
    """What one pass over one pod decided and did."""

    events: list = field(default_factory=list)
    due: list = field(default_factory=list)      # times something must be looked at again
    changed: bool = False                        # the pod's readiness or status changed


def observed_of(status) -> Observed:
    """lifecycle's view of the runtime's ContainerStatus (None: not created yet)."""
    if status is None:
        return Observed(state="waiting")
    return Observed(state=status.state, exit_code=status.exit_code, reason=status.reason,
                    started_at=status.started_at, finished_at=status.finished_at, signal=status.signal)


def container_probe_specs(container) -> list:
    """The probes of a typed Container, named ports resolved (an unknown name: no probe, as upstream)."""
    ports = [(p.name, p.container_port, p.protocol) for p in container.ports or ()]
    try:
        return probes.container_probes(container.raw or {}, ports)
    except probes.ProbeError:
        return []


def _probe_key(container: str, kind: str) -> str:
    return f"{container}/{kind}"


def pod_ready(record: dict, spec, status) -> bool:
    """Ready as the Ready condition says: every container running, started and passing readiness."""
    if record.get("deletionTimestamp") or not record.get("node") or status is None or not status.owner_alive:
        return False
    by_name = {c.name: c for c in status.containers}
    kubelet = record.get("kubelet") or {}
    states = kubelet.get("probes") or {}
    for container in spec.containers:
        seen = by_name.get(container.name)
        if seen is None or seen.state != "running":
            return False
        for probe in container_probe_specs(container):
            if probe.kind == "liveness":
                continue
            state = states.get(_probe_key(container.name, probe.kind))
            if state is None or state.get("started_at") != seen.started_at or not state.get("result"):
                return False
    return True


def probe_work(record: dict, spec, status, now: float) -> list:
    """(container, ProbeSpec, pid) for each probe due now; started containers' probes only."""
    work = []
    states = (record.get("kubelet") or {}).get("probes") or {}
    by_name = {c.name: c for c in (status.containers if status else ())}
    for container in spec.containers:
        seen = by_name.get(container.name)
        if seen is None or seen.state != "running" or not seen.pid:
            continue
        specs = container_probe_specs(container)
        startup_done = all(_current(states, container.name, p, seen).result for p in specs if p.kind == "startup")
        for probe in specs:
            if probe.kind != "startup" and not startup_done:
                continue                      # readiness and liveness wait for the startup probe
            state = _current(states, container.name, probe, seen)
            if now >= state.next_due:
                work.append((container.name, probe, seen.pid))
    return work


def next_probe_due(record: dict, spec, status) -> float | None:
    """The earliest time a probe of this pod is due (None: no probes to run)."""
    states = (record.get("kubelet") or {}).get("probes") or {}
    by_name = {c.name: c for c in (status.containers if status else ())}
    due = []
    for container in spec.containers:
        seen = by_name.get(container.name)
        if seen is None or seen.state != "running":
            continue
        for probe in container_probe_specs(container):
            due.append(_current(states, container.name, probe, seen).next_due)
    return min(due) if due else None


def _current(states: dict, container: str, probe, seen) -> "probes.ProbeState":
    """The probe's state for the container's current run (a new run starts afresh)."""
    saved = states.get(_probe_key(container, probe.kind))
    if saved is None or saved.get("started_at") != seen.started_at:
        return probes.initial_state(probe, seen.started_at or 0.0)
    data = {k: v for k, v in saved.items() if k != "started_at"}
    return probes.ProbeState(**data)


def record_probe(record: dict, spec, status, container: str, probe, outcome, now: float) -> PodSync:
    """Fold one probe result into the pod's record; a failed liveness/startup probe asks for a kill."""
    result = PodSync()
    by_name = {c.name: c for c in (status.containers if status else ())}
    seen = by_name.get(container)
    if seen is None or seen.state != "running":
        return result
    kubelet = record.setdefault("kubelet", {})
    states = kubelet.setdefault("probes", {})
    before = _current(states, container, probe, seen)
    after = probes.record(probe, before, outcome.success, now, outcome.message)
    saved = dict(after.__dict__)
    saved["started_at"] = seen.started_at
    states[_probe_key(container, probe.kind)] = saved
    result.due.append(after.next_due)
    if not outcome.success:
        result.events.append(Event("Warning", "Unhealthy", outcome.message, namespace=record["namespace"],
                                   name=record["name"]))
    if after.result != before.result:
        result.changed = True
        if after.result is False and probe.kind in ("liveness", "startup"):
            kubelet.setdefault("kill", {})[container] = seen.started_at
            result.events.append(Event("Normal", "Killing",
                                       f"Container {container} failed {probe.kind} probe, will be restarted",
                                       namespace=record["namespace"], name=record["name"]))
    return result


def sync_pod(record: dict, spec, status, runtime: Runtime, state_dir, now: float,
             start_spec=lambda: None) -> PodSync:
    """One kubelet pass over a running pod: restarts, liveness kills, readiness. Updates RECORD.

    START_SPEC() is the pod's runtime spec as it would start now (its containers' environment from
    the Services there are now: kubelet works it out at every container start), or None."""
    result = PodSync()
    if status is None or not status.owner_alive or record.get("deletionTimestamp"):
        return result
    kubelet = record.setdefault("kubelet", {})
    records = kubelet.setdefault("containers", {})
    by_name = {c.name: c for c in status.containers}
    kills = kubelet.get("kill") or {}
    for container in spec.containers:
        seen = by_name.get(container.name)
        if container.name in kills:
            if seen is not None and seen.state == "running" and seen.started_at == kills[container.name] and seen.pid:
                grace = float(spec.termination_grace_period_seconds or 30)
                runtime.kill_container(seen.pid, _pid_start(seen), min(grace, 2.0))
            kills.pop(container.name)
        observed = observed_of(seen)
        saved = ContainerRecord.from_dict(records.get(container.name))
        updated, action = lifecycle.decide(spec.restart_policy, observed, saved, now)
        if action == lifecycle.RESTART:
            if runtime.restart_container(state_dir, container.name, start_spec()):
                updated = lifecycle.restarted(updated, now)
                for reason, message in (("Pulled", f'Container image "{container.image}" already present on machine'),
                                        ("Created", f"Created container: {container.name}"),
                                        ("Started", f"Started container {container.name}")):
                    result.events.append(Event("Normal", reason, message, namespace=record["namespace"],
                                               name=record["name"]))
            result.changed = True
        elif action == lifecycle.WAIT:
            if updated.restart_at is not None:
                result.due.append(updated.restart_at)
            if saved.handled_finish != observed.finished_at:
                result.events.append(Event("Warning", "BackOff",
                                           f"Back-off restarting failed container {container.name} in pod "
                                           f"{record['name']}_{record['namespace']}({record['uid']})",
                                           namespace=record["namespace"], name=record["name"]))
                result.changed = True
        elif updated != saved:
            result.changed = True
        records[container.name] = updated.to_dict()
    if not kills:
        kubelet.pop("kill", None)
    ready = pod_ready(record, spec, status)
    if ready != kubelet.get("ready"):
        kubelet["ready"] = ready
        kubelet["readySince"] = now if ready else None
        result.changed = True
    return result


def _pid_start(seen) -> int | None:
    from netlab.runtime import linux
    return linux.starttime(seen.pid) if seen.pid else None


def container_record(record: dict, name: str) -> ContainerRecord:
    """What kubelet remembers of one container of this pod."""
    return ContainerRecord.from_dict(((record.get("kubelet") or {}).get("containers") or {}).get(name))
