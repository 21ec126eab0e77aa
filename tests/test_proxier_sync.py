"""The lab's kube-proxy loop without root: an in-memory data plane records what each sync restores.

A node's first sync writes whole tables, a sync with nothing new writes nothing, a pod that stops
being ready rewrites only the chains that changed, and a burst of changes waits for minSyncPeriod.
In nftables mode such a change plans only the Service it touched, and writes what a render of
everything would.
"""

import pytest

from netlab import manifest, names, proxier, state
from netlab.cluster.topology import build_topology
from netlab.lab import Report
from netlab.manifest.model import KubeProxyConfig, LabConfig
from netlab.proxy.nft_render import NftSyncState
from tests.fakes import FakeDataplane

OBJECTS = [
    {"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": {"name": "web", "namespace": "default"},
     "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "web"}},
              "template": {"metadata": {"labels": {"app": "web"}},
                           "spec": {"containers": [{"name": "web", "image": "nginx",
                                                    "ports": [{"containerPort": 80}]}]}}}},
    {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web", "namespace": "default"},
     "spec": {"selector": {"app": "web"}, "ports": [{"port": 80}]}},
]


@pytest.fixture
def world(tmp_path, monkeypatch):
    monkeypatch.setattr(names, "RUN_DIR", tmp_path)
    st = state.LabState(lab="t", objects=[dict(o) for o in OBJECTS])
    topology = build_topology("t", LabConfig())
    for k, (node, ip) in enumerate([("node1", "10.244.1.2"), ("node2", "10.244.2.2"), ("node1", "10.244.1.3")]):
        st.pods[f"default/web-{k}"] = {"namespace": "default", "name": f"web-{k}", "uid": f"u{k}",
                                       "source": ["ReplicaSet", "default", "web"], "spec_hash": "x",
                                       "labels": {"app": "web"}, "owner": ["ReplicaSet", "web"], "node": node,
                                       "ip": ip, "phase": "running"}
    return st, topology, FakeDataplane()


def sync(world, min_sync_period=0.0, proxy_mode="iptables"):
    st, topology, plane = world
    config = LabConfig(kube_proxy=KubeProxyConfig(min_sync_period=min_sync_period), proxy_mode=proxy_mode)
    report = Report(lab="t", topology=topology)
    proxier.sync("t", st, topology, config, manifest.parse_objects(st.objects, validate="ignore"), report, plane)
    return report


def test_the_first_sync_writes_whole_tables_on_every_node_with_kube_proxys_spread(world):
    report = sync(world)
    (jobs,) = world[2].restores
    assert [(ns, noflush) for ns, _, noflush in jobs] == [("t-node1", False), ("t-node2", False)]
    text = jobs[0][1]
    assert text.count("-m statistic --mode random --probability 0.3333333333") == 1
    assert text.count("-m statistic --mode random --probability 0.5000000000") == 1
    assert report.rules_synced == ["node1", "node2"]
    assert report.rule_stats["node1"][0] == sum(1 for line in text.splitlines() if line.startswith("-A "))


def test_a_sync_with_nothing_new_writes_nothing(world):
    sync(world)
    report = sync(world)
    assert len(world[2].restores) == 1 and report.rules_synced == []


def test_a_pod_that_stops_rewrites_only_the_chains_that_changed(world):
    st, _, plane = world
    sync(world)
    plane.stopped.add(str(names.pod_dir("t", "default", "web-1", "u1")))
    sync(world)
    jobs = plane.restores[-1]
    assert all(noflush for _, _, noflush in jobs)
    text = jobs[0][1]
    assert "-A KUBE-SERVICES" not in text                       # untouched chains are not rewritten
    assert text.count("-X KUBE-SEP-") == 1                        # the stopped pod's endpoint chain goes
    assert "10.244.2.2" not in text and "--probability 0.5000000000" in text
    slices = st.allocations["view"]["slices"]
    ready = {e["addresses"][0]: e["conditions"]["ready"] for s in slices for e in s["endpoints"]}
    assert ready == {"10.244.1.2": True, "10.244.2.2": False, "10.244.1.3": True}


def test_in_nftables_mode_a_change_replans_only_the_changed_service(world):
    _, topology, plane = world
    proxier._NFT_MEMORY.clear()
    sync(world, proxy_mode="nftables")
    remembered = {node.name: proxier._NFT_MEMORY[("t", node.name, "IPv4")][2] for node in topology.nodes}
    first = {name: state.ruleset for name, state in remembered.items()}
    # (the next sync takes the memory's table model over and changes it in place: keep a copy)
    first_state = {name: NftSyncState(state.ruleset, state.kernel.copy(), dict(state.stale_chains))
                   for name, state in remembered.items()}
    plane.stopped.add(str(names.pod_dir("t", "default", "web-1", "u1")))
    sync(world, proxy_mode="nftables")
    (jobs,) = plane.nft_jobs[-1:]
    for (namespace, cleanup, text), node in zip(jobs, topology.nodes):
        memory = proxier._NFT_MEMORY[("t", node.name, "IPv4")]
        ruleset = memory[2].ruleset
        # made from the first sync's ruleset by updated(), with the one changed Service
        assert ruleset._base() is first[node.name] and ruleset._changed == {("default", "web")}
        assert not text.startswith("add table") and "dnat to 10.244.2.2" not in text
        assert text.endswith("tcp/__10.244.2.2/80\n") and "\nflush chain" in text   # the stopped pod's chain
        # what a render of everything and the whole walk write
        renderer = proxier.NodeRenderer(world[0].allocations["view"]["services"] + world[0].allocations["view"]["slices"],
                                        topology, LabConfig(proxy_mode="nftables"))
        whole, _ = renderer.render_nft(node)
        assert whole.digest() == ruleset.digest()
        assert whole.sync(first_state[node.name], now=0.0, reference=True).transaction == text
        assert remembered[node.name].consumed
    proxier._NFT_MEMORY.clear()


def test_a_burst_of_changes_waits_for_min_sync_period(world):
    st, _, plane = world
    sync(world, min_sync_period=1.0)
    plane.stopped.add(str(names.pod_dir("t", "default", "web-1", "u1")))
    sync(world, min_sync_period=1.0)
    plane.stopped.add(str(names.pod_dir("t", "default", "web-2", "u2")))
    report = sync(world, min_sync_period=1.0)
    assert len(plane.restores) == 2 and report.rules_synced == []
    assert report.rules_deferred_until is not None
    # the endpoints moved on at once; only the rules wait
    ready = {e["addresses"][0]: e["conditions"]["ready"] for s in st.allocations["view"]["slices"]
             for e in s["endpoints"]}
    assert ready["10.244.1.3"] is False
