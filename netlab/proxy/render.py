"""What kube-proxy's iptables mode writes on a full sync, rule for rule.

A port of `syncProxyRules` (kubernetes pkg/proxy/iptables/proxier.go at 531be812), with
`CategorizeEndpoints` (pkg/proxy/topology.go), the endpoint-map building of
pkg/proxy/endpointslicecache.go and the --nodeport-addresses and local-traffic-detector
helpers of pkg/proxy/util. Section numbers (§) refer to docs/kube-proxy-iptables.md (from the repository's root).

kube-proxy walks its service map in Go map order (random); this renderer walks service
ports sorted by ``namespace/name``, port name and protocol, which is the order proxier_test.go
normalises to (sortIPTablesRules), so the output is deterministic.
"""

from __future__ import annotations

import ipaddress
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

from netlab.proxy import chains as ch
from netlab.proxy.model import (port_traffic, DETECT_BRIDGE_INTERFACE, DETECT_CLUSTER_CIDR,
                                DETECT_INTERFACE_NAME_PREFIX, DETECT_NODE_CIDR, IPV6,
                                MARK_PADDED, Endpoint, ProxyConfig, ServicePort)
from netlab.proxy.ruleset import Ruleset, ServiceChainInfo, Table

# Above this many endpoints (over all service ports) kube-proxy drops the comments of SEP
# rules and SVC/SVL → SEP rules to shrink the ruleset (largeClusterEndpointsThreshold).
LARGE_CLUSTER_ENDPOINTS_THRESHOLD = 1000

NFACCT_INVALID_DROPPED = "ct_state_invalid_dropped_pkts"
NFACCT_LOCALHOST_NODEPORTS = "localhost_nps_accepted_pkts"

_PROTOCOLS = {"TCP": "tcp", "UDP": "udp", "SCTP": "sctp"}
_NODEPORT_CATCH_ALL = ('-m comment --comment "kubernetes service nodeports; NOTE: this must '
                       'be the last rule in this chain"')

_probabilities: List[str] = ["<bad value>"]


def probability(n: int) -> str:
    """computeProbability: 1/n formatted as Go's %0.10f, cached like precomputedProbabilities."""
    while len(_probabilities) <= n:
        _probabilities.append("%0.10f" % (1.0 / len(_probabilities)))
    return _probabilities[n]


def masquerade_mark(config: ProxyConfig) -> str:
    """The masquerade mark: Go's %#08x of 1<<bit (0x00004000), or the unit tests' 0x4000."""
    value = 1 << config.masquerade_bit
    return "0x%08x" % value if config.mark_style == MARK_PADDED else "0x%x" % value


def endpoint_string(ip: str, port: int) -> str:
    """BaseEndpointInfo.String(): net.JoinHostPort(ip, port)."""
    return f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"


class _Ep:
    """An endpoint as the proxier sees it (BaseEndpointInfo), with its ip:port string."""

    __slots__ = ("ip", "string", "ready", "serving", "terminating", "local",
                 "zone_hints", "node_hints")

    def __init__(self, ep: Endpoint, string: str, local: bool):
        self.ip = ep.ip
        self.string = string
        self.ready = ep.ready
        self.serving = ep.serving
        self.terminating = ep.terminating
        self.local = local
        self.zone_hints = ep.zone_hints
        self.node_hints = ep.node_hints


def endpoints_map(endpoints: Iterable[Endpoint], config: ProxyConfig) -> Dict[tuple, List[_Ep]]:
    """Endpoints per ServicePort key, deduplicated by ip:port (a local copy wins) and sorted
    by the ip:port string, as endpointslicecache.go builds kube-proxy's endpointsMap."""
    v6 = config.family == IPV6
    node = config.node_name
    by_key: Dict[tuple, Dict[str, _Ep]] = {}
    for ep in endpoints:
        # An IPv4 proxier ignores IPv6 EndpointSlices and vice versa; port 0 is invalid.
        if (":" in ep.ip) != v6 or not ep.port:
            continue
        string = endpoint_string(ep.ip, ep.port)
        local = bool(node) and ep.node_name == node
        seen = by_key.get(ep.key)
        if seen is None:
            seen = by_key[ep.key] = {}
        if local or string not in seen:
            seen[string] = _Ep(ep, string, local)
    return {key: [d[s] for s in sorted(d)] for key, d in by_key.items()}


def _topology_mode(eps: Sequence[_Ep], config: ProxyConfig) -> str:
    """topologyModeFromHints: "PreferSameNode", "PreferSameZone" or "" (no topology)."""
    has_ready = False
    all_node_hints = all_zone_hints = True
    for_node = for_zone = False
    for ep in eps:
        if not ep.ready:
            continue
        has_ready = True
        if not ep.node_hints:
            all_node_hints = False
        elif config.node_name in ep.node_hints:
            for_node = True
        if not ep.zone_hints:
            all_zone_hints = False
        elif config.zone in ep.zone_hints:
            for_zone = True
    if not has_ready:
        return ""
    if config.prefer_same_traffic_distribution and all_node_hints and for_node:
        return "PreferSameNode"
    if all_zone_hints and for_zone:
        return "PreferSameZone"
    return ""


def categorize_endpoints(eps: Sequence[_Ep], uses_cluster: bool, uses_local: bool,
                         config: ProxyConfig) -> Tuple[list, list, list, bool]:
    """CategorizeEndpoints: (cluster endpoints, local endpoints, locally reachable, has any).

    Usable means ready; if none is, serving-and-terminating (independently for Cluster
    and Local policy). Reachable is sorted by ip:port (kube-proxy's merge uses map order).
    """
    cluster: list = []
    local: list = []
    has_any = False
    if not eps:
        return cluster, local, [], False
    mode = ""
    if uses_cluster:
        mode = _topology_mode(eps, config)
        if mode == "PreferSameNode":
            cluster = [e for e in eps if e.ready and config.node_name in e.node_hints]
        elif mode == "PreferSameZone":
            cluster = [e for e in eps if e.ready and config.zone in e.zone_hints]
        else:
            cluster = [e for e in eps if e.ready]
        if not cluster:
            cluster = [e for e in eps if e.serving and e.terminating]
        has_any = bool(cluster)
    if not uses_local:
        return cluster, local, cluster, has_any
    local_ready = local_terminating = False
    for e in eps:
        if e.ready:
            has_any = True
            local_ready = local_ready or e.local
        elif e.serving and e.terminating:
            has_any = True
            local_terminating = local_terminating or e.local
    use_terminating = False
    if local_ready:
        local = [e for e in eps if e.local and e.ready]
    elif local_terminating:
        use_terminating = True
        local = [e for e in eps if e.local and e.serving and e.terminating]
    if not uses_cluster:
        return cluster, local, local, has_any
    if mode == "" and not use_terminating:
        return cluster, local, cluster, has_any
    merged = {e.string: e for e in cluster}
    merged.update((e.string, e) for e in local)
    return cluster, local, [merged[s] for s in sorted(merged)], has_any


class _Settings:
    """The proxier's per-node constants derived from ProxyConfig (NewProxier and server.go)."""

    def __init__(self, config: ProxyConfig):
        self.config = config
        self.v6 = config.family == IPV6
        self.mark = masquerade_mark(config)
        fam = [ip for ip in config.node_ips if (":" in ip) == self.v6]
        self.node_ip: Optional[str] = fam[0] if fam else None
        self.if_local, self.if_not_local = self._detector()
        self._node_port_addresses()
        # NewProxier turns localhost NodePorts off when nodePortAddresses excludes 127.0.0.1;
        # the IPv6 proxier never has them (NewDualStackProxier passes false).
        self.localhost_nodeports = (config.localhost_nodeports and not self.v6
                                    and self.npa_contains_ipv4_loopback)

    def _detector(self) -> Tuple[Optional[str], Optional[str]]:
        """(IfLocal, IfNotLocal) args of the local-traffic detector, or (None, None) (§5.3)."""
        cfg = self.config
        mode = cfg.detect_local_mode
        if mode in (DETECT_CLUSTER_CIDR, DETECT_NODE_CIDR):
            source = cfg.cluster_cidr.split(",") if mode == DETECT_CLUSTER_CIDR else cfg.node_pod_cidrs
            # server.go: MapCIDRsByIPFamily(...)[family][0].String(), the canonical network.
            cidrs = [_canonical_network(c) for c in source if c.strip() and (":" in c) == self.v6]
            cidrs = [c for c in cidrs if c]
            if cidrs:
                return f"-s {cidrs[0]}", f"! -s {cidrs[0]}"
        elif mode == DETECT_BRIDGE_INTERFACE and cfg.bridge_interface:
            return f"-i {cfg.bridge_interface}", f"! -i {cfg.bridge_interface}"
        elif mode == DETECT_INTERFACE_NAME_PREFIX and cfg.interface_name_prefix:
            return f"-i {cfg.interface_name_prefix}+", f"! -i {cfg.interface_name_prefix}+"
        return None, None

    def _node_port_addresses(self) -> None:
        """NewNodePortAddresses + GetNodeIPs over the node's interface addresses."""
        cfg = self.config
        strings = list(cfg.node_port_addresses)
        if strings == ["primary"]:
            # --nodeport-addresses=primary: the node's primary IP of each family.
            primaries = []
            for v6 in (False, True):
                fam = [ip for ip in cfg.node_ips if (":" in ip) == v6]
                if fam:
                    primaries.append(fam[0] + ("/128" if v6 else "/32"))
            strings = primaries
        strings = [s.strip() for s in strings if s.strip() and (":" in s) == self.v6]
        if not strings:
            strings = ["::/0" if self.v6 else "0.0.0.0/0"]
        self.npa_match_all = False
        self.npa_contains_ipv4_loopback = False
        cidrs = []
        loopback_start = ipaddress.ip_address("127.0.0.0")
        for s in strings:
            net = ipaddress.ip_network(s, strict=False)
            if net.version == 4 and (net.network_address.is_loopback or loopback_start in net):
                self.npa_contains_ipv4_loopback = True
            if net.prefixlen == 0:
                cidrs = [net]
                self.npa_match_all = True
                break
            cidrs.append(net)
        addresses = cfg.interface_addresses
        if addresses is None:
            addresses = ("127.0.0.1", "::1") + tuple(cfg.node_ips)
        ips = []
        for net in cidrs:
            for a in addresses:
                ip = ipaddress.ip_address(a)
                if ip.version == net.version and ip in net and a not in ips:
                    ips.append(a)
        self.node_port_ips = ips


def _canonical_network(cidr: str) -> Optional[str]:
    try:
        return str(ipaddress.ip_network(cidr.strip(), strict=False))
    except ValueError:
        return None


def _cidr_contains(cidr: str, ip: Optional[str]) -> bool:
    if not ip:
        return False
    try:
        net = ipaddress.ip_network(cidr, strict=False)
        addr = ipaddress.ip_address(ip)
    except ValueError:
        return False
    return addr.version == net.version and addr in net


def _is_loopback(ip: str) -> bool:
    return ipaddress.ip_address(ip).is_loopback


def render(config: ProxyConfig, service_ports: Iterable[ServicePort],
           endpoints: Iterable[Endpoint], *, existing_nat_chains: Iterable[str] = ()) -> Ruleset:
    """kube-proxy's filter and nat tables for this node after a full sync.

    existing_nat_chains: nat chains already on the node; stale KUBE-SVC/SVL/EXT/FW/SEP ones
    among them are flushed and deleted ("-X"), as kube-proxy does after its iptables-save.
    """
    s = _Settings(config)
    v6 = s.v6
    eps_by_key = endpoints_map(endpoints, config)

    ports: Dict[tuple, ServicePort] = {}
    for sp in service_ports:
        if sp.cluster_ip and (":" in sp.cluster_ip) == v6:
            ports[sp.key] = sp
    ordered = sorted(ports.values(),
                     key=lambda p: (f"{p.namespace}/{p.name}", p.port_name, p.protocol))

    total_endpoints = sum(len(eps_by_key.get(sp.key, ())) for sp in ordered)
    large = total_endpoints > LARGE_CLUSTER_ENDPOINTS_THRESHOLD

    filter_chains = list(ch.FILTER_CHAINS)
    nat_chains = list(ch.NAT_CHAINS)
    fr: List[Tuple[str, str]] = []  # filter rules
    nr: List[Tuple[str, str]] = []  # nat rules
    mark = s.mark

    # §2.1 fixed nat rules. The XOR clears the mark so a packet re-traversing the stack
    # (e.g. through a veth into another namespace) is not masqueraded twice.
    nr.append((ch.KUBE_POSTROUTING, f"-m mark ! --mark {mark}/{mark} -j RETURN"))
    nr.append((ch.KUBE_POSTROUTING, f"-j MARK --xor-mark {mark}"))
    masq = '-m comment --comment "kubernetes service traffic requiring SNAT" -j MASQUERADE'
    nr.append((ch.KUBE_POSTROUTING, masq + " --random-fully" if config.random_fully else masq))
    nr.append((ch.KUBE_MARK_MASQ, f"-j MARK --or-mark {mark}"))

    if not v6 and s.localhost_nodeports:
        # route_localnet=1 lets remote hosts reach 127.0.0.0/8 services (kubernetes#90259);
        # kubelet writes the identical rule (§2.2).
        filter_chains.append(ch.KUBE_FIREWALL)
        fr.append((ch.KUBE_FIREWALL, '-m comment --comment "block incoming localnet connections" '
                   "-d 127.0.0.0/8 ! -s 127.0.0.0/8 -m conntrack ! --ctstate RELATED,ESTABLISHED,DNAT -j DROP"))

    active = set()
    services: List[ServiceChainInfo] = []
    for sp in ordered:
        _render_service_port(sp, eps_by_key.get(sp.key, ()), s, large, fr, nr, nat_chains,
                             active, services)

    # Stale chains: declaring flushes them, then -X deletes them (§7.1 step 4).
    stale = sorted({c for c in existing_nat_chains if ch.is_service_chain(c) and c not in active})
    nat_chains.extend(stale)
    deleted_at = len(nr)

    # The NodePort catch-all must be the last rule of nat KUBE-SERVICES (§6.3).
    if s.npa_match_all:
        dest = "-m addrtype --dst-type LOCAL"
        if v6:
            dest += " ! -d ::1/128"
        elif not s.localhost_nodeports:
            dest += " ! -d 127.0.0.0/8"
        nr.append((ch.KUBE_SERVICES, f"{_NODEPORT_CATCH_ALL} {dest} -j {ch.KUBE_NODEPORTS}"))
    else:
        for ip in s.node_port_ips:
            if _is_loopback(ip) and (v6 or not s.localhost_nodeports):
                continue  # kube-proxy logs an error and skips it
            nr.append((ch.KUBE_SERVICES, f"{_NODEPORT_CATCH_ALL} -d {ip} -j {ch.KUBE_NODEPORTS}"))

    # §2.2: INVALID drop unless nf_conntrack_tcp_be_liberal; nfacct only if the counter exists.
    if not config.tcp_be_liberal:
        nfacct = f" -m nfacct --nfacct-name {NFACCT_INVALID_DROPPED}" if config.nfacct else ""
        fr.append((ch.KUBE_FORWARD, f"-m conntrack --ctstate INVALID{nfacct} -j DROP"))
    fr.append((ch.KUBE_FORWARD, '-m comment --comment "kubernetes forwarding rules" '
               f"-m mark --mark {mark}/{mark} -j ACCEPT"))
    fr.append((ch.KUBE_FORWARD, '-m comment --comment "kubernetes forwarding conntrack rule" '
               "-m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT"))

    tables = {
        "filter": Table("filter", chains=filter_chains, rules=fr),
        "nat": Table("nat", chains=nat_chains, rules=nr, deleted=stale,
                     deleted_at=deleted_at if stale else None),
    }
    return Ruleset(tables=tables, family=config.family, implied_jumps=True, services=services)


def _render_service_port(sp: ServicePort, eps: Sequence[_Ep], s: _Settings, large: bool,
                         fr: list, nr: list, nat_chains: list, active: set,
                         services: list) -> None:
    """The rules of one service port, in syncProxyRules' order (§6, §7.1 step 3)."""
    config = s.config
    v6 = s.v6
    proto = _PROTOCOLS.get(sp.protocol) or sp.protocol.lower()
    name = sp.port_name_string
    svc_chain, svl_chain, ext_chain, fw_chain = ch.service_chains(name, proto)

    t = port_traffic(sp, v6)
    external_ips, lb_vips, source_ranges = t.external_ips, t.lb_vips, t.source_ranges
    node_port = sp.node_port
    externally_accessible, external_local, internal_local = t.externally_accessible, t.external_local, t.internal_local
    health_check_port = (sp.health_check_node_port
                         if sp.type == "LoadBalancer" and external_local else 0)   # NeedsHealthCheck
    uses_cluster, uses_local = t.uses_cluster, t.uses_local

    cluster_eps, local_eps, reachable, has_endpoints = categorize_endpoints(
        eps, uses_cluster, uses_local, config)
    uses_cluster_chain = bool(cluster_eps) and uses_cluster
    uses_local_chain = bool(local_eps) and uses_local

    internal_chain = svl_chain if internal_local else svc_chain
    has_internal = has_endpoints and not (internal_local and not local_eps)
    external_policy_chain = svl_chain if external_local else svc_chain
    has_external = has_endpoints and not (external_local and not local_eps)
    # The EXT chain exists whenever there are endpoints anywhere: it also holds the
    # short-circuit rules for pod and node traffic when there are no local endpoints.
    uses_ext = has_endpoints and externally_accessible
    uses_fw = has_endpoints and bool(lb_vips) and bool(source_ranges)
    lb_chain = fw_chain if uses_fw else ext_chain

    if not has_endpoints:
        internal_target = external_target = "REJECT"
        internal_comment = external_comment = f'"{name} has no endpoints"'
    else:
        internal_target = external_target = ""
        internal_comment = external_comment = ""
        if not has_internal:
            internal_target, internal_comment = "DROP", f'"{name} has no local endpoints"'
        if not has_external:
            external_target, external_comment = "DROP", f'"{name} has no local endpoints"'

    pp = f"-m {proto} -p {proto}"
    dport = f"--dport {sp.port}"
    cluster_ip = sp.cluster_ip

    # ClusterIP (§6.1).
    if has_internal:
        nr.append((ch.KUBE_SERVICES, f'-m comment --comment "{name} cluster IP" {pp} '
                   f"-d {cluster_ip} {dport} -j {internal_chain}"))
    else:
        fr.append((ch.KUBE_SERVICES, f"-m comment --comment {internal_comment} {pp} "
                   f"-d {cluster_ip} {dport} -j {internal_target}"))

    # externalIPs (§6.6).
    for ip in external_ips:
        if has_endpoints:
            nr.append((ch.KUBE_SERVICES, f'-m comment --comment "{name} external IP" {pp} '
                       f"-d {ip} {dport} -j {ext_chain}"))
        if not has_external:
            fr.append((ch.KUBE_EXTERNAL_SERVICES, f"-m comment --comment {external_comment} "
                       f"{pp} -d {ip} {dport} -j {external_target}"))

    # LoadBalancer ingress IPs (§6.4).
    for ip in lb_vips:
        if has_endpoints:
            nr.append((ch.KUBE_SERVICES, f'-m comment --comment "{name} loadbalancer IP" {pp} '
                       f"-d {ip} {dport} -j {lb_chain}"))
        if uses_fw:
            fr.append((ch.KUBE_PROXY_FIREWALL, f'-m comment --comment "{name} traffic not '
                       f'accepted by {fw_chain}" {pp} -d {ip} {dport} -j DROP'))
    if not has_external:
        for ip in lb_vips:
            fr.append((ch.KUBE_EXTERNAL_SERVICES, f"-m comment --comment {external_comment} "
                       f"{pp} -d {ip} {dport} -j {external_target}"))

    # NodePort (§6.3); NodePorts are not subject to loadBalancerSourceRanges.
    if node_port:
        if has_endpoints:
            if s.localhost_nodeports and not v6 and config.nfacct:
                nr.append((ch.KUBE_NODEPORTS, f"-m comment --comment {name} {pp} -d 127.0.0.0/8 "
                           f"--dport {node_port} -m nfacct --nfacct-name "
                           f"{NFACCT_LOCALHOST_NODEPORTS} -j {ext_chain}"))
            nr.append((ch.KUBE_NODEPORTS, f"-m comment --comment {name} {pp} "
                       f"--dport {node_port} -j {ext_chain}"))
        if not has_external:
            fr.append((ch.KUBE_EXTERNAL_SERVICES, f"-m comment --comment {external_comment} "
                       f"-m addrtype --dst-type LOCAL {pp} --dport {node_port} "
                       f"-j {external_target}"))

    # healthCheckNodePort (§6.5): accepted whether or not there are local endpoints.
    if health_check_port:
        fr.append((ch.KUBE_NODEPORTS, f'-m comment --comment "{name} health check node port" '
                   f"-m tcp -p tcp --dport {health_check_port} -j ACCEPT"))

    # Masquerade off-cluster traffic to the ClusterIP (§6.1, §6.10).
    if has_internal:
        head = f'-m comment --comment "{name} cluster IP" {pp} -d {cluster_ip} {dport}'
        if config.masquerade_all:
            nr.append((internal_chain, f"{head} -j {ch.KUBE_MARK_MASQ}"))
        elif s.if_not_local:
            nr.append((internal_chain, f"{head} {s.if_not_local} -j {ch.KUBE_MARK_MASQ}"))

    # External destinations: NodePort, externalIPs, LB IPs (§6.5).
    if uses_ext:
        nat_chains.append(ext_chain)
        active.add(ext_chain)
        if not external_local:
            nr.append((ext_chain, f'-m comment --comment "masquerade traffic for {name} '
                       f'external destinations" -j {ch.KUBE_MARK_MASQ}'))
        else:
            if s.if_local:
                # Pod → external destination short-circuits to all endpoints, as if it
                # had gone out to the load balancer and come back.
                nr.append((ext_chain, f'-m comment --comment "pod traffic for {name} external '
                           f'destinations" {s.if_local} -j {svc_chain}'))
            nr.append((ext_chain, f'-m comment --comment "masquerade LOCAL traffic for {name} '
                       f'external destinations" -m addrtype --src-type LOCAL -j {ch.KUBE_MARK_MASQ}'))
            nr.append((ext_chain, f'-m comment --comment "route LOCAL traffic for {name} '
                       f'external destinations" -m addrtype --src-type LOCAL -j {svc_chain}'))
        if has_external:
            nr.append((ext_chain, f"-j {external_policy_chain}"))

    # loadBalancerSourceRanges (§6.4): unmatched packets fall out un-DNATed and are
    # dropped by filter KUBE-PROXY-FIREWALL.
    if uses_fw:
        nat_chains.append(fw_chain)
        active.add(fw_chain)
        head = f'-m comment --comment "{name} loadbalancer IP"'
        allow_from_node = False
        for cidr in source_ranges:
            nr.append((fw_chain, f"{head} -s {cidr} -j {ext_chain}"))
            if _cidr_contains(cidr, s.node_ip):
                allow_from_node = True
        if allow_from_node:
            # A node reaching a VIP it holds loops back with the VIP as source.
            for ip in lb_vips:
                nr.append((fw_chain, f"{head} -s {ip} -j {ext_chain}"))
        nr.append((fw_chain, f'-m comment --comment "other traffic to {name} will be dropped '
                   'by KUBE-PROXY-FIREWALL"'))

    seps = {e.string: ch.endpoint_chain(name, proto, e.string) for e in reachable}
    affinity = sp.session_affinity == "ClientIP"
    if uses_cluster_chain:
        nat_chains.append(svc_chain)
        active.add(svc_chain)
        _service_to_endpoint_rules(nr, name, sp, svc_chain, cluster_eps, seps, affinity, large)
    if uses_local_chain:
        nat_chains.append(svl_chain)
        active.add(svl_chain)
        _service_to_endpoint_rules(nr, name, sp, svl_chain, local_eps, seps, affinity, large)

    # Per-endpoint chains (§6.1): hairpin masquerade, then DNAT.
    comment = "" if large else f"-m comment --comment {name} "
    for e in reachable:
        sep = seps[e.string]
        nat_chains.append(sep)
        active.add(sep)
        nr.append((sep, f"{comment}-s {e.ip} -j {ch.KUBE_MARK_MASQ}"))
        recent = f"-m recent --name {sep} --set " if affinity else ""
        nr.append((sep, f"{comment}{recent}{pp} -j DNAT --to-destination {e.string}"))

    services.append(ServiceChainInfo(
        service_port=name, protocol=proto,
        svc=svc_chain if uses_cluster_chain else None,
        svl=svl_chain if uses_local_chain else None,
        ext=ext_chain if uses_ext else None,
        fw=fw_chain if uses_fw else None,
        endpoints=tuple((e.string, seps[e.string]) for e in reachable)))


def _service_to_endpoint_rules(nr: list, name: str, sp: ServicePort, chain: str,
                               eps: Sequence[_Ep], seps: Dict[str, str], affinity: bool,
                               large: bool) -> None:
    """writeServiceToEndpointRules: ClientIP affinity checks, then 1/n probabilities (§4, §6.9)."""
    if affinity:
        timeout = sp.session_affinity_timeout
        for e in eps:
            sep = seps[e.string]
            comment = "" if large else f'-m comment --comment "{name} -> {e.string}" '
            nr.append((chain, f"{comment}-m recent --name {sep} --rcheck --seconds {timeout} "
                       f"--reap -j {sep}"))
    n = len(eps)
    last = n - 1
    for i, e in enumerate(eps):
        comment = "" if large else f'-m comment --comment "{name} -> {e.string}" '
        if i < last:
            nr.append((chain, f"{comment}-m statistic --mode random --probability "
                       f"{probability(n - i)} -j {seps[e.string]}"))
        else:
            nr.append((chain, f"{comment}-j {seps[e.string]}"))
