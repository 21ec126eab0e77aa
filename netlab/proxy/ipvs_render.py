"""What kube-proxy's IPVS mode writes on a sync, rendered (not run): netlab's VM kernel has no
IP_VS and no dummy interfaces, so this is text to read and to compare with a real node.

A port of the IPVS proxier's `syncProxyRules`, `syncService`, `syncEndpoint`,
`writeIptablesRules`, `acceptIPVSTraffic` and `createAndLinkKubeChain`
(kubernetes pkg/proxy/ipvs/proxier.go). The iptables and nftables renderers follow commit
531be812, whose copy of this file is not stored; it was read at **9f4edccb** (9f4edccb97bd),
where the nftables proxier.go is identical to 531be812's except for CleanupLeftovers' move
to cleanup.go (kube-proxy-nftables.md §0), with proxier_test.go at the same commit. Set
names and comments: pkg/proxy/ipvs/ipset.go (the modern copy declaring KUBE-IPVS-IPS); set
types, entry strings and create arguments: pkg/proxy/ipvs/ipset/ipset.go @121460de
(Entry.String, createSet); virtual servers: pkg/proxy/ipvs/util/ipvs.go and ipvs_linux.go
(netmask, masquerading destinations); node addresses: netlink_linux.go (isValidForSet,
GetAllLocalAddressesExcept). The mode-independent parts are the iptables renderer's:
endpointsMap and CategorizeEndpoints (render.py), --nodeport-addresses (render._Settings).

    render_ipvs(config, service_ports, endpoints)  ->  IpvsRuleset
    .addresses_text()    `ip addr add ADDR/32 dev kube-ipvs0` per address kube-proxy binds
                         (EnsureAddressBind); compare with `ip -o addr show dev kube-ipvs0`
    .ipvsadm_save()      the IPVS table as `ipvsadm-save -n` prints it (ipvsadm 1.31,
                         print_service_entry with FMT_RULE|FMT_NUMERIC)
    .ipset_save()        the 17 sets as `ipset save` prints them, minus the `bucketsize 12
                         initval 0x…` the kernel appends to hash sets (checked with ipset 7.17
                         on kernel 6.18 in a throwaway namespace)
    .iptables_restore()  kube-proxy's iptables-restore input: nat, then filter, as written
    .jump_rules_text()   the jumps from built-in chains kube-proxy inserts with `iptables -I`
    .to_text()           all of it, in sections a learner can hold next to a node

Orders: kube-proxy walks its service map and its ipsetList in Go map order (random); this
renderer walks service ports sorted by namespace/name, port name and protocol, and the sets
in ipsetInfo's order. ipvsadm sorts its listing (libipvs ipvs_cmp_services/ipvs_cmp_dests:
family, protocol, address, port); this renderer sorts the same way by numeric address, but
libipvs subtracts 32-bit address words as signed ints, so a real node may list addresses that
differ by 2^31 or more in another order: compare as sets, as proxier_test.go does. Hash-set
entries are sorted as strings (the kernel lists them in hash order), bitmap:port entries by
number (as `ipset save` lists them).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import Dict, Iterable, List, Optional, Sequence, Set, Tuple

from netlab.proxy.model import IPV6, Endpoint, ProxyConfig, ServicePort, port_traffic
from netlab.proxy.render import _Settings, categorize_endpoints, endpoints_map, masquerade_mark

DUMMY_DEVICE = "kube-ipvs0"  # defaultDummyDevice
DEFAULT_SCHEDULER = "rr"  # defaultScheduler

# proxier.go chain constants.
KUBE_SERVICES = "KUBE-SERVICES"
KUBE_PROXY_FIREWALL = "KUBE-PROXY-FIREWALL"
KUBE_SOURCE_RANGES_FIREWALL = "KUBE-SOURCE-RANGES-FIREWALL"
KUBE_POSTROUTING = "KUBE-POSTROUTING"
KUBE_MARK_MASQ = "KUBE-MARK-MASQ"
KUBE_NODE_PORT = "KUBE-NODE-PORT"
KUBE_FORWARD = "KUBE-FORWARD"
KUBE_LOAD_BALANCER = "KUBE-LOAD-BALANCER"
KUBE_IPVS_FILTER = "KUBE-IPVS-FILTER"  # kubernetes#72236: no host ports through VIPs
KUBE_IPVS_OUT_FILTER = "KUBE-IPVS-OUT-FILTER"  # kubernetes#119656: LB source ranges from the node

# iptablesChains: declared (and so flushed) by every restore, in this order per table.
NAT_CHAINS = (KUBE_SERVICES, KUBE_POSTROUTING, KUBE_NODE_PORT, KUBE_LOAD_BALANCER, KUBE_MARK_MASQ)
FILTER_CHAINS = (KUBE_FORWARD, KUBE_NODE_PORT, KUBE_PROXY_FIREWALL, KUBE_SOURCE_RANGES_FIREWALL,
                 KUBE_IPVS_FILTER, KUBE_IPVS_OUT_FILTER)

# iptablesJumpChain: (table, from, to, comment); each ensured with `iptables -I` (Prepend).
JUMP_CHAINS = (
    ("nat", "OUTPUT", KUBE_SERVICES, "kubernetes service portals"),
    ("nat", "PREROUTING", KUBE_SERVICES, "kubernetes service portals"),
    ("nat", "POSTROUTING", KUBE_POSTROUTING, "kubernetes postrouting rules"),
    ("filter", "FORWARD", KUBE_FORWARD, "kubernetes forwarding rules"),
    ("filter", "INPUT", KUBE_NODE_PORT, "kubernetes health check rules"),
    ("filter", "INPUT", KUBE_PROXY_FIREWALL, "kube-proxy firewall rules"),
    ("filter", "FORWARD", KUBE_PROXY_FIREWALL, "kube-proxy firewall rules"),
    ("filter", "INPUT", KUBE_IPVS_FILTER, "kubernetes ipvs access filter"),
    ("filter", "OUTPUT", KUBE_IPVS_OUT_FILTER, "kubernetes ipvs access filter"),
)

# ipset types (ipset/types.go).
HASH_IP_PORT = "hash:ip,port"
HASH_IP_PORT_IP = "hash:ip,port,ip"
HASH_IP_PORT_NET = "hash:ip,port,net"
BITMAP_PORT = "bitmap:port"
HASH_IP = "hash:ip"

# Set names (ipset.go); the IPv6 proxier's start "KUBE-6-" (set_name).
LOOP_BACK = "KUBE-LOOP-BACK"
CLUSTER_IP = "KUBE-CLUSTER-IP"
EXTERNAL_IP = "KUBE-EXTERNAL-IP"
EXTERNAL_IP_LOCAL = "KUBE-EXTERNAL-IP-LOCAL"
LOAD_BALANCER = "KUBE-LOAD-BALANCER"
LOAD_BALANCER_FW = "KUBE-LOAD-BALANCER-FW"
LOAD_BALANCER_LOCAL = "KUBE-LOAD-BALANCER-LOCAL"
LOAD_BALANCER_SOURCE_IP = "KUBE-LOAD-BALANCER-SOURCE-IP"
LOAD_BALANCER_SOURCE_CIDR = "KUBE-LOAD-BALANCER-SOURCE-CIDR"
NODE_PORT_TCP = "KUBE-NODE-PORT-TCP"
NODE_PORT_LOCAL_TCP = "KUBE-NODE-PORT-LOCAL-TCP"
NODE_PORT_UDP = "KUBE-NODE-PORT-UDP"
NODE_PORT_LOCAL_UDP = "KUBE-NODE-PORT-LOCAL-UDP"
NODE_PORT_SCTP = "KUBE-NODE-PORT-SCTP-HASH"
NODE_PORT_LOCAL_SCTP = "KUBE-NODE-PORT-LOCAL-SCTP-HASH"
HEALTH_CHECK_NODE_PORT = "KUBE-HEALTH-CHECK-NODE-PORT"
IPVS_IPS = "KUBE-IPVS-IPS"

# ipsetInfo, in its order: (name, type, comment). kube-proxy creates every set on every sync
# (ensureIPSet). The comment is not stored in the set (createSet passes no `comment`): it is
# what the iptables rules matching the set say in `-m comment`.
IPSET_INFO: Tuple[Tuple[str, str, str], ...] = (
    (LOOP_BACK, HASH_IP_PORT_IP, "Kubernetes endpoints dst ip:port, source ip for solving hairpin purpose"),
    (CLUSTER_IP, HASH_IP_PORT, "Kubernetes service cluster ip + port for masquerade purpose"),
    (EXTERNAL_IP, HASH_IP_PORT, "Kubernetes service external ip + port for masquerade and filter purpose"),
    (EXTERNAL_IP_LOCAL, HASH_IP_PORT, "Kubernetes service external ip + port with externalTrafficPolicy=local"),
    (LOAD_BALANCER, HASH_IP_PORT, "Kubernetes service lb portal"),
    (LOAD_BALANCER_FW, HASH_IP_PORT, "Kubernetes service load balancer ip + port for load balancer with sourceRange"),
    (LOAD_BALANCER_LOCAL, HASH_IP_PORT, "Kubernetes service load balancer ip + port with externalTrafficPolicy=local"),
    (LOAD_BALANCER_SOURCE_IP, HASH_IP_PORT_IP, "Kubernetes service load balancer ip + port + source IP for packet filter purpose"),
    (LOAD_BALANCER_SOURCE_CIDR, HASH_IP_PORT_NET, "Kubernetes service load balancer ip + port + source cidr for packet filter purpose"),
    (NODE_PORT_TCP, BITMAP_PORT, "Kubernetes nodeport TCP port for masquerade purpose"),
    (NODE_PORT_LOCAL_TCP, BITMAP_PORT, "Kubernetes nodeport TCP port with externalTrafficPolicy=local"),
    (NODE_PORT_UDP, BITMAP_PORT, "Kubernetes nodeport UDP port for masquerade purpose"),
    (NODE_PORT_LOCAL_UDP, BITMAP_PORT, "Kubernetes nodeport UDP port with externalTrafficPolicy=local"),
    (NODE_PORT_SCTP, HASH_IP_PORT, "Kubernetes nodeport SCTP port for masquerade purpose with type 'hash ip:port'"),
    (NODE_PORT_LOCAL_SCTP, HASH_IP_PORT, "Kubernetes nodeport SCTP port with externalTrafficPolicy=local with type 'hash ip:port'"),
    (HEALTH_CHECK_NODE_PORT, BITMAP_PORT, "Kubernetes health check node port"),
    (IPVS_IPS, HASH_IP, "Addresses on the ipvs interface"),
)
_SET_TYPES = {name: kind for name, kind, _ in IPSET_INFO}
_SET_COMMENTS = {name: comment for name, _, comment in IPSET_INFO}

# ipsetWithIptablesChain: (set, table, from chain, target, match type, -p protocol). A rule is
# written only for a set with entries. The LOCAL NodePort sets come before the plain ones so
# that RETURN (no masquerade) wins.
IPSET_WITH_IPTABLES_CHAIN = (
    (LOOP_BACK, "nat", KUBE_POSTROUTING, "MASQUERADE", "dst,dst,src", ""),
    (LOAD_BALANCER, "nat", KUBE_SERVICES, KUBE_LOAD_BALANCER, "dst,dst", ""),
    (LOAD_BALANCER_LOCAL, "nat", KUBE_LOAD_BALANCER, "RETURN", "dst,dst", ""),
    (NODE_PORT_LOCAL_TCP, "nat", KUBE_NODE_PORT, "RETURN", "dst", "tcp"),
    (NODE_PORT_TCP, "nat", KUBE_NODE_PORT, KUBE_MARK_MASQ, "dst", "tcp"),
    (NODE_PORT_LOCAL_UDP, "nat", KUBE_NODE_PORT, "RETURN", "dst", "udp"),
    (NODE_PORT_UDP, "nat", KUBE_NODE_PORT, KUBE_MARK_MASQ, "dst", "udp"),
    (NODE_PORT_LOCAL_SCTP, "nat", KUBE_NODE_PORT, "RETURN", "dst,dst", "sctp"),
    (NODE_PORT_SCTP, "nat", KUBE_NODE_PORT, KUBE_MARK_MASQ, "dst,dst", "sctp"),
    (LOAD_BALANCER_FW, "filter", KUBE_PROXY_FIREWALL, KUBE_SOURCE_RANGES_FIREWALL, "dst,dst", ""),
    (LOAD_BALANCER_SOURCE_CIDR, "filter", KUBE_SOURCE_RANGES_FIREWALL, "RETURN", "dst,dst,src", ""),
    (LOAD_BALANCER_SOURCE_IP, "filter", KUBE_SOURCE_RANGES_FIREWALL, "RETURN", "dst,dst,src", ""),
)

# ipset create arguments kube-proxy passes (setIPSetDefaults + createSet).
HASH_SIZE = 1024
MAX_ELEM = 65536
PORT_RANGE = "0-65535"
IPSET_NAME_MAX = 31

# Kernel protocol numbers: libipvs sorts virtual servers by them (TCP 6 < UDP 17 < SCTP 132).
_PROTO_NUMBER = {"TCP": 6, "UDP": 17, "SCTP": 132}
# ipvsadm's option for each protocol (option_from_protocol).
_IPVSADM_PROTO = {"TCP": "-t", "UDP": "-u", "SCTP": "--sctp-service"}

# What NewProxier sets with EnsureSysctl (conn_reuse_mode depends on the kernel version;
# arp_ignore/arp_announce only with --ipvs-strict-arp).
SYSCTLS = (("net/ipv4/vs/conntrack", 1), ("net/ipv4/vs/expire_nodest_conn", 1),
           ("net/ipv4/vs/expire_quiescent_template", 1), ("net/ipv4/ip_forward", 1))


def set_name(name: str, v6: bool) -> str:
    """NewIPSet's name: the IPv6 proxier's sets start "KUBE-6-", cut to ipset's 31 characters."""
    if v6 and name.startswith("KUBE-"):
        name = "KUBE-6-" + name[len("KUBE-"):]
        name = name[:IPSET_NAME_MAX]
    return name


def is_valid_for_set(ip: str, v6: bool) -> bool:
    """netlinkHandle.isValidForSet: an address of the proxier's family, not loopback, and for
    IPv6 not link-local (an IPv4-mapped IPv6 address counts as IPv4, as in Go)."""
    addr = ipaddress.ip_address(ip)
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        addr = addr.ipv4_mapped
    if (addr.version == 6) != v6:
        return False
    if v6 and addr.is_link_local:
        return False
    return not addr.is_loopback


def _join_host_port(ip: str, port: int) -> str:
    return f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"


# --- the model ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class RealServer:
    """One IPVS destination (utilipvs.RealServer): weight 1, masquerading (NAT) forwarding."""

    address: str
    port: int
    weight: int = 1

    def __str__(self) -> str:
        return _join_host_port(self.address, self.port)


@dataclass(frozen=True)
class VirtualServer:
    """One IPVS service (utilipvs.VirtualServer) and the real servers syncEndpoint gives it."""

    protocol: str  # "TCP", "UDP", "SCTP"
    address: str
    port: int
    scheduler: str = DEFAULT_SCHEDULER
    persistence: Optional[int] = None  # FlagPersistent's timeout (ClientIP affinity), or None
    source_hash: bool = False  # FlagSourceHash, set for the "mh" scheduler
    real_servers: Tuple[RealServer, ...] = ()
    kind: str = "cluster IP"  # cluster IP, external IP, load balancer IP, node port
    bound: bool = False  # its address is bound to kube-ipvs0

    @property
    def key(self) -> Tuple[str, str, int]:
        """What IPVS identifies a service by: protocol, address, port."""
        return (self.protocol, self.address, self.port)

    @property
    def service_arg(self) -> str:
        """ipvsadm's service-address argument: ``-t 10.0.0.1:80``, ``-u [fd00::1]:53``."""
        return f"{_IPVSADM_PROTO[self.protocol]} {_join_host_port(self.address, self.port)}"

    def __str__(self) -> str:
        """utilipvs.VirtualServer.String(): ``10.0.0.1:80/TCP``."""
        return f"{_join_host_port(self.address, self.port)}/{self.protocol}"

    def save_lines(self) -> List[str]:
        """This service and its destinations as `ipvsadm-save -n` prints them (sorted)."""
        line = f"-A {self.service_arg} -s {self.scheduler}"
        if self.persistence is not None:
            # toIPVSService sets netmask 0xffffffff / 128, so ipvsadm prints no -M.
            line += f" -p {self.persistence}"
        if self.source_hash:
            line += " -b mh-port"  # FlagSourceHash is IP_VS_SVC_F_SCHED2, which ipvsadm names so for mh
        out = [line]
        for rs in sorted(self.real_servers, key=lambda r: (int(ipaddress.ip_address(r.address)), r.port)):
            out.append(f"-a {self.service_arg} -r {rs} -m -w {rs.weight}")
        return out


@dataclass
class IpSet:
    """One of kube-proxy's ipsets and the entries this sync wants in it (activeEntries)."""

    name: str  # as created: KUBE-… or KUBE-6-…
    base: str  # the IPv4 name, which says what the set is (KUBE-CLUSTER-IP)
    type: str
    family: str  # "inet" or "inet6"
    comment: str
    entries: Set[str] = field(default_factory=set)

    def create_line(self) -> str:
        """`create NAME TYPE …` with the arguments kube-proxy's createSet passes."""
        if self.type == BITMAP_PORT:
            return f"create {self.name} {self.type} range {PORT_RANGE}"
        return f"create {self.name} {self.type} family {self.family} hashsize {HASH_SIZE} maxelem {MAX_ELEM}"

    def sorted_entries(self) -> List[str]:
        """The entries in `ipset save` order where it is defined (bitmap: by port), else sorted."""
        if self.type == BITMAP_PORT:
            return sorted(self.entries, key=int)
        return sorted(self.entries)

    def save_lines(self) -> List[str]:
        return [self.create_line()] + [f"add {self.name} {e}" for e in self.sorted_entries()]


@dataclass(frozen=True)
class IpvsServiceInfo:
    """What one service port got in IPVS mode on this node."""

    namespace: str
    name: str
    service_port: str  # ns/name:port
    protocol: str  # lower case
    virtual_servers: Tuple[VirtualServer, ...]
    set_entries: Tuple[Tuple[str, str], ...]  # (set name, entry), in the order kube-proxy adds them
    bound_addresses: Tuple[str, ...]  # addresses it binds to kube-ipvs0
    out_filter_rules: Tuple[str, ...]  # its KUBE-IPVS-OUT-FILTER rules (rule args)


# --- the renderer ----------------------------------------------------------------------------------

def node_addresses(config: ProxyConfig) -> List[str]:
    """GetAllLocalAddressesExcept(kube-ipvs0) on a node with CONFIG's interface addresses (None:
    node_ips plus loopback): those isValidForSet accepts, in order, each once. The inputs are the
    node's own interfaces, so kube-ipvs0's addresses are never among them."""
    addresses = config.interface_addresses
    if addresses is None:
        addresses = ("127.0.0.1", "::1") + tuple(config.node_ips)
    v6 = config.family == IPV6
    out: List[str] = []
    for a in addresses:
        if is_valid_for_set(a, v6) and a not in out:
            out.append(a)
    return out


class _IpvsSettings:
    """The IPVS proxier's per-node constants: the iptables renderer's plus the node's addresses."""

    def __init__(self, config: ProxyConfig, scheduler: str):
        self.base = _Settings(config)
        self.config = config
        self.v6 = config.family == IPV6
        self.mark = masquerade_mark(config)
        self.scheduler = scheduler
        self.node_ip = self.base.node_ip
        # nodeAddressSet: external and LB IPs among them are not bound to kube-ipvs0.
        self.node_addresses = node_addresses(config)
        # The addresses NodePort virtual servers are made on (syncProxyRules, "nodeIPs"): with
        # --nodeport-addresses matching everything, nodeAddressSet; else GetNodeIPs minus loopback.
        if self.base.npa_match_all:
            self.node_port_ips = list(self.node_addresses)
        else:
            self.node_port_ips = [ip for ip in self.base.node_port_ips
                                  if not ipaddress.ip_address(ip).is_loopback]
        self.loopback = "::1/128" if self.v6 else "127.0.0.0/8"


def render_ipvs(config: ProxyConfig, service_ports: Iterable[ServicePort],
                endpoints: Iterable[Endpoint], *, scheduler: str = DEFAULT_SCHEDULER) -> "IpvsRuleset":
    """kube-proxy's IPVS-mode state for this node (render()'s IPVS counterpart).

    scheduler: --ipvs-scheduler (default rr); "mh" also sets the source-hash flag.
    """
    s = _IpvsSettings(config, scheduler or DEFAULT_SCHEDULER)
    v6 = s.v6
    eps_by_key = endpoints_map(endpoints, config)
    ports: Dict[tuple, ServicePort] = {}
    for sp in service_ports:
        if sp.cluster_ip and (":" in sp.cluster_ip) == v6:
            ports[sp.key] = sp
    ordered = sorted(ports.values(), key=lambda p: (f"{p.namespace}/{p.name}", p.port_name, p.protocol))

    sets = {base: IpSet(set_name(base, v6), base, kind, "inet6" if v6 else "inet", comment)
            for base, kind, comment in IPSET_INFO}
    infos: List[IpvsServiceInfo] = []
    virtual: Dict[Tuple[str, str, int], VirtualServer] = {}
    bound: List[str] = []
    out_filter: List[str] = []
    no_local_internal: Set[str] = set()
    no_local_external: Set[str] = set()
    for sp in ordered:
        info = _sync_port(sp, eps_by_key.get(sp.key, ()), s, sets, no_local_internal, no_local_external)
        infos.append(info)
        for vs in info.virtual_servers:
            # Two Services on one IP and port share one IPVS service; each syncEndpoint sets its
            # own real servers, so on a node the last one in map order wins (here: render order).
            virtual.pop(vs.key, None)
            virtual[vs.key] = vs
        bound.extend(a for a in info.bound_addresses if a not in bound)
        out_filter.extend(info.out_filter_rules)
    # "Set the KUBE-IPVS-IPS set to the activeBindAddrs".
    sets[IPVS_IPS].entries = set(bound)
    return IpvsRuleset(s, infos, list(virtual.values()), [sets[b] for b, _, _ in IPSET_INFO], bound,
                       out_filter, (len(no_local_internal), len(no_local_external)))


def _sync_port(sp: ServicePort, eps: Sequence, s: _IpvsSettings, sets: Dict[str, IpSet],
               no_local_internal: Set[str], no_local_external: Set[str]) -> IpvsServiceInfo:
    """One pass of syncProxyRules' loop over the service map (proxier.go), for SP."""
    config = s.config
    proto = sp.protocol.lower()
    t = port_traffic(sp, s.v6)
    cluster_eps, local_eps, _, has_any = categorize_endpoints(eps, t.uses_cluster, t.uses_local, config)
    entries: List[Tuple[str, str]] = []
    vss: List[VirtualServer] = []
    binds: List[str] = []
    out_rules: List[str] = []
    service = f"{sp.namespace}/{sp.name}"

    def add(base: str, entry: str) -> None:
        sets[base].entries.add(entry)
        entries.append((sets[base].name, entry))

    def real_servers(only_local: bool) -> Tuple[RealServer, ...]:
        """syncEndpoint's choice of destinations."""
        chosen = cluster_eps
        if only_local:
            if local_eps:
                chosen = local_eps
            else:
                # kubernetes#97081: with no local endpoints keep the cluster-wide ones, so that
                # local pods can still reach the Service (replies to outside clients are lost).
                if has_any and t.internal_local:
                    no_local_internal.add(service)
                if has_any and t.external_local:
                    no_local_external.add(service)
        out = {}
        for e in chosen:
            host, _, port = e.string.rpartition(":")
            out[e.string] = RealServer(host.strip("[]"), int(port))
        return tuple(out.values())

    def virtual_server(address: str, port: int, kind: str, bind: bool, only_local: bool) -> None:
        affinity = sp.session_affinity == "ClientIP"
        vss.append(VirtualServer(
            sp.protocol, address, port, s.scheduler,
            persistence=sp.session_affinity_timeout if affinity else None,
            source_hash=s.scheduler == "mh", real_servers=real_servers(only_local), kind=kind, bound=bind))
        if bind and address not in binds:
            binds.append(address)

    # Hairpin: traffic from a local endpoint to its own Service comes back to it with SNAT. All
    # local endpoints count, whatever their conditions (endpointsMap, not CategorizeEndpoints).
    for e in eps:
        if e.local:
            port = int(e.string.rpartition(":")[2])
            add(LOOP_BACK, f"{e.ip},{proto}:{port},{e.ip}")

    # The cluster IP: always bound to kube-ipvs0; internalTrafficPolicy picks its endpoints.
    add(CLUSTER_IP, f"{sp.cluster_ip},{proto}:{sp.port}")
    virtual_server(sp.cluster_ip, sp.port, "cluster IP", True, t.internal_local)

    for ip in t.external_ips:
        add(EXTERNAL_IP_LOCAL if t.external_local else EXTERNAL_IP, f"{ip},{proto}:{sp.port}")
        # "We must not add the address to the dummy device if it exist on another interface".
        virtual_server(ip, sp.port, "external IP", ip not in s.node_addresses, t.external_local)

    for ip in t.lb_vips:
        entry = f"{ip},{proto}:{sp.port}"
        add(LOAD_BALANCER, entry)
        if t.external_local:
            add(LOAD_BALANCER_LOCAL, entry)
        if t.source_ranges:
            # Works for load balancers that keep the client's address; NodePorts are not filtered.
            add(LOAD_BALANCER_FW, entry)
            allow_from_node = False
            for cidr in t.source_ranges:
                add(LOAD_BALANCER_SOURCE_CIDR, f"{entry},{cidr}")
                if s.node_ip and ipaddress.ip_address(s.node_ip) in ipaddress.ip_network(cidr, strict=False):
                    allow_from_node = True
            if allow_from_node:
                # The node reaching a VIP it holds loops back with the VIP as source.
                add(LOAD_BALANCER_SOURCE_IP, f"{entry},{ip}")
            else:
                # kubernetes#119656: for IPVS a node's own connection to the VIP has the VIP as
                # source and destination; without the node in the ranges it is dropped on OUTPUT.
                out_rules.append(f"-s {ip} -m ipvs --vaddr {ip} --vproto {proto} --vport {sp.port} -j DROP")
        virtual_server(ip, sp.port, "load balancer IP", ip not in s.node_addresses, t.external_local)

    if sp.node_port:
        if not s.node_port_ips:
            # proxier.go `continue`s here: no NodePort entries, and no health check entry either.
            return _info(sp, proto, vss, entries, binds, out_rules)
        np = str(sp.node_port)
        if proto == "sctp":
            # hash:ip,port for SCTP (bitmap:port stores TCP/UDP ports): one entry per node IP.
            np_entries = [(NODE_PORT_SCTP, NODE_PORT_LOCAL_SCTP, f"{ip},sctp:{np}") for ip in s.node_port_ips]
        elif proto == "udp":
            np_entries = [(NODE_PORT_UDP, NODE_PORT_LOCAL_UDP, np)]
        else:
            np_entries = [(NODE_PORT_TCP, NODE_PORT_LOCAL_TCP, np)]
        for plain, _, entry in np_entries:
            add(plain, entry)
        if t.external_local:
            for _, local, entry in np_entries:
                add(local, entry)
        for ip in s.node_port_ips:
            virtual_server(ip, sp.node_port, "node port", False, t.external_local)

    # NeedsHealthCheck: a LoadBalancer with externalTrafficPolicy Local and a health check port.
    if sp.type == "LoadBalancer" and t.external_local and sp.health_check_node_port:
        add(HEALTH_CHECK_NODE_PORT, str(sp.health_check_node_port))
    return _info(sp, proto, vss, entries, binds, out_rules)


def _info(sp: ServicePort, proto: str, vss: List[VirtualServer], entries: List[Tuple[str, str]],
          binds: List[str], out_rules: List[str]) -> IpvsServiceInfo:
    return IpvsServiceInfo(sp.namespace, sp.name, sp.port_name_string, proto, tuple(vss), tuple(entries),
                           tuple(binds), tuple(out_rules))


# --- the result ------------------------------------------------------------------------------------

class IpvsRuleset:
    """kube-proxy's IPVS-mode state for one node and one IP family: render_ipvs's result."""

    def __init__(self, settings: _IpvsSettings, services: List[IpvsServiceInfo],
                 virtual_servers: List[VirtualServer], ipsets: List[IpSet], bound: List[str],
                 out_filter: List[str], no_local: Tuple[int, int]):
        self._s = settings
        self.services = services
        self.ipsets = ipsets
        self.bound_addresses = bound
        self._out_filter = out_filter
        self._no_local = no_local
        self.virtual_servers = sorted(virtual_servers, key=_vs_sort_key)

    @property
    def config(self) -> ProxyConfig:
        return self._s.config

    @property
    def family(self) -> str:
        return self._s.config.family

    @property
    def no_local_endpoints(self) -> Tuple[int, int]:
        """sync_proxy_rules_no_local_endpoints_total{traffic_policy="internal"|"external"}: Services
        with a Local policy whose endpoints exist, but none on this node."""
        return self._no_local

    def ipset(self, base: str) -> IpSet:
        """The set whose IPv4 name is BASE (KUBE-CLUSTER-IP is KUBE-6-CLUSTER-IP for IPv6)."""
        return next(x for x in self.ipsets if x.base == base)

    def addresses_text(self) -> str:
        """`ip addr add ADDR/32 dev kube-ipvs0` for every address bound to the dummy interface."""
        plen = 128 if self._s.v6 else 32
        return "".join(f"ip addr add {a}/{plen} dev {DUMMY_DEVICE}\n" for a in self.bound_addresses)

    def ipvsadm_save(self) -> str:
        """The IPVS table as `ipvsadm-save -n` prints it."""
        return "".join(line + "\n" for vs in self.virtual_servers for line in vs.save_lines())

    def ipset_save(self) -> str:
        """Every kube-proxy set and its entries as `ipset save` prints them (without the kernel's
        bucketsize/initval): also valid `ipset restore` input."""
        return "".join(line + "\n" for st in self.ipsets for line in st.save_lines())

    def iptables_restore(self) -> str:
        """kube-proxy's iptables-restore input (--noflush): nat, then filter, as written."""
        nat, filt = self._iptables_rules()
        out = ["*nat"] + [f":{c} - [0:0]" for c in NAT_CHAINS] + nat + ["COMMIT"]
        out += ["*filter"] + [f":{c} - [0:0]" for c in FILTER_CHAINS] + filt + ["COMMIT"]
        return "\n".join(out) + "\n"

    def _iptables_rules(self) -> Tuple[List[str], List[str]]:
        """writeIptablesRules: the nat and filter rules, in kube-proxy's order."""
        s = self._s
        nat: List[str] = [f"-A {KUBE_SERVICES} -s {s.loopback} -j RETURN"]  # dismiss localhost early
        filt: List[str] = []
        by_base = {st.base: st for st in self.ipsets}

        def set_match(base: str, match: str) -> str:
            """`-m comment --comment "<the set's comment>" -m set --match-set NAME MATCH`."""
            st = by_base[base]
            return f'-m comment --comment "{st.comment}" -m set --match-set {st.name} {match}'.rstrip()

        for base, table, src, target, match, proto in IPSET_WITH_IPTABLES_CHAIN:
            if not by_base[base].entries:
                continue
            head = f"-A {src}" + (f" -p {proto}" if proto else "")
            (filt if table == "filter" else nat).append(f"{head} {set_match(base, match)} -j {target}")

        if by_base[CLUSTER_IP].entries:
            head = f"-A {KUBE_SERVICES} {set_match(CLUSTER_IP, '')}"  # the match type depends on the case
            if s.config.masquerade_all:
                nat.append(f"{head} dst,dst -j {KUBE_MARK_MASQ}")
            elif s.base.if_not_local:
                # Off-cluster traffic to a VIP (e.g. via a static route to the Service range)
                # may bounce to another node: masquerade it.
                nat.append(f"{head} dst,dst {s.base.if_not_local} -j {KUBE_MARK_MASQ}")
            else:
                # No local-traffic detector: masquerade traffic whose source is a VIP (the node's
                # own connections pick a kube-ipvs0 address as source).
                nat.append(f"{head} src,dst -j {KUBE_MARK_MASQ}")

        def external_ip_rules(head: str) -> None:
            # Accept traffic to external IPs that comes from off the machine (not a bridge, not
            # a local process), and traffic to external IPs that happen to be local.
            nat.append(f"{head} -m physdev ! --physdev-is-in -m addrtype ! --src-type LOCAL -j ACCEPT")
            nat.append(f"{head} -m addrtype --dst-type LOCAL -j ACCEPT")

        if by_base[EXTERNAL_IP].entries:
            head = f"-A {KUBE_SERVICES} {set_match(EXTERNAL_IP, 'dst,dst')}"
            nat.append(f"{head} -j {KUBE_MARK_MASQ}")
            external_ip_rules(head)
        if by_base[EXTERNAL_IP_LOCAL].entries:
            external_ip_rules(f"-A {KUBE_SERVICES} {set_match(EXTERNAL_IP_LOCAL, 'dst,dst')}")

        nat.append(f"-A {KUBE_SERVICES} -m addrtype --dst-type LOCAL -j {KUBE_NODE_PORT}")
        nat.append(f"-A {KUBE_LOAD_BALANCER} -j {KUBE_MARK_MASQ}")
        filt.append(f"-A {KUBE_SOURCE_RANGES_FIREWALL} -j DROP")
        filt.extend(f"-A {KUBE_IPVS_OUT_FILTER} {args}" for args in self._out_filter)

        # acceptIPVSTraffic: accept what goes to a virtual service, in case other rules would
        # drop it. These must be the last rules of KUBE-SERVICES.
        for base in (CLUSTER_IP, LOAD_BALANCER):
            st = by_base[base]
            if st.entries:
                match = "dst" if st.type == BITMAP_PORT else "dst,dst"
                nat.append(f"-A {KUBE_SERVICES} -m set --match-set {st.name} {match} -j ACCEPT")

        mark = s.mark
        # Forward what was marked for masquerading (NodePort traffic) even with a FORWARD DROP policy.
        filt.append(f'-A {KUBE_FORWARD} -m comment --comment "kubernetes forwarding rules" '
                    f"-m mark --mark {mark}/{mark} -j ACCEPT")
        filt.append(f'-A {KUBE_FORWARD} -m comment --comment "kubernetes forwarding conntrack rule" '
                    "-m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT")
        hc = by_base[HEALTH_CHECK_NODE_PORT]
        filt.append(f"-A {KUBE_NODE_PORT} {set_match(HEALTH_CHECK_NODE_PORT, 'dst')} -j ACCEPT")
        # kubernetes#72236: new connections to a kube-ipvs0 address that are not for one of its
        # services (another port of the VIP: a host port) are rejected.
        for base, match in ((LOAD_BALANCER, "dst,dst"), (CLUSTER_IP, "dst,dst"), (EXTERNAL_IP, "dst,dst"),
                            (EXTERNAL_IP_LOCAL, "dst,dst")):
            filt.append(f"-A {KUBE_IPVS_FILTER} -m set --match-set {by_base[base].name} {match} -j RETURN")
        filt.append(f"-A {KUBE_IPVS_FILTER} -m set --match-set {hc.name} dst -j RETURN")
        filt.append(f"-A {KUBE_IPVS_FILTER} -m conntrack --ctstate NEW "
                    f"-m set --match-set {by_base[IPVS_IPS].name} dst -j REJECT")

        # Clearing the mark keeps a packet that crosses the stack again from a second masquerade.
        nat.append(f"-A {KUBE_POSTROUTING} -m mark ! --mark {mark}/{mark} -j RETURN")
        nat.append(f"-A {KUBE_POSTROUTING} -j MARK --xor-mark {mark}")
        masq = f'-A {KUBE_POSTROUTING} -m comment --comment "kubernetes service traffic requiring SNAT" -j MASQUERADE'
        nat.append(masq + " --random-fully" if s.config.random_fully else masq)
        nat.append(f"-A {KUBE_MARK_MASQ} -j MARK --or-mark {mark}")
        return nat, filt

    def jump_rules_text(self) -> str:
        """The jumps from the built-in chains, as the `iptables -I` kube-proxy runs when one is
        missing (createAndLinkKubeChain, EnsureRule with Prepend), in its order."""
        cmd = "ip6tables" if self._s.v6 else "iptables"
        return "".join(f'{cmd} -t {table} -I {src} -m comment --comment "{comment}" -j {dst}\n'
                       for table, src, dst, comment in JUMP_CHAINS)

    def to_text(self) -> str:
        """Everything IPVS mode writes on this node, in sections, each saying how to see it on a node."""
        s = self._s
        cfg = s.config
        out: List[str] = [
            f"# kube-proxy IPVS mode on node {cfg.node_name} ({cfg.family}), rendered by netlab: IPVS",
            "# needs a kernel with CONFIG_IP_VS (and the dummy module), so this is not applied here.",
            "",
            f"# 1. {DUMMY_DEVICE}: a dummy interface holding every address IPVS answers for, so the",
            "#    kernel delivers their packets locally, where IPVS sits (on a node: ip -o addr show",
            f"#    dev {DUMMY_DEVICE}). External and load balancer IPs already on another interface are not added.",
            f"ip link add {DUMMY_DEVICE} type dummy",
        ]
        out.extend(self.addresses_text().splitlines())
        out += [
            "",
            "# 2. IPVS virtual servers (-A) and their real servers (-a): -s the scheduler, -p the",
            "#    persistence timeout of ClientIP affinity, -m masquerading (NAT), -w the weight",
            "#    (on a node: ipvsadm-save -n, or ipvsadm -Ln for the same table as a listing).",
            "#    A virtual server with no real servers answers new connections with ICMP port",
            "#    unreachable (the kernel's ip_vs_leave); kube-proxy writes no REJECT rule for it.",
        ]
        out.extend(self.ipvsadm_save().splitlines())
        out += [
            "",
            "# 3. ipsets: the iptables rules below match these sets instead of one rule per Service",
            "#    (on a node: ipset save; its hash sets' create lines also show bucketsize and initval).",
        ]
        for st in self.ipsets:
            out.append(f"# {st.name}: {st.comment}")
            out.extend(st.save_lines())
        out += [
            "",
            "# 4. iptables rules IPVS mode still writes, as its iptables-restore --noflush input",
            "#    (on a node: iptables-save -t nat; iptables-save -t filter).",
        ]
        out.extend(self.iptables_restore().splitlines())
        out += [
            "",
            "# 5. jumps into those chains, inserted when missing (on a node: the first rules of",
            "#    PREROUTING, OUTPUT, POSTROUTING, INPUT and FORWARD).",
        ]
        out.extend(self.jump_rules_text().splitlines())
        out += ["", "# 6. sysctls kube-proxy sets at start (plus net/ipv4/vs/conn_reuse_mode on some kernels)."]
        out.extend(f"sysctl -w {name.replace('/', '.')}={value}" for name, value in SYSCTLS)
        return "\n".join(out) + "\n"


def _vs_sort_key(vs: VirtualServer) -> Tuple[int, int, int]:
    """ipvs_cmp_services for one family: protocol number, address, port."""
    return (_PROTO_NUMBER[vs.protocol], int(ipaddress.ip_address(vs.address)), vs.port)


# --- reading the texts back (what upstream's tests compare) -------------------------------------------

def parse_ipvsadm_save(text: str) -> Dict[str, List[str]]:
    """`ipvsadm-save -n` text → {"-t 10.0.0.1:80 -s rr": ["10.180.0.1:80", …]}: each virtual
    server's line after "-A " and its real servers, in the order listed."""
    services: Dict[str, List[str]] = {}
    by_arg: Dict[str, str] = {}
    for lineno, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        words = line.split()
        if words[0] == "-A":
            key = " ".join(words[1:])
            services[key] = []
            by_arg[" ".join(words[1:3])] = key
        elif words[0] == "-a" and "-r" in words:
            arg = " ".join(words[1:3])
            if arg not in by_arg:
                raise ValueError(f"line {lineno}: real server of unknown virtual server {arg!r}")
            services[by_arg[arg]].append(words[words.index("-r") + 1])
        else:
            raise ValueError(f"line {lineno}: not ipvsadm-save output: {line!r}")
    return services


def parse_ipset_save(text: str) -> Dict[str, List[str]]:
    """`ipset save` text → {set name: [entries, as listed]} (every created set, even empty)."""
    sets: Dict[str, List[str]] = {}
    for lineno, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        words = line.split()
        if words[0] == "create" and len(words) >= 3:
            sets.setdefault(words[1], [])
        elif words[0] == "add" and len(words) >= 3:
            sets.setdefault(words[1], []).append(words[2])
        else:
            raise ValueError(f"line {lineno}: not ipset save output: {line!r}")
    return sets


__all__ = [
    "DUMMY_DEVICE", "IPSET_INFO", "IpSet", "IpvsRuleset", "IpvsServiceInfo", "RealServer",
    "VirtualServer", "is_valid_for_set", "node_addresses", "parse_ipset_save", "parse_ipvsadm_save", "render_ipvs",
    "set_name",
]
