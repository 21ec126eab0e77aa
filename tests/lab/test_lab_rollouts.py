"""Deployments roll like a cluster's: no lost request while a client loops on the ClusterIP, never
zero ready endpoints, undo brings the old pod-template-hash back; ReplicaSets adopt and release."""

import json
import re
import textwrap
import threading

import pytest

from netlab.dataplane import traffic
from tests.conftest import lab_namespaces, netlab_cli, unique_lab

pytestmark = pytest.mark.root

WEB = textwrap.dedent("""\
    apiVersion: apps/v1
    kind: Deployment
    metadata: {name: web}
    spec:
      replicas: 4
      strategy:
        type: RollingUpdate
        rollingUpdate: {maxSurge: 1, maxUnavailable: 0}
      selector: {matchLabels: {app: web}}
      template:
        metadata: {labels: {app: web}}
        spec:
          containers:
          - {name: nginx, image: nginx, ports: [{containerPort: 80}]}
    ---
    apiVersion: v1
    kind: Service
    metadata: {name: web}
    spec:
      selector: {app: web}
      ports: [{port: 80}]
    ---
    apiVersion: v1
    kind: Pod
    metadata: {name: client}
    spec:
      containers:
      - {name: c, image: busybox, command: [sleep, infinity]}
    """)

STRAY = textwrap.dedent("""\
    apiVersion: v1
    kind: Pod
    metadata: {name: early, labels: {tier: front}}
    spec:
      containers:
      - {name: c, image: nginx, ports: [{containerPort: 80}]}
    """)

FRONT = textwrap.dedent("""\
    apiVersion: apps/v1
    kind: ReplicaSet
    metadata: {name: front}
    spec:
      replicas: 3
      selector: {matchLabels: {tier: front}}
      template:
        metadata: {labels: {tier: front}}
        spec:
          containers:
          - {name: c, image: nginx, ports: [{containerPort: 80}]}
    """)


def _get(lab, what, *names):
    """The objects `get WHAT [NAME...] -o json` lists (a list even for one name)."""
    data = json.loads(netlab_cli("get", what, *names, "-o", "json", "--name", lab).stdout)
    return data["items"] if data.get("kind") == "List" else [data]


def _web_pods(lab):
    return {p["metadata"]["name"]: p for p in _get(lab, "pods") if p["metadata"]["name"].startswith("web-")}


def _hashes(lab):
    return sorted({p["metadata"]["labels"]["pod-template-hash"] for p in _web_pods(lab).values()})


@pytest.fixture
def lab(tmp_path):
    name = unique_lab("nlr")
    (tmp_path / "web.yaml").write_text(WEB)
    try:
        netlab_cli("up", "-f", str(tmp_path / "web.yaml"), "--name", name)
        yield name, tmp_path
    finally:
        netlab_cli("down", "--name", name, check=False)
        assert lab_namespaces(name) == []


class Loop:
    """A client looping on the ClusterIP from its pod, and a watcher of the ready endpoints, until stopped."""

    def __init__(self, lab):
        from netlab import inspect
        self.inspect, self.lab = inspect, lab
        (svc,) = inspect.get_objects(lab, "Service", "default", ["web"])
        self.ip = svc["spec"]["clusterIP"]
        self.netns = f"{lab}-default.client"
        self.stop = threading.Event()
        self.answers, self.failures, self.fewest_ready = 0, [], None
        self.threads = [threading.Thread(target=self._requests), threading.Thread(target=self._endpoints)]

    def _requests(self):
        while not self.stop.is_set():
            for reply in traffic.send(self.netns, self.ip, 80, "TCP", 5):
                if reply.ok:
                    self.answers += 1
                else:
                    self.failures.append(reply.error)

    def _endpoints(self):
        while not self.stop.is_set():
            (ep,) = self.inspect.get_objects(self.lab, "Endpoints", "default", ["web"])
            ready = sum(len(s.get("addresses") or []) for s in ep.get("subsets") or [])
            self.fewest_ready = ready if self.fewest_ready is None else min(self.fewest_ready, ready)

    def __enter__(self):
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *_):
        self.stop.set()
        for thread in self.threads:
            thread.join(30)


def test_set_image_rolls_every_pod_without_losing_a_request_and_undo_brings_the_old_hash_back(lab):
    name, _ = lab
    first = _hashes(name)
    before = set(_web_pods(name))
    assert len(first) == 1 and len(before) == 4
    with Loop(name) as loop:
        assert netlab_cli("set", "image", "deployment/web", "nginx=nginx:1.25", "--name", name).stdout.strip() == \
            "deployment.apps/web image updated"
        status = netlab_cli("rollout", "status", "deployment/web", "--name", name, "--timeout", "60").stdout
        assert status.strip().splitlines()[-1] == 'deployment "web" successfully rolled out'
    assert loop.failures == [] and loop.answers > 20
    assert loop.fewest_ready >= 4
    after = _web_pods(name)
    assert len(after) == 4 and not (set(after) & before)
    second = _hashes(name)
    assert second != first and all(p["spec"]["containers"][0]["image"] == "nginx:1.25" for p in after.values())
    rs = {r["metadata"]["name"]: r for r in _get(name, "replicasets")}
    assert rs[f"web-{first[0]}"]["spec"]["replicas"] == 0 and rs[f"web-{second[0]}"]["spec"]["replicas"] == 4

    history = netlab_cli("rollout", "history", "deployment/web", "--name", name).stdout
    assert re.findall(r"^(\d+)\s+<none>$", history, re.M) == ["1", "2"]
    with Loop(name) as loop:
        assert "rolled back" in netlab_cli("rollout", "undo", "deployment/web", "--name", name).stdout
        netlab_cli("rollout", "status", "deployment/web", "--name", name, "--timeout", "60")
    assert loop.failures == [] and loop.fewest_ready >= 4
    assert _hashes(name) == first
    assert re.findall(r"^(\d+)\s+<none>$", netlab_cli("rollout", "history", "deploy/web", "--name", name).stdout,
                      re.M) == ["2", "3"]
    events = netlab_cli("get", "events", "--name", name).stdout
    assert f"Scaled up replica set web-{second[0]} from 0 to 1" in events
    assert f"Scaled down replica set web-{first[0]} from 4 to 3" in events


def test_scale_four_to_two_to_five(lab):
    name, _ = lab
    assert netlab_cli("scale", "deployment/web", "--replicas", "2", "--name", name).stdout.strip() == \
        "deployment.apps/web scaled"
    netlab_cli("rollout", "status", "deployment/web", "--name", name, "--timeout", "30")
    rows = netlab_cli("get", "deploy", "--name", name).stdout.splitlines()
    assert re.split(r"\s+", rows[1])[:4] == ["web", "2/2", "2", "2"]
    netlab_cli("scale", "deploy/web", "--replicas", "5", "--name", name)
    netlab_cli("rollout", "status", "deployment/web", "--name", name, "--timeout", "30")
    pods = {n: p for n, p in _web_pods(name).items() if "deletionTimestamp" not in p["metadata"]}
    assert len(pods) == 5 and all(p["status"]["phase"] == "Running" for p in pods.values())
    assert len({p["status"]["podIP"] for p in pods.values()}) == 5


def test_a_replicaset_adopts_a_pod_applied_before_it_and_replaces_it_once_released(lab):
    name, folder = lab
    (folder / "early.yaml").write_text(STRAY)
    (folder / "front.yaml").write_text(FRONT)
    netlab_cli("apply", "-f", str(folder / "early.yaml"), "--name", name)
    netlab_cli("apply", "-f", str(folder / "front.yaml"), "--name", name)
    pods = {p["metadata"]["name"]: p for p in _get(name, "pods") if p["metadata"]["labels"].get("tier") == "front"}
    assert len(pods) == 3 and "early" in pods
    (rs,) = [r for r in _get(name, "replicasets") if r["metadata"]["name"] == "front"]
    owner = pods["early"]["metadata"]["ownerReferences"][0]
    assert (owner["kind"], owner["name"], owner["uid"]) == ("ReplicaSet", "front", rs["metadata"]["uid"])

    # the Pod re-applied without the label: released, and the ReplicaSet makes a replacement
    (folder / "early.yaml").write_text(STRAY.replace("labels: {tier: front}", "labels: {tier: gone}"))
    netlab_cli("apply", "-f", str(folder / "early.yaml"), "--name", name)
    pods = {p["metadata"]["name"]: p for p in _get(name, "pods")}
    assert "ownerReferences" not in pods["early"]["metadata"]
    assert pods["early"]["status"]["phase"] == "Running"
    front = [n for n, p in pods.items() if p["metadata"]["labels"].get("tier") == "front"]
    assert len(front) == 3 and "early" not in front


def test_a_deleted_pod_is_replaced_while_a_client_on_the_cluster_ip_loses_nothing(lab):
    name, _ = lab
    pods = _web_pods(name)
    victim = sorted(pods)[0]
    cluster_ip = _get(name, "services", "web")[0]["spec"]["clusterIP"]
    with Loop(name) as loop:
        netlab_cli("delete", "pod", victim, "--name", name)
    assert loop.failures == [] and loop.answers > 0
    after = _web_pods(name)
    assert victim not in after and len(after) == 4
    (replacement,) = set(after) - set(pods)
    assert after[replacement]["status"]["podIP"] not in {p["status"]["podIP"] for p in pods.values()}
    assert _get(name, "services", "web")[0]["spec"]["clusterIP"] == cluster_ip


def test_a_rollout_whose_new_pods_never_get_ready_stops_at_its_progress_deadline_and_keeps_serving(lab):
    name, folder = lab
    stuck = WEB.replace("  replicas: 4\n", "  replicas: 4\n  progressDeadlineSeconds: 2\n").replace(
        "      - {name: nginx, image: nginx, ports: [{containerPort: 80}]}",
        "      - name: nginx\n        image: nginx:2\n        ports: [{containerPort: 80}]\n"
        "        readinessProbe: {exec: {command: [\"false\"]}, periodSeconds: 1}")
    assert stuck.count("progressDeadlineSeconds") == 1 and stuck.count("readinessProbe") == 1
    (folder / "stuck.yaml").write_text(stuck)
    old = set(_web_pods(name))
    netlab_cli("apply", "-f", str(folder / "stuck.yaml"), "--name", name)
    result = netlab_cli("rollout", "status", "deployment/web", "--name", name, "--timeout", "30", check=False)
    assert result.returncode != 0 and 'deployment "web" exceeded its progress deadline' in result.stderr
    (deploy,) = _get(name, "deployments")
    progressing = {c["type"]: c for c in deploy["status"]["conditions"]}["Progressing"]
    assert (progressing["status"], progressing["reason"]) == ("False", "ProgressDeadlineExceeded")
    assert old <= set(_web_pods(name))                      # maxUnavailable 0: the old pods stay
    (ep,) = _get(name, "endpoints", "web")
    assert len(ep["subsets"][0]["addresses"]) == 4
