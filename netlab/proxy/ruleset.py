"""Rules as data: tables → chains → rules, and their iptables-restore text.

A `Ruleset` holds, per table, the chains kube-proxy declares (in declaration order) and its
rules in the order kube-proxy writes them, each rule a ``(chain, args)`` pair where ``args``
is the text after ``-A CHAIN`` exactly as kube-proxy writes it. Two texts come out of it:

* ``to_restore_text()`` — kube-proxy's own iptables-restore input (notes §2): meant for
  ``iptables-restore --noflush``; it has no rules in built-in chains (kube-proxy adds those
  jumps with ``iptables -I``, §1.2).
* ``to_restore_text(include_builtin_jumps=True)`` — whole tables for a fresh network
  namespace and a plain ``iptables-restore`` (which flushes the tables it names): built-in
  chains with ACCEPT policy, kube-proxy's jump rules in the order a node shows them, then
  everything else. One restore of it gives what a kube-proxy node's ``iptables-save`` shows.

``parse_restore_text()`` reads either text (or ``iptables-save`` output) back, so the packet
tracer can walk a node's live rules too.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Dict, Iterable, List, Optional, Tuple

from netlab.proxy import chains as ch

Rule = Tuple[str, str]  # (chain, args after "-A CHAIN")


@dataclass
class Table:
    """One iptables table: declared chains, rules in write order, stale chains to delete."""

    name: str
    chains: List[str] = field(default_factory=list)
    rules: List[Rule] = field(default_factory=list)
    # Stale service chains deleted with "-X" (kube-proxy declares them too, which flushes them).
    deleted: List[str] = field(default_factory=list)
    # Index into `rules` before which the "-X" lines are written (kube-proxy writes them
    # before the KUBE-SERVICES → KUBE-NODEPORTS catch-all); None means after all rules.
    deleted_at: Optional[int] = None
    # Built-in chain policies, when the text declared them (iptables-save output).
    policies: Dict[str, str] = field(default_factory=dict)

    def chain_rules(self, chain: str) -> List[str]:
        """The args of CHAIN's rules, in order."""
        return [args for c, args in self.rules if c == chain]

    def rules_by_chain(self) -> Dict[str, List[str]]:
        """All rules grouped by chain (declared chains first, each in order)."""
        out: Dict[str, List[str]] = {c: [] for c in self.policies}
        for c in self.chains:
            out.setdefault(c, [])
        for c, args in self.rules:
            out.setdefault(c, []).append(args)
        return out


@dataclass(frozen=True)
class ServiceChainInfo:
    """Which chains one service port got on this node (None: chain not written)."""

    service_port: str  # ns/name:port
    protocol: str  # lower case
    svc: Optional[str]
    svl: Optional[str]
    ext: Optional[str]
    fw: Optional[str]
    endpoints: Tuple[Tuple[str, str], ...]  # (ip:port, KUBE-SEP-…) with a SEP chain here


@dataclass
class Ruleset:
    """kube-proxy's filter and nat tables for one node (and one IP family)."""

    tables: Dict[str, Table]
    family: str = "IPv4"
    # True for a rendered ruleset: kube-proxy's jump rules from the built-in chains (§1.2)
    # exist on the node but are not part of the restore input. False for parsed text,
    # which contains whatever rules the built-in chains had.
    implied_jumps: bool = False
    services: List[ServiceChainInfo] = field(default_factory=list)

    @property
    def filter(self) -> Table:
        return self.tables["filter"]

    @property
    def nat(self) -> Table:
        return self.tables["nat"]

    def rule_count(self) -> int:
        """Number of rules (-A lines) in kube-proxy's restore input."""
        return sum(len(t.rules) for t in self.tables.values())

    def rules_by_chain(self, table: str) -> Dict[str, List[str]]:
        """TABLE's rules grouped by chain, including the implied built-in jumps."""
        t = self.tables.get(table)
        out = t.rules_by_chain() if t else {}
        if self.implied_jumps:
            for chain in ch.BUILTIN_CHAINS.get(table, ()):
                out.setdefault(chain, [])
            if table == "filter":
                out.setdefault(ch.KUBE_FIREWALL, [])  # created for the kubelet jumps
            for chain, args in ch.builtin_jump_rules(table):
                out.setdefault(chain, []).append(args)
        return out

    def service_chain_table(self) -> List[ServiceChainInfo]:
        """(namespace/name:port, protocol) → the chains written for it, in render order."""
        return list(self.services)

    def to_restore_text(self, include_builtin_jumps: bool = False,
                        include_canary: bool = False) -> str:
        """The iptables-restore text: kube-proxy's input, or whole tables for a fresh netns.

        include_builtin_jumps: write whole tables (built-in chains with ACCEPT policy and
        kube-proxy's jump rules, no stale-chain deletions) for a plain `iptables-restore`.
        include_canary: also declare the empty KUBE-PROXY-CANARY chains kube-proxy's monitor
        creates in mangle, nat and filter (§10.4); only with include_builtin_jumps.
        """
        out: List[str] = []
        whole = include_builtin_jumps
        if whole and include_canary:
            out.append("*mangle")
            out.extend(f":{c} ACCEPT [0:0]" for c in ch.BUILTIN_CHAINS["mangle"])
            out.append(f":{ch.KUBE_PROXY_CANARY} - [0:0]")
            out.append("COMMIT")
        for name in ("filter", "nat"):
            table = self.tables[name]
            out.append(f"*{name}")
            if whole:
                out.extend(f":{c} ACCEPT [0:0]" for c in ch.BUILTIN_CHAINS[name])
                declared = list(table.chains)
                if name == "filter" and ch.KUBE_FIREWALL not in declared:
                    # kube-proxy's `iptables -N KUBE-FIREWALL` for the kubelet jumps
                    # (iptablesKubeletJumpChains) creates it even when it stays empty.
                    declared.append(ch.KUBE_FIREWALL)
                if include_canary:
                    declared.append(ch.KUBE_PROXY_CANARY)
                out.extend(f":{c} - [0:0]" for c in declared if c not in table.deleted)
                out.extend(f"-A {c} {a}" for c, a in ch.builtin_jump_rules(name))
                out.extend(f"-A {c} {a}" for c, a in table.rules)
            else:
                out.extend(f":{c} - [0:0]" for c in table.chains)
                at = len(table.rules) if table.deleted_at is None else table.deleted_at
                rules = table.rules
                out.extend(f"-A {c} {a}" for c, a in rules[:at])
                out.extend(f"-X {c}" for c in table.deleted)
                out.extend(f"-A {c} {a}" for c, a in rules[at:])
            out.append("COMMIT")
        out.append("")
        return "\n".join(out)

    def to_whole_tables_text(self, include_canary: bool = False) -> str:
        """Whole filter/nat tables for a fresh namespace (plain iptables-restore, no --noflush)."""
        return self.to_restore_text(include_builtin_jumps=True, include_canary=include_canary)

    def check(self) -> List[str]:
        """Consistency problems in kube-proxy's restore text (see check_jumps)."""
        return check_jumps(self.to_restore_text())


_DECLARE = re.compile(r"^:(\S+)\s+(\S+)(?:\s+\[\d+:\d+\])?$")
_COUNTERS = re.compile(r"^\[\d+:\d+\]\s+")


class RestoreTextError(ValueError):
    """Text that is not iptables-restore/iptables-save syntax; says which line."""


@dataclass
class Section:
    """One `*table` … `COMMIT` section of iptables-save output or iptables-restore input, as written."""

    name: str
    policies: Dict[str, str] = field(default_factory=dict)    # built-in chain -> policy
    chains: List[str] = field(default_factory=list)            # user chains, in declaration order
    rules: List[Tuple[int, str, str]] = field(default_factory=list)   # (line number, chain, args)
    deleted: List[str] = field(default_factory=list)           # -X CHAIN lines
    deleted_at: Optional[int] = None                            # how many rules came before the first -X


def parse_sections(text: str) -> List[Section]:
    """The tables of iptables-save/restore text, in order: the one parser every reader uses.

    Accepts what iptables-restore accepts of kube-proxy's subset: comments, `:CHAIN POLICY` with or
    without `[packets:bytes]`, `[packets:bytes]` before a rule (iptables-save -c), `-A`, `-X`.
    Raises RestoreTextError naming the line.
    """
    tables: Dict[str, Section] = {}
    table: Optional[Section] = None
    for lineno, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if table is None:
            if not line.startswith("*") or len(line) < 2:
                raise RestoreTextError(f"line {lineno}: expected a table (*filter), got {line!r}")
            table = tables.setdefault(line[1:], Section(line[1:]))
            continue
        if line == "COMMIT":
            table = None
            continue
        line = _COUNTERS.sub("", line)
        if line.startswith(":"):
            m = _DECLARE.match(line)
            if not m:
                raise RestoreTextError(f"line {lineno}: bad chain declaration {line!r}")
            name, policy = m.group(1), m.group(2)
            if policy != "-":
                table.policies[name] = policy
            elif name not in table.chains:
                table.chains.append(name)
        elif line.startswith("-A "):
            parts = line.split(None, 2)
            if len(parts) < 2:
                raise RestoreTextError(f"line {lineno}: -A without a chain")
            table.rules.append((lineno, parts[1], parts[2] if len(parts) > 2 else ""))
        elif line.startswith("-X "):
            if table.deleted_at is None:
                table.deleted_at = len(table.rules)
            table.deleted.append(line[3:].strip())
        else:
            raise RestoreTextError(f"line {lineno}: unsupported line {line!r} (only :CHAIN, -A and -X)")
    if table is not None:
        raise RestoreTextError(f"table {table.name!r} has no COMMIT line")
    return list(tables.values())


def parse_restore_text(text: str, family: str = "IPv4") -> Ruleset:
    """Read iptables-restore input or iptables-save output into a Ruleset (rules kept verbatim)."""
    tables: Dict[str, Table] = {}
    for section in parse_sections(text):
        table = tables.setdefault(section.name, Table(section.name))
        if section.deleted_at is not None and table.deleted_at is None:
            table.deleted_at = len(table.rules) + section.deleted_at
        table.policies.update(section.policies)
        table.chains.extend(c for c in section.chains if c not in table.chains)
        table.rules.extend((chain, args) for _, chain, args in section.rules)
        table.deleted.extend(section.deleted)
    for name in ("filter", "nat"):
        tables.setdefault(name, Table(name))
    return Ruleset(tables=tables, family=family, implied_jumps=False)


_JUMP_TARGETS = ("ACCEPT", "REJECT", "DROP", "MARK", "RETURN", "DNAT", "SNAT", "MASQUERADE")
_FIXED = {ch.KUBE_SERVICES, ch.KUBE_EXTERNAL_SERVICES, ch.KUBE_NODEPORTS, ch.KUBE_POSTROUTING,
          ch.KUBE_FORWARD, ch.KUBE_MARK_MASQ, ch.KUBE_PROXY_FIREWALL, ch.KUBE_FIREWALL}


def _first_matches(lines: Iterable[str], pattern: "re.Pattern[str]") -> set:
    out = set()
    for line in lines:
        m = pattern.search(line)
        if m:
            out.add(m.group(1))
    return out


_CREATED = re.compile(r"^:([^ ]*)")
_DELETED = re.compile(r"-X ([^ ]*)")
_FILLED = re.compile(r"-A ([^ ]*)")
_JUMPED = re.compile(r"-j ([^ ]*)")


def check_jumps(text: str) -> List[str]:
    """Problems a restore text has: jumps to or rules in undeclared chains, jumps to empty
    chains, declared chains nothing jumps to (proxier_test.go's checkIPTablesRuleJumps)."""
    problems = []
    sections = re.split(r"^COMMIT\n", text.lstrip("\n"), flags=re.M)
    for section in sections:
        lines = section.strip("\n").split("\n")
        if not lines or not lines[0].startswith("*"):
            continue
        name = lines[0][1:]
        created = _first_matches(lines, _CREATED) - _first_matches(lines, _DELETED)
        filled = _first_matches(lines, _FILLED)
        jumped = _first_matches(lines, _JUMPED) - set(_JUMP_TARGETS)
        missing = (jumped - created) | (filled - created)
        if missing:
            problems.append(f"some chains in {name} are used but were not created: {sorted(missing)}")
            continue
        # Jumps from built-in chains (whole-tables text) may target kube-proxy's fixed
        # chains while they are empty; kube-proxy's own rules must not jump to empty chains.
        builtin = set(ch.BUILTIN_CHAINS.get(name, ()))
        own_lines = [l for l in lines if not (l.startswith("-A ") and l.split(" ", 2)[1] in builtin)]
        empty = (_first_matches(own_lines, _JUMPED) & jumped) - filled - {ch.KUBE_NODEPORTS}
        if empty:
            problems.append(f"some chains in {name} are jumped to but have no rules: {sorted(empty)}")
            continue
        extra = created - jumped - _FIXED - set(ch.BUILTIN_CHAINS.get(name, ()))
        extra.discard(ch.KUBE_PROXY_CANARY)
        if extra:
            problems.append(f"some chains in {name} are created but not used: {sorted(extra)}")
    return problems
