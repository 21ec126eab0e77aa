"""A packet tracer over a Ruleset, like proxier_test.go's iptablesTracer.

Given (source IP, protocol, destination IP, destination port) and the node's local
addresses, walk nat PREROUTING (→ KUBE-SERVICES → …) and report every endpoint the packet
may be DNATed to (all branches of `-m statistic` rules are followed), whether it was marked
for masquerade, and what the filter chains kube-proxy owns do with it afterwards (ACCEPT,
DROP, REJECT). As upstream:

* rules that look at history never match (`--rcheck` affinity, `--mark`, `--ctstate`);
* `-m addrtype --src-type/--dst-type LOCAL` match the local addresses (plus loopback);
* after a DNAT the filter chains see the endpoint as destination;
* `-j KUBE-MARK-MASQ` only sets the masquerade flag.

Interfaces (`-i`, from the BridgeInterface/InterfaceNamePrefix detectors) are compared with
`in_interface`; with none given, the packet counts as coming from some other interface.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field
from typing import Dict, Iterable, List, Optional, Tuple

from netlab.proxy import chains as ch
from netlab.proxy.ruleset import Ruleset

_WORD = re.compile(r'(?:^|\s)("[^"]*"|[^"]\S*)')

# Parameters the tracer understands: name → (attribute, takes a value).
_PARAMS = {
    "--comment": ("comment", True),
    "-p": ("protocol", True),
    "-s": ("source", True),
    "--src-type": ("src_type", True),
    "-d": ("destination", True),
    "--dst-type": ("dst_type", True),
    "--dport": ("dport", True),
    "-i": ("in_interface", True),
    "-j": ("jump", True),
    "--probability": ("probability", True),
    "--to-destination": ("to_destination", True),
    "--rcheck": ("affinity_check", False),
    "--mark": ("mark_check", True),
    "--ctstate": ("ctstate_check", True),
    # parsed so their values are not mistaken for parameters
    "--name": ("affinity_name", True),
    "--seconds": ("affinity_seconds", True),
    "--set": ("affinity_set", False),
    "--reap": ("affinity_reap", False),
    "--mode": ("statistic_mode", True),
    "--nfacct-name": ("nfacct_name", True),
    "--mask": ("mask", True),
}


@dataclass
class ParsedRule:
    """One rule's matches and target (each value a (negated, value) pair, or None)."""

    raw: str
    values: Dict[str, Tuple[bool, str]] = field(default_factory=dict)

    def get(self, attr: str) -> Optional[Tuple[bool, str]]:
        return self.values.get(attr)


def parse_rule(args: str) -> ParsedRule:
    """Parse rule arguments (the text after `-A CHAIN`), ignoring unknown parameters."""
    words = [m.group(1).strip('"') for m in _WORD.finditer(args)]
    rule = ParsedRule(raw=args)
    negated = False
    i = 0
    while i < len(words):
        w = words[i]
        if w == "-m" and i < len(words) - 1:
            i += 2  # the module name; parameter names are unique enough without it
            continue
        if w == "!":
            negated = True
            i += 1
            continue
        spec = _PARAMS.get(w)
        if spec is None:
            i += 1
        elif spec[1] and i + 1 < len(words):
            rule.values[spec[0]] = (negated, words[i + 1])
            i += 2
        else:
            rule.values[spec[0]] = (negated, "")
            i += 1
        negated = False
    return rule


def _address_matches(value: Tuple[bool, str], ip: str) -> bool:
    negated, text = value
    try:
        addr = ipaddress.ip_address(ip)
        if "/" in text:
            net = ipaddress.ip_network(text, strict=False)
            matches = addr.version == net.version and addr in net
        else:
            matches = addr == ipaddress.ip_address(text)
    except ValueError:
        matches = False
    return matches != negated


def _value_matches(value: Tuple[bool, str], actual: str) -> bool:
    negated, text = value
    return (text == actual) != negated


def _interface_matches(value: Tuple[bool, str], interface: Optional[str]) -> bool:
    negated, text = value
    if interface is None:
        matches = False
    elif text.endswith("+"):
        matches = interface.startswith(text[:-1])
    else:
        matches = interface == text
    return matches != negated


@dataclass
class TraceResult:
    """Where a packet goes: DNAT endpoints, filter verdicts, masquerade, and the rules it hit."""

    outputs: List[str] = field(default_factory=list)  # "ip:port" DNATs, then ACCEPT/DROP/REJECT
    masquerade: bool = False
    matched: List[str] = field(default_factory=list)  # "table CHAIN: args" of every matched rule

    @property
    def output(self) -> str:
        """proxier_test.go's format: the outputs joined with ", " ("" when nothing matched)."""
        return ", ".join(self.outputs)

    @property
    def endpoints(self) -> List[str]:
        """The endpoints (ip:port) the packet may be DNATed to."""
        return [o for o in self.outputs if o not in ("ACCEPT", "DROP", "REJECT")]

    @property
    def verdict(self) -> Optional[str]:
        """ACCEPT, DROP or REJECT from kube-proxy's filter chains, or None."""
        for o in self.outputs:
            if o in ("ACCEPT", "DROP", "REJECT"):
                return o
        return None


class _Tracer:
    def __init__(self, ruleset: Ruleset, local_ips: Iterable[str], in_interface: Optional[str]):
        self.tables = {t: {c: [parse_rule(a) for a in rules]
                           for c, rules in ruleset.rules_by_chain(t).items()}
                       for t in ("nat", "filter")}
        self.local_ips = set(local_ips) | {"127.0.0.1", "::1"}
        self.in_interface = in_interface
        self.result = TraceResult()

    def _is_local(self, ip: str) -> bool:
        if ip in self.local_ips:
            return True
        try:
            return ipaddress.ip_address(ip).is_loopback
        except ValueError:
            return False

    def matches(self, rule: ParsedRule, src: str, proto: str, dst: str, dport: str) -> bool:
        v = rule.values
        if "source" in v and not _address_matches(v["source"], src):
            return False
        if "src_type" in v and not _value_matches(
                v["src_type"], "LOCAL" if self._is_local(src) else "not-matched"):
            return False
        if "in_interface" in v and not _interface_matches(v["in_interface"], self.in_interface):
            return False
        if "protocol" in v and not _value_matches(v["protocol"], proto):
            return False
        if "destination" in v and not _address_matches(v["destination"], dst):
            return False
        if "dst_type" in v and not _value_matches(
                v["dst_type"], "LOCAL" if self._is_local(dst) else "not-matched"):
            return False
        if "dport" in v and not _value_matches(v["dport"], dport):
            return False
        # Anything that checks past state (affinity, marks, conntrack) does not match.
        if "affinity_check" in v or "mark_check" in v or "ctstate_check" in v:
            return False
        return True

    def run_chain(self, table: str, chain: str, src: str, proto: str, dst: str, dport: str,
                  depth: int = 0) -> bool:
        """Run CHAIN; True when it reached a terminal target (DNAT, ACCEPT, DROP, REJECT)."""
        rules = self.tables[table].get(chain)
        if rules is None or depth > 64:
            return False
        for rule in rules:
            jump = rule.get("jump")
            if jump is None or not self.matches(rule, src, proto, dst, dport):
                continue
            target = jump[1]
            self.result.matched.append(f"{table} {chain}: {rule.raw}")
            if target == ch.KUBE_MARK_MASQ:
                self.result.masquerade = True
                continue
            if target in ("ACCEPT", "REJECT", "DROP"):
                self.result.outputs.append(target)
                return True
            if target == "DNAT":
                self.result.outputs.append(rule.get("to_destination")[1])
                return True
            if target == "RETURN":
                return False
            terminated = self.run_chain(table, target, src, proto, dst, dport, depth + 1)
            # A probabilistic jump may not be taken: keep collecting the other branches.
            if terminated and rule.get("probability") is None:
                return True
        return False


def _split_endpoint(endpoint: str) -> Tuple[str, str]:
    host, _, port = endpoint.rpartition(":")
    return host.strip("[]"), port


def trace(ruleset: Ruleset, source: str, protocol: str, destination: str, port: int,
          local_ips: Iterable[str] = (), in_interface: Optional[str] = None) -> TraceResult:
    """Trace one packet through RULESET on a node whose addresses are LOCAL_IPS.

    protocol: "tcp", "udp" or "sctp" (any case).
    """
    tracer = _Tracer(ruleset, local_ips, in_interface)
    proto = protocol.lower()
    dport = str(port)
    nat = tracer.tables["nat"]
    start = "PREROUTING" if nat.get("PREROUTING") else ch.KUBE_SERVICES
    tracer.run_chain("nat", start, source, proto, destination, dport)
    # Pending DNATs take effect before the filter table sees the packet.
    if tracer.result.outputs:
        destination, dport = _split_endpoint(tracer.result.outputs[0])
    # Which filter hooks run depends on whether the packet is inbound, forwarded or
    # outbound; like upstream, run the interesting chains directly.
    for chain in (ch.KUBE_SERVICES, ch.KUBE_EXTERNAL_SERVICES, ch.KUBE_NODEPORTS,
                  ch.KUBE_PROXY_FIREWALL):
        tracer.run_chain("filter", chain, source, proto, destination, dport)
    return tracer.result
