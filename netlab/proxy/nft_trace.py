"""A packet tracer over kube-proxy's nftables table, like proxier_test.go's nftablesTracer.

A port of pkg/proxy/nftables/helpers_test.go's tracePacket (stored copy @803d40a5, with the
Gen A base chain filter-prerouting-pre-dnat in place of its filter-prerouting). It is not an
nft interpreter: like upstream, it recognises exactly the rule pieces kube-proxy writes, by
regular expression, and refuses anything else (NftTraceError, "unmatched rule").

The walk, for a new connection (SOURCE, PROTOCOL, DESTINATION, PORT):

    filter-prerouting-pre-dnat   (firewall-check: loadBalancerSourceRanges; stop if DROPped)
    nat-prerouting               (services: DNAT; every branch of a numgen vmap is followed)
    filter-forward               (with the first endpoint as destination; stop if terminal)
    filter-input
    (the output and postrouting hooks are skipped, as upstream does)

Outputs are the DNAT targets ("10.180.0.1:80") and DROP/REJECT, in the order met, and whether
the packet was sent through mark-for-masquerade (that chain and `masquerading` are not run).
`fib saddr/daddr type local` match LOCAL_IPS (the node's addresses, upstream's nodeIPs).

Beyond upstream (which never traces such rules): `ip saddr @affinity-…` looks the source up
in the set (empty in a rendered table, so new clients fall through to numgen), `update @set`
is a no-op, `iifname [!=] NAME[*]` compares IN_INTERFACE (the interface detectors), and an
anonymous set `{ a , b }` matches if any member does (upstream's helper required all of them).
"""

from __future__ import annotations

import ipaddress
import re
from typing import Iterable, List, Optional, Union

from netlab.proxy.nft_ruleset import Element, NftTable
from netlab.proxy.trace import TraceResult

START_CHAIN = "filter-prerouting-pre-dnat"
MARK_MASQ = "mark-for-masquerade"

_dest_addr = re.compile(r"^ip6? daddr (!= )?(\S+)")
_dest_addr_lookup = re.compile(r"^ip6? daddr (!= )?\{([^}]*)\}")
_dest_addr_local = re.compile(r"^fib daddr type local")
_dest_port = re.compile(r"^(tcp|udp|sctp) dport (\d+)")
_dest_ip_only_lookup = re.compile(r"^ip6? daddr @(\S+)")
_dest_lookup = re.compile(r"^ip6? daddr \. meta l4proto \. th dport @(\S+)")
_dest_source_lookup = re.compile(r"^ip6? daddr \. meta l4proto \. th dport \. ip6? saddr @(\S+)")
_dest_port_lookup = re.compile(r"^meta l4proto \. th dport @(\S+)")
_dest_dispatch = re.compile(r"^ip6? daddr \. meta l4proto \. th dport vmap @(\S+)$")
_dest_port_dispatch = re.compile(r"^meta l4proto \. th dport vmap @(\S+)$")
_source_set_lookup = re.compile(r"^ip6? saddr @(\S+)")
_source_addr = re.compile(r"^ip6? saddr (!= )?(\S+)")
_source_addr_lookup = re.compile(r"^ip6? saddr (!= )?\{([^}]*)\}")
_source_addr_local = re.compile(r"^fib saddr type local")
_in_interface = re.compile(r"^iifname (!= )?(\S+)")
_set_update = re.compile(r"^update @(\S+) \{ ip6? saddr \}")
_endpoint_vmap = re.compile(r"^numgen random mod \d+ vmap \{(.*)\}$")
_endpoint_vmap_entry = re.compile(r"\d+ : goto (\S+)")
_masquerade = re.compile(r"^jump " + MARK_MASQ + r"$")
_jump = re.compile(r"^(jump|goto) (\S+)$")
_return = re.compile(r"^return$")
_verdict = re.compile(r"^(drop|reject)$")
_dnat = re.compile(r"^meta l4proto (tcp|udp|sctp) dnat to (\S+)$")
# Only new connections are traced, so "ct state new" always holds.
_ignored = re.compile(r"^ct state new ?")


class NftTraceError(ValueError):
    """The table holds something the tracer does not understand (upstream: a test error)."""


def _address_matches(ip: str, want: bool, rule_address: str) -> bool:
    addr = ipaddress.ip_address(ip)
    try:
        if "/" in rule_address:
            net = ipaddress.ip_network(rule_address, strict=False)
            match = addr.version == net.version and addr in net
        else:
            match = addr == ipaddress.ip_address(rule_address)
    except ValueError:
        raise NftTraceError(f"bad IP/CIDR in kube-proxy output: {rule_address!r}") from None
    return match == want


def _any_address_matches(ip: str, want: bool, members: str) -> bool:
    hit = any(_address_matches(ip, True, a) for a in members.replace(" ", "").split(",") if a)
    return hit == want


class _Tracer:
    def __init__(self, table: NftTable, local_ips: Iterable[str], in_interface: Optional[str]):
        self.table = table
        self.local_ips = set(local_ips)
        self.in_interface = in_interface
        self.result = TraceResult()

    def _elements(self, name: str) -> List[Element]:
        return self.table.elements(name)

    def _find(self, name: str, *key: str) -> Optional[Element]:
        key = tuple(key)
        for e in self._elements(name):
            if e.key == key:
                return e
        return None

    def run_chain(self, chain: str, src: str, proto: str, dst: str, dport: str,
                  depth: int = 0) -> bool:
        """Run CHAIN; True when it reached a terminal statement (dnat, drop, reject)."""
        if chain not in self.table.chains:
            raise NftTraceError(f"unknown chain {chain!r}")
        if depth > 64:
            raise NftTraceError(f"chain {chain!r}: jumps nested too deep")
        for rule_obj in self.table.rules(chain):
            matched = f"{chain}: {rule_obj.rule}"
            rule = _ignored.sub("", rule_obj.rule)
            while rule:
                rule = rule.lstrip(" ")
                m = None

                def take(pattern: "re.Pattern[str]"):
                    nonlocal m
                    m = pattern.match(rule)
                    return m

                if take(_dest_ip_only_lookup):
                    rule = rule[m.end():]
                    if not any(e.key[0] == dst for e in self._elements(m.group(1))):
                        rule = ""
                elif take(_dest_source_lookup):
                    rule = rule[m.end():]
                    if not any(e.key[:3] == (dst, proto, dport)
                               and _address_matches(src, True, e.key[3])
                               for e in self._elements(m.group(1))):
                        rule = ""
                elif take(_dest_lookup):
                    rule = rule[m.end():]
                    if self._find(m.group(1), dst, proto, dport) is None:
                        rule = ""
                elif take(_dest_port_lookup):
                    rule = rule[m.end():]
                    if self._find(m.group(1), proto, dport) is None:
                        rule = ""
                elif take(_dest_dispatch):
                    element = self._find(m.group(1), dst, proto, dport)
                    rule = element.value[0] if element is not None else ""
                elif take(_dest_port_dispatch):
                    element = self._find(m.group(1), proto, dport)
                    rule = element.value[0] if element is not None else ""
                elif take(_dest_addr_lookup):
                    rule = rule[m.end():]
                    if not _any_address_matches(dst, m.group(1) != "!= ", m.group(2)):
                        rule = ""
                elif take(_dest_addr):
                    rule = rule[m.end():]
                    if not _address_matches(dst, m.group(1) != "!= ", m.group(2)):
                        rule = ""
                elif take(_dest_addr_local):
                    rule = rule[m.end():]
                    if dst not in self.local_ips:
                        rule = ""
                elif take(_dest_port):
                    rule = rule[m.end():]
                    if (proto, dport) != (m.group(1), m.group(2)):
                        rule = ""
                elif take(_source_set_lookup):
                    rule = rule[m.end():]
                    if not any(e.key[0] == src for e in self._elements(m.group(1))):
                        rule = ""
                elif take(_source_addr_lookup):
                    rule = rule[m.end():]
                    if not _any_address_matches(src, m.group(1) != "!= ", m.group(2)):
                        rule = ""
                elif take(_source_addr):
                    rule = rule[m.end():]
                    if not _address_matches(src, m.group(1) != "!= ", m.group(2)):
                        rule = ""
                elif take(_source_addr_local):
                    rule = rule[m.end():]
                    if src not in self.local_ips:
                        rule = ""
                elif take(_in_interface):
                    rule = rule[m.end():]
                    name = m.group(2)
                    iface = self.in_interface
                    hit = iface is not None and (iface.startswith(name[:-1]) if name.endswith("*")
                                                 else iface == name)
                    if hit != (m.group(1) != "!= "):
                        rule = ""
                elif take(_set_update):
                    rule = rule[m.end():]  # records the client for affinity; nothing to trace
                elif take(_masquerade):
                    # The jump itself stands for the mark; mark-for-masquerade is not run.
                    rule = rule[m.end():]
                    self.result.matched.append(matched)
                    self.result.masquerade = True
                elif take(_jump):
                    rule = rule[m.end():]
                    action, target = m.group(1), m.group(2)
                    self.result.matched.append(matched)
                    if self.run_chain(target, src, proto, dst, dport, depth + 1):
                        return True
                    if action == "goto":
                        return False  # a goto returns to this chain's caller
                elif take(_verdict):
                    self.result.matched.append(matched)
                    self.result.outputs.append(m.group(1).upper())
                    return True
                elif take(_return):
                    self.result.matched.append(matched)
                    return False
                elif take(_dnat):
                    self.result.matched.append(matched)
                    self.result.outputs.append(m.group(2))
                    return True
                elif take(_endpoint_vmap):
                    # A random endpoint for the kernel; every endpoint for the tracer.
                    for target in _endpoint_vmap_entry.findall(m.group(1)):
                        self.result.matched.append(matched)
                        self.run_chain(target, src, proto, dst, dport, depth + 1)
                    return True
                else:
                    raise NftTraceError(f"unmatched rule in {chain}: {rule_obj.rule}")
        return False


def _split_host(endpoint: str) -> str:
    host, _, _ = endpoint.rpartition(":")
    return host.strip("[]")


def trace_nft(table: Union[NftTable, "object"], source: str, protocol: str, destination: str,
              port: int, local_ips: Iterable[str] = (),
              in_interface: Optional[str] = None) -> TraceResult:
    """Trace one new connection through TABLE (an NftTable, or an NftRuleset's table) on a
    node whose addresses are LOCAL_IPS. protocol: "tcp", "udp" or "sctp" (any case)."""
    if not isinstance(table, NftTable):
        table = table.table  # an NftRuleset
    tracer = _Tracer(table, local_ips, in_interface)
    proto = protocol.lower()
    dport = str(port)
    if tracer.run_chain(START_CHAIN, source, proto, destination, dport):
        return tracer.result
    tracer.run_chain("nat-prerouting", source, proto, destination, dport)
    # Pending DNATs take effect before the filter hooks after prerouting (upstream changes
    # only the destination address, not the port).
    if tracer.result.outputs:
        destination = _split_host(tracer.result.outputs[0])
    if tracer.run_chain("filter-forward", source, proto, destination, dport):
        return tracer.result
    tracer.run_chain("filter-input", source, proto, destination, dport)
    return tracer.result


__all__ = ["NftTraceError", "START_CHAIN", "trace_nft"]
