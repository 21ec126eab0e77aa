"""nftables objects as data, the `nft -f -` text knftables writes for them, and an in-memory table.

kube-proxy's nftables mode talks to the kernel through sigs.k8s.io/knftables: every change is
an operation (add/flush/delete of a table, chain, rule, set, map or element), a transaction is
the operations one per line, fed to `nft -f -` (all or nothing). This module holds:

* the objects (`Chain`, `Rule`, `Set`, `Element`, `Table`) and `Op`, whose `text()` is the line
  knftables' `writeOperation` prints (objects.go at v0.0.22):

      add table ip kube-proxy { comment "rules for kube-proxy" ; }
      add chain ip kube-proxy nat-prerouting { type nat hook prerouting priority -100 ; }
      add rule ip kube-proxy services ip daddr . meta l4proto . th dport vmap @service-ips
      add map ip kube-proxy service-ips { type ipv4_addr . inet_proto . inet_service : verdict ; … }
      add element ip kube-proxy service-ips { 172.30.0.41 . tcp . 80 : goto service-… }
      flush chain ip kube-proxy …   delete element ip kube-proxy MAP { KEY }

* `parse_transaction()`: that text (a transaction, or knftables' `Fake.Dump()`) back into `Op`s;
* `NftTable`: one table's state with knftables' `Fake` semantics (`apply()` is atomic: a failing
  operation leaves the table as it was and says which line failed), plus the two checks the
  kernel makes that the fake does not (a chain still jumped to, or a set still named by a
  rule, cannot be deleted; a map element cannot be re-added with another value), and
  `dump()`, byte for byte `Fake.Dump()`: what proxier_test.go compares;
* `sort_transaction()` / `diff_transactions()`: proxier_test.go's comparison
  (helpers_test.go's sortNFTablesTransaction, diffNFTablesTransaction).

Comments are written with Go's %q (double quotes, backslash escapes). Pure: no subprocess.
"""

from __future__ import annotations

import ast
import difflib
import functools
import re
from dataclasses import dataclass, field, replace
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

FAMILIES = ("ip", "ip6", "inet", "arp", "bridge", "netdev")
VERBS = ("add", "flush", "delete")


def go_quote(text: str) -> str:
    """Go's %q of a string: double-quoted, with \\\\, \\", \\n, \\t, \\r and \\xNN escapes."""
    out = ['"']
    for c in text:
        if c == '"' or c == "\\":
            out.append("\\" + c)
        elif c == "\n":
            out.append("\\n")
        elif c == "\t":
            out.append("\\t")
        elif c == "\r":
            out.append("\\r")
        elif ord(c) < 0x20 or ord(c) == 0x7F:
            out.append("\\x%02x" % ord(c))
        else:
            out.append(c)
    out.append('"')
    return "".join(out)


def go_unquote(quoted: str) -> str:
    """The string a Go %q literal stands for."""
    return ast.literal_eval(quoted)


# --- objects ------------------------------------------------------------------------------

@dataclass(frozen=True)
class Table:
    """The table itself (knftables.Table)."""

    comment: Optional[str] = None


@dataclass(frozen=True)
class Chain:
    """A chain; a base chain has type, hook and a numeric priority (knftables.Chain)."""

    name: str
    type: Optional[str] = None
    hook: Optional[str] = None
    priority: Optional[int] = None
    comment: Optional[str] = None

    @property
    def is_base(self) -> bool:
        return self.hook is not None


@dataclass(frozen=True)
class Rule:
    """One rule: its chain, its text as kube-proxy wrote it, an optional comment."""

    chain: str
    rule: str
    comment: Optional[str] = None


@dataclass(frozen=True)
class Set:
    """A set or a map (kind "set" / "map"); for a map, type is "KEY : VALUE" (knftables.Set/Map)."""

    name: str
    kind: str = "set"
    type: str = ""
    flags: Tuple[str, ...] = ()
    timeout: Optional[int] = None  # seconds
    comment: Optional[str] = None


@dataclass(frozen=True)
class Element:
    """One element of set or map CONTAINER (kind "set" / "map"); a map element has a value."""

    container: str
    key: Tuple[str, ...]
    value: Tuple[str, ...] = ()
    kind: str = "set"
    comment: Optional[str] = None

    @property
    def key_text(self) -> str:
        return " . ".join(self.key)

    @property
    def value_text(self) -> str:
        return " . ".join(self.value)


@dataclass(frozen=True)
class Op:
    """One operation of a transaction: VERB (add, flush, delete) on OBJ."""

    verb: str
    obj: object

    def text(self, family: str, table: str) -> str:
        """The line knftables writes for this operation (without the newline)."""
        return _op_text(self.verb, self.obj, family, table)


def _op_text(verb: str, obj: object, family: str, table: str) -> str:
    if isinstance(obj, Rule):
        line = f"{verb} rule {family} {table} {obj.chain}"
        if verb == "add":
            line += f" {obj.rule}"
            if obj.comment is not None:
                line += f" comment {go_quote(obj.comment)}"
        return line
    if isinstance(obj, Element):
        line = f"{verb} element {family} {table} {obj.container} {{ {obj.key_text}"
        if verb == "add":
            if obj.comment is not None:
                line += f" comment {go_quote(obj.comment)}"
            if obj.value:
                line += f" : {obj.value_text}"
        return line + " }"
    if isinstance(obj, Chain):
        line = f"{verb} chain {family} {table} {obj.name}"
        if verb == "add" and (obj.type is not None or obj.comment is not None):
            line += " {"
            if obj.type is not None:
                line += f" type {obj.type} hook {obj.hook} priority {obj.priority} ;"
            if obj.comment is not None:
                line += f" comment {go_quote(obj.comment)} ;"
            line += " }"
        return line
    if isinstance(obj, Set):
        line = f"{verb} {obj.kind} {family} {table} {obj.name}"
        if verb == "add":
            line += f" {{ type {obj.type} ;"
            if obj.flags:
                line += f" flags {','.join(obj.flags)} ;"
            if obj.timeout is not None:
                line += f" timeout {obj.timeout}s ;"
            if obj.comment is not None:
                line += f" comment {go_quote(obj.comment)} ;"
            line += " }"
        return line
    if isinstance(obj, Table):
        line = f"{verb} table {family} {table}"
        if verb == "add" and obj.comment is not None:
            line += f" {{ comment {go_quote(obj.comment)} ; }}"
        return line
    raise TypeError(f"not an nftables object: {obj!r}")


def transaction_text(ops: Iterable[Op], family: str, table: str) -> str:
    """The `nft -f -` input for OPS: one line each, newline-terminated ("" for no operations)."""
    return "".join(op.text(family, table) + "\n" for op in ops)


# --- parsing ----------------------------------------------------------------------------------

class NftTextError(ValueError):
    """Text that is not knftables' syntax, or an operation nft would refuse; says which line."""


_LINE = re.compile(r"^(add|flush|delete) (table|chain|rule|set|map|element) (\S+) (\S+)(?: (.*))?$")
_COMMENT = r'("(?:[^"\\]|\\.)*")'
_TABLE_PROPS = re.compile(r"^\{ comment " + _COMMENT + r" ; \}$")
_CHAIN = re.compile(r"^(\S+)(?: \{(?: type (\S+) hook (\S+) priority (\S+) ;)?(?: comment "
                    + _COMMENT + r" ;)? \})?$")
_RULE = re.compile(r"^(\S+)(?: handle (\d+))? ([^\"]*?)(?: comment " + _COMMENT + r")?$")
_SET = re.compile(r"^(\S+)(?: \{ type ([^;]*?) ;(?: flags ([^;]*?) ;)?(?: timeout (\d+)s ;)?"
                  r"(?: comment " + _COMMENT + r" ;)? \})?$")
# Keys may hold IPv6 colons but never " : ", which separates the value.
_ELEMENT = re.compile(r"^(\S+) \{ ([^\"]*?)(?: comment " + _COMMENT + r")?(?: : (.*?))? \}$")


@dataclass(frozen=True)
class ParsedOp:
    """An Op read from text, with the family, table and line number it came from."""

    op: Op
    family: str
    table: str
    lineno: int
    line: str


def parse_transaction(text: str) -> List[ParsedOp]:
    """Read a transaction (or a `Fake.Dump()`); blank lines and `#` comments are skipped."""
    out = []
    for lineno, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        m = _LINE.match(line)
        if not m:
            raise NftTextError(f"line {lineno}: not an nft operation: {line!r}")
        verb, kind, family, table, rest = m.groups()
        rest = rest or ""
        if family not in FAMILIES:
            raise NftTextError(f"line {lineno}: unknown family {family!r}: {line!r}")
        try:
            obj = _parse_object(verb, kind, rest)
        except ValueError as e:
            raise NftTextError(f"line {lineno}: {e}: {line!r}") from None
        out.append(ParsedOp(Op(verb, obj), family, table, lineno, line))
    return out


def _parse_object(verb: str, kind: str, rest: str):
    if kind == "table":
        if not rest:
            return Table()
        m = _TABLE_PROPS.match(rest)
        if not m:
            raise ValueError("bad table properties")
        return Table(go_unquote(m.group(1)))
    if kind == "chain":
        m = _CHAIN.match(rest)
        if not m:
            raise ValueError("bad chain")
        name, ctype, hook, prio, comment = m.groups()
        priority = None
        if prio is not None:
            try:
                priority = int(prio)
            except ValueError:
                raise ValueError(f"priority {prio!r} is not a number "
                                 "(knftables writes numbers)") from None
        return Chain(name, ctype, hook, priority, go_unquote(comment) if comment else None)
    if kind == "rule":
        if verb != "add":
            raise ValueError(f"{verb} rule is not supported (kube-proxy never does it)")
        m = _RULE.match(rest)
        if not m or not m.group(3):
            raise ValueError("bad rule")
        return Rule(m.group(1), m.group(3), go_unquote(m.group(4)) if m.group(4) else None)
    if kind in ("set", "map"):
        m = _SET.match(rest)
        if not m:
            raise ValueError(f"bad {kind}")
        name, stype, flags, timeout, comment = m.groups()
        if verb == "add" and stype is None:
            raise ValueError(f"add {kind} without a type")
        return Set(name, kind, stype or "", tuple(flags.split(",")) if flags else (),
                   int(timeout) if timeout else None, go_unquote(comment) if comment else None)
    if kind == "element":
        m = _ELEMENT.match(rest)
        if not m:
            raise ValueError("bad element")
        name, key, comment, value = m.groups()
        return Element(name, tuple(key.split(" . ")), tuple(value.split(" . ")) if value else (),
                       "map" if value else "set", go_unquote(comment) if comment else None)
    raise ValueError(f"unknown object type {kind!r}")


# --- the table ------------------------------------------------------------------------------------

@dataclass
class _ChainState:
    chain: Chain
    rules: List[Rule] = field(default_factory=list)


@dataclass
class _SetState:
    set: Set
    # by key, in insertion order (a set or map can hold 10,000s of elements)
    by_key: Dict[Tuple[str, ...], Element] = field(default_factory=dict)

    @property
    def elements(self) -> List[Element]:
        return list(self.by_key.values())

    def find(self, key: Sequence[str]) -> Optional[Element]:
        return self.by_key.get(tuple(key))


_JUMP_WORDS = ("jump", "goto")
_JUMP_TARGET = re.compile(r"(?:^| )(?:jump|goto) (\S+)")
_SET_REF = re.compile(r"(?:^|(\S+) )@([^\s,]+)(?=\s|$)")


def _rule_refs(text: str) -> Tuple[List[str], List[Tuple[str, str]]]:
    """(chains jumped to, [(set-or-map name, preceding word)]) that a rule's text names."""
    chains = _JUMP_TARGET.findall(text) if ("jump " in text or "goto " in text) else []
    sets = [(name, before or "") for before, name in _SET_REF.findall(text)] if "@" in text else []
    return chains, sets


def _verdict_chain(value: Tuple[str, ...]) -> Optional[str]:
    if len(value) == 1:
        words = value[0].split(" ")
        if len(words) == 2 and words[0] in _JUMP_WORDS:
            return words[1]
    return None


class NftTable:
    """One nftables table in memory (knftables' FakeTable): chains with rules, sets, maps."""

    def __init__(self, family: str = "ip", name: str = "kube-proxy"):
        self.family = family
        self.name = name
        self.exists = False
        self.comment: Optional[str] = None
        self.chains: Dict[str, _ChainState] = {}
        self.sets: Dict[str, _SetState] = {}
        self.maps: Dict[str, _SetState] = {}
        # jump/goto target -> how many rules (of other chains) and map elements name it
        self._jumps: Dict[str, int] = {}
        # copy() shares the chain and set states with the original; these are the ones this
        # table has made its own (copied before its first change), so a copy costs O(names)
        self._own_chains: set = set()
        self._own_sets: set = set()

    # reading
    def chain_names(self) -> List[str]:
        return list(self.chains)

    def set_names(self) -> List[str]:
        return list(self.sets)

    def rules(self, chain: str) -> List[Rule]:
        """CHAIN's rules in order ([] for a chain that does not exist)."""
        c = self.chains.get(chain)
        return list(c.rules) if c else []

    def chain_text(self, chain: str) -> str:
        """assertNFTablesChainEqual's view: CHAIN's rule texts (without comments) joined by newlines."""
        return "\n".join(r.rule for r in self.rules(chain))

    def elements(self, name: str) -> List[Element]:
        """The elements of set or map NAME ([] if there is none)."""
        s = self.sets.get(name) or self.maps.get(name)
        return list(s.elements) if s else []

    def find_element(self, name: str, *key: str) -> Optional[Element]:
        """FakeSet/FakeMap.FindElement."""
        s = self.sets.get(name) or self.maps.get(name)
        return s.find(key) if s else None

    def copy(self) -> "NftTable":
        """An independent table with the same contents (copy-on-write: a chain, set or map is
        copied only when the copy first changes it, so a partial sync costs what it changes)."""
        t = NftTable(self.family, self.name)
        t.exists, t.comment = self.exists, self.comment
        t.chains, t.sets, t.maps = dict(self.chains), dict(self.sets), dict(self.maps)
        t._jumps = dict(self._jumps)
        return t

    def _own_chain(self, name: str) -> _ChainState:
        c = self.chains[name]
        if name not in self._own_chains:
            c = self.chains[name] = _ChainState(c.chain, list(c.rules))
            self._own_chains.add(name)
        return c

    def _own_set(self, store: Dict[str, _SetState], name: str) -> _SetState:
        s = store[name]
        key = (store is self.maps, name)
        if key not in self._own_sets:
            s = store[name] = _SetState(s.set, dict(s.by_key))
            self._own_sets.add(key)
        return s

    def _count_jumps(self, chain: str, rules, sign: int) -> None:
        for rule in rules:
            for target in _rule_refs(rule.rule)[0]:
                if target != chain:
                    self._jumps[target] = self._jumps.get(target, 0) + sign

    # writing
    def apply(self, ops: Iterable[Op], lines: Optional[Sequence[str]] = None, *,
              in_place: bool = False) -> "NftTable":
        """The table after OPS, as one atomic transaction; raises NftTextError naming the failing
        operation (LINES, if given, are the transaction's lines for the message). IN_PLACE: change
        this table itself (no copy; a failure leaves it half changed), for a table no one else holds."""
        t = self if in_place else self.copy()
        for i, op in enumerate(ops):
            try:
                t._apply(op)
            except ValueError as e:
                line = (lines[i] if lines is not None and i < len(lines)
                        else op.text(self.family, self.name))
                raise NftTextError(f"operation {i + 1}: {e}: {line}") from None
        return t

    def apply_text(self, text: str) -> "NftTable":
        """The table after the transaction TEXT (which must be for this table)."""
        parsed = parse_transaction(text)
        for p in parsed:
            if (p.family, p.table) != (self.family, self.name):
                raise NftTextError(f"line {p.lineno}: table {p.family} {p.table} is not "
                                   f"{self.family} {self.name}: {p.line}")
        return self.apply([p.op for p in parsed], [f"line {p.lineno}: {p.line}" for p in parsed])

    @classmethod
    def from_text(cls, text: str, family: str = "ip", name: str = "kube-proxy") -> "NftTable":
        """A table holding what TEXT (a dump or a transaction) adds (Fake.ParseDump)."""
        return cls(family, name).apply_text(text)

    def _apply(self, op: Op) -> None:
        verb, obj = op.verb, op.obj
        if verb not in VERBS:
            raise ValueError(f"unsupported verb {verb!r}")
        if isinstance(obj, Table):
            if verb == "add":
                if not self.exists:
                    self.exists, self.comment = True, obj.comment
            elif verb == "delete":
                if not self.exists:
                    raise ValueError(f"no such table {self.family} {self.name}")
                self.__init__(self.family, self.name)  # everything in it goes too (and nothing is shared)
            else:
                raise ValueError("flush table is not supported")
            return
        if not self.exists:
            raise ValueError(f"no such table {self.family} {self.name}")
        if isinstance(obj, Chain):
            self._apply_chain(verb, obj)
        elif isinstance(obj, Rule):
            self._apply_rule(verb, obj)
        elif isinstance(obj, Set):
            self._apply_set(verb, obj)
        elif isinstance(obj, Element):
            self._apply_element(verb, obj)
        else:
            raise ValueError(f"not an nftables object: {obj!r}")

    def _apply_chain(self, verb: str, obj: Chain) -> None:
        existing = self.chains.get(obj.name)
        if verb == "add":
            if existing is None:
                self.chains[obj.name] = _ChainState(obj)
                self._own_chains.add(obj.name)
            return
        if existing is None:
            raise ValueError(f"no such chain {obj.name!r}")
        if verb == "flush":
            self._count_jumps(obj.name, existing.rules, -1)
            self._own_chain(obj.name).rules = []
            return
        # The kernel refuses to delete a chain that is still a jump target (EBUSY); its own
        # rules go with it.
        if self._jumps.get(obj.name, 0) > 0:
            raise ValueError(f"chain {obj.name!r} is still the target of {self._referrer(obj.name)}")
        self._count_jumps(obj.name, existing.rules, -1)
        del self.chains[obj.name]
        self._own_chains.discard(obj.name)

    def _referrer(self, target: str) -> str:
        """One rule or map element naming chain TARGET (for the error message: a full scan)."""
        for other in self.chains.values():
            for rule in other.rules:
                if other.chain.name != target and target in _rule_refs(rule.rule)[0]:
                    return f"a rule of chain {other.chain.name!r}"
        for m in self.maps.values():
            for e in m.by_key.values():
                if _verdict_chain(e.value) == target:
                    return f"an element of map {m.set.name!r}"
        return "a reference"

    def _apply_rule(self, verb: str, obj: Rule) -> None:
        existing = self.chains.get(obj.chain)
        if existing is None:
            raise ValueError(f"no such chain {obj.chain!r}")
        chains, sets = _rule_refs(obj.rule)
        for name, before in sets:
            if before in ("map", "vmap"):
                if name not in self.maps:
                    raise ValueError(f"no such map {name!r}")
            elif name not in self.sets and name not in self.maps:
                raise ValueError(f"no such set {name!r}")
        for name in chains:
            if name not in self.chains:
                raise ValueError(f"no such chain {name!r}")
        self._own_chain(obj.chain).rules.append(obj)
        self._count_jumps(obj.chain, (obj,), +1)

    def _apply_set(self, verb: str, obj: Set) -> None:
        store = self.maps if obj.kind == "map" else self.sets
        existing = store.get(obj.name)
        if verb == "add":
            if existing is None:
                store[obj.name] = _SetState(obj)
                self._own_sets.add((store is self.maps, obj.name))
            return
        if existing is None:
            raise ValueError(f"no such {obj.kind} {obj.name!r}")
        if verb == "flush":
            if obj.kind == "map":
                for e in existing.by_key.values():
                    self._count_verdict(e.value, -1)
            self._own_set(store, obj.name).by_key = {}
            return
        # The kernel refuses to delete a set that a rule still uses (EBUSY).
        for chain in self.chains.values():
            for rule in chain.rules:
                if any(n == obj.name for n, _ in _rule_refs(rule.rule)[1]):
                    raise ValueError(f"{obj.kind} {obj.name!r} is still used by a rule of "
                                     f"{chain.chain.name!r}")
        if obj.kind == "map":
            for e in existing.by_key.values():
                self._count_verdict(e.value, -1)
        del store[obj.name]
        self._own_sets.discard((store is self.maps, obj.name))

    def _count_verdict(self, value, sign: int) -> None:
        target = _verdict_chain(value)
        if target is not None:
            self._jumps[target] = self._jumps.get(target, 0) + sign

    def _apply_element(self, verb: str, obj: Element) -> None:
        container = self.sets.get(obj.container) or self.maps.get(obj.container)
        if container is None:
            raise ValueError(f"no such set or map {obj.container!r}")
        is_map = container.set.kind == "map"
        existing = container.find(obj.key)
        if verb == "add":
            if is_map and not obj.value:
                raise ValueError(f"map {obj.container!r} element without a value")
            if not is_map and obj.value:
                raise ValueError(f"set {obj.container!r} element with a value")
            target = _verdict_chain(obj.value)
            if target is not None and target not in self.chains:
                raise ValueError(f"no such chain {target!r}")
            if existing is not None:
                if existing.value != obj.value:
                    # The kernel answers EEXIST; kube-proxy deletes the old element first.
                    raise ValueError(f"element {{ {obj.key_text} }} of {obj.container!r} "
                                     f"already exists with value {existing.value_text!r}")
                return
            store = self.sets if obj.container in self.sets else self.maps
            self._own_set(store, obj.container).by_key[obj.key] = (
                obj if obj.kind == container.set.kind else replace(obj, kind=container.set.kind))
            if is_map:
                self._count_verdict(obj.value, +1)
        elif verb == "delete":
            if existing is None:
                raise ValueError(f"no such element {{ {obj.key_text} }} in {obj.container!r}")
            store = self.sets if obj.container in self.sets else self.maps
            del self._own_set(store, obj.container).by_key[obj.key]
            if is_map:
                self._count_verdict(existing.value, -1)
        else:
            raise ValueError("flush element is not a thing")

    def dump(self) -> str:
        """knftables' Fake.Dump(): every object as an "add" line, objects first, then contents."""
        if not self.exists:
            return ""
        fam, name = self.family, self.name
        out = [_op_text("add", Table(self.comment), fam, name)]
        chains = sorted(self.chains)
        sets = sorted(self.sets)
        maps = sorted(self.maps)
        out += [_op_text("add", self.chains[c].chain, fam, name) for c in chains]
        out += [_op_text("add", self.sets[s].set, fam, name) for s in sets]
        out += [_op_text("add", self.maps[m].set, fam, name) for m in maps]
        for c in chains:
            out += [_op_text("add", r, fam, name) for r in self.chains[c].rules]
        for s in sets:
            out += [_op_text("add", e, fam, name) for e in self.sets[s].elements]
        for m in maps:
            out += [_op_text("add", e, fam, name) for e in self.maps[m].elements]
        return "\n".join(out) + "\n"


# --- comparison (helpers_test.go) -------------------------------------------------------------

# objectOrder: higher sorts earlier; anything else is 0.
_OBJECT_ORDER = {"table": 10, "chain": 9, "rule": 8, "set": 7, "map": 6, "element": 5}


def _less(a: str, b: str) -> bool:
    wa, wb = a.split(" "), b.split(" ")
    if len(wa) < 5 or len(wb) < 5:
        return False
    if wa[1] != wb[1]:
        return _OBJECT_ORDER.get(wa[1], 0) >= _OBJECT_ORDER.get(wb[1], 0)
    if wa[4] != wb[4]:
        return wa[4] < wb[4]
    if wa[1] == "rule":
        return False  # rules keep the order they were added in
    return a < b


def _cmp(a: str, b: str) -> int:
    return -1 if _less(a, b) else (1 if _less(b, a) else 0)


def sort_transaction(text: str) -> str:
    """sortNFTablesTransaction: drop blank and `#` lines, stable-sort by object type, then object
    name (rules keep their order), then the whole line. Whitespace-only lines count as blank,
    as dedent (which the Go test strings go through) makes them."""
    lines = [l for l in text.split("\n") if l.strip() and not l.startswith("#")]
    return "\n".join(sorted(lines, key=functools.cmp_to_key(_cmp)))


def diff_transactions(expected: str, got: str) -> str:
    """diffNFTablesTransaction: "" when EXPECTED and GOT are equal once sorted, else a unified diff."""
    a = sort_transaction(expected)
    b = sort_transaction(got)
    if a == b:
        return ""
    return "\n".join(difflib.unified_diff(a.split("\n"), b.split("\n"), "expected", "got",
                                          lineterm=""))


__all__ = [
    "Chain", "Element", "NftTable", "NftTextError", "Op", "ParsedOp", "Rule", "Set", "Table",
    "diff_transactions", "go_quote", "go_unquote", "parse_transaction", "sort_transaction",
    "transaction_text",
]
