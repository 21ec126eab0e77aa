"""`netlab trace FROM DEST[:PORT]`: one real connection, what the kernel did with its first packet,
and whether that is the path `netlab explain` predicts.

```
 explain (the prediction, before the connection records anything, e.g. in xt_recent or an @affinity- set)
 socket in FROM's namespace, bound to port 0: the kernel picks the source port SPORT now
 each namespace on explain's paths:  nft -a monitor  +  table ip netlab-trace (nftrace rules)
 connect once ── kernel trace events ── delete the tables (the monitors' last line) ── conntrack -L
 events -> iptables-save lines (nftables mode: ip kube-proxy's rules as `nft list table` prints them)
        -> compared with explain's hops of the endpoint the kernel chose
```

The trace rules. Crossing a veth into another namespace resets `nf_trace` (`skb_scrub_packet` calls
`nf_reset_trace`, net/core/skbuff.c), so every namespace on the path gets a table of its own,
`table ip netlab-trace`, with a prerouting and an output chain at priority `raw - 1` (before
iptables' raw table): `meta nftrace set 1` there follows the packet through every later hook of that
namespace. Two rules, the first packet only (TCP: SYN without ACK; UDP sends one datagram):

* `th sport SPORT`: the flow at every stage before a source NAT (the port is the bound socket's);
* `ip daddr {endpoints} th dport {ports}`: the stage after a masquerade, whose source port is
  random (`--random-fully`), for explain's DNAT targets (and DEST itself). This is loose on purpose:
  unrelated SYNs to an endpoint (a kubelet probe) are traced too and dropped afterwards (below).

A table of its own: removing it is one `nft delete table` that cannot touch kube-proxy's rules, and
the setup transaction (`table ...; delete table ...; table ... {...}`) replaces a leftover one.

The monitors. `nft -a monitor` prints ruleset changes and trace events of one netlink socket, in the
order the kernel queued them. A monitor is ready once it has printed our own table's transaction
(it is poked with a no-op chain add/delete until it has: it may have subscribed after the first);
it has printed every trace event of the connection once it prints the table's deletion, which is
issued after the connection has an outcome (established, refused, a drop verdict seen, or no
answer within --wait).

Which events are the flow's. The trace id is not stable within a namespace (it hashes the skb's
flow hash, which NAT changes), so each base chain's `packet:` line is checked: it must come from
SRC:SPORT, or be a tuple conntrack shows the flow got after NAT (`conntrack -L` read afterwards in
every namespace with rules; a masqueraded tuple is known only from there). A namespace is visited
from the moment our own chain sees the packet; a visit repeating an earlier one's tuple (a TCP
retransmission) is dropped. Visits are ordered by the NAT stage of their tuple, then explain's order.

Handle -> iptables rule. The lab's iptables are iptables-nft, so kube-proxy's rules are nft rules of
tables `ip nat`, `ip filter`, ... and trace events name them by handle. iptables-save prints no
handles, but it lists a chain's rules in the kernel's order, as `nft -a list ruleset` does: the rule
with handle H is the i-th of its chain there, and the i-th `-A CHAIN` line of iptables-save (read at
the same moment). Checked per chain (same count) and per rule (same jump, goto or DNAT target);
otherwise the hop keeps nft's text only and a warning says the rules changed during the trace.
(Comments are not comparable: nft 1.0 prints iptables-nft's comment matches as nothing.)

kube-proxy's nftables mode (spec.proxyMode: nftables). A node's kube-proxy rules are then the
native nft table `ip kube-proxy` (no KUBE-* iptables chains; explain_nft.py walks it), and a rule of
it is named as explain's hops name it: table "ip kube-proxy", the chain, and the rule as `nft list
table` prints it -- the text `nft -a list ruleset` (read with iptables-save, above) gives the event's
handle, without its `# handle N`. A verdict-map lookup that found its element is a rule whose verdict
is the element's (`... vmap @service-ips` -> `goto service-...`); one that found none prints nothing,
as explain leaves out a rule that does not match. The endpoint's DNAT is the `dnat to IP:PORT` rule of
its `endpoint-...` chain; a pinned client goes through `ip saddr @affinity-... goto endpoint-...`.
Both modes read the same things and compare the same way (iptables rules of a node in nftables mode,
if any, are still mapped to their iptables-save lines).

Same path: the sequence of (namespace, table, chain, rule line | policy) the kernel reports -- every
rule that matched, with whatever verdict, and a base chain's policy -- equals that of explain's
matched-rule and policy hops for the endpoint the kernel chose. Then: that endpoint is one of
explain's candidates, the outcome fits the verdict, and the source address is the one predicted.
The first of these that fails is `firstDifference`.

Leftovers. Traces of one lab take a lock (LAB_DIR/trace.lock); the namespaces that get a table are
recorded in LAB_DIR/trace-tables.json before, and the record removed once every table is deleted
(a `finally`, so also on Ctrl-C). A trace killed outright leaves the record: the next trace deletes
the tables it lists first, and `netlab down` removes the namespaces (tables and all) and LAB_DIR.
(The recorded step "trace tables added", netlab/crashpoints.py, lets a test kill a trace right there.)
The monitors die with the process that started them (PR_SET_PDEATHSIG).

IPv4 only: the trace table is of family ip and conntrack is read for IPv4, so a connection to an IPv6
destination (a dual-stack lab's) is refused in one line; `netlab explain FROM DEST -6` predicts its path.

The pure parts (parsing, mapping, comparing, presenting) take text; `capture(machine, plan)` does
the side effects through a `Machine` (commands in namespaces, monitors, one socket); `trace(...)`
puts them together for a running lab.
"""

from __future__ import annotations

import errno
import ipaddress
import json
import re
import time
from dataclasses import dataclass, field
from typing import Callable, Dict, Iterable, List, Optional, Sequence, Tuple

from netlab import crashpoints, explain as ex
from netlab.explain_nft import FAMILY as KP_FAMILY, NAME as KP_NAME, NFT_TABLE as KP_TABLE
from netlab.lab import LabError

TRACE_TABLE = "netlab-trace"
ESTABLISHED, REPLY, REFUSED, UNREACHABLE, DROPPED, NO_ANSWER = (
    "established", "reply", "refused", "unreachable", "dropped", "no answer")
Tuple4 = Tuple[str, int, str, int]          # (src, sport, dst, dport)


class TraceError(LabError):
    """A trace that cannot be made (one line: what and where)."""


# -- nft monitor output -------------------------------------------------------------------------

@dataclass(frozen=True)
class Packet:
    """The headers a trace event's `packet:` line shows."""

    protocol: str
    src: str
    sport: int
    dst: str
    dport: int
    iif: Optional[str] = None
    oif: Optional[str] = None

    @property
    def tuple(self) -> Tuple4:
        return (self.src, self.sport, self.dst, self.dport)

    def text(self) -> str:
        dev = f" in {self.iif}" if self.iif else (f" out {self.oif}" if self.oif else "")
        return f"{self.protocol} {self.src}:{self.sport} -> {self.dst}:{self.dport}{dev}"


@dataclass(frozen=True)
class TraceEvent:
    """One line of `nft monitor trace`: a chain's packet, a rule that matched, a policy or verdict."""

    namespace: str
    trace_id: str
    family: str
    table: str
    chain: str
    kind: str                       # packet, rule, policy, verdict
    verdict: Optional[str] = None   # "jump KUBE-SERVICES", "accept", "continue", ...
    handle: Optional[int] = None
    text: Optional[str] = None      # the rule as nft prints it (None: "unknown rule")
    packet: Optional[Packet] = None


_TRACE_LINE = re.compile(r"^trace id (\S+) (\S+) (\S+) (\S+) (.*?)\s*$")
_RULE_TAIL = re.compile(r"^(.*?)\s*(?:# handle (\d+))?\s*\(verdict ([^()]*)\)$")
_UNKNOWN_RULE = re.compile(r"^unknown rule handle (\d+)\s*\(verdict ([^()]*)\)$")
_COUNTER = re.compile(r"\s*\bcounter packets \d+ bytes \d+")


def _field(pattern: str, text: str) -> Optional[str]:
    found = re.search(pattern, text)
    return found.group(1) if found else None


def parse_packet(text: str) -> Optional[Packet]:
    """The IPv4 TCP/UDP/SCTP headers of a `packet:` line (None for anything else)."""
    src, dst = _field(r"\bip saddr (\S+)", text), _field(r"\bip daddr (\S+)", text)
    found = re.search(r"\b(tcp|udp|sctp) sport (\d+)", text)
    dport = _field(r"\b(?:tcp|udp|sctp) dport (\d+)", text)
    if not (src and dst and found and dport):
        return None
    return Packet(found.group(1), src, int(found.group(2)), dst, int(dport),
                  iif=_field(r'\biif "([^"]+)"', text), oif=_field(r'\boif "([^"]+)"', text))


def parse_monitor(lines: Iterable[str], namespace: str) -> List[TraceEvent]:
    """The trace events among `nft -a monitor` output lines (ruleset changes are skipped)."""
    events = []
    for line in lines:
        found = _TRACE_LINE.match(line)
        if not found:
            continue
        trace_id, family, table, chain, rest = found.groups()
        base = dict(namespace=namespace, trace_id=trace_id, family=family, table=table, chain=chain)
        if rest.startswith("packet:"):
            events.append(TraceEvent(kind="packet", packet=parse_packet(rest[7:]), **base))
        elif rest.startswith("rule "):
            tail = _RULE_TAIL.match(rest[5:])
            if tail:
                text, handle, verdict = tail.groups()
                events.append(TraceEvent(kind="rule", verdict=verdict.strip(), text=_COUNTER.sub("", text).strip(),
                                         handle=int(handle) if handle else None, **base))
        elif rest.startswith("unknown rule"):
            tail = _UNKNOWN_RULE.match(rest)
            if tail:
                events.append(TraceEvent(kind="rule", verdict=tail.group(2).strip(), handle=int(tail.group(1)),
                                         **base))
        elif rest.startswith("policy "):        # "policy accept meta mark 0x00004000": the verdict, then the mark
            events.append(TraceEvent(kind="policy", verdict=rest[7:].split()[0], **base))
        elif rest.startswith("verdict "):
            words = rest[8:].split() or ["?"]
            verdict = " ".join(words[:2]) if words[0] in ("jump", "goto") and len(words) > 1 else words[0]
            events.append(TraceEvent(kind="verdict", verdict=verdict, **base))
    return events


# -- handle -> iptables-save line ---------------------------------------------------------------

def _unquoted(line: str) -> str:
    return re.sub(r'"(?:[^"\\]|\\.)*"', '""', line)


def parse_listing(text: str) -> Dict[Tuple[str, str, str], List[Tuple[int, str]]]:
    """`nft -a list ruleset` -> (family, table, chain) -> [(handle, rule text)] in the chain's order."""
    chains: Dict[Tuple[str, str, str], List[Tuple[int, str]]] = {}
    table: Optional[Tuple[str, str]] = None
    chain: Optional[str] = None
    depth = 0
    for raw in text.splitlines():
        line = raw.strip()
        bare = _unquoted(line)
        opened, closed = bare.count("{"), bare.count("}")
        if depth == 0:
            found = re.match(r"^table (\S+) (\S+) \{", line)
            if found:
                table = (found.group(1), found.group(2))
        elif depth == 1 and table is not None:
            found = re.match(r"^chain (\S+) \{", line)
            if found:
                chain = found.group(1)
                chains.setdefault((table[0], table[1], chain), [])
        elif depth == 2 and chain is not None and table is not None:
            found = re.match(r"^(.*?)\s*# handle (\d+)$", line)
            if found:
                chains[(table[0], table[1], chain)].append((int(found.group(2)), _COUNTER.sub("", found.group(1))
                                                            .strip()))
        depth += opened - closed
        if depth <= 1:
            chain = None
        if depth <= 0:
            table, depth = None, 0
    return chains


def _agrees(nft_text: Optional[str], line: str) -> bool:
    """False when nft's rule and the iptables line clearly differ (jump, goto or DNAT target)."""
    if not nft_text:
        return True
    found = re.search(r"\b(jump|goto) (\S+)", nft_text)
    if found:
        flag = "-j" if found.group(1) == "jump" else "-g"
        return re.search(rf"(^| ){flag} {re.escape(found.group(2))}( |$)", line) is not None
    found = re.search(r"\bdnat to (\S+)", nft_text)
    if found:
        return f"--to-destination {found.group(1)}" in line
    return True


@dataclass
class RuleMap:
    """One namespace's rules: (table, chain, handle) -> its iptables-save line (a rule of kube-proxy's
    nft table `ip kube-proxy`: the rule as `nft list table` prints it)."""

    lines: Dict[Tuple[str, str, int], str] = field(default_factory=dict)
    texts: Dict[Tuple[str, str, int], str] = field(default_factory=dict)
    problems: List[str] = field(default_factory=list)


def rule_map(listing: str, saved: str) -> RuleMap:
    """Pair each iptables-nft rule handle with its iptables-save line by its position in its chain,
    and each rule handle of `ip kube-proxy` with its text in LISTING."""
    out = RuleMap()
    try:
        tables = ex.parse_tables(saved or "")
    except Exception as err:          # a RestoreTextError naming the line
        out.problems.append(f"its iptables-save output could not be read ({err})")
        tables = {}
    for (family, table, chain), rules in parse_listing(listing or "").items():
        if family != "ip" or table == TRACE_TABLE:
            continue
        for handle, text in rules:
            out.texts[(table, chain, handle)] = text
        if (family, table) == (KP_FAMILY, KP_NAME):           # a native nft table: its text is the rule
            for handle, text in rules:
                out.lines[(table, chain, handle)] = text
            continue
        saved_table = tables.get(table)
        args = saved_table.raw.get(chain) if saved_table is not None else None
        if args is None:
            if rules:
                out.problems.append(f"{table} {chain} is not in iptables-save's output (not an iptables-nft chain)")
            continue
        if len(args) != len(rules):
            out.problems.append(f"{table} {chain} has {len(rules)} rules in nft and {len(args)} in iptables-save")
            continue
        for (handle, text), arg in zip(rules, args):
            line = f"-A {chain} {arg}".rstrip()
            if not _agrees(text, line):
                out.problems.append(f"{table} {chain}: nft rule {handle} ({text}) is not {line}")
                continue
            out.lines[(table, chain, handle)] = line
    return out


# -- which events are the flow's, and in what order ---------------------------------------------

def _tuple_of(parts) -> Optional[Tuple4]:
    try:
        return (parts[0], int(parts[1]), parts[2], int(parts[3]))
    except (ValueError, IndexError, TypeError):
        return None


def flow_tuples(first: Tuple4, entries: Sequence) -> Tuple[List[Tuple4], set]:
    """(the flow's tuples in NAT order, every tuple its packets can show) from conntrack ENTRIES
    (netlab.conntrack.Entry of every namespace), starting from the tuple the client sent."""
    stages = [first]
    seen = {first}
    changed = True
    while changed:
        changed = False
        for entry in entries:
            orig, reply = _tuple_of(entry.original), _tuple_of(entry.reply)
            if orig is None or reply is None or orig not in seen:
                continue
            after = (reply[2], reply[3], reply[0], reply[1])          # both NATs done
            between = (orig[0], orig[1], reply[0], reply[1])          # DNAT done, SNAT not yet
            for tup in (after, between):
                if tup not in seen:
                    seen.add(tup)
                    changed = True
            if after not in stages:
                stages.append(after)
    return stages, seen


@dataclass
class Visit:
    """The packet in one namespace: the tuple our own chain saw it with, and the events after."""

    namespace: str
    hook: str                   # pre (arrived) or out (sent from here)
    packet: Optional[Packet]
    events: List[TraceEvent] = field(default_factory=list)
    repeat: bool = False


def visits_of(events: Sequence[TraceEvent], ours: Callable[[Tuple4], bool]) -> List[Visit]:
    """A namespace's events grouped into visits of the flow (packets OURS accepts; repeats marked)."""
    current: Dict[str, Optional[Packet]] = {}
    visits: List[Visit] = []
    seen = set()
    for ev in events:
        if ev.kind == "packet":
            current[ev.trace_id] = ev.packet
        packet = current.get(ev.trace_id)
        if packet is None or not ours(packet.tuple):
            continue
        if ev.table == TRACE_TABLE:
            if ev.kind == "packet":
                key = (ev.chain, packet.tuple)
                visits.append(Visit(ev.namespace, ev.chain, packet, repeat=key in seen))
                seen.add(key)
            continue
        if not visits:
            visits.append(Visit(ev.namespace, "?", packet))
        visits[-1].events.append(ev)
    return [v for v in visits if not v.repeat]


def _table_name(family: str, table: str) -> str:
    """A table as explain's hops name it: `nat`, `filter`, ... (iptables), `ip kube-proxy` (nft)."""
    return KP_TABLE if (family, table) == (KP_FAMILY, KP_NAME) else table


def _is_kube_proxy_nft(hop: "KernelHop") -> bool:
    return hop.table == KP_TABLE and hop.family == KP_FAMILY


@dataclass
class KernelHop:
    """What the kernel reported: the packet seen in a namespace, a rule that matched, a policy."""

    kind: str                       # packet, rule, policy, verdict
    namespace: str
    where: str = ""
    table: Optional[str] = None
    chain: Optional[str] = None
    handle: Optional[int] = None
    rule: Optional[str] = None      # the iptables-save line, or an `ip kube-proxy` rule as `nft list table`
                                    # prints it (None: another nft rule, or not found)
    nft: Optional[str] = None       # the rule as nft prints it
    verdict: Optional[str] = None
    packet: Optional[str] = None    # kind packet: "arrives: tcp a:p -> b:q in eth0"
    family: str = "ip"

    def key(self) -> tuple:
        if self.kind == "policy":
            return (self.namespace, self.table, self.chain, f"policy {self.verdict}")
        if self.rule is not None:
            return (self.namespace, self.table, self.chain, self.rule)
        where = self.table if self.family == "ip" else f"{self.family} {self.table}"
        return (self.namespace, where, self.chain, f"nft rule {self.handle}: {self.nft or '?'}")


def kernel_path(visits: Sequence[Visit], maps: Dict[str, RuleMap], stage: Callable[[Tuple4], int],
                order: Sequence[str], labels: Dict[str, str]) -> List[KernelHop]:
    """The kernel's hops: VISITS ordered by NAT stage, then ORDER; each event's rule named by MAPS."""
    def rank(item):
        index, visit = item
        where = order.index(visit.namespace) if visit.namespace in order else len(order)
        return (stage(visit.packet.tuple) if visit.packet else 0, where, index)

    hops: List[KernelHop] = []
    for _, visit in sorted(enumerate(visits), key=rank):
        ns = visit.namespace
        where = labels.get(ns, ns)
        if visit.packet is not None:
            verb = "leaves" if visit.hook == "out" else "arrives"
            hops.append(KernelHop("packet", ns, where, packet=f"{verb}: {visit.packet.text()}"))
        known = maps.get(ns) or RuleMap()
        for ev in visit.events:
            if ev.kind == "packet":
                continue
            table = _table_name(ev.family, ev.table)
            if ev.kind == "rule":
                key = (ev.table, ev.chain, ev.handle)
                line = known.lines.get(key) if ev.family == "ip" else None
                hops.append(KernelHop("rule", ns, where, table, ev.chain, ev.handle, line,
                                      ev.text or known.texts.get(key), ev.verdict, family=ev.family))
            else:
                hops.append(KernelHop(ev.kind, ns, where, table, ev.chain, verdict=ev.verdict, family=ev.family))
    return hops


# -- comparing with explain ---------------------------------------------------------------------

def explain_key(hop: ex.Hop) -> tuple:
    if hop.kind == "policy":
        policy = hop.action.rsplit("policy ", 1)[-1].strip().lower()
        return (hop.namespace, hop.table, hop.chain, f"policy {policy}")
    return (hop.namespace, hop.table, hop.chain, hop.rule)


def compared_explain_hops(cand: Optional[ex.Candidate]) -> List[ex.Hop]:
    """The hops of CAND the kernel reports too: matched rules and base-chain policies."""
    if cand is None:
        return []
    return [h for h in cand.hops if (h.kind == "rule" and h.matched) or h.kind == "policy"]


def compared_kernel_hops(hops: Sequence[KernelHop]) -> List[KernelHop]:
    return [h for h in hops if h.kind in ("rule", "policy")]


def first_path_difference(explained: Sequence[ex.Hop], kernel: Sequence[KernelHop]) -> Optional[int]:
    """The index of the first step where the two differ (None: the same sequence)."""
    for i in range(max(len(explained), len(kernel))):
        if i >= len(explained) or i >= len(kernel) or explain_key(explained[i]) != kernel[i].key():
            return i
    return None


def _dnat_target(hop: KernelHop) -> Optional[str]:
    if hop.kind != "rule":
        return None
    if hop.rule and " -j DNAT" in hop.rule:
        found = re.search(r"--to-destination (\S+)", hop.rule)
        return found.group(1) if found else None
    found = re.search(r"\bdnat to (\S+)", hop.nft or hop.rule or "")
    return found.group(1) if found else None


def chosen_endpoint(kernel: Sequence[KernelHop], stages: Sequence[Tuple4], outcome: str) -> Optional[str]:
    """The endpoint the kernel sent the connection to: conntrack's DNAT (the flow's second stage),
    else the DNAT rule traced; without DNAT, the destination, if the packet got anywhere."""
    first = stages[0] if stages else None
    if first is not None and len(stages) > 1 and (stages[1][2], stages[1][3]) != (first[2], first[3]):
        return f"{stages[1][2]}:{stages[1][3]}"
    for hop in kernel:
        target = _dnat_target(hop)
        if target:
            return target
    ended = any(h.kind in ("rule", "policy") and (h.verdict or "").split()[0:1] == ["drop"] for h in kernel)
    if first is not None and not ended and outcome in (ESTABLISHED, REPLY, REFUSED):
        return f"{first[2]}:{first[3]}"
    return None


def pick_candidate(expl: ex.Explanation, chosen: Optional[str]) -> Optional[ex.Candidate]:
    """Explain's candidate for the endpoint the kernel chose (else its first)."""
    cands = expl.candidates
    if not cands:
        return None
    if chosen:
        same = next((c for c in cands if c.address == chosen), None)
        if same is not None:
            return same
    if chosen is None:
        ended = next((c for c in cands if c.verdict != ex.DELIVERED), None)
        if ended is not None:
            return ended
    return cands[0]


def outcome_fits(cand: Optional[ex.Candidate], protocol: str, outcome: str) -> bool:
    """Whether the connection's OUTCOME is what CAND's verdict means for a client."""
    if cand is None:
        return outcome in (DROPPED, NO_ANSWER, UNREACHABLE)
    if cand.verdict == ex.DELIVERED:
        if cand.listening is False:
            return outcome == REFUSED
        if protocol == "udp":
            return outcome in (REPLY, NO_ANSWER)        # a UDP server need not answer
        return outcome == ESTABLISHED
    if cand.verdict == ex.REJECTED:
        return outcome in (REFUSED, UNREACHABLE)
    return outcome in (DROPPED, NO_ANSWER, UNREACHABLE)


# -- the result ---------------------------------------------------------------------------------

@dataclass
class TraceResult:
    explanation: ex.Explanation
    kernel: List[KernelHop]
    candidate: Optional[ex.Candidate]       # the explain candidate compared (the kernel's endpoint)
    chosen: Optional[str]
    outcome: str
    error: Optional[str]                    # the socket's error text, if any
    sent: dict                              # netns, protocol, src, sport, dst, dport
    first_difference: Optional[dict]
    same_steps: int                         # compared steps equal before the first difference
    warnings: List[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def matches_explain(self) -> bool:
        return self.first_difference is None


def _hop_brief(hop) -> Optional[dict]:
    if hop is None:
        return None
    if isinstance(hop, KernelHop):
        return {"namespace": hop.namespace, "where": hop.where, "table": hop.table, "chain": hop.chain,
                "rule": hop.rule, "nft": hop.nft, "verdict": hop.verdict, "kind": hop.kind}
    return {"namespace": hop.namespace, "where": hop.where, "table": hop.table, "chain": hop.chain,
            "rule": hop.rule, "action": hop.action, "kind": hop.kind}


def _describe(hop) -> str:
    if hop is None:
        return "nothing (the path ends before)"
    if isinstance(hop, KernelHop):
        what = f"policy {hop.verdict}" if hop.kind == "policy" else (hop.rule or f"nft rule {hop.handle}: {hop.nft}")
        return f"[{hop.where}] {hop.table} {hop.chain}: {what}"
    what = hop.action if hop.kind == "policy" else hop.rule
    return f"[{hop.where}] {hop.table} {hop.chain}: {what}"


def analyse(expl: ex.Explanation, capture: "Capture") -> TraceResult:
    """Compare what CAPTURE recorded with EXPL (pure)."""
    from netlab import conntrack as conntrack_mod
    warnings = list(capture.warnings)
    protocol = expl.request.protocol.lower()
    src = capture.source or expl.src or ""
    first: Tuple4 = (src, capture.sport, expl.request.dst, expl.request.port)
    entries = [e for text in capture.conntrack.values() for e in conntrack_mod.parse(text)
               if e.protocol == protocol]
    stages, tuples = flow_tuples(first, entries)

    def ours(tup: Tuple4) -> bool:
        return (tup[0], tup[1]) == (src, capture.sport) or tup in tuples

    def stage(tup: Tuple4) -> int:
        if tup in stages:
            return stages.index(tup)
        return 0 if (tup[0], tup[1]) == (src, capture.sport) and (tup[2], tup[3]) == (first[2], first[3]) \
            else len(stages)

    maps = {}
    for ns in capture.listings:
        maps[ns] = rule_map(capture.listings[ns], capture.saves.get(ns, ""))
        for problem in maps[ns].problems:
            warnings.append(f"{ns}: {problem}")
    labels: Dict[str, str] = {}
    order: List[str] = []
    for cand in expl.candidates:
        for hop in cand.hops:
            labels.setdefault(hop.namespace, hop.where)
    visits = []
    for ns, lines in capture.lines.items():
        visits += visits_of(parse_monitor(lines, ns), ours)
    # explain's order of namespaces: the chosen candidate's first, then the others'
    pre_chosen = chosen_endpoint(kernel_path(visits, maps, stage, [], labels), stages, capture.outcome)
    cand = pick_candidate(expl, pre_chosen)
    for c in ([cand] if cand else []) + list(expl.candidates):
        for hop in c.hops:
            if hop.namespace not in order:
                order.append(hop.namespace)
    kernel = kernel_path(visits, maps, stage, order, labels)
    for hop in kernel:
        if hop.kind == "rule" and hop.rule is None and hop.family == "ip" and hop.namespace in maps:
            read = "is not in the `nft -a list ruleset` read" if _is_kube_proxy_nft(hop) else \
                "has no iptables-save line read"
            warnings.append(f"{labels.get(hop.namespace, hop.namespace)}: {hop.table} {hop.chain} rule handle "
                            f"{hop.handle} {read} with it (the rules changed during the trace? run it again)")
    chosen = chosen_endpoint(kernel, stages, capture.outcome)
    explained, traced = compared_explain_hops(cand), compared_kernel_hops(kernel)
    at = first_path_difference(explained, traced)
    difference = None
    same = len(explained) if at is None else at
    if at is not None:
        mine = explained[at] if at < len(explained) else None
        theirs = traced[at] if at < len(traced) else None
        difference = {"what": "path", "step": at + 1, "explain": _hop_brief(mine), "kernel": _hop_brief(theirs),
                      "reason": f"step {at + 1}: the kernel went {_describe(theirs)}; explain predicted "
                                f"{_describe(mine)}"}
    elif chosen is not None and chosen not in {c.address for c in expl.candidates}:
        difference = {"what": "chosen", "step": None, "explain": [c.address for c in expl.endpoints],
                      "kernel": chosen, "reason": f"the kernel chose {chosen}, not one of explain's endpoints"}
    elif not outcome_fits(cand, protocol, capture.outcome):
        predicted = cand.verdict if cand else "no path"
        difference = {"what": "outcome", "step": None, "explain": predicted, "kernel": capture.outcome,
                      "reason": f"the connection was {capture.outcome}"
                                + (f" ({capture.error})" if capture.error else "")
                                + f"; explain predicted {predicted}"
                                + (" (nothing listens)" if cand is not None and cand.listening is False else "")}
    elif capture.source and expl.src and capture.source != expl.src:
        difference = {"what": "source", "step": None, "explain": expl.src, "kernel": capture.source,
                      "reason": f"the kernel sent from {capture.source}; explain predicted {expl.src}"}
    sent = {"netns": expl.request.netns, "protocol": protocol, "src": src, "sport": capture.sport,
            "dst": expl.request.dst, "dport": expl.request.port}
    return TraceResult(expl, kernel, cand, chosen, capture.outcome, capture.error, sent, difference, same,
                       warnings, capture.seconds)


def _kernel_hop_json(hop: KernelHop, step: int) -> dict:
    return {"step": step, "namespace": hop.namespace, "where": hop.where, "kind": hop.kind, "table": hop.table,
            "chain": hop.chain, "handle": hop.handle, "rule": hop.rule, "nft": hop.nft, "verdict": hop.verdict,
            "packet": hop.packet}


def to_json(result: TraceResult) -> dict:
    """explain's json plus what the kernel did: chosen, matchesExplain, kernel hops, firstDifference."""
    data = ex.to_json(result.explanation)
    data.update({
        "sent": result.sent,
        "outcome": result.outcome,
        "error": result.error,
        "chosen": result.chosen,
        "comparedWith": result.candidate.address if result.candidate else None,
        "matchesExplain": result.matches_explain,
        "firstDifference": result.first_difference,
        "sameSteps": result.same_steps,
        "kernel": [_kernel_hop_json(h, i) for i, h in enumerate(result.kernel, 1)],
        "traceWarnings": result.warnings,
        "seconds": round(result.seconds, 3),
    })
    return data


def _kernel_lines(hop: KernelHop, step: Optional[int], mark: str = " ") -> List[str]:
    place = f"[{hop.where}]"
    if hop.kind == "packet":
        return [f"      {place} {hop.packet}"]
    head = f"{mark}{step:>3}. {place} {hop.table} {hop.chain}: "
    if hop.kind == "policy":
        return [head + f"policy {hop.verdict}"]
    if hop.kind == "verdict":
        return [head + f"verdict {hop.verdict}"]
    shown = hop.rule or f"nft rule {hop.handle}: {hop.nft or '?'} (no iptables rule)"
    return [head + shown, f"        -> {hop.verdict}"]


def _spelling(kernel: Sequence[KernelHop]) -> str:
    """How the kernel path's rules are written: iptables-save's lines, `nft list table`'s, or both."""
    nft = any(_is_kube_proxy_nft(h) for h in kernel if h.kind == "rule")
    iptables = any(h.kind == "rule" and not _is_kube_proxy_nft(h) for h in kernel)
    if nft and iptables:
        return f"iptables rules as iptables-save prints them, {KP_TABLE}'s as `nft list table` does"
    if nft:
        return f"each rule of {KP_TABLE} as `nft list table` prints it"
    return "each rule as iptables-save prints it"


def format_text(result: TraceResult) -> str:
    """The trace for a person: what was sent, what the kernel chose, the verdict, the kernel's path."""
    expl = result.explanation
    req = expl.request
    sent = result.sent
    svc = req.service
    what = ""
    if svc:
        what = (f" = Service {svc['namespace']}/{svc['name']}"
                f"{':' + str(svc['port']) if svc.get('port') else ''} ({svc.get('via', '')})")
    lines = [f"trace: {req.source_label} -> {req.dest_label}{what}"]
    outcome = result.outcome + (f" ({result.error})" if result.error else "")
    lines.append(f"  sent: {sent['protocol']} {sent['src'] or '?'}:{sent['sport']} -> {sent['dst']}:{sent['dport']} "
                 f"from {req.netns}, one connection: {outcome} ({result.seconds * 1000:.0f} ms in all)")
    endpoints = expl.endpoints
    if result.chosen:
        cand = next((c for c in expl.candidates if c.address == result.chosen), None)
        who = ""
        if cand is not None and (cand.pod or cand.node):
            who = f" ({'pod ' + cand.pod.name + ', ' if cand.pod else ''}{cand.node or ''})".replace(", )", ")")
        share = (f": one of explain's {len(endpoints)} endpoints ({cand.probability * 100:.1f}%)"
                 if cand is not None and endpoints else ": not one of explain's endpoints")
        lines.append(f"  the kernel chose {result.chosen}{who}{share}")
    else:
        lines.append("  the kernel chose no endpoint")
    lines.append(f"  explain predicted: {expl.verdict}, {len(endpoints)} endpoint{'s' if len(endpoints) != 1 else ''}"
                 f"{' (' + ', '.join(c.address for c in endpoints) + ')' if endpoints else ''}, "
                 f"masquerade {'yes' if expl.masquerade else 'no'}")
    compared = compared_kernel_hops(result.kernel)
    diff = result.first_difference
    if diff is None:
        lines.append(f"verdict: the same path as explain ({len(compared)} rules and policies)")
    else:
        lines.append(f"verdict: differs from explain: {diff['reason']}")
    lines.append(f"kernel path (nft monitor trace; {_spelling(result.kernel)}):")
    step = 0
    bad = diff["step"] if diff and diff.get("what") == "path" else None
    for hop in result.kernel:
        if hop.kind in ("rule", "policy"):
            step += 1
            lines += _kernel_lines(hop, step, "!" if step == bad else " ")
        elif hop.kind == "packet":
            lines += _kernel_lines(hop, None)
    if bad is not None:
        rest = compared_explain_hops(result.candidate)[bad - 1:]
        lines.append(f"explain's path from step {bad}:")
        for i, hop in enumerate(rest, bad):
            shown = hop.action if hop.kind == "policy" else f"{hop.rule}\n        -> {hop.action}"
            lines.append(f"{i:>4}. [{hop.where}] {hop.table} {hop.chain}: {shown}")
        if not rest:
            lines.append("      (nothing: explain's path ends before)")
    if result.warnings:
        lines.append("warnings:")
        lines += [f"  {w}" for w in result.warnings]
    return "\n".join(lines)


# -- what to trace ------------------------------------------------------------------------------

@dataclass
class Plan:
    """Where and what: the namespaces on explain's paths, those with rules, the flow, the endpoints."""

    source_netns: str
    protocol: str
    dst: str
    dport: int
    namespaces: List[str]
    ruled: List[str]
    endpoints: List[Tuple[str, int]]
    save_tool: str = "iptables-nft-save"


def plan_for(expl: ex.Explanation, save_tool: str = "iptables-nft-save") -> Plan:
    """The namespaces to trace (every candidate's path) and the addresses a masqueraded packet can have."""
    req = expl.request
    order = [req.netns]
    ruled: List[str] = []
    ends = {(req.dst, req.port)}
    for cand in expl.candidates:
        for hop in cand.hops:
            if hop.namespace not in order:
                order.append(hop.namespace)
            if hop.table and hop.namespace not in ruled:
                ruled.append(hop.namespace)
        for nat in cand.nats:
            if nat.kind == "DNAT":
                host, _, port = nat.after.rpartition(":")
                if port.isdigit():
                    ends.add((host, int(port)))
    return Plan(req.netns, req.protocol.lower(), req.dst, req.port, order, ruled, sorted(ends), save_tool)


def trace_table(protocol: str, sport: int, endpoints: Sequence[Tuple[str, int]]) -> str:
    """The nft -f text that (re)creates `table ip netlab-trace`: nftrace for the flow's first packet."""
    first = " tcp flags & (syn | ack) == syn" if protocol == "tcp" else ""
    ips = ", ".join(sorted({ip for ip, _ in endpoints}, key=lambda a: ipaddress.ip_address(a)))
    ports = ", ".join(str(p) for p in sorted({p for _, p in endpoints}))
    rules = [f"meta l4proto {protocol} th sport {sport}{first} meta nftrace set 1"]
    if ips:
        rules.append(f"meta l4proto {protocol} ip daddr {{ {ips} }} th dport {{ {ports} }}{first} meta nftrace set 1")
    body = "".join(f"\t\t{r}\n" for r in rules)
    chains = "".join(f"\tchain {name} {{\n\t\ttype filter hook {hook} priority raw - 1; policy accept;\n{body}\t}}\n"
                     for name, hook in (("pre", "prerouting"), ("out", "output")))
    # "table X" first makes the delete succeed when there is none; a leftover one goes, atomically
    return f"table ip {TRACE_TABLE}\ndelete table ip {TRACE_TABLE}\ntable ip {TRACE_TABLE} {{\n{chains}}}\n"


POKE = f"add chain ip {TRACE_TABLE} sync\ndelete chain ip {TRACE_TABLE} sync\n"


def monitor_ready(lines: Sequence[str]) -> bool:
    """True once the monitor has printed a whole transaction on our table (it listens)."""
    seen = False
    for line in lines:
        if TRACE_TABLE in line and not line.startswith("trace id"):
            seen = True
        elif seen and line.startswith("# new generation"):
            return True
    return False


def deleted_after(lines: Sequence[str], start: int) -> bool:
    """True once the monitor printed our table's deletion at or after line START."""
    return any(line.startswith(f"delete table ip {TRACE_TABLE}") for line in lines[start:])


def drop_seen(lines: Sequence[str], sport: int) -> Optional[str]:
    """"drop" or "reject" once a chain dropped a packet from SPORT (a REJECT shows as verdict drop)."""
    current: Dict[str, Optional[Packet]] = {}
    for ev in parse_monitor(lines, ""):
        if ev.kind == "packet":
            current[ev.trace_id] = ev.packet
            continue
        packet = current.get(ev.trace_id)
        if packet is None or packet.sport != sport or not (ev.verdict or "").startswith("drop"):
            continue
        # a REJECT target (iptables-nft) or a `reject` statement (nft), not a comment that says reject
        bare = re.sub(r'\bcomment "(?:[^"\\]|\\.)*"', "", ev.text or "")
        return "reject" if "reject" in bare.lower() else "drop"
    return None


def unmapped(lines: Sequence[str], namespace: str, listing: str) -> bool:
    """True when a rule event names a handle the LISTING does not have (the rules changed since)."""
    known = {(t, c, h) for (f, t, c), rules in parse_listing(listing).items() if f == "ip" for h, _ in rules}
    return any(ev.kind == "rule" and ev.family == "ip" and ev.table != TRACE_TABLE
               and (ev.table, ev.chain, ev.handle) not in known for ev in parse_monitor(lines, namespace))


# -- side effects: a small interface ------------------------------------------------------------

@dataclass
class Job:
    netns: str
    argv: List[str]


class Monitor:
    """`nft -a monitor` in one namespace: LINES grows as it prints."""

    lines: List[str]

    def stop(self) -> None:
        raise NotImplementedError


class Flow:
    """One client socket in FROM's namespace, already bound (SPORT known)."""

    sport: int

    def start(self, dst: str, port: int) -> None:
        raise NotImplementedError

    def poll(self, timeout: float) -> Optional[Tuple[str, Optional[str]]]:
        """(outcome, error text) once the connection has one, else None after TIMEOUT seconds."""
        raise NotImplementedError

    def source(self) -> Optional[str]:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError


class Machine:
    """What capture() needs of the machine (a fake in the unit tests)."""

    def run(self, jobs: Sequence[Job]) -> List[Tuple[int, str, str]]:
        raise NotImplementedError

    def monitors(self, namespaces: Sequence[str]) -> Dict[str, Monitor]:
        raise NotImplementedError

    def flow(self, netns: str, protocol: str) -> Flow:
        raise NotImplementedError

    def script(self, text: str) -> str:
        """A file holding TEXT, for `nft -f` (the same for every namespace)."""
        raise NotImplementedError


@dataclass
class Capture:
    sport: int = 0
    source: Optional[str] = None
    outcome: str = NO_ANSWER
    error: Optional[str] = None
    lines: Dict[str, List[str]] = field(default_factory=dict)
    listings: Dict[str, str] = field(default_factory=dict)
    saves: Dict[str, str] = field(default_factory=dict)
    conntrack: Dict[str, str] = field(default_factory=dict)
    left: List[str] = field(default_factory=list)        # namespaces whose table could not be deleted
    cleaned: bool = False                                # the cleanup ran to its end
    warnings: List[str] = field(default_factory=list)
    seconds: float = 0.0


def _gone(rc: int, err: str) -> bool:
    return rc == 0 or "No such file or directory" in err or "does not exist" in err


def capture(machine: Machine, plan: Plan, wait: float = 1.0, clock: Callable[[], float] = time.monotonic,
            ready_timeout: float = 3.0, cap: Optional[Capture] = None) -> Capture:
    """Trace one connection of PLAN: tables and monitors up, send, collect, tables and monitors down.

    CAP (filled in, also when this raises) says in `left` where a table could not be deleted and in
    `cleaned` whether the cleanup ran to its end."""
    started = clock()
    cap = cap if cap is not None else Capture()
    flow = machine.flow(plan.source_netns, plan.protocol)
    monitors: Dict[str, Monitor] = {}
    pending: List[str] = []                   # namespaces whose table may exist
    try:
        cap.sport = flow.sport
        monitors = machine.monitors(plan.namespaces)
        script = machine.script(trace_table(plan.protocol, cap.sport, plan.endpoints))
        jobs = [Job(ns, ["nft", "-f", script]) for ns in plan.namespaces]
        reads = [Job(ns, ["nft", "-a", "list", "ruleset"]) for ns in plan.ruled] + \
                [Job(ns, [plan.save_tool]) for ns in plan.ruled]
        pending = list(plan.namespaces)
        results = machine.run(jobs + reads)
        for job, (rc, _, err) in zip(jobs, results):
            if rc != 0:
                raise TraceError(f"nft -f in network namespace {job.netns!r} failed: {err.strip()}")
        crashpoints.reached("trace tables added")       # the record lists them: the next trace deletes them
        _take_reads(cap, plan.ruled, plan.save_tool, results[len(jobs):])
        _wait_ready(machine, monitors, plan.namespaces, clock, ready_timeout)
        flow.start(plan.dst, plan.dport)
        cap.source = flow.source()
        deadline = clock() + wait
        dropped = None
        while True:
            got = flow.poll(0.005)
            if got is not None:
                cap.outcome, cap.error = got
                break
            if dropped is None:
                dropped = next((d for d in (drop_seen(monitors[ns].lines, cap.sport) for ns in plan.namespaces)
                                if d), None)
                if dropped == "drop":         # a REJECT shows as a drop too: its error is on the way
                    cap.outcome = DROPPED
                    break
            if clock() > deadline:
                cap.outcome = DROPPED if dropped else NO_ANSWER
                break
        cap.source = flow.source() or cap.source
        marks = {ns: len(monitors[ns].lines) for ns in plan.namespaces}
        deletes = [Job(ns, ["nft", "delete", "table", "ip", TRACE_TABLE]) for ns in plan.namespaces]
        tracks = [Job(ns, ["conntrack", "-L", "-p", plan.protocol]) for ns in plan.ruled]
        results = machine.run(deletes + tracks)
        pending = [job.netns for job, (rc, _, err) in zip(deletes, results) if not _gone(rc, err)]
        for job, (rc, out, err) in zip(tracks, results[len(deletes):]):
            cap.conntrack[job.netns] = out
            if rc != 0 and not out:
                cap.warnings.append(f"conntrack -L in {job.netns} failed: {err.strip()}")
        # every trace event of the connection was queued before the deletion's: wait for that
        deadline = clock() + 2.0
        while True:
            late = [ns for ns in plan.namespaces if ns not in pending and not deleted_after(monitors[ns].lines,
                                                                                              marks[ns])]
            if not late:
                break
            if clock() > deadline:
                cap.warnings.append(f"nft monitor in {', '.join(late)} did not show the table's deletion: "
                                    "its last events may be missing")
                break
            time.sleep(0.002)
        stale = [ns for ns in plan.ruled if unmapped(monitors[ns].lines, ns, cap.listings.get(ns, ""))]
        if stale:                                   # kube-proxy rewrote the rules meanwhile: read them again
            again = [Job(ns, ["nft", "-a", "list", "ruleset"]) for ns in stale] + \
                    [Job(ns, [plan.save_tool]) for ns in stale]
            _take_reads(cap, stale, plan.save_tool, machine.run(again))
    finally:
        try:
            flow.close()
        finally:
            try:
                if pending:
                    results = machine.run([Job(ns, ["nft", "delete", "table", "ip", TRACE_TABLE]) for ns in pending])
                    cap.left = [ns for ns, (rc, _, err) in zip(pending, results) if not _gone(rc, err)]
                cap.cleaned = True
            finally:
                for ns, mon in monitors.items():
                    mon.stop()
                    cap.lines[ns] = list(mon.lines)
    cap.seconds = clock() - started
    return cap


def _wait_ready(machine: Machine, monitors: Dict[str, Monitor], namespaces: Sequence[str],
                clock: Callable[[], float], timeout: float) -> None:
    """Until every monitor has printed a transaction on our table; those that have not are poked
    (a no-op chain add and delete) every 20 ms: a monitor may have subscribed after the setup."""
    deadline = clock() + timeout
    poked = clock()
    poke = None
    while True:
        late = [ns for ns in namespaces if not monitor_ready(monitors[ns].lines)]
        if not late:
            return
        if clock() > deadline:
            raise TraceError(f"nft monitor in network namespace {late[0]!r} never showed our table "
                             f"(its output: {' | '.join(monitors[late[0]].lines[-3:]) or 'nothing'})")
        if clock() - poked > 0.02:
            poke = poke or machine.script(POKE)
            machine.run([Job(ns, ["nft", "-f", poke]) for ns in late])
            poked = clock()
        time.sleep(0.002)


def _take_reads(cap: Capture, namespaces: Sequence[str], save_tool: str, results) -> None:
    n = len(namespaces)
    for i, ns in enumerate(namespaces):
        rc, listing, err = results[i]
        if rc != 0:
            raise TraceError(f"nft list ruleset in network namespace {ns!r} failed: {err.strip()}")
        rc, saved, err = results[n + i]
        if rc != 0:
            raise TraceError(f"{save_tool} in network namespace {ns!r} failed: {err.strip()}")
        cap.listings[ns], cap.saves[ns] = listing, saved


# -- the live machine ---------------------------------------------------------------------------

def _die_with_parent() -> None:
    import ctypes
    import signal
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)          # PR_SET_PDEATHSIG


class _LiveMonitor(Monitor):
    def __init__(self, netns: str, proc):
        self.netns = netns
        self.proc = proc
        self.lines = []
        self.thread = None

    def read(self) -> None:
        import threading

        def pump():
            for line in self.proc.stdout:
                self.lines.append(line.rstrip("\n"))

        self.thread = threading.Thread(target=pump, name=f"nft-monitor {self.netns}", daemon=True)
        self.thread.start()

    def stop(self) -> None:
        import subprocess
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=1.0)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.thread is not None:
            self.thread.join(timeout=1.0)
        if self.proc.stdout:
            self.proc.stdout.close()


class _LiveFlow(Flow):
    def __init__(self, netns: str, protocol: str):
        import socket
        from netlab.dataplane import netns as netns_mod
        kind = socket.SOCK_STREAM if protocol == "tcp" else socket.SOCK_DGRAM
        try:
            with netns_mod.entered(netns):          # a socket stays in the namespace it was made in
                self.sock = socket.socket(socket.AF_INET, kind)
        except OSError as err:
            raise TraceError(f"cannot open a socket in network namespace {netns!r}: {err}") from None
        self.protocol = protocol
        self.sock.setblocking(False)
        self.sock.bind(("0.0.0.0", 0))              # the kernel picks the source port now
        self.sport = self.sock.getsockname()[1]
        self.failed: Optional[Tuple[str, Optional[str]]] = None

    def start(self, dst: str, port: int) -> None:
        if self.protocol == "tcp":
            code = self.sock.connect_ex((dst, port))
            if code not in (0, errno.EINPROGRESS):
                self.failed = _outcome_of(code)
            return
        try:
            self.sock.connect((dst, port))
            self.sock.send(b"netlab trace\n")
        except OSError as err:
            self.failed = _outcome_of(err.errno or 0)

    def poll(self, timeout: float):
        import select
        import socket
        if self.failed:
            return self.failed
        if self.protocol == "tcp":
            _, writable, _ = select.select([], [self.sock], [], timeout)
            if not writable:
                return None
            code = self.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            return (ESTABLISHED, None) if code == 0 else _outcome_of(code)
        readable, _, _ = select.select([self.sock], [], [], timeout)
        if not readable:
            return None
        try:
            self.sock.recv(65536)
            return (REPLY, None)
        except OSError as err:
            return _outcome_of(err.errno or 0)

    def source(self) -> Optional[str]:
        try:
            ip = self.sock.getsockname()[0]
        except OSError:
            return None
        return None if ip == "0.0.0.0" else ip

    def close(self) -> None:
        self.sock.close()


def _outcome_of(code: int) -> Tuple[str, Optional[str]]:
    import os
    text = os.strerror(code) if code else None
    if code == errno.ECONNREFUSED:
        return REFUSED, text
    if code in (errno.ENETUNREACH, errno.EHOSTUNREACH):
        return UNREACHABLE, text
    if code == errno.ETIMEDOUT:
        return NO_ANSWER, text
    return REFUSED if code == errno.ECONNRESET else NO_ANSWER, text


class LiveMachine(Machine):
    """Commands run by `nsenter --net=/run/netns/NAME` (no /sys remount needed), all at once."""

    def __init__(self):
        self.files: List[str] = []

    def _argv(self, netns: str, argv: Sequence[str]) -> List[str]:
        from netlab.dataplane import netns as netns_mod
        return ["nsenter", f"--net={netns_mod.path(netns)}", *argv]

    def run(self, jobs: Sequence[Job]) -> List[Tuple[int, str, str]]:
        import subprocess
        procs = []
        try:
            for job in jobs:
                procs.append(subprocess.Popen(self._argv(job.netns, job.argv), stdout=subprocess.PIPE,
                                              stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True))
        except FileNotFoundError as err:
            for proc in procs:
                proc.wait()
            raise TraceError(f"{err.filename or 'a tool'} is not installed (`netlab doctor` checks the tools)") \
                from None
        out = []
        for proc in procs:
            stdout, stderr = proc.communicate()
            out.append((proc.returncode, stdout, stderr))
        return out

    def monitors(self, namespaces: Sequence[str]) -> Dict[str, Monitor]:
        import subprocess
        started: Dict[str, _LiveMonitor] = {}
        try:
            for ns in namespaces:      # every process first, then the reader threads (a fork with threads is unsafe)
                proc = subprocess.Popen(self._argv(ns, ["nft", "-a", "monitor"]), stdout=subprocess.PIPE,
                                        stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, text=True,
                                        preexec_fn=_die_with_parent)
                started[ns] = _LiveMonitor(ns, proc)
        except BaseException:
            for mon in started.values():
                mon.stop()
            raise
        for mon in started.values():
            mon.read()
        return dict(started)

    def flow(self, netns: str, protocol: str) -> Flow:
        return _LiveFlow(netns, protocol)

    def script(self, text: str) -> str:
        import os
        import tempfile
        fd, path = tempfile.mkstemp(prefix="netlab-trace-", suffix=".nft")
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
        self.files.append(path)
        return path

    def close(self) -> None:
        import os
        for path in self.files:
            try:
                os.unlink(path)
            except FileNotFoundError:
                pass
        self.files = []


# -- a running lab ------------------------------------------------------------------------------

def _record_path(lab: str):
    from netlab import names
    return names.lab_dir(lab) / "trace-tables.json"


class _Locked:
    """LAB_DIR/trace.lock, held for one trace (traces of one lab share the table name)."""

    def __init__(self, lab: str, timeout: float = 10.0):
        self.lab, self.timeout, self.fd = lab, timeout, None

    def __enter__(self):
        import fcntl
        import os
        from netlab import names
        folder = names.lab_dir(self.lab)
        folder.mkdir(parents=True, exist_ok=True)
        self.fd = os.open(folder / "trace.lock", os.O_RDWR | os.O_CREAT, 0o600)
        deadline = time.monotonic() + self.timeout
        while True:
            try:
                fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return self
            except BlockingIOError:
                if time.monotonic() > deadline:
                    os.close(self.fd)
                    raise TraceError(f"another trace of lab {self.lab!r} is running (it holds "
                                     f"{folder / 'trace.lock'})") from None
                time.sleep(0.02)

    def __exit__(self, *exc):
        import os
        os.close(self.fd)            # and the lock with it


def remove_leftovers(lab: str, machine: Machine) -> List[str]:
    """Delete the trace tables a trace that died left (its record lists them); the namespaces cleaned."""
    from netlab.dataplane import netns as netns_mod
    path = _record_path(lab)
    try:
        recorded = json.loads(path.read_text())
    except (OSError, ValueError):
        return []
    there = [ns for ns in recorded if isinstance(ns, str) and netns_mod.exists(ns)]
    results = machine.run([Job(ns, ["nft", "delete", "table", "ip", TRACE_TABLE]) for ns in there])
    left = [ns for ns, (rc, _, err) in zip(there, results) if not _gone(rc, err)]
    if left:
        raise TraceError(f"a trace table left by an earlier trace cannot be deleted in {left[0]!r}: "
                         f"`nsenter --net=/run/netns/{left[0]} nft delete table ip {TRACE_TABLE}`")
    path.unlink()
    return there


def _variant(lab: str) -> str:
    """The iptables variant LAB's rules are written with (either proxy mode: nft rules are traced
    the same way, and a node in nftables mode may have iptables rules too)."""
    from netlab.lab import _loaded_lab
    st, _ = _loaded_lab(lab)
    return ex._variant(st)


def trace(lab: str, source: str, dest: str, protocol: Optional[str] = None, namespace: str = "default",
          wait: float = 1.0, machine: Optional[Machine] = None) -> TraceResult:
    """Send one connection from SOURCE to DEST in LAB, trace it in every namespace on its path and
    compare the kernel's path with explain's (same FROM/DEST forms as explain)."""
    started = time.monotonic()
    if protocol is not None and protocol.lower() not in ("tcp", "udp"):
        raise TraceError(f"--proto {protocol}: trace sends tcp or udp")
    variant = _variant(lab)
    if variant != "nft":
        raise TraceError(f"lab {lab!r} writes its rules with iptables-legacy (the python-iptables backend): the "
                         "kernel's nftables trace does not see them (trace needs the restore backend)")
    expl = ex.explain(lab, source, dest, protocol=protocol, namespace=namespace)
    if expl.request.family is not ex.IPV4:
        # the trace table is `table ip netlab-trace` and conntrack is read as IPv4: an IPv6 flow is not seen
        raise TraceError(f"trace follows IPv4 packets only; `netlab explain {source} {dest} -6` predicts the "
                         "IPv6 path")
    if expl.request.protocol.lower() not in ("tcp", "udp"):
        raise TraceError(f"{dest} is {expl.request.protocol}: trace sends tcp or udp")
    plan = plan_for(expl, f"iptables-{variant}-save")
    live = machine is None
    machine = machine or LiveMachine()
    cap = Capture()
    try:
        with _Locked(lab):
            remove_leftovers(lab, machine)
            record = _record_path(lab)
            record.write_text(json.dumps(plan.namespaces))
            try:
                capture(machine, plan, wait=wait, cap=cap)
            finally:
                if cap.left:
                    record.write_text(json.dumps(cap.left))       # for the next trace to delete
                elif cap.cleaned:
                    record.unlink()
            if cap.left:
                raise TraceError(f"the trace table in {cap.left[0]!r} could not be deleted (the next trace "
                                 "tries again)")
    finally:
        if live:
            machine.close()
    result = analyse(expl, cap)
    result.seconds = time.monotonic() - started
    return result
