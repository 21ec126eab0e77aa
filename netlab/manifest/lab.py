"""The lab's own document (apiVersion netlab.io/v1alpha1, kind Cluster): nodes, CIDRs, clients.

Every field is optional; defaults are DESIGN.md §3 (kubeadm + flannel-like, kind's underlay):

    apiVersion: netlab.io/v1alpha1
    kind: Cluster
    metadata: {name: lab}                 # the lab name (optional)
    spec:
      nodes: 2                            # or [{name: node1, labels: {...}}, ...]
      ipFamilies: [IPv4]                  # [IPv6]; [IPv4, IPv6] or [IPv6, IPv4]: dual-stack
      podCIDR: 10.244.0.0/16              # node k gets the k-th /nodeCIDRMaskSize subnet
      nodeCIDRMaskSize: 24
      nodeCIDRMaskSizeIPv6: 64            # dual-stack: node k gets the k-th /64 of the IPv6 podCIDR
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
      hosts:                              # a lab across machines (docs/two-machines.md); none: this one
      - {name: vm1, address: 192.168.56.10, nodes: [node1]}
      - {name: vm2, address: 192.168.56.11, nodes: [node2]}
      store: {etcd: "http://192.168.56.10:2379"}   # with hosts: the shared state (default: the first host, port 2379)

IP families (ipFamilies, the primary first, as kind's ipFamily ipv4, ipv6 and dual): podCIDR and
serviceCIDR take one CIDR per family, in kubeadm's and kind's comma form on a dual-stack lab, e.g.
`podCIDR: 10.244.0.0/16,fd00:10:244::/56`; a family's range left out is its default (IPv6: kind's
pods fd00:10:244::/56 and Services fd00:10:96::/112). The primary family's Service range holds the
kubernetes Service (its first address) and cluster DNS (.10, or ::a). The underlay is the nodes'
docker-like network: IPv4 on every lab, with an IPv6 range beside it (fc00:f853:ccd:e793::/64, kind's
docker network) once IPv6 is a family; node k and each client take the same offset in both (node1 .2
and ::2, the client at .100 and ::64). On an IPv6-only lab ([IPv6]) pods, Services, cni0 and the
node's InternalIP are IPv6 only; the nodes and clients keep their IPv4 underlay address, as kind's
nodes keep the docker network's.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any, Dict, List, Optional, Tuple

from netlab.manifest import checks, schema
from netlab.manifest.model import (ClientConfig, ClusterDNSConfig, HostConfig, KubeProxyConfig, LabConfig, NodeConfig,
                                   Source)
from netlab.manifest.schema import Findings

API_VERSION = LabConfig.API_VERSION
KIND = LabConfig.KIND

TYPES = {
    "NetlabCluster": {"f": {"apiVersion": "str", "kind": "str", "metadata": "NetlabMeta",
                            "spec": "NetlabClusterSpec"}},
    "NetlabMeta": {"f": {"name": "str", "labels": "{str}", "annotations": "{str}"}},
    "NetlabClusterSpec": {"f": {
        "nodes": "int|[NetlabNode]",
        "ipFamilies": "[str]",
        "podCIDR": "str",
        "nodeCIDRMaskSize": "int",
        "nodeCIDRMaskSizeIPv6": "int",
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
        "hosts": "[NetlabHost]",
        "store": "NetlabStore",
    }},
    "NetlabHost": {"f": {"name": "str", "address": "str", "nodes": "[str]"}, "r": ["name", "address"]},
    "NetlabStore": {"f": {"etcd": "str"}},
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
IP_FAMILIES = ("IPv4", "IPv6")
SINGLE_STACK, DUAL_STACK = ("IPv4",), ("IPv4", "IPv6")
# kind's dual-stack defaults (pkg/apis/config/v1alpha4/default.go) and its docker network's IPv6 range
DEFAULT_POD_CIDR6 = ipaddress.IPv6Network("fd00:10:244::/56")
DEFAULT_SERVICE_CIDR6 = ipaddress.IPv6Network("fd00:10:96::/112")
DEFAULT_UNDERLAY6 = ipaddress.IPv6Network("fc00:f853:ccd:e793::/64")
# kube-controller-manager's cidrset refuses node CIDRs more than 16 bits longer than the cluster's
NODE_MASK_MAX_DIFF = 16
# kube-apiserver: "for 128-bit addresses, the mask must be >= 108" (a Service range of 2^20 at most)
SERVICE_CIDR6_MIN_PREFIX = 108
_DEFAULT = LabConfig()
_SPEC = ("spec",)

IPv4 = ipaddress.IPv4Address


def _ip_families(spec: dict, f: Findings) -> Tuple[str, ...]:
    """spec.ipFamilies, its primary family first: [IPv4], [IPv6], [IPv4, IPv6] or [IPv6, IPv4]
    (kind's ipFamily ipv4, ipv6 and dual). A list with a bad entry keeps its good ones, so the
    CIDR fields are read for the families asked for and not blamed too."""
    raw = spec.get("ipFamilies")
    path = _SPEC + ("ipFamilies",)
    if not isinstance(raw, list):
        return SINGLE_STACK
    families: List[str] = []
    for i, family in enumerate(raw):
        if not isinstance(family, str) or not checks.enum(family, IP_FAMILIES, path + (i,), f):
            continue
        if family in families:
            f.error(path + (i,), f'duplicate value "{family}"')
            continue
        families.append(family)
    if not raw:
        f.error(path, "a lab needs an IP family: use [IPv4], [IPv6], or both for a dual-stack lab "
                      "([IPv4, IPv6]; the first is the primary family)")
    return tuple(families) or SINGLE_STACK


def _one_cidr(text: str, path, example, f: Findings):
    """One CIDR of a CIDR field; None (reported) when it is not one. Host bits set is an error that
    suggests the network address."""
    try:
        if "/" not in text:
            raise ValueError(text)
        net = ipaddress.ip_network(text, strict=False)
        address = ipaddress.ip_address(text.split("/")[0])
    except ValueError:
        f.error(path, f'invalid CIDR "{text}": write it as ADDRESS/PREFIX, e.g. {example}')
        return None
    if address != net.network_address:
        f.error(path, f'invalid CIDR "{text}": the host bits are set; did you mean "{net}"?')
    return net


def _networks(spec: dict, key: str, default: ipaddress.IPv4Network, default6: ipaddress.IPv6Network,
              families: Tuple[str, ...], f: Findings, underlay: bool = False):
    """A CIDR field: one CIDR per family of FAMILIES, comma-separated as kubeadm and kind write them
    (any order; a family left out takes its default). The underlay (UNDERLAY) is the nodes' docker-like
    network: it has an IPv4 range on every lab and an IPv6 one beside it on a lab with IPv6, as
    kind's docker network does in its ipv6 and dual modes. Returns (the IPv4 network, the IPv6 one);
    a family the field does not carry on this lab is None, except the underlay's IPv4 range."""
    wanted = set(families) | ({"IPv4"} if underlay else set())
    fallback = (default if "IPv4" in wanted else None, default6 if "IPv6" in wanted else None)
    value = spec.get(key)
    if not isinstance(value, str):
        return fallback
    path = _SPEC + (key,)
    example = ",".join(str(n) for n in fallback if n is not None)
    parts = [part.strip() for part in value.split(",")]
    if len(parts) > 2:
        f.error(path, f'invalid value "{value}": at most two CIDRs, one of each family, e.g. {example}')
        return fallback
    nets = [_one_cidr(part, path, example, f) for part in parts]
    if None in nets:
        return fallback
    v4 = [n for n in nets if n.version == 4]
    v6 = [n for n in nets if n.version == 6]
    if len(v4) > 1 or len(v6) > 1:
        f.error(path, f'invalid value "{value}": one CIDR of each family, e.g. {example}')
        return fallback
    shown = "[" + ", ".join(families) + "]"
    if v6 and "IPv6" not in wanted:
        f.error(path, f'"{v6[0]}" is IPv6 and spec.ipFamilies is {shown}: add IPv6 to ipFamilies '
                      f"([IPv4, IPv6]) for a dual-stack lab, or give an IPv4 CIDR such as {default}")
        return fallback
    if v4 and "IPv4" not in wanted:
        f.error(path, f'"{v4[0]}" is IPv4 and spec.ipFamilies is {shown}: add IPv4 to ipFamilies '
                      f"for a dual-stack lab, or give an IPv6 CIDR such as {default6}")
        return fallback
    if v6 and (v6[0].is_link_local or v6[0].is_multicast or v6[0].is_loopback):
        f.error(path, f'"{v6[0]}" is not a unicast range a lab can route (link-local, multicast or '
                      f"loopback): use a unique local range such as {default6}")
        return fallback
    return (v4[0] if v4 else fallback[0]), (v6[0] if v6 else fallback[1])


def _address(value: str, path, f: Findings, version: int = 4):
    """VALUE as an address of VERSION (4: an IPv4Address); None, reported, when it is not one."""
    try:
        return IPv4(value) if version == 4 else ipaddress.IPv6Address(value)
    except ValueError:
        f.error(path, f'invalid IPv{version} address "{value}"')
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

    families = _ip_families(spec, f)
    underlay, underlay6 = _networks(spec, "underlay", _DEFAULT.underlay, DEFAULT_UNDERLAY6, families, f,
                                    underlay=True)
    pod_cidr, pod_cidr6 = _networks(spec, "podCIDR", _DEFAULT.pod_cidr, DEFAULT_POD_CIDR6, families, f)
    service_cidr, service_cidr6 = _networks(spec, "serviceCIDR", _DEFAULT.service_cidr, DEFAULT_SERVICE_CIDR6,
                                            families, f)
    for ranges in ((pod_cidr, service_cidr, underlay), (pod_cidr6, service_cidr6, underlay6)):
        _no_overlaps(spec, dict(zip(("podCIDR", "serviceCIDR", "underlay"), ranges)), f)
    if service_cidr6 is not None and service_cidr6.prefixlen < SERVICE_CIDR6_MIN_PREFIX:
        f.error(_SPEC + ("serviceCIDR",), f"serviceCIDR {service_cidr6} is too large: the API server takes "
                                          f"an IPv6 Service range of /{SERVICE_CIDR6_MIN_PREFIX} or smaller")
    if service_cidr is not None and service_cidr.prefixlen > 28:
        f.error(_SPEC + ("serviceCIDR",), f"serviceCIDR {service_cidr} is too small: cluster DNS "
                                          "takes its .10; use /28 or larger")

    nodes = _nodes(spec, underlay, f)
    mask = spec.get("nodeCIDRMaskSize", _DEFAULT.node_cidr_mask_size)
    if not isinstance(mask, int) or isinstance(mask, bool):
        mask = _DEFAULT.node_cidr_mask_size
    mask_path = _SPEC + ("nodeCIDRMaskSize",)
    if pod_cidr is None:           # an IPv6-only lab: nodeCIDRMaskSize has no IPv4 range to split
        if "nodeCIDRMaskSize" in spec:
            f.error(mask_path, "nodeCIDRMaskSize splits the IPv4 podCIDR and this lab is IPv6 only: use "
                               "nodeCIDRMaskSizeIPv6, or add IPv4 to spec.ipFamilies")
    elif not pod_cidr.prefixlen < mask <= 30:
        f.error(mask_path if "nodeCIDRMaskSize" in spec else _SPEC + ("podCIDR",),
                f"nodeCIDRMaskSize {mask} must be longer than podCIDR's /{pod_cidr.prefixlen} "
                "and at most 30")
        mask = max(min(mask, 30), pod_cidr.prefixlen + 1)
    room = (1 << (mask - pod_cidr.prefixlen)) - 1 if pod_cidr is not None else len(nodes)
    if len(nodes) > room:
        f.error(mask_path if "nodeCIDRMaskSize" in spec else
                _SPEC + ("nodes",) if "nodes" in spec else _SPEC + ("podCIDR",),
                f"podCIDR {pod_cidr} split into /{mask} subnets has room for {room} nodes (node k "
                f"takes subnet k), not {len(nodes)}: use a larger podCIDR or nodeCIDRMaskSize")
    mask6 = _node_mask6(spec, pod_cidr6, len(nodes), f)

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
    if underlay6 is not None:
        _fits_underlay6(underlay, underlay6, nodes, clients, f)

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
    cluster_dns = _cluster_dns(spec, service_cidr if families[0] == "IPv4" else service_cidr6, f)
    hosts = _hosts(spec, nodes, underlay, f)
    store_etcd = _store(spec, hosts, f)
    if hosts and pod_network == "vxlan":
        f.error(_SPEC + ("podNetwork",), "a lab across hosts joins the hosts' underlays with a VXLAN tunnel of "
                                         "its own; podNetwork vxlan inside it is not supported: use host-gw")

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
        ip_families=families,
        pod_cidr6=pod_cidr6,
        node_cidr_mask_size6=mask6,
        service_cidr6=service_cidr6,
        underlay6=underlay6,
        hosts=tuple(hosts),
        store_etcd=store_etcd,
        raw=obj,
        source=source,
    )


ETCD_CLIENT_PORT = 2379


def _hosts(spec: dict, nodes: List[NodeConfig], underlay, f: Findings) -> List[HostConfig]:
    """spec.hosts: names unique DNS labels, addresses unique IPv4 ones off the lab's underlay, each
    node on one host. A host that lists no nodes shares the unlisted ones with the others like it,
    in order and evenly (node1, node2 on the first; node3, node4 on the second)."""
    raw = spec.get("hosts")
    path = _SPEC + ("hosts",)
    if raw is None:
        return []
    if not raw:
        f.error(path, "list the machines the lab spans, or leave hosts out for a lab on this machine")
        return []
    hosts, seen_names, seen_addresses, placed = [], set(), set(), {}
    known = {n.name for n in nodes}
    for i, item in enumerate(raw):
        item = item if isinstance(item, dict) else {}
        name, address = item.get("name"), item.get("address")
        if not isinstance(name, str) or not isinstance(address, str):
            continue
        if checks.dns_label(name, path + (i, "name"), f, "host name") and name in seen_names:
            f.error(path + (i, "name"), f'duplicate host name "{name}"')
        seen_names.add(name)
        ip = _address(address, path + (i, "address"), f)
        if ip is not None:
            if ip in seen_addresses:
                f.error(path + (i, "address"), f'duplicate host address "{ip}"')
            elif ip in underlay:
                f.error(path + (i, "address"), f"host address {ip} is inside the lab's underlay {underlay}: give "
                                               "the machine's own address, the one the other hosts reach it at")
            seen_addresses.add(ip)
        listed = []
        for j, node in enumerate(item.get("nodes") or []):
            at = path + (i, "nodes", j)
            if node not in known:
                f.error(at, f'no node "{node}" in spec.nodes ({", ".join(sorted(known))})')
            elif node in placed:
                f.error(at, f'node "{node}" is already on host "{placed[node]}"')
            else:
                placed[node] = name
                listed.append(node)
        hosts.append([name, ip or IPv4("0.0.0.0"), listed, bool(item.get("nodes"))])
    rest = [n.name for n in nodes if n.name not in placed]
    sharing = [h for h in hosts if not h[3]]
    if rest and not sharing:
        what = f"nodes {', '.join(rest)} are" if len(rest) > 1 else f"node {rest[0]} is"
        f.error(path, f"{what} on no host: list them under a host's nodes")
    elif sharing:
        share = -(-len(rest) // len(sharing))
        for k, host in enumerate(sharing):
            host[2] = rest[k * share:(k + 1) * share]
    return [HostConfig(name, ip, tuple(listed)) for name, ip, listed, _ in hosts]


def _store(spec: dict, hosts: List[HostConfig], f: Findings) -> Optional[str]:
    """spec.store.etcd: an http:// endpoint (default: the first host's address, etcd's port)."""
    store = spec.get("store") if isinstance(spec.get("store"), dict) else {}
    endpoint = store.get("etcd")
    path = _SPEC + ("store", "etcd")
    if endpoint is None:
        return f"http://{hosts[0].address}:{ETCD_CLIENT_PORT}" if hosts else None
    if not hosts:
        f.error(path, "a lab on one machine keeps its state in a file: store.etcd goes with spec.hosts")
        return None
    if not re.fullmatch(r"http://[^/\s:]+:\d+", endpoint):
        f.error(path, f'invalid etcd endpoint "{endpoint}": write it as http://ADDRESS:PORT')
        return None
    return endpoint


def _no_overlaps(spec: dict, ranges: Dict[str, Any], f: Findings) -> None:
    """The pod, Service and underlay ranges of one family must not overlap (None: not given)."""
    keys = [key for key, net in ranges.items() if net is not None]
    for i, a_key in enumerate(keys):
        for b_key in keys[i + 1:]:
            a, b = ranges[a_key], ranges[b_key]
            if a.overlaps(b):
                f.error(_SPEC + (b_key if b_key in spec else a_key,),
                        f"{a_key} {a} and {b_key} {b} overlap: pick ranges that do not")


def _node_mask6(spec: dict, pod_cidr6: Optional[ipaddress.IPv6Network], node_count: int, f: Findings) -> int:
    """spec.nodeCIDRMaskSizeIPv6 (kube-controller-manager's --node-cidr-mask-size-ipv6): longer than
    the IPv6 podCIDR, at most 16 bits longer (its cidrset's limit), with a subnet for every node."""
    default = _DEFAULT.node_cidr_mask_size6
    mask = spec.get("nodeCIDRMaskSizeIPv6", default)
    if not isinstance(mask, int) or isinstance(mask, bool):
        mask = default
    path = _SPEC + ("nodeCIDRMaskSizeIPv6",)
    if pod_cidr6 is None:
        if "nodeCIDRMaskSizeIPv6" in spec:
            f.error(path, "nodeCIDRMaskSizeIPv6 splits the IPv6 podCIDR: add IPv6 to spec.ipFamilies "
                          "([IPv4, IPv6]) for a dual-stack lab, or remove it")
        return mask
    blamed = path if "nodeCIDRMaskSizeIPv6" in spec else _SPEC + ("podCIDR",)
    if not pod_cidr6.prefixlen < mask <= 126 or mask - pod_cidr6.prefixlen > NODE_MASK_MAX_DIFF:
        f.error(blamed, f"nodeCIDRMaskSizeIPv6 {mask} must be longer than the IPv6 podCIDR's "
                        f"/{pod_cidr6.prefixlen}, by at most {NODE_MASK_MAX_DIFF} bits "
                        "(kube-controller-manager's limit), and at most 126")
        return max(min(mask, 126, pod_cidr6.prefixlen + NODE_MASK_MAX_DIFF), pod_cidr6.prefixlen + 1)
    room = (1 << (mask - pod_cidr6.prefixlen)) - 1
    if node_count > room:
        f.error(blamed if "nodeCIDRMaskSizeIPv6" in spec or "nodes" not in spec else _SPEC + ("nodes",),
                f"podCIDR {pod_cidr6} split into /{mask} subnets has room for {room} nodes (node k takes "
                f"subnet k), not {node_count}: use a larger IPv6 podCIDR or nodeCIDRMaskSizeIPv6")
    return mask


def _fits_underlay6(underlay, underlay6, nodes: List[NodeConfig], clients: List[ClientConfig],
                    f: Findings) -> None:
    """Nodes and clients take the offset in the IPv6 underlay they have in the IPv4 one (node k is
    ::k+1 as it is .k+1): the IPv6 underlay must hold every one of them."""
    offsets = [(f"node {n.name}", int(n.ip) - int(underlay.network_address)) for n in nodes]
    offsets += [(f"client {c.name}", int(c.ip) - int(underlay.network_address)) for c in clients]
    for who, offset in offsets:
        if offset >= underlay6.num_addresses:
            f.error(_SPEC + ("underlay",), f"{who}'s IPv6 address (offset {offset}, as in {underlay}) is "
                                           f"outside underlay {underlay6}: use a larger IPv6 underlay")
            return


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


def _cluster_dns(spec: dict, service_cidr, f: Findings) -> ClusterDNSConfig:
    """spec.clusterDNS: on or off, the kube-dns Service's address (inside SERVICE_CIDR, the primary
    family's serviceCIDR, as kubeadm takes the first one's .10), replicas."""
    raw = spec.get("clusterDNS") if isinstance(spec.get("clusterDNS"), dict) else {}
    path = _SPEC + ("clusterDNS",)
    default = ClusterDNSConfig()
    ip = None
    if isinstance(raw.get("ip"), str):
        ip = _address(raw["ip"], path + ("ip",), f, service_cidr.version)
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
