"""Label selectors as kubectl's `-l`/`--selector` takes them (k8s.io/apimachinery/pkg/labels Parse).

    app=web   app==web   app!=web          equality
    env in (prod,qa)   env notin (dev)     sets
    tier   !tier                           the key exists / does not
separated by commas, all of which must hold.
"""

from __future__ import annotations

import re
from typing import Callable

_SET = re.compile(r"^\s*([^\s!=(),]+)\s+(in|notin)\s*\(([^)]*)\)\s*$")
_EQUAL = re.compile(r"^\s*([^\s!=(),]+)\s*(==|=|!=)\s*([^\s!=(),]*)\s*$")
_EXISTS = re.compile(r"^\s*(!?)\s*([^\s!=(),]+)\s*$")


class SelectorError(ValueError):
    """A selector kubectl would refuse to parse."""


def _terms(text: str) -> list[str]:
    """TEXT split at the commas outside parentheses."""
    terms, depth, current = [], 0, ""
    for ch in text:
        depth += ch == "("
        depth -= ch == ")"
        if ch == "," and depth == 0:
            terms.append(current)
            current = ""
        else:
            current += ch
    terms.append(current)
    return terms


def parse(text: str) -> Callable[[dict], bool]:
    """A predicate over a labels dict for the selector TEXT; SelectorError if it does not parse."""
    checks = []
    for term in _terms(text or ""):
        if not term.strip():
            if text.strip():
                raise SelectorError(f'unable to parse requirement: found "", expected: identifier in "{text}"')
            continue
        if match := _SET.match(term):
            key, op, values = match.group(1), match.group(2), {v.strip() for v in match.group(3).split(",")}
            checks.append((lambda k, vs: lambda labels: labels.get(k) in vs)(key, values) if op == "in" else
                          (lambda k, vs: lambda labels: labels.get(k) not in vs)(key, values))
        elif match := _EQUAL.match(term):
            key, op, value = match.groups()
            checks.append((lambda k, v: lambda labels: labels.get(k) == v)(key, value) if op != "!=" else
                          (lambda k, v: lambda labels: labels.get(k) != v)(key, value))
        elif match := _EXISTS.match(term):
            negated, key = match.groups()
            checks.append((lambda k: lambda labels: k not in labels)(key) if negated else
                          (lambda k: lambda labels: k in labels)(key))
        else:
            raise SelectorError(f'unable to parse requirement: "{term.strip()}"')
    return lambda labels: all(check(labels or {}) for check in checks)


def format_labels(labels: dict | None) -> str:
    """kubectl's LABELS column: key=value pairs sorted by key, comma separated, or <none>."""
    return ",".join(f"{k}={v}" for k, v in sorted((labels or {}).items())) or "<none>"
