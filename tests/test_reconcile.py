"""The controllers' pass (netlab.lab.reconcile) without root, over an in-memory machine: what it
builds, what it rebuilds, what it only marks for the kubelet, and what kube-proxy then writes."""

import random

import pytest

from netlab import lab as lab_mod
from netlab import manifest, names, state, store
from tests.fakes import FakeMachine, pod_dir_of

WEB = """\
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: REPLICAS
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers: [{name: web, image: nginx, ports: [{containerPort: 80}]}]
---
apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  selector: {app: web}
  ports: [{port: 80}]
"""


@pytest.fixture
def lab(tmp_path, monkeypatch):
    monkeypatch.setattr(names, "RUN_DIR", tmp_path)
    st = state.LabState(lab="t")
    return st, FakeMachine("t")


def apply(lab, replicas, seed=1):
    """What `netlab apply` does: store the objects, then one reconcile pass."""
    st, machine = lab
    api = store.EmbeddedStore(st, 1000.0 + seed, random.Random(seed))
    for obj in manifest.loads(WEB.replace("REPLICAS", str(replicas)), "web.yaml").objects:
        api.apply(obj.raw)
    return reconcile(lab, seed)


def reconcile(lab, seed=1):
    st, machine = lab
    report = lab_mod.Report(lab="t", topology=lab_mod.topology_of("t", st.config))
    lab_mod.reconcile("t", st, report, rng=random.Random(seed), wait_ready=0, ensure_network=False,
                      machine=machine)
    return report


def live(st):
    return sorted(k for k, r in st.pods.items() if not r.get("deletionTimestamp"))


def test_a_new_lab_builds_its_network_and_every_pod_and_kube_proxy_writes_both_nodes(lab):
    st, machine = lab
    report = apply(lab, 3)
    assert machine.network_built == 1                          # no namespace yet: it is built
    assert len(machine.started) == 3 and sorted(report.created) == live(st)
    assert {node for _, node, _ in machine.wired} == {"node1", "node2"}
    (rs,) = st.replicasets.values()
    assert all(r["owner_uid"] == rs["uid"] for r in st.pods.values())
    (jobs,) = machine.proxy.restores
    assert [ns for ns, _, _ in jobs] == ["t-node1", "t-node2"]
    assert all(r["phase"] == "running" for r in st.pods.values())


def test_running_it_again_changes_nothing(lab):
    st, machine = lab
    apply(lab, 3)
    report = reconcile(lab, 2)
    assert report.created == [] and report.deleted == [] and len(machine.started) == 3
    assert len(machine.proxy.restores) == 1


def test_a_dead_sandbox_is_rebuilt_under_its_name_and_ip(lab):
    st, machine = lab
    apply(lab, 3)
    victim = sorted(st.pods)[0]
    before = dict(st.pods[victim])
    machine.dead.add(before["name"])
    report = reconcile(lab, 3)
    assert machine.torn_down == [before["name"]]
    assert report.created == [victim]
    assert st.pods[victim]["ip"] == before["ip"] and st.pods[victim]["uid"] == before["uid"]


def test_scaling_down_only_marks_the_surplus_for_the_kubelet(lab):
    st, machine = lab
    apply(lab, 3)
    report = apply(lab, 1, seed=4)
    assert len(report.deleted) == 2 and machine.torn_down == []
    assert all(st.pods[k]["deletionTimestamp"] for k in report.deleted)
    assert len(live(st)) == 1
    # the marked pods leave the Service's endpoints at once: its chain keeps one endpoint, two go
    text = machine.proxy.restores[-1][0][1]
    assert text.count("-X KUBE-SEP-") == 2
    assert len([line for line in text.splitlines() if line.startswith("-A KUBE-SVC-")]) == 2   # masq + 1 SEP


def test_a_pod_whose_container_stopped_leaves_the_endpoints_but_stays_in_its_replicaset(lab):
    st, machine = lab
    apply(lab, 2)
    key = sorted(st.pods)[0]
    machine.proxy.stopped.add(pod_dir_of("t", st.pods[key]))
    report = reconcile(lab, 5)
    assert report.created == [] and report.deleted == []
    ready = {e["targetRef"]["name"]: e["conditions"]["ready"] for s in st.allocations["view"]["slices"]
             for e in s["endpoints"]}
    assert ready[st.pods[key]["name"]] is False and sum(ready.values()) == 1


def test_a_lab_with_more_nodes_than_the_kernels_arp_table_holds_is_warned_about_with_the_sysctl(tmp_path):
    from netlab.lab import neighbour_warning
    from netlab.manifest import lab_config
    from netlab.cluster.topology import build_topology
    limit = tmp_path / "gc_thresh3"
    limit.write_text("1024\n")
    # a pod's entries are pinned, so only the nodes count: ten are far from it, forty go past it
    assert neighbour_warning(build_topology("lab", lab_config({"spec": {"nodes": 10}})), str(limit)) is None
    big = build_topology("lab", lab_config({"spec": {"nodes": 40}}))
    said = neighbour_warning(big, str(limit))
    assert "gc_thresh3" in said and "keeps 1024" in said and "sysctl -w net.ipv4.neigh.default.gc_thresh1=" in said
    assert neighbour_warning(big, str(tmp_path / "absent")) is None


def test_every_running_dns_pod_gets_the_records_of_the_services_and_pods(lab):
    from netlab.cluster import addons
    st, machine = lab
    api = store.EmbeddedStore(st, 1000.0, random.Random(1))
    for raw in addons.cluster_dns_objects("10.96.0.10"):
        api.create(raw)
    apply(lab, 2)
    dns_pods = sorted(k for k in st.pods if k.startswith("kube-system/coredns-"))
    assert len(dns_pods) == 2
    written = {pod_dir_of("t", st.pods[k]) for k in dns_pods}
    assert set(machine.dns_records) == written
    text = machine.dns_records[written.pop()]
    web_ip = next(s for s in st.allocations["view"]["services"] if s["metadata"]["name"] == "web")["spec"]["clusterIP"]
    assert f"web.default.svc.cluster.local. 30 IN A {web_ip}\n" in text
    assert "kube-dns.kube-system.svc.cluster.local. 30 IN A 10.96.0.10\n" in text
    for key, record in st.pods.items():
        assert f"{record['ip'].replace('.', '-')}.{record['namespace']}.pod.cluster.local. 30 IN A {record['ip']}\n" in text
    # the web pods look names up there; the DNS pods themselves (dnsPolicy Default) do not
    web = next(k for k in st.pods if k.startswith("default/web-")).split("/")[1]
    assert "nameserver 10.96.0.10\n" in machine.resolv_conf[web]
    assert "nameserver" not in machine.resolv_conf[dns_pods[0].split("/")[1]]
