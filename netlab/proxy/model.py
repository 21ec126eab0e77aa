"""The renderer's input: kube-proxy's view of one node, its Service ports and their endpoints.

These are the facts kube-proxy keeps after reading the API (``pkg/proxy/serviceport.go``,
``pkg/proxy/endpoint.go``, its configuration), not the Kubernetes objects themselves:
``objects.py`` builds them from plain object dicts, defaulting as the API server and
kube-proxy do. IP addresses here are canonical strings (``10.180.0.1``, ``fd00::1``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional, Tuple

IPV4 = "IPv4"
IPV6 = "IPv6"

# Values of ProxyConfig.detect_local_mode (kube-proxy's --detect-local-mode); "" means no
# detector (kube-proxy's NoOpLocalDetector).
DETECT_CLUSTER_CIDR = "ClusterCIDR"
DETECT_NODE_CIDR = "NodeCIDR"
DETECT_BRIDGE_INTERFACE = "BridgeInterface"
DETECT_INTERFACE_NAME_PREFIX = "InterfaceNamePrefix"
DETECT_NONE = ""
DETECT_LOCAL_MODES = (DETECT_CLUSTER_CIDR, DETECT_NODE_CIDR, DETECT_BRIDGE_INTERFACE,
                      DETECT_INTERFACE_NAME_PREFIX, DETECT_NONE)

# Values of ProxyConfig.mark_style. kube-proxy formats the mark with Go's "%#08x", which pads
# the digits to 8 (0x00004000); proxier_test.go's fake proxier uses "0x4000".
MARK_PADDED = "padded"
MARK_SHORT = "short"
MARK_STYLES = (MARK_PADDED, MARK_SHORT)


@dataclass(frozen=True)
class ProxyConfig:
    """kube-proxy's settings for one node and one IP family (one proxier)."""

    node_name: str
    # The node's IPs (its InternalIP addresses), both families allowed; the first one of
    # `family` is kube-proxy's "node IP" (used for loadBalancerSourceRanges).
    node_ips: Tuple[str, ...] = ()
    family: str = IPV4
    # clusterCIDR as in KubeProxyConfiguration: one CIDR or a comma-separated dual-stack list.
    cluster_cidr: str = ""
    detect_local_mode: str = DETECT_CLUSTER_CIDR
    node_pod_cidrs: Tuple[str, ...] = ()  # for NodeCIDR (the Node's spec.podCIDRs)
    bridge_interface: str = ""  # for BridgeInterface
    interface_name_prefix: str = ""  # for InterfaceNamePrefix
    masquerade_all: bool = False
    masquerade_bit: int = 14
    localhost_nodeports: bool = True
    # CIDRs of node addresses NodePorts answer on (--nodeport-addresses); () means all.
    node_port_addresses: Tuple[str, ...] = ()
    # Addresses on the node's interfaces, matched against node_port_addresses; None means
    # node_ips plus the loopback addresses (what `ip addr` shows on a plain node).
    interface_addresses: Optional[Tuple[str, ...]] = None
    tcp_be_liberal: bool = False  # net.netfilter.nf_conntrack_tcp_be_liberal != 0
    random_fully: bool = True  # iptables >= 1.6.2 supports MASQUERADE --random-fully
    nfacct: bool = True  # the nfacct counters exist (else the restore would fail on -m nfacct)
    mark_style: str = MARK_PADDED
    zone: str = ""  # the node's topology.kubernetes.io/zone label, for topology hints
    prefer_same_traffic_distribution: bool = True  # feature gate (node hints); beta, on

    def __post_init__(self):
        if self.family not in (IPV4, IPV6):
            raise ValueError(f"family must be {IPV4} or {IPV6}, not {self.family!r}")
        if self.detect_local_mode not in DETECT_LOCAL_MODES:
            raise ValueError(f"unknown detect_local_mode {self.detect_local_mode!r}")
        if self.mark_style not in MARK_STYLES:
            raise ValueError(f"mark_style must be one of {MARK_STYLES}, not {self.mark_style!r}")
        if not 0 <= self.masquerade_bit <= 31:
            raise ValueError(f"masquerade_bit must be within [0, 31], not {self.masquerade_bit}")


@dataclass(frozen=True)
class LoadBalancerIngress:
    """One status.loadBalancer.ingress entry that has an IP."""

    ip: str
    ip_mode: Optional[str] = None  # "VIP", "Proxy" or None (unset means VIP)


@dataclass(frozen=True)
class ServicePort:
    """One port of a Service, as kube-proxy's svcPortMap holds it (raw spec values)."""

    namespace: str
    name: str
    port_name: str
    protocol: str  # "TCP", "UDP" or "SCTP"
    cluster_ip: str  # the cluster IP of the proxier's family
    port: int
    type: str = "ClusterIP"
    node_port: int = 0
    external_ips: Tuple[str, ...] = ()
    load_balancer_ingress: Tuple[LoadBalancerIngress, ...] = ()
    load_balancer_source_ranges: Tuple[str, ...] = ()
    health_check_node_port: int = 0
    session_affinity: str = "None"  # or "ClientIP"
    session_affinity_timeout: int = 10800
    external_traffic_policy: str = "Cluster"  # "" behaves as Cluster
    internal_traffic_policy: str = "Cluster"

    @property
    def key(self) -> Tuple[str, str, str, str]:
        """What joins endpoints to this port: kube-proxy's ServicePortName."""
        return (self.namespace, self.name, self.port_name, self.protocol)

    @property
    def port_name_string(self) -> str:
        """`ServicePortName.String()`: ``ns/name:port``, or ``ns/name`` for an unnamed port."""
        base = f"{self.namespace}/{self.name}"
        return f"{base}:{self.port_name}" if self.port_name else base


@dataclass(frozen=True)
class Endpoint:
    """One endpoint of one Service port (an EndpointSlice endpoint crossed with a slice port)."""

    namespace: str
    service: str  # the kubernetes.io/service-name label of its EndpointSlice
    port_name: str
    protocol: str
    ip: str
    port: int
    ready: bool = True
    serving: bool = True
    terminating: bool = False
    node_name: Optional[str] = None
    zone_hints: Tuple[str, ...] = ()
    node_hints: Tuple[str, ...] = ()

    @property
    def key(self) -> Tuple[str, str, str, str]:
        """The ServicePort.key this endpoint belongs to."""
        return (self.namespace, self.service, self.port_name, self.protocol)


def is_ipv6(ip: str) -> bool:
    """Whether a canonical IP or CIDR string is IPv6."""
    return ":" in ip


def family_of(ip: str) -> str:
    """IPV4 or IPV6 for a canonical IP or CIDR string."""
    return IPV6 if ":" in ip else IPV4


@dataclass
class RenderInput:
    """Everything render() needs for one node, plus what could not be used and why."""

    config: ProxyConfig
    service_ports: list = field(default_factory=list)
    endpoints: list = field(default_factory=list)
    warnings: list = field(default_factory=list)


@dataclass(frozen=True)
class PortTraffic:
    """What every kube-proxy mode derives alike from a service port (newBaseServiceInfo and
    pkg/proxy/servicechangetracker's ExternalPolicyLocal/InternalPolicyLocal): this family's
    external IPs, VIP-mode LoadBalancer IPs and source ranges, and which endpoint sets it uses."""

    external_ips: list
    lb_vips: list
    source_ranges: list
    externally_accessible: bool
    external_local: bool
    internal_local: bool
    uses_cluster: bool
    uses_local: bool


def port_traffic(sp: "ServicePort", v6: bool) -> PortTraffic:
    """SP's PortTraffic for the IPv6 (V6) or IPv4 family."""
    external_ips = [ip for ip in sp.external_ips if (":" in ip) == v6]
    lb_vips = [i.ip for i in sp.load_balancer_ingress
               if i.ip and (i.ip_mode is None or i.ip_mode == "VIP") and (":" in i.ip) == v6]
    source_ranges = [r.strip() for r in sp.load_balancer_source_ranges if r.strip() and (":" in r) == v6]
    externally_accessible = bool(sp.node_port or lb_vips or external_ips)
    external_local = (sp.external_traffic_policy == "Local"
                      and (sp.type in ("NodePort", "LoadBalancer") or bool(sp.external_ips)))
    internal_local = sp.internal_traffic_policy == "Local"
    return PortTraffic(external_ips, lb_vips, source_ranges, externally_accessible, external_local, internal_local,
                       uses_cluster=not internal_local or externally_accessible,
                       uses_local=internal_local or (external_local and externally_accessible))
