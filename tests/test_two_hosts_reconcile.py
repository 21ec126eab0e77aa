"""A lab across hosts, decided without root: the lab file's spec.hosts, which nodes each machine
runs, and what one machine's pass builds and writes (its own nodes' pods and rules only), while
the endpoints it programs come from what the other host's kubelet published."""

import random

import pytest

from netlab import lab as lab_mod
from netlab import manifest, names, state, store
from netlab.cluster.topology import build_topology
from netlab.manifest.errors import ManifestError
from netlab.runtime.spec import ContainerStatus, PodStatus
from tests.fakes import FakeMachine
from tests.workloads import client_pod, documents, service, whoami_on

CLUSTER = {"spec": {"nodes": 2, "hosts": [{"name": "vm1", "address": "192.168.56.10", "nodes": ["node1"]},
                                          {"name": "vm2", "address": "192.168.56.11", "nodes": ["node2"]}]}}

WEB = documents(whoami_on("node2", replicas=1), client_pod("curl", "node1"), service("web"))


def _error(spec):
    with pytest.raises(ManifestError) as info:
        manifest.lab_config({"spec": spec})
    return str(info.value)


def test_hosts_place_nodes_and_default_the_store_to_the_first_hosts_etcd():
    config = manifest.lab_config({"spec": {"nodes": 3, "hosts": [{"name": "vm1", "address": "192.168.56.10"},
                                                                  {"name": "vm2", "address": "192.168.56.11"}]}})
    assert [h.nodes for h in config.hosts] == [("node1", "node2"), ("node3",)]
    assert config.store_etcd == "http://192.168.56.10:2379"
    assert manifest.lab_config({"spec": {}}).hosts == () and manifest.lab_config({"spec": {}}).store_etcd is None


def test_a_bad_hosts_list_names_its_field():
    assert "spec.hosts[0].nodes[0]: no node \"node3\"" in _error(
        {"nodes": 2, "hosts": [{"name": "vm1", "address": "192.168.56.10", "nodes": ["node3", "node1", "node2"]}]})
    assert "spec.hosts[0].address: host address 172.18.0.9 is inside the lab's underlay" in _error(
        {"hosts": [{"name": "vm1", "address": "172.18.0.9"}]})
    assert "spec.hosts: node node2 is on no host" in _error(
        {"nodes": 2, "hosts": [{"name": "vm1", "address": "192.168.56.10", "nodes": ["node1"]}]})
    assert "spec.hosts[1].nodes[0]: node \"node1\" is already on host \"vm1\"" in _error(
        {"nodes": 2, "hosts": [{"name": "vm1", "address": "192.168.56.10", "nodes": ["node1", "node2"]},
                               {"name": "vm2", "address": "192.168.56.11", "nodes": ["node1"]}]})
    assert "spec.store.etcd: a lab on one machine keeps its state in a file" in _error({"store": {"etcd": "http://x:1"}})
    assert "spec.podNetwork: a lab across hosts" in _error(dict(CLUSTER["spec"], podNetwork="vxlan"))


def test_each_host_runs_its_own_nodes_and_the_first_one_the_clients_and_the_gateway():
    config = manifest.lab_config(CLUSTER)
    one, two = build_topology("t", config, "vm1"), build_topology("t", config, "vm2")
    assert [n.name for n in one.local_nodes] == ["node1"] and [n.name for n in two.local_nodes] == ["node2"]
    assert one.local_clients and not two.local_clients
    assert one.gateway_host and not two.gateway_host
    assert (one.underlay_netns, two.underlay_netns) == ("t-underlay-vm1", "t-underlay-vm2")
    assert (one.owner, two.owner) == ("t@vm1", "t@vm2")
    assert one.pod_mtu == 1450                           # the tunnel between the hosts takes 50 bytes
    single = build_topology("t", manifest.lab_config({"spec": {}}))
    assert single.local_nodes == single.nodes and single.owner == "t" and single.underlay_netns == "t-underlay"


def test_the_host_is_named_by_netlab_host_or_by_the_lab_record(tmp_path, monkeypatch):
    monkeypatch.setattr(names, "RUN_DIR", tmp_path)
    config = manifest.lab_config(CLUSTER)
    monkeypatch.setenv("NETLAB_HOST", "vm2")
    assert lab_mod.local_host("t", config) == "vm2"
    monkeypatch.setenv("NETLAB_HOST", "vm9")
    with pytest.raises(lab_mod.LabError, match="none of lab 't'.s hosts"):
        lab_mod.local_host("t", config)
    monkeypatch.delenv("NETLAB_HOST")
    (tmp_path / "t").mkdir()
    (tmp_path / "t" / lab_mod.HOST_FILE).write_text("vm1\n")
    assert lab_mod.local_host("t", config) == "vm1"


@pytest.fixture
def host(tmp_path, monkeypatch):
    """One host of a two-host lab (vm1: node1), its store the file one (the store's kind is
    state_etcd.py's business; the decisions here are the same over either)."""
    monkeypatch.setattr(names, "RUN_DIR", tmp_path)
    monkeypatch.setenv("NETLAB_HOST", "vm1")
    st = state.LabState(lab="t", config=CLUSTER)
    api = store.EmbeddedStore(st, 1000.0, random.Random(1))
    for obj in manifest.loads(WEB, "web.yaml").objects:
        api.apply(obj.raw)
    return st, FakeMachine("t")


def _reconcile(st, machine):
    report = lab_mod.Report(lab="t", topology=lab_mod.topology_of("t", st.config))
    lab_mod.reconcile("t", st, report, rng=random.Random(1), wait_ready=0, ensure_network=False, machine=machine)
    return report


def _web(st):
    return next(r for k, r in st.pods.items() if k.startswith("default/web-"))


def test_a_host_builds_only_its_own_nodes_pods_and_writes_only_its_own_nodes_rules(host):
    st, machine = host
    _reconcile(st, machine)
    assert {node for _, node, _ in machine.wired} == {"node1"}          # curl and a DNS pod, not web
    assert _web(st)["phase"] == lab_mod.BUILDING                          # recorded, for vm2 to build
    assert [ns for jobs in machine.proxy.restores for ns, _, _ in jobs] == ["t-node1"]
    _reconcile(st, machine)
    assert machine.torn_down == []          # another host's pod is never torn down here


def test_the_other_hosts_published_status_puts_its_pod_in_this_hosts_rules(host):
    st, machine = host
    _reconcile(st, machine)
    web = _web(st)
    nat = "".join(text for jobs in machine.proxy.restores for _, text, _ in jobs)
    assert web["ip"] not in nat                                           # not built yet: no endpoint
    # vm2 built it and its kubelet published what it sees
    web["phase"] = lab_mod.RUNNING
    assert lab_mod.publish_status(web, PodStatus(owner_pid=7, owner_alive=True, containers=[
        ContainerStatus("whoami", "running", pid=8, started_at=1.0)]))
    assert not lab_mod.publish_status(web, lab_mod.status_from_record(web))   # the same again: no change
    _reconcile(st, machine)
    nat = "".join(text for jobs in machine.proxy.restores for _, text, _ in jobs)
    assert f"--to-destination {web['ip']}:80" in nat
    assert machine.torn_down == []
