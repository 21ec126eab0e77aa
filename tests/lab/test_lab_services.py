"""Services in a running lab carry real traffic exactly as kube-proxy's rules on a node would."""

import json
import re
import socket
import subprocess
import textwrap
import time

import pytest

from netlab.dataplane import netns, traffic
from netlab.runtime import parse_builtin_reply
from netlab.stats import goodness_of_fit
from tests.conftest import lab_namespaces, netlab_cli, unique_lab

pytestmark = pytest.mark.root

LAB = textwrap.dedent("""\
    apiVersion: apps/v1
    kind: Deployment
    metadata: {name: web}
    spec:
      replicas: 4
      selector: {matchLabels: {app: web}}
      template:
        metadata: {labels: {app: web}}
        spec:
          containers:
          - name: nginx
            image: nginx
            ports: [{name: http, containerPort: 8080}]
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
          containers:
          - {name: web, image: nginx, ports: [{containerPort: 80}]}
    ---
    apiVersion: apps/v1
    kind: Deployment
    metadata: {name: dns}
    spec:
      replicas: 1
      selector: {matchLabels: {app: dns}}
      template:
        metadata: {labels: {app: dns}}
        spec:
          containers:
          - {name: dns, image: example.com/udp-echo, ports: [{name: dns, containerPort: 5353, protocol: UDP}]}
    ---
    apiVersion: v1
    kind: Pod
    metadata: {name: client-a}
    spec:
      nodeName: node1
      containers: [{name: c, image: curlimages/curl, command: [sleep, infinity]}]
    ---
    apiVersion: v1
    kind: Pod
    metadata: {name: client-b}
    spec:
      nodeName: node2
      containers: [{name: c, image: curlimages/curl, command: [sleep, infinity]}]
    ---
    apiVersion: v1
    kind: Service
    metadata: {name: web}
    spec:
      selector: {app: web}
      ports: [{name: http, port: 80, targetPort: http}]
    ---
    apiVersion: v1
    kind: Service
    metadata: {name: web-np}
    spec:
      type: NodePort
      selector: {app: web}
      ports: [{port: 80, targetPort: 8080, nodePort: 30080}]
    ---
    apiVersion: v1
    kind: Service
    metadata: {name: solo-local}
    spec:
      type: NodePort
      externalTrafficPolicy: Local
      selector: {app: solo}
      ports: [{port: 80, nodePort: 30081}]
    ---
    apiVersion: v1
    kind: Service
    metadata: {name: sticky}
    spec:
      selector: {app: web}
      sessionAffinity: ClientIP
      ports: [{port: 80, targetPort: 8080}]
    ---
    apiVersion: v1
    kind: Service
    metadata: {name: nobody}
    spec:
      selector: {app: nothing-has-this-label}
      ports: [{port: 80}]
    ---
    apiVersion: v1
    kind: Service
    metadata: {name: dns}
    spec:
      selector: {app: dns}
      ports: [{name: dns, port: 53, targetPort: dns, protocol: UDP}]
    """)


@pytest.fixture(scope="module", params=["iptables", "nftables"])
def mode(request):
    """kube-proxy's mode the lab runs in (spec.proxyMode): every scenario runs in both."""
    return request.param


@pytest.fixture(scope="module")
def lab(tmp_path_factory, mode):
    name = unique_lab()
    path = tmp_path_factory.mktemp("svc") / "lab.yaml"
    path.write_text(f"apiVersion: netlab.io/v1alpha1\nkind: Cluster\nspec: {{proxyMode: {mode}}}\n---\n" + LAB)
    try:
        netlab_cli("up", "-f", str(path), "--name", name)
        yield name
    finally:
        netlab_cli("down", "--name", name, check=False)
        assert lab_namespaces(name) == []


def _get(lab, kind):
    data = json.loads(netlab_cli("get", kind, "-o", "json", "--name", lab).stdout)
    return {item["metadata"]["name"]: item for item in data["items"]}


def _pods(lab, prefix=""):
    return {n: p for n, p in _get(lab, "pods").items() if n.startswith(prefix)}


def _netns(pod):
    return pod["metadata"]["annotations"]["netlab.io/netns"]


def _cluster_ip(lab, service):
    return _get(lab, "svc")[service]["spec"]["clusterIP"]


def _answers(namespace, ip, port, count, protocol="TCP"):
    replies = traffic.send(namespace, ip, port, protocol, count)
    return [parse_builtin_reply(r.text) if r.ok else {"error": r.error} for r in replies]


def test_cluster_ip_from_a_pod_spreads_1000_requests_evenly_over_4_endpoints(lab):
    client = _pods(lab)["client-a"]
    web_ips = sorted(p["status"]["podIP"] for p in _pods(lab, "web-").values())
    answers = _answers(_netns(client), _cluster_ip(lab, "web"), 80, 1000)
    hits = {}
    for answer in answers:
        hits[answer.get("pod_ip", answer.get("error"))] = hits.get(answer.get("pod_ip", answer.get("error")), 0) + 1
    assert sorted(hits) == web_ips, hits
    fit = goodness_of_fit(hits, {ip: 0.25 for ip in web_ips}, alpha=0.001)
    assert fit.passed, (hits, fit)
    assert all(a["client"].startswith(client["status"]["podIP"] + ":") for a in answers)  # no SNAT


def test_cluster_ip_from_a_node_namespace_reaches_every_endpoint(lab):
    web_ips = {p["status"]["podIP"] for p in _pods(lab, "web-").values()}
    seen = {a["pod_ip"] for a in _answers(f"{lab}-node1", _cluster_ip(lab, "web"), 80, 80)}
    assert seen == web_ips


def test_node_port_answers_from_the_client_through_every_node(lab):
    for node_ip in ("172.18.0.2", "172.18.0.3"):
        answers = _answers(f"{lab}-client", node_ip, 30080, 20)
        assert all("pod" in a for a in answers), answers


def test_cluster_policy_node_port_hides_the_client_behind_the_ingress_node(lab):
    pods = _pods(lab, "web-")
    answers = _answers(f"{lab}-client", "172.18.0.2", 30080, 40)
    for answer in answers:
        source = answer["client"].rsplit(":", 1)[0]
        remote = pods[answer["pod"]]["spec"]["nodeName"] != "node1"
        # MASQUERADE picks the egress address: node1's underlay IP, or its cni0 gateway for a local pod
        assert source == ("172.18.0.2" if remote else "10.244.1.1"), answer


def test_local_policy_keeps_the_client_ip_and_a_node_without_endpoint_drops(lab):
    (answer,) = _answers(f"{lab}-client", "172.18.0.3", 30081, 1)
    assert answer["client"].startswith("172.18.0.100:")
    started = time.monotonic()
    (dropped,) = traffic.send(f"{lab}-client", "172.18.0.2", 30081, "TCP", 1, timeout=1.5)
    assert not dropped.ok and time.monotonic() - started >= 1.4      # DROP: no answer at all, a timeout


def test_client_ip_affinity_keeps_one_client_on_one_pod(lab):
    ip = _cluster_ip(lab, "sticky")
    first = {a["pod"] for a in _answers(_netns(_pods(lab)["client-a"]), ip, 80, 50)}
    assert len(first) == 1
    second = {a["pod"] for a in _answers(_netns(_pods(lab)["client-b"]), ip, 80, 50)}
    assert len(second) == 1            # another client is sticky too (and may land elsewhere)


def test_a_service_without_endpoints_is_refused_at_once(lab):
    source, ip = _netns(_pods(lab)["client-a"]), _cluster_ip(lab, "nobody")
    started = time.monotonic()
    (reply,) = traffic.send(source, ip, 80, "TCP", 1, timeout=3)
    assert not reply.ok and "refused" in reply.error.lower()
    assert time.monotonic() - started < 1.0          # refused at once, not left to time out (3 s)


def test_a_pod_reaches_itself_through_its_own_service(lab):
    me = next(iter(_pods(lab, "web-").values()))
    answers = _answers(_netns(me), _cluster_ip(lab, "web"), 80, 60)
    mine = [a for a in answers if a.get("pod") == me["metadata"]["name"]]
    assert mine, "60 requests over 4 endpoints never came back to the sender"
    gateway = "10.244.1.1" if me["spec"]["nodeName"] == "node1" else "10.244.2.1"
    assert all(a["client"].startswith(gateway + ":") for a in mine)   # hairpin masquerade


def test_named_target_port_resolves_to_the_containers_port(lab):
    answers = _answers(_netns(_pods(lab)["client-b"]), _cluster_ip(lab, "web"), 80, 5)
    assert all(a["server"].endswith(":8080") for a in answers)


def test_nat_table_reads_like_a_real_node(lab, mode):
    if mode == "nftables":
        table = subprocess.run(["ip", "netns", "exec", f"{lab}-node1", "nft", "list", "table", "ip", "kube-proxy"],
                               capture_output=True, text=True, check=True).stdout
        chain = re.search(r"10\.[\d.]+ \. tcp \. 80 : goto (service-\w+-default/web/tcp/http)", table).group(1)
        body = re.search(rf"chain {re.escape(chain)} {{(.*?)}}\n", table, re.S).group(1)
        assert "numgen random mod 4 vmap" in body
        assert "masquerade fully-random" in table
        assert re.search(r"tcp \. 30080 : goto external-\w+-default/web-np/tcp/", table)
        assert re.search(r'comment "default/nobody" : goto reject-chain', table)
        return
    rules = subprocess.run(["ip", "netns", "exec", f"{lab}-node1", "iptables", "-t", "nat", "-S"],
                           capture_output=True, text=True, check=True).stdout
    svc_chain = re.search(r'-A KUBE-SERVICES .*"default/web:http cluster IP".* -j (KUBE-SVC-\w+)', rules).group(1)
    probabilities = re.findall(rf"-A {svc_chain} .*--probability (\S+)", rules)
    assert probabilities == ["0.25000000000", "0.33333333349", "0.50000000000"]
    assert "-A KUBE-POSTROUTING -m comment --comment \"kubernetes service traffic requiring SNAT\" " \
           "-j MASQUERADE --random-fully" in rules
    assert re.search(r"-A KUBE-NODEPORTS -p tcp -m comment --comment \"default/web-np\" -m tcp --dport 30080 "
                     r"-j KUBE-EXT-\w+", rules)
    filter_rules = subprocess.run(["ip", "netns", "exec", f"{lab}-node1", "iptables", "-S"],
                                  capture_output=True, text=True, check=True).stdout
    assert '"default/nobody has no endpoints"' in filter_rules and "-j REJECT" in filter_rules


def test_get_svc_and_endpoints_read_like_kubectl(lab):
    text = netlab_cli("get", "svc", "--name", lab).stdout
    row = next(line for line in text.splitlines() if line.startswith("web-np "))
    assert re.search(r"NodePort\s+10\.\d+\.\d+\.\d+\s+<none>\s+80:30080/TCP", row)
    endpoints = netlab_cli("get", "endpoints", "--name", lab).stdout
    assert re.search(r"^nobody\s+<none>", endpoints, re.M)
    assert re.search(r"^web\s+10\.244\.\d+\.\d+:8080,.* \+ 1 more\.\.\.", endpoints, re.M)


def test_probe_prints_hits_beside_kube_proxys_expected_share(lab, mode):
    if mode == "nftables":
        pytest.skip("probe computes the expected shares from iptables rules only (netlab/probe.py)")
    out = netlab_cli("probe", "--name", lab, "--from", "client-a", "web", "--count", "400").stdout
    rows = [line.split() for line in out.splitlines() if re.match(r"^10\.244\.\d+\.\d+:8080\s", line)]
    assert len(rows) == 4 and [row[-1] for row in rows] == ["25.0%"] * 4     # the EXPECTED column
    assert sum(int(row[2]) for row in rows) == 400
    assert "consistent with kube-proxy's shares at p = 0.001" in out


def test_a_udp_service_keeps_answering_after_its_endpoint_changes(lab):
    ip = _cluster_ip(lab, "dns")
    client_ns = _netns(_pods(lab)["client-a"])
    with netns.entered(client_ns):
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        sock.settimeout(2)
        sock.bind(("0.0.0.0", 40053))            # one source port throughout, like a DNS stub
        sock.sendto(b"q1", (ip, 53))
        before = parse_builtin_reply(sock.recvfrom(65536)[0].decode())["pod"]
        netlab_cli("delete", "pod", before, "--name", lab)
        after_pod = next(iter(_pods(lab, "dns-")))
        assert after_pod != before
        sock.sendto(b"q2", (ip, 53))
        after = parse_builtin_reply(sock.recvfrom(65536)[0].decode())["pod"]
        assert after == after_pod
    finally:
        sock.close()
