"""`netlab probe`: many requests from a pod, node or client, and how they spread over the endpoints.

The expected shares come from the live rules of the node the traffic enters at (traced by
netlab.proxy's tracer); the hits from the answers of netlab's built-in server, which names itself.
"""

from __future__ import annotations

from dataclasses import dataclass

from netlab import names, runtime
from netlab.inspect import _find_pod, rules
from netlab.lab import LabError, _loaded_lab, _network, manifest_lab_config


@dataclass
class ProbeResult:
    source: str
    destination: str
    protocol: str
    ingress_node: str
    hits: dict                  # endpoint "ip:port" (or "(no answer: ...)") -> count
    expected: dict              # endpoint "ip:port" -> kube-proxy's share
    pod_names: dict             # endpoint ip -> pod name
    verdict: str | None         # DROP/REJECT from kube-proxy's filter chains, if any
    affinity: bool
    fit: object = None          # chi-square over the answered requests only
    failed: int = 0             # requests that got no answer (each kind is a "(no answer: ...)" hit)


def _source_of(st, topology, lab: str, target: str, namespace: str, ipv6: bool = False) -> tuple:
    """(network namespace, source IP, node it enters the cluster at or None) for --from TARGET;
    IPV6: its IPv6 address (a dual-stack lab's)."""
    kind, _, name = target.rpartition("/")
    kind = kind or "pod"
    if kind in ("node", "no"):
        node = topology.node(name)
        return node.netns, _of_family(node.ip6 if ipv6 else node.ip, target), node.name
    if kind == "client":
        for client in topology.clients:
            if client.name == name:
                return client.netns, _of_family(client.ip6 if ipv6 else client.ip, target), None
        raise LabError(f'client "{name}" not found')
    pod = _find_pod(st, namespace, name)
    if not pod.node:
        raise LabError(f'pod "{name}" is Pending')
    return names.pod_netns(lab, pod.namespace, pod.name), _of_family(pod.ip6 if ipv6 else pod.ip, target), pod.node


def _of_family(ip: str | None, target: str) -> str:
    if not ip:
        raise LabError(f"{target} has no IPv6 address (the lab is IPv4 only; spec.ipFamilies: [IPv4, IPv6] "
                       "makes a dual-stack lab)")
    return ip


def _host_port(dest: str) -> tuple:
    """(host, port) of "IP:PORT" or "[IPv6]:PORT"; ("", "") when DEST is neither."""
    if dest.startswith("["):
        host, _, port = dest[1:].partition("]:")
        return host, port
    host, _, port = dest.rpartition(":")
    return (host, port) if ":" not in host else ("", "")


def _destination(st, topology, dest: str, namespace: str) -> tuple:
    """(ip, port, protocol, node that receives it or None, service dict or None) for a DEST."""
    view = st.allocations.get("view") or {"services": []}
    for prefix in ("svc/", "service/", "services/"):     # kubectl's TYPE/NAME, as explain takes it
        if dest.startswith(prefix):
            dest = dest[len(prefix):]
    if dest.startswith("node/"):
        name, _, port = dest[5:].partition(":")
        try:
            node = topology.node(name)
        except KeyError:
            raise LabError(f'node "{name}" not found') from None
        if not port.isdigit():
            raise LabError(f"say which port: node/{name}:NODEPORT")
        return node.ip, int(port), _protocol_of_node_port(view, int(port)), node.name, None
    host, port = _host_port(dest)
    if host and port.isdigit() and (_network().is_ipv4(host) or _is_ipv6(host)):
        for node in topology.nodes:
            if host in (node.ip, node.ip6):
                return host, int(port), _protocol_of_node_port(view, int(port)), node.name, None
        return host, int(port), _protocol_of_ip(view, host, int(port)), None, None
    svc_name, _, port_ref = dest.partition(":")
    for service in view["services"]:
        meta, spec = service["metadata"], service["spec"]
        if meta["name"] == svc_name and meta["namespace"] == namespace:
            ports = spec.get("ports") or []
            chosen = ports[0] if ports and not port_ref else next(
                (p for p in ports if str(p["port"]) == port_ref or p.get("name") == port_ref), None)
            if chosen is None or not spec.get("clusterIP") or spec["clusterIP"] == "None":
                raise LabError(f'service "{svc_name}" has no cluster IP port {port_ref or ""}'.rstrip())
            return spec["clusterIP"], chosen["port"], chosen.get("protocol", "TCP"), None, service
    raise LabError(f'service "{svc_name}" not found in namespace "{namespace}" (or give IP:PORT or node/NAME:PORT)')


def _is_ipv6(text: str) -> bool:
    import ipaddress
    try:
        return ipaddress.ip_address(text).version == 6
    except ValueError:
        return False


def _protocol_of_node_port(view, port: int) -> str:
    for service in view["services"]:
        for entry in service["spec"].get("ports") or []:
            if entry.get("nodePort") == port:
                return entry.get("protocol", "TCP")
    return "TCP"


def _protocol_of_ip(view, ip: str, port: int) -> str:
    for service in view["services"]:
        spec = service["spec"]
        for entry in spec.get("ports") or []:
            if ip in (spec.get("clusterIPs") or [spec.get("clusterIP")]) and entry["port"] == port:
                return entry.get("protocol", "TCP")
    return "TCP"


def _by_hostname(answer: dict, st, ipv6: bool, expected: dict) -> str:
    """The endpoint of a reply that names its pod the way traefik/whoami does ("Hostname: POD"),
    not as netlab's server does."""
    name = answer.get("Hostname") or answer.get("hostname")
    address = next((r.get("ip6" if ipv6 else "ip") for r in st.pods.values() if name and r.get("name") == name), None)
    return next((ep for ep in expected if address and _host_port(ep)[0] == address),
                "(answered, not by netlab's server)")


def judge(hits: dict, expected: dict, affinity: bool) -> tuple:
    """(chi-square fit or None, requests without an answer). A request that got no answer says
    nothing about which endpoint kube-proxy chose: it is counted apart, and the spread is judged
    over the answered ones (no verdict with affinity, where one endpoint takes all)."""
    from netlab import stats
    answered = {k: v for k, v in hits.items() if not k.startswith("(no answer")}
    failed = sum(hits.values()) - sum(answered.values())
    fit = stats.goodness_of_fit(answered, expected) if expected and not affinity and answered else None
    return fit, failed


def probe(lab: str, source: str, dest: str, count: int, namespace: str = "default") -> ProbeResult:
    """Send COUNT requests from SOURCE to DEST; count hits per endpoint beside kube-proxy's share."""
    from netlab import proxy
    from netlab.dataplane import traffic
    st, topology = _loaded_lab(lab)
    ip, port, protocol, dest_node, service = _destination(st, topology, dest, namespace)
    ipv6 = ":" in ip            # the IPv6 proxier's rules, and the source's IPv6 address
    src_netns, src_ip, src_node = _source_of(st, topology, lab, source, namespace, ipv6)
    ingress = dest_node or src_node
    if ingress is None:
        raise LabError(f"{dest} is not reachable from {source}: a client reaches the cluster through a node "
                       "(use node/NAME:NODEPORT)")
    node = topology.node(ingress)
    local_ips = (node.ip6, node.gateway6, "::1") if ipv6 else (node.ip, node.gateway, "127.0.0.1")
    if manifest_lab_config(st.config).proxy_mode == "nftables":
        # the live table, its dynamic affinity sets included, walked as upstream's nft tracer does
        from netlab.dataplane import nftables
        from netlab.proxy.nft_trace import trace_nft
        table = nftables.read_whole_table(node.netns, "ip6" if ipv6 else "ip")
        if table is None:
            raise LabError(f"node {node.name} has no kube-proxy table yet (see `netlab status`)")
        traced = trace_nft(table, src_ip, protocol, ip, port, local_ips=local_ips)
    else:
        live = proxy.parse_restore_text(rules(lab, node.name, None, "IPv6" if ipv6 else "IPv4"))
        traced = proxy.trace(live, src_ip, protocol, ip, port, local_ips=local_ips)
    endpoints = traced.endpoints
    expected = {ep: 1.0 / len(endpoints) for ep in endpoints} if endpoints else {}
    pod_names = {r[field]: r["name"] for r in st.pods.values() for field in ("ip", "ip6") if r.get(field)}
    hits: dict = {}
    for reply in traffic.send(src_netns, ip, port, protocol, count):
        if reply.ok:
            answer = runtime.parse_builtin_reply(reply.text)
            server = answer.get("server") or ""
            server_host, server_port = _host_port(server)
            # an IPv6-only pod's one address is its pod_ip
            pod_ip = (answer.get("pod_ip6") or answer.get("pod_ip", "") if ipv6 else answer.get("pod_ip")) \
                or server_host
            if ipv6 != (":" in pod_ip):
                pod_ip = server_host
            shown = f"[{pod_ip}]" if ":" in pod_ip else pod_ip
            key = f"{shown}:{server_port}" if pod_ip else _by_hostname(answer, st, ipv6, expected)
        else:
            key = f"(no answer: {reply.error})"
        hits[key] = hits.get(key, 0) + 1
    affinity = bool(service and service["spec"].get("sessionAffinity") == "ClientIP")
    fit, failed = judge(hits, expected, affinity)
    shown_ip = f"[{ip}]" if ":" in ip else ip
    return ProbeResult(source=source, destination=f"{shown_ip}:{port}/{protocol}", protocol=protocol,
                       ingress_node=ingress, hits=hits, expected=expected, pod_names=pod_names,
                       verdict=traced.verdict, affinity=affinity, fit=fit, failed=failed)
