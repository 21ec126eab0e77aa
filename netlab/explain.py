"""`netlab explain FROM DEST[:PORT]`: a packet's path, predicted from the live rules, hop by hop.

The first packet of a new connection (conntrack state NEW) is walked through every network
namespace it crosses, in the kernel's order, over the rules `iptables-save` reads back from each
of them (never the rendered text) and their routes (`ip -j route show table all`):

```
 pod netns ─ OUTPUT ─ route ─ POSTROUTING ─ eth0 ═veth═ cni0 (node)         a pod has no kube-proxy rules
 node/client netns ─ route ─ OUTPUT (raw mangle nat filter) ─ reroute after DNAT ─ POSTROUTING (mangle nat)
 arriving: PREROUTING (raw mangle nat: DNAT) ─ route ─┬─ local: INPUT (mangle filter nat) ─ delivered
                                                      └─ FORWARD (mangle filter) ─ POSTROUTING (mangle nat:
                                                         MASQUERADE) ─ out: cni0 port │ eth0 ═ underlay br0
```

Facts the walk relies on (kernel behaviour, with where it is written down):

* Crossing a veth into another namespace scrubs the skb mark and its conntrack reference
  (`skb_scrub_packet`, net/core/skbuff.c): each namespace starts with mark 0 and its own conntrack.
* A frame from a pod enters the node through a `cni0` port; with `bridge-nf-call-iptables=1`
  br_netfilter runs the node's PREROUTING on it. If the DNATed destination is on `cni0` again, the
  frame is bridged to that port (br_netfilter_hooks.c `br_nf_pre_routing_finish`, "bridged_dnat"),
  still through the node's FORWARD and POSTROUTING; back out of the port it came in needs hairpin
  mode. Frames between two pods of one bridge (no DNAT) are bridged the same way.
* Locally generated packets are routed before OUTPUT and rerouted when OUTPUT's nat DNATs them
  (`ip_route_me_harder`); their source address stays the one chosen by the first route.
* MASQUERADE takes the address of the outgoing interface (`nf_nat_masquerade_ipv4`).

DNAT candidates: `-m statistic --mode random --probability P` rules fork the walk (taken with P,
falling through with 1 - P), so kube-proxy's 1/n, 1/(n-1), ... become each endpoint's share.
**Every candidate's path is walked to its end** (they differ after the fork: the endpoint's node,
the route, hairpin masquerade); `hops` is the first candidate's whole path, each endpoint carries
its own (`sharedHops` leading hops are the same as the first's), and the text prints the first
path in full and, for each other candidate, only the steps from where it differs.

Session affinity (`-m recent --rcheck`): the live layer reads the xt_recent lists of the node
(`/proc/net/xt_recent/NAME`), so a client seen within the timeout is reported as pinned to that
endpoint, naming the rule; the endpoints list then is what a new client would get. Without the
lists (pure tests) an `--rcheck` rule is reported as "pins a returning client" and not taken.

kube-proxy's nftables mode: a node with the nft table `ip kube-proxy` has its base chains run at their
hooks beside the iptables tables, in priority order (filter-prerouting-pre-dnat at dstnat - 10 before
the NAT hook at -100, filter-* at 0, nat-postrouting in the NAT hook at 100; every NAT chain of either
kind inside that hook, the first binding one winning), with numgen forks, map lookups, the live
affinity sets and the masquerade mark: explain_nft.py. Its hops carry table `ip kube-proxy`, the chain
and the rule as `nft list table` prints it; a rule named elsewhere reads "ip kube-proxy CHAIN: RULE".

IPv6 (a dual-stack lab; `explain ... -6`, or an IPv6 address as FROM or DEST): the same walk over each
namespace's IPv6 half, its family decided by the destination address (Family, IPV4 and IPV6 below):
`ip6tables-save` for the rules (or the nft table `ip6 kube-proxy`), `ip -6 route` for the routes,
net.ipv6.conf.all.forwarding and bridge-nf-call-ip6tables for the flags, `::1` for loopback, neighbour
discovery for ARP, and IPv6's masquerade (`nf_nat_masquerade_ipv6`: the outgoing interface's address,
link-local ones aside, RFC 6724 §5 rule 5). The hooks and their tables' priorities are IPv4's
(include/uapi/linux/netfilter_ipv6.h); kube-proxy's IPv6 proxier writes the same chains with IPv6
addresses, and DNAT targets and addresses with a port are written `[addr]:port`.

Conditions the walk cannot know (a source port, ipset, owner, ...) are taken as not matching and
listed under `warnings`. The return path is described from the NAT each namespace applied: conntrack
reverses it on the reply (un-SNAT before routing, un-DNAT after), in whichever namespaces the reply
crosses.

The pure core is `explain_packet(facts, request)`; `explain(lab, ...)` resolves FROM/DEST in a
running lab, reads the namespaces on the path (iptables-save and routes once each; on a node the nft
table too) and calls it; `to_json` and `format_text` present it.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Mapping, Optional, Tuple

from netlab.explain_nft import NFT_TABLES, NftContext, NftFacts, NftWalk
from netlab.proxy.ruleset import RestoreTextError, parse_sections

DELIVERED, REJECTED, DROPPED = "delivered", "rejected", "dropped"

# Netfilter hooks and the tables registered on each, in priority order (raw -300, mangle -150,
# nat DNAT -100, filter 0, security 50, nat SNAT 100: include/uapi/linux/netfilter_ipv4.h).
HOOK_TABLES = {
    "PREROUTING": ("raw", "mangle", "nat"),
    "INPUT": ("mangle", "filter", "security", "nat"),
    "FORWARD": ("mangle", "filter", "security"),
    "OUTPUT": ("raw", "mangle", "nat", "filter", "security"),
    "POSTROUTING": ("mangle", "nat"),
}
TABLE_PRIORITY = {"raw": -300, "mangle": -150, "filter": 0, "security": 50}
# Every NAT chain (iptables' nat table, an nft chain of type nat) runs inside the one NAT hook at this
# priority, ordered among themselves by their own (nf_nat_register_fn, net/netfilter/nf_nat_core.c).
NAT_PRIORITY = {"PREROUTING": -100, "OUTPUT": -100, "INPUT": 100, "POSTROUTING": 100}

_MAX_NAMESPACES = 16        # a path longer than this is a routing loop
_MAX_DEPTH = 64             # nested chain jumps (the kernel allows more; kube-proxy uses 5)
PROTOCOL_NUMBERS = {"tcp": "6", "udp": "17", "sctp": "132", "icmp": "1"}


@dataclass(frozen=True)
class Family:
    """What the walk does differently for one IP family: its tools, sysctls and special addresses."""

    name: str                   # Kubernetes' spelling: IPv4, IPv6
    version: int
    ip_option: str              # `ip -4` / `ip -6`
    iptables: str               # the family's iptables command: iptables, ip6tables
    default_route: str          # the default route's destination
    unspecified: str
    loopback: str
    forwarding: str             # the sysctl that turns forwarding on
    bridge_nf: str              # br_netfilter's sysctl for this family's hooks
    neighbour: str              # how a next hop's link-layer address is found
    icmp: str                   # the ICMP of the family, in messages
    reject_with: str            # iptables' REJECT default (its --reject-with when none is given)
    nft_family: str             # the nft table family kube-proxy's table is of

    @property
    def sysctl_paths(self) -> Tuple[str, str]:
        """/proc/sys paths of (forwarding, bridge_nf)."""
        return tuple("/proc/sys/" + name.replace(".", "/") for name in (self.forwarding, self.bridge_nf))

    @property
    def bridge_nf_flag(self) -> str:
        return self.bridge_nf.rsplit(".", 1)[1]


IPV4 = Family("IPv4", 4, "-4", "iptables", "0.0.0.0/0", "0.0.0.0", "127.0.0.1", "net.ipv4.ip_forward",
              "net.bridge.bridge-nf-call-iptables", "ARP", "ICMP", "icmp-port-unreachable", "ip")
IPV6 = Family("IPv6", 6, "-6", "ip6tables", "::/0", "::", "::1", "net.ipv6.conf.all.forwarding",
              "net.bridge.bridge-nf-call-ip6tables", "neighbour discovery", "ICMPv6", "icmp6-port-unreachable",
              "ip6")


def family_of(address: str) -> Family:
    """The family of ADDRESS (IPv4 for what is not an IPv6 address)."""
    addr = _address(address) if address else None
    return IPV6 if addr is not None and addr.version == 6 else IPV4


def host_port(ip: str, port) -> str:
    """IP:PORT as iptables and nft write it: "10.96.0.10:53", "[fd00:10:96::a]:53"."""
    return f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"


# -- facts: what the pure core is given ---------------------------------------------------------

@dataclass(frozen=True)
class Route:
    """One route as `ip -j route show table all` prints it (of either family)."""

    dst: str                          # "10.244.1.0/24", "0.0.0.0/0", "10.244.1.1" (/32), "fd00:10:244:1::/64"
    type: str = "unicast"             # unicast, local, broadcast, blackhole, unreachable, prohibit
    gateway: Optional[str] = None
    dev: Optional[str] = None
    prefsrc: Optional[str] = None
    metric: int = 0
    nexthops: Tuple[Tuple[str, str], ...] = ()    # (gateway, dev) of a multipath route
    table: str = "main"

    @property
    def network(self):
        return _network("0.0.0.0/0" if self.dst == "default" else self.dst)

    def text(self) -> str:
        """The route as `ip route` prints it."""
        dst = "default" if self.network.prefixlen == 0 else self.dst
        parts = [dst] if self.type == "unicast" else [self.type, dst]
        if self.nexthops:
            parts += [f"nexthop via {gw} dev {dev}" for gw, dev in self.nexthops]
        else:
            if self.gateway:
                parts += ["via", self.gateway]
            if self.dev:
                parts += ["dev", self.dev]
        if self.prefsrc and self.type == "unicast":
            parts += ["src", self.prefsrc]
        return " ".join(parts)


def routes_from_ip_json(entries: list, family: Family = IPV4) -> Tuple[Route, ...]:
    """Routes from `ip -4 -j route show table all` (FAMILY IPv6: `ip -6`); the other family's entries and
    multicast and anycast ones are skipped."""
    routes = []
    for entry in entries:
        dst = entry.get("dst", "")
        kind = entry.get("type", "unicast")
        if (dst != "default" and (":" in dst) != (family.version == 6)) or kind in ("multicast", "anycast"):
            continue
        table = entry.get("table", "main")
        if table not in ("main", "local"):
            continue                    # policy routing is not modelled (only the main table)
        hops = tuple((h.get("gateway"), h.get("dev")) for h in entry.get("nexthops") or ())
        routes.append(Route(dst=family.default_route if dst == "default" else dst, type=kind,
                            gateway=entry.get("gateway"), dev=entry.get("dev"), prefsrc=entry.get("prefsrc"),
                            metric=int(entry.get("metric", 0)), nexthops=hops, table=table))
    return tuple(routes)


@dataclass
class Netns:
    """One network namespace as the walk needs it: its half of the request's family (IPv6:
    ip6tables-save's rules, IPv6 routes, IPv6 forwarding, the `ip6 kube-proxy` table)."""

    name: str
    rules: str = ""                       # iptables-save text ("" when it has no tables)
    routes: Tuple[Route, ...] = ()
    forwarding: bool = False              # net.ipv4.ip_forward (IPv6: net.ipv6.conf.all.forwarding)
    bridge_nf: bool = False               # net.bridge.bridge-nf-call-iptables (-ip6tables) for its bridges
    listening: Optional[frozenset] = None  # {(protocol, port)} bound sockets; None: not known (yet)
    recent: Optional[Mapping] = None      # xt_recent list -> {source ip: age in s (None: unknown)}
    # kube-proxy's nft table `ip kube-proxy` (`ip6 kube-proxy`; nftables mode): NftFacts, an NftTable, or a
    # transaction's text
    nft: Optional[object] = None
    read_listening: Optional[Callable[[], frozenset]] = field(default=None, repr=False, compare=False)

    def sockets(self) -> Optional[frozenset]:
        """The bound sockets, read on first use when a reader was given."""
        if self.listening is None and self.read_listening is not None:
            self.listening = self.read_listening()
        return self.listening

    def addresses(self) -> Dict[str, str]:
        """Local address -> interface, from the local routing table."""
        return {r.dst: r.dev for r in self.routes if r.type == "local" and "/" not in r.dst}


@dataclass(frozen=True)
class Bridge:
    """A Linux bridge: its namespace, its name and the namespaces plugged into it."""

    owner: str                              # network namespace holding the bridge
    dev: str                                # cni0, br0
    ports: Tuple[Tuple[str, str, str], ...]  # (member netns, member's interface, bridge port name)


@dataclass(frozen=True)
class TunnelPeer:
    """A remote node as a node's VXLAN device reaches it (flannel's neighbour and FDB entries)."""

    netns: str                              # the remote node's namespace
    vtep_mac: str                           # neighbour entry: its VTEP address -> this MAC
    node_ip: str                            # FDB entry: this MAC -> the outer destination


@dataclass(frozen=True)
class Tunnel:
    """flannel.1 on a node (podNetwork vxlan): its device and the peers behind it, by VTEP address."""

    dev: str
    vni: int
    port: int
    local: str                              # the outer source: the node's IP
    peers: Tuple[Tuple[str, TunnelPeer], ...]   # (remote VTEP address 10.244.K.0, peer)

    def peer(self, vtep_ip: str) -> Optional[TunnelPeer]:
        return next((p for ip, p in self.peers if ip == vtep_ip), None)


@dataclass(frozen=True)
class PodRef:
    namespace: str
    name: str
    node: str
    netns: str
    ip: str


@dataclass
class Facts:
    """The lab's layout (pure data) and its namespaces (a mapping that may read them on demand)."""

    namespaces: Mapping[str, Netns]
    labels: Dict[str, str]                       # netns -> "pod/default/curl", "node/node1", ...
    owners: Dict[str, Tuple[str, str]]           # address (either family) -> (netns, interface)
    bridges: Tuple[Bridge, ...] = ()
    pods: Dict[str, PodRef] = field(default_factory=dict)     # pod IP (either family) -> pod
    route_choices: Dict[Tuple[str, str], str] = field(default_factory=dict)  # (netns, dst) -> ECMP gateway
    # (node netns, device) -> its VXLAN device (podNetwork vxlan): flannel.1, and flannel-v6.1 with IPv6
    tunnels: Dict[Tuple[str, str], Tunnel] = field(default_factory=dict)

    def label(self, netns: str) -> str:
        return self.labels.get(netns, netns)


@dataclass(frozen=True)
class Request:
    """The packet: the first one of a new connection from NETNS (source SRC, None: the route's)."""

    netns: str
    src: Optional[str]
    protocol: str
    dst: str
    port: int
    source_label: str = ""
    dest_label: str = ""
    service: Optional[dict] = None          # {"namespace", "name", "port", "via", "type", ...}
    source_info: Optional[dict] = None

    @property
    def family(self) -> Family:
        """The packet's IP family: the destination's."""
        return family_of(self.dst)


# -- results ------------------------------------------------------------------------------------

@dataclass
class Hop:
    """One step: a rule matched or fallen through, a chain's end, a routing or link decision."""

    kind: str                   # rule, policy, return, route, link, note, deliver, drop, reject
    namespace: str
    action: str
    where: str = ""             # node/node1, pod/default/curl, ...
    hook: Optional[str] = None
    table: Optional[str] = None
    chain: Optional[str] = None
    rule: Optional[str] = None  # the rule's own "-A CHAIN ..." line
    matched: Optional[bool] = None

    def key(self) -> tuple:
        return (self.kind, self.namespace, self.hook, self.table, self.chain, self.rule, self.action)


@dataclass
class Nat:
    namespace: str
    kind: str                   # DNAT, SNAT, MASQUERADE, REDIRECT
    before: str                 # "ip:port" or "[ip6]:port" (DNAT: destination; SNAT: source ip)
    after: str
    rule: str


@dataclass
class Candidate:
    """One way the packet can go (one DNAT choice) and where it ends."""

    address: Optional[str]      # the endpoint ip:port ([ip6]:port) chosen by DNAT, else where it was delivered
    probability: float
    verdict: str
    reason: str
    end_namespace: str
    hops: List[Hop]
    nats: List[Nat]
    masquerade: bool
    masquerade_reason: str
    rule: Optional[str] = None          # the rule that chose this endpoint (KUBE-SVC -> KUBE-SEP)
    end_rule: Optional[str] = None      # the REJECT/DROP rule that ended it
    pod: Optional[PodRef] = None
    node: Optional[str] = None
    seen_source: Optional[str] = None   # the source address the endpoint sees
    listening: Optional[bool] = None
    pinned: bool = False
    shared: int = 0                     # leading hops equal to the first candidate's
    reply: List[Hop] = field(default_factory=list)


@dataclass
class Explanation:
    request: Request
    candidates: List[Candidate]
    affinity: Optional[dict] = None
    warnings: List[str] = field(default_factory=list)
    namespaces: List[str] = field(default_factory=list)      # the namespaces whose rules were read
    lab: str = ""
    src: str = ""                                           # the source address the packet leaves with

    @property
    def verdict(self) -> str:
        """delivered when any candidate is (else the first candidate's verdict)."""
        verdicts = [c.verdict for c in self.candidates]
        return DELIVERED if DELIVERED in verdicts else (verdicts[0] if verdicts else DROPPED)

    @property
    def endpoints(self) -> List[Candidate]:
        """The candidates a DNAT chose (or, without one, where the packet was delivered)."""
        return [c for c in self.candidates if c.address]

    @property
    def masquerade(self) -> bool:
        """True when any candidate is masqueraded (masqueradeReason says which, if not all)."""
        return any(c.masquerade for c in self.candidates)


# -- rules: parsing -----------------------------------------------------------------------------

_TOKEN = re.compile(r'"((?:[^"\\]|\\.)*)"|(\S+)')
_ENTRY = {"-s": "-s", "--source": "-s", "--src": "-s", "-d": "-d", "--destination": "-d", "--dst": "-d",
          "-p": "-p", "--protocol": "-p", "-i": "-i", "--in-interface": "-i", "-o": "-o",
          "--out-interface": "-o"}
_NUMBER = re.compile(r"^-?\d")


@dataclass
class Cond:
    module: str                 # "" for -s/-d/-p/-i/-o, else the -m module it belongs to
    index: int                  # which -m occurrence (options of one module instance share it)
    option: str
    values: Tuple[str, ...]
    negated: bool


@dataclass
class Rule:
    chain: str
    args: str
    conds: List[Cond]
    target: Optional[str]
    goto: bool
    target_opts: Dict[str, Tuple[str, ...]]
    comment: Optional[str]

    @property
    def line(self) -> str:
        return f"-A {self.chain} {self.args}".rstrip()


def _tokens(args: str) -> List[Tuple[str, bool]]:
    out = []
    for m in _TOKEN.finditer(args):
        if m.group(1) is not None:
            out.append((re.sub(r"\\(.)", r"\1", m.group(1)), True))
        else:
            out.append((m.group(2), False))
    return out


def parse_rule(chain: str, args: str) -> Rule:
    """One rule's conditions, target and target options (iptables-save or kube-proxy's input syntax)."""
    toks = _tokens(args)
    conds: List[Cond] = []
    target, goto, comment = None, False, None
    target_opts: Dict[str, Tuple[str, ...]] = {}
    module, index, in_target, negated, proto = "", 0, False, False, ""
    i, n = 0, len(toks)
    while i < n:
        word, quoted = toks[i]
        if not quoted and word == "!":
            negated = True
            i += 1
            continue
        if not quoted and word in ("-m", "--match") and i + 1 < n:
            module, index, in_target = toks[i + 1][0], index + 1, False
            i += 2
            continue
        if not quoted and word in ("-j", "--jump", "-g", "--goto") and i + 1 < n:
            target, goto, in_target = toks[i + 1][0], word in ("-g", "--goto"), True
            i += 2
            continue
        if not quoted and word in _ENTRY and i + 1 < n:
            option = _ENTRY[word]
            conds.append(Cond("", 0, option, (toks[i + 1][0],), negated))
            if option == "-p":
                proto = toks[i + 1][0].lower()
            negated = False
            i += 2
            continue
        if not quoted and word.startswith("-") and len(word) > 1 and not _NUMBER.match(word):
            j, values = i + 1, []
            while j < n and (toks[j][1] or not ((toks[j][0].startswith("-") and not _NUMBER.match(toks[j][0]))
                                                 or toks[j][0] == "!")):
                values.append(toks[j][0])
                j += 1
            if in_target:
                target_opts[word] = tuple(values)
            else:
                owner = module
                if not owner and word in ("--dport", "--sport", "--destination-port", "--source-port"):
                    owner = proto          # `-p tcp --dport 80` loads the tcp match implicitly
                conds.append(Cond(owner, index, word, tuple(values), negated))
                if word == "--comment" and values:
                    comment = values[0]
            negated = False
            i = j
            continue
        i += 1                          # a stray word: nothing iptables-save prints
    return Rule(chain, args, conds, target, goto, target_opts, comment)


@dataclass
class _Table:
    name: str
    policies: Dict[str, str]
    raw: Dict[str, List[str]]
    parsed: Dict[str, List[Rule]] = field(default_factory=dict)

    def rules(self, chain: str) -> Optional[List[Rule]]:
        got = self.parsed.get(chain)
        if got is None:
            raw = self.raw.get(chain)
            if raw is None:
                return None
            got = self.parsed[chain] = [parse_rule(chain, args) for args in raw]
        return got

    def has_chain(self, chain: str) -> bool:
        return chain in self.raw or chain in self.policies


def parse_tables(text: str) -> Dict[str, _Table]:
    """iptables-save text -> table name -> its chains (rules parsed when first walked)."""
    tables: Dict[str, _Table] = {}
    for section in parse_sections(text or ""):
        table = tables.setdefault(section.name, _Table(section.name, {}, {}))
        table.policies.update(section.policies)
        for chain in list(section.policies) + section.chains:
            table.raw.setdefault(chain, [])
        for _, chain, args in section.rules:
            table.raw.setdefault(chain, []).append(args)
    return tables


# -- the packet and one branch of its walk ------------------------------------------------------

@dataclass
class _Packet:
    src: str
    dst: str
    dport: int
    proto: str
    mark: int = 0
    dnat: bool = False          # DNATed in the current namespace (conntrack's virtual DNAT state)
    snat: bool = False
    untracked: bool = False


@dataclass
class _Branch:
    pkt: _Packet
    probability: float = 1.0
    hops: List[Hop] = field(default_factory=list)
    nats: List[Nat] = field(default_factory=list)
    marks: List[Tuple[str, str, bool, str]] = field(default_factory=list)  # (netns, rule, matched, why)
    post_decider: Optional[Tuple[str, str, str]] = None   # (netns, rule, action) that decided in nat POSTROUTING
    affinity: List[dict] = field(default_factory=list)
    visited: List[str] = field(default_factory=list)
    tracked: List[str] = field(default_factory=list)      # namespaces whose conntrack holds the flow
    choice_rule: Optional[str] = None
    jumped_by: List[Optional[str]] = field(default_factory=list)   # the rule that jumped into each open chain
    pinned: bool = False
    terminal: Optional[object] = None        # the DROP/REJECT rule last taken (a Rule, or an nft NftRef)
    via: Optional[Tuple[str, str]] = None    # (nft chain, the map element that led to it)
    end: Optional[Tuple[str, str, str, Optional[str]]] = None      # (verdict, netns, reason, rule)

    def fork(self, share: float) -> "_Branch":
        return _Branch(pkt=_Packet(**vars(self.pkt)), probability=self.probability * share, hops=list(self.hops),
                       nats=list(self.nats), marks=list(self.marks), post_decider=self.post_decider,
                       affinity=list(self.affinity), visited=list(self.visited), tracked=list(self.tracked),
                       choice_rule=self.choice_rule, jumped_by=list(self.jumped_by), pinned=self.pinned,
                       terminal=self.terminal, via=self.via, end=self.end)

    def finish(self, verdict: str, netns: str, reason: str, rule: Optional[str] = None) -> "_Branch":
        self.end = (verdict, netns, reason, rule)
        return self


def _each(branches: List[_Branch], step: Callable[[_Branch], List[_Branch]]) -> List[_Branch]:
    out: List[_Branch] = []
    for b in branches:
        out.extend([b] if b.end else step(b))
    return out


# -- small address helpers ----------------------------------------------------------------------

_NETS: Dict[str, object] = {}
_ADDRS: Dict[str, object] = {}


def _network(text: str):
    got = _NETS.get(text)
    if got is None:
        got = _NETS[text] = ipaddress.ip_network(text, strict=False)
    return got


def _address(text: str):
    got = _ADDRS.get(text)
    if got is None:
        try:
            got = ipaddress.ip_address(text)
        except ValueError:
            got = None
        _ADDRS[text] = got
    return got


def _in(ip: str, cidr: str) -> bool:
    addr = _address(ip)
    try:
        net = _network(cidr)
    except ValueError:
        return False
    return addr is not None and addr.version == net.version and addr in net


def _port_in(port: int, spec: str) -> bool:
    if ":" in spec:
        low, _, high = spec.partition(":")
        return (int(low) if low else 0) <= port <= (int(high) if high else 65535)
    return spec.isdigit() and int(spec) == port


def _split_hostport(text: str) -> Tuple[str, Optional[int]]:
    """(address, first port or None) of a NAT target: IP[-IP][:PORT[-PORT]], [IP6][-[IP6]][:PORT[-PORT]] or IP6."""
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        port = rest.rpartition("]:")[2] if "]:" in rest else rest[1:] if rest.startswith(":") else ""
        port = port.split("-")[0]
        return host, int(port) if port.isdigit() else None
    if text.count(":") > 1:                 # an IPv6 address (range) without a port
        return text.split("-")[0], None
    host, sep, port = text.rpartition(":")
    if not sep:
        return text, None
    port = port.split("-")[0]
    return host.split("-")[0], int(port) if port.isdigit() else None


def _mark_value(spec: str) -> Tuple[int, int]:
    value, _, mask = spec.partition("/")
    return int(value, 0), int(mask, 0) if mask else 0xFFFFFFFF


def lookup_route(routes, dst: str) -> Optional[Route]:
    """The route the kernel picks for DST: the local table first, then the main table's longest prefix."""
    addr = _address(dst)
    if addr is None:
        return None
    for r in routes:
        if r.type in ("local", "broadcast") and r.table == "local" and addr in r.network:
            return r
    best = None
    for r in routes:
        if r.table != "main" or r.type in ("local", "broadcast") or addr not in r.network:
            continue
        if best is None or (r.network.prefixlen, -r.metric) > (best.network.prefixlen, -best.metric):
            best = r
    if best is None and addr.is_loopback:
        return Route(dst="::1" if addr.version == 6 else "127.0.0.0/8", type="local", dev="lo", table="local")
    return best


def _usable_source(ip: str) -> bool:
    """An address the kernel may pick as a packet's source for another host: not loopback, and for IPv6
    not link-local either (RFC 6724 §5 rule 2: the destination's scope, global here)."""
    addr = _address(ip)
    return addr is not None and not addr.is_loopback and not (addr.version == 6 and addr.is_link_local)


# -- the walk -----------------------------------------------------------------------------------

class _Walker(NftWalk):
    def __init__(self, facts: Facts, request: Request, use_recent: bool = True):
        self.facts = facts
        self.request = request
        self.family = request.family
        self.use_recent = use_recent
        self.tables: Dict[str, Dict[str, _Table]] = {}
        self.nft_tables: Dict[str, Optional[NftFacts]] = {}
        self.warnings: List[str] = []
        self.read: List[str] = []
        self.origin_src = request.src or ""

    # facts ------------------------------------------------------------------------------------
    def ns(self, name: str) -> Netns:
        return self.facts.namespaces[name]

    def tables_of(self, name: str) -> Dict[str, _Table]:
        got = self.tables.get(name)
        if got is None:
            text = self.ns(name).rules
            try:
                got = parse_tables(text)
            except RestoreTextError as err:
                self.warn(f"{self.facts.label(name)}: its {self.family.iptables}-save output could not be read ({err})")
                got = {}
            self.tables[name] = got
            self.read.append(name)
        return got

    def warn(self, text: str) -> None:
        if text not in self.warnings:
            self.warnings.append(text)

    def hop(self, b: _Branch, kind: str, netns: str, action: str, **kw) -> None:
        b.hops.append(Hop(kind=kind, namespace=netns, action=action, where=self.facts.label(netns), **kw))

    def addr_type(self, netns: str, ip: str) -> str:
        addr = _address(ip)
        if addr is None:
            return "UNSPEC"
        for r in self.ns(netns).routes:
            if r.type in ("local", "broadcast") and addr in r.network:
                return "LOCAL" if r.type == "local" else "BROADCAST"
        if addr.is_loopback:
            return "LOCAL"
        if addr.is_multicast:
            return "MULTICAST"
        if addr.version == 4 and int(addr) == 0xFFFFFFFF:
            return "BROADCAST"
        return "UNICAST"

    # routing ----------------------------------------------------------------------------------
    def lookup(self, netns: str, dst: str) -> Optional[Route]:
        return lookup_route(self.ns(netns).routes, dst)

    def next_hop(self, netns: str, route: Route, dst: str) -> Tuple[Optional[str], Optional[str], str]:
        """(gateway or None when on-link, interface, note) for ROUTE, resolving a multipath route."""
        if route.nexthops:
            gateways = [gw for gw, _ in route.nexthops]
            chosen = self.facts.route_choices.get((netns, dst))
            pick = next((h for h in route.nexthops if h[0] == chosen), route.nexthops[0])
            how = "the kernel's flow hash picks" if chosen else "taking the first:"
            note = f"; ECMP over {', '.join(gateways)}: {how} {pick[0]}"
            return pick[0], pick[1], note
        return route.gateway, route.dev, ""

    def source_address(self, netns: str, route: Optional[Route], dev: Optional[str]) -> Optional[str]:
        if route is not None and route.prefsrc:
            return route.prefsrc
        addresses = self.ns(netns).addresses()
        for ip, on in addresses.items():
            if on == dev and _usable_source(ip):
                return ip
        return next((ip for ip in addresses if _usable_source(ip)), None)

    def route_hop(self, b: _Branch, netns: str, route: Optional[Route], dst: str, after_dnat: bool = False) -> None:
        what = "after DNAT, " if after_dnat else ""
        if route is None:
            self.hop(b, "route", netns, f"{what}no route to {dst}")
            return
        if route.type in ("local", "broadcast"):
            self.hop(b, "route", netns, f"{what}{dst} is this namespace's own address ({route.type} {route.dst} "
                                        f"dev {route.dev}): up the stack, through INPUT")
            return
        gateway, dev, note = self.next_hop(netns, route, dst)
        via = f"via {gateway} " if gateway else ""
        owner = self.facts.owners.get(gateway or dst)
        whose = f" ({self.facts.label(owner[0])})" if owner and owner[0] != netns else ""
        self.hop(b, "route", netns, f"{what}{dst} {via}dev {dev}{whose} by the route {route.text()}{note}")

    # rules: matching --------------------------------------------------------------------------
    def match(self, rule: Rule, b: _Branch, netns: str, hook: str, in_dev: Optional[str],
              out_dev: Optional[str], bridged: bool) -> Tuple[bool, str, Optional[float], List[dict]]:
        """(matches, why not, probability of a random statistic match, affinity notes)."""
        pkt = b.pkt
        probability = None
        notes: List[dict] = []
        groups: Dict[Tuple[str, int], List[Cond]] = {}
        for cond in rule.conds:
            if cond.module in ("recent", "statistic"):
                groups.setdefault((cond.module, cond.index), []).append(cond)
                continue
            ok, why = self.condition(cond, pkt, netns, hook, in_dev, out_dev, bridged)
            if not ok:
                return False, why, None, notes
        for (module, _), conds in groups.items():
            if module == "statistic":
                opts = {c.option: c for c in conds}
                mode = opts.get("--mode")
                if mode and mode.values and mode.values[0] != "random":
                    self.warn(f"{rule.line}: -m statistic --mode {mode.values[0]} cannot be predicted; "
                              "taken as not matching")
                    return False, f"statistic mode {mode.values[0]} cannot be predicted", None, notes
                p = opts.get("--probability")
                if p is not None and p.values:
                    value = float(p.values[0])
                    probability = 1 - value if p.negated else value
            else:
                ok, why, note = self.recent(conds, rule, pkt, netns)
                if note:
                    notes.append(note)
                if not ok:
                    return False, why, None, notes
        return True, "", probability, notes

    def condition(self, cond: Cond, pkt: _Packet, netns: str, hook: str, in_dev: Optional[str],
                  out_dev: Optional[str], bridged: bool) -> Tuple[bool, str]:
        opt, vals, neg = cond.option, cond.values, cond.negated
        value = vals[0] if vals else ""

        def result(fact: bool, why: str) -> Tuple[bool, str]:
            return (fact != neg), why

        if cond.module == "":
            if opt == "-s":
                inside = _in(pkt.src, value)
                return result(inside, f"source {pkt.src} is {'' if inside else 'not '}in {value}")
            if opt == "-d":
                inside = _in(pkt.dst, value)
                return result(inside, f"destination {pkt.dst} is {'' if inside else 'not '}in {value}")
            if opt == "-p":
                want = value.lower()
                same = want in ("all", "0") or want == pkt.proto or PROTOCOL_NUMBERS.get(pkt.proto) == want
                return result(same, f"protocol {pkt.proto} is {'' if same else 'not '}{want}")
            if opt in ("-i", "-o"):
                dev = in_dev if opt == "-i" else out_dev
                same = dev is not None and (dev.startswith(value[:-1]) if value.endswith("+") else dev == value)
                side = "in" if opt == "-i" else "out"
                return result(same, f"{side}-interface {dev or '(none)'} is {'' if same else 'not '}{value}")
        module = cond.module
        if module in ("tcp", "udp", "sctp", "udplite"):
            if opt in ("--dport", "--destination-port"):
                inside = _port_in(pkt.dport, value)
                return result(inside, f"destination port {pkt.dport} is {'' if inside else 'not '}{value}")
            if opt in ("--sport", "--source-port"):
                return self.unknown(cond, "the source port is the client's ephemeral choice")
            if opt == "--syn":
                return result(pkt.proto == "tcp", "the first packet is a SYN")
            if opt == "--tcp-flags" and len(vals) == 2:
                mask, comp = set(vals[0].split(",")), set(vals[1].split(","))
                flags = {"SYN"}
                if "ALL" in mask:
                    mask = {"FIN", "SYN", "RST", "PSH", "ACK", "URG"}
                fact = (flags & mask) == (comp - {"NONE"})
                return result(fact, f"a SYN's flags {'match' if fact else 'do not match'} {vals[0]} {vals[1]}")
            return self.unknown(cond)
        if module == "multiport":
            if opt in ("--dports", "--destination-ports", "--ports"):
                inside = any(_port_in(pkt.dport, p) for p in value.split(","))
                if not inside and opt == "--ports":
                    return self.unknown(cond, "the source port is the client's ephemeral choice")
                return result(inside, f"destination port {pkt.dport} is {'' if inside else 'not '}in {value}")
            return self.unknown(cond, "the source port is the client's ephemeral choice")
        if module in ("comment", "nfacct", "limit"):
            return True, ""                      # comments and counters always match; one packet is within a limit
        if module == "addrtype":
            if opt in ("--src-type", "--dst-type"):
                ip = pkt.src if opt == "--src-type" else pkt.dst
                kind = self.addr_type(netns, ip)
                fact = kind in value.split(",")
                side = "source" if opt == "--src-type" else "destination"
                return result(fact, f"{side} {ip} is {kind}{'' if fact else ', not ' + value}")
            return True, ""                      # --limit-iface-in/out: the node's addresses are on its interfaces
        if module == "mark" and opt == "--mark":
            want, mask = _mark_value(value)
            fact = (pkt.mark & mask) == want
            return result(fact, f"mark {pkt.mark:#x} {'matches' if fact else 'does not match'} {value}")
        if module in ("conntrack", "state") and opt in ("--ctstate", "--state"):
            states = {"UNTRACKED"} if pkt.untracked else {"NEW"} | ({"DNAT"} if pkt.dnat else set()) | (
                {"SNAT"} if pkt.snat else set())
            fact = bool(states & set(value.split(",")))
            shown = ",".join(sorted(states))
            return result(fact, f"conntrack state {shown} is {'' if fact else 'not '}{'in ' if fact else ''}{value}")
        if module == "physdev":
            if opt == "--physdev-is-bridged":
                return result(bridged, f"the packet is {'' if bridged else 'not '}bridged")
            return self.unknown(cond)
        return self.unknown(cond)

    def unknown(self, cond: Cond, why: str = "") -> Tuple[bool, str]:
        what = f"-m {cond.module} {cond.option}" if cond.module else cond.option
        self.warn(f"{what} {' '.join(cond.values)}".rstrip() + f": cannot be evaluated here"
                  f"{' (' + why + ')' if why else ''}; rules with it are taken as not matching")
        return False, f"{what} cannot be evaluated here{': ' + why if why else ''}"

    def recent(self, conds: List[Cond], rule: Rule, pkt: _Packet, netns: str) -> Tuple[bool, str, Optional[dict]]:
        """-m recent: --set records the client; --rcheck/--update match a client seen within --seconds."""
        opts = {c.option: c for c in conds}
        name = (opts["--name"].values or ("DEFAULT",))[0] if "--name" in opts else "DEFAULT"
        source = pkt.dst if "--rdest" in opts else pkt.src
        if "--set" in opts:
            return True, "", {"kind": "set", "list": name, "rule": rule.line, "netns": netns}
        if "--rcheck" in opts or "--update" in opts or "--remove" in opts:
            seconds = opts.get("--seconds")
            limit = float(seconds.values[0]) if seconds and seconds.values else None
            note = {"kind": "rcheck", "list": name, "rule": rule.line, "netns": netns,
                    "seconds": int(limit) if limit is not None else None, "matched": False}
            recent = self.ns(netns).recent if self.use_recent else None
            if recent is None:
                within = int(limit) if limit else "?"
                note["reason"] = (f"pins a client seen within {within} s (xt_recent list {name}); "
                                  "a new client falls through")
                return False, note["reason"], note
            entries = recent.get(name) or {}
            if source not in entries:
                note["reason"] = f"xt_recent list {name} has no entry for {source}"
                return False, note["reason"], note
            age = entries[source]
            if limit is not None and age is not None and age > limit:
                note["reason"] = f"{source} was last seen {age:.0f} s ago, longer than {limit:.0f} s"
                return False, note["reason"], note
            note["matched"] = True
            note["age"] = age
            note["reason"] = (f"xt_recent list {name} saw {source} "
                              f"{f'{age:.0f} s ago' if age is not None else 'before'}"
                              f"{f' (within {limit:.0f} s)' if limit is not None else ''}: pinned")
            return True, "", note
        return True, "", None

    # rules: walking ---------------------------------------------------------------------------
    def walk(self, b: _Branch, netns: str, table: _Table, hook: str, chain: str, in_dev, out_dev,
             bridged: bool, depth: int = 0, caller: Optional[str] = None) -> List[Tuple[_Branch, str]]:
        """Run CHAIN for B; (branch, outcome) for each way it ends: return, accept, drop, reject."""
        rules = table.rules(chain)
        results: List[Tuple[_Branch, str]] = []
        if rules is None:
            self.hop(b, "note", netns, f"chain {chain} does not exist in {table.name}", hook=hook, table=table.name,
                     chain=chain)
            return [(b, "return")]
        pending: List[Tuple[_Branch, int]] = [(b, 0)]
        while pending:
            branch, start = pending.pop(0)
            outcome = self._walk_from(branch, netns, table, hook, chain, rules, start, in_dev, out_dev, bridged,
                                      depth, caller, pending, results)
            if outcome is not None:
                results.append(outcome)
        return results

    def _walk_from(self, b, netns, table, hook, chain, rules, start, in_dev, out_dev, bridged, depth, caller,
                   pending, results):
        t = table.name
        for i in range(start, len(rules)):
            rule = rules[i]
            ok, why, probability, notes = self.match(rule, b, netns, hook, in_dev, out_dev, bridged)
            for note in notes:
                b.affinity.append(note)
            is_masq_mark = rule.target == "KUBE-MARK-MASQ"
            if not ok:
                if is_masq_mark:
                    b.marks.append((netns, rule.line, False, why))
                self.hop(b, "rule", netns, f"no match: {why}", hook=hook, table=t, chain=chain, rule=rule.line,
                         matched=False)
                continue
            prefix = ""
            if probability is not None and probability < 1.0:
                rest = b.fork(1 - probability)
                self.hop(rest, "rule", netns, f"statistic: not taken (probability {1 - probability:.4f})", hook=hook,
                         table=t, chain=chain, rule=rule.line, matched=False)
                pending.append((rest, i + 1))
                b.probability *= probability
                prefix = f"statistic: taken (probability {probability:.4f}); "
            if any(n.get("kind") == "rcheck" and n.get("matched") for n in notes):
                b.pinned = True
                prefix = "session affinity: " + next(n["reason"] for n in notes if n.get("matched")) + "; "
            if is_masq_mark:
                b.marks.append((netns, rule.line, True, ""))
            recorded = [n for n in notes if n.get("kind") == "set"]
            suffix = "".join(f"; records {b.pkt.src} in xt_recent list {n['list']} (session affinity)"
                             for n in recorded)
            outcome = self.target(b, netns, table, hook, chain, rule, prefix, in_dev, out_dev, bridged, depth,
                                  suffix)
            if outcome == "continue":
                continue
            if isinstance(outcome, tuple):          # a jump: run the chain, then go on here
                sub = outcome[1]
                b.jumped_by.append(rule.line)
                ends = self.walk(b, netns, table, hook, sub, in_dev, out_dev, bridged, depth + 1, chain)
                for branch, how in ends:
                    branch.jumped_by.pop()
                    if how == "return" and not rule.goto:
                        pending.insert(0, (branch, i + 1))
                    else:
                        results.append((branch, how))
                return None
            return (b, outcome)
        if depth > 0:
            self.hop(b, "return", netns, f"end of {chain}: back to {caller}", hook=hook, table=t, chain=chain)
        return (b, "return")

    def target(self, b: _Branch, netns: str, table: _Table, hook: str, chain: str, rule: Rule, prefix: str,
               in_dev, out_dev, bridged: bool, depth: int, suffix: str = ""):
        """Apply RULE's target: 'continue', ('jump', CHAIN) or an outcome (accept, drop, reject, return)."""
        t, target, pkt = table.name, rule.target, b.pkt

        def say(action: str, kind: str = "rule") -> None:
            self.hop(b, kind, netns, prefix + action + suffix, hook=hook, table=t, chain=chain, rule=rule.line,
                     matched=True)

        if target is None:
            say("match (no target: counted, goes on)")
            return "continue"
        if target in ("ACCEPT", "DROP", "RETURN"):
            say(target)
            b.terminal = rule if target == "DROP" else b.terminal
            return target.lower()
        if target == "REJECT":
            with_ = (rule.target_opts.get("--reject-with") or (self.family.reject_with,))[0]
            say(f"REJECT with {with_}")
            b.terminal = rule
            return "reject"
        if target == "DNAT":
            to = (rule.target_opts.get("--to-destination") or ("",))[0]
            ip, port = _split_hostport(to)
            say(self.dnat(b, netns, ip, port, rule.line))
            return "accept"
        if target in ("SNAT", "MASQUERADE"):
            to = _split_hostport((rule.target_opts.get("--to-source") or ("",))[0])[0] if target == "SNAT" else None
            say(self.source_nat(b, netns, target, out_dev, rule.line, to=to))
            return "accept"
        if target == "REDIRECT":
            port = (rule.target_opts.get("--to-ports") or (str(pkt.dport),))[0].split("-")[0]
            before = host_port(pkt.dst, pkt.dport)
            pkt.dst = self.family.loopback if hook == "OUTPUT" else (self.source_address(netns, None, in_dev)
                                                                     or pkt.dst)
            pkt.dport, pkt.dnat = int(port), True
            after = host_port(pkt.dst, pkt.dport)
            b.nats.append(Nat(netns, "DNAT", before, after, rule.line))
            say(f"REDIRECT {before} -> {after}")
            return "accept"
        if target == "MARK":
            before = pkt.mark
            opts = rule.target_opts
            if "--set-xmark" in opts:
                value, mask = _mark_value(opts["--set-xmark"][0])
                pkt.mark = (pkt.mark & ~mask & 0xFFFFFFFF) ^ value
            elif "--set-mark" in opts:
                value, mask = _mark_value(opts["--set-mark"][0])
                pkt.mark = (pkt.mark & ~mask & 0xFFFFFFFF) | value
            elif "--or-mark" in opts:
                pkt.mark |= int(opts["--or-mark"][0], 0)
            elif "--xor-mark" in opts:
                pkt.mark ^= int(opts["--xor-mark"][0], 0)
            elif "--and-mark" in opts:
                pkt.mark &= int(opts["--and-mark"][0], 0)
            say(f"MARK {before:#x} -> {pkt.mark:#x}")
            return "continue"
        if target in ("NOTRACK",) or (target == "CT" and "--notrack" in rule.target_opts):
            pkt.untracked = True
            say("no conntrack for this packet (NOTRACK): no NAT either")
            return "continue" if target == "NOTRACK" else "accept"
        if target in ("LOG", "NFLOG", "TRACE", "CONNMARK", "CT", "CLASSIFY", "TCPMSS", "CHECKSUM", "DSCP", "TOS",
                      "TTL", "AUDIT", "NFQUEUE_BYPASS"):
            say(f"{target} (does not end the chain)")
            return "continue"
        if table.has_chain(target):
            say(f"{'goto' if rule.goto else 'jump to'} {target}")
            if depth >= _MAX_DEPTH:
                self.warn(f"{rule.line}: chains nested deeper than {_MAX_DEPTH}")
                return "continue"
            return ("jump", target)
        self.warn(f"{rule.line}: target {target} is not modelled; taken as going on")
        say(f"{target}: not modelled, taken as going on")
        return "continue"

    def dnat(self, b: _Branch, netns: str, ip: str, port: Optional[int], rule: str) -> str:
        """DNAT B's packet to IP[:PORT] by RULE (a rule line or an nft rule's name); the hop's action."""
        pkt = b.pkt
        before = host_port(pkt.dst, pkt.dport)
        pkt.dst, pkt.dport = ip, port or pkt.dport
        pkt.dnat = True
        after = host_port(pkt.dst, pkt.dport)
        b.nats.append(Nat(netns, "DNAT", before, after, rule))
        b.choice_rule = b.jumped_by[-1] if b.jumped_by else rule
        return f"DNAT {before} -> {after}"

    def source_nat(self, b: _Branch, netns: str, kind: str, out_dev: Optional[str], rule: str,
                   to: Optional[str] = None) -> str:
        """SNAT (to TO) or MASQUERADE B's packet by RULE; the hop's action."""
        pkt = b.pkt
        if kind == "SNAT":
            new, how = to, ""
        elif out_dev == "lo" and pkt.src in self.ns(netns).addresses():
            # out of lo, inet_select_addr finds no usable address on lo and takes the first one of the
            # namespace's interfaces (devinet.c); a local source is kept, only its port changes
            new, how = pkt.src, " (out of lo the kernel keeps a local address; only the source port changes)"
        else:
            new = self.source_address(netns, None, out_dev)
            how = f" (the address of {out_dev}, the outgoing interface)"
        before = pkt.src
        pkt.src, pkt.snat = new or pkt.src, True
        b.nats.append(Nat(netns, kind, before, pkt.src, rule))
        b.post_decider = (netns, rule, kind)
        return f"{kind}: source {before} -> {pkt.src}{how}"

    def hook_chains(self, netns: str, hook: str) -> List[Tuple[str, object, bool]]:
        """(kind "iptables" or "nft", iptables table or nft base chain, is NAT) of what runs at HOOK in
        NETNS, in the kernel's order (priority; NAT chains at the NAT hook's, by their own among them)."""
        entries = []
        tables = self.tables_of(netns)
        for order, name in enumerate(HOOK_TABLES[hook]):
            table = tables.get(name)
            if table is None or not table.has_chain(hook):
                continue
            key = (NAT_PRIORITY[hook], NAT_PRIORITY[hook], 0, order) if name == "nat" else \
                (TABLE_PRIORITY[name], 0, 0, order)
            entries.append((key, "iptables", table, name == "nat"))
        nft = self.nft_of(netns)
        for order, chain in enumerate(nft.base_chains(hook) if nft is not None else ()):
            prio = chain.priority or 0
            nat = chain.type == "nat"
            key = (NAT_PRIORITY[hook], prio, 1, order) if nat else (prio, 0, 1, order)
            entries.append((key, "nft", chain, nat))
        entries.sort(key=lambda entry: entry[0])
        return [entry[1:] for entry in entries]

    def hook(self, b: _Branch, netns: str, hook: str, in_dev: Optional[str], out_dev: Optional[str],
             bridged: bool = False, skip_nat: bool = False) -> List[_Branch]:
        """Every table (and nft base chain) of HOOK in NETNS, in priority order; the branches that come out
        (some ended)."""
        branches = [b]
        bound_from = len(b.nats)        # NAT bound in this hook: later NAT chains are not consulted

        def nat_settled(branch: _Branch) -> bool:
            return branch.pkt.untracked or skip_nat or any(n.namespace == netns for n in branch.nats[bound_from:])

        for kind, obj, is_nat in self.hook_chains(netns, hook):
            if kind == "nft":
                def run_nft(branch: _Branch, chain=obj, is_nat=is_nat) -> List[_Branch]:
                    if is_nat and nat_settled(branch):
                        return [branch]
                    return self.nft_base_chain(branch, netns, hook, chain, in_dev, out_dev, bridged)

                branches = _each(branches, run_nft)
                continue
            table, name = obj, obj.name

            def run(branch: _Branch, table=table, name=name, is_nat=is_nat) -> List[_Branch]:
                if is_nat and nat_settled(branch):
                    return [branch]
                out = []
                for done, how in self.walk(branch, netns, table, hook, hook, in_dev, out_dev, bridged):
                    by_policy = how == "return"
                    if by_policy:
                        policy = table.policies.get(hook, "ACCEPT")
                        self.hop(done, "policy", netns, f"end of {name} {hook}: policy {policy}", hook=hook,
                                 table=name, chain=hook)
                        how = policy.lower()
                    if how in ("drop", "reject"):
                        rule = None if by_policy else done.terminal
                        verdict = DROPPED if how == "drop" else REJECTED
                        if rule is None:
                            why = f"dropped by the policy of {name} {hook} in {self.facts.label(netns)}"
                        else:
                            why = (f"{verdict} by {name} {rule.chain} in {self.facts.label(netns)}"
                                   + (f' ("{rule.comment}")' if rule.comment else ""))
                        done.finish(verdict, netns, why, rule.line if rule else None)
                    out.append(done)
                return out

            branches = _each(branches, run)
        return branches

    def nft_base_chain(self, b: _Branch, netns: str, hook: str, chain, in_dev, out_dev, bridged: bool):
        """Run nft base chain CHAIN of NETNS's `ip kube-proxy` (`ip6 kube-proxy`) table at HOOK (its policy:
        accept)."""
        ctx = NftContext(netns, self.nft_of(netns), hook, in_dev, out_dev, bridged)
        out = []
        for done, how in self.nft_walk(b, ctx, chain.name):
            if how == "return":
                self.hop(done, "policy", netns, f"end of {chain.name}: policy accept", hook=hook, table=ctx.table,
                         chain=chain.name)
                how = "accept"
            if how in ("drop", "reject"):
                ref = done.terminal
                verdict = DROPPED if how == "drop" else REJECTED
                why = (f"{verdict} by {ctx.table} {ref.chain} in {self.facts.label(netns)}"
                       + (f' ("{ref.comment}")' if ref.comment else "") + (f"; {ref.via}" if ref.via else ""))
                done.finish(verdict, netns, why, ref.line)
            out.append(done)
        return out

    # namespaces -------------------------------------------------------------------------------
    def enter(self, b: _Branch, netns: str) -> bool:
        """B enters NETNS: a fresh mark and conntrack; False (B ended) on a routing loop."""
        if len(b.visited) >= _MAX_NAMESPACES:
            b.finish(DROPPED, netns, f"routing loop: more than {_MAX_NAMESPACES} namespaces on the path")
            return False
        b.visited.append(netns)
        b.pkt.mark, b.pkt.dnat, b.pkt.snat, b.pkt.untracked = 0, False, False, False
        b.via = None
        if not b.tracked or b.tracked[-1] != netns:
            b.tracked.append(netns)
        if not self.tables_of(netns):
            nft = self.nft_of(netns)
            if nft is None:
                self.hop(b, "note", netns, f"no {self.family.iptables} rules in this namespace")
            else:
                self.hop(b, "note", netns, f"no {self.family.iptables} rules here; kube-proxy's are the nft table "
                                           f"{nft.name} (nftables mode)")
        return True

    def originate(self, b: _Branch) -> List[_Branch]:
        netns = self.request.netns
        if not self.enter(b, netns):
            return [b]
        route = self.lookup(netns, b.pkt.dst)
        routed = route is not None and route.type != "local"
        gateway, dev, _ = self.next_hop(netns, route, b.pkt.dst) if routed else (None, "lo", "")
        if not b.pkt.src:
            b.pkt.src = self.source_address(netns, route, dev) or self.family.unspecified
        self.origin_src = b.pkt.src
        self.route_hop(b, netns, route, b.pkt.dst)
        if route is None or route.type in ("blackhole", "unreachable", "prohibit"):
            return [b.finish(DROPPED, netns, f"no route to {b.pkt.dst} in {self.facts.label(netns)}: connect() fails "
                                             "with 'Network is unreachable'" + self.no_route_hint(netns))]
        first_dst = b.pkt.dst

        def after_output(b1: _Branch) -> List[_Branch]:
            r = route
            if b1.pkt.dst != first_dst:
                r = self.lookup(netns, b1.pkt.dst)
                self.route_hop(b1, netns, r, b1.pkt.dst, after_dnat=True)
                if r is None:
                    return [b1.finish(DROPPED, netns, f"no route to {b1.pkt.dst} after DNAT")]
            if r.type == "local":
                return self.loopback(b1, netns)
            _, out, _ = self.next_hop(netns, r, b1.pkt.dst)
            return _each(self.hook(b1, netns, "POSTROUTING", None, out), lambda b2: self.transmit(b2, netns, r))

        return _each(self.hook(b, netns, "OUTPUT", None, dev), after_output)

    def no_route_hint(self, netns: str) -> str:
        label = self.facts.label(netns)
        if label.startswith("client/"):
            return " (ClusterIPs are reachable only from nodes and pods; from a client use node/NAME:NODEPORT " \
                   "or a LoadBalancer or external IP)"
        return ""

    def loopback(self, b: _Branch, netns: str) -> List[_Branch]:
        """A packet for this namespace's own address: out by `lo` and back in (POSTROUTING, then PREROUTING
        without nat — the connection's NAT was settled in OUTPUT — then INPUT)."""
        self.hop(b, "link", netns, "out lo and back in: the destination is this namespace's own address")
        out = self.hook(b, netns, "POSTROUTING", None, "lo")
        back = _each(out, lambda b1: self.hook(b1, netns, "PREROUTING", "lo", None, skip_nat=True))  # DNAT settled
        return _each(back, lambda b2: self.local_in(b2, netns, "lo", skip_nat=True))

    def local_in(self, b: _Branch, netns: str, in_dev: str, skip_nat: bool = False) -> List[_Branch]:
        """INPUT, then delivery. SKIP_NAT: the connection's source NAT is settled already (POSTROUTING
        binds it, a null binding when no rule matched), so nat INPUT is not consulted."""
        return _each(self.hook(b, netns, "INPUT", in_dev, None, skip_nat=skip_nat),
                     lambda b1: [self.deliver(b1, netns)])

    def deliver(self, b: _Branch, netns: str) -> _Branch:
        pkt = b.pkt
        pod = self.facts.pods.get(pkt.dst)
        label = self.facts.label(netns)
        who = f"pod {pod.namespace}/{pod.name}" if pod and pod.netns == netns else label
        listening = self.ns(netns).sockets() if pkt.proto in ("tcp", "udp") else None
        note = ""
        if listening is not None:
            if (pkt.proto, pkt.dport) in listening:
                note = f"; a socket listens on {pkt.proto}/{pkt.dport} there"
            else:
                note = (f"; but nothing listens on {pkt.proto}/{pkt.dport} there: "
                        + ("its kernel answers with a TCP reset (connection refused)" if pkt.proto == "tcp"
                           else f"its kernel answers {self.family.icmp} port unreachable"))
        at = host_port(pkt.dst, pkt.dport)
        self.hop(b, "deliver", netns, f"delivered to {who} at {at}{note}")
        return b.finish(DELIVERED, netns, f"delivered to {who} at {at}{note}")

    def bridge_of(self, netns: str, dev: str) -> Tuple[Optional[Bridge], Optional[str]]:
        """(bridge, port) for interface DEV of NETNS: its own bridge (port None) or the bridge it plugs into."""
        for bridge in self.facts.bridges:
            if bridge.owner == netns and bridge.dev == dev:
                return bridge, None
            for member, member_dev, port in bridge.ports:
                if member == netns and member_dev == dev:
                    return bridge, port
        return None, None

    def neighbour(self, bridge: Bridge, ip: str) -> Optional[Tuple[str, str, Optional[str]]]:
        """(netns, interface, bridge port or None for the bridge itself) answering ARP (neighbour discovery)
        for IP on BRIDGE."""
        owner = self.facts.owners.get(ip)
        if owner is None:
            return None
        if owner == (bridge.owner, bridge.dev):
            return bridge.owner, bridge.dev, None
        for member, member_dev, port in bridge.ports:
            if (member, member_dev) == owner:
                return member, member_dev, port
        return None

    def transmit(self, b: _Branch, netns: str, route: Route) -> List[_Branch]:
        """B leaves NETNS by ROUTE: across its link to the namespace that answers for the next hop."""
        gateway, dev, _ = self.next_hop(netns, route, b.pkt.dst)
        nexthop = gateway or b.pkt.dst
        tunnel = self.facts.tunnels.get((netns, dev))
        if tunnel is not None:
            return self.encapsulate(b, netns, tunnel, nexthop)
        bridge, port = self.bridge_of(netns, dev)
        if bridge is None:
            return [b.finish(DROPPED, netns, f"{dev} of {self.facts.label(netns)} leads nowhere netlab knows")]
        found = self.neighbour(bridge, nexthop)
        if found is None:
            how = self.family.neighbour
            self.hop(b, "drop", netns, f"no neighbour answers {how} for {nexthop} on {bridge.dev}")
            return [b.finish(DROPPED, netns, f"nothing on {bridge.dev} has {nexthop}: {how} fails (host unreachable)")]
        there, there_dev, there_port = found
        if port is None:                               # out of this namespace's own bridge, to a port
            self.hop(b, "link", netns, f"out {dev} port {there_port} -> {self.facts.label(there)} {there_dev}")
            return self.arrive(b, there, there_dev)
        if there_port is None:                         # into the bridge's own namespace (its address)
            self.hop(b, "link", netns, f"out {dev} -> {bridge.dev} port {port} of {self.facts.label(bridge.owner)}")
            return self.arrive(b, bridge.owner, bridge.dev, in_port=port)
        # to another namespace on the same bridge: switched by the bridge's namespace
        self.hop(b, "link", netns, f"out {dev} -> {bridge.dev} port {port} of {self.facts.label(bridge.owner)}, "
                                   f"switched to port {there_port} ({self.facts.label(there)})")
        return self.switch(b, bridge, port, there, there_dev, there_port)

    def encapsulate(self, b: _Branch, netns: str, tunnel: Tunnel, nexthop: str) -> List[_Branch]:
        """B out of a node's VXLAN device: neighbour entry -> VTEP MAC, FDB entry -> the remote node's
        IP, the frame inside UDP over the underlay, unwrapped by the remote node, in on its device."""
        peer = tunnel.peer(nexthop)
        if peer is None:
            return [b.finish(DROPPED, netns, f"{tunnel.dev} has no neighbour entry for {nexthop}: "
                                             "flannel has not set up that node (ARP on a nolearning VXLAN fails)")]
        outer = self.lookup(netns, peer.node_ip)
        if outer is None:
            return [b.finish(DROPPED, netns, f"no route to {peer.node_ip}, the VXLAN packet's outer destination")]
        _, outer_dev, _ = self.next_hop(netns, outer, peer.node_ip)
        there = self.facts.label(peer.netns)
        self.hop(b, "link", netns, f"out {tunnel.dev}: neighbour {nexthop} is VTEP {peer.vtep_mac} (permanent), "
                                   f"whose FDB entry sends it to {peer.node_ip}: the frame goes inside "
                                   f"UDP {tunnel.local} -> {peer.node_ip}:{tunnel.port} (VXLAN, VNI {tunnel.vni})")
        self.hop(b, "note", netns, f"the outer UDP packet leaves by {outer_dev} over the underlay to {there}; "
                                   f"its own OUTPUT and POSTROUTING see UDP port {tunnel.port}, which no "
                                   "kube-proxy rule matches, and it is never NATed")
        self.hop(b, "link", peer.netns, f"in {outer_dev} of {there}: its VXLAN socket on UDP {tunnel.port} unwraps "
                                        f"the frame, and the inner packet comes in on {tunnel.dev}")
        return self.arrive(b, peer.netns, tunnel.dev)

    def switch(self, b: _Branch, bridge: Bridge, in_port: str, there: str, there_dev: str, there_port: str):
        """A frame bridged from IN_PORT to THERE_PORT: br_netfilter runs the bridge namespace's hooks."""
        owner = self.ns(bridge.owner)
        if not owner.bridge_nf or not (self.tables_of(bridge.owner) or self.nft_of(bridge.owner)):
            why = f"no {self.family.iptables} rules there" if owner.bridge_nf else \
                f"{self.family.bridge_nf_flag} is 0 there"
            self.hop(b, "link", bridge.owner, f"{bridge.dev} switches the frame to port {there_port} ({why})")
            return self.arrive(b, there, there_dev)
        return self.arrive(b, bridge.owner, bridge.dev, in_port=in_port, bridged_to=(there, there_dev, there_port))

    def arrive(self, b: _Branch, netns: str, in_dev: str, in_port: Optional[str] = None,
               bridged_to: Optional[Tuple[str, str, str]] = None) -> List[_Branch]:
        """B enters NETNS on IN_DEV: PREROUTING, then INPUT or FORWARD and POSTROUTING (or bridged on)."""
        if not self.enter(b, netns):
            return [b]
        if bridged_to is not None:
            self.hop(b, "note", netns, f"bridged by {in_dev} from port {in_port} to port {bridged_to[2]}: "
                                       f"br_netfilter runs this namespace's hooks ({self.family.bridge_nf_flag}=1)")
        entry_dst = b.pkt.dst

        def routed(b1: _Branch) -> List[_Branch]:
            if bridged_to is not None and b1.pkt.dst == entry_dst:
                there, there_dev, there_port = bridged_to

                def on(b3: _Branch) -> List[_Branch]:
                    self.hop(b3, "link", netns, f"{in_dev} port {there_port} -> {self.facts.label(there)} {there_dev}")
                    return self.arrive(b3, there, there_dev)

                forwarded = self.hook(b1, netns, "FORWARD", in_dev, in_dev, bridged=True)
                return _each(_each(forwarded, lambda b2: self.hook(b2, netns, "POSTROUTING", None, in_dev,
                                                                  bridged=True)), on)
            route = self.lookup(netns, b1.pkt.dst)
            self.route_hop(b1, netns, route, b1.pkt.dst, after_dnat=b1.pkt.dst != entry_dst)
            if route is None or route.type in ("blackhole", "unreachable", "prohibit"):
                return [b1.finish(DROPPED, netns, f"no route to {b1.pkt.dst} in {self.facts.label(netns)}")]
            if route.type in ("local", "broadcast"):
                return self.local_in(b1, netns, in_dev)
            if not self.ns(netns).forwarding:
                self.hop(b1, "drop", netns, f"not forwarded: {self.family.forwarding} is 0 here")
                return [b1.finish(DROPPED, netns,
                                  f"{self.facts.label(netns)} does not forward ({self.family.forwarding}=0)")]
            _, out, _ = self.next_hop(netns, route, b1.pkt.dst)
            bridged = out == in_dev and in_port is not None
            if bridged:
                target = self.neighbour(self.bridge_of(netns, out)[0], b1.pkt.dst) if self.bridge_of(netns, out)[0] \
                    else None
                hairpin = target is not None and target[2] == in_port
                back = " — the port it came in by (hairpin mode)" if hairpin else ""
                self.hop(b1, "note", netns, f"the new destination is on {out} again: br_netfilter bridges the frame "
                                            f"to its port{back}, through FORWARD and POSTROUTING")
            forwarded = self.hook(b1, netns, "FORWARD", in_dev, out, bridged=bridged)
            return _each(_each(forwarded, lambda b2: self.hook(b2, netns, "POSTROUTING", None, out, bridged=bridged)),
                         lambda b3: self.transmit(b3, netns, route))

        return _each(self.hook(b, netns, "PREROUTING", in_dev, None, bridged=bridged_to is not None), routed)

    # the reply ----------------------------------------------------------------------------------
    def reply(self, b: _Branch, original_dst: str, original_port: int) -> List[Hop]:
        """The reply's way back, described: its routes, and the NAT conntrack undoes where it was done
        (un-SNAT of the destination before routing, un-DNAT of the source after)."""
        hops: List[Hop] = []
        _, start, _, _ = b.end
        src, sport, dst = b.pkt.dst, b.pkt.dport, b.pkt.src
        nat_by_ns: Dict[str, List[Nat]] = {}
        for nat in b.nats:
            nat_by_ns.setdefault(nat.namespace, []).append(nat)
        tracked = set(b.tracked)

        def say(ns: str, text: str) -> None:
            hops.append(Hop(kind="reply", namespace=ns, action=text, where=self.facts.label(ns)))

        def undo(ns: str) -> List[str]:
            nonlocal src, sport, dst
            done = []
            for nat in nat_by_ns.get(ns, []):
                if nat.kind in ("SNAT", "MASQUERADE") and dst == nat.after:
                    dst = nat.before
                    done.append(f"un-{nat.kind}: destination {nat.after} -> {nat.before}")
            for nat in reversed(nat_by_ns.get(ns, [])):
                if nat.kind == "DNAT" and host_port(src, sport) == nat.after:
                    host, port = _split_hostport(nat.before)
                    src, sport = host, port or sport
                    done.append(f"un-DNAT: source {nat.after} -> {nat.before}")
            return done

        say(start, f"the reply leaves {host_port(src, sport)} for {dst}")
        current = start
        for _ in range(_MAX_NAMESPACES):
            if current == start and nat_by_ns.get(start):
                done = undo(start)          # delivered in the namespace that did the NAT (by lo)
                if done:
                    say(current, "conntrack: " + "; ".join(done))
            elif current != start:
                if current in tracked:
                    done = undo(current)
                    say(current, "conntrack: " + ("; ".join(done) if done else
                                                  "the reply of a connection it knows (ESTABLISHED), no NAT here"))
                else:
                    say(current, "no conntrack entry here (the request did not come this way)")
            route = self.lookup(current, dst)
            if route is not None and route.type == "local":
                expected = host_port(original_dst, original_port)
                if current != self.request.netns:
                    say(current, f"delivered to {self.facts.label(current)} at {dst}")
                elif host_port(src, sport) == expected:
                    say(current, f"the client's socket gets the answer from {expected}, the address it connected to")
                else:
                    say(current, f"the answer comes from {host_port(src, sport)}, not {expected}: the client's stack "
                                 "does not know it (TCP answers with a reset): the connection fails")
                return hops
            if route is None:
                say(current, f"no route back to {dst}: the reply is lost")
                return hops
            gateway, dev, _ = self.next_hop(current, route, dst)
            nexthop = gateway or dst
            tunnel = self.facts.tunnels.get((current, dev))
            peer = tunnel.peer(nexthop) if tunnel is not None else None
            if peer is not None:            # back over VXLAN: the peer's node unwraps it
                say(current, f"{host_port(src, sport)} -> {dst}: route {route.text()}, inside VXLAN (UDP "
                             f"{tunnel.port}) to {peer.node_ip}, {self.facts.label(peer.netns)}")
                current = peer.netns
                continue
            bridge, port = self.bridge_of(current, dev)
            found = self.neighbour(bridge, nexthop) if bridge else None
            if found is None:
                say(current, f"no neighbour answers for {nexthop} on {dev}: the reply is lost")
                return hops
            there, _, there_port = found
            say(current, f"{host_port(src, sport)} -> {dst}: route {route.text()}, to {self.facts.label(there)}")
            if port is not None and there_port is not None and bridge.owner in tracked and \
                    self.ns(bridge.owner).bridge_nf:
                done = undo(bridge.owner)
                say(bridge.owner, f"bridged by {bridge.dev}; its conntrack (br_netfilter): "
                                  + ("; ".join(done) if done else "ESTABLISHED, no NAT"))
            current = there
        say(current, "the reply loops: given up")
        return hops


# -- summaries ----------------------------------------------------------------------------------

def _rule_name(line: str) -> str:
    """A rule named short: its chain and comment (the whole line when it has no comment; an nft rule's
    name is already "ip kube-proxy CHAIN: RULE")."""
    parts = line.split(" ", 2)
    if len(parts) < 3 or parts[0] != "-A":
        return line
    comment = parse_rule(parts[1], parts[2]).comment
    return f'{parts[1]} "{comment}"' if comment else line


def _masquerade_reason(b: _Branch, facts: Facts) -> Tuple[bool, str]:
    masq = [n for n in b.nats if n.kind in ("SNAT", "MASQUERADE")]
    if masq:
        nat = masq[0]
        marked = [m for m in b.marks if m[2] and m[0] == nat.namespace]
        by = f", marked by {_rule_name(marked[-1][1])}" if marked else ""
        return True, (f"{nat.kind} on {facts.label(nat.namespace)} (source {nat.before} -> {nat.after}) by "
                      f"{_rule_name(nat.rule)}{by}")
    # an iptables rule jumps to KUBE-MARK-MASQ; an nft rule's text says what it does
    parts = [f"{_rule_name(rule)}{' -> KUBE-MARK-MASQ' if rule.startswith('-A ') else ''} did not match ({why})"
             for _, rule, matched, why in b.marks if not matched]
    dnat_ns = next((n.namespace for n in b.nats if n.kind == "DNAT"), None)
    decider = next((hop for hop in b.hops if hop.kind == "rule" and hop.matched and hop.hook == "POSTROUTING"
                    and hop.rule and ((hop.table == "nat" and "--mark" in hop.rule) or
                                      (hop.table in NFT_TABLES and hop.rule.startswith(("mark and", "meta mark &"))))
                    and (dnat_ns is None or hop.namespace == dnat_ns)), None)
    text = "not masqueraded"
    if parts:
        text += ": " + "; ".join(parts)
    elif not any(m[2] for m in b.marks):
        nft = any(h.table in NFT_TABLES for h in b.hops)
        text += ": no rule on the path jumps to " + ("mark-for-masquerade" if nft else "KUBE-MARK-MASQ")
    if decider is not None:
        text += f"; so on {decider.where} `{decider.rule}` returns (no masquerade mark)"
    return False, text


def _candidate(b: _Branch, facts: Facts, walker: _Walker, request: Request) -> Candidate:
    verdict, netns, reason, rule = b.end
    dnat = next((n for n in b.nats if n.kind == "DNAT"), None)
    address = dnat.after if dnat else (host_port(b.pkt.dst, b.pkt.dport) if verdict == DELIVERED else None)
    masquerade, why = _masquerade_reason(b, facts)
    host = _split_hostport(address)[0] if address else None
    pod = facts.pods.get(host) if host else None
    node = pod.node if pod else None
    if host and node is None:
        owner = facts.owners.get(host)
        label = facts.label(owner[0]) if owner else ""
        node = label[5:] if label.startswith("node/") else None
    listening = None
    if verdict == DELIVERED:
        known = facts.namespaces[netns].sockets() if b.pkt.proto in ("tcp", "udp") else None
        listening = None if known is None else (b.pkt.proto, b.pkt.dport) in known
    cand = Candidate(address=address, probability=b.probability, verdict=verdict, reason=reason, end_namespace=netns,
                     hops=b.hops, nats=b.nats, masquerade=masquerade, masquerade_reason=why, rule=b.choice_rule,
                     end_rule=rule if verdict != DELIVERED else None, pod=pod, node=node,
                     seen_source=b.pkt.src if verdict == DELIVERED else None, listening=listening, pinned=b.pinned)
    if verdict == DELIVERED:
        cand.reply = walker.reply(b, request.dst, request.port)
    return cand


def _affinity(branches: List[_Branch]) -> Optional[dict]:
    checks: Dict[str, dict] = {}
    sets: Dict[str, str] = {}
    for b in branches:
        for note in b.affinity:
            if note["kind"] == "rcheck":
                entry = checks.setdefault(note["rule"], dict(note))
                if note.get("matched"):
                    entry.update(note)
            elif note["kind"] == "set":
                sets[note["list"]] = note["rule"]
    if not checks:
        return None
    rules = list(checks.values())
    pinned = next((r for r in rules if r.get("matched")), None)
    seconds = next((r["seconds"] for r in rules if r.get("seconds") is not None), None)
    backend = "nftables" if any(r.get("backend") == "nftables" for r in rules) else "iptables"
    return {"timeoutSeconds": seconds, "rules": [r["rule"] for r in rules], "recorders": sets,
            "pinnedBy": pinned["rule"] if pinned else None, "list": pinned["list"] if pinned else None,
            "checks": rules, "backend": backend}


def explain_packet(facts: Facts, request: Request) -> Explanation:
    """Walk REQUEST's first packet through FACTS: every candidate path, in order, to its end."""
    walker = _Walker(facts, request)
    start = _Branch(pkt=_Packet(src=request.src or "", dst=request.dst, dport=request.port,
                                proto=request.protocol.lower()))
    ended = walker.originate(start)
    candidates = [_candidate(b, facts, walker, request) for b in ended]
    affinity = _affinity(ended)
    if affinity and affinity["pinnedBy"]:
        # the pinned path is this client's; list what a new client would get, for the endpoints
        fresh = _Walker(facts, request, use_recent=False)
        again = fresh.originate(_Branch(pkt=_Packet(src=request.src or "", dst=request.dst, dport=request.port,
                                                    proto=request.protocol.lower())))
        pinned = candidates[0]
        others = [_candidate(b, facts, fresh, request) for b in again]
        pinned.probability = next((c.probability for c in others if c.address == pinned.address), pinned.probability)
        candidates = [pinned] + [c for c in others if c.address != pinned.address]
        affinity["pinned"] = pinned.address
    elif affinity:
        affinity["pinned"] = None
    candidates = _merge(candidates)
    if candidates:
        first = candidates[0].hops
        for cand in candidates:
            n = 0
            while n < min(len(first), len(cand.hops)) and first[n].key() == cand.hops[n].key():
                n += 1
            cand.shared = n
    return Explanation(request=request, candidates=candidates, affinity=affinity, warnings=walker.warnings,
                       namespaces=walker.read, src=walker.origin_src)


def _merge(candidates: List[Candidate]) -> List[Candidate]:
    out: List[Candidate] = []
    for cand in candidates:
        same = next((c for c in out if c.address and c.address == cand.address and c.verdict == cand.verdict), None)
        if same is not None and not cand.pinned:
            same.probability += cand.probability
            continue
        out.append(cand)
    return out


# -- presenting ---------------------------------------------------------------------------------

def _hop_json(hop: Hop, step: int) -> dict:
    return {"step": step, "namespace": hop.namespace, "where": hop.where, "kind": hop.kind, "hook": hop.hook,
            "table": hop.table, "chain": hop.chain, "rule": hop.rule, "matched": hop.matched, "action": hop.action}


def _endpoint_json(c: Candidate) -> dict:
    return {"address": c.address, "pod": c.pod.name if c.pod else None,
            "namespace": c.pod.namespace if c.pod else None, "node": c.node,
            "probability": round(c.probability, 6), "verdict": c.verdict, "reason": c.reason,
            "rule": c.rule, "pinned": c.pinned, "masquerade": c.masquerade, "masqueradeReason": c.masquerade_reason,
            "sourceSeenByEndpoint": c.seen_source, "listening": c.listening,
            "nat": [{"namespace": n.namespace, "kind": n.kind, "from": n.before, "to": n.after, "rule": n.rule}
                    for n in c.nats],
            "sharedHops": c.shared,
            "hops": [_hop_json(h, i) for i, h in enumerate(c.hops, 1)],
            "returnPath": [{"namespace": h.namespace, "where": h.where, "action": h.action} for h in c.reply]}


def _overall_masquerade_reason(expl: Explanation) -> str:
    cands = expl.candidates
    if not cands:
        return ""
    reasons = {c.masquerade for c in cands}
    if len(reasons) == 1:
        return cands[0].masquerade_reason
    yes = [c for c in cands if c.masquerade]
    why_not = next(c for c in cands if not c.masquerade).masquerade_reason.removeprefix("not masqueraded: ")
    return "; ".join(f"for {c.address or 'this path'}: {c.masquerade_reason}" for c in yes) + \
        f"; the other candidates are not masqueraded ({why_not})"


def to_json(expl: Explanation) -> dict:
    """The explanation as data: family, verdict, endpoints (each with its path), masquerade, hops, ...
    (addresses with a port are "ip:port", IPv6 ones "[ip6]:port")."""
    req = expl.request
    first = expl.candidates[0] if expl.candidates else None
    endpoints = [c for c in expl.endpoints]
    return {
        "lab": expl.lab,
        "family": req.family.name,
        "source": dict(req.source_info or {}, input=req.source_label, netns=req.netns, ip=expl.src or req.src),
        "destination": {"input": req.dest_label, "ip": req.dst, "port": req.port, "protocol": req.protocol.lower(),
                        "service": req.service},
        "verdict": expl.verdict,
        "reason": first.reason if first else "",
        "rule": first.end_rule if first else None,
        "endpoints": [_endpoint_json(c) for c in endpoints],
        "candidates": len(expl.candidates),
        "masquerade": expl.masquerade,
        "masqueradeReason": _overall_masquerade_reason(expl),
        "affinity": expl.affinity,
        "hops": [_hop_json(h, i) for i, h in enumerate(first.hops, 1)] if first else [],
        "returnPath": [{"namespace": h.namespace, "where": h.where, "action": h.action} for h in first.reply]
        if first else [],
        "others": [_endpoint_json(c) for c in expl.candidates if c not in endpoints and c is not first],
        "warnings": expl.warnings,
        "namespacesRead": expl.namespaces,
    }


def _hop_lines(hop: Hop, step, merged_return: Optional[Hop] = None) -> List[str]:
    place = f"[{hop.where}]"
    if hop.kind == "rule":
        head = f"{step:>4}. {place} {hop.table} {hop.chain}: {hop.rule}"
        if hop.matched is False and not hop.action.startswith("statistic"):
            return [head, f"        x {hop.action}"]
        tail = f": nothing there matches, back to {hop.chain}" if merged_return is not None else ""
        return [head, f"        -> {hop.action}{tail}"]
    if hop.kind in ("policy", "return") or (hop.kind == "note" and hop.table):
        return [f"{step:>4}. {place} {hop.table} {hop.chain}: {hop.action}"]
    return [f"{step:>4}. {place} {hop.kind}: {hop.action}"]


def _path_lines(hops: List[Hop], start: int, verbose: bool, stop: Optional[int] = None) -> List[str]:
    """Numbered lines for HOPS[start:stop]; long runs of non-matching rules folded unless VERBOSE."""
    lines: List[str] = []
    stop = len(hops) if stop is None else stop
    i = start
    while i < stop:
        hop = hops[i]
        run = i
        while (not verbose and run < stop and hops[run].kind == "rule" and hops[run].matched is False
               and not hops[run].action.startswith("statistic") and hops[run].chain == hop.chain
               and hops[run].namespace == hop.namespace):
            run += 1
        if run - i > 6:
            lines += _hop_lines(hops[i], i + 1)
            lines.append(f"{'':>6}... steps {i + 2}-{run - 1}: {run - i - 2} more rules of {hop.chain} do not match")
            lines += _hop_lines(hops[run - 1], run)
            i = run
            continue
        following = hops[i + 1] if i + 1 < stop else None
        if (not verbose and following is not None and following.kind == "return" and hop.kind == "rule"
                and hop.matched and hop.action.endswith("jump to " + str(following.chain))):
            lines += _hop_lines(hop, i + 1, merged_return=following)
            i += 2
            continue
        lines += _hop_lines(hop, i + 1)
        i += 1
    return lines


def _summary_lines(hops: List[Hop], start: int) -> List[str]:
    """The steps of HOPS[start:] that change something: routes, links, NAT, marks, verdicts."""
    lines = []
    for i in range(start, len(hops)):
        hop = hops[i]
        if hop.kind in ("route", "link", "deliver", "drop"):
            lines.append(f"{i + 1:>4}. [{hop.where}] {hop.kind}: {hop.action}")
        elif hop.kind == "rule" and hop.matched and any(word in hop.action for word in (
                "DNAT", "MASQUERADE", "SNAT", "MARK", "REJECT", "DROP", "ACCEPT")):
            lines.append(f"{i + 1:>4}. [{hop.where}] {hop.table} {hop.chain}: {hop.action}")
    return lines


def format_text(expl: Explanation, verbose: bool = False) -> str:
    """The explanation for a person: header, verdict, endpoints, masquerade, numbered hops, return path."""
    req = expl.request
    lines = []
    svc = req.service
    what = ""
    if svc:
        what = (f" = Service {svc['namespace']}/{svc['name']}"
                f"{':' + str(svc['port']) if svc.get('port') else ''} ({svc.get('via', '')})")
    lines.append(f"{req.source_label} -> {req.dest_label}{what}")
    lines.append(f"  packet: {req.protocol.lower()} {expl.src or req.src or '?'} -> {host_port(req.dst, req.port)}, "
                 f"the first of a new connection, leaving {req.netns}")
    cands = expl.candidates
    first = cands[0] if cands else None
    lines.append(f"verdict: {expl.verdict}" + (f" — {first.reason}" if first and len(cands) == 1 else ""))
    endpoints = expl.endpoints
    if endpoints and any(c.nats for c in endpoints):
        lines.append(f"endpoints ({len(endpoints)}):")
        rows = []
        for c in endpoints:
            who = c.pod.name if c.pod else (f"node {c.node}" if c.node else "")
            rows.append((c.address or "", who, c.node or "", f"{c.probability * 100:.1f}%",
                         c.verdict + (" (pinned)" if c.pinned else "") +
                         ("" if c.listening in (None, True) else ", nothing listens")))
        widths = [max(len(r[i]) for r in rows) for i in range(5)]
        for r in rows:
            lines.append("  " + "   ".join(r[i].ljust(widths[i]) for i in range(5)).rstrip())
    elif len(cands) > 1:
        for c in cands:
            lines.append(f"  {c.probability * 100:.1f}%: {c.verdict} — {c.reason}")
    lines.append(f"masquerade: {'yes' if expl.masquerade else 'no'} — {_overall_masquerade_reason(expl)}")
    if expl.affinity:
        aff = expl.affinity
        if aff.get("pinned"):
            lines.append(f"session affinity: this client is pinned to {aff['pinned']} by {aff['pinnedBy']} "
                         f"(timeout {aff['timeoutSeconds']} s); the shares above are a new client's")
        elif aff.get("backend") == "nftables":
            lines.append(f"session affinity (ClientIP, timeout {aff['timeoutSeconds']} s): a client seen within the "
                         f"timeout is pinned by the first of these rules whose set holds it:")
            lines += [f"    {r}" for r in aff["rules"]]
            if aff["recorders"]:
                lines.append(f"  the endpoint chain chosen records the client (update @affinity-... "
                             f"{{ {req.family.nft_family} saddr }})")
        else:
            lines.append(f"session affinity (ClientIP, timeout {aff['timeoutSeconds']} s): a client seen within the "
                         f"timeout is pinned by the first of these rules whose xt_recent list holds it:")
            lines += [f"    {r}" for r in aff["rules"]]
            if aff["recorders"]:
                lines.append("  the DNAT rule of the endpoint chosen records the client (-m recent --set)")
    if first is not None:
        title = "path"
        if first.pinned:
            title = f"path of this client (pinned to {first.address})"
        elif first.address and len(cands) > 1:
            title = f"path to {first.address} ({first.probability * 100:.1f}%)"
        lines.append(f"{title}:")
        lines += _path_lines(first.hops, 0, verbose)
        if first.reply:
            lines.append("return path (conntrack):")
            lines += [f"  [{h.where}] {h.action}" for h in first.reply]
        for c in cands[1:]:
            who = "a new client's path" if first.pinned else "path"
            lines.append(f"{who} to {c.address or c.reason} ({c.probability * 100:.1f}%): as above to step {c.shared}, "
                         "then:")
            if verbose:
                lines += _path_lines(c.hops, c.shared, verbose)
                continue
            dnat = next((i for i in range(c.shared, len(c.hops)) if c.hops[i].kind == "rule" and c.hops[i].matched
                         and c.hops[i].action.startswith(("DNAT", "REDIRECT"))), None)
            upto = len(c.hops) if dnat is None else dnat + 1
            lines += _path_lines(c.hops, c.shared, verbose, stop=upto)
            rest = _summary_lines(c.hops, upto)
            if rest:
                lines.append("      then, in short (verbose or -o json for every rule):")
                lines += rest
    if expl.warnings:
        lines.append("warnings:")
        lines += [f"  {w}" for w in expl.warnings]
    return "\n".join(lines)


# -- the live half: a running lab ---------------------------------------------------------------

def _pod_label(namespace: str, name: str) -> str:
    return f"pod/{name}" if namespace == "default" else f"pod/{namespace}/{name}"


def lab_facts(lab: str, st, topology, namespaces: Mapping[str, Netns]) -> Facts:
    """The lab's layout from its state and topology (pure): who owns which address (of both families on a
    dual-stack lab), the bridges."""
    from netlab import names
    labels: Dict[str, str] = {topology.underlay_netns: "underlay"}
    owners: Dict[str, Tuple[str, str]] = {topology.underlay_gateway: (topology.underlay_netns, names.UNDERLAY_BRIDGE)}

    def own(address: Optional[str], netns: str, dev: str) -> None:
        if address:                     # an IPv6 address is None on a single-stack lab
            owners[address] = (netns, dev)

    own(getattr(topology, "underlay_gateway6", None), topology.underlay_netns, names.UNDERLAY_BRIDGE)
    prefix = len(names.lab_prefix(lab))
    underlay_ports = []
    cni_ports: Dict[str, list] = {node.name: [] for node in topology.nodes}
    pods: Dict[str, PodRef] = {}
    for node in topology.nodes:
        labels[node.netns] = f"node/{node.name}"
        owners[node.ip] = (node.netns, names.NODE_UPLINK)
        owners[node.gateway] = (node.netns, names.POD_BRIDGE)
        own(getattr(node, "ip6", None), node.netns, names.NODE_UPLINK)
        own(getattr(node, "gateway6", None), node.netns, names.POD_BRIDGE)
        underlay_ports.append((node.netns, names.NODE_UPLINK, names.underlay_port(node.netns[prefix:])))
    for client in topology.clients:
        labels[client.netns] = f"client/{client.name}"
        owners[client.ip] = (client.netns, names.NODE_UPLINK)
        own(getattr(client, "ip6", None), client.netns, names.NODE_UPLINK)
        underlay_ports.append((client.netns, names.NODE_UPLINK, names.underlay_port(client.netns[prefix:])))
    for record in st.pods.values():
        if not record.get("node") or not (record.get("ip") or record.get("ip6")) or record["node"] not in cni_ports:
            continue
        pod_ns = names.pod_netns(lab, record["namespace"], record["name"])
        labels[pod_ns] = _pod_label(record["namespace"], record["name"])
        for address in (record.get("ip"), record.get("ip6")):
            if address:
                owners[address] = (pod_ns, names.POD_IFNAME)
                pods[address] = PodRef(record["namespace"], record["name"], record["node"], pod_ns, address)
        cni_ports[record["node"]].append(
            (pod_ns, names.POD_IFNAME, names.pod_host_veth(record["namespace"], record["name"], record.get("uid", ""))))
    bridges = [Bridge(topology.underlay_netns, names.UNDERLAY_BRIDGE, tuple(underlay_ports))]
    bridges += [Bridge(node.netns, names.POD_BRIDGE, tuple(cni_ports[node.name])) for node in topology.nodes]
    return Facts(namespaces=namespaces, labels=labels, owners=owners, bridges=tuple(bridges), pods=pods,
                 tunnels=_tunnels(topology, owners))


def _tunnels(topology, owners: Dict[str, Tuple[str, str]]) -> Dict[Tuple[str, str], Tunnel]:
    """Each node's flannel.1 (and flannel-v6.1) as flanneld's vxlan backend writes it (nothing under
    host-gw); its VTEP addresses go into OWNERS."""
    if getattr(topology, "pod_network", "host-gw") != "vxlan":
        return {}
    from netlab.dataplane import vxlan
    netns_of = {node.name: node.netns for node in topology.nodes}
    tunnels = {}
    for node in topology.nodes:
        for o in vxlan.overlays(topology, node):
            owners[o.address] = (node.netns, o.device)
            tunnels[(node.netns, o.device)] = Tunnel(o.device, o.vni, o.port, o.local, tuple(
                (p.vtep_ip, TunnelPeer(netns_of[p.node], p.vtep_mac, p.node_ip)) for p in o.peers))
    return tunnels


def _services(st) -> list:
    return (st.allocations.get("view") or {}).get("services") or []


def _lb_ips(service: dict) -> List[str]:
    ingress = ((service.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
    return [i["ip"] for i in ingress if i.get("ip")]


def service_at(services: list, topology, ip: str, port: int, protocol: Optional[str]) -> Optional[dict]:
    """The Service port a packet to IP:PORT is for (one of its cluster IPs, an external or LB IP, a nodePort)."""
    local = {n.ip for n in topology.nodes} | {n.gateway for n in topology.nodes} | {"127.0.0.1", "::1"}
    local |= {a for n in topology.nodes for a in (getattr(n, "ip6", None), getattr(n, "gateway6", None)) if a}
    for service in services:
        meta, spec = service["metadata"], service["spec"]
        for entry in spec.get("ports") or []:
            proto = str(entry.get("protocol", "TCP")).lower()
            if protocol and proto != protocol:
                continue
            via = None
            if entry.get("port") == port:
                if ip == spec.get("clusterIP") or ip in (spec.get("clusterIPs") or []):
                    via = "clusterIP"
                elif ip in (spec.get("externalIPs") or []):
                    via = "externalIP"
                elif ip in _lb_ips(service):
                    via = "loadBalancer"
            if via is None and entry.get("nodePort") == port and ip in local:
                via = "nodePort"
            if via:
                return {"namespace": meta["namespace"], "name": meta["name"],
                        "port": entry.get("name") or entry.get("port"), "protocol": proto, "via": via,
                        "type": spec.get("type", "ClusterIP"),
                        "externalTrafficPolicy": spec.get("externalTrafficPolicy"),
                        "sessionAffinity": spec.get("sessionAffinity", "None")}
    return None


def _is_ipv4(text: str) -> bool:
    addr = _address(text)
    return addr is not None and addr.version == 4


def _is_ipv6(text: str) -> bool:
    addr = _address(text)
    return addr is not None and addr.version == 6


def _address_literal(text: str) -> Optional[Tuple[str, str]]:
    """(address, port text or "") when TEXT is IP, IP:PORT, IP6, [IP6] or [IP6]:PORT; None otherwise."""
    if text.startswith("["):
        address, close, rest = text[1:].partition("]")
        if close and _is_ipv6(address) and (not rest or rest.startswith(":")):
            return address, rest[1:]
        return None
    if _is_ipv6(text):
        return text, ""
    address, _, port = text.partition(":")
    return (address, port) if _is_ipv4(address) else None


def _no_ipv4(what: str) -> str:
    return f"{what} has no IPv4 address (the lab is IPv6 only: give IPv6 addresses, or leave them out)"


def _no_ipv6(what: str) -> str:
    return (f"{what} has no IPv6 address (the lab is IPv4 only; spec.ipFamilies: [IPv4, IPv6] makes a "
            "dual-stack lab)")


def resolve_source(lab: str, st, topology, text: str, namespace: str,
                   family: Family = IPV4) -> Tuple[str, Optional[str], dict]:
    """(network namespace, source IP or None for the route's choice, what it is) for FROM; FAMILY IPv6:
    its IPv6 address."""
    from netlab import names
    from netlab.lab import LabError
    kind, _, name = text.rpartition("/")
    if not kind and (_is_ipv4(text) or _is_ipv6(text)):
        if family_of(text) is not family:
            raise LabError(f"FROM {text} is an {family_of(text).name} address and the destination an "
                           f"{family.name} one: a packet has one family")
        for record in st.pods.values():
            if text in (record.get("ip"), record.get("ip6")) and record.get("node"):
                return (names.pod_netns(lab, record["namespace"], record["name"]), text,
                        {"kind": "pod", "name": record["name"], "namespace": record["namespace"],
                         "node": record["node"]})
        for node in topology.nodes:
            if text in (node.ip, node.gateway, getattr(node, "ip6", None), getattr(node, "gateway6", None)):
                return node.netns, text, {"kind": "node", "name": node.name}
        for client in topology.clients:
            if text in (client.ip, getattr(client, "ip6", None)):
                return client.netns, text, {"kind": "client", "name": client.name}
        raise LabError(f"no pod, node or client of lab {lab!r} has the address {text}")
    if kind in ("node", "no", "nodes"):
        try:
            node = topology.node(name)
        except KeyError:
            raise LabError(f'node "{name}" not found (nodes: {", ".join(n.name for n in topology.nodes)})') from None
        return node.netns, None, {"kind": "node", "name": node.name}
    if kind == "client":
        for client in topology.clients:
            if client.name == name:
                ip = getattr(client, "ip6", None) if family is IPV6 else client.ip
                if not ip:
                    raise LabError(_no_ipv6(f"client/{name}"))
                return client.netns, ip, {"kind": "client", "name": client.name}
        raise LabError(f'client "{name}" not found (clients: {", ".join(c.name for c in topology.clients) or "none"})')
    if kind not in ("", "pod", "po", "pods"):
        raise LabError(f"cannot explain from {text!r}: use POD, pod/NAME, node/NAME, client/NAME or an IP")
    record = st.pods.get(f"{namespace}/{name}")
    if record is None:
        raise LabError(f'Error from server (NotFound): pods "{name}" not found')
    if not record.get("node") or not (record.get("ip") or record.get("ip6")):
        raise LabError(f'pod "{name}" is Pending: it has no network yet')
    ip = record.get("ip6") if family is IPV6 else record.get("ip")
    if not ip:
        raise LabError(_no_ipv6(f'pod "{name}"') if family is IPV6 else _no_ipv4(f'pod "{name}"'))
    return (names.pod_netns(lab, namespace, name), ip,
            {"kind": "pod", "name": name, "namespace": namespace, "node": record["node"]})


def _service_port(service: dict, ref: str, protocol: Optional[str]) -> dict:
    from netlab.lab import LabError
    meta, spec = service["metadata"], service["spec"]
    what = f'service "{meta["namespace"]}/{meta["name"]}"'
    if spec.get("type") == "ExternalName":
        raise LabError(f"{what} is an ExternalName Service: only a DNS name, kube-proxy writes no rules for it")
    if spec.get("clusterIP") in (None, "", "None"):
        raise LabError(f"{what} is headless (clusterIP: None): no kube-proxy rules; explain to a pod IP:PORT")
    ports = spec.get("ports") or []
    shown = ", ".join(f"{p['port']}/{p.get('protocol', 'TCP')}" + (f" ({p['name']})" if p.get("name") else "")
                      for p in ports)
    fitting = [p for p in ports if protocol is None or str(p.get("protocol", "TCP")).lower() == protocol]
    if ref:
        chosen = [p for p in fitting if str(p.get("port")) == ref or p.get("name") == ref]
        if not chosen:
            raise LabError(f"{what} has no port {ref}{' for ' + protocol if protocol else ''} (ports: {shown})")
        return chosen[0]
    if len(fitting) == 1:
        return fitting[0]
    if not fitting:
        raise LabError(f"{what} has no {protocol} port (ports: {shown})")
    raise LabError(f"{what} has {len(fitting)} ports ({shown}): say which, "
                   f"e.g. svc/{meta['name']}:{fitting[0]['port']}")


def _pod_port(st, record: dict, protocol: Optional[str]) -> Tuple[int, str]:
    from netlab.lab import LabError, _sources
    source = _sources(st).get(tuple(record["source"]))
    ports = [(p.container_port, p.protocol.lower()) for c in (source.pod_spec.containers if source else ())
             for p in c.ports or () if protocol is None or p.protocol.lower() == protocol]
    if len(ports) == 1:
        return ports[0]
    listed = ", ".join(f"{p}/{q}" for p, q in ports) or "none declared"
    example = record.get("ip") or f"[{record.get('ip6')}]"        # an IPv6-only pod's, bracketed
    raise LabError(f'say which port of pod "{record["name"]}" (containerPorts: {listed}), e.g. {example}:80')


def _cluster_ip(service: dict, ipv6: bool) -> str:
    """SERVICE's primary cluster IP, or with IPV6 its IPv6 one (spec.clusterIPs)."""
    from netlab.lab import LabError
    spec = service["spec"]
    if not ipv6:
        return spec["clusterIP"]
    found = next((ip for ip in spec.get("clusterIPs") or [spec.get("clusterIP")] if ip and _is_ipv6(ip)), None)
    if found is None:
        meta = service["metadata"]
        families = ", ".join(spec.get("ipFamilies") or ["IPv4"])
        raise LabError(f'service "{meta["namespace"]}/{meta["name"]}" has no IPv6 cluster IP '
                       f"(ipFamilies: [{families}]; ipFamilyPolicy: PreferDualStack or RequireDualStack gives it "
                       "one on a dual-stack lab)")
    return found


def resolve_destination(st, topology, text: str, namespace: str, protocol: Optional[str],
                        ipv6: bool = False) -> dict:
    """{"ip", "port", "protocol", "service"} for DEST: svc/NAME[:PORT], NAME[.NS][:PORT], IP[:PORT], IP6,
    [IP6][:PORT], node/NAME:NODEPORT or pod/NAME[:PORT]. IPV6: a name stands for its IPv6 address (a
    Service's IPv6 cluster IP, a node's or pod's IPv6 address); without it, a Service's primary cluster IP."""
    from netlab.lab import LabError
    services = _services(st)
    literal = _address_literal(text)
    if literal is not None:
        name, ref = literal
        shown = f"[{name}]" if ":" in name else name
        if ref and not ref.isdigit():
            raise LabError(f"{text!r}: the port after the address must be a number")
        if ref:
            port = int(ref)
            svc = service_at(services, topology, name, port, protocol)
            return {"ip": name, "port": port, "protocol": protocol or (svc["protocol"] if svc else "tcp"),
                    "service": svc}
        for service in services:
            spec = service["spec"]
            if name == spec.get("clusterIP") or name in (spec.get("clusterIPs") or []) or \
                    name in (spec.get("externalIPs") or []) or name in _lb_ips(service):
                entry = _service_port(service, "", protocol)
                proto = str(entry.get("protocol", "TCP")).lower()
                return {"ip": name, "port": entry["port"], "protocol": proto,
                        "service": service_at(services, topology, name, entry["port"], proto)}
        for record in st.pods.values():
            if name in (record.get("ip"), record.get("ip6")):
                port, proto = _pod_port(st, record, protocol)
                return {"ip": name, "port": port, "protocol": proto, "service": None}
        raise LabError(f"say which port: {shown}:PORT")
    kind, slash, rest = text.partition("/")
    if not slash:
        kind, rest = "", text
    name, colon, ref = rest.partition(":")
    if kind in ("node", "no", "nodes"):
        try:
            node = topology.node(name)
        except KeyError:
            raise LabError(f'node "{name}" not found (nodes: {", ".join(n.name for n in topology.nodes)})') from None
        if not ref.isdigit():
            raise LabError(f"say which port: node/{name}:NODEPORT")
        port = int(ref)
        ip = getattr(node, "ip6", None) if ipv6 else node.ip
        if not ip:
            raise LabError(_no_ipv6(f"node {name}"))
        svc = service_at(services, topology, ip, port, protocol)
        return {"ip": ip, "port": port, "protocol": protocol or (svc["protocol"] if svc else "tcp"),
                "service": svc}
    if kind in ("pod", "po", "pods"):
        record = st.pods.get(f"{namespace}/{name}")
        if record is None:
            raise LabError(f'Error from server (NotFound): pods "{name}" not found')
        if not (record.get("ip") or record.get("ip6")):
            raise LabError(f'pod "{name}" is Pending: it has no IP yet')
        ip = record.get("ip6") if ipv6 else record.get("ip")
        if not ip:
            raise LabError(_no_ipv6(f'pod "{name}"') if ipv6 else _no_ipv4(f'pod "{name}"'))
        port, proto = (int(ref), protocol or "tcp") if ref.isdigit() else _pod_port(st, record, protocol)
        return {"ip": ip, "port": port, "protocol": protocol or proto,
                "service": service_at(services, topology, ip, port, protocol)}
    if kind not in ("", "svc", "service", "services"):
        raise LabError(f"cannot explain to {text!r}: use svc/NAME[:PORT], NAME[.NAMESPACE][:PORT], IP:PORT, "
                       "[IP6]:PORT, node/NAME:NODEPORT or pod/NAME[:PORT]")
    parts = name.split(".")
    svc_name, svc_ns = parts[0], parts[1] if len(parts) > 1 else namespace
    for service in services:
        meta = service["metadata"]
        if meta["name"] == svc_name and meta["namespace"] == svc_ns:
            entry = _service_port(service, ref, protocol)
            proto = str(entry.get("protocol", "TCP")).lower()
            ip = _cluster_ip(service, ipv6)
            return {"ip": ip, "port": entry["port"], "protocol": protocol or proto,
                    "service": service_at(services, topology, ip, entry["port"], protocol or proto)}
    raise LabError(f'Error from server (NotFound): services "{svc_name}" not found'
                   + (f' in namespace "{svc_ns}"' if svc_ns != "default" else ""))


class _LiveNamespaces(Mapping):
    """Network namespaces read from the machine when first asked for (or prefetched in parallel), their
    FAMILY half; in NFT_NAMESPACES (the nodes) also the nft table `ip kube-proxy` (`ip6 kube-proxy`),
    when there is one."""

    def __init__(self, variant: str, nft_namespaces=(), family: Family = IPV4):
        self.variant = variant
        self.nft_namespaces = frozenset(nft_namespaces)
        self.family = family
        self.read: Dict[str, Netns] = {}

    def __getitem__(self, name: str) -> Netns:
        if name not in self.read:
            self.prefetch([name])
        return self.read[name]

    def __iter__(self):
        return iter(self.read)

    def __len__(self) -> int:
        return len(self.read)

    def prefetch(self, wanted: List[str]) -> None:
        """Read every namespace of WANTED not read yet: one iptables-save (ip6tables-save) and one `ip route`
        each (and on a node both nft listings of the kube-proxy table), all at once."""
        import json
        import subprocess
        from netlab import explain_nft
        from netlab.dataplane import netns as netns_mod
        from netlab.proxy.nft_ruleset import NftTextError
        family = self.family
        saver = f"{family.iptables}-{self.variant}-save"
        todo = [n for n in dict.fromkeys(wanted) if n not in self.read]
        running = []
        for name in todo:
            if not netns_mod.exists(name):
                from netlab.lab import LabError
                raise LabError(f"network namespace {name!r} is not there (is the lab up? `netlab up` repairs it)")
            save = subprocess.Popen(["nsenter", f"--net={netns_mod.path(name)}", saver],
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            route = subprocess.Popen(["ip", family.ip_option, "-j", "-n", name, "route", "show", "table", "all"],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            nft = explain_nft.start_reading(netns_mod.path(name), family.nft_family) \
                if name in self.nft_namespaces else None
            running.append((name, save, route, nft))
        inside = {name: _read_flags(name, family) for name in todo}
        for name, save, route, nft in running:
            rules, err = save.communicate()
            if save.returncode != 0:
                from netlab.lab import LabError
                raise LabError(f"{saver} in network namespace {name!r} failed: {err.strip()}")
            text, err = route.communicate()
            if route.returncode != 0:
                from netlab.lab import LabError
                raise LabError(f"ip route in network namespace {name!r} failed: {err.strip()}")
            try:
                table = explain_nft.finish_reading(nft)
            except NftTextError:            # kube-proxy synced between the two listings: read them again
                try:
                    table = explain_nft.finish_reading(explain_nft.start_reading(netns_mod.path(name),
                                                                                 family.nft_family))
                except NftTextError as err:
                    from netlab.lab import LabError
                    raise LabError(f"nft table {family.nft_family} {explain_nft.NAME} in network namespace {name!r} "
                                   f"could not be read: {err}") from None
            forwarding, bridge_nf = inside[name]
            routes = routes_from_ip_json(json.loads(text or "[]"), family)
            self.read[name] = Netns(name=name, rules=rules, routes=routes,
                                    forwarding=forwarding, bridge_nf=bridge_nf, recent=_RecentLists(name),
                                    read_listening=lambda name=name: _read_sockets(name, family), nft=table)


def _read_flags(name: str, family: Family = IPV4) -> Tuple[bool, bool]:
    """(net.ipv4.ip_forward, net.bridge.bridge-nf-call-iptables) of namespace NAME, read from inside it
    (FAMILY IPv6: net.ipv6.conf.all.forwarding, net.bridge.bridge-nf-call-ip6tables)."""
    from netlab.dataplane import netns as netns_mod

    def flag(path: str) -> bool:
        try:
            with open(path) as handle:
                return handle.read().strip() == "1"
        except OSError:
            return False

    with netns_mod.entered(name):
        forwarding, bridge_nf = family.sysctl_paths
        return flag(forwarding), flag(bridge_nf)


def _read_sockets(name: str, family: Family = IPV4) -> frozenset:
    """{(protocol, port)} of the TCP listeners and bound UDP sockets in namespace NAME (not on loopback)
    that take FAMILY's packets: IPv4 ones and IPv6 ones (dual-stack sockets take IPv4 too); for IPv6, IPv6
    ones only."""
    from netlab.dataplane import netns as netns_mod
    found = set()
    with netns_mod.entered(name):
        for proto, files, state in (("tcp", ("tcp", "tcp6"), "0A"), ("udp", ("udp", "udp6"), "07")):
            for file in files if family is IPV4 else files[1:]:
                try:
                    with open(f"/proc/thread-self/net/{file}") as handle:
                        next(handle, None)
                        for line in handle:
                            fields = line.split()
                            if len(fields) > 3 and fields[3] == state:
                                address, _, port = fields[1].rpartition(":")
                                if address not in ("0100007F", "00000000000000000000000001000000"):
                                    found.add((proto, int(port, 16)))
                except OSError:
                    pass
    return frozenset(found)


_CLOCK: Dict[str, Optional[int]] = {}


def _kernel_hz() -> Optional[int]:
    """CONFIG_HZ (xt_recent's timestamps are jiffies), from /proc/config.gz when the kernel has it."""
    if "hz" not in _CLOCK:
        import gzip
        hz = None
        try:
            with gzip.open("/proc/config.gz", "rt") as handle:
                for line in handle:
                    if line.startswith("CONFIG_HZ="):
                        hz = int(line.split("=")[1])
                        break
        except OSError:
            pass
        _CLOCK["hz"] = hz
    return _CLOCK["hz"]


def _jiffies() -> Optional[int]:
    try:
        with open("/proc/timer_list") as handle:
            for line in handle:
                if line.startswith("jiffies:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


class _RecentLists(Mapping):
    """The xt_recent lists of one namespace (/proc/net/xt_recent/NAME): source IP -> age in seconds."""

    def __init__(self, netns: str):
        self.netns = netns
        self.lists: Dict[str, Dict[str, Optional[float]]] = {}

    def __getitem__(self, name: str) -> Dict[str, Optional[float]]:
        if name not in self.lists:
            self.lists[name] = self._read(name)
        return self.lists[name]

    def get(self, name, default=None):
        return self[name]

    def __iter__(self):
        return iter(self.lists)

    def __len__(self) -> int:
        return len(self.lists)

    def _read(self, name: str) -> Dict[str, Optional[float]]:
        from netlab.dataplane import netns as netns_mod
        if "/" in name or name.startswith("."):
            return {}
        try:
            with netns_mod.entered(self.netns):
                with open(f"/proc/thread-self/net/xt_recent/{name}") as handle:
                    text = handle.read()
        except OSError:
            return {}
        now, hz = _jiffies(), _kernel_hz()
        entries: Dict[str, Optional[float]] = {}
        for line in text.splitlines():
            found = re.match(r"src=(\S+) .*last_seen: (\d+)", line)
            if found:
                seen = int(found.group(2))
                entries[found.group(1)] = (now - seen) / hz if now is not None and hz else None
        return entries


def _variant(st) -> str:
    from netlab.dataplane import iptables
    from netlab.lab import manifest_lab_config
    backend = st.iptables_backend or manifest_lab_config(st.config).iptables_backend
    return "legacy" if backend == "python-iptables" else iptables.variant()


def _ecmp_choice(netns: str, dst: str, src: Optional[str], family: Family = IPV4) -> Optional[str]:
    """The gateway the kernel's flow hash picks for SRC -> DST in NETNS (`ip route get`)."""
    import json
    import subprocess
    argv = ["ip", family.ip_option, "-j", "-n", netns, "route", "get", dst] + (["from", src] if src else [])
    result = subprocess.run(argv, capture_output=True, text=True)
    try:
        return (json.loads(result.stdout) or [{}])[0].get("gateway")
    except ValueError:
        return None


def _endpoint_netns(st, facts: Facts, service: Optional[dict]) -> List[str]:
    """The namespaces of the pods behind SERVICE (its EndpointSlices): where its packets end."""
    if not service:
        return []
    slices = (st.allocations.get("view") or {}).get("slices") or []
    out = []
    for piece in slices:
        meta = piece.get("metadata") or {}
        if meta.get("namespace") != service["namespace"] or \
                (meta.get("labels") or {}).get("kubernetes.io/service-name") != service["name"]:
            continue
        for endpoint in piece.get("endpoints") or []:
            pod = facts.pods.get((endpoint.get("addresses") or [""])[0])
            if pod is not None:
                out.append(pod.netns)
    return out


def _family_wanted(lab: str, topology, source: str, dest: str, ipv6: bool) -> bool:
    """Whether names in SOURCE and DEST stand for IPv6 addresses: -6, an IPv6 address as FROM, or a
    lab whose primary family is IPv6 (unless FROM or DEST is an IPv4 address); refused on an
    IPv4-only lab."""
    from netlab.lab import LabError
    literal = _address_literal(dest)
    to_ipv6 = literal is not None and _is_ipv6(literal[0])
    given_ipv4 = _is_ipv4(source) or (literal is not None and _is_ipv4(literal[0]))
    primary6 = (getattr(topology, "ip_families", None) or ("IPv4",))[0] == "IPv6"
    wanted = ipv6 or _is_ipv6(source) or (primary6 and not given_ipv4)
    if (wanted or to_ipv6) and not getattr(topology, "dual_stack", False):
        raise LabError(f"lab {lab!r} is IPv4 only: nothing in it has an IPv6 address (spec.ipFamilies: "
                       "[IPv4, IPv6] makes a dual-stack lab)")
    return wanted


def explain(lab: str, source: str, dest: str, protocol: Optional[str] = None,
            namespace: str = "default", ipv6: bool = False) -> Explanation:
    """Explain the first packet of a connection from SOURCE to DEST in LAB, over its live rules.

    PROTOCOL (tcp, udp, sctp): None takes the Service port's (or the pod port's), else tcp. IPV6 (`-6`):
    names stand for IPv6 addresses (a Service's IPv6 cluster IP, a pod's, node's or client's IPv6 address);
    an IPv6 address as FROM or DEST makes the packet IPv6 without it. The family's rules, routes and flags
    are read.
    """
    from netlab.lab import LabError, _loaded_lab
    if protocol is not None:
        protocol = protocol.lower()
        if protocol not in ("tcp", "udp", "sctp"):
            raise LabError(f"--proto {protocol}: use tcp, udp or sctp")
    st, topology = _loaded_lab(lab)
    wanted = _family_wanted(lab, topology, source, dest, ipv6)
    target = resolve_destination(st, topology, dest, namespace, protocol, ipv6=wanted)
    family = family_of(target["ip"])
    if wanted and family is not IPV6:
        raise LabError(f"-6: DEST {dest} is the IPv4 address {target['ip']} (give an IPv6 one, or leave -6 out)")
    src_netns, src_ip, info = resolve_source(lab, st, topology, source, namespace, family)
    from netlab.lab import manifest_lab_config
    # nft's table is read only where kube-proxy writes one (two process starts per node saved)
    nft_mode = manifest_lab_config(st.config).proxy_mode == "nftables"
    live = _LiveNamespaces(_variant(st), nft_namespaces=[n.netns for n in topology.nodes] if nft_mode else (),
                           family=family)
    facts = lab_facts(lab, st, topology, live)
    # what the path will surely cross, read at once; the rest (pods it ends in) when reached
    first = [src_netns, topology.underlay_netns]
    if info["kind"] == "pod":
        first.append(topology.node(info["node"]).netns)
    owner = facts.owners.get(target["ip"])
    if owner:
        first.append(owner[0])
    first += _endpoint_netns(st, facts, target["service"])[:32]
    first += [n.netns for n in topology.nodes][:4]
    live.prefetch(first)
    route = lookup_route(live[src_netns].routes, target["ip"])
    if route is not None and route.nexthops:
        chosen = _ecmp_choice(src_netns, target["ip"], src_ip, family)
        if chosen:
            facts.route_choices[(src_netns, target["ip"])] = chosen
    request = Request(netns=src_netns, src=src_ip, protocol=target["protocol"], dst=target["ip"],
                      port=int(target["port"]), source_label=source, dest_label=dest, service=target["service"],
                      source_info=info)
    expl = explain_packet(facts, request)
    expl.lab = lab
    return expl
