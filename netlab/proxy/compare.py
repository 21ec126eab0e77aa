"""One Service's objects in kube-proxy's three modes, next to each other: `netlab proxy compare`.

    compare_service(render_input, namespace, name)  ->  ServiceComparison  (.to_text())

Each mode's part starts with one line on how a new connection finds an endpoint there:

    iptables   a linear walk of nat KUBE-SERVICES, one rule per Service IP and port, into the
               Service's chains, where random-probability rules pick the endpoint (render.py)
    nftables   one verdict-map lookup of (daddr, protocol, dport) in service-ips into the
               Service's chain, where a numgen vmap picks the endpoint (nft_render.py)
    IPVS       the destination is local (a Service IP on kube-ipvs0, or a node IP), and IPVS
               finds the virtual server by a hash lookup of (protocol, address, port); its
               scheduler picks a real server; iptables only matches ipsets shared by all
               Services (ipvs_render.py)

The iptables and nftables parts are picked from the rendered rules by service_rules.py (the
same selection `netlab rules NODE --service` makes on a live node); the nftables part adds the
map elements that name the Service (no-endpoint verdicts, cluster-ips) and its affinity sets,
which carry its name only in comments or set names. Pure: render input in, text out.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import List, Sequence, Tuple

from netlab.proxy.ipvs_render import IPVS_IPS, IpvsRuleset, render_ipvs
from netlab.proxy.model import RenderInput
from netlab.proxy.nft_render import TABLE, NftRuleset, render_nft
from netlab.proxy.nft_ruleset import Op
from netlab.proxy.render import render
from netlab.proxy.ruleset import Ruleset
from netlab.proxy.service_rules import nft_service_rules, service_rules

DEFAULT_NAMESPACE = "default"

HOW_IPTABLES = ("a new connection walks nat KUBE-SERVICES rule by rule (one rule per Service IP "
                "and port) until its Service's rule jumps to KUBE-SVC-*, whose random-probability "
                "rules pick the KUBE-SEP-* that DNATs")
HOW_NFTABLES = ("one verdict-map lookup of daddr . protocol . dport in the service-ips map jumps "
                "straight to the Service's chain, whose numgen vmap picks the endpoint chain that DNATs")
HOW_IPVS = ("the destination is local (a Service IP on kube-ipvs0, or the node's own for a NodePort), "
            "so IPVS sees the packet on input and finds the virtual server by a hash lookup of "
            "protocol, address and port; its scheduler picks a real server (iptables only matches "
            "shared ipsets, to masquerade and accept)")


class UnknownService(ValueError):
    """The render input has no Service of that name (kube-proxy has no ports for it)."""


def parse_service(text: str) -> Tuple[str, str]:
    """"NAME" or "NS/NAME" → (namespace, name); the namespace defaults to "default"."""
    namespace, sep, name = text.strip().partition("/")
    if not sep:
        namespace, name = DEFAULT_NAMESPACE, namespace
    if not namespace or not name or "/" in name:
        raise ValueError(f"{text!r}: expected NAME or NAMESPACE/NAME")
    return namespace, name


@dataclass(frozen=True)
class ModeView:
    """One mode's objects for the Service: the mode, how a packet finds its endpoint, the text."""

    mode: str
    how: str
    text: str


@dataclass(frozen=True)
class ServiceComparison:
    """The Service's objects in iptables, nftables and IPVS mode on one node."""

    namespace: str
    name: str
    node: str
    family: str
    views: Tuple[ModeView, ...]

    def to_text(self) -> str:
        """The three parts one after the other, each headed by its one-line packet path."""
        out = [f"Service {self.namespace}/{self.name} on node {self.node} ({self.family}): "
               "what kube-proxy writes for it in each mode"]
        for view in self.views:
            out += ["", f"=== {view.mode} ===", f"# how a packet finds its endpoint: {view.how}"]
            out.append(view.text.rstrip("\n") if view.text.strip() else "(nothing for this Service)")
        return "\n".join(out) + "\n"


def iptables_view(ruleset: Ruleset, namespace: str, name: str) -> str:
    """The Service's iptables-mode rules (service_rules over kube-proxy's restore input)."""
    return service_rules(ruleset.to_restore_text(), namespace, name)


def _owns(service_port: str, namespace: str, name: str) -> bool:
    """Whether "ns/name:port" (or "ns/name") is a port of Service NAMESPACE/NAME."""
    return service_port.split(":", 1)[0] == f"{namespace}/{name}"


def nftables_view(nft: NftRuleset, namespace: str, name: str) -> str:
    """The Service's nftables-mode objects: the map and set elements that lead to it, its
    affinity sets, then its chains and rules as a first sync leaves the table."""
    ports = [p for p in nft.services if _owns(p.service_port, namespace, name)]
    elements = [Op("add", e).text(nft.family, TABLE) for p in ports for e in p.elements]
    affinity = {a for p in ports for a in p.affinity_sets}
    dump = nft.dump()
    sets = [line for line in dump.splitlines()
            if line.startswith(f"add set {nft.family} {TABLE} ") and line.split()[4] in affinity]
    chains = [line for line in nft_service_rules(dump, namespace, name).splitlines()
              if line.strip() and not line.startswith("add element ")]
    return "".join(line + "\n" for line in elements + sets + chains)


_MATCH_SET = re.compile(r"--match-set (\S+)")


def ipvs_view(ipvs: IpvsRuleset, namespace: str, name: str) -> str:
    """The Service's IPVS-mode objects: virtual and real servers, kube-ipvs0 addresses, ipset
    entries, and the iptables rules (shared by every Service) that match those sets."""
    ports = [p for p in ipvs.services if _owns(p.service_port, namespace, name)]
    if not ports:
        return ""
    mine = {vs.key for p in ports for vs in p.virtual_servers}
    # ipvsadm's sorted listing, restricted to this Service's virtual servers
    servers = [line for vs in ipvs.virtual_servers if vs.key in mine for line in vs.save_lines()]
    plen = 128 if ipvs.family == "IPv6" else 32
    addresses: List[str] = []
    for p in ports:
        addresses.extend(a for a in p.bound_addresses if a not in addresses)
    entries: List[str] = []
    for p in ports:
        entries.extend(f"add {s} {e}" for s, e in p.set_entries if f"add {s} {e}" not in entries)
    set_names = {s for p in ports for s, _ in p.set_entries}
    if addresses:
        # every address on kube-ipvs0 is in KUBE-IPVS-IPS, for the REJECT of KUBE-IPVS-FILTER
        ipvs_ips = ipvs.ipset(IPVS_IPS).name
        entries += [f"add {ipvs_ips} {a}" for a in addresses]
        set_names.add(ipvs_ips)
    out_filter = {f"-A KUBE-IPVS-OUT-FILTER {r}" for p in ports for r in p.out_filter_rules}
    shared: List[str] = []
    for line in ipvs.iptables_restore().splitlines():
        if line.startswith("*"):
            shared.append(f"# table {line[1:]}")
        elif line.startswith("-A ") and (set(_MATCH_SET.findall(line)) & set_names or line in out_filter):
            shared.append(line)
    # drop the headers of tables with no such rule
    shared = [line for i, line in enumerate(shared)
              if not line.startswith("# table") or (i + 1 < len(shared) and not shared[i + 1].startswith("# table"))]
    out = ["# virtual servers and their real servers (ipvsadm-save -n)"] + servers
    if any(not vs.real_servers for p in ports for vs in p.virtual_servers):
        out.append("# (a virtual server without real servers answers new connections with ICMP "
                   "port unreachable: the kernel's ip_vs_leave; kube-proxy writes no REJECT rule)")
    out += ["# addresses on kube-ipvs0 (ip -o addr show dev kube-ipvs0)"]
    out += [f"ip addr add {a}/{plen} dev kube-ipvs0" for a in addresses]
    out += ["# ipset entries (ipset save)"] + entries
    out += ["# the iptables rules matching those sets (the same rules serve every Service)"] + shared
    return "\n".join(out) + "\n"


def compare_service(data: RenderInput, namespace: str, name: str, *,
                    service_cidrs: Sequence[str] = (), scheduler: str = "rr") -> ServiceComparison:
    """Service NAMESPACE/NAME's objects in the three modes, rendered from DATA (one node, one
    family). Raises UnknownService when DATA has no port of that Service."""
    if not any(sp.namespace == namespace and sp.name == name for sp in data.service_ports):
        raise UnknownService(f"no Service {namespace}/{name} among the inputs")
    config, ports, endpoints = data.config, data.service_ports, data.endpoints
    views = (
        ModeView("iptables", HOW_IPTABLES, iptables_view(render(config, ports, endpoints), namespace, name)),
        ModeView("nftables", HOW_NFTABLES,
                 nftables_view(render_nft(config, ports, endpoints, service_cidrs=service_cidrs), namespace, name)),
        ModeView("IPVS", HOW_IPVS,
                 ipvs_view(render_ipvs(config, ports, endpoints, scheduler=scheduler), namespace, name)),
    )
    return ServiceComparison(namespace, name, config.node_name, config.family, views)


__all__ = [
    "HOW_IPTABLES", "HOW_IPVS", "HOW_NFTABLES", "ModeView", "ServiceComparison", "UnknownService",
    "compare_service", "iptables_view", "ipvs_view", "nftables_view", "parse_service",
]
