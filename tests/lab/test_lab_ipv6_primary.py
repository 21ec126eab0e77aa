"""Labs whose primary family is IPv6, for real: an IPv6-only lab ([IPv6], iptables mode) and an
IPv6-first dual-stack one ([IPv6, IPv4], nftables mode). Pods get their IPv6 address first (and an
IPv6-only pod no IPv4 address at all), Services default to IPv6, the kubernetes Service and the
cluster DNS answer on IPv6 cluster IPs, NodePorts answer on the nodes' IPv6 addresses, and each
node's IPv6 rules are the renderer's."""

import json
import subprocess

import pytest

from tests.conftest import lab_up, netlab_cli, until
from tests.lab.test_lab_dual_stack import _live_equals_rendered, _same
from tests.workloads import documents, service, whoami_on

pytestmark = pytest.mark.root

CLIENT6 = "fc00:f853:ccd:e793::64"
NODE_IP6 = {"node1": "fc00:f853:ccd:e793::2", "node2": "fc00:f853:ccd:e793::3"}

CURL = """\
apiVersion: v1
kind: Pod
metadata: {name: curl}
spec:
  nodeName: node1
  containers:
  - name: c
    image: curlimages/curl
    command: [sleep, infinity]
    env:
    - {name: POD_IP, valueFrom: {fieldRef: {fieldPath: status.podIP}}}
    - {name: POD_IPS, valueFrom: {fieldRef: {fieldPath: status.podIPs}}}
"""

WORKLOADS = documents(
    whoami_on("node2"), CURL,
    service("web", "type: NodePort", "{port: 80, nodePort: 30080}"),
    service("web-local", "type: NodePort\nexternalTrafficPolicy: Local", "{port: 80, nodePort: 30081}"))


@pytest.fixture(scope="module", params=[("IPv6", "iptables"), ("IPv6, IPv4", "nftables")],
                ids=["ipv6-only-iptables", "ipv6-first-nftables"])
def lab(request, tmp_path_factory):
    families, mode = request.param
    path = tmp_path_factory.mktemp("ipv6primary") / "lab.yaml"
    path.write_text("apiVersion: netlab.io/v1alpha1\nkind: Cluster\n"
                    f"spec: {{nodes: 2, ipFamilies: [{families}], proxyMode: {mode}}}\n---\n" + WORKLOADS)
    with lab_up("n6p", "-f", str(path)) as name:
        yield name, "IPv4" in families


def _get(lab, kind, namespace="default"):
    data = json.loads(netlab_cli("get", kind, "-n", namespace, "-o", "json", "--name", lab).stdout)
    return {item["metadata"]["name"]: item for item in data["items"]}


def _web_pods(lab):
    return [p for name, p in _get(lab, "pods").items() if name.startswith("web-")]


def _in(namespace, *argv):
    return subprocess.run(["ip", "netns", "exec", namespace, *argv], capture_output=True, text=True)


def _curl(namespace, url):
    """The whoami reply to `curl -s URL` from inside NAMESPACE, as {field: value}."""
    done = _in(namespace, "curl", "-s", "-m", "5", url)
    assert done.returncode == 0, (namespace, url, done.stderr)
    return dict(line.split(": ", 1) for line in done.stdout.splitlines() if ": " in line)


def _remote_host(reply):
    return reply["RemoteAddr"].rpartition(":")[0].strip("[]")


def test_pods_and_nodes_show_their_ipv6_address_first_and_an_ipv6_only_pod_has_no_ipv4_one(lab):
    name, has_ipv4 = lab
    for pod in _web_pods(name) + [_get(name, "pods")["curl"]]:
        ips = [entry["ip"] for entry in pod["status"]["podIPs"]]
        assert pod["status"]["podIP"] == ips[0] and ips[0].startswith("fd00:10:244:")
        assert len(ips) == (2 if has_ipv4 else 1) and pod["status"]["hostIP"].startswith("fc00:")
        netns = pod["metadata"]["annotations"]["netlab.io/netns"]
        assert (_in(netns, "ip", "-4", "addr", "show", "dev", "eth0").stdout.strip() != "") == has_ipv4
    node1 = _get(name, "nodes")["node1"]
    assert node1["spec"]["podCIDR"] == "fd00:10:244:1::/64"
    assert node1["status"]["addresses"][0] == {"type": "InternalIP", "address": NODE_IP6["node1"]}
    cni0 = _in(f"{name}-node1", "ip", "-4", "addr", "show", "dev", "cni0").stdout
    assert ("10.244.1.1/24" in cni0) == has_ipv4


def test_the_downward_api_gives_the_ipv6_pod_ip_first(lab):
    name, has_ipv4 = lab
    env = dict(line.split("=", 1) for line in
               netlab_cli("exec", "curl", "--name", name, "--", "env").stdout.splitlines() if "=" in line)
    pod = _get(name, "pods")["curl"]
    assert env["POD_IP"] == pod["status"]["podIP"]
    assert env["POD_IPS"] == ",".join(entry["ip"] for entry in pod["status"]["podIPs"])


def test_ipv6_pod_to_pod_across_nodes_keeps_the_callers_address(lab):
    name, _ = lab
    caller = _get(name, "pods")["curl"]["status"]["podIP"]
    for pod in _web_pods(name):
        reply = _curl(f"{name}-default.curl", f"http://[{pod['status']['podIP']}]:80/")
        assert reply["Hostname"] == pod["metadata"]["name"] and _remote_host(reply) == caller


def test_a_service_is_ipv6_by_default_and_answers_by_name_through_the_ipv6_cluster_dns(lab):
    name, _ = lab
    web = _get(name, "services")["web"]["spec"]
    assert web["ipFamilies"] == ["IPv6"] and web["clusterIP"].startswith("fd00:10:96::")
    dns = _get(name, "services", "kube-system")["kube-dns"]["spec"]
    assert dns["clusterIP"] == "fd00:10:96::a"
    assert _get(name, "services")["kubernetes"]["spec"]["clusterIP"] == "fd00:10:96::1"
    assert "nameserver fd00:10:96::a" in netlab_cli("exec", "curl", "--name", name, "--",
                                                    "cat", "/etc/resolv.conf").stdout
    until(lambda: all(p["status"]["containerStatuses"][0]["ready"]
                      for p in _get(name, "pods", "kube-system").values()), timeout=10.0)
    names = {p["metadata"]["name"] for p in _web_pods(name)}
    assert _curl(f"{name}-default.curl", "http://web:80/")["Hostname"] in names
    # the API server's endpoint: node1's IPv6 address, port 6443, through the IPv6 ClusterIP
    version = _in(f"{name}-default.curl", "curl", "-s", "-m", "5", "http://kubernetes:443/version")
    assert json.loads(version.stdout)["major"] == "1"


def test_the_nodeport_answers_on_every_nodes_ipv6_address_and_local_keeps_the_clients(lab):
    name, _ = lab
    names = {p["metadata"]["name"] for p in _web_pods(name)}
    for address in NODE_IP6.values():
        assert _curl(f"{name}-client", f"http://[{address}]:30080/")["Hostname"] in names
    assert _remote_host(_curl(f"{name}-client", f"http://[{NODE_IP6['node2']}]:30081/")) == CLIENT6


def test_kube_proxy_writes_ipv4_rules_only_where_the_lab_has_ipv4_and_the_ipv6_ones_are_the_renderers(lab):
    name, has_ipv4 = lab
    v4 = netlab_cli("rules", "node1", "--family", "IPv4", "--name", name, check=False)
    if has_ipv4:        # the IPv4 proxier runs, and web, single-stack IPv6, has no rule there
        assert v4.returncode == 0 and "kube-proxy" in v4.stdout and "default/web" not in v4.stdout
    else:
        assert v4.returncode == 1 and "is IPv6 only: kube-proxy writes no IPv4 rules there" in v4.stderr
        assert "KUBE-" not in _in(f"{name}-node1", "iptables-save").stdout
    assert "default/web" in netlab_cli("rules", "node1", "--name", name).stdout       # the primary family's
    for node in NODE_IP6:
        until(lambda: _same(*_live_equals_rendered(name, node)), timeout=5.0)
        live, rendered = _live_equals_rendered(name, node)
        assert live == rendered


def test_probe_and_explain_take_the_ipv6_path_without_being_told(lab):
    name, _ = lab
    text = netlab_cli("probe", "--from", "curl", "web", "--count", "200", "--name", name).stdout
    for pod in _web_pods(name):
        assert f"[{pod['status']['podIP']}]:80" in text
    assert "consistent with kube-proxy's shares" in text and "NOT consistent" not in text
    said = netlab_cli("explain", "curl", "web", "--name", name).stdout
    assert "-> [fd00:10:96::" in said and "verdict: delivered" in said
