"""What kube-proxy's nftables mode writes: the `ip kube-proxy` table, full and partial syncs.

A port of `syncProxyRules` and `setupNFTables` (kubernetes pkg/proxy/nftables/proxier.go at
531be812, the commit the iptables renderer follows; "Gen A" of the nftables notes,
kube-proxy-nftables.md, whose § numbers the comments cite). The mode-independent parts are
shared with the iptables renderer: the endpoint map, CategorizeEndpoints and topology
(render.py), the object conversion (objects.py), the model (model.py).

    render_nft(config, service_ports, endpoints)  ->  NftRuleset   (the desired state)
    ruleset.to_transaction()                       ->  a fresh node's first full sync, `nft -f -` text
    ruleset.to_transaction(previous)               ->  the partial sync from PREVIOUS (only the
                                                       Services whose ports or endpoints changed)
    ruleset.sync(previous, now=t)                  ->  NftSync: the stale-chain cleanup transaction,
                                                       the main one, and the state to pass next time
    ruleset.updated(services, ports, endpoints)    ->  the ruleset after SERVICES changed (what
                                                       kube-proxy's change trackers hand a sync):
                                                       only they are planned again

A partial sync from the state of the previous one walks only the Services that changed and writes
exactly what syncProxyRules' walk over every Service writes (sync(reference=True) is that walk),
so a one-endpoint change costs the same with 10 Services or 10,000.

Names (proxier.go servicePortChainNameBase, servicePortEndpointChainNameBase, hashAndTruncate):

    service-{base}   local-{base}   external-{base}   firewall-{base}
    endpoint-{ep}    affinity-{ep} (a set)
    base = H + "-" + "ns/name/proto/port"            (unnamed port: "ns/name/proto/")
    ep   = H + "-" + "ns/name/proto/port__IP/port"   (IPv6 colons become dots)

H is the first 8 characters of base32(sha256(the text after it)); a name longer than 240
characters is cut to 237 and ends in "...". Inside the table nothing needs a "kube-" prefix;
a "/" marks a per-service chain (isServiceChainName), which a sync may flush when stale.

kube-proxy walks its service map in Go map order; this renderer walks service ports sorted by
namespace/name, port name and protocol, and stale objects by name, so the text is
deterministic (proxier_test.go sorts before comparing; nft_ruleset.sort_transaction).
"""

from __future__ import annotations

import bisect
import hashlib
import itertools
import operator
import weakref
from dataclasses import dataclass, field, replace
from functools import lru_cache
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple, Union

from netlab.proxy.model import (port_traffic, DETECT_BRIDGE_INTERFACE, DETECT_CLUSTER_CIDR,
                                DETECT_INTERFACE_NAME_PREFIX, DETECT_NODE_CIDR, IPV4, IPV6,
                                Endpoint, ProxyConfig, ServicePort)
from netlab.proxy.nft_ruleset import (Chain, Element, NftTable, Op, Rule, Set, Table,
                                      transaction_text)
# The iptables renderer's mode-independent helpers: kube-proxy's endpointsMap, CategorizeEndpoints,
# the masquerade mark, and _Settings for --nodeport-addresses (NewNodePortAddresses + GetNodeIPs).
from netlab.proxy.render import (_canonical_network, _cidr_contains, _is_loopback, _Settings,
                                 categorize_endpoints, endpoints_map, masquerade_mark)

TABLE = "kube-proxy"
TABLE_COMMENT = "rules for kube-proxy"

# base chains
FILTER_PREROUTING_PRE_DNAT = "filter-prerouting-pre-dnat"
FILTER_OUTPUT_PRE_DNAT = "filter-output-pre-dnat"
FILTER_INPUT = "filter-input"
FILTER_FORWARD = "filter-forward"
FILTER_OUTPUT = "filter-output"
NAT_PREROUTING = "nat-prerouting"
NAT_OUTPUT = "nat-output"
NAT_POSTROUTING = "nat-postrouting"
# service dispatch
SERVICES = "services"
SERVICE_IPS = "service-ips"
SERVICE_NODEPORTS = "service-nodeports"
NODEPORT_IPS = "nodeport-ips"
CLUSTER_IPS = "cluster-ips"
# no endpoints
SERVICE_ENDPOINTS_CHECK = "service-endpoints-check"
NODEPORT_ENDPOINTS_CHECK = "nodeport-endpoints-check"
NO_ENDPOINT_SERVICES = "no-endpoint-services"
NO_ENDPOINT_NODEPORTS = "no-endpoint-nodeports"
REJECT_CHAIN = "reject-chain"
# unallocated ClusterIPs and undefined ports of ClusterIPs
CLUSTER_IPS_CHECK = "cluster-ips-check"
# loadBalancerSourceRanges
FIREWALL_IPS = "firewall-ips"
FIREWALL_CHECK = "firewall-check"
# masquerading
MARK_MASQ = "mark-for-masquerade"
MASQUERADING = "masquerading"

SERVICE_PREFIX = "service-"
LOCAL_PREFIX = "local-"
EXTERNAL_PREFIX = "external-"
ENDPOINT_PREFIX = "endpoint-"
AFFINITY_PREFIX = "affinity-"
FIREWALL_PREFIX = "firewall-"
# knftables.NameLengthMax (256) - chainNamePrefixLengthMax (16)
CHAIN_NAME_BASE_LENGTH_MAX = 240

# Priorities as knftables writes them: ParsePriority("dstnat-10") = -110, filter 0,
# dstnat -100, srcnat 100 (numbers, because old nft refuses "dstnat" in the output hook).
_DNAT, _FILTER, _SNAT = -100, 0, 100

# nftablesBaseChains, in kube-proxy's order (§1.2): (name, type, hook, priority).
BASE_CHAINS = (
    (FILTER_PREROUTING_PRE_DNAT, "filter", "prerouting", _DNAT - 10),
    (FILTER_OUTPUT_PRE_DNAT, "filter", "output", _DNAT - 10),
    (FILTER_INPUT, "filter", "input", _FILTER),
    (FILTER_FORWARD, "filter", "forward", _FILTER),
    (FILTER_OUTPUT, "filter", "output", _FILTER),
    (NAT_PREROUTING, "nat", "prerouting", _DNAT),
    (NAT_OUTPUT, "nat", "output", _DNAT),
    (NAT_POSTROUTING, "nat", "postrouting", _SNAT),
)

# nftablesJumpChains (§1.3): (destination, source, extra match). The endpoint checks are not
# in prerouting because `reject` is only valid in input/forward/output before kernel 5.9.
JUMP_CHAINS = (
    (NODEPORT_ENDPOINTS_CHECK, FILTER_INPUT, "ct state new"),
    (SERVICE_ENDPOINTS_CHECK, FILTER_INPUT, "ct state new"),
    (SERVICE_ENDPOINTS_CHECK, FILTER_FORWARD, "ct state new"),
    (SERVICE_ENDPOINTS_CHECK, FILTER_OUTPUT, "ct state new"),
    (FIREWALL_CHECK, FILTER_PREROUTING_PRE_DNAT, "ct state new"),
    (FIREWALL_CHECK, FILTER_OUTPUT_PRE_DNAT, "ct state new"),
    (SERVICES, NAT_OUTPUT, ""),
    (SERVICES, NAT_PREROUTING, ""),
    (MASQUERADING, NAT_POSTROUTING, ""),
    (CLUSTER_IPS_CHECK, FILTER_FORWARD, "ct state new"),
    (CLUSTER_IPS_CHECK, FILTER_OUTPUT, "ct state new"),
)

# The six element stores (nftElementStorage), in the order kube-proxy cleans them up.
STORES = (CLUSTER_IPS, SERVICE_IPS, FIREWALL_IPS, NO_ENDPOINT_SERVICES, NO_ENDPOINT_NODEPORTS,
          SERVICE_NODEPORTS)

_PROTOCOLS = {"TCP": "tcp", "UDP": "udp", "SCTP": "sctp"}
_B32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"  # RFC 4648, as Go's base32.StdEncoding


# --- names -----------------------------------------------------------------------------------

@lru_cache(maxsize=262144)  # the same names are asked for on every node of a lab
def hash_and_truncate(name: str) -> str:
    """hashAndTruncate: 8 base32 characters of sha256(NAME), "-", NAME; cut to 240 with "..."."""
    n = int.from_bytes(hashlib.sha256(name.encode()).digest()[:5], "big")  # 40 bits = 8 digits
    name = "".join(_B32[(n >> s) & 31] for s in range(35, -1, -5)) + "-" + name
    if len(name) > CHAIN_NAME_BASE_LENGTH_MAX:
        name = name[:CHAIN_NAME_BASE_LENGTH_MAX - 3] + "..."
    return name


def service_port_chain_base(namespace: str, name: str, protocol: str, port_name: str) -> str:
    """servicePortChainNameBase: "H-ns/name/proto/port" (protocol lower case)."""
    return hash_and_truncate(f"{namespace}/{name}/{protocol}/{port_name}")


def endpoint_chain_base(namespace: str, name: str, protocol: str, port_name: str,
                        endpoint: str) -> str:
    """servicePortEndpointChainNameBase for ENDPOINT ("ip:port" or "[ip6]:port")."""
    host, _, port = endpoint.rpartition(":")
    host = host.strip("[]").replace(":", ".")
    return hash_and_truncate(f"{namespace}/{name}/{protocol}/{port_name}__{host}/{port}")


def is_service_chain(name: str) -> bool:
    """isServiceChainName: kube-proxy's own chain names never contain "/"."""
    return "/" in name


def is_affinity_set(name: str) -> bool:
    return name.startswith(AFFINITY_PREFIX)


def endpoint_string(ip: str, port: int) -> str:
    """BaseEndpointInfo.String(): net.JoinHostPort."""
    return f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"


# --- settings -----------------------------------------------------------------------------------

class _NftSettings:
    """The proxier's per-node constants (NewProxier, server.go, Backend.Init) for nftables mode."""

    def __init__(self, config: ProxyConfig, service_cidrs: Sequence[str]):
        self.config = config
        self.v6 = config.family == IPV6
        self.family = "ip6" if self.v6 else "ip"
        self.ip = "ip6" if self.v6 else "ip"
        self.addr_type = "ipv6_addr" if self.v6 else "ipv4_addr"
        self.no_localhost = "ip6 daddr != ::1" if self.v6 else "ip daddr != 127.0.0.0/8"
        self.mark = masquerade_mark(config)
        fam = [ip for ip in config.node_ips if (":" in ip) == self.v6]
        self.node_ip: Optional[str] = fam[0] if fam else None
        self.if_local, self.if_not_local = self._detector()
        # nftables mode defaults --nodeport-addresses to "primary": the node's primary IP of
        # each family (/32, /128), not every local address as iptables mode does (§3.10).
        npa = config.node_port_addresses or ("primary",)
        ports = _Settings(replace(config, node_port_addresses=tuple(npa)))
        self.npa_match_all = ports.npa_match_all
        # Loopback addresses are skipped: "localhost NodePorts are not supported".
        self.node_port_ips = [ip for ip in ports.node_port_ips if not _is_loopback(ip)]
        self.service_cidrs = _family_cidrs(service_cidrs, self.v6)

    def _detector(self) -> Tuple[Optional[str], Optional[str]]:
        """(IfLocalNFT, IfNotLocalNFT) of the local-traffic detector (localdetector.go)."""
        cfg = self.config
        mode = cfg.detect_local_mode
        if mode in (DETECT_CLUSTER_CIDR, DETECT_NODE_CIDR):
            source = cfg.cluster_cidr.split(",") if mode == DETECT_CLUSTER_CIDR else cfg.node_pod_cidrs
            cidrs = [c for c in (_canonical_network(c) for c in source
                                 if c.strip() and (":" in c) == self.v6) if c]
            if cidrs:
                return f"{self.ip} saddr {cidrs[0]}", f"{self.ip} saddr != {cidrs[0]}"
        # Interface detectors use iifname since kubernetes#134024 (v1.34.2; before it, "iif",
        # which nft refuses for an interface that does not exist yet).
        elif mode == DETECT_BRIDGE_INTERFACE and cfg.bridge_interface:
            return f"iifname {cfg.bridge_interface}", f"iifname != {cfg.bridge_interface}"
        elif mode == DETECT_INTERFACE_NAME_PREFIX and cfg.interface_name_prefix:
            p = cfg.interface_name_prefix
            return f"iifname {p}*", f"iifname != {p}*"
        return None, None


def _family_cidrs(service_cidrs: Sequence[str], v6: bool) -> str:
    """OnServiceCIDRsChanged: this family's CIDRs joined with "," (no spaces)."""
    return ",".join(c.strip() for c in service_cidrs if c.strip() and (":" in c) == v6)


def _concat(*parts: str) -> str:
    """knftables.Concat for strings: join with single spaces, skipping empty parts."""
    return " ".join(p for p in parts if p)


# --- the per-service-port plan ------------------------------------------------------------------

@dataclass(frozen=True)
class NftServiceInfo:
    """Which objects one service port got on this node (None: not written)."""

    service_port: str  # ns/name:port
    protocol: str  # lower case
    service_chain: Optional[str]
    local_chain: Optional[str]
    external_chain: Optional[str]
    firewall_chain: Optional[str]
    endpoints: Tuple[Tuple[str, str], ...]  # (ip:port, endpoint-… chain)
    affinity_sets: Tuple[str, ...]
    elements: Tuple[Element, ...]


@dataclass
class _Step:
    """One step of a service port's pass in syncProxyRules: ensure a chain or an element."""

    chain: Optional[str] = None
    endpoint: bool = False  # an endpoint chain (may be kept as is on a restart, §4.5)
    affinity_set: Optional[str] = None  # an endpoint's affinity set name (whether used or not)
    affinity: bool = False  # ClientIP affinity is on: the set is wanted
    element: Optional[Element] = None


@dataclass
class _PortPlan:
    """Everything syncProxyRules does for one service port, in its order."""

    service: Tuple[str, str]  # (namespace, name): what "changed" is tracked by
    steps: List[_Step]
    rules: List[Op]  # written unless the service is unchanged (skipServiceUpdate)
    endpoint_rules: List[Tuple[str, List[Op]]]  # (endpoint chain, its rule ops)
    info: NftServiceInfo
    # Endpoints exist, but none local for an internal / external Local policy ("drop").
    no_local_internal: bool = False
    no_local_external: bool = False
    # what the plan is made from (the port and its endpoints as this node sees them), digested:
    # the same in every process, so a table's digest needs no rendering of the table
    digest: str = ""


def _plan_port(sp: ServicePort, eps: Sequence[Any], s: _NftSettings) -> _PortPlan:
    """The steps, rules and objects of one service port (proxier.go syncProxyRules' loop body)."""
    config = s.config
    v6 = s.v6
    ip = s.ip
    proto = _PROTOCOLS.get(sp.protocol) or sp.protocol.lower()
    name = sp.port_name_string
    base = service_port_chain_base(sp.namespace, sp.name, proto, sp.port_name)
    cluster_chain = SERVICE_PREFIX + base
    local_chain = LOCAL_PREFIX + base
    ext_chain = EXTERNAL_PREFIX + base
    fw_chain = FIREWALL_PREFIX + base

    t = port_traffic(sp, v6)
    external_ips, lb_vips, source_ranges = t.external_ips, t.lb_vips, t.source_ranges
    node_port = sp.node_port
    externally_accessible, external_local, internal_local = t.externally_accessible, t.external_local, t.internal_local
    uses_cluster, uses_local = t.uses_cluster, t.uses_local
    affinity = sp.session_affinity == "ClientIP"

    cluster_eps, local_eps, reachable, has_endpoints = categorize_endpoints(
        eps, uses_cluster, uses_local, config)
    ep_chain = {}
    for e in reachable:
        ep_chain[e.string] = endpoint_chain_base(sp.namespace, sp.name, proto, sp.port_name,
                                                 e.string)

    steps: List[_Step] = []
    for e in reachable:
        epbase = ep_chain[e.string]
        steps.append(_Step(chain=ENDPOINT_PREFIX + epbase, endpoint=True,
                           affinity_set=AFFINITY_PREFIX + epbase, affinity=affinity))
    uses_cluster_chain = bool(cluster_eps) and uses_cluster
    if uses_cluster_chain:
        steps.append(_Step(chain=cluster_chain))
    uses_local_chain = bool(local_eps) and uses_local
    if uses_local_chain:
        steps.append(_Step(chain=local_chain))

    internal_chain = local_chain if internal_local else cluster_chain
    has_internal = has_endpoints and not (internal_local and not local_eps)
    external_policy_chain = local_chain if external_local else cluster_chain
    has_external = has_endpoints and not (external_local and not local_eps)
    # hasEndpoints, not hasExternalEndpoints: the short-circuit rules for pods and the node
    # are needed even when no endpoint is local.
    uses_ext = has_endpoints and externally_accessible
    if uses_ext:
        steps.append(_Step(chain=ext_chain))

    if not has_endpoints:
        internal_verdict = external_verdict = f"goto {REJECT_CHAIN}"
    else:
        internal_verdict = "" if has_internal else "drop"
        external_verdict = "" if has_external else "drop"

    port = str(sp.port)
    cip = sp.cluster_ip

    def elem(container: str, key: Tuple[str, ...], value: str = "", comment: Optional[str] = None):
        steps.append(_Step(element=Element(container, key, (value,) if value else (),
                                           "map" if value else "set", comment)))

    elem(CLUSTER_IPS, (cip,))
    if has_internal:
        elem(SERVICE_IPS, (cip, proto, port), f"goto {internal_chain}")
    else:
        elem(NO_ENDPOINT_SERVICES, (cip, proto, port), internal_verdict, name)
    for x in external_ips:
        if has_endpoints:
            elem(SERVICE_IPS, (x, proto, port), f"goto {ext_chain}")
        if not has_external:
            elem(NO_ENDPOINT_SERVICES, (x, proto, port), external_verdict, name)

    # Unlike iptables mode's KUBE-FW-, the firewall does not depend on endpoints (§3.6).
    uses_fw = bool(lb_vips) and bool(source_ranges)
    if uses_fw:
        steps.append(_Step(chain=fw_chain))
    for x in lb_vips:
        if has_endpoints:
            elem(SERVICE_IPS, (x, proto, port), f"goto {ext_chain}")
        if uses_fw:
            elem(FIREWALL_IPS, (x, proto, port), f"goto {fw_chain}")
    if not has_external:
        for x in lb_vips:
            elem(NO_ENDPOINT_SERVICES, (x, proto, port), external_verdict, name)

    # NodePorts are not subject to loadBalancerSourceRanges ("for better or for worse").
    if node_port:
        if has_endpoints:
            elem(SERVICE_NODEPORTS, (proto, str(node_port)), f"goto {ext_chain}")
        if not has_external:
            elem(NO_ENDPOINT_NODEPORTS, (proto, str(node_port)), external_verdict, name)

    rules: List[Op] = []

    def rule(chain: str, text: str, comment: Optional[str] = None):
        rules.append(Op("add", Rule(chain, text, comment)))

    # Masquerade off-cluster traffic to the ClusterIP (§3.3 rule 1).
    if has_internal:
        if config.masquerade_all:
            rule(internal_chain, f"{ip} daddr {cip} jump {MARK_MASQ}")
        elif s.if_not_local:
            rule(internal_chain, f"{ip} daddr {cip} {s.if_not_local} jump {MARK_MASQ}")

    # External destinations (§3.5).
    if uses_ext:
        if not external_local:
            rule(ext_chain, f"jump {MARK_MASQ}")
        else:
            if s.if_local:
                # Pod traffic to an external destination acts as if it went out to the load
                # balancer and came back: every endpoint, no traffic policy.
                rule(ext_chain, f"{s.if_local} goto {cluster_chain}", "short-circuit pod traffic")
            # The node's own traffic: its source address is local (possibly the LB IP).
            rule(ext_chain, f"fib saddr type local jump {MARK_MASQ}", "masquerade local traffic")
            rule(ext_chain, f"fib saddr type local goto {cluster_chain}",
                 "short-circuit local traffic")
        if has_external:
            rule(ext_chain, f"goto {external_policy_chain}")

    # loadBalancerSourceRanges (§3.6).
    if uses_fw:
        sources = []
        allow_from_node = False
        for cidr in source_ranges:
            sources.append(cidr)
            if _cidr_contains(cidr, s.node_ip):
                allow_from_node = True
        if allow_from_node:
            # A node reaching a VIP it holds loops back with the VIP as source.
            sources.extend(lb_vips)
        rule(fw_chain, f"{ip} saddr != {{ {' , '.join(sources)} }} drop")

    affinity_sets = []
    if affinity:
        for e in reachable:
            set_name = AFFINITY_PREFIX + ep_chain[e.string]
            affinity_sets.append(set_name)
            # "dynamic": RHEL8's kernel adds it itself, and a later add without it would fail.
            rules.append(Op("add", Set(set_name, "set", s.addr_type, ("dynamic", "timeout"),
                                       sp.session_affinity_timeout)))

    def service_to_endpoints(chain: str, chain_eps: Sequence[Any]):
        """writeServiceToEndpointRules: affinity lookups, then one numgen vmap (§3.3)."""
        if affinity:
            for e in chain_eps:
                b = ep_chain[e.string]
                rule(chain, f"{ip} saddr @{AFFINITY_PREFIX}{b} goto {ENDPOINT_PREFIX}{b}")
        entries = " , ".join(f"{i} : goto {ENDPOINT_PREFIX}{ep_chain[e.string]}"
                             for i, e in enumerate(chain_eps))
        rule(chain, f"numgen random mod {len(chain_eps)} vmap {{ {entries} }}")

    if uses_cluster_chain:
        service_to_endpoints(cluster_chain, cluster_eps)
    if uses_local_chain:
        service_to_endpoints(local_chain, local_eps)

    endpoint_rules = []
    for e in reachable:
        b = ep_chain[e.string]
        chain = ENDPOINT_PREFIX + b
        ops = [Op("add", Rule(chain, f"{ip} saddr {e.ip} jump {MARK_MASQ}"))]  # hairpin
        if affinity:
            ops.append(Op("add", Rule(chain, f"update @{AFFINITY_PREFIX}{b} {{ {ip} saddr }}")))
        ops.append(Op("add", Rule(chain, f"meta l4proto {proto} dnat to {e.string}")))
        endpoint_rules.append((chain, ops))

    info = NftServiceInfo(
        service_port=name, protocol=proto,
        service_chain=cluster_chain if uses_cluster_chain else None,
        local_chain=local_chain if uses_local_chain else None,
        external_chain=ext_chain if uses_ext else None,
        firewall_chain=fw_chain if uses_fw else None,
        endpoints=tuple((e.string, ENDPOINT_PREFIX + ep_chain[e.string]) for e in reachable),
        affinity_sets=tuple(affinity_sets),
        elements=tuple(st.element for st in steps if st.element is not None))
    return _PortPlan((sp.namespace, sp.name), steps, rules, endpoint_rules, info,
                     has_endpoints and not has_internal, has_endpoints and not has_external)


def _setup_ops(s: _NftSettings, first_sync: bool) -> List[Op]:
    """setupNFTables: the table, base and fixed chains, sets and maps (full syncs only, §4.2)."""
    ip = s.ip
    ops: List[Op] = [Op("add", Table(TABLE_COMMENT))]
    if first_sync:
        # Once per process: add+delete every base chain, so that changed hooks or priorities
        # (the 1.34 re-prioritisation) cannot make the transaction fail.
        for name, _, _, _ in BASE_CHAINS:
            ops += [Op("add", Chain(name)), Op("delete", Chain(name))]
    for name, ctype, hook, prio in BASE_CHAINS:
        chain = Chain(name, ctype, hook, prio)
        ops += [Op("add", chain), Op("flush", chain)]
    created = set()

    def ensure(name: str):
        if name not in created:
            created.add(name)
            ops.extend([Op("add", Chain(name)), Op("flush", Chain(name))])

    def rule(chain: str, text: str, comment: Optional[str] = None):
        ops.append(Op("add", Rule(chain, text, comment)))

    for dst, src, extra in JUMP_CHAINS:
        ensure(dst)
        rule(src, _concat(extra, "jump", dst))
    for name in (SERVICES, CLUSTER_IPS_CHECK, MASQUERADING, MARK_MASQ):
        ensure(name)
    rule(MARK_MASQ, f"mark set mark or {s.mark}")
    # Clearing the mark keeps a packet that crosses the stack again from being masqueraded twice.
    rule(MASQUERADING, f"mark and {s.mark} == 0 return")
    rule(MASQUERADING, f"mark set mark xor {s.mark}")
    rule(MASQUERADING, "masquerade fully-random")

    ops.append(Op("add", Set(CLUSTER_IPS, "set", s.addr_type, comment="Active ClusterIPs")))
    rule(CLUSTER_IPS_CHECK, f"{ip} daddr @{CLUSTER_IPS} reject",
         "Reject traffic to invalid ports of ClusterIPs")
    if s.service_cidrs:
        rule(CLUSTER_IPS_CHECK, f"{ip} daddr {{ {s.service_cidrs} }} drop",
             "Drop traffic to unallocated ClusterIPs")

    nodeport_ips = Set(NODEPORT_IPS, "set", s.addr_type, comment="IPs that accept NodePort traffic")
    ops.append(Op("add", nodeport_ips))
    if s.npa_match_all:
        ops.append(Op("delete", nodeport_ips))  # add+delete: gone whether or not it existed
    else:
        ops.append(Op("flush", nodeport_ips))
        ops += [Op("add", Element(NODEPORT_IPS, (x,))) for x in s.node_port_ips]

    dispatch = f"{s.addr_type} . inet_proto . inet_service : verdict"
    ops.append(Op("add", Set(NO_ENDPOINT_SERVICES, "map", dispatch, comment=(
        "vmap to drop or reject packets to services with no endpoints"))))
    ops.append(Op("add", Set(NO_ENDPOINT_NODEPORTS, "map", "inet_proto . inet_service : verdict",
                             comment=("vmap to drop or reject packets to service nodeports "
                                      "with no endpoints"))))
    reject = Chain(REJECT_CHAIN, comment="helper for @no-endpoint-services / @no-endpoint-nodeports")
    ops += [Op("add", reject), Op("flush", Chain(REJECT_CHAIN))]
    rule(REJECT_CHAIN, "reject")
    rule(SERVICE_ENDPOINTS_CHECK, f"{ip} daddr . meta l4proto . th dport vmap @{NO_ENDPOINT_SERVICES}")
    if s.npa_match_all:
        rule(NODEPORT_ENDPOINTS_CHECK,
             f"{s.no_localhost} meta l4proto . th dport vmap @{NO_ENDPOINT_NODEPORTS}")
    else:
        rule(NODEPORT_ENDPOINTS_CHECK,
             f"{ip} daddr @{NODEPORT_IPS} meta l4proto . th dport vmap @{NO_ENDPOINT_NODEPORTS}")

    ops.append(Op("add", Set(FIREWALL_IPS, "map", dispatch,
                             comment="destinations that are subject to LoadBalancerSourceRanges")))
    ensure(FIREWALL_CHECK)
    rule(FIREWALL_CHECK, f"{ip} daddr . meta l4proto . th dport vmap @{FIREWALL_IPS}")

    ops.append(Op("add", Set(SERVICE_IPS, "map", dispatch,
                             comment="ClusterIP, ExternalIP and LoadBalancer IP traffic")))
    ops.append(Op("add", Set(SERVICE_NODEPORTS, "map", "inet_proto . inet_service : verdict",
                             comment="NodePort traffic")))
    rule(SERVICES, f"{ip} daddr . meta l4proto . th dport vmap @{SERVICE_IPS}")
    if s.npa_match_all:
        rule(SERVICES, f"fib daddr type local {s.no_localhost} meta l4proto . th dport vmap "
                       f"@{SERVICE_NODEPORTS}")
    else:
        rule(SERVICES, f"{ip} daddr @{NODEPORT_IPS} meta l4proto . th dport vmap @{SERVICE_NODEPORTS}")
    return ops


class _ElementStore:
    """nftElementStorage: kube-proxy's memory of one set or map, to write only what changed (§4.4)."""

    def __init__(self, kind: str, name: str, existing: Iterable[Element]):
        self.kind, self.name = kind, name
        existing = list(existing)
        self.elements: Dict[str, str] = {}
        self.order: List[Tuple[str, ...]] = []
        for e in existing:
            k = e.key_text
            if k not in self.elements:
                self.order.append(e.key)
            self.elements[k] = e.value_text
        self.leftover = dict.fromkeys(e.key_text for e in existing)

    def ensure(self, elem: Element, ops: List[Op]) -> None:
        key, value = elem.key_text, elem.value_text
        old = self.elements.get(key)
        if old is None:
            ops.append(Op("add", elem))
            self.elements[key] = value
            return
        if old != value:
            # A map element cannot be changed in place: delete, then add.
            ops += [Op("delete", elem), Op("add", elem)]
            self.elements[key] = value
        self.leftover.pop(key, None)

    def cleanup(self, ops: List[Op]) -> None:
        for key in self.order:
            k = " . ".join(key)
            if k in self.leftover:
                ops.append(Op("delete", Element(self.name, key, kind=self.kind)))
                del self.elements[k]


# --- the result -------------------------------------------------------------------------------------

@dataclass
class NftSyncState:
    """What a node holds after a sync, and what kube-proxy remembers: pass it as `previous`."""

    ruleset: "NftRuleset"
    kernel: NftTable
    stale_chains: Dict[str, float] = field(default_factory=dict)  # flushed, to delete ≥ 1 s later
    consumed: bool = False  # a sync(consume=True) took its table over: it cannot be synced from again


@dataclass
class NftSync:
    """One sync: the stale-chain deletions (run first, on their own), then the main transaction."""

    cleanup: str  # "delete chain …" lines, or "" (its own `nft -f -`; a failure forces a full sync)
    transaction: str
    operations: int  # NumOperations() of the main transaction
    cleanup_operations: int
    full: bool
    state: NftSyncState


Previous = Union[None, "NftRuleset", NftSyncState, NftTable]


class NftRuleset:
    """kube-proxy's nftables state for one node and one IP family: render_nft's result."""

    def __init__(self, settings: _NftSettings, by_service: Dict[Tuple[str, str], Tuple[_PortPlan, ...]],
                 fingerprints: Dict[Tuple[str, str], Any]):
        self._s = settings
        # service (namespace, name) -> its ports' plans; the order services are rendered in
        self._by_service = by_service
        self._order = sorted(by_service, key=_service_order)
        self._plan_list: Optional[List[_PortPlan]] = None
        self._fingerprints = fingerprints
        self._table: Optional[NftTable] = None
        self._digest_sum = sum(int(p.digest, 16) for plans in by_service.values() for p in plans)
        # updated()'s: the ruleset this one was made from (weakly: a long-lived lab must not keep
        # every ruleset it ever had) and the services that differ from it
        self._base: Optional["weakref.ref[NftRuleset]"] = None
        self._changed: frozenset = frozenset()
        # element (store, key text) -> how many services have it (built when a partial sync needs it)
        self._owners: Optional[Dict[Tuple[str, str], int]] = None

    @property
    def _plans(self) -> List[_PortPlan]:
        if self._plan_list is None:
            self._plan_list = [p for svc in self._order for p in self._by_service[svc]]
        return self._plan_list

    def updated_from(self, services: Iterable[Tuple[str, str]], groups: Dict[Tuple[str, str], tuple]) -> "NftRuleset":
        """updated() for SERVICES, their ports and endpoints taken from GROUPS (service_groups())."""
        services = frozenset(services)
        none = ((), ())
        return self.updated(services, [sp for svc in services for sp in groups.get(svc, none)[0]],
                            [e for svc in services for e in groups.get(svc, none)[1]])

    def updated(self, services: Iterable[Tuple[str, str]], service_ports: Iterable[ServicePort],
                endpoints: Iterable[Endpoint]) -> "NftRuleset":
        """This ruleset after SERVICES (namespace, name) changed, as kube-proxy's change trackers
        hand a sync only the Services and EndpointSlices that changed: SERVICE_PORTS and ENDPOINTS
        are all those SERVICES now have (a Service with no port left is gone). Costs what changed;
        render_nft() of everything gives the same ruleset."""
        s = self._s
        services = frozenset(services)
        eps_by_key = endpoints_map((e for e in endpoints if (e.namespace, e.service) in services), s.config)
        ports: Dict[Tuple[str, str], Dict[tuple, ServicePort]] = {svc: {} for svc in services}
        for sp in service_ports:
            svc = (sp.namespace, sp.name)
            if svc in ports and sp.cluster_ip and (":" in sp.cluster_ip) == s.v6:
                ports[svc][sp.key] = sp
        new = NftRuleset.__new__(NftRuleset)
        new._s = s
        new._by_service = dict(self._by_service)
        new._fingerprints = dict(self._fingerprints)
        new._plan_list = None
        new._table = None
        new._digest_sum = self._digest_sum
        order = list(self._order)
        changed_ports = []
        for svc in sorted(services, key=_service_order):
            old = new._by_service.pop(svc, ())
            new._digest_sum -= sum(int(p.digest, 16) for p in old)
            mine = sorted(ports[svc].values(), key=lambda p: (p.port_name, p.protocol))
            changed_ports += mine
            plans = tuple(_cached_plan(sp, eps_by_key.get(sp.key, ()), s) for sp in mine)
            new._digest_sum += sum(int(p.digest, 16) for p in plans)
            at = bisect.bisect_left(order, _service_order(svc), key=_service_order)
            present = at < len(order) and order[at] == svc
            if plans:
                new._by_service[svc] = plans
                if not present:
                    order.insert(at, svc)
            elif present:
                del order[at]
        new._order = order
        fresh = _fingerprints(changed_ports, eps_by_key)
        for svc in services:
            if svc in fresh:
                new._fingerprints[svc] = fresh[svc]
            else:
                new._fingerprints.pop(svc, None)
        new._base, new._changed, new._owners = weakref.ref(self), services, None
        return new

    @property
    def config(self) -> ProxyConfig:
        return self._s.config

    def renders_with(self, config: ProxyConfig, service_cidrs: Sequence[str]) -> bool:
        """Whether render_nft(CONFIG, ..., service_cidrs=SERVICE_CIDRS) has this ruleset's settings
        (so that updated() of it is such a render)."""
        return config == self._s.config and _family_cidrs(service_cidrs, self._s.v6) == self._s.service_cidrs

    @property
    def family(self) -> str:
        """The nft family: "ip" or "ip6"."""
        return self._s.family

    @property
    def services(self) -> List[NftServiceInfo]:
        """Per service port, in render order: the chains, sets and elements it owns."""
        return [p.info for p in self._plans]

    @property
    def no_local_endpoints(self) -> Tuple[int, int]:
        """sync_proxy_rules_no_local_endpoints_total{traffic_policy="internal"|"external"}:
        service ports whose Local policy finds endpoints, but none on this node."""
        return (sum(p.no_local_internal for p in self._plans),
                sum(p.no_local_external for p in self._plans))

    @property
    def table(self) -> NftTable:
        """The table as a fresh node's first full sync leaves it."""
        if self._table is None:
            self._table = self.sync(None).state.kernel
        return self._table

    def dump(self) -> str:
        """The table in knftables' Fake.Dump() form (what proxier_test.go compares)."""
        return self.table.dump()

    def digest(self) -> str:
        """A short digest that names this table: the node's settings and every service port's plan
        inputs, in render order (the table is a pure function of them), without rendering the
        table itself (dump() of 3,000 Services costs ~0.5 s; this, a millisecond)."""
        # the plans' digests summed: their order follows from what they are made of, and a sum
        # lets updated() digest only what changed
        text = repr((self._s.config, self._s.service_cidrs)) + format(self._digest_sum % (1 << 160), "x")
        return hashlib.sha1(text.encode()).hexdigest()[:16]

    def to_transaction(self, previous: Previous = None, *, full: bool = False) -> str:
        """The `nft -f -` text: a fresh node's first full sync, or the sync from PREVIOUS
        (partial: only Services whose ports or endpoints changed; full=True forces a full one)."""
        return self.sync(previous, full=full).transaction

    def sync(self, previous: Previous = None, *, now: float = 0.0, full: bool = False,
             reference: bool = False, consume: bool = False) -> NftSync:
        """What kube-proxy's next syncProxyRules writes, coming from PREVIOUS at time NOW (seconds).

        PREVIOUS: None (a fresh node, kube-proxy's first sync), an NftTable (a node's existing
        table and a newly started kube-proxy), the NftRuleset of the previous sync, or the
        NftSyncState a previous sync() returned (which also remembers stale chains, deleted
        once they have been stale for more than a second, §4.3).

        A partial sync looks only at the Services that changed (_partial); REFERENCE=True walks
        every Service instead, as syncProxyRules does (the same transaction: the tests compare them).
        CONSUME=True: PREVIOUS (an NftSyncState) is not used again, so its table model is changed
        in place rather than copied (on a 10,000-Service node, the copy costs more than the rest).
        """
        s = self._s
        first = False
        stale: Dict[str, float] = {}
        prev_fp: Optional[Dict] = None
        if previous is None:
            kernel = NftTable(s.family, TABLE)
            first = full = True
        elif isinstance(previous, NftTable):
            kernel = previous
            first = full = True
        else:
            if isinstance(previous, NftRuleset):
                previous = NftSyncState(previous, previous.table)
            elif previous.consumed:
                raise ValueError("this sync state was consumed by a sync(consume=True): sync from its result")
            elif consume:
                previous.consumed = True
            kernel = previous.kernel
            stale = dict(previous.stale_chains)
            prev_fp = previous.ruleset._fingerprints
            old = previous.ruleset.config
            if old != s.config:
                if replace(old, zone=s.config.zone) != s.config:
                    first = full = True  # another configuration: a restarted kube-proxy
                    stale = {}
                else:
                    full = True  # OnTopologyChange
        # Stale chains flushed more than a second ago are deleted first, in their own transaction.
        cleanup: List[Op] = []
        for chain in sorted(stale):
            if stale[chain] < now - 1:
                cleanup.append(Op("delete", Chain(chain)))
                del stale[chain]
        owned = consume and isinstance(previous, NftSyncState)
        if cleanup:
            kernel = kernel.apply(cleanup, in_place=owned)
            owned = True

        if not full and not reference and isinstance(previous, NftSyncState):
            # (after a cleanup, KERNEL is this sync's own copy: the partial sync may change it)
            quick = self._partial(previous, kernel, stale, now, owned=owned)
            if quick is not None:
                ops, new_kernel, stale = quick
                return NftSync(
                    cleanup=transaction_text(cleanup, s.family, TABLE),
                    transaction=transaction_text(ops, s.family, TABLE),
                    operations=len(ops), cleanup_operations=len(cleanup), full=False,
                    state=NftSyncState(self, new_kernel, stale))

        ops: List[Op] = _setup_ops(s, first) if full else []
        existing_chains = set(kernel.chains)
        existing_affinity = {x for x in kernel.sets if is_affinity_set(x)}
        stores = {}
        for name in STORES:
            kind = "set" if name == CLUSTER_IPS else "map"
            stores[name] = _ElementStore(kind, name, kernel.elements(name))
        active_chains: set = set()
        active_affinity: set = set()

        def keep_endpoint_chain(step: _Step) -> bool:
            """epChainSkipUpdate: on a restarted kube-proxy's first sync, an endpoint chain
            already there (its name fixes its rules) is kept, if its affinity set matches."""
            return (first and step.chain in existing_chains
                    and step.affinity == (step.affinity_set in existing_affinity))

        for plan in self._plans:
            skip = (not full and prev_fp is not None
                    and prev_fp.get(plan.service) == self._fingerprints.get(plan.service))
            kept = set()
            for step in plan.steps:
                if step.element is not None:
                    stores[step.element.container].ensure(step.element, ops)
                    continue
                if not _activate(step, active_chains, active_affinity):
                    continue
                keep = step.endpoint and keep_endpoint_chain(step)
                if keep:
                    kept.add(step.chain)
                if not (skip or keep):
                    ops += [Op("add", Chain(step.chain)), Op("flush", Chain(step.chain))]
            if skip:
                continue
            ops += plan.rules
            for chain, chain_ops in plan.endpoint_rules:
                if chain not in kept:
                    ops += chain_ops

        # Stale chains cannot be deleted yet (before kernel 6.2 a chain just unreferenced by a map
        # element still counts as used for a while): flush them now, delete them later.
        for chain in sorted(existing_chains):
            if is_service_chain(chain):
                if chain not in active_chains:
                    ops.append(Op("flush", Chain(chain)))
                    stale[chain] = now
                else:
                    stale.pop(chain, None)
        # Stale affinity sets can go at once.
        for name in sorted(existing_affinity - active_affinity):
            ops.append(Op("delete", Set(name, "set")))
        for name in STORES:
            stores[name].cleanup(ops)

        new_kernel = kernel.apply(ops)
        return NftSync(
            cleanup=transaction_text(cleanup, s.family, TABLE),
            transaction=transaction_text(ops, s.family, TABLE),
            operations=len(ops), cleanup_operations=len(cleanup), full=full,
            state=NftSyncState(self, new_kernel, stale))

    # --- a partial sync that costs what changed -------------------------------------------------

    def _changed_services(self, before: "NftRuleset") -> frozenset:
        old, new = before._fingerprints, self._fingerprints
        # a Service whose ports and endpoints compare equal is skipped, as syncProxyRules skips it
        from_before = self._base is not None and self._base() is before
        candidates = self._changed if from_before else old.keys() | new.keys()
        return frozenset(svc for svc in candidates if old.get(svc) != new.get(svc))

    def _element_owners(self) -> Dict[Tuple[str, str], int]:
        """(store, key text) -> how many services have that element (built once, then carried
        from ruleset to ruleset by _partial)."""
        if self._owners is None:
            owners: Dict[Tuple[str, str], int] = {}
            for plans in self._by_service.values():
                for key in _element_keys(plans):
                    owners[key] = owners.get(key, 0) + 1
            self._owners = owners
        return self._owners

    def _partial(self, previous: NftSyncState, kernel: NftTable, stale: Dict[str, float],
                 now: float, owned: bool = False) -> Optional[Tuple[List[Op], NftTable, Dict[str, float]]]:
        """sync()'s loop for a partial sync, over the changed Services only: (ops, kernel after,
        stale chains), the very operations the whole walk writes, in its order; None when it
        cannot tell that (an element two Services share, or a kernel state not of this renderer's
        making), and sync() walks everything."""
        before = previous.ruleset
        changed = self._changed_services(before)
        # the element owners: carried over from the ruleset before (which gives its index up)
        owners = before._owners if before._owners is not None else before._element_owners()
        before._owners = None
        old_plans = {svc: before._by_service.get(svc, ()) for svc in changed}
        new_plans = {svc: self._by_service.get(svc, ()) for svc in changed}
        shared = False
        for svc in changed:
            for key in _element_keys(old_plans[svc]):
                if owners.get(key, 0) != 1:
                    shared = True
                owners[key] = owners.get(key, 0) - 1
                if owners[key] <= 0:
                    del owners[key]
            for key in _element_keys(new_plans[svc]):
                owners[key] = owners.get(key, 0) + 1
        for svc in changed:
            if any(owners[key] != 1 for key in _element_keys(new_plans[svc])):
                shared = True
        self._owners = owners
        if shared:
            return None

        ops: List[Op] = []
        written: Dict[Tuple[str, str], str] = {}        # (store, key text) -> value, this sync
        ensured: set = set()
        active_chains: set = set()
        active_affinity: set = set()
        for svc in sorted(changed, key=_service_order):
            for plan in new_plans[svc]:
                for step in plan.steps:
                    elem = step.element
                    if elem is not None:
                        where = (elem.container, elem.key_text)
                        ensured.add(where)
                        if where in written:
                            current: Optional[str] = written[where]
                        else:
                            found = kernel.find_element(elem.container, *elem.key)
                            current = found.value_text if found is not None else None
                        value = elem.value_text
                        if current is None:
                            ops.append(Op("add", elem))
                        elif current != value:
                            ops += [Op("delete", elem), Op("add", elem)]
                        written[where] = value
                        continue
                    if _activate(step, active_chains, active_affinity):
                        ops += [Op("add", Chain(step.chain)), Op("flush", Chain(step.chain))]
                ops += plan.rules
                for _, chain_ops in plan.endpoint_rules:
                    ops += chain_ops

        # Chains: the changed Services' old ones, and those already stale, if still there
        # (every other service chain in the table belongs to an unchanged Service).
        candidates = {step.chain for svc in changed for plan in old_plans[svc] for step in plan.steps
                      if step.chain is not None and step.chain in kernel.chains}
        candidates.update(chain for chain in stale if chain in kernel.chains)
        candidates.update(chain for chain in active_chains if chain in kernel.chains)
        for chain in sorted(candidates):
            if not is_service_chain(chain):
                continue
            if chain not in active_chains:
                ops.append(Op("flush", Chain(chain)))
                stale[chain] = now
            else:
                stale.pop(chain, None)
        old_affinity = {step.affinity_set for svc in changed for plan in old_plans[svc] for step in plan.steps
                        if step.affinity and step.affinity_set in kernel.sets}
        for name in sorted(old_affinity - active_affinity):
            ops.append(Op("delete", Set(name, "set")))
        # Elements the changed Services had and have no more, store by store in the table's order.
        leftover: Dict[str, Dict[tuple, None]] = {}
        for svc in changed:
            for plan in old_plans[svc]:
                for step in plan.steps:
                    elem = step.element
                    if (elem is not None and (elem.container, elem.key_text) not in ensured
                            and kernel.find_element(elem.container, *elem.key) is not None):
                        leftover.setdefault(elem.container, {})[tuple(elem.key)] = None
        for name in STORES:
            gone = leftover.get(name)
            if not gone:
                continue
            keys = list(gone) if len(gone) == 1 else _in_table_order(kernel, name, gone)
            kind = "set" if name == CLUSTER_IPS else "map"
            ops += [Op("delete", Element(name, key, kind=kind)) for key in keys]
        return ops, kernel.apply(ops, in_place=owned), stale


def _activate(step: _Step, active_chains: set, active_affinity: set) -> bool:
    """Mark a chain step's chain (and affinity set) as in use; False if the chain already was."""
    if step.affinity:
        active_affinity.add(step.affinity_set)
    if step.chain in active_chains:
        return False
    active_chains.add(step.chain)
    return True


def _element_keys(plans: Sequence[_PortPlan]) -> set:
    """The (store, key text) of every element a Service's plans write."""
    return {(st.element.container, st.element.key_text) for plan in plans for st in plan.steps
            if st.element is not None}


def _in_table_order(kernel: NftTable, name: str, keys: Dict[tuple, None]) -> List[tuple]:
    """KEYS of set or map NAME in the order the table holds them (its insertion order)."""
    return [e.key for e in kernel.elements(name) if e.key in keys]


def _fingerprints(ports: Sequence[ServicePort], eps_by_key: Dict[tuple, list]) -> Dict:
    """Per Service (namespace, name): its ports and its endpoints as kube-proxy's change
    trackers compare them (a Service is "updated" when either differs)."""
    out: Dict[Tuple[str, str], Any] = {}
    svc_ports: Dict[Tuple[str, str], list] = {}
    for sp in ports:
        svc_ports.setdefault((sp.namespace, sp.name), []).append(sp)
    svc_eps: Dict[Tuple[str, str], list] = {}
    for key, eps in eps_by_key.items():
        svc_eps.setdefault(key[:2], []).append(
            (key[2], key[3], tuple((e.string, e.ready, e.serving, e.terminating, e.local,
                                    e.zone_hints, e.node_hints) for e in eps)))
    for svc in set(svc_ports) | set(svc_eps):
        ps = sorted(svc_ports.get(svc, ()), key=lambda p: (p.port_name, p.protocol))
        out[svc] = (tuple(ps), tuple(sorted(svc_eps.get(svc, ()))))
    return out


def render_nft(config: ProxyConfig, service_ports: Iterable[ServicePort],
               endpoints: Iterable[Endpoint], *, service_cidrs: Sequence[str] = ()) -> NftRuleset:
    """kube-proxy's nftables-mode state for this node (render()'s nftables counterpart).

    service_cidrs: the cluster's ServiceCIDRs (kube-proxy learns them from ServiceCIDR objects);
    with them, traffic to an unallocated ClusterIP is dropped (cluster-ips-check).
    config.node_port_addresses () means nftables mode's default, "primary".
    """
    s = _NftSettings(config, service_cidrs)
    v6 = s.v6
    eps_by_key = endpoints_map(endpoints, config)
    ports: Dict[tuple, ServicePort] = {}
    for sp in service_ports:
        if sp.cluster_ip and (":" in sp.cluster_ip) == v6:
            ports[sp.key] = sp
    ordered = sorted(ports.values(),
                     key=lambda p: (f"{p.namespace}/{p.name}", p.port_name, p.protocol))
    by_service: Dict[Tuple[str, str], List[_PortPlan]] = {}
    for sp in ordered:
        by_service.setdefault((sp.namespace, sp.name), []).append(
            _cached_plan(sp, eps_by_key.get(sp.key, ()), s))
    return NftRuleset(s, {svc: tuple(plans) for svc, plans in by_service.items()},
                      _fingerprints(ordered, eps_by_key))


def service_groups(service_ports: Iterable[ServicePort], endpoints: Iterable[Endpoint]) -> Dict[Tuple[str, str], tuple]:
    """(namespace, name) -> (its service ports, its endpoints): what kube-proxy's change trackers
    compare a Service by (pure). Inputs come grouped by Service, so runs are taken whole."""
    ports = _runs(service_ports, _SERVICE_OF_PORT)
    eps = _runs(endpoints, _SERVICE_OF_ENDPOINT)
    none = ()
    return {svc: (ports.get(svc, none), eps.get(svc, none)) for svc in ports.keys() | eps.keys()}


_SERVICE_OF_PORT = operator.attrgetter("namespace", "name")
_SERVICE_OF_ENDPOINT = operator.attrgetter("namespace", "service")


def _runs(items: Iterable[Any], key) -> Dict[Tuple[str, str], tuple]:
    out: Dict[Tuple[str, str], tuple] = {}
    for svc, run in itertools.groupby(items, key):
        got = out.get(svc)
        out[svc] = tuple(run) if got is None else got + tuple(run)
    return out


def changed_services(before: Dict[Tuple[str, str], tuple], now: Dict[Tuple[str, str], tuple]) -> frozenset:
    """The Services whose ports or endpoints differ between two service_groups()."""
    keys = list(now)
    differs = map(operator.ne, map(before.get, keys), map(now.__getitem__, keys))
    return frozenset(itertools.compress(keys, differs)) | (before.keys() - now.keys())


def _service_order(svc: Tuple[str, str]) -> str:
    """Where a Service's ports are rendered: sorted by "namespace/name" (then port name, protocol)."""
    return f"{svc[0]}/{svc[1]}"


# A service port's plan is a pure function of the port, its endpoints as this node sees them and
# the node's settings: the next sync (and every node with the same settings) reuses it, so a change
# re-plans only the ports it touched, as kube-proxy's partial sync writes only changed services.
# Plans are never changed once made. Bounded: cleared when it outgrows a few big labs.
_PLAN_CACHE: Dict[tuple, "_PortPlan"] = {}
_PLAN_CACHE_LIMIT = 200_000


def _cached_plan(sp: ServicePort, eps: Sequence[Any], s: _NftSettings) -> "_PortPlan":
    key = (s.config, s.service_cidrs, sp,
           tuple((e.ip, e.string, e.ready, e.serving, e.terminating, e.local, e.zone_hints, e.node_hints)
                 for e in eps))
    try:
        return _PLAN_CACHE[key]
    except KeyError:
        pass
    except TypeError:            # a field that cannot be hashed: plan it afresh
        return _digested(_plan_port(sp, eps, s), key)
    if len(_PLAN_CACHE) >= _PLAN_CACHE_LIMIT:
        _PLAN_CACHE.clear()
    plan = _PLAN_CACHE[key] = _digested(_plan_port(sp, eps, s), key)
    return plan


def _digested(plan: "_PortPlan", key: tuple) -> "_PortPlan":
    # repr, not hash(): a str's hash differs between processes, and the digest is compared across them
    plan.digest = hashlib.sha1(repr(key[2:]).encode()).hexdigest()
    return plan


def nft_ruleset_for_node(documents: Iterable[Any], node_name: str, family: str = IPV4,
                         source: str = "", service_cidrs: Sequence[str] = (),
                         **overrides: Any) -> Tuple[NftRuleset, List[str]]:
    """(NftRuleset, warnings): kube-proxy's nftables state on NODE_NAME for parsed documents
    (objects.ruleset_for_node's counterpart; OVERRIDES are ProxyConfig fields)."""
    from netlab.proxy.objects import build_render_input

    data = build_render_input(documents, node_name, family, source, **overrides)
    ruleset = render_nft(data.config, data.service_ports, data.endpoints,
                         service_cidrs=service_cidrs)
    return ruleset, data.warnings


__all__ = [
    "BASE_CHAINS", "JUMP_CHAINS", "NftRuleset", "NftServiceInfo", "NftSync", "NftSyncState",
    "TABLE", "changed_services", "endpoint_chain_base", "hash_and_truncate", "is_service_chain",
    "nft_ruleset_for_node", "render_nft", "service_groups", "service_port_chain_base",
]
