"""The lab's own document (apiVersion netlab.io/v1alpha1, kind Cluster): nodes, CIDRs, clients.

Every field is optional; defaults are DESIGN.md §3 (kubeadm + flannel-like, kind's underlay):

    apiVersion: netlab.io/v1alpha1
    kind: Cluster
    metadata: {name: lab}                 # the lab name (optional)
    spec:
      nodes: 2                            # or [{name: node1, labels: {...}}, ...]
      podCIDR: 10.244.0.0/16              # node k gets the k-th /nodeCIDRMaskSize subnet
      nodeCIDRMaskSize: 24
      serviceCIDR: 10.96.0.0/12           # cluster DNS at .10
      underlay: 172.18.0.0/16             # node k is .k+1
      nodePortRange: 30000-32767
      clients: [{name: client, ip: 172.18.0.100}]
      loadBalancerPool: 172.18.255.200-172.18.255.250
      iptablesBackend: restore            # or python-iptables
      proxyMode: iptables                 # or nftables (one `nft -f -` per sync; restore backend only)
      podNetwork: host-gw                 # or vxlan (flannel's backends; docs/pod-network-backends.md)
      kubeProxy: {masqueradeAll: false, masqueradeBit: 14, detectLocalMode: ClusterCIDR, minSyncPeriod: 1s}
      clusterDNS: {enabled: true, ip: 10.96.0.10, replicas: 2}   # kube-system's coredns and kube-dns
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any, Dict, List, Optional, Tuple

from netlab.manifest import checks, schema
from netlab.manifest.model import ClientConfig, ClusterDNSConfig, KubeProxyConfig, LabConfig, NodeConfig, Source
from netlab.manifest.schema import Findings

API_VERSION = LabConfig.API_VERSION
KIND = LabConfig.KIND

TYPES = {
    "NetlabCluster": {"f": {"apiVersion": "str", "kind": "str", "metadata": "NetlabMeta",
                            "spec": "NetlabClusterSpec"}},
    "NetlabMeta": {"f": {"name": "str", "labels": "{str}", "annotations": "{str}"}},
    "NetlabClusterSpec": {"f": {
        "nodes": "int|[NetlabNode]",
        "podCIDR": "str",
        "nodeCIDRMaskSize": "int",
        "serviceCIDR": "str",
        "underlay": "str",
        "nodePortRange": "str",
        "clients": "[NetlabClient]",
        "loadBalancerPool": "str",
        "iptablesBackend": "str",
        "proxyMode": "str",
        "podNetwork": "str",
        "kubeProxy": "NetlabKubeProxy",
        "clusterDNS": "NetlabClusterDNS",
    }},
    "NetlabNode": {"f": {"name": "str", "labels": "{str}"}, "r": ["name"]},
    "NetlabClient": {"f": {"name": "str", "ip": "str"}, "r": ["name"]},
    "NetlabClusterDNS": {"f": {"enabled": "bool", "ip": "str", "replicas": "int"}},
    "NetlabKubeProxy": {"f": {"masqueradeAll": "bool", "masqueradeBit": "int", "detectLocalMode": "str",
                              "minSyncPeriod": "str"}},
}
schema.register(TYPES)

IPTABLES_BACKENDS = ("restore", "python-iptables")
PROXY_MODES = ("iptables", "nftables")
POD_NETWORKS = ("host-gw", "vxlan")       # flannel's backends that this kernel can model
DETECT_LOCAL_MODES = ("ClusterCIDR", "NodeCIDR", "BridgeInterface")
_DEFAULT = LabConfig()
_SPEC = ("spec",)

IPv4 = ipaddress.IPv4Address


def _network(spec: dict, key: str, default: ipaddress.IPv4Network, f: Findings) -> ipaddress.IPv4Network:
    """An IPv4 CIDR field; host bits set is an error that suggests the network address."""
    value = spec.get(key)
    if not isinstance(value, str):
        return default
    path = _SPEC + (key,)
    try:
        if "/" not in value:
            raise ValueError(value)
        net = ipaddress.ip_network(value, strict=False)
        address = ipaddress.ip_address(value.split("/")[0])
    except ValueError:
        f.error(path, f'invalid CIDR "{value}": write it as ADDRESS/PREFIX, e.g. {default}')
        return default
    if net.version != 4:
        f.error(path, f'"{value}" is IPv6: netlab labs are IPv4 only, e.g. {default}')
        return default
    if address != net.network_address:
        f.error(path, f'invalid CIDR "{value}": the host bits are set; did you mean "{net}"?')
    return net


def _address(value: str, path, f: Findings) -> Optional[IPv4]:
    try:
        return IPv4(value)
    except ValueError:
        f.error(path, f'invalid IPv4 address "{value}"')
        return None


def _nodes(spec: dict, underlay: ipaddress.IPv4Network, f: Findings) -> List[NodeConfig]:
    """spec.nodes: a count or a list of {name, labels}; node k is .k+1 of the underlay."""
    raw = spec.get("nodes")
    path = _SPEC + ("nodes",)
    named: List[Tuple[str, Dict[str, str]]] = []
    if raw is None:
        named = [(n.name, {}) for n in _DEFAULT.nodes]
    elif isinstance(raw, int) and not isinstance(raw, bool):
        room = underlay.num_addresses - 3          # network, gateway (.1), broadcast
        if raw < 1:
            f.error(path, f"invalid value {raw}: a lab needs at least 1 node")
        elif raw > room:                           # said before building millions of nodes
            f.error(path, f"invalid value {checks._shown(raw)}: underlay {underlay} has room for {room} "
                          "nodes (node k is .k+1); use fewer nodes or a larger underlay")
            return []
        named = [(f"node{k}", {}) for k in range(1, max(raw, 0) + 1)]
    elif isinstance(raw, list):
        if not raw:
            f.error(path, "a lab needs at least 1 node: give a count (nodes: 2) or a list of {name}")
        seen = set()
        for i, item in enumerate(raw):
            item = item if isinstance(item, dict) else {}
            name = item.get("name")
            if not isinstance(name, str):
                continue
            at = path + (i, "name")
            if checks.dns_label(name, at, f, "node name") and name in seen:
                f.error(at, f'duplicate node name "{name}"')
            seen.add(name)
            node_labels = item.get("labels") if isinstance(item.get("labels"), dict) else {}
            checks.labels(node_labels, path + (i, "labels"), f)
            named.append((name, dict(node_labels)))
    nodes = []
    base = int(underlay.network_address)
    for k, (name, node_labels) in enumerate(named, start=1):
        address = IPv4(min(base + k + 1, int(underlay.broadcast_address)))
        nodes.append(NodeConfig(name, address, node_labels))
    if nodes and base + len(nodes) + 1 >= int(underlay.broadcast_address):
        f.error(path, f"{len(nodes)} nodes do not fit in underlay {underlay} (node k is .k+1): "
                      "use a larger underlay")
    return nodes


def _range(value: str, path, f: Findings) -> Optional[Tuple[int, int]]:
    """nodePortRange "A-B"."""
    first, sep, last = value.partition("-")
    try:
        low, high = int(first), int(last if sep else first)
    except ValueError:
        f.error(path, f'invalid port range "{value}": write FIRST-LAST, e.g. 30000-32767')
        return None
    if not 1 <= low <= high <= 65535:
        f.error(path, f'invalid port range "{value}": need 1 <= FIRST <= LAST <= 65535')
        return None
    return low, high


def _pool(value: str, path, f: Findings) -> Optional[Tuple[IPv4, IPv4]]:
    """loadBalancerPool "A-B" or a CIDR, as MetalLB address pools are written."""
    try:
        if "/" in value:
            net = ipaddress.IPv4Network(value, strict=False)
            return net.network_address, net.broadcast_address
        first, sep, last = value.partition("-")
        low, high = IPv4(first.strip()), IPv4((last if sep else first).strip())
    except ValueError:
        f.error(path, f'invalid address pool "{value}": write FIRST-LAST, e.g. '
                      "172.18.255.200-172.18.255.250, or a CIDR")
        return None
    if low > high:
        f.error(path, f'invalid address pool "{value}": the first address is after the last')
        return None
    return low, high


def parse(obj: Dict[str, Any], f: Findings, source: Optional[Source]) -> LabConfig:
    """Validate a Cluster document (types already walked) and build its LabConfig."""
    meta = obj.get("metadata") if isinstance(obj.get("metadata"), dict) else {}
    name = meta.get("name") if isinstance(meta.get("name"), str) else None
    if name is not None:
        checks.dns_label(name, ("metadata", "name"), f, "lab name")
    spec = obj.get("spec") if isinstance(obj.get("spec"), dict) else {}

    underlay = _network(spec, "underlay", _DEFAULT.underlay, f)
    pod_cidr = _network(spec, "podCIDR", _DEFAULT.pod_cidr, f)
    service_cidr = _network(spec, "serviceCIDR", _DEFAULT.service_cidr, f)
    for (a_key, a), (b_key, b) in (
        (("podCIDR", pod_cidr), ("serviceCIDR", service_cidr)),
        (("podCIDR", pod_cidr), ("underlay", underlay)),
        (("serviceCIDR", service_cidr), ("underlay", underlay)),
    ):
        if a.overlaps(b):
            f.error(_SPEC + (b_key if b_key in spec else a_key,),
                    f"{a_key} {a} and {b_key} {b} overlap: pick ranges that do not")
    if service_cidr.prefixlen > 28:
        f.error(_SPEC + ("serviceCIDR",), f"serviceCIDR {service_cidr} is too small: cluster DNS "
                                          "takes its .10; use /28 or larger")

    nodes = _nodes(spec, underlay, f)
    mask = spec.get("nodeCIDRMaskSize", _DEFAULT.node_cidr_mask_size)
    if not isinstance(mask, int) or isinstance(mask, bool):
        mask = _DEFAULT.node_cidr_mask_size
    mask_path = _SPEC + ("nodeCIDRMaskSize",)
    if not pod_cidr.prefixlen < mask <= 30:
        f.error(mask_path if "nodeCIDRMaskSize" in spec else _SPEC + ("podCIDR",),
                f"nodeCIDRMaskSize {mask} must be longer than podCIDR's /{pod_cidr.prefixlen} "
                "and at most 30")
        mask = max(min(mask, 30), pod_cidr.prefixlen + 1)
    room = (1 << (mask - pod_cidr.prefixlen)) - 1
    if len(nodes) > room:
        f.error(mask_path if "nodeCIDRMaskSize" in spec else
                _SPEC + ("nodes",) if "nodes" in spec else _SPEC + ("podCIDR",),
                f"podCIDR {pod_cidr} split into /{mask} subnets has room for {room} nodes (node k "
                f"takes subnet k), not {len(nodes)}: use a larger podCIDR or nodeCIDRMaskSize")

    node_ports = _DEFAULT.node_port_range
    if isinstance(spec.get("nodePortRange"), str):
        node_ports = _range(spec["nodePortRange"], _SPEC + ("nodePortRange",), f) or node_ports

    pool_path = _SPEC + ("loadBalancerPool",)
    if isinstance(spec.get("loadBalancerPool"), str):
        pool = _pool(spec["loadBalancerPool"], pool_path, f)
    else:  # MetalLB's kind example: .200-.250 of the last /24, i.e. broadcast-55 .. broadcast-5
        top = int(underlay.broadcast_address)
        pool = (IPv4(max(top - 55, int(underlay.network_address))), IPv4(max(top - 5, 0)))
    pool_desc = "loadBalancerPool" if "loadBalancerPool" in spec else "the default loadBalancerPool"
    if pool and not (pool[0] in underlay and pool[1] in underlay):
        f.error(pool_path, f"{pool_desc} {pool[0]}-{pool[1]} is not inside underlay {underlay}: "
                           "the external client reaches LoadBalancer IPs over the underlay")
    node_ips = {n.ip: n.name for n in nodes}
    if pool:
        for address, node in node_ips.items():
            if pool[0] <= address <= pool[1]:
                f.error(pool_path, f"{pool_desc} {pool[0]}-{pool[1]} holds node {node}'s address "
                                   f"{address}: move the pool")
                break

    clients = _clients(spec, underlay, node_ips, pool, f)

    backend = spec.get("iptablesBackend", _DEFAULT.iptables_backend)
    if not checks.enum(backend, IPTABLES_BACKENDS, _SPEC + ("iptablesBackend",), f) \
            or not isinstance(backend, str):
        backend = _DEFAULT.iptables_backend
    mode = spec.get("proxyMode", _DEFAULT.proxy_mode)
    if not checks.enum(mode, PROXY_MODES, _SPEC + ("proxyMode",), f) or not isinstance(mode, str):
        mode = _DEFAULT.proxy_mode
    elif mode == "nftables" and backend == "python-iptables":
        f.error(_SPEC + ("proxyMode",), "nftables mode writes its table with `nft -f -`; "
                                        "iptablesBackend python-iptables only writes iptables rules "
                                        "(use iptablesBackend: restore)")
    pod_network = spec.get("podNetwork", _DEFAULT.pod_network)
    if not checks.enum(pod_network, POD_NETWORKS, _SPEC + ("podNetwork",), f) or not isinstance(pod_network, str):
        pod_network = _DEFAULT.pod_network
    kube_proxy = _kube_proxy(spec, f)
    cluster_dns = _cluster_dns(spec, service_cidr, f)

    return LabConfig(
        name=name,
        nodes=tuple(nodes),
        pod_cidr=pod_cidr,
        node_cidr_mask_size=mask,
        service_cidr=service_cidr,
        underlay=underlay,
        node_port_range=node_ports,
        clients=tuple(clients),
        load_balancer_pool=pool or _DEFAULT.load_balancer_pool,
        iptables_backend=backend,
        proxy_mode=mode,
        pod_network=pod_network,
        kube_proxy=kube_proxy,
        cluster_dns=cluster_dns,
        raw=obj,
        source=source,
    )


def _clients(spec: dict, underlay, node_ips: Dict[IPv4, str], pool, f: Findings) -> List[ClientConfig]:
    """spec.clients: names unique and distinct from nodes; IPs on the underlay, free of nodes and pool."""
    raw = spec.get("clients")
    path = _SPEC + ("clients",)
    items = raw if isinstance(raw, list) else [{"name": "client"}]
    node_names = set(node_ips.values())
    gateway = underlay.network_address + 1
    clients, names, taken = [], set(), {}
    for i, item in enumerate(items):
        item = item if isinstance(item, dict) else {}
        name, address = item.get("name"), item.get("ip")
        if not isinstance(name, str):
            continue
        at = path + (i,) if raw is not None else path
        if checks.dns_label(name, at + ("name",), f, "client name"):
            if name in names:
                f.error(at + ("name",), f'duplicate client name "{name}"')
            elif name in node_names:
                f.error(at + ("name",), f'client name "{name}" is also a node name: rename one of them')
        names.add(name)
        if isinstance(address, str):
            ip = _address(address, at + ("ip",), f)
        else:
            ip = underlay.network_address + 100 + i
        if ip is None:
            continue
        where, problem = at + ("ip",), None
        if ip not in underlay or ip in (underlay.network_address, underlay.broadcast_address):
            problem = f"is not a host address of underlay {underlay}"
        elif ip == gateway:
            problem = "is the underlay's gateway address"
        elif ip in node_ips:
            problem = f"is node {node_ips[ip]}'s address (node k is .k+1 of the underlay)"
        elif pool and pool[0] <= ip <= pool[1]:
            problem = "is inside loadBalancerPool"
        elif ip in taken:
            problem = f"is also client {taken[ip]}'s address"
        if problem:
            if raw is None:         # the default client: blame what the document wrote instead
                where = _SPEC + ("nodes",) if ip in node_ips and "nodes" in spec else _SPEC + ("underlay",)
                problem += " (the default client; list spec.clients to place it)"
            f.error(where, f"client {name}'s IP {ip} {problem}: pick another address")
        taken[ip] = name
        clients.append(ClientConfig(name, ip))
    return clients


def _cluster_dns(spec: dict, service_cidr: ipaddress.IPv4Network, f: Findings) -> ClusterDNSConfig:
    """spec.clusterDNS: on or off, the kube-dns Service's address (inside serviceCIDR), replicas."""
    raw = spec.get("clusterDNS") if isinstance(spec.get("clusterDNS"), dict) else {}
    path = _SPEC + ("clusterDNS",)
    default = ClusterDNSConfig()
    ip = None
    if isinstance(raw.get("ip"), str):
        ip = _address(raw["ip"], path + ("ip",), f)
        if ip is not None and (ip not in service_cidr or ip in (service_cidr.network_address,
                                                                service_cidr.broadcast_address)):
            f.error(path + ("ip",), f"cluster DNS address {ip} is not a host address of serviceCIDR "
                                    f"{service_cidr}: the kube-dns Service takes it as its clusterIP")
            ip = None
    replicas = raw.get("replicas")
    if not isinstance(replicas, int) or isinstance(replicas, bool):
        replicas = default.replicas
    elif replicas < 0:
        f.error(path + ("replicas",), f"invalid value {replicas}: must be greater than or equal to 0")
        replicas = default.replicas
    enabled = raw.get("enabled")
    return ClusterDNSConfig(enabled=enabled if isinstance(enabled, bool) else default.enabled, ip=ip,
                            replicas=replicas)


def _kube_proxy(spec: dict, f: Findings) -> KubeProxyConfig:
    raw = spec.get("kubeProxy") if isinstance(spec.get("kubeProxy"), dict) else {}
    path = _SPEC + ("kubeProxy",)
    default = KubeProxyConfig()
    masquerade_all = raw.get("masqueradeAll")
    bit = raw.get("masqueradeBit")
    if not isinstance(bit, int) or isinstance(bit, bool):
        bit = default.masquerade_bit
    elif not 0 <= bit <= 31:
        f.error(path + ("masqueradeBit",), f"invalid value {bit}: must be between 0 and 31")
        bit = default.masquerade_bit
    mode = raw.get("detectLocalMode")
    if not isinstance(mode, str) or not checks.enum(mode, DETECT_LOCAL_MODES, path + ("detectLocalMode",), f):
        mode = default.detect_local_mode
    period = raw.get("minSyncPeriod")
    seconds = default.min_sync_period
    if isinstance(period, str):
        parsed = parse_duration(period)
        if parsed is None:
            f.error(path + ("minSyncPeriod",), f'invalid value "{period}": a duration such as 1s, 500ms or 0s')
        else:
            seconds = parsed
    return KubeProxyConfig(
        masquerade_all=masquerade_all if isinstance(masquerade_all, bool) else default.masquerade_all,
        masquerade_bit=bit,
        detect_local_mode=mode,
        min_sync_period=seconds,
    )


_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h)")


def parse_duration(text: str) -> Optional[float]:
    """Seconds in a Go duration string ("1s", "500ms", "1m30s", "0"), None if it is not one."""
    if text == "0":
        return 0.0
    parts = _DURATION_PART.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text:
        return None
    scale = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
    return sum(float(n) * scale[u] for n, u in parts)
