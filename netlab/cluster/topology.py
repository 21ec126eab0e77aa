"""The lab's fixed network layout: underlay, nodes, clients and address ranges (DESIGN.md §3).

On a dual-stack lab every address has an IPv6 twin at the same offset: node k is ::k+1 of the IPv6
underlay as it is .k+1 of the IPv4 one, a client keeps its offset (172.18.0.100 and ::64), and node
k's pod range is subnet #k of each pod CIDR (10.244.1.0/24 and fd00:10:244:1::/64 for node1). An
IPv6-only lab has no IPv4 pod or Service range: its nodes and clients keep their IPv4 underlay
address (the docker network of kind's ipv6 mode has one too), nothing else of it has one.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import Optional

from netlab import names

UNDERLAY_MTU = 1500     # the nodes' eth0 (a veth's default)
VXLAN_OVERHEAD = 50     # outer Ethernet 14 + IP 20 + UDP 8 + VXLAN 8 (flannel's encapOverhead)


@dataclass(frozen=True)
class Node:
    name: str
    index: int                       # 1-based, as in node1, node2
    ip: str                          # IPv4 underlay address (InternalIP, but on an IPv6-only lab)
    pod_cidr: Optional[ipaddress.IPv4Network]   # None on an IPv6-only lab
    labels: dict = field(default_factory=dict, hash=False, compare=False)
    netns: str = ""
    ip6: Optional[str] = None        # dual-stack: its IPv6 underlay address (a second InternalIP)
    pod_cidr6: Optional[ipaddress.IPv6Network] = None
    host: Optional[str] = None       # spec.hosts: the machine it runs on (None: a one-machine lab)

    @property
    def gateway(self) -> Optional[str]:
        """The pod CIDR's first address, on cni0 (the CNI bridge plugin's calcGatewayIP); None on an
        IPv6-only lab."""
        return None if self.pod_cidr is None else str(self.pod_cidr.network_address + 1)

    def internal_ips(self, families: tuple) -> list:
        """The node's InternalIP addresses, in FAMILIES' order (kubelet's --node-ip order)."""
        return [ip for ip in (self.ip6 if family == "IPv6" else self.ip for family in families) if ip]

    @property
    def gateway6(self) -> Optional[str]:
        """The IPv6 pod CIDR's first address, on cni0 beside the IPv4 one (None: single-stack)."""
        return None if self.pod_cidr6 is None else str(self.pod_cidr6.network_address + 1)


@dataclass(frozen=True)
class Client:
    name: str
    ip: str
    netns: str
    ip6: Optional[str] = None        # dual-stack: the same offset in the IPv6 underlay


@dataclass(frozen=True)
class Topology:
    lab: str
    underlay: ipaddress.IPv4Network
    underlay_gateway: str            # on the underlay bridge: the nodes' (dead-end) default route
    cluster_cidr: Optional[ipaddress.IPv4Network]     # None (and service_cidr too) on an IPv6-only lab
    service_cidr: Optional[ipaddress.IPv4Network]
    node_port_range: tuple
    nodes: tuple
    clients: tuple
    load_balancer_pool: tuple = ()   # (first, last) address of the LoadBalancer pool
    pod_network: str = "host-gw"     # spec.podNetwork: flannel's host-gw or vxlan backend
    underlay_mtu: int = UNDERLAY_MTU
    ip_families: tuple = ("IPv4",)   # spec.ipFamilies; the IPv6 ranges below are None on a single-stack lab
    cluster_cidr6: Optional[ipaddress.IPv6Network] = None
    service_cidr6: Optional[ipaddress.IPv6Network] = None
    underlay6: Optional[ipaddress.IPv6Network] = None
    underlay_gateway6: Optional[str] = None
    hosts: tuple = ()                # spec.hosts: (name, address) of each machine the lab spans
    host: Optional[str] = None       # which of them this is (None: a one-machine lab, or not one of them)

    def node(self, name: str) -> Node:
        for node in self.nodes:
            if node.name == name:
                return node
        raise KeyError(name)

    @property
    def underlay_netns(self) -> str:
        """This machine's underlay namespace: a lab across hosts has one on each, named after it
        (so that two hosts' can stand side by side on one machine, as the tests put them)."""
        return names.underlay_netns(self.lab, self.host if self.hosts else None)

    @property
    def owner(self) -> str:
        """The tag this machine's namespaces of the lab carry (network.ensure_namespace): the lab's
        name, and on a lab across hosts LAB@HOST, so each host's `down` takes only its own."""
        return self.lab if not self.hosts else f"{self.lab}@{self.host}"

    @property
    def local_nodes(self) -> tuple:
        """The nodes this machine runs: all of them, unless the lab spans hosts."""
        if not self.hosts:
            return self.nodes
        return tuple(n for n in self.nodes if n.host == self.host)

    @property
    def local_clients(self) -> tuple:
        """The clients this machine runs: a lab across hosts keeps them on its first host."""
        if not self.hosts or self.host == self.hosts[0][0]:
            return self.clients
        return ()

    def is_local(self, node_name: str | None) -> bool:
        """Whether node NODE_NAME runs here (this machine acts on its namespaces and pods)."""
        if not self.hosts:
            return True
        return any(n.name == node_name and n.host == self.host for n in self.nodes)

    @property
    def gateway_host(self) -> bool:
        """Whether this machine's underlay bridge holds the underlay's gateway address: one host
        of a lab across hosts does (two would answer for one address on the joined segment)."""
        return not self.hosts or self.host == self.hosts[0][0]

    @property
    def prefixlen(self) -> int:
        return self.underlay.prefixlen

    @property
    def dual_stack(self) -> bool:
        """True when the lab runs IPv6 (beside IPv4, or alone): the underlay, the nodes and the
        clients then have IPv6 addresses beside their IPv4 ones."""
        return "IPv6" in self.ip_families

    @property
    def ipv4(self) -> bool:
        """True when pods and Services have IPv4 addresses (all labs but an IPv6-only one)."""
        return "IPv4" in self.ip_families

    @property
    def primary_family(self) -> str:
        """spec.ipFamilies[0]: the family of a pod's podIP and of a SingleStack Service's clusterIP."""
        return self.ip_families[0]

    def service_cidrs(self) -> dict:
        """family -> Service range, the primary family first."""
        return {f: self.service_cidr6 if f == "IPv6" else self.service_cidr for f in self.ip_families}

    @property
    def pod_mtu(self) -> int:
        """cni0's and every pod veth's MTU: flannel's FLANNEL_MTU (the underlay's, less the VXLAN
        header under vxlan: network.MTU() in flannel's pkg/backend/vxlan/vxlan_network.go)."""
        return self.underlay_mtu - (VXLAN_OVERHEAD if self.pod_network == "vxlan" else 0)


def _node_subnets(cidr, prefixlen: int):
    """Node k's pod range is subnet #k of CIDR: kubeadm + flannel hand out 10.244.1.0/24 to the first
    node, so subnet #0 is skipped (for IPv6 too: fd00:10:244:1::/64 is node1's)."""
    subnets = cidr.subnets(new_prefix=prefixlen)
    next(subnets)
    return subnets


def _same_offset(address: str, network, twin) -> str:
    """The address of TWIN at the offset ADDRESS has in NETWORK (172.18.0.100 -> fc00:...::64)."""
    return str(twin.network_address + (int(ipaddress.ip_address(address)) - int(network.network_address)))


def build_topology(lab: str, config, host: Optional[str] = None) -> Topology:
    """Lay out the lab from its Cluster settings: node k gets underlay .k+1 and pod CIDR #k (and on a
    dual-stack lab ::k+1 of the IPv6 underlay and IPv6 pod CIDR #k). HOST: which of spec.hosts this
    machine is, for a lab across hosts."""
    underlay = ipaddress.ip_network(str(config.underlay))
    cluster_cidr = ipaddress.ip_network(str(config.pod_cidr)) if config.pod_cidr is not None else None
    subnets = _node_subnets(cluster_cidr, config.node_cidr_mask_size) if cluster_cidr is not None else None
    underlay6, cluster_cidr6 = getattr(config, "underlay6", None), getattr(config, "pod_cidr6", None)
    subnets6 = None
    if cluster_cidr6 is not None:
        subnets6 = _node_subnets(cluster_cidr6, getattr(config, "node_cidr_mask_size6", 64))
    hosts = tuple(getattr(config, "hosts", None) or ())
    host_of = {node: h.name for h in hosts for node in h.nodes}
    nodes = []
    for index, spec in enumerate(config.nodes, start=1):
        node_labels = {"kubernetes.io/hostname": spec.name, "kubernetes.io/os": "linux"}
        node_labels.update(spec.labels or {})
        ip = str(getattr(spec, "ip", None) or underlay.network_address + index + 1)
        nodes.append(Node(
            name=spec.name, index=index, ip=ip, pod_cidr=next(subnets) if subnets else None, labels=node_labels,
            netns=names.node_netns(lab, spec.name),
            ip6=str(underlay6.network_address + index + 1) if underlay6 is not None else None,
            pod_cidr6=next(subnets6) if subnets6 is not None else None, host=host_of.get(spec.name)))
    clients = tuple(Client(c.name, str(c.ip), names.client_netns(lab, c.name),
                           _same_offset(str(c.ip), underlay, underlay6) if underlay6 is not None else None)
                    for c in config.clients)
    low, high = config.node_port_range
    service_cidr6 = getattr(config, "service_cidr6", None)
    return Topology(
        lab=lab, underlay=underlay, underlay_gateway=str(underlay.network_address + 1),
        cluster_cidr=cluster_cidr,
        service_cidr=ipaddress.ip_network(str(config.service_cidr)) if config.service_cidr is not None else None,
        node_port_range=(low, high), nodes=tuple(nodes), clients=clients,
        load_balancer_pool=tuple(str(a) for a in (getattr(config, "load_balancer_pool", None) or ())),
        pod_network=getattr(config, "pod_network", None) or "host-gw",
        ip_families=tuple(getattr(config, "ip_families", None) or ("IPv4",)),
        cluster_cidr6=cluster_cidr6, service_cidr6=service_cidr6, underlay6=underlay6,
        underlay_gateway6=str(underlay6.network_address + 1) if underlay6 is not None else None,
        hosts=tuple((h.name, str(h.address)) for h in hosts), host=host if hosts else None,
        # the hosts' underlays are joined by a VXLAN tunnel: its 50 bytes come off every frame
        underlay_mtu=UNDERLAY_MTU - VXLAN_OVERHEAD if hosts else UNDERLAY_MTU)


def pod_ips(pod, families: tuple) -> list:
    """POD's addresses (a PodInstance, or a pod record's dict) in FAMILIES' order: status.podIPs.
    The first is its podIP."""
    get = pod.get if isinstance(pod, dict) else (lambda key: getattr(pod, key, None))
    return [ip for ip in (get("ip6") if family == "IPv6" else get("ip") for family in families) if ip]
