"""Traffic from outside: LoadBalancer IPs, externalIPs, source ranges and health check node ports."""

import json
import re
import textwrap
import time

import pytest

from netlab.dataplane import traffic
from netlab.runtime import parse_builtin_reply
from tests.conftest import lab_namespaces, netlab_cli, unique_lab

pytestmark = pytest.mark.root

LAB = textwrap.dedent("""\
    apiVersion: netlab.io/v1alpha1
    kind: Cluster
    spec:
      clients:
      - {name: client, ip: 172.18.0.100}
      - {name: outsider, ip: 172.18.0.101}
      loadBalancerPool: 172.18.255.200-172.18.255.202
    ---
    apiVersion: apps/v1
    kind: Deployment
    metadata: {name: web}
    spec:
      replicas: 4
      selector: {matchLabels: {app: web}}
      template:
        metadata: {labels: {app: web}}
        spec:
          containers: [{name: web, image: nginx, ports: [{containerPort: 80}]}]
    ---
    apiVersion: apps/v1
    kind: Deployment
    metadata: {name: solo}
    spec:
      replicas: 1
      selector: {matchLabels: {app: solo}}
      template:
        metadata: {labels: {app: solo}}
        spec:
          nodeSelector: {kubernetes.io/hostname: node2}
          containers: [{name: web, image: nginx, ports: [{containerPort: 80}]}]
    ---
    apiVersion: v1
    kind: Service
    metadata: {name: a-web-lb}
    spec:
      type: LoadBalancer
      selector: {app: web}
      ports: [{port: 80}]
    ---
    apiVersion: v1
    kind: Service
    metadata: {name: b-solo-lb}
    spec:
      type: LoadBalancer
      externalTrafficPolicy: Local
      selector: {app: solo}
      ports: [{port: 80}]
    ---
    apiVersion: v1
    kind: Service
    metadata: {name: c-ranged-lb}
    spec:
      type: LoadBalancer
      loadBalancerSourceRanges: [172.18.0.100/32]
      selector: {app: web}
      ports: [{port: 80}]
    ---
    apiVersion: v1
    kind: Service
    metadata: {name: d-no-ip-left}
    spec:
      type: LoadBalancer
      selector: {app: web}
      ports: [{port: 80}]
    ---
    apiVersion: v1
    kind: Service
    metadata: {name: web-ext}
    spec:
      selector: {app: web}
      externalIPs: [172.18.254.10]
      ports: [{port: 8081, targetPort: 80}]
    """)


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    name = unique_lab()
    path = tmp_path_factory.mktemp("ext") / "lab.yaml"
    path.write_text(LAB)
    try:
        netlab_cli("up", "-f", str(path), "--name", name)
        yield name
    finally:
        netlab_cli("down", "--name", name, check=False)
        assert lab_namespaces(name) == []


def _services(lab):
    data = json.loads(netlab_cli("get", "svc", "-o", "json", "--name", lab).stdout)
    return {item["metadata"]["name"]: item for item in data["items"]}


def _lb_ip(lab, name):
    return _services(lab)[name]["status"]["loadBalancer"]["ingress"][0]["ip"]


def _answers(namespace, ip, port, count, timeout=2.0):
    return [parse_builtin_reply(r.text) if r.ok else {"error": r.error}
            for r in traffic.send(namespace, ip, port, "TCP", count, timeout=timeout)]


def test_load_balancer_ips_come_from_the_pool_and_an_exhausted_pool_shows_pending(lab):
    services = _services(lab)
    ips = sorted(_lb_ip(lab, n) for n in ("a-web-lb", "b-solo-lb", "c-ranged-lb"))
    assert ips == ["172.18.255.200", "172.18.255.201", "172.18.255.202"]
    assert "status" not in services["d-no-ip-left"] or not services["d-no-ip-left"]["status"].get("loadBalancer")
    table = netlab_cli("get", "svc", "--name", lab).stdout
    assert re.search(r"^d-no-ip-left\s+LoadBalancer\s+\S+\s+<pending>", table, re.M)
    assert re.search(r"^web-ext\s+ClusterIP\s+\S+\s+172\.18\.254\.10\s+8081/TCP", table, re.M)


def test_a_load_balancer_ip_answers_from_the_client(lab):
    answers = _answers(f"{lab}-client", _lb_ip(lab, "a-web-lb"), 80, 10)
    assert all("pod" in a and a["pod"].startswith("web-") for a in answers), answers


def test_local_policy_sends_only_to_nodes_with_endpoints_and_keeps_the_client_ip(lab):
    ip = _lb_ip(lab, "b-solo-lb")
    answers = _answers(f"{lab}-client", ip, 80, 10)
    assert all(a.get("client", "").startswith("172.18.0.100:") for a in answers), answers
    assert all(a["node"] == "node2" for a in answers)


def test_source_ranges_serve_inside_and_drop_outside(lab):
    ip = _lb_ip(lab, "c-ranged-lb")
    assert "pod" in _answers(f"{lab}-client", ip, 80, 1)[0]
    started = time.monotonic()
    (dropped,) = _answers(f"{lab}-outsider", ip, 80, 1, timeout=1.5)
    assert "error" in dropped and time.monotonic() - started >= 1.4


def test_an_external_ip_answers(lab):
    answers = _answers(f"{lab}-client", "172.18.254.10", 8081, 5)
    assert all(a.get("server", "").endswith(":80") for a in answers), answers


def test_health_check_node_port_answers_like_kube_proxy(lab):
    port = _services(lab)["b-solo-lb"]["spec"]["healthCheckNodePort"]
    replies = {}
    for node, ip in (("node1", "172.18.0.2"), ("node2", "172.18.0.3")):
        (reply,) = traffic.send(f"{lab}-client", ip, port, "TCP", 1)
        assert reply.ok, reply.error
        replies[node] = reply.text
    expected = ('{\n\t"service": {\n\t\t"namespace": "default",\n\t\t"name": "b-solo-lb"\n\t},\n'
                '\t"localEndpoints": %d,\n\t"serviceProxyHealthy": true\n}')
    assert replies["node2"] == expected % 1
    assert replies["node1"] == expected % 0
    raw = netlab_cli("exec", "--name", lab, "client/client", "--", "curl", "-si", "--max-time", "2",
                     f"http://172.18.0.2:{port}/healthz").stdout
    assert raw.startswith("HTTP/1.1 503") and "X-Load-Balancing-Endpoint-Weight: 0" in raw
    assert "Content-Type: application/json" in raw and "X-Content-Type-Options: nosniff" in raw
