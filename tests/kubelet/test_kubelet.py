"""kubelet's pass over one pod, against an in-memory runtime: restarts, back-off, probes, readiness."""

import pytest

from netlab import manifest
from netlab.kubelet import kubelet, probes
from netlab.runtime.spec import ContainerStatus, PodStatus


def pod_spec(containers, restart_policy="Always"):
    raw = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
           "spec": {"restartPolicy": restart_policy, "containers": containers}}
    (pod,) = manifest.parse_objects([raw], source="test", validate="strict")
    return pod.spec


class FakeRuntime(kubelet.Runtime):
    """Records what kubelet asked for; containers restart at once."""

    def __init__(self, status):
        self.status = status
        self.restarted = []
        self.killed = []

    def pod_status(self, state_dir):
        return self.status

    def restart_container(self, state_dir, name, spec=None):
        self.restarted.append(name)
        self.started_as = spec
        return True

    def kill_container(self, pid, start, grace):
        self.killed.append(pid)


def record():
    return {"namespace": "default", "name": "p", "uid": "u1", "node": "node1", "ip": "10.244.1.2",
            "phase": "running"}


def running(name="web", started=100.0, pid=42):
    return ContainerStatus(name, "running", pid=pid, started_at=started)


def exited(name="web", code=1, started=100.0, finished=101.0):
    return ContainerStatus(name, "terminated", reason="Error", exit_code=code, started_at=started,
                           finished_at=finished)


WEB = {"name": "web", "image": "nginx", "ports": [{"containerPort": 80, "name": "http"}]}


def test_an_exited_container_is_restarted_and_counted():
    rec, status = record(), PodStatus(1, True, [exited()])
    runtime = FakeRuntime(status)
    synced = kubelet.sync_pod(rec, pod_spec([WEB]), status, runtime, "/x", now=101.5)
    assert runtime.restarted == ["web"]
    assert kubelet.container_record(rec, "web").restart_count == 1
    assert [e.reason for e in synced.events] == ["Pulled", "Created", "Started"]
    assert kubelet.container_record(rec, "web").last_state["exitCode"] == 1


def test_a_restart_starts_the_container_as_the_pod_would_start_now():
    # kubelet works out the environment (the Services there are now) at every start
    rec, status = record(), PodStatus(1, True, [exited()])
    runtime, asked = FakeRuntime(status), []
    kubelet.sync_pod(rec, pod_spec([WEB]), status, runtime, "/x", now=101.5,
                     start_spec=lambda: asked.append(1) or "the spec of now")
    assert runtime.started_as == "the spec of now" and asked == [1]
    kubelet.sync_pod(rec, pod_spec([WEB]), PodStatus(1, True, [running(started=101.6)]), runtime, "/x", now=102.0,
                     start_spec=lambda: asked.append(1))
    assert asked == [1]                                    # worked out only for a start


def test_the_second_crash_waits_out_the_back_off_with_one_event():
    rec, spec = record(), pod_spec([WEB])
    runtime = FakeRuntime(PodStatus(1, True, [exited()]))
    kubelet.sync_pod(rec, spec, runtime.status, runtime, "/x", now=101.5)
    runtime.status = PodStatus(1, True, [exited(started=101.6, finished=102.0)])
    first = kubelet.sync_pod(rec, spec, runtime.status, runtime, "/x", now=102.1)
    again = kubelet.sync_pod(rec, spec, runtime.status, runtime, "/x", now=103.0)
    assert runtime.restarted == ["web"]                    # not yet: 10 s back-off
    assert [e.reason for e in first.events] == ["BackOff"] and again.events == []
    assert first.due == [112.0]
    kubelet.sync_pod(rec, spec, runtime.status, runtime, "/x", now=112.0)
    assert runtime.restarted == ["web", "web"]


def test_restart_policy_never_leaves_an_exited_container_alone():
    rec, status = record(), PodStatus(1, True, [exited()])
    runtime = FakeRuntime(status)
    kubelet.sync_pod(rec, pod_spec([WEB], restart_policy="Never"), status, runtime, "/x", now=200)
    assert runtime.restarted == []


def test_a_pod_without_probes_is_ready_once_every_container_runs():
    spec = pod_spec([WEB, {"name": "helper", "image": "busybox"}])
    rec = record()
    assert not kubelet.pod_ready(rec, spec, PodStatus(1, True, [running(), exited("helper")]))
    assert kubelet.pod_ready(rec, spec, PodStatus(1, True, [running(), running("helper", pid=43)]))
    rec["deletionTimestamp"] = 5.0
    assert not kubelet.pod_ready(rec, spec, PodStatus(1, True, [running(), running("helper", pid=43)]))


def readiness(**extra):
    return dict(WEB, readinessProbe=dict({"exec": {"command": ["cat", "/tmp/ready"]}, "periodSeconds": 1,
                                          "failureThreshold": 2}, **extra))


def test_readiness_needs_a_passing_probe_and_goes_after_failure_threshold_failures():
    spec, rec = pod_spec([readiness()]), record()
    status = PodStatus(1, True, [running()])
    assert not kubelet.pod_ready(rec, spec, status)                  # not ready before the first probe
    (work,) = kubelet.probe_work(rec, spec, status, now=100.0)
    container, probe, pid = work
    assert (container, probe.kind, pid) == ("web", "readiness", 42)
    ok, bad = probes.ProbeOutcome(True, ""), probes.ProbeOutcome(False, "Readiness probe failed: no file")
    assert kubelet.record_probe(rec, spec, status, "web", probe, ok, 100.0).changed
    assert kubelet.pod_ready(rec, spec, status)
    assert kubelet.probe_work(rec, spec, status, now=100.5) == []    # next one is due a period later
    kubelet.record_probe(rec, spec, status, "web", probe, bad, 101.0)
    assert kubelet.pod_ready(rec, spec, status)                      # one failure of two
    synced = kubelet.record_probe(rec, spec, status, "web", probe, bad, 102.0)
    assert synced.changed and not kubelet.pod_ready(rec, spec, status)
    assert [e.reason for e in synced.events] == ["Unhealthy"]


def test_a_restarted_container_starts_its_probes_afresh():
    spec, rec = pod_spec([readiness()]), record()
    status = PodStatus(1, True, [running()])
    (_, probe, _), = kubelet.probe_work(rec, spec, status, now=100.0)
    kubelet.record_probe(rec, spec, status, "web", probe, probes.ProbeOutcome(True, ""), 100.0)
    assert kubelet.pod_ready(rec, spec, PodStatus(1, True, [running()]))
    assert not kubelet.pod_ready(rec, spec, PodStatus(1, True, [running(started=150.0, pid=77)]))


def test_a_failed_liveness_probe_kills_the_container_for_a_restart():
    spec = pod_spec([dict(WEB, livenessProbe={"httpGet": {"path": "/", "port": "http"}, "periodSeconds": 1,
                                               "failureThreshold": 1})])
    rec, status = record(), PodStatus(1, True, [running()])
    (_, probe, _), = kubelet.probe_work(rec, spec, status, now=100.0)
    assert probe.kind == "liveness" and probe.port == 80
    synced = kubelet.record_probe(rec, spec, status, "web", probe, probes.ProbeOutcome(False, "refused"), 100.0)
    assert "Killing" in [e.reason for e in synced.events]
    runtime = FakeRuntime(status)
    kubelet.sync_pod(rec, spec, status, runtime, "/x", now=100.1)
    assert runtime.killed == [42]
    assert kubelet.pod_ready(rec, spec, status)        # liveness alone does not gate readiness


def test_readiness_and_liveness_wait_for_the_startup_probe():
    spec = pod_spec([dict(readiness(), startupProbe={"tcpSocket": {"port": 80}, "periodSeconds": 1})])
    rec, status = record(), PodStatus(1, True, [running()])
    kinds = [p.kind for _, p, _ in kubelet.probe_work(rec, spec, status, now=100.0)]
    assert kinds == ["startup"]
    (_, startup, _), = kubelet.probe_work(rec, spec, status, now=100.0)
    kubelet.record_probe(rec, spec, status, "web", startup, probes.ProbeOutcome(True, ""), 100.0)
    assert [p.kind for _, p, _ in kubelet.probe_work(rec, spec, status, now=100.0)] == ["readiness"]


@pytest.mark.parametrize("terminating", [True, False])
def test_a_pod_being_deleted_is_not_restarted(terminating):
    rec, status = record(), PodStatus(1, True, [exited()])
    if terminating:
        rec["deletionTimestamp"] = 1.0
    runtime = FakeRuntime(status)
    kubelet.sync_pod(rec, pod_spec([WEB]), status, runtime, "/x", now=200)
    assert runtime.restarted == ([] if terminating else ["web"])
