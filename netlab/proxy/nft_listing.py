"""The rules of a live kube-proxy table, read back from `nft list table` in kube-proxy's spelling.

nft prints a rule in its own canonical syntax, not as kube-proxy (knftables) wrote it: the same
rule comes back with `meta mark` for `mark`, `|`, `&`, `^` for `or`, `and`, `xor`, a zero mark as
`0x00000000`, a one-member anonymous set without its braces, and `, ` between the members of an
anonymous set or verdict map where knftables writes ` , `. rule_in_kube_proxy_spelling() undoes
exactly those differences (measured on this machine's nft 1.0.6 against every rule shape the
renderer writes: tests/proxy/test_nft_listing.py, tests/lab/test_lab_nftables_mode.py), so the
live table can be traced (nft_trace.py) and compared with the renderer's object for object.

canonical_rule() is the comparison's form of either spelling: one-member sets without braces.

`nft -j list table` (nft 1.0.6) leaves out the table's and the chains' comments and a set's
`dynamic` flag; listing_details() reads them from the listing for the JSON to be completed.
"""

from __future__ import annotations

import re
from typing import Dict, List

_CHAIN = re.compile(r"^\s*chain (\S+) \{\s*$")
_SET = re.compile(r"^\s*(?:set|map) (\S+) \{\s*$")
_TABLE = re.compile(r"^\s*table \S+ \S+ \{\s*$")
_COMMENT = re.compile(r'^comment "((?:[^"\\]|\\.)*)"$')
_MARK_OP = re.compile(r"\bmeta mark set meta mark ([|^]) (0x[0-9a-f]+)")
_MARK_TEST = re.compile(r"\bmeta mark & (0x[0-9a-f]+) == (0x[0-9a-f]+)")
_BRACES = re.compile(r"\{ ([^{}]*) \}")
_ONE_MEMBER = re.compile(r"\{ ([^{},\s]+) \}")


def chain_rules(listing: str) -> Dict[str, List[str]]:
    """Each chain's rule lines, in order, as `nft list table` prints them (base chain
    declarations and chain comments left out)."""
    rules: Dict[str, List[str]] = {}
    chain = None
    for line in listing.splitlines():
        match = _CHAIN.match(line)
        if match:
            chain = match.group(1)
            rules[chain] = []
            continue
        text = line.strip()
        if chain is None or not text:
            continue
        if text == "}":
            chain = None
        elif not (text.startswith("type ") and text.endswith(";")) and not text.startswith("comment \""):
            rules[chain].append(text)
    return rules


def _members(match: "re.Match[str]") -> str:
    return "{ " + " , ".join(part.strip() for part in match.group(1).split(",")) + " }"


def rule_in_kube_proxy_spelling(rule: str) -> str:
    """One listed rule as knftables writes it (see the module docstring)."""
    rule = _MARK_OP.sub(lambda m: f"mark set mark {'or' if m.group(1) == '|' else 'xor'} {m.group(2)}", rule)
    rule = _MARK_TEST.sub(lambda m: f"mark and {m.group(1)} == {int(m.group(2), 16)}", rule)
    return _BRACES.sub(_members, rule)


_HEX = re.compile(r"\b0x[0-9a-f]+\b")


def canonical_rule(rule: str) -> str:
    """A rule in the form both spellings share: a one-member anonymous set loses its braces, a
    hex number its leading zeros (upstream's tests write marks as 0x4000, nft lists 0x00004000)."""
    return _HEX.sub(lambda m: hex(int(m.group(0), 16)), _ONE_MEMBER.sub(r"\1", rule))


def listing_details(listing: str) -> dict:
    """What the JSON listing lacks: {"table_comment": str | None, "chain_comments": {chain: str},
    "set_flags": {set or map: [flag, ...]}}."""
    details: dict = {"table_comment": None, "chain_comments": {}, "set_flags": {}}
    where, name = None, None
    for line in listing.splitlines():
        text = line.strip()
        if _TABLE.match(line):
            where, name = "table", None
            continue
        for kind, pattern in (("chain", _CHAIN), ("set", _SET)):
            match = pattern.match(line)
            if match:
                where, name = kind, match.group(1)
                break
        else:
            if text == "}":
                where = "table" if where in ("chain", "set") else None
                continue
            comment = _COMMENT.match(text)
            if comment and where == "table":
                details["table_comment"] = comment.group(1)
            elif comment and where == "chain":
                details["chain_comments"][name] = comment.group(1)
            elif where == "set" and text.startswith("flags "):
                details["set_flags"][name] = text[len("flags "):].split(",")
    return details
