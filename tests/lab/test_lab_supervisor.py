"""A lab that lives: its supervisor restarts containers, follows probes into the endpoints and every
node's rules, replaces deleted pods, and survives its own death without touching the pods."""

import json
import os
import re
import signal
import subprocess
import textwrap
import time

import pytest

from netlab.dataplane import traffic
from tests.conftest import lab_namespaces, netlab_cli, unique_lab

pytestmark = pytest.mark.root

LIVING = textwrap.dedent("""\
    apiVersion: apps/v1
    kind: Deployment
    metadata: {name: web}
    spec:
      replicas: 2
      selector: {matchLabels: {app: web}}
      template:
        metadata: {labels: {app: web}}
        spec:
          containers:
          - {name: nginx, image: nginx, ports: [{containerPort: 80, name: http}]}
    ---
    apiVersion: v1
    kind: Service
    metadata: {name: web}
    spec:
      selector: {app: web}
      ports: [{port: 80, targetPort: http}]
    ---
    apiVersion: v1
    kind: Pod
    metadata: {name: gated, labels: {app: web}}
    spec:
      containers:
      - name: nginx
        image: nginx
        ports: [{containerPort: 80, name: http}]
        readinessProbe:
          exec: {command: [cat, /tmp/ready]}
          periodSeconds: 1
          failureThreshold: 2
          successThreshold: 2
    ---
    apiVersion: v1
    kind: Pod
    metadata: {name: lively}
    spec:
      containers:
      - name: web
        image: nginx
        ports: [{containerPort: 8080}]
        livenessProbe:
          tcpSocket: {port: 8081}
          periodSeconds: 1
          failureThreshold: 2
    ---
    apiVersion: v1
    kind: Pod
    metadata: {name: steady}
    spec:
      containers:
      - {name: web, image: nginx, ports: [{containerPort: 80}]}
    ---
    apiVersion: v1
    kind: Pod
    metadata: {name: client}
    spec:
      containers:
      - {name: c, image: busybox, command: [sleep, infinity]}
    """)


def _pods(lab):
    data = json.loads(netlab_cli("get", "pods", "-o", "json", "--name", lab).stdout)
    return {item["metadata"]["name"]: item for item in data["items"]}


def _rows(lab):
    out = netlab_cli("get", "pods", "--name", lab).stdout.splitlines()
    return {re.split(r"\s{2,}", line)[0]: re.split(r"\s{2,}", line) for line in out[1:]}


def _eventually(probe, seconds):
    """probe() until it returns something truthy or SECONDS pass; the last value either way."""
    deadline = time.monotonic() + seconds
    while True:
        value = probe()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.1)


def _endpoint_ips(lab, service="web"):
    data = json.loads(netlab_cli("get", "endpoints", service, "-o", "json", "--name", lab).stdout)
    return sorted(a["ip"] for s in data.get("subsets") or [] for a in s.get("addresses") or [])


def _dnat_targets(lab, node):
    rules = subprocess.run(["ip", "netns", "exec", f"{lab}-{node}", "iptables-save", "-t", "nat"],
                           capture_output=True, text=True, check=True).stdout
    return sorted(set(re.findall(r"--to-destination (\d+\.\d+\.\d+\.\d+):\d+", rules)))


def _main_pid(pod):
    return pod["status"]["containerStatuses"][0]


def _container_pid(lab, namespace, name, container):
    base = f"/run/netlab/{lab}/pods"
    (folder,) = [d for d in os.listdir(base) if d.startswith(f"{namespace}.{name}.")]
    with open(f"{base}/{folder}/containers/{container}.json") as handle:
        return json.load(handle)["pid"]


def _supervisor(lab):
    return json.loads(netlab_cli("status", "--name", lab, "-o", "json").stdout)["supervisor"]


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    name = unique_lab("nls")
    folder = tmp_path_factory.mktemp("living")
    manifest = folder / "living.yaml"
    manifest.write_text(LIVING)
    try:
        netlab_cli("up", "-f", str(manifest), "--name", name)
        yield name
    finally:
        netlab_cli("down", "--name", name, check=False)
        assert lab_namespaces(name) == []


def test_up_starts_a_supervisor_that_status_reports(lab):
    boss = _supervisor(lab)
    assert boss["state"] == "running" and boss["pid"] > 0
    assert f"supervisor running (pid {boss['pid']})" in netlab_cli("status", "--name", lab).stdout


def test_a_killed_container_restarts_in_the_same_pod_with_its_ip_and_previous_log(lab):
    before = _pods(lab)["steady"]
    # a request the first run logs, so that its log differs from the next run's
    (reply,) = traffic.send(f"{lab}-default.client", before["status"]["podIP"], 80, "TCP", 1)
    assert reply.ok, reply.error
    old_pid = _container_pid(lab, "default", "steady", "web")
    os.kill(old_pid, signal.SIGKILL)

    def restarted():
        pod = _pods(lab)["steady"]
        status = pod["status"]["containerStatuses"][0]
        return pod if status["restartCount"] >= 1 and "running" in status["state"] else None

    after = _eventually(restarted, 10)
    assert after, "the container was not restarted"
    assert after["status"]["podIP"] == before["status"]["podIP"]
    assert after["metadata"]["uid"] == before["metadata"]["uid"]
    last = after["status"]["containerStatuses"][0]["lastState"]["terminated"]
    assert last["exitCode"] == 137 and last["reason"] == "Error"
    assert _container_pid(lab, "default", "steady", "web") != old_pid
    assert re.match(r"^1 \(\d+s ago\)$", _rows(lab)["steady"][3])
    previous = netlab_cli("logs", "steady", "--previous", "--name", lab).stdout
    current = netlab_cli("logs", "steady", "--name", lab).stdout
    described = netlab_cli("describe", "pod", "steady", "--name", lab).stdout
    assert re.search(r"^    Restart Count:  1$", described, re.M) and re.search(r"^    Last State:     Terminated$",
                                                                                  described, re.M)
    assert re.search(r"^      Exit Code:    137$", described, re.M)
    assert re.search(r"^  Normal\s+Started\s+.*kubelet\s+Started container web$", described, re.M)
    assert '"GET / HTTP/1.1" 200' in previous and "serving HTTP on TCP port 80" in previous
    assert "serving HTTP on TCP port 80" in current and "GET" not in current


def _environ(pid):
    with open(f"/proc/{pid}/environ", "rb") as handle:
        return dict(item.split("=", 1) for item in handle.read().decode().split("\0") if "=" in item)


def test_a_restarted_container_gets_the_variables_of_the_services_there_are_now(lab, tmp_path):
    # kubelet works out a container's environment at every start, so a run after a Service was
    # created has that Service's variables, and the first run did not
    manifest = tmp_path / "later.yaml"
    manifest.write_text("apiVersion: v1\nkind: Pod\nmetadata: {name: later}\nspec:\n"
                        "  containers: [{name: c, image: busybox, command: [sleep, '3600']}]\n")
    netlab_cli("apply", "-f", str(manifest), "--name", lab)
    first = _container_pid(lab, "default", "later", "c")
    assert "ARRIVED_SERVICE_HOST" not in _environ(first)
    service = tmp_path / "arrived.yaml"
    service.write_text("apiVersion: v1\nkind: Service\nmetadata: {name: arrived}\nspec:\n"
                       "  selector: {app: nobody}\n  ports: [{name: http, port: 8080}]\n")
    netlab_cli("apply", "-f", str(service), "--name", lab)
    ip = json.loads(netlab_cli("get", "svc", "arrived", "-o", "json", "--name", lab).stdout)["spec"]["clusterIP"]
    os.kill(first, signal.SIGKILL)
    again = _eventually(lambda: (pid := _container_pid(lab, "default", "later", "c")) != first and pid, 10)
    assert again, "the container was not restarted"
    env = _eventually(lambda: (e := _environ(again)).get("ARRIVED_SERVICE_HOST") and e, 5)
    assert env["ARRIVED_SERVICE_HOST"] == ip and env["ARRIVED_SERVICE_PORT_HTTP"] == "8080"
    assert env["ARRIVED_PORT"] == f"tcp://{ip}:8080"
    # `netlab exec` gives a command the environment of the container's current run
    shown = netlab_cli("exec", "later", "--name", lab, "--", "env").stdout
    assert f"ARRIVED_SERVICE_HOST={ip}" in shown.splitlines()


CRASHER = textwrap.dedent("""\
    apiVersion: v1
    kind: Pod
    metadata: {name: crasher}
    spec:
      containers:
      - {name: c, image: busybox, command: [sh, -c, 'echo run-at-$(cat /proc/uptime); exit 1']}
    """)


def test_a_container_that_always_fails_reaches_crash_loop_back_off_with_a_growing_wait(lab, tmp_path):
    (tmp_path / "crasher.yaml").write_text(CRASHER)
    netlab_cli("apply", "-f", str(tmp_path / "crasher.yaml"), "--name", lab)

    def backing_off(seconds):
        def check():
            status = _pods(lab)["crasher"]["status"]["containerStatuses"][0]
            message = (status["state"].get("waiting") or {}).get("message", "")
            return status if message.startswith(f"back-off {seconds}s") else None
        return check

    first = _eventually(backing_off(10), 15)
    assert first, _pods(lab)["crasher"]["status"]
    assert first["state"]["waiting"]["reason"] == "CrashLoopBackOff"
    assert first["restartCount"] == 1 and first["lastState"]["terminated"]["exitCode"] == 1
    assert _rows(lab)["crasher"][2] == "CrashLoopBackOff"
    second = _eventually(backing_off(20), 15)
    assert second and second["restartCount"] == 2
    assert netlab_cli("logs", "crasher", "-p", "--name", lab).stdout.startswith("run-at-")
    netlab_cli("delete", "pod", "crasher", "--name", lab)


def test_readiness_decides_whether_the_pod_is_in_the_endpoints_and_every_nodes_rules(lab):
    gated_ip = _pods(lab)["gated"]["status"]["podIP"]
    assert gated_ip not in _endpoint_ips(lab)
    assert _rows(lab)["gated"][1] == "0/1"
    netlab_cli("exec", "--name", lab, "gated", "--", "touch", "/tmp/ready")
    # successThreshold 2 at a 1 s period: in within 2 periods plus one
    assert _eventually(lambda: gated_ip in _endpoint_ips(lab), 3 + 1)
    # kube-proxy may hold a sync back for its minSyncPeriod (1 s)
    for node in ("node1", "node2"):
        assert _eventually(lambda: gated_ip in _dnat_targets(lab, node), 2)
    assert _rows(lab)["gated"][1] == "1/1"

    netlab_cli("exec", "--name", lab, "gated", "--", "rm", "/tmp/ready")
    # failureThreshold 2 at a 1 s period: out within 2 periods plus one
    assert _eventually(lambda: gated_ip not in _endpoint_ips(lab), 3 + 1)
    for node in ("node1", "node2"):
        assert _eventually(lambda: gated_ip not in _dnat_targets(lab, node), 2)
    pod = _pods(lab)["gated"]
    assert pod["status"]["phase"] == "Running"
    assert {c["type"]: c["status"] for c in pod["status"]["conditions"]}["Ready"] == "False"


def test_a_failing_liveness_probe_restarts_the_container(lab):
    # lively listens on 8080 while its liveness probe knocks on 8081
    def restarts():
        return _pods(lab)["lively"]["status"]["containerStatuses"][0]["restartCount"] >= 2
    assert _eventually(restarts, 15)
    events = netlab_cli("get", "events", "--name", lab).stdout
    assert "Liveness probe failed" in events and "failed liveness probe, will be restarted" in events


def test_a_deleted_pod_is_replaced_with_a_new_ip_and_leaves_every_nodes_rules(lab):
    pods = _pods(lab)
    victim = sorted(n for n in pods if n.startswith("web-"))[0]
    victim_ip = pods[victim]["status"]["podIP"]
    result = netlab_cli("delete", "pod", victim, "--name", lab)
    assert f'pod "{victim}" deleted' in result.stdout
    after = _pods(lab)
    assert victim not in after
    web = sorted(n for n in after if n.startswith("web-"))
    assert len(web) == 2
    (replacement,) = set(web) - set(pods)
    assert after[replacement]["status"]["podIP"] != victim_ip
    for node in ("node1", "node2"):
        assert victim_ip not in _dnat_targets(lab, node)
    assert _eventually(lambda: after[replacement]["status"]["podIP"] in _endpoint_ips(lab), 2)


def test_a_killed_supervisor_is_reported_and_up_restarts_it_without_touching_the_pods(lab):
    before = _pods(lab)
    pids = {n: _container_pid(lab, "default", n, "c") for n in ("client",)}
    boss = _supervisor(lab)
    os.kill(boss["pid"], signal.SIGKILL)
    assert _eventually(lambda: _supervisor(lab)["state"] == "stopped", 5)
    assert "supervisor stopped" in netlab_cli("status", "--name", lab).stdout
    assert all(p["status"]["phase"] == "Running" for n, p in _pods(lab).items() if n != "crasher")

    netlab_cli("up", "--name", lab)
    again = _supervisor(lab)
    assert again["state"] == "running" and again["pid"] != boss["pid"]
    after = _pods(lab)
    assert {n: p["metadata"]["uid"] for n, p in before.items()} == {n: p["metadata"]["uid"] for n, p in after.items()}
    assert {n: p["status"]["podIP"] for n, p in before.items()} == {n: p["status"]["podIP"] for n, p in after.items()}
    assert pids == {n: _container_pid(lab, "default", n, "c") for n in pids}


def test_down_stops_the_supervisor_and_leaves_nothing(tmp_path):
    name = unique_lab("nls")
    manifest = tmp_path / "one.yaml"
    manifest.write_text(LIVING.split("---")[-1])
    try:
        netlab_cli("up", "-f", str(manifest), "--name", name)
        boss = _supervisor(name)["pid"]
    finally:
        netlab_cli("down", "--name", name, check=False)
    assert lab_namespaces(name) == []
    # stop() returns once it has exited; init reaps the zombie a moment later
    assert _eventually(lambda: not os.path.exists(f"/proc/{boss}"), 2)
    assert not os.path.exists(f"/run/netlab/{name}")
