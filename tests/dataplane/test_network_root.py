"""netlab.dataplane.network on real namespaces: a batch of pods wired through one socket per node."""

import os
import secrets
from types import SimpleNamespace

import pytest

from netlab import names
from netlab.cluster.topology import build_topology
from netlab.dataplane import netns, network

pytestmark = pytest.mark.root


@pytest.fixture
def topology():
    lab = f"nlnw{secrets.token_hex(2)}"
    config = SimpleNamespace(underlay="172.18.0.0/16", pod_cidr="10.244.0.0/16", node_cidr_mask_size=24,
                             nodes=[SimpleNamespace(name="node1", labels={}, ip=None)], clients=[],
                             node_port_range=(30000, 32767), service_cidr="10.96.0.0/12")
    topo = build_topology(lab, config)
    try:
        yield topo
    finally:
        for name in netns.list_names(names.lab_prefix(lab)):
            netns.delete(name)


def test_a_batch_wires_its_pods_through_one_node_socket_and_closes_it(topology):
    network.ensure_underlay(topology)
    node = topology.nodes[0]
    network.ensure_node(topology, node)
    fds_before = len(os.listdir("/proc/self/fd"))
    pods = [(names.pod_netns(topology.lab, "default", f"p{i}"), f"vethnw{i:04d}", f"10.244.1.{i + 2}")
            for i in range(3)]
    with network.pods_batch():
        for pod_ns, veth, ip in pods:
            network.ensure_pod_network(topology, node, pod_ns, veth, ip)
        assert len(network._batch_sockets) == 1          # node1's, shared by the three pods
    assert network._batch_sockets is None
    assert len(os.listdir("/proc/self/fd")) == fds_before   # closed: nothing pins the node's namespace
    for pod_ns, _, ip in pods:
        assert f"{ip}/24" in network.addresses(pod_ns)["eth0"]


def _neighbours(namespace: str, ifname: str) -> dict:
    """IP -> (MAC, state) of NAMESPACE's neighbour entries on IFNAME."""
    with network.rtnl(namespace) as ipr:
        index = ipr.link_lookup(ifname=ifname)[0]
        return {n.get_attr("NDA_DST"): (n.get_attr("NDA_LLADDR"), n["state"])
                for n in ipr.get_neighbours(ifindex=index) if n.get_attr("NDA_LLADDR")}


def _mac(namespace: str, ifname: str) -> str:
    with network.rtnl(namespace) as ipr:
        return ipr.get_links(ipr.link_lookup(ifname=ifname)[0])[0].get_attr("IFLA_ADDRESS")


def test_a_pods_arp_entries_are_pinned_on_both_sides_and_its_own_goes_with_it(topology):
    network.ensure_underlay(topology)
    node = topology.nodes[0]
    network.ensure_node(topology, node)
    pod_ns, veth, ip = names.pod_netns(topology.lab, "default", "pinned"), "vethnwpin", "10.244.1.7"
    network.ensure_pod_network(topology, node, pod_ns, veth, ip)
    assert _mac(pod_ns, "eth0") == network.pod_mac(ip) == "0a:58:0a:f4:01:07"
    assert _neighbours(node.netns, "cni0")[ip] == (network.pod_mac(ip), network.NUD_PERMANENT)
    assert _neighbours(pod_ns, "eth0")[node.gateway] == (_mac(node.netns, "cni0"), network.NUD_PERMANENT)
    network.ensure_pod_network(topology, node, pod_ns, veth, ip)     # a re-run rewrites, never fails
    network.remove_pod_network(node.netns, pod_ns, veth, [ip])
    assert ip not in _neighbours(node.netns, "cni0")
    network.remove_pod_network(node.netns, pod_ns, veth, [ip])       # and so does a second removal
