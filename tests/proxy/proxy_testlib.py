"""Helpers for the kube-proxy renderer tests: the proxier_test.go fixture and its normaliser.

`sort_like_upstream` is proxier_test.go's sortIPTablesRules: it ignores exactly the
orderings that depend on Go map iteration (tables, chain declarations, the order of services
in KUBE-SERVICES/KUBE-NODEPORTS) and keeps the relative order of everything else.
"""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path
from typing import List, Optional

import yaml

from netlab.proxy.model import MARK_SHORT, ProxyConfig
from netlab.proxy.objects import Inventory, render_input_from_inventory
from netlab.proxy.render import render
from netlab.proxy.ruleset import Ruleset, Table, parse_restore_text

GOLDEN = Path(__file__).parent / "golden"

# NewFakeProxier (proxier_test.go): node "test-node" whose interfaces carry these addresses,
# detect-local by cluster CIDR 10.0.0.0/8 (fd00:10::/64 for IPv6), mark 0x4000, no
# --random-fully, nfacct counters present.
TEST_NODE_NAME = "test-node"
TEST_NODE_IP = "192.168.0.2"
TEST_NODE_IP_ALT = "192.168.1.2"
TEST_EXTERNAL_IP = "192.168.99.11"
TEST_NODE_IPV6 = "2001:db8::1"
TEST_NODE_IPV6_ALT = "2001:db8:1::2"
TEST_EXTERNAL_CLIENT = "203.0.113.2"
TEST_EXTERNAL_CLIENT_BLOCKED = "203.0.113.130"
TEST_NODE_IPS = (TEST_NODE_IP, TEST_NODE_IP_ALT, TEST_EXTERNAL_IP, TEST_NODE_IPV6,
                 TEST_NODE_IPV6_ALT)

FIXTURE = ProxyConfig(
    node_name=TEST_NODE_NAME,
    node_ips=TEST_NODE_IPS,
    cluster_cidr="10.0.0.0/8",
    interface_addresses=("127.0.0.1", "::1") + TEST_NODE_IPS,
    mark_style=MARK_SHORT,
    random_fully=False,
    nfacct=True,
)
FIXTURE_IPV6 = replace(FIXTURE, family="IPv6", cluster_cidr="fd00:10::/64")

# Names usable in the data files for the fixture's addresses.
SYMBOLS = {
    "testNodeIP": TEST_NODE_IP, "testNodeIPAlt": TEST_NODE_IP_ALT,
    "testExternalIP": TEST_EXTERNAL_IP, "testNodeIPv6": TEST_NODE_IPV6,
    "testNodeIPv6Alt": TEST_NODE_IPV6_ALT, "testExternalClient": TEST_EXTERNAL_CLIENT,
    "testExternalClientBlocked": TEST_EXTERNAL_CLIENT_BLOCKED,
}


def fixture_config(**overrides) -> ProxyConfig:
    """The fake proxier's config with OVERRIDES (ProxyConfig fields) applied."""
    base = FIXTURE_IPV6 if overrides.get("family") == "IPv6" else FIXTURE
    overrides = {k: v for k, v in overrides.items() if v is not None}
    for name in ("node_port_addresses", "node_ips", "interface_addresses", "node_pod_cidrs"):
        if name in overrides:
            overrides[name] = tuple(overrides[name])
    return replace(base, **overrides)


def render_objects(objects: list, **overrides) -> Ruleset:
    """Render Kubernetes object dicts with the fake proxier's settings."""
    config = fixture_config(**overrides)
    inventory = Inventory().add(objects, "test")
    data = render_input_from_inventory(inventory, config.node_name, config.family)
    return render(config, data.service_ports, data.endpoints)


def load_yaml(path: Path):
    return yaml.safe_load(path.read_text())


def resolve(value: str) -> str:
    return SYMBOLS.get(value, value)


# --- sortIPTablesRules -----------------------------------------------------------------

_WORD = re.compile(r'(?:^|\s)("[^"]*"|[^"]\S*)')


def _comment(args: str) -> Optional[str]:
    words = [m.group(1).strip('"') for m in _WORD.finditer(args)]
    for i, w in enumerate(words[:-1]):
        if w == "--comment":
            return words[i + 1]
    return None


def _service_name(args: str) -> str:
    """orderByCommentServiceName's key: the comment up to the first space or colon."""
    comment = _comment(args)
    if comment is None:
        return ""
    return re.split(r"[ :]", comment, maxsplit=1)[0]


def _chain_order(name: str):
    if name == "KUBE-NODEPORTS":
        return (0, name)
    if name == "KUBE-SERVICES":
        return (1, name)
    return (2 if name.startswith("KUBE-") else 3, name)


def sort_like_upstream(text: str) -> str:
    """proxier_test.go's sortIPTablesRules on iptables-restore text."""
    ruleset = parse_restore_text(text.lstrip(" \t\n"))
    out: List[str] = []
    for name in sorted(ruleset.tables):
        table: Table = ruleset.tables[name]
        declared = list(table.policies) + [c for c in table.chains if c not in table.policies]
        chains = sorted(declared, key=_chain_order)
        by_chain = {c: [a for cc, a in table.rules if cc == c] for c in chains}
        for c, rules in by_chain.items():
            if c == "KUBE-NODEPORTS" or (c == "KUBE-SERVICES" and name == "filter"):
                rules.sort(key=_service_name)
            elif c == "KUBE-SERVICES":
                rules.sort(key=lambda a: (1, "") if "must be the last rule" in (_comment(a) or "")
                           else (0, _service_name(a)))
        out.append(f"*{name}")
        out.extend(f":{c} - [0:0]" for c in chains)
        for c in chains:
            out.extend(f"-A {c} {a}" for a in by_chain[c])
        out.extend(f"-X {c}" for c in chains if c in table.deleted)
        out.append("COMMIT")
    return "\n".join(out) + "\n"


def chain_text(ruleset_text: str, table: str, chain: str) -> str:
    """assertIPTablesChainEqual's view: CHAIN's rules as "-A CHAIN args" lines."""
    rs = parse_restore_text(ruleset_text)
    return "".join(f"-A {chain} {a}\n" for a in rs.tables[table].chain_rules(chain))
