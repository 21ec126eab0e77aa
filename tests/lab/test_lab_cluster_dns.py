"""The cluster DNS, for real: kube-system's coredns pods (Debian's unbound) behind kube-dns, the
names pods resolve through kube-proxy's rules, records following changes, and a restart survived."""

import hashlib
import json
import pathlib
import subprocess
import textwrap

import pytest

from netlab import names, state
from tests.conftest import netlab_cli, unique_lab, until

pytestmark = pytest.mark.root

LAB = textwrap.dedent("""\
    apiVersion: v1
    kind: Namespace
    metadata: {name: shop}
    ---
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
          - name: web
            image: nginx
            ports: [{name: http, containerPort: 80}]
            readinessProbe:
              exec: {command: [test, "!", -e, /tmp/unready]}
              periodSeconds: 1
              failureThreshold: 1
    ---
    apiVersion: v1
    kind: Service
    metadata: {name: svc-clusterip}
    spec:
      selector: {app: web}
      ports: [{name: http, port: 8080, targetPort: 80}]
    ---
    apiVersion: v1
    kind: Service
    metadata: {name: headless}
    spec:
      clusterIP: None
      selector: {app: web}
      ports: [{name: http, port: 80}]
    ---
    apiVersion: v1
    kind: Service
    metadata: {name: search}
    spec:
      type: ExternalName
      externalName: www.example.com
    ---
    apiVersion: v1
    kind: Pod
    metadata: {name: client}
    spec:
      containers: [{name: curl, image: curlimages/curl, command: [sleep, infinity]}]
    ---
    apiVersion: v1
    kind: Service
    metadata: {name: db}
    spec:
      clusterIP: None
      selector: {app: db}
      ports: [{port: 5432}]
    ---
    apiVersion: v1
    kind: Pod
    metadata: {name: db-0, labels: {app: db}}
    spec:
      hostname: primary
      subdomain: db
      containers: [{name: db, image: postgres, ports: [{containerPort: 5432}]}]
    ---
    apiVersion: v1
    kind: Pod
    metadata: {name: buyer, namespace: shop}
    spec:
      containers: [{name: curl, image: curlimages/curl, command: [sleep, infinity]}]
    """)


def _digest(path: str) -> str:
    return hashlib.sha256(pathlib.Path(path).read_bytes()).hexdigest()


def _host_port_53() -> list:
    """Sockets on port 53 in the host's own network namespace."""
    out = subprocess.run(["ss", "-Hlnut"], capture_output=True, text=True, check=True).stdout
    return sorted(line for line in out.splitlines() if line.split()[4].endswith(":53"))


class Lab:
    def __init__(self, name):
        self.name = name

    def run(self, command, *args, **kw):
        return netlab_cli(command, "--name", self.name, *args, **kw)

    def dig(self, *query, pod="client", namespace="default"):
        """dig's short answer from POD (one try of one second: a name outside the cluster must
        fail at once, not time out)."""
        out = self.run("exec", "-n", namespace, pod, "--", "dig", "+short", "+tries=1", "+time=1", *query).stdout
        return sorted(out.split())

    def status(self, name, pod="client"):
        out = self.run("exec", pod, "--", "dig", "+tries=1", "+time=1", name).stdout
        return out.split("status: ", 1)[1].split(",", 1)[0] if "status: " in out else out

    def pods(self, namespace="default"):
        return json.loads(self.run("get", "pods", "-n", namespace, "-o", "json").stdout)["items"]


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    name = unique_lab("nldns")
    manifest = tmp_path_factory.mktemp("dns") / "lab.yaml"
    manifest.write_text(LAB)
    before = (_digest("/etc/resolv.conf"), _host_port_53())
    netlab_cli("up", "-f", str(manifest), "--name", name)
    try:
        yield Lab(name)
    finally:
        netlab_cli("down", "--name", name, check=False)
        assert (_digest("/etc/resolv.conf"), _host_port_53()) == before


def _ready(pod):
    return any(c["type"] == "Ready" and c["status"] == "True" for c in pod["status"].get("conditions") or [])


def test_the_cluster_dns_runs_in_kube_system_as_a_kubeadm_cluster_shows_it(lab):
    pods = until(lambda: [p for p in lab.pods("kube-system") if _ready(p)] if len(
        [p for p in lab.pods("kube-system") if _ready(p)]) == 2 else None)
    assert pods, lab.run("get", "pods", "-n", "kube-system").stdout
    assert all(p["metadata"]["name"].startswith("coredns-") for p in pods), pods
    assert all(p["metadata"]["labels"]["k8s-app"] == "kube-dns" for p in pods), pods
    assert sorted(p["spec"]["nodeName"] for p in pods) == ["node1", "node2"]     # spread over the nodes
    services = lab.run("get", "svc", "-n", "kube-system").stdout
    assert "kube-dns   ClusterIP   10.96.0.10" in services and "53/UDP,53/TCP,9153/TCP" in services
    endpoints = lab.run("get", "endpoints", "kube-dns", "-n", "kube-system").stdout
    first, second = sorted((p["status"]["podIP"] for p in pods), key=lambda ip: tuple(map(int, ip.split("."))))
    assert f"kube-dns   {first}:53,{second}:53,{first}:53 + 3 more..." in endpoints, endpoints
    # the pods' processes: unbound under netlab's coredns stand-in, not a Python resolver
    ps = lab.run("exec", "-n", "kube-system", pods[0]["metadata"]["name"], "--", "ps", "-eo", "args").stdout
    assert "unbound -d -p -c /run/coredns/unbound.conf" in ps
    described = lab.run("describe", "pod", "-n", "kube-system", pods[0]["metadata"]["name"]).stdout
    assert "Priority:             2000000000\nPriority Class Name:  system-cluster-critical\n" in described


def test_a_service_name_resolves_short_namespaced_and_full_and_curl_reaches_it(lab):
    until(lambda: lab.dig("svc-clusterip.default.svc.cluster.local"))
    for name in ("svc-clusterip", "svc-clusterip.default", "svc-clusterip.default.svc.cluster.local"):
        answer = lab.run("exec", "client", "--", "curl", "-s", "-m", "10", f"http://{name}:8080/").stdout
        assert "pod: web-" in answer, (name, answer)


def test_from_another_namespace_only_the_namespaced_name_resolves(lab):
    cluster_ip = lab.dig("svc-clusterip.default.svc.cluster.local")
    assert lab.dig("svc-clusterip", pod="buyer", namespace="shop") == []
    assert lab.run("exec", "-n", "shop", "buyer", "--", "getent", "hosts", "svc-clusterip.default",
                   check=False).stdout.split()[:1] == cluster_ip


def test_a_headless_name_is_each_ready_pod_and_drops_one_that_stops_being_ready(lab):
    web = sorted(p["status"]["podIP"] for p in lab.pods() if p["metadata"]["name"].startswith("web-"))
    assert until(lambda: lab.dig("headless.default.svc.cluster.local") == web)
    gone = next(p for p in lab.pods() if p["metadata"]["name"].startswith("web-"))
    lab.run("exec", gone["metadata"]["name"], "--", "touch", "/tmp/unready")      # its readiness probe fails
    left = [ip for ip in web if ip != gone["status"]["podIP"]]
    try:
        assert until(lambda: lab.dig("headless.default.svc.cluster.local") == left), \
            lab.dig("headless.default.svc.cluster.local")
        # its own name under the Service goes with it; the other's stays
        assert lab.dig(f"{gone['status']['podIP'].replace('.', '-')}.headless.default.svc.cluster.local") == []
        assert lab.dig(f"{left[0].replace('.', '-')}.headless.default.svc.cluster.local") == left
    finally:
        lab.run("exec", gone["metadata"]["name"], "--", "rm", "/tmp/unready")
    assert until(lambda: lab.dig("headless.default.svc.cluster.local") == web)


def test_a_pod_with_hostname_and_subdomain_is_named_under_its_headless_service(lab):
    ip = next(p["status"]["podIP"] for p in lab.pods() if p["metadata"]["name"] == "db-0")
    assert until(lambda: lab.dig("primary.db.default.svc.cluster.local") == [ip])
    assert lab.dig("-x", ip) == ["primary.db.default.svc.cluster.local."]
    # kubelet gives the pod that hostname, and its hosts file the full name first
    assert lab.run("exec", "db-0", "--", "hostname").stdout.strip() == "primary"
    hosts = lab.run("exec", "db-0", "--", "cat", "/etc/hosts").stdout
    assert f"{ip}\tprimary.db.default.svc.cluster.local\tprimary\n" in hosts


def test_external_name_srv_and_ptr_answers(lab):
    assert lab.dig("search.default.svc.cluster.local", "CNAME") == ["www.example.com."]
    assert lab.dig("_http._tcp.svc-clusterip.default.svc.cluster.local", "SRV") == [
        "0", "100", "8080", "svc-clusterip.default.svc.cluster.local."]
    cluster_ip = lab.dig("svc-clusterip.default.svc.cluster.local")[0]
    assert lab.dig("-x", cluster_ip) == ["svc-clusterip.default.svc.cluster.local."]
    client_ip = next(p["status"]["podIP"] for p in lab.pods() if p["metadata"]["name"] == "client")
    dashed = client_ip.replace(".", "-")
    assert lab.dig("-x", client_ip) == [f"{dashed}.default.pod.cluster.local."]
    assert lab.dig(f"{dashed}.default.pod.cluster.local") == [client_ip]


def test_names_outside_the_cluster_fail_at_once(lab):
    # NXDOMAIN is an answer: dig with one one-second try would say "timed out" for a hang
    assert lab.status("www.example.com") == "NXDOMAIN"
    assert lab.run("exec", "client", "--", "curl", "-s", "-m", "30", "http://www.example.com/",
                   check=False).returncode == 6


def test_records_follow_a_service_created_and_deleted(lab, tmp_path):
    late = tmp_path / "late.yaml"
    late.write_text("apiVersion: v1\nkind: Service\nmetadata: {name: late}\nspec:\n"
                    "  selector: {app: web}\n  ports: [{port: 81, targetPort: 80}]\n")
    lab.run("apply", "-f", str(late))
    ip = json.loads(lab.run("get", "svc", "late", "-o", "json").stdout)["spec"]["clusterIP"]
    assert until(lambda: lab.dig("late.default.svc.cluster.local") == [ip])
    lab.run("delete", "-f", str(late))
    assert until(lambda: lab.status("late.default.svc.cluster.local") == "NXDOMAIN")


def test_a_dns_query_crosses_kube_proxys_dnat_to_a_dns_pod(lab):
    dns_ips = {p["status"]["podIP"] for p in lab.pods("kube-system")}
    lab.dig("svc-clusterip.default.svc.cluster.local")
    node = next(p["spec"]["nodeName"] for p in lab.pods() if p["metadata"]["name"] == "client")
    out = subprocess.run(["ip", "netns", "exec", names.node_netns(lab.name, node), "conntrack", "-L", "-p", "udp",
                          "--orig-dst", "10.96.0.10", "--orig-port-dst", "53"],
                         capture_output=True, text=True).stdout
    replies = {field.split("=", 1)[1] for line in out.splitlines() for field in line.split()[6:]
               if field.startswith("src=")}
    assert replies & dns_ips, out


def test_dns_keeps_answering_while_a_dns_pods_server_is_killed_and_restarted(lab):
    pod = sorted(lab.pods("kube-system"), key=lambda p: p["metadata"]["name"])[0]
    name = pod["metadata"]["name"]
    st = state.load(lab.name)
    record = st.pods[f"kube-system/{name}"]
    netns = names.pod_netns(lab.name, "kube-system", name)
    pids = subprocess.run(["ip", "netns", "pids", netns], capture_output=True, text=True).stdout.split()
    unbound = [pid for pid in pids if pathlib.Path(f"/proc/{pid}/comm").read_text().strip() == "unbound"]
    assert len(unbound) == 1, record
    subprocess.run(["kill", "-9", unbound[0]], check=True)
    # glibc's resolver tries again after a lost answer; every lookup must succeed meanwhile
    answers = [lab.run("exec", "client", "--", "getent", "hosts", "svc-clusterip", check=False).returncode
               for _ in range(10)]
    assert answers == [0] * 10
    restarted = until(lambda: next((p for p in lab.pods("kube-system") if p["metadata"]["name"] == name
                                     and p["status"]["containerStatuses"][0]["restartCount"] >= 1 and _ready(p)),
                                    None))
    assert restarted, lab.run("get", "pods", "-n", "kube-system").stdout
    assert lab.dig("svc-clusterip.default.svc.cluster.local")


def test_kubernetes_default_leads_through_kube_proxy_to_the_api_servers_listener_on_the_control_plane(lab):
    services = lab.run("get", "svc", "kubernetes").stdout
    assert "kubernetes   ClusterIP   10.96.0.1    <none>        443/TCP" in services, services
    assert "kubernetes   172.18.0.2:6443" in lab.run("get", "endpoints", "kubernetes").stdout
    # every node has the Service's rules, to node1's IP:6443 (the API server's endpoint)
    for node in ("node1", "node2"):
        rules = lab.run("rules", node, "-t", "nat").stdout
        assert '-A KUBE-SERVICES -d 10.96.0.1/32 -p tcp -m comment --comment "default/kubernetes:https cluster IP" ' \
               "-m tcp --dport 443 -j KUBE-SVC-NPX46M4PTMTKRN6Y" in rules, rules
        assert "-j DNAT --to-destination 172.18.0.2:6443" in rules
    version = until(lambda: lab.run("exec", "client", "--", "curl", "-s", "-m", "5",
                                     "http://kubernetes.default.svc.cluster.local:443/version", check=False).stdout)
    assert json.loads(version)["gitVersion"] == "v1.35.0", version
    forbidden = lab.run("exec", "client", "--", "curl", "-s", "-m", "5", "-o", "/dev/null", "-w", "%{http_code}",
                        "http://10.96.0.1:443/api").stdout
    assert forbidden == "403"


def test_a_new_lab_has_the_four_system_namespaces_and_refuses_to_delete_default(lab):
    listed = lab.run("get", "namespaces", "--no-headers").stdout.split("\n")
    assert [line.split()[:2] for line in listed if line] == [
        ["default", "Active"], ["kube-node-lease", "Active"], ["kube-public", "Active"], ["kube-system", "Active"],
        ["shop", "Active"]]
    refused = lab.run("delete", "namespace", "default", check=False)
    assert refused.returncode == 1
    assert refused.stderr.strip() == ('Error from server (Forbidden): namespaces "default" is forbidden: this '
                                      "namespace may not be deleted")
