"""A dual-stack lab's layout and pods: IPv6 twins of every node and client address, an IPv6 pod range
per node, host-local's IPv6 allocation, and pods with one address of each family."""

import ipaddress
import random

import pytest

from netlab.cluster import controllers, ipam
from netlab.cluster.topology import build_topology
from netlab.manifest import loads
from netlab.manifest.model import Container, LabConfig, ObjectMeta, Pod, PodSpec

HEAD = "apiVersion: netlab.io/v1alpha1\nkind: Cluster\n"
CIDR6 = ipaddress.ip_network("fd00:10:244:1::/64")


def _dual(spec=""):
    return build_topology("t", loads(HEAD + "spec:\n  ipFamilies: [IPv4, IPv6]\n" + spec, "lab.yaml").lab)


def test_node_k_is_k_plus_one_of_the_ipv6_underlay_and_has_ipv6_pod_subnet_k():
    topo = _dual("  nodes: 3\n")
    assert [(n.name, n.ip, n.ip6, str(n.pod_cidr6), n.gateway6) for n in topo.nodes] == [
        ("node1", "172.18.0.2", "fc00:f853:ccd:e793::2", "fd00:10:244:1::/64", "fd00:10:244:1::1"),
        ("node2", "172.18.0.3", "fc00:f853:ccd:e793::3", "fd00:10:244:2::/64", "fd00:10:244:2::1"),
        ("node3", "172.18.0.4", "fc00:f853:ccd:e793::4", "fd00:10:244:3::/64", "fd00:10:244:3::1"),
    ]
    assert [str(n.pod_cidr) for n in topo.nodes] == ["10.244.1.0/24", "10.244.2.0/24", "10.244.3.0/24"]


def test_a_client_keeps_its_ipv4_offset_in_the_ipv6_underlay():
    topo = _dual("  clients: [{name: client}, {name: laptop, ip: 172.18.1.10}]\n")
    assert [(c.name, c.ip, c.ip6) for c in topo.clients] == [
        ("client", "172.18.0.100", "fc00:f853:ccd:e793::64"),
        ("laptop", "172.18.1.10", "fc00:f853:ccd:e793::10a")]


def test_the_topology_carries_the_ipv6_ranges_and_the_underlay_gateway():
    topo = _dual()
    assert topo.dual_stack and topo.ip_families == ("IPv4", "IPv6")
    assert (str(topo.cluster_cidr6), str(topo.service_cidr6), str(topo.underlay6)) == (
        "fd00:10:244::/56", "fd00:10:96::/112", "fc00:f853:ccd:e793::/64")
    assert topo.underlay_gateway6 == "fc00:f853:ccd:e793::1"


def test_a_single_stack_topology_has_no_ipv6_at_all():
    topo = build_topology("t", LabConfig())
    assert not topo.dual_stack and topo.ip_families == ("IPv4",)
    assert (topo.cluster_cidr6, topo.service_cidr6, topo.underlay6, topo.underlay_gateway6) == (None,) * 4
    assert all(n.ip6 is None and n.pod_cidr6 is None and n.gateway6 is None for n in topo.nodes)
    assert all(c.ip6 is None for c in topo.clients)


def test_the_first_ipv6_pod_address_is_two_since_one_is_the_gateway_on_cni0():
    assert ipam.allocate(CIDR6, set(), None) == "fd00:10:244:1::2"
    assert ipam.allocate(CIDR6, {"fd00:10:244:1::2"}, "fd00:10:244:1::2") == "fd00:10:244:1::3"


def test_ipv6_allocation_goes_round_robin_past_a_freed_address():
    assert ipam.allocate(CIDR6, {"fd00:10:244:1::3"}, "fd00:10:244:1::3") == "fd00:10:244:1::4"


def test_ipv6_allocation_hands_out_the_last_address_then_wraps_for_there_is_no_broadcast():
    small = ipaddress.ip_network("fd00:10:244:1::/124")
    used = {str(small.network_address + i) for i in range(3, 15)}
    assert ipam.allocate(small, used, "fd00:10:244:1::e") == "fd00:10:244:1::f"
    assert ipam.allocate(small, used | {"fd00:10:244:1::f"}, "fd00:10:244:1::f") == "fd00:10:244:1::2"
    with pytest.raises(ipam.RangeFull):
        ipam.allocate(small, used | {"fd00:10:244:1::f", "fd00:10:244:1::2"}, "fd00:10:244:1::f")


def test_each_family_keeps_its_own_last_reserved_beside_the_ipv4_one():
    assert ipam.last_reserved_key("node1", ipaddress.ip_network("10.244.1.0/24")) == "node1"
    assert ipam.last_reserved_key("node1", CIDR6) == "node1/IPv6"


def _pods(names):
    return [Pod(meta=ObjectMeta(name), spec=PodSpec(containers=[Container(name="c", image="nginx")]),
                raw={"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
                     "spec": {"containers": [{"name": "c", "image": "nginx"}]}}) for name in names]


def test_a_pod_on_a_dual_stack_lab_gets_an_address_of_each_family_from_its_node():
    plan = controllers.plan(_pods(["a", "b", "c"]), [], _dual(), {}, rng=random.Random(1))
    placed = {p.name: (p.node, p.ip, p.ip6) for p in plan.pods}
    for node, ip, ip6 in placed.values():
        k = node[-1]
        assert ip.startswith(f"10.244.{k}.") and ip6.startswith(f"fd00:10:244:{k}::")
        assert ip.split(".")[-1] == ip6.split(":")[-1]         # both ranges count from 2 in step
    assert plan.last_reserved["node1/IPv6"].startswith("fd00:10:244:1::")
    assert {k for k in plan.last_reserved if "/" not in k} == {"node1", "node2"}


def test_ipv6_addresses_continue_after_the_last_reserved_one_across_passes():
    topo = _dual("  nodes: 1\n")
    first = controllers.plan(_pods(["a"]), [], topo, {}, rng=random.Random(1))
    later = controllers.plan(_pods(["b"]), [], topo, first.last_reserved, rng=random.Random(2))
    (pod,) = later.pods
    assert (pod.ip, pod.ip6) == ("10.244.1.3", "fd00:10:244:1::3")


def test_a_single_stack_pod_has_no_ipv6_and_its_record_no_ip6_field():
    plan = controllers.plan(_pods(["a"]), [], build_topology("t", LabConfig()), {}, rng=random.Random(1))
    (pod,) = plan.pods
    assert pod.ip6 is None and "ip6" not in pod.to_dict()
    assert set(plan.last_reserved) == {pod.node}


def test_a_pod_record_from_before_dual_stack_still_loads():
    record = controllers.PodInstance("default", "a", "u", ("Pod", "default", "a"), "h", node="node1",
                                     ip="10.244.1.2").to_dict()
    assert "ip6" not in record
    assert controllers.PodInstance.from_dict(record).ip6 is None
    dual = controllers.PodInstance.from_dict({**record, "ip6": "fd00:10:244:1::2"})
    assert dual.ip6 == "fd00:10:244:1::2" and dual.to_dict()["ip6"] == "fd00:10:244:1::2"


def test_a_full_ipv6_range_leaves_the_pod_pending_without_an_ipv4_address_either():
    topo = _dual("  nodes: 1\n  podCIDR: 10.244.0.0/16,fd00:10:244::/122\n  nodeCIDRMaskSizeIPv6: 124\n")
    cidr6 = topo.nodes[0].pod_cidr6                              # ::2 to ::f: 14 addresses
    taken = [controllers.PodInstance("default", f"x{i}", f"u{i}", ("Pod", "default", f"x{i}"), "h", node="node1",
                                     ip=f"10.244.1.{i + 2}", ip6=str(cidr6.network_address + i + 2))
             for i in range(14)]
    plan = controllers.plan(_pods(["new"]), [], topo, {}, rng=random.Random(1), reserved=taken)
    (pod,) = plan.create
    assert (pod.node, pod.ip, pod.ip6) == (None, None, None)
    assert f"pod CIDR {cidr6} has no free address left" in pod.reason
