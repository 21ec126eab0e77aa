"""The lab's fixed network layout: underlay, nodes, clients and address ranges (DESIGN.md §3)."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

from netlab import names

UNDERLAY_MTU = 1500     # the nodes' eth0 (a veth's default)
VXLAN_OVERHEAD = 50     # outer Ethernet 14 + IP 20 + UDP 8 + VXLAN 8 (flannel's encapOverhead)


@dataclass(frozen=True)
class Node:
    name: str
    index: int                       # 1-based, as in node1, node2
    ip: str                          # underlay address (InternalIP)
    pod_cidr: ipaddress.IPv4Network
    labels: dict = field(default_factory=dict, hash=False, compare=False)
    netns: str = ""

    @property
    def gateway(self) -> str:
        """The pod CIDR's first address, on cni0 (the CNI bridge plugin's calcGatewayIP)."""
        return str(self.pod_cidr.network_address + 1)


@dataclass(frozen=True)
class Client:
    name: str
    ip: str
    netns: str


@dataclass(frozen=True)
class Topology:
    lab: str
    underlay: ipaddress.IPv4Network
    underlay_gateway: str            # on the underlay bridge: the nodes' (dead-end) default route
    cluster_cidr: ipaddress.IPv4Network
    service_cidr: ipaddress.IPv4Network
    node_port_range: tuple
    nodes: tuple
    clients: tuple
    load_balancer_pool: tuple = ()   # (first, last) address of the LoadBalancer pool
    pod_network: str = "host-gw"     # spec.podNetwork: flannel's host-gw or vxlan backend
    underlay_mtu: int = UNDERLAY_MTU

    def node(self, name: str) -> Node:
        for node in self.nodes:
            if node.name == name:
                return node
        raise KeyError(name)

    @property
    def underlay_netns(self) -> str:
        return names.underlay_netns(self.lab)

    @property
    def prefixlen(self) -> int:
        return self.underlay.prefixlen

    @property
    def pod_mtu(self) -> int:
        """cni0's and every pod veth's MTU: flannel's FLANNEL_MTU (the underlay's, less the VXLAN
        header under vxlan: network.MTU() in flannel's pkg/backend/vxlan/vxlan_network.go)."""
        return self.underlay_mtu - (VXLAN_OVERHEAD if self.pod_network == "vxlan" else 0)


def build_topology(lab: str, config) -> Topology:
    """Lay out the lab from its Cluster settings: node k gets underlay .k+1 and pod CIDR #k."""
    underlay = ipaddress.ip_network(str(config.underlay))
    cluster_cidr = ipaddress.ip_network(str(config.pod_cidr))
    subnets = cluster_cidr.subnets(new_prefix=config.node_cidr_mask_size)
    next(subnets)  # kubeadm + flannel hand out 10.244.1.0/24 to the first node: skip subnet #0
    nodes = []
    for index, spec in enumerate(config.nodes, start=1):
        node_labels = {"kubernetes.io/hostname": spec.name, "kubernetes.io/os": "linux"}
        node_labels.update(spec.labels or {})
        nodes.append(Node(
            name=spec.name, index=index, ip=str(getattr(spec, "ip", None) or underlay.network_address + index + 1),
            pod_cidr=next(subnets), labels=node_labels, netns=names.node_netns(lab, spec.name)))
    clients = tuple(Client(c.name, str(c.ip), names.client_netns(lab, c.name)) for c in config.clients)
    low, high = config.node_port_range
    return Topology(
        lab=lab, underlay=underlay, underlay_gateway=str(underlay.network_address + 1),
        cluster_cidr=cluster_cidr, service_cidr=ipaddress.ip_network(str(config.service_cidr)),
        node_port_range=(low, high), nodes=tuple(nodes), clients=clients,
        load_balancer_pool=tuple(str(a) for a in (getattr(config, "load_balancer_pool", None) or ())),
        pod_network=getattr(config, "pod_network", None) or "host-gw")
