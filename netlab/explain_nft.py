"""`netlab explain` in kube-proxy's nftables mode: a node's `ip kube-proxy` table, walked rule by rule.

In nftables mode (spec.proxyMode: nftables) a node has no KUBE-* iptables chains; kube-proxy's rules
are the nft table `ip kube-proxy` (shared/kube-proxy-nftables.md §1-§3). At each netfilter hook a
packet passes, explain's walker (explain._Walker, which mixes in NftWalk) runs the table's base chains
registered on that hook together with the iptables tables, in priority order:

    prerouting   filter-prerouting-pre-dnat (dstnat - 10: firewall-check), nat-prerouting (dstnat: services)
    input        filter-input (filter: nodeport-endpoints-check, service-endpoints-check)
    forward      filter-forward (filter: service-endpoints-check, cluster-ips-check)
    output       filter-output-pre-dnat (-110), nat-output (-100: services), filter-output (filter)
    postrouting  nat-postrouting (srcnat: masquerading)

NAT chains (iptables' nat table and nft chains of type nat alike) all run inside the one NAT hook,
at -100 (prerouting, output) or 100 (input, postrouting), ordered among themselves by their own
priority; the first that binds the connection ends the others' turn (nf_nat_inet_fn,
net/netfilter/nf_nat_core.c). At equal priority the kernel keeps registration order, which is not
modelled: iptables goes first.

A rule is read piece by piece with the packet tracer's regular expressions (proxy/nft_trace.py:
exactly the pieces kube-proxy writes) and a few more. Unlike the tracer, every way a packet can go
is its own branch with its own hops: `numgen random mod N vmap { ... }` forks into N branches of
probability 1/N each, as explain forks iptables' statistic rules; `... vmap @MAP` looks the element
up in the map; `ip saddr @affinity-...` looks the client up in the live set, so a client pinned
within the timeout goes to its endpoint (and the hop says which set holds it, and for how long);
`update @set { ip saddr }` records the client; `mark set mark or|xor|and`, `mark and M == V`,
`masquerade`, `dnat to`, `drop`, `reject`, `accept`, `return`, `jump`/`goto`, `fib saddr|daddr type
local`, `iifname`/`oifname`, anonymous sets. A piece it does not know makes its rule count as not
matching, with a warning (never a guess).

Hops name the table (`ip kube-proxy`), the chain and the rule as `nft list table` prints it, which
is what `netlab rules NODE` shows; rules are matched in kube-proxy's own spelling (nft_listing.py).

IPv6 (a dual-stack lab's second proxier): the table is `ip6 kube-proxy`, the same chains, sets and
maps with `ip6 daddr`/`ip6 saddr` matches (the tracer's expressions read both), DNAT targets
`[addr]:port`, and `reject` answers ICMPv6 port unreachable. NftFacts knows its table's family, and
hops, rule names and notes name that table.

NftFacts is what is read of one namespace: `from_text()` takes a transaction or a dump (`netlab proxy
render --mode nftables`; tests, no root), `from_listing()` the live `nft -j list table` and `nft list
table` outputs. Pure, but for start_reading()/finish_reading(), which run nft inside a namespace.
"""

from __future__ import annotations

import ipaddress
import json
import re
import subprocess
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple, Union

from netlab.proxy import nft_trace as _t
from netlab.proxy.nft_listing import chain_rules, rule_in_kube_proxy_spelling
from netlab.proxy.nft_ruleset import Chain, Element, NftTable, NftTextError, go_quote

FAMILY, NAME = "ip", "kube-proxy"
NFT_TABLE = f"{FAMILY} {NAME}"                 # Hop.table of the table's hops (IPv4)
NFT_TABLE6 = f"ip6 {NAME}"                     # ... and of the IPv6 proxier's table
NFT_TABLES = (NFT_TABLE, NFT_TABLE6)
MARK_MASQ_CHAIN = "mark-for-masquerade"
_MAX_DEPTH = 64
HOOK_NAMES = {"PREROUTING": "prerouting", "INPUT": "input", "FORWARD": "forward", "OUTPUT": "output",
              "POSTROUTING": "postrouting"}


# -- what is read of one namespace ----------------------------------------------------------------

def _with_comment(rule) -> str:
    return rule.rule + (f" comment {go_quote(rule.comment)}" if rule.comment is not None else "")


@dataclass
class NftFacts:
    """One namespace's `ip kube-proxy` table: its state, and each rule as hops quote it."""

    table: NftTable                                         # rules in kube-proxy's spelling
    shown: Dict[str, List[str]] = field(default_factory=dict)   # chain -> its rules as `nft list table` prints
    expires: Dict[str, Dict[str, Optional[float]]] = field(default_factory=dict)  # set -> element -> s left

    @classmethod
    def from_table(cls, table: NftTable) -> "NftFacts":
        """A table in memory (e.g. a renderer's); hops quote its rules in kube-proxy's spelling."""
        return cls(table, {name: [_with_comment(r) for r in table.rules(name)] for name in table.chains})

    @property
    def name(self) -> str:
        """The table as hops name it: "ip kube-proxy" or "ip6 kube-proxy"."""
        return f"{self.table.family} {self.table.name}"

    @classmethod
    def from_text(cls, text: str, family: str = FAMILY) -> "NftFacts":
        """From a transaction or a dump (`netlab proxy render --mode nftables`) of table FAMILY kube-proxy
        (ip, or ip6 for IPv6); raises NftTextError."""
        return cls.from_table(NftTable.from_text(text, family, NAME))

    @classmethod
    def from_listing(cls, document: dict, listing: str, family: str = FAMILY) -> "NftFacts":
        """From `nft -j list table FAMILY kube-proxy` (DOCUMENT: sets, maps, elements, chains) and `nft list
        table FAMILY kube-proxy` (LISTING: the rules), as dataplane.nftables.read_whole_table() joins them;
        raises NftTextError when the two do not fit (the table changed between the reads)."""
        from netlab.dataplane.nftables import table_from_json
        base = table_from_json(document, family, NAME, comments=True)
        listed = chain_rules(listing)
        lines = [f"add rule {family} {NAME} {chain} {rule_in_kube_proxy_spelling(rule)}"
                 for chain, rules in listed.items() for rule in rules]
        table = base.apply_text("\n".join(lines) + "\n") if lines else base
        if any(len(table.rules(chain)) != len(rules) for chain, rules in listed.items()):
            raise NftTextError("the listing and the JSON listing do not describe the same table")
        expires: Dict[str, Dict[str, Optional[float]]] = {}
        for item in document.get("nftables", []):
            obj = item.get("set")
            if not obj:
                continue
            for elem in obj.get("elem") or []:
                if isinstance(elem, dict) and "elem" in elem and "expires" in elem["elem"]:
                    val = elem["elem"].get("val")
                    if isinstance(val, str):
                        expires.setdefault(obj["name"], {})[val] = float(elem["elem"]["expires"])
        return cls(table, listed, expires)

    def rule_text(self, chain: str, index: int) -> str:
        shown = self.shown.get(chain) or []
        return shown[index] if index < len(shown) else _with_comment(self.table.rules(chain)[index])

    def base_chains(self, hook: str) -> List[Chain]:
        """The base chains registered on HOOK (PREROUTING, ...), in the table's order."""
        want = HOOK_NAMES[hook]
        return [state.chain for state in self.table.chains.values() if state.chain.hook == want]

    def set_info(self, name: str):
        state = self.table.sets.get(name) or self.table.maps.get(name)
        return state.set if state else None


def _nft_argv(netns_path: str, family: str, *args: str) -> List[str]:
    # nsenter without "--": util-linux 2.38 would try to execute "--"
    return ["nsenter", f"--net={netns_path}", "nft", *args, "list", "table", family, NAME]


@dataclass
class Reading:
    """The two nft listings of one namespace's FAMILY kube-proxy table, under way."""

    family: str
    listings: tuple


def start_reading(netns_path: str, family: str = FAMILY) -> Optional[Reading]:
    """Start `nft -j list table` and `nft list table` of table FAMILY kube-proxy (ip, ip6) in the
    namespace at NETNS_PATH (None: no nft)."""
    try:
        return Reading(family, tuple(subprocess.Popen(_nft_argv(netns_path, family, *extra), stdout=subprocess.PIPE,
                                                      stderr=subprocess.PIPE, text=True) for extra in (("-j",), ())))
    except FileNotFoundError:
        return None


def finish_reading(started: Optional[Reading]) -> Optional[NftFacts]:
    """The table start_reading() listed (None when the namespace has no such table); raises
    NftTextError when the two listings disagree."""
    if started is None:
        return None
    outputs = [proc.communicate() for proc in started.listings]
    if any(proc.returncode != 0 for proc in started.listings):
        return None
    return NftFacts.from_listing(json.loads(outputs[0][0] or "{}"), outputs[1][0], started.family)


# -- rule pieces ----------------------------------------------------------------------------------

# In the order they are tried: the concatenations before the plain address matches they start like.
_PIECES: Tuple[Tuple[str, "re.Pattern[str]"], ...] = (
    ("ct_state", re.compile(r"^ct state (!= )?(\S+)")),
    ("ct_status", re.compile(r"^ct status (!= )?(\S+)")),
    ("daddr_set", _t._dest_ip_only_lookup),
    ("dst_src_set", _t._dest_source_lookup),
    ("dst_vmap", _t._dest_dispatch),
    ("dst_set", _t._dest_lookup),
    ("port_vmap", _t._dest_port_dispatch),
    ("port_set", _t._dest_port_lookup),
    ("daddr_anon", _t._dest_addr_lookup),
    ("daddr", _t._dest_addr),
    ("daddr_local", _t._dest_addr_local),
    ("dport", _t._dest_port),
    ("saddr_set", _t._source_set_lookup),
    ("saddr_anon", _t._source_addr_lookup),
    ("saddr", _t._source_addr),
    ("saddr_local", _t._source_addr_local),
    ("iifname", _t._in_interface),
    ("oifname", re.compile(r"^oifname (!= )?(\S+)")),
    ("update", _t._set_update),
    ("mark_test", re.compile(r"^(?:meta )?mark and (\S+) (==|!=) (\S+)")),
    ("mark_op", re.compile(r"^(?:meta )?mark set (?:meta )?mark (or|xor|and) (\S+)")),
    ("mark_value", re.compile(r"^(?:meta )?mark set (0x[0-9a-fA-F]+|\d+)(?=\s|$)")),
    ("dnat_map", re.compile(r"^dnat ip6? addr \. port to numgen random mod (\d+) map \{([^}]*)\}")),
    ("numgen_vmap", re.compile(r"^numgen random mod (\d+) vmap \{([^}]*)\}")),
    ("l4proto", re.compile(r"^meta l4proto (!= )?(tcp|udp|sctp|icmp)(?=\s|$)")),
    ("dnat", re.compile(r"^dnat to (\S+)")),
    ("masquerade", re.compile(r"^masquerade((?: (?:fully-random|random|persistent))*)(?=\s|$)")),
    ("snat", re.compile(r"^snat to (\S+)")),
    ("counter", re.compile(r"^counter(?: packets \d+ bytes \d+)?(?=\s|$)")),
    ("reject", re.compile(r"^reject(?: with (tcp reset|icmpx? type \S+))?(?=\s|$)")),
    ("verdict", re.compile(r"^(accept|drop|return|continue)(?=\s|$)")),
    ("jump", _t._jump),
)
_CONDITIONS = {"ct_state", "ct_status", "daddr_set", "dst_src_set", "dst_set", "port_set", "daddr_anon",
               "daddr", "daddr_local", "dport", "saddr_set", "saddr_anon", "saddr", "saddr_local", "iifname",
               "oifname", "mark_test", "l4proto"}
_PARSED: Dict[str, tuple] = {}


def rule_pieces(text: str) -> tuple:
    """(piece name, match) for each piece of a rule in kube-proxy's spelling; ("unknown", rest) ends
    it when a piece is not one kube-proxy writes."""
    got = _PARSED.get(text)
    if got is None:
        out, rest = [], text.strip()
        while rest:
            for name, pattern in _PIECES:
                m = pattern.match(rest)
                if m:
                    out.append((name, m))
                    rest = rest[m.end():].lstrip()
                    break
            else:
                out.append(("unknown", rest))
                break
        if len(_PARSED) > 50000:        # a cache, not a record: rules come and go with Services
            _PARSED.clear()
        got = _PARSED[text] = tuple(out)
    return got


def _inside(ip: str, spec: str) -> bool:
    try:
        addr = ipaddress.ip_address(ip)
        net = ipaddress.ip_network(spec.strip(), strict=False)
    except ValueError:
        return False
    return addr.version == net.version and addr in net


def _members(text: str) -> List[str]:
    return [m.strip() for m in text.split(",") if m.strip()]


def _address_and_port(text: str) -> Tuple[str, Optional[int]]:
    """(address, port or None) of a `dnat to`/`snat to` target: ADDR, ADDR:PORT, [ADDR6] or [ADDR6]:PORT."""
    if text.startswith("["):
        address, _, rest = text[1:].partition("]")
        port = rest[1:]
    elif text.count(":") == 1:
        address, _, port = text.partition(":")
    else:
        address, port = text, ""            # an IPv6 address without a port (or an IPv4 one)
    return address, int(port) if port.isdigit() else None


def _verdict_effect(words: str):
    """A verdict's effect: "next", "accept", "drop", "return" or ("jump"|"goto", chain)."""
    parts = words.split()
    if len(parts) == 2 and parts[0] in ("jump", "goto"):
        return (parts[0], parts[1])
    return {"continue": "next", "accept": "accept", "drop": "drop", "return": "return"}.get(words, None)


def _verdict_text(effect) -> str:
    if isinstance(effect, tuple):
        return "jump to " + effect[1] if effect[0] == "jump" else "goto " + effect[1]
    return {"accept": "ACCEPT", "drop": "DROP", "return": "RETURN", "next": "continue"}[effect]


def _is_masquerade_mark(pieces: tuple, chain: str) -> bool:
    """A rule kube-proxy writes to have the packet masqueraded later: `jump mark-for-masquerade`
    (v1.34/1.35), or the mark set inline (v1.36)."""
    for name, m in pieces:
        if name == "jump" and m.group(2) == MARK_MASQ_CHAIN:
            return True
        if name == "mark_op" and m.group(1) == "or" and chain != MARK_MASQ_CHAIN:
            return True
    return False


@dataclass(frozen=True)
class NftRef:
    """The nft rule that ended a branch (duck-types explain.Rule's chain, comment and line)."""

    chain: str
    shown: str
    comment: Optional[str] = None
    via: Optional[str] = None           # the map element that led to it
    table: str = NFT_TABLE

    @property
    def line(self) -> str:
        return rule_ref(self.chain, self.shown, self.table)


def rule_ref(chain: str, shown: str, table: str = NFT_TABLE) -> str:
    """How a nft rule is named outside its hop (Candidate.rule, end_rule, nat[].rule): TABLE CHAIN: RULE."""
    return f"{table} {chain}: {shown}"


@dataclass
class NftContext:
    netns: str
    nft: NftFacts
    hook: str
    in_dev: Optional[str]
    out_dev: Optional[str]
    bridged: bool

    @property
    def table(self) -> str:
        """The table's name in hops: "ip kube-proxy" or "ip6 kube-proxy"."""
        return self.nft.name

    def ref(self, chain: str, shown: str) -> str:
        return rule_ref(chain, shown, self.table)


# -- the walk -------------------------------------------------------------------------------------

class NftWalk:
    """The part of explain's walker that runs nft chains (mixed into explain._Walker, whose facts,
    hops, branches and NAT helpers it uses: ns, facts, family, hop, warn, addr_type, use_recent, read,
    nft_tables, dnat(), source_nat())."""

    def nft_of(self, netns: str) -> Optional[NftFacts]:
        """NETNS's kube-proxy table of the walk's family, `ip kube-proxy` or `ip6 kube-proxy` (None
        without one), parsed once."""
        if netns not in self.nft_tables:
            got: Union[None, str, NftTable, NftFacts] = self.ns(netns).nft
            if isinstance(got, str):
                try:
                    got = NftFacts.from_text(got, self.family.nft_family) if got.strip() else None
                except NftTextError as err:
                    self.warn(f"{self.facts.label(netns)}: its nft table could not be read ({err})")
                    got = None
            elif isinstance(got, NftTable):
                got = NftFacts.from_table(got)
            self.nft_tables[netns] = got
            if got is not None and netns not in self.read:
                self.read.append(netns)
        return self.nft_tables[netns]

    def nft_walk(self, b, ctx: NftContext, chain: str, depth: int = 0, caller: Optional[str] = None):
        """Run CHAIN for B: (branch, outcome) for each way it ends (return, accept, drop, reject)."""
        if chain not in ctx.nft.table.chains:
            self.hop(b, "note", ctx.netns, f"chain {chain} does not exist in {ctx.table}", hook=ctx.hook,
                     table=ctx.table, chain=chain)
            return [(b, "return")]
        return self._nft_from(b, ctx, chain, 0, depth, caller)

    def _nft_from(self, b, ctx: NftContext, chain: str, start: int, depth: int, caller: Optional[str]):
        rules = ctx.nft.table.chains[chain].rules
        for i in range(start, len(rules)):
            outs = self._nft_rule(b, ctx, chain, i, rules[i])
            if len(outs) == 1 and outs[0][1] == "next":
                continue
            results = []
            for branch, effect in outs:
                if effect == "next":
                    results += self._nft_from(branch, ctx, chain, i + 1, depth, caller)
                elif isinstance(effect, tuple):
                    how, target, by = effect
                    if depth >= _MAX_DEPTH:
                        self.warn(f"{ctx.ref(chain, ctx.nft.rule_text(chain, i))}: chains nested deeper than "
                                  f"{_MAX_DEPTH}")
                        results += self._nft_from(branch, ctx, chain, i + 1, depth, caller)
                        continue
                    branch.jumped_by.append(by)
                    # a goto'd chain returns to this chain's caller
                    back = chain if how == "jump" else caller
                    for done, end in self.nft_walk(branch, ctx, target, depth + 1, back):
                        done.jumped_by.pop()
                        if end == "return" and how == "jump":
                            results += self._nft_from(done, ctx, chain, i + 1, depth, caller)
                        else:
                            results.append((done, end))
                else:
                    results.append((branch, effect))
            return results
        if depth > 0:
            self.hop(b, "return", ctx.netns, f"end of {chain}: back to {caller}", hook=ctx.hook, table=ctx.table,
                     chain=chain)
        return [(b, "return")]

    # one rule --------------------------------------------------------------------------------------
    def _nft_rule(self, b, ctx: NftContext, chain: str, index: int, rule):
        """Evaluate one rule for B: [(branch, effect)] with the rule's hop on each branch. effect: "next",
        "accept", "drop", "reject", "return" or ("jump"|"goto", chain, the rule that went there)."""
        shown = ctx.nft.rule_text(chain, index)
        ref = ctx.ref(chain, shown)
        pieces = rule_pieces(rule.rule)
        masq_mark = _is_masquerade_mark(pieces, chain)
        pkt = b.pkt
        actions: List[str] = []

        def hop(branch, action: str, matched: bool) -> None:
            self.hop(branch, "rule", ctx.netns, action, hook=ctx.hook, table=ctx.table, chain=chain, rule=shown,
                     matched=matched)

        def no_match(why: str):
            if masq_mark:
                b.marks.append((ctx.netns, ref, False, why))
            hop(b, f"no match: {why}", False)
            return [(b, "next")]

        def ends(effect, terminal: Optional[NftRef] = None, by: Optional[str] = None, say: bool = True):
            if masq_mark:
                b.marks.append((ctx.netns, ref, True, ""))
            if terminal is not None:
                b.terminal = terminal
            if isinstance(effect, tuple):
                actions.append(_verdict_text(effect))
                effect = effect + (by or ref,)
            elif say and effect in ("accept", "drop", "return"):
                actions.append(_verdict_text(effect))
            hop(b, "; ".join(actions) or "match (no verdict: goes on)", True)
            return [(b, effect)]

        for name, m in pieces:
            if name == "unknown":
                self.warn(f"{ref}: `{m}` is not a piece kube-proxy writes; the rule is taken as not matching")
                return no_match(f"`{m}` cannot be evaluated here")
            if name in _CONDITIONS:
                ok, why = self._nft_condition(name, m, b, ctx, ref)
                if not ok:
                    return no_match(why)
                if why:
                    actions.append(why)
                continue
            if name == "counter":
                continue
            if name == "update":
                b.affinity.append({"kind": "set", "backend": "nftables", "list": m.group(1), "rule": ref,
                                   "netns": ctx.netns})
                actions.append(f"records {pkt.src} in @{m.group(1)} (session affinity)")
                continue
            if name in ("mark_op", "mark_value"):
                before = pkt.mark
                if name == "mark_value":
                    pkt.mark = int(m.group(1), 0)
                else:
                    value = int(m.group(2), 0)
                    pkt.mark = {"or": pkt.mark | value, "xor": pkt.mark ^ value, "and": pkt.mark & value}[m.group(1)]
                actions.append(f"MARK {before:#x} -> {pkt.mark:#x}")
                continue
            if name == "dnat":
                ip, port = _address_and_port(m.group(1))
                actions.append(self.dnat(b, ctx.netns, ip, port, ref))
                return ends("accept", say=False)
            if name in ("masquerade", "snat"):
                to = _address_and_port(m.group(1))[0] if name == "snat" else None
                actions.append(self.source_nat(b, ctx.netns, "SNAT" if to else "MASQUERADE", ctx.out_dev, ref, to=to))
                return ends("accept", say=False)
            if name == "reject":
                # nft's default: ICMP port unreachable of the table's family (icmpv6 in an ip6 table)
                how = m.group(1) or ("icmpv6" if ctx.nft.table.family == "ip6" else "icmp") + " type port-unreachable"
                actions.append(f"REJECT with {how}")
                return ends("reject", self._terminal(b, ctx, chain, shown, rule.comment))
            if name == "verdict":
                effect = _verdict_effect(m.group(1))
                if effect == "next":
                    actions.append("continue")
                    return ends("next")
                return ends(effect, self._terminal(b, ctx, chain, shown, rule.comment) if effect == "drop" else None)
            if name == "jump":
                return ends((m.group(1), m.group(2)))
            if name in ("dst_vmap", "port_vmap"):
                key = (pkt.dst, pkt.proto, str(pkt.dport)) if name == "dst_vmap" else (pkt.proto, str(pkt.dport))
                element = ctx.nft.table.find_element(m.group(1), *key)
                if element is None:
                    return no_match(f"@{m.group(1)} has no element {' . '.join(key)}")
                return self._via_element(b, ctx, chain, shown, m.group(1), element, actions, ends)
            if name in ("numgen_vmap", "dnat_map"):
                return self._numgen(b, ctx, chain, shown, ref, name, m, actions, masq_mark)
        return ends("next")

    def _terminal(self, b, ctx: NftContext, chain: str, shown: str, comment: Optional[str]) -> NftRef:
        via = b.via[1] if b.via and b.via[0] == chain else None
        return NftRef(chain, shown, comment, via, ctx.table)

    def _via_element(self, b, ctx, chain, shown, container: str, element: Element, actions, ends):
        verdict = element.value_text
        named = f' "{element.comment}"' if element.comment else ""
        what = f"@{container} element {element.key_text}{named}: {verdict}"
        effect = _verdict_effect(verdict)
        if effect is None:
            self.warn(f"{ctx.ref(chain, shown)}: verdict {verdict!r} of @{container} is not modelled; "
                      "taken as going on")
            effect = "next"
        actions.append(f"{element.key_text} is in @{container}{named}")
        if isinstance(effect, tuple):
            b.via = (effect[1], f"reached by {what}")
            return ends(effect, by=f"{ctx.ref(chain, shown)} -> {element.key_text} : {verdict}")
        if effect == "drop":
            return ends("drop", NftRef(chain, shown, None, what, ctx.table))
        return ends(effect)

    def _numgen(self, b, ctx, chain, shown, ref, name, m, actions, masq_mark):
        """`numgen random mod N vmap|map { i : ... }`: one branch per element (probability 1/N each), and
        one going on for the values no element has."""
        n = int(m.group(1))
        entries: Dict[int, str] = {}
        for part in _members(m.group(2)):
            index, _, value = part.partition(" : ")
            if index.strip().isdigit() and value:
                entries[int(index)] = value.strip()
        if masq_mark:
            b.marks.append((ctx.netns, ref, True, ""))
        chosen = sorted(i for i in entries if 0 <= i < n)
        missing = n - len(chosen)
        shares = [(i, 1 / n) for i in chosen] + ([(None, missing / n)] if missing else [])
        out = []
        for k, (i, share) in enumerate(shares):
            branch = b if k == len(shares) - 1 else b.fork(share)
            if branch is b:
                b.probability *= share
            head = "; ".join(actions + [""]) if actions else ""
            if i is None:
                self.hop(branch, "rule", ctx.netns, f"{head}numgen random mod {n}: {missing} values have no element "
                                                    f"(probability {share:.4f}): goes on", hook=ctx.hook,
                         table=ctx.table, chain=chain, rule=shown, matched=False)
                out.append((branch, "next"))
                continue
            value = entries[i]
            pick = f"numgen random mod {n} is {i} (probability {share:.4f})"
            if name == "dnat_map":
                ip, _, port = value.partition(" . ")
                branch.jumped_by.append(f"{ref} -> {i} : {value}")
                action = self.dnat(branch, ctx.netns, ip.strip(), int(port) if port.strip().isdigit() else None, ref)
                branch.jumped_by.pop()
                self.hop(branch, "rule", ctx.netns, f"{head}{pick}; {action}", hook=ctx.hook, table=ctx.table,
                         chain=chain, rule=shown, matched=True)
                out.append((branch, "accept"))
                continue
            effect = _verdict_effect(value)
            if effect is None:
                self.warn(f"{ref}: verdict {value!r} is not modelled; taken as going on")
                effect = "next"
            self.hop(branch, "rule", ctx.netns, f"{head}{pick}: {_verdict_text(effect)}", hook=ctx.hook,
                     table=ctx.table, chain=chain, rule=shown, matched=True)
            if isinstance(effect, tuple):
                effect = effect + (f"{ref} -> {i} : {value}",)
            elif effect == "drop":
                branch.terminal = NftRef(chain, shown, None, None, ctx.table)
            out.append((branch, effect))
        return out

    # one condition ---------------------------------------------------------------------------------
    def _nft_condition(self, name: str, m, b, ctx: NftContext, ref: str) -> Tuple[bool, str]:
        """(holds, why not); for a session-affinity lookup that holds, why = what pinned the client."""
        pkt = b.pkt
        negated = name in ("ct_state", "ct_status", "daddr_anon", "daddr", "saddr_anon", "saddr", "iifname",
                           "oifname", "l4proto") and m.group(1) == "!= "

        def result(fact: bool, yes: str, no: str) -> Tuple[bool, str]:
            holds = fact != negated
            return holds, "" if holds else (yes if fact else no)

        if name == "ct_state":
            states = {"untracked"} if pkt.untracked else {"new"}
            want = set(m.group(2).split(","))
            shown = ",".join(sorted(states))
            return result(bool(states & want), f"conntrack state {shown} is {m.group(2)}",
                          f"conntrack state {shown} is not {m.group(2)}")
        if name == "ct_status":
            status = ({"dnat"} if pkt.dnat else set()) | ({"snat"} if pkt.snat else set())
            fact = bool(status & set(m.group(2).split(",")))
            return result(fact, f"conntrack status has {m.group(2)}", f"conntrack status has no {m.group(2)}")
        if name in ("daddr_set", "saddr_set"):
            ip = pkt.dst if name == "daddr_set" else pkt.src
            return self._in_set(m.group(1), ip, "destination" if name == "daddr_set" else "source", b, ctx, ref)
        if name == "dst_src_set":
            key = (pkt.dst, pkt.proto, str(pkt.dport))
            fact = any(e.key[:3] == key and _inside(pkt.src, e.key[3]) for e in ctx.nft.table.elements(m.group(1)))
            return fact, "" if fact else f"@{m.group(1)} has no element for {' . '.join(key)} . {pkt.src}"
        if name in ("dst_set", "port_set"):
            key = (pkt.dst, pkt.proto, str(pkt.dport)) if name == "dst_set" else (pkt.proto, str(pkt.dport))
            fact = ctx.nft.table.find_element(m.group(1), *key) is not None
            return fact, "" if fact else f"@{m.group(1)} has no element {' . '.join(key)}"
        if name in ("daddr_anon", "saddr_anon", "daddr", "saddr"):
            ip, side = (pkt.dst, "destination") if name.startswith("d") else (pkt.src, "source")
            spec = m.group(2)
            members = _members(spec) if name.endswith("anon") else [spec]
            fact = any(_inside(ip, member) for member in members)
            what = f"{{ {spec.strip()} }}" if name.endswith("anon") else spec
            inside = "in " if "/" in what or "{" in what else ""
            return result(fact, f"{side} {ip} is in {what}", f"{side} {ip} is not {inside}{what}")
        if name in ("daddr_local", "saddr_local"):
            ip, side = (pkt.dst, "destination") if name == "daddr_local" else (pkt.src, "source")
            kind = self.addr_type(ctx.netns, ip)
            return kind == "LOCAL", "" if kind == "LOCAL" else f"{side} {ip} is not a local address here ({kind})"
        if name == "dport":
            fact = (pkt.proto, str(pkt.dport)) == (m.group(1), m.group(2))
            return fact, "" if fact else f"{pkt.proto} destination port {pkt.dport} is not {m.group(1)} {m.group(2)}"
        if name in ("iifname", "oifname"):
            dev = ctx.in_dev if name == "iifname" else ctx.out_dev
            want = m.group(2).strip('"')
            fact = dev is not None and (dev.startswith(want[:-1]) if want.endswith("*") else dev == want)
            side = "in" if name == "iifname" else "out"
            return result(fact, f"{side}-interface {dev} is {want}",
                          f"{side}-interface {dev or '(none)'} is not {want}")
        if name == "mark_test":
            mask, op, value = int(m.group(1), 0), m.group(2), int(m.group(3), 0)
            same = (pkt.mark & mask) == value
            fact = same if op == "==" else not same
            return fact, "" if fact else (f"mark {pkt.mark:#x} and {mask:#x} is {pkt.mark & mask:#x}, "
                                          f"not {op} {value:#x}")
        if name == "l4proto":
            fact = pkt.proto == m.group(2)
            return result(fact, f"protocol {pkt.proto} is {m.group(2)}", f"protocol {pkt.proto} is not {m.group(2)}")
        raise AssertionError(name)      # every name of _CONDITIONS is handled above

    def _in_set(self, name: str, ip: str, side: str, b, ctx: NftContext, ref: str) -> Tuple[bool, str]:
        """IP in set NAME; the sets kube-proxy fills from the datapath (session affinity) say so in a note."""
        info = ctx.nft.set_info(name)
        if info is None:
            return False, f"there is no set @{name}"
        dynamic = "timeout" in info.flags or "dynamic" in info.flags or name.startswith("affinity-")
        if not dynamic:
            fact = any(_inside(ip, e.key[0]) for e in ctx.nft.table.elements(name))
            return fact, "" if fact else f"{side} {ip} is not in @{name}"
        note = {"kind": "rcheck", "backend": "nftables", "list": name, "rule": ref, "netns": ctx.netns,
                "seconds": info.timeout, "matched": False}
        b.affinity.append(note)
        if not self.use_recent:
            note["reason"] = f"a new client is in no affinity set (@{name})"
            return False, note["reason"]
        if ctx.nft.table.find_element(name, ip) is None:
            note["reason"] = f"@{name} does not hold {ip}"
            return False, note["reason"]
        left = ctx.nft.expires.get(name, {}).get(ip)
        note["matched"] = True
        note["expires"] = left
        note["reason"] = (f"@{name} holds {ip}" + (f" (expires in {left:.0f} s)" if left is not None else "")
                          + ": pinned")
        b.pinned = True
        return True, "session affinity: " + note["reason"]


__all__ = ["NFT_TABLE", "NFT_TABLE6", "NFT_TABLES", "NftFacts", "NftRef", "NftWalk", "Reading", "finish_reading",
           "rule_pieces", "rule_ref", "start_reading"]
