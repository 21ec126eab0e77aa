"""A lab across two machines (spec.hosts), on one: two network namespaces stand in for the two VMs
(each its own address on a link between them, as two VMs on a private network), each runs its own
`netlab up` and supervisor for its own nodes, the lab's state is in an etcd that runs on the first,
and the two hosts' underlays are joined by a VXLAN tunnel between the machines' addresses."""

import json
import secrets
import shutil
import socket
import subprocess
import sys

import pytest

from tests.conftest import until
from tests.workloads import client_pod, documents, service, whoami_on

pytestmark = pytest.mark.root

ADDRESS_A, ADDRESS_B = "192.168.56.10", "192.168.56.11"

CLUSTER = """\
apiVersion: netlab.io/v1alpha1
kind: Cluster
spec:
  nodes: 2
  hosts:
  - {{name: vm1, address: {a}, nodes: [node1]}}
  - {{name: vm2, address: {b}, nodes: [node2]}}
  store: {{etcd: "http://{a}:{port}"}}
"""
WORKLOADS = documents(whoami_on("node2", replicas=1), client_pod("curl", "node1"), service("web"))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _ip(*args, check=True):
    return subprocess.run(["ip", *args], capture_output=True, text=True, check=check)


class Machines:
    """Two machine namespaces joined by a veth, an etcd on the first, a run folder each."""

    def __init__(self, tmp_path):
        tag = secrets.token_hex(2)
        self.a, self.b = f"nlmA{tag}", f"nlmB{tag}"
        self.lab = f"nl2h{tag}"
        self.folder = tmp_path
        self.port = _free_port()
        self.etcd = None

    def __enter__(self):
        _ip("netns", "add", self.a)
        _ip("netns", "add", self.b)
        _ip("-n", self.a, "link", "add", "eth0", "type", "veth", "peer", "name", "eth0", "netns", self.b)
        for netns, address in ((self.a, ADDRESS_A), (self.b, ADDRESS_B)):
            _ip("-n", netns, "addr", "add", f"{address}/24", "dev", "eth0")
            _ip("-n", netns, "link", "set", "eth0", "up")
            _ip("-n", netns, "link", "set", "lo", "up")
        peer = _free_port()
        self.etcd = subprocess.Popen(
            ["nsenter", f"--net=/run/netns/{self.a}", "etcd", "--name", "lab", "--data-dir", str(self.folder / "etcd"),
             "--listen-client-urls", f"http://{ADDRESS_A}:{self.port}",
             "--advertise-client-urls", f"http://{ADDRESS_A}:{self.port}",
             "--listen-peer-urls", f"http://127.0.0.1:{peer}",
             "--initial-advertise-peer-urls", f"http://127.0.0.1:{peer}",
             "--initial-cluster", f"lab=http://127.0.0.1:{peer}", "--max-request-bytes", "33554432"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        healthy = until(lambda: self.in_machine(self.b, "curl", "-s", "-m", "1",
                                                f"http://{ADDRESS_A}:{self.port}/health").stdout, timeout=20)
        assert '"health":"true"' in healthy, healthy
        path = self.folder / "lab.yaml"
        path.write_text(documents(CLUSTER.format(a=ADDRESS_A, b=ADDRESS_B, port=self.port), WORKLOADS))
        self.manifest = str(path)
        return self

    def run_dir(self, machine):
        return str(self.folder / ("run-a" if machine == self.a else "run-b"))

    def in_machine(self, machine, *command, env=None):
        # nsenter, not `ip netns exec`: that one also gives the command a mount namespace of its own,
        # and the namespaces netlab makes in it (bind mounts under /run/netns) would stay in there
        return subprocess.run(["nsenter", f"--net=/run/netns/{machine}", "env", *(env or []), *command],
                              capture_output=True, text=True, timeout=120)

    def netlab(self, machine, *args, check=True):
        done = self.in_machine(machine, sys.executable, "-m", "netlab", *args, "--name", self.lab,
                               env=[f"NETLAB_RUN_DIR={self.run_dir(machine)}"])
        if check:
            assert done.returncode == 0, (args, done.stdout, done.stderr)
        return done

    def __exit__(self, *exc):
        for machine in (self.b, self.a):
            self.netlab(machine, "down", check=False)
        if self.etcd is not None:
            self.etcd.kill()
            self.etcd.wait()
        for name in _lab_namespaces(self.lab) + [self.a, self.b]:
            _ip("netns", "del", name, check=False)
        shutil.rmtree(self.folder, ignore_errors=True)


def _lab_namespaces(lab):
    return sorted(line.split()[0] for line in _ip("netns", "list").stdout.splitlines()
                  if line.startswith(f"{lab}-"))


def _get(machines, machine, kind):
    out = machines.netlab(machine, "get", kind, "-o", "json").stdout
    return {item["metadata"]["name"]: item for item in json.loads(out)["items"]}


@pytest.fixture
def machines(tmp_path):
    if not shutil.which("etcd"):
        pytest.skip("no etcd (apt-get install etcd-server)")
    with Machines(tmp_path) as m:
        yield m


def test_a_pod_on_one_host_reaches_a_service_whose_only_endpoint_is_on_the_other(machines):
    lab = machines.lab
    machines.netlab(machines.a, "up", "-f", machines.manifest)
    machines.netlab(machines.b, "up", "-f", machines.manifest)
    # each host built its own: node1 and the client on vm1, node2 on vm2, an underlay on each
    spaces = _lab_namespaces(lab)
    assert f"{lab}-node1" in spaces and f"{lab}-node2" in spaces
    assert f"{lab}-underlay-vm1" in spaces and f"{lab}-underlay-vm2" in spaces
    tunnel = _ip("-n", f"{lab}-underlay-vm1", "-d", "link", "show", "hosts0").stdout
    assert "vxlan id 4242" in tunnel and f"local {ADDRESS_A}" in tunnel and "dstport 4789" in tunnel
    # one store: either host's `get` sees the whole cluster, the other host's pods Running
    pods_a, pods_b = _get(machines, machines.a, "pods"), _get(machines, machines.b, "pods")
    assert sorted(pods_a) == sorted(pods_b)
    web = next(name for name in pods_a if name.startswith("web-"))
    assert until(lambda: _get(machines, machines.a, "pods")[web]["status"]["phase"] == "Running", timeout=20)
    cluster_ip = _get(machines, machines.a, "services")["web"]["spec"]["clusterIP"]

    def answered():
        done = subprocess.run(["ip", "netns", "exec", f"{lab}-default.curl", "curl", "-s", "-m", "2",
                               f"http://{cluster_ip}/"], capture_output=True, text=True)
        return done.stdout if done.returncode == 0 else ""
    # node1's kube-proxy (vm1's supervisor) learns the endpoint vm2's kubelet reports
    reply = until(answered, timeout=30)
    assert f"Hostname: {web}" in reply
    curl_ip = _get(machines, machines.a, "pods")["curl"]["status"]["podIP"]
    assert f"RemoteAddr: {curl_ip}:" in reply          # across the tunnel, still no NAT between pods

    # `down` on each host removes only what that host owns
    machines.netlab(machines.b, "down")
    left = _lab_namespaces(lab)
    assert f"{lab}-node2" not in left and f"{lab}-underlay-vm2" not in left
    assert f"{lab}-node1" in left and f"{lab}-underlay-vm1" in left and f"{lab}-default.curl" in left
    assert "web-" not in " ".join(left)
    machines.netlab(machines.a, "down")
    assert _lab_namespaces(lab) == []
    stored = machines.in_machine(machines.a, "curl", "-s", f"http://{ADDRESS_A}:{machines.port}/v3/kv/range",
                                 "-d", json.dumps({"key": "L25ldGxhYi8=", "range_end": "L25ldGxhYjA="})).stdout
    assert '"kvs"' not in stored                        # the last host out took the lab's state along


def test_with_the_labs_etcd_gone_each_hosts_down_still_takes_its_own_part_and_says_so(machines):
    lab = machines.lab
    machines.netlab(machines.a, "up", "-f", machines.manifest)
    machines.netlab(machines.b, "up", "-f", machines.manifest)
    machines.etcd.kill()
    machines.etcd.wait()
    said = machines.netlab(machines.b, "down", check=False)
    assert said.returncode == 1 and len(said.stderr.strip().splitlines()) == 1, said.stderr
    assert "is down all the same" in said.stderr and f"{lab}@vm2" in said.stderr
    left = _lab_namespaces(lab)
    assert f"{lab}-node2" not in left and f"{lab}-underlay-vm2" not in left and f"{lab}-node1" in left
    machines.netlab(machines.a, "down", check=False)
    assert _lab_namespaces(lab) == []
