"""`netlab conntrack`: a node's connection tracking table, one connection a line, with the names of
what each address is (pod, Service, node, client) and the NAT the entry shows.

Each conntrack entry holds two tuples: the original (what the client sent: to the ClusterIP,
say) and the reply (what the server answers from). When they differ the kernel rewrote the
connection: a reply from another address than the original destination is a DNAT (kube-proxy's
KUBE-SEP rule chose that endpoint); a reply to another address than the original source is an
SNAT (kube-proxy's MASQUERADE). `conntrack -L` inside the node's namespace prints the table;
parsing and naming are pure.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass

from netlab.kubelet.probes import join_host_port
from netlab.lab import LabError


@dataclass(frozen=True)
class Entry:
    """One tracked connection: protocol, state, original and reply (src, sport, dst, dport)."""

    protocol: str
    state: str
    original: tuple
    reply: tuple
    flags: tuple = ()

    @property
    def dnat(self) -> bool:
        return (self.reply[0], self.reply[1]) != (self.original[2], self.original[3])

    @property
    def snat(self) -> bool:
        return (self.reply[2], self.reply[3]) != (self.original[0], self.original[1])


def parse(text: str) -> list:
    """Entries from `conntrack -L` output (lines like `tcp 6 117 TIME_WAIT src=.. dst=.. sport=..
    dport=.. src=.. dst=.. sport=.. dport=.. [ASSURED] mark=0 use=1`)."""
    entries = []
    for line in text.splitlines():
        words = line.split()
        if not words or "=" not in line or words[0].startswith("conntrack"):
            continue
        protocol = words[0]
        state = next((w for w in words[1:] if w.isupper() and "=" not in w and not w.startswith("[")), "")
        tuples: list = []
        current: dict = {}
        for word in words:
            key, sep, value = word.partition("=")
            if not sep or key not in ("src", "dst", "sport", "dport"):
                continue
            if key in current:           # the reply tuple starts
                tuples.append(current)
                current = {}
            current[key] = value
        tuples.append(current)
        if len(tuples) < 2:
            continue
        original, reply = ((t.get("src", ""), t.get("sport", ""), t.get("dst", ""), t.get("dport", ""))
                           for t in tuples[:2])
        flags = tuple(w.strip("[]") for w in words if w.startswith("["))
        entries.append(Entry(protocol, state, original, reply, flags))
    return entries


def _named(names: dict, ip: str, port: str) -> str:
    what = names.get(ip)
    where = join_host_port(ip, port) if port else ip
    return f"{what}({where})" if what else where


def describe(entry: Entry, names: dict) -> str:
    """One line: `tcp TIME_WAIT pod/curl(10.244.1.5:40000) -> svc/web(10.96.12.7:80)  DNAT -> pod/web-x(10.244.2.3:80)`."""
    src, sport, dst, dport = entry.original
    line = f"{entry.protocol:<4} {entry.state or '-':<11} {_named(names, src, sport)} -> {_named(names, dst, dport)}"
    if entry.dnat:
        line += f"  DNAT -> {_named(names, entry.reply[0], entry.reply[1])}"
    if entry.snat:
        line += f"  SNAT from {_named(names, entry.reply[2], entry.reply[3])}"
    return line


def lab_names(pods: list, services: list, topology) -> dict:
    """IP -> what it is: pod/NAME (ns/NAME outside default), svc/NAME for ClusterIPs and
    LoadBalancer/external IPs, node/NAME, client/NAME."""
    names: dict = {}
    for node in topology.nodes:     # each family's addresses (an IPv6-only node has no IPv4 gateway)
        for ip in (node.ip, getattr(node, "ip6", None)):
            if ip:
                names[ip] = f"node/{node.name}"
        for ip in (node.gateway, getattr(node, "gateway6", None)):
            if ip:
                names[ip] = f"node/{node.name}:cni0"
    for client in topology.clients:
        for ip in (client.ip, getattr(client, "ip6", None)):
            if ip:
                names[ip] = f"client/{client.name}"
    for pod in pods:
        status = pod.get("status") or {}
        meta = pod["metadata"]
        for ip in [e.get("ip") for e in status.get("podIPs") or []] or [status.get("podIP")]:
            if ip:
                names[ip] = f"pod/{meta['name']}" if meta["namespace"] == "default" else \
                    f"pod/{meta['namespace']}/{meta['name']}"
    for svc in services:
        meta, spec = svc["metadata"], svc.get("spec") or {}
        label = f"svc/{meta['name']}" if meta["namespace"] == "default" else f"svc/{meta['namespace']}/{meta['name']}"
        addresses = [spec.get("clusterIP")] + list(spec.get("externalIPs") or []) + \
            [i.get("ip") for i in ((svc.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []]
        for ip in addresses:
            if ip and ip != "None":
                names[ip] = label
    return names


def belongs_to(entry: Entry, service: dict, endpoints: set, node_ips: set) -> bool:
    """Whether ENTRY is a connection to SERVICE: to one of its addresses and ports, to a node on
    one of its nodePorts, or answered by one of its ENDPOINTS ("IP:PORT", "[IPv6]:PORT")."""
    spec = service.get("spec") or {}
    dst, dport = entry.original[2], entry.original[3]
    ports = {str(p.get("port")) for p in spec.get("ports") or []}
    node_ports = {str(p.get("nodePort")) for p in spec.get("ports") or [] if p.get("nodePort")}
    addresses = {spec.get("clusterIP")} | set(spec.get("externalIPs") or []) | \
        {i.get("ip") for i in ((service.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []}
    return ((dst in addresses and dport in ports) or (dst in node_ips and dport in node_ports)
            or join_host_port(entry.reply[0], entry.reply[1]) in endpoints)


def conntrack(lab: str, node: str | None = None, service: str | None = None, namespace: str = "default") -> list:
    """The lines of `netlab conntrack`: every node's table (or NODE's), only SERVICE's connections
    if given, each node's under a `node/NAME` heading."""
    from netlab import inspect
    from netlab.lab import _loaded_lab
    _, topology = _loaded_lab(lab)
    nodes = topology.nodes
    if node:
        wanted = node.split("/", 1)[-1]
        nodes = [n for n in topology.nodes if n.name == wanted]
        if not nodes:
            raise LabError(f'node "{wanted}" not found (nodes: {", ".join(n.name for n in topology.nodes)})')
    pods = inspect.get_objects(lab, "Pod", None, [])
    services = inspect.get_objects(lab, "Service", None, [])
    names = lab_names(pods, services, topology)
    chosen = None
    endpoints: set = set()
    if service:
        (chosen,) = inspect.get_objects(lab, "Service", namespace, [service.split("/", 1)[-1]])
        for slice_ in inspect.get_objects(lab, "EndpointSlice", namespace, []):
            if (slice_["metadata"].get("labels") or {}).get("kubernetes.io/service-name") != chosen["metadata"]["name"]:
                continue
            for endpoint in slice_.get("endpoints") or []:
                for port in slice_.get("ports") or []:
                    endpoints.update(join_host_port(a, port.get("port")) for a in endpoint.get("addresses") or [])
    node_ips = {ip for n in topology.nodes for ip in (n.ip, getattr(n, "ip6", None)) if ip}
    lines = []
    for each in nodes:
        result = subprocess.run(["ip", "netns", "exec", each.netns, "conntrack", "-L"], capture_output=True, text=True)
        if result.returncode != 0 and not result.stdout:
            raise LabError(f"conntrack -L in {each.netns} failed: {result.stderr.strip()}")
        entries = [e for e in parse(result.stdout) if chosen is None or belongs_to(e, chosen, endpoints, node_ips)]
        lines.append(f"node/{each.name} ({len(entries)} connection{'s' if len(entries) != 1 else ''})")
        lines.extend("  " + describe(e, names) for e in entries)
    return lines
