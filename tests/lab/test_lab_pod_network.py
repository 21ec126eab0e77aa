"""A real lab from Kubernetes YAML: pod IPs, no NAT between pods, pods spread, clean teardown."""

import json
import subprocess
import textwrap

import pytest

from tests.conftest import dns_settled, lab_namespaces, netlab_cli, unique_lab, until

pytestmark = pytest.mark.root

MANIFEST = textwrap.dedent("""\
    apiVersion: netlab.io/v1alpha1
    kind: Cluster
    spec:
      nodes: 2
    ---
    apiVersion: apps/v1
    kind: Deployment
    metadata:
      name: web
    spec:
      replicas: 4
      selector:
        matchLabels: {app: web}
      template:
        metadata:
          labels: {app: web}
        spec:
          containers:
          - name: nginx
            image: nginx
            ports:
            - containerPort: 80
    ---
    apiVersion: v1
    kind: Pod
    metadata:
      name: two-containers
    spec:
      containers:
      - name: web
        image: nginx
        ports:
        - containerPort: 8080
      - name: helper
        image: debian
        command: ["tail", "-f", "/dev/null"]
    """)


def _pods(lab):
    data = json.loads(netlab_cli("get", "pods", "-o", "json", "--name", lab).stdout)
    return {item["metadata"]["name"]: item for item in data["items"]}


def _exec(lab, target, *command, container=None):
    options = ["-c", container] if container else []
    return netlab_cli("exec", "--name", lab, target, *options, "--", *command, check=False)


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    name = unique_lab()
    folder = tmp_path_factory.mktemp("manifests")
    (folder / "lab.yaml").write_text(MANIFEST)
    try:
        result = netlab_cli("up", "-f", str(folder), "--name", name)
        yield name, folder, result
    finally:
        netlab_cli("down", "--name", name, check=False)
        assert lab_namespaces(name) == []


def test_up_reports_what_it_built_and_how_to_go_on(lab):
    name, _, result = lab
    assert "is up" in result.stdout and f"{name}-node1" in result.stdout
    assert "Try:" in result.stdout


def test_deployment_pods_spread_over_both_nodes_with_ips_from_each_nodes_cidr(lab):
    name, _, _ = lab
    pods = _pods(name)
    web = [p for n, p in pods.items() if n.startswith("web-")]
    assert len(web) == 4
    by_node = {}
    for pod in web:
        by_node.setdefault(pod["spec"]["nodeName"], []).append(pod["status"]["podIP"])
    assert sorted(by_node) == ["node1", "node2"] and all(len(v) == 2 for v in by_node.values())
    for node, ips in by_node.items():
        assert all(ip.startswith(f"10.244.{node[-1]}.") for ip in ips)
    for pod in web:
        assert pod["status"]["phase"] == "Running"
        assert pod["metadata"]["annotations"]["netlab.io/netns"] == f"{name}-default.{pod['metadata']['name']}"


def test_pod_to_pod_across_nodes_answers_and_the_server_sees_the_callers_own_ip(lab):
    name, _, _ = lab
    pods = _pods(name)
    web = sorted((p for n, p in pods.items() if n.startswith("web-")), key=lambda p: p["spec"]["nodeName"])
    caller, server = web[0], web[-1]
    assert caller["spec"]["nodeName"] != server["spec"]["nodeName"]
    caller_ns = caller["metadata"]["annotations"]["netlab.io/netns"]
    reply = subprocess.run(["ip", "netns", "exec", caller_ns, "curl", "-s", "--max-time", "5",
                            f"http://{server['status']['podIP']}:80/"], capture_output=True, text=True)
    assert reply.returncode == 0, reply.stderr
    assert server["metadata"]["name"] in reply.stdout
    assert caller["status"]["podIP"] in reply.stdout          # no NAT between pods


def test_containers_of_one_pod_share_localhost(lab):
    name, _, _ = lab
    reply = _exec(name, "pod/two-containers", "curl", "-s", "--max-time", "5", "http://localhost:8080/",
                  container="helper")
    assert reply.returncode == 0, reply.stderr
    assert "two-containers" in reply.stdout


def test_get_pods_wide_shows_ip_node_and_a_typeable_namespace(lab):
    name, _, _ = lab
    text = netlab_cli("get", "pods", "-o", "wide", "--name", name).stdout
    header = text.splitlines()[0].split()
    assert header[:5] == ["NAME", "READY", "STATUS", "RESTARTS", "AGE"] and "NETNS" in header
    row = next(line for line in text.splitlines() if line.startswith("two-containers"))
    assert "2/2" in row and "Running" in row and f"{name}-default.two-containers" in row


def test_get_nodes_json_has_addresses_and_namespaces(lab):
    name, _, _ = lab
    data = json.loads(netlab_cli("get", "nodes", "-o", "json", "--name", name).stdout)
    assert data["kind"] == "List"
    node1 = data["items"][0]
    assert node1["status"]["addresses"][0] == {"type": "InternalIP", "address": "172.18.0.2"}
    assert node1["metadata"]["annotations"]["netlab.io/netns"] == f"{name}-node1"


def test_running_up_again_changes_nothing(lab):
    name, folder, _ = lab
    # the DNS pods' readiness reaches the rules a moment after `up` (probes, then minSyncPeriod):
    # an `up` before that would rightly load those rules itself
    assert until(lambda: dns_settled(name)), "the cluster DNS pods never reached the rules"
    before = _pods(name)
    again = netlab_cli("up", "-f", str(folder), "--name", name)
    assert "nothing to change" in again.stdout
    after = _pods(name)
    assert {n: p["status"]["podIP"] for n, p in before.items()} == {n: p["status"]["podIP"] for n, p in after.items()}
    assert {n: p["metadata"]["uid"] for n, p in before.items()} == {n: p["metadata"]["uid"] for n, p in after.items()}


def test_a_rejected_manifest_changes_nothing(lab, tmp_path):
    name, _, _ = lab
    before = (_pods(name), lab_namespaces(name))
    bad = tmp_path / "bad.yaml"
    bad.write_text(MANIFEST.replace("replicas: 4", "replicas: 5").replace("image: debian", "image: debian\n    imagePullPolicyy: Always"))
    result = netlab_cli("apply", "-f", str(bad), "--name", name, check=False)
    assert result.returncode != 0
    assert f"{bad}:" in result.stderr and "imagePullPolicyy" in result.stderr
    assert (_pods(name), lab_namespaces(name)) == before


def test_node_namespaces_forward_and_route_to_the_other_nodes_pod_cidr(lab):
    name, _, _ = lab
    routes = subprocess.run(["ip", "netns", "exec", f"{name}-node1", "ip", "route"], capture_output=True,
                            text=True).stdout
    assert "10.244.2.0/24 via 172.18.0.3 dev eth0" in routes
    forward = subprocess.run(["ip", "netns", "exec", f"{name}-node1", "sysctl", "-n", "net.ipv4.ip_forward"],
                             capture_output=True, text=True).stdout.strip()
    assert forward == "1"
    links = subprocess.run(["ip", "netns", "exec", f"{name}-node1", "bridge", "-d", "link"], capture_output=True,
                           text=True).stdout
    assert "master cni0" in links and "hairpin on" in links
