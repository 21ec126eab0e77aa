"""Plain Kubernetes object dicts → the renderer's model, defaulted as the API server and
kube-proxy default them.

Reads ``v1 Service``, ``discovery.k8s.io/v1 EndpointSlice``, ``v1 Node`` (its InternalIP
addresses are the node's IPs), ``v1 List`` of those (what ``kubectl get … -o yaml`` prints)
and ``kubeproxy.config.k8s.io/v1alpha1 KubeProxyConfiguration``. Anything it cannot use
becomes a warning naming the object and why; nothing here raises on bad input.

IPs are canonicalised as kube-proxy's ParseIPSloppy + String() do (``10.180.00.001`` →
``10.180.0.1``), CIDRs as ParseCIDRSloppy + String() (``203.0.113.000/025`` → ``203.0.113.0/25``).
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field, replace
from typing import Any, Iterable, List, Optional, Tuple

from netlab.proxy.model import (DETECT_CLUSTER_CIDR, DETECT_LOCAL_MODES, IPV4,
                                IPV6, Endpoint, LoadBalancerIngress, ProxyConfig,
                                RenderInput, ServicePort)

SERVICE_NAME_LABEL = "kubernetes.io/service-name"
ZONE_LABEL = "topology.kubernetes.io/zone"
DEFAULT_AFFINITY_TIMEOUT = 10800  # API server default of sessionAffinityConfig.clientIP.timeoutSeconds
PROTOCOLS = ("TCP", "UDP", "SCTP")
SERVICE_TYPES = ("ClusterIP", "NodePort", "LoadBalancer", "ExternalName")


_CANONICAL_IPV4 = re.compile(r"(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}"
                             r"(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)")


def canonical_ip(text: Any) -> Optional[str]:
    """ParseIPSloppy(text).String(), or None when it is not an IP (IPv4 may have leading zeros)."""
    if not isinstance(text, str) or not text:
        return None
    if _CANONICAL_IPV4.fullmatch(text):
        return text  # already canonical: the common case, checked fast
    if ":" in text:
        try:
            addr = ipaddress.IPv6Address(text)
        except ValueError:
            return None
        # Go prints an IPv4-mapped IPv6 address as plain IPv4.
        return str(addr.ipv4_mapped) if addr.ipv4_mapped else addr.compressed
    parts = text.split(".")
    if len(parts) != 4 or not all(p.isdigit() and p.isascii() and len(p) <= 3 for p in parts):
        return None
    octets = [int(p) for p in parts]
    if any(o > 255 for o in octets):
        return None
    return ".".join(str(o) for o in octets)


def canonical_cidr(text: Any) -> Optional[str]:
    """ParseCIDRSloppy(TrimSpace(text)) network as a string, or None when it is not a CIDR."""
    if not isinstance(text, str):
        return None
    ip, sep, prefix = text.strip().partition("/")
    ip = canonical_ip(ip)
    if not sep or ip is None or not prefix.isdigit():
        return None
    try:
        return str(ipaddress.ip_network(f"{ip}/{int(prefix)}", strict=False))
    except ValueError:
        return None


def _family(ip: str) -> str:
    return IPV6 if ":" in ip else IPV4


def _ref(obj: dict) -> str:
    meta = obj.get("metadata") or {}
    name = meta.get("name") or "<no name>"
    ns = meta.get("namespace")
    return f"{obj.get('kind', '<no kind>')} {ns}/{name}" if ns else f"{obj.get('kind', '<no kind>')} {name}"


def _prefix(source: str) -> str:
    return f"{source}: " if source else ""


def _where(source: str, obj: Optional[dict] = None) -> str:
    parts = [p for p in (source, _ref(obj) if obj is not None else "") if p]
    return ": ".join(parts)


class _LazyWhere:
    """`_where(source, obj)`, computed only if a warning is written (most objects have none)."""

    __slots__ = ("source", "obj")

    def __init__(self, source: str, obj: dict):
        self.source, self.obj = source, obj

    def __str__(self) -> str:
        return _where(self.source, self.obj)


@dataclass
class Inventory:
    """The objects found in the inputs, sorted by kind, each with where it came from."""

    services: List[Tuple[dict, str]] = field(default_factory=list)
    endpoint_slices: List[Tuple[dict, str]] = field(default_factory=list)
    nodes: List[Tuple[dict, str]] = field(default_factory=list)
    proxy_configs: List[Tuple[dict, str]] = field(default_factory=list)
    warnings: List[str] = field(default_factory=list)

    def add(self, documents: Iterable[Any], source: str = "") -> "Inventory":
        """Sort DOCUMENTS (parsed YAML/JSON documents, v1 Lists flattened) into the inventory."""
        for index, doc in enumerate(documents, 1):
            self._add(doc, source, f"document {index}")
        return self

    def _add(self, doc: Any, source: str, position: str) -> None:
        if doc is None:
            return
        if not isinstance(doc, dict):
            self.warnings.append(f"{_prefix(source)}{position}: not a Kubernetes object "
                                 f"(a {type(doc).__name__}); ignored")
            return
        kind = doc.get("kind")
        api = doc.get("apiVersion")
        where = _where(source, doc)
        if kind == "List" or (isinstance(kind, str) and kind.endswith("List") and "items" in doc):
            items = doc.get("items") or []
            if not isinstance(items, list):
                self.warnings.append(f"{where}: items is not a list; ignored")
                return
            for i, item in enumerate(items, 1):
                self._add(item, source, f"item {i}")
            return
        if not kind or not api:
            self.warnings.append(f"{_prefix(source)}{position}: no kind/apiVersion, so not a "
                                 "Kubernetes object; ignored")
            return
        if kind == "Service" and api == "v1":
            self.services.append((doc, source))
        elif kind == "EndpointSlice" and api == "discovery.k8s.io/v1":
            self.endpoint_slices.append((doc, source))
        elif kind == "Node" and api == "v1":
            self.nodes.append((doc, source))
        elif kind == "KubeProxyConfiguration" and api == "kubeproxy.config.k8s.io/v1alpha1":
            self.proxy_configs.append((doc, source))
        elif kind == "Endpoints" and api == "v1":
            self.warnings.append(f"{where}: kube-proxy reads EndpointSlices, not Endpoints; ignored")
        elif kind in ("Service", "EndpointSlice", "Node", "KubeProxyConfiguration"):
            self.warnings.append(f"{where}: apiVersion {api} is not supported "
                                 f"(expected {_EXPECTED_API[kind]}); ignored")
        else:
            self.warnings.append(f"{where}: {api} {kind} is not used by kube-proxy; ignored")


_EXPECTED_API = {"Service": "v1", "EndpointSlice": "discovery.k8s.io/v1", "Node": "v1",
                 "KubeProxyConfiguration": "kubeproxy.config.k8s.io/v1alpha1"}


def _int(value: Any) -> Optional[int]:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return None


def cluster_ip_for_family(spec: dict, family: str) -> Optional[str]:
    """GetClusterIPByFamily: the spec.clusterIPs (or spec.clusterIP) entry of FAMILY."""
    ips = spec.get("clusterIPs") or []
    if not ips:
        ip = spec.get("clusterIP")
        ips = [ip] if ip else []
    for ip in ips:
        c = canonical_ip(ip)
        if c and _family(c) == family:
            return c
    return None


def service_ports_from_service(svc: dict, family: str = IPV4,
                               source: str = "") -> Tuple[List[ServicePort], List[str]]:
    """The ServicePorts kube-proxy's service map gets from one Service (and warnings)."""
    warnings: List[str] = []
    where = _LazyWhere(source, svc)
    meta = svc.get("metadata") or {}
    spec = svc.get("spec") or {}
    status = svc.get("status") or {}
    name = meta.get("name")
    namespace = meta.get("namespace") or "default"
    if not name:
        return [], [f"{where}: no metadata.name; ignored"]
    svc_type = spec.get("type") or "ClusterIP"
    if svc_type not in SERVICE_TYPES:
        return [], [f"{where}: unknown spec.type {svc_type!r}; ignored"]
    # ShouldSkipService: ExternalName and headless Services get no rules.
    if svc_type == "ExternalName" or spec.get("clusterIP") == "None":
        return [], []
    if not spec.get("clusterIP") and not spec.get("clusterIPs"):
        return [], [f"{where}: no spec.clusterIP (the API server assigns one when the Service "
                    "is created); ignored"]
    cluster_ip = cluster_ip_for_family(spec, family)
    if cluster_ip is None:
        ips = spec.get("clusterIPs") or [spec.get("clusterIP")]
        bad = [ip for ip in ips if canonical_ip(ip) is None]
        why = (f"spec.clusterIP {bad[0]!r} is not an IP address" if bad
               else f"no {family} cluster IP (its IPs: {', '.join(map(str, ips))})")
        return [], [f"{where}: {why}; no {family} rules for it"]

    external_ips = []
    for ip in spec.get("externalIPs") or []:
        c = canonical_ip(ip)
        if c is None:
            warnings.append(f"{where}: spec.externalIPs entry {ip!r} is not an IP address; ignored")
        else:
            external_ips.append(c)
    ingress = []
    for ing in ((status.get("loadBalancer") or {}).get("ingress") or []):
        if not isinstance(ing, dict) or not ing.get("ip"):
            continue  # hostname-only ingress: kube-proxy writes nothing for it
        c = canonical_ip(ing["ip"])
        if c is None:
            warnings.append(f"{where}: status.loadBalancer.ingress ip {ing['ip']!r} is not an "
                            "IP address; ignored")
            continue
        ingress.append(LoadBalancerIngress(c, ing.get("ipMode")))
    ranges = []
    for r in spec.get("loadBalancerSourceRanges") or []:
        c = canonical_cidr(r)
        if c is None:
            warnings.append(f"{where}: spec.loadBalancerSourceRanges entry {r!r} is not a CIDR; ignored")
        else:
            ranges.append(c)

    affinity = spec.get("sessionAffinity") or "None"
    timeout = DEFAULT_AFFINITY_TIMEOUT
    if affinity == "ClientIP":
        config = ((spec.get("sessionAffinityConfig") or {}).get("clientIP") or {})
        t = _int(config.get("timeoutSeconds"))
        if t is not None:
            timeout = t
    elif affinity != "None":
        warnings.append(f"{where}: unknown spec.sessionAffinity {affinity!r}; treated as None")
        affinity = "None"
    external_policy = spec.get("externalTrafficPolicy") or "Cluster"
    internal_policy = spec.get("internalTrafficPolicy") or "Cluster"
    for field_name, value in (("externalTrafficPolicy", external_policy),
                              ("internalTrafficPolicy", internal_policy)):
        if value not in ("Cluster", "Local"):
            warnings.append(f"{where}: unknown spec.{field_name} {value!r}; treated as Cluster")
    health_check = _int(spec.get("healthCheckNodePort")) or 0
    allocate_node_ports = spec.get("allocateLoadBalancerNodePorts", True) is not False
    if (svc_type == "LoadBalancer" and external_policy == "Local" and not health_check):
        warnings.append(f"{where}: no spec.healthCheckNodePort (the API server allocates one "
                        "for a LoadBalancer with externalTrafficPolicy Local); none written")

    ports: List[ServicePort] = []
    for i, port in enumerate(spec.get("ports") or []):
        if not isinstance(port, dict):
            warnings.append(f"{where}: spec.ports[{i}] is not a mapping; ignored")
            continue
        number = _int(port.get("port"))
        protocol = port.get("protocol") or "TCP"
        port_name = port.get("name") or ""
        label = f"spec.ports[{i}]" + (f" ({port_name})" if port_name else "")
        if not number:
            warnings.append(f"{where}: {label} has no port number; ignored")
            continue
        if protocol not in PROTOCOLS:
            warnings.append(f"{where}: {label} has unknown protocol {protocol!r}; ignored")
            continue
        node_port = _int(port.get("nodePort")) or 0
        if svc_type in ("NodePort", "LoadBalancer"):
            if not node_port and (svc_type == "NodePort" or allocate_node_ports):
                warnings.append(f"{where}: {label} has no nodePort (the API server allocates "
                                "one when the Service is created); no NodePort rules for it")
        elif node_port:
            warnings.append(f"{where}: {label} sets nodePort {node_port} on a {svc_type} "
                            "Service (the API server rejects that); ignored")
            node_port = 0
        ports.append(ServicePort(
            namespace=namespace, name=name, port_name=port_name, protocol=protocol,
            cluster_ip=cluster_ip, port=number, type=svc_type, node_port=node_port,
            external_ips=tuple(external_ips), load_balancer_ingress=tuple(ingress),
            load_balancer_source_ranges=tuple(ranges), health_check_node_port=health_check,
            session_affinity=affinity, session_affinity_timeout=timeout,
            external_traffic_policy=external_policy, internal_traffic_policy=internal_policy))
    if not ports and not warnings:
        warnings.append(f"{where}: no ports; no rules for it")
    return ports, warnings


def endpoints_from_slice(eps: dict, family: str = IPV4,
                         source: str = "") -> Tuple[List[Endpoint], List[str]]:
    """The endpoints kube-proxy takes from one EndpointSlice (one per endpoint and port)."""
    where = _LazyWhere(source, eps)
    meta = eps.get("metadata") or {}
    namespace = meta.get("namespace") or "default"
    service = (meta.get("labels") or {}).get(SERVICE_NAME_LABEL)
    address_type = eps.get("addressType")
    if not service:
        return [], [f"{where}: no {SERVICE_NAME_LABEL} label, so it belongs to no Service; ignored"]
    if address_type == "FQDN":
        return [], [f"{where}: addressType FQDN is not used by kube-proxy; ignored"]
    if address_type not in (IPV4, IPV6):
        return [], [f"{where}: unknown addressType {address_type!r}; ignored"]
    if address_type != family:
        return [], []  # the other family's proxier uses it
    warnings: List[str] = []
    ports = []
    for i, port in enumerate(eps.get("ports") or []):
        if not isinstance(port, dict):
            continue
        number = _int(port.get("port"))
        port_name = port.get("name") or ""
        if not number:
            # kube-proxy ignores a nil or 0 port ("all ports" is not implemented).
            warnings.append(f"{where}: ports[{i}] has no port number; ignored")
            continue
        ports.append((port_name, port.get("protocol") or "TCP", number))
    out: List[Endpoint] = []
    for i, endpoint in enumerate(eps.get("endpoints") or []):
        if not isinstance(endpoint, dict):
            continue
        addresses = endpoint.get("addresses") or []
        if not addresses:
            warnings.append(f"{where}: endpoints[{i}] has no addresses; ignored")
            continue
        ip = canonical_ip(addresses[0])  # kube-proxy uses the first address only
        if ip is None:
            warnings.append(f"{where}: endpoints[{i}] address {addresses[0]!r} is not an IP; ignored")
            continue
        if _family(ip) != family:
            warnings.append(f"{where}: endpoints[{i}] address {ip} is not {family}; ignored")
            continue
        conditions = endpoint.get("conditions") or {}
        hints = endpoint.get("hints") or {}
        zone_hints = tuple(z.get("name") for z in hints.get("forZones") or [] if isinstance(z, dict))
        node_hints = tuple(n.get("name") for n in hints.get("forNodes") or [] if isinstance(n, dict))
        for port_name, protocol, number in ports:
            out.append(Endpoint(
                namespace=namespace, service=service, port_name=port_name, protocol=protocol,
                ip=ip, port=number,
                # endpointslicecache.go: ready/serving unset mean true, terminating false.
                ready=conditions.get("ready") is not False,
                serving=conditions.get("serving") is not False,
                terminating=conditions.get("terminating") is True,
                node_name=endpoint.get("nodeName"),
                zone_hints=zone_hints, node_hints=node_hints))
    return out, warnings


@dataclass(frozen=True)
class NodeInfo:
    """What kube-proxy reads from its Node object."""

    name: str
    internal_ips: Tuple[str, ...]
    pod_cidrs: Tuple[str, ...]
    zone: str


def node_info(node: dict) -> NodeInfo:
    """The node's InternalIP addresses, pod CIDRs and zone label."""
    meta = node.get("metadata") or {}
    spec = node.get("spec") or {}
    ips = []
    for a in ((node.get("status") or {}).get("addresses") or []):
        if isinstance(a, dict) and a.get("type") == "InternalIP":
            c = canonical_ip(a.get("address"))
            if c and c not in ips:
                ips.append(c)
    cidrs = spec.get("podCIDRs") or ([spec["podCIDR"]] if spec.get("podCIDR") else [])
    return NodeInfo(name=meta.get("name") or "", internal_ips=tuple(ips),
                    pod_cidrs=tuple(c for c in (canonical_cidr(x) for x in cidrs) if c),
                    zone=(meta.get("labels") or {}).get(ZONE_LABEL, ""))


def _config_from_kube_proxy_configuration(kpc: dict, where: str) -> Tuple[dict, List[str]]:
    """ProxyConfig fields set by a KubeProxyConfiguration (unset fields keep kube-proxy's defaults)."""
    fields: dict = {}
    warnings: List[str] = []
    mode = kpc.get("mode") or ""
    if mode not in ("", "iptables", "nftables", "ipvs"):
        warnings.append(f"{where}: mode {mode!r}: netlab renders kube-proxy's iptables, nftables and IPVS modes")
    if kpc.get("clusterCIDR") is not None:
        fields["cluster_cidr"] = str(kpc["clusterCIDR"])
    detect = kpc.get("detectLocalMode")
    if detect:
        if detect in DETECT_LOCAL_MODES:
            fields["detect_local_mode"] = detect
        else:
            warnings.append(f"{where}: unknown detectLocalMode {detect!r}; using ClusterCIDR")
    detect_local = kpc.get("detectLocal") or {}
    if detect_local.get("bridgeInterface"):
        fields["bridge_interface"] = detect_local["bridgeInterface"]
    if detect_local.get("interfaceNamePrefix"):
        fields["interface_name_prefix"] = detect_local["interfaceNamePrefix"]
    ipt = kpc.get("iptables") or {}
    if ipt.get("masqueradeAll") is not None:
        fields["masquerade_all"] = bool(ipt["masqueradeAll"])
    if ipt.get("masqueradeBit") is not None:
        bit = _int(ipt["masqueradeBit"])
        if bit is None or not 0 <= bit <= 31:
            warnings.append(f"{where}: iptables.masqueradeBit {ipt['masqueradeBit']!r} is not "
                            "within [0, 31]; using 14")
        else:
            fields["masquerade_bit"] = bit
    if ipt.get("localhostNodePorts") is not None:
        fields["localhost_nodeports"] = bool(ipt["localhostNodePorts"])
    npa = kpc.get("nodePortAddresses")
    if npa:
        good = []
        for c in npa:
            if c == "primary" and len(npa) == 1:
                good.append(c)
                continue
            cc = canonical_cidr(c)
            if cc is None:
                warnings.append(f"{where}: nodePortAddresses entry {c!r} is not a CIDR; ignored")
            else:
                good.append(cc)
        fields["node_port_addresses"] = tuple(good)
    conntrack = kpc.get("conntrack") or {}
    if conntrack.get("tcpBeLiberal") is not None:
        fields["tcp_be_liberal"] = bool(conntrack["tcpBeLiberal"])
    return fields, warnings


def proxy_config_from_inventory(inventory: Inventory, node_name: str, family: str = IPV4,
                                **overrides: Any) -> Tuple[ProxyConfig, List[str]]:
    """ProxyConfig for NODE_NAME: kube-proxy defaults ← KubeProxyConfiguration ← Node ← OVERRIDES.

    OVERRIDES are ProxyConfig fields (e.g. node_ips, cluster_cidr, mark_style, nfacct);
    None values are ignored.
    """
    warnings: List[str] = []
    fields: dict = {}
    if inventory.proxy_configs:
        kpc, source = inventory.proxy_configs[0]
        got, w = _config_from_kube_proxy_configuration(kpc, _where(source, kpc))
        fields.update(got)
        warnings += w
        for extra, source2 in inventory.proxy_configs[1:]:
            warnings.append(f"{_where(source2, extra)}: a second KubeProxyConfiguration; "
                            f"using the one from {_where(source, kpc)}")
    nodes = [(n, src) for n, src in inventory.nodes
             if (n.get("metadata") or {}).get("name") == node_name]
    if nodes:
        info = node_info(nodes[0][0])
        fields["node_ips"] = info.internal_ips
        fields["node_pod_cidrs"] = info.pod_cidrs
        fields["zone"] = info.zone
        if not info.internal_ips:
            warnings.append(f"{_where(nodes[0][1], nodes[0][0])}: no InternalIP address in "
                            "status.addresses")
    overrides = {k: v for k, v in overrides.items() if v is not None}
    fields.update(overrides)
    if not fields.get("node_ips"):
        warnings.append(f"node {node_name}: no node IPs (no Node object named {node_name} with "
                        "InternalIP addresses, and none given); rules that use the node's IP "
                        "(loadBalancerSourceRanges, nodePortAddresses) assume it has none")
    if (fields.get("detect_local_mode", DETECT_CLUSTER_CIDR) == DETECT_CLUSTER_CIDR
            and not any((":" in c) == (family == IPV6)
                        for c in fields.get("cluster_cidr", "").split(",") if c.strip())):
        warnings.append(f"node {node_name}: no {family} cluster CIDR, so kube-proxy cannot tell "
                        "pod traffic from other traffic: no ClusterIP masquerade rules and no "
                        "pod short-circuit for externalTrafficPolicy Local")
    return ProxyConfig(node_name=node_name, family=family, **fields), warnings


def render_input_from_inventory(inventory: Inventory, node_name: str, family: str = IPV4,
                                **overrides: Any) -> RenderInput:
    """Everything render() needs for NODE_NAME, with every warning collected."""
    config, warnings = proxy_config_from_inventory(inventory, node_name, family, **overrides)
    warnings = list(inventory.warnings) + warnings
    ports: List[ServicePort] = []
    known_services = set()
    for svc, source in inventory.services:
        got, w = service_ports_from_service(svc, family, source)
        ports += got
        warnings += w
        meta = svc.get("metadata") or {}
        known_services.add((meta.get("namespace") or "default", meta.get("name")))
    port_keys = {p.key for p in ports}
    endpoints: List[Endpoint] = []
    for eps, source in sorted(inventory.endpoint_slices,
                              key=lambda e: ((e[0].get("metadata") or {}).get("namespace") or "",
                                             (e[0].get("metadata") or {}).get("name") or "")):
        got, w = endpoints_from_slice(eps, family, source)
        warnings += w
        endpoints += got
        unmatched = sorted({(e.port_name, e.protocol) for e in got if e.key not in port_keys})
        if got and (got[0].namespace, got[0].service) not in known_services:
            warnings.append(f"{_where(source, eps)}: no Service {got[0].namespace}/{got[0].service} "
                            "among the inputs; its endpoints are unused")
        elif unmatched and any(k[:2] == (got[0].namespace, got[0].service) for k in port_keys):
            names = ", ".join(f"{n or '<unnamed>'}/{p}" for n, p in unmatched)
            warnings.append(f"{_where(source, eps)}: port {names} matches no port of Service "
                            f"{got[0].namespace}/{got[0].service}; those endpoints are unused")
    return RenderInput(config=config, service_ports=ports, endpoints=endpoints, warnings=warnings)


def build_render_input(documents: Iterable[Any], node_name: str, family: str = IPV4,
                       source: str = "", **overrides: Any) -> RenderInput:
    """RenderInput for NODE_NAME from parsed documents (Services, EndpointSlices, Nodes, …)."""
    return render_input_from_inventory(Inventory().add(documents, source), node_name, family,
                                       **overrides)


def with_overrides(config: ProxyConfig, **overrides: Any) -> ProxyConfig:
    """CONFIG with the non-None OVERRIDES applied."""
    return replace(config, **{k: v for k, v in overrides.items() if v is not None})



def ruleset_for_node(documents: Iterable[Any], node_name: str, family: str = IPV4,
                     existing_nat_chains: Iterable[str] = (), source: str = "",
                     **overrides: Any):
    """(Ruleset, warnings): kube-proxy's rules on NODE_NAME for parsed Kubernetes documents.

    OVERRIDES are ProxyConfig fields, e.g. ``nfacct=False`` for a namespace without the
    nfacct counters, ``node_ips=(...)``, ``cluster_cidr="10.244.0.0/16"``.
    """
    from netlab.proxy.render import render  # objects → model → render; render never imports us

    data = build_render_input(documents, node_name, family, source, **overrides)
    ruleset = render(data.config, data.service_ports, data.endpoints,
                     existing_nat_chains=existing_nat_chains)
    return ruleset, data.warnings


__all__ = [
    "Inventory", "NodeInfo", "build_render_input", "canonical_cidr", "canonical_ip",
    "cluster_ip_for_family", "endpoints_from_slice", "node_info", "proxy_config_from_inventory",
    "render_input_from_inventory", "ruleset_for_node", "service_ports_from_service",
    "with_overrides",
]
