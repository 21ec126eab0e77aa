"""Packet-flow cases ported from proxier_test.go's runPacketFlowTests tables.

Each golden/flows/NAME.yaml holds Kubernetes objects (or a static rules file), fixture
overrides and flows: (source, protocol, destination, port) → expected output (endpoints
joined by ", ", or ACCEPT/DROP/REJECT, or "") and whether the packet is masqueraded. The
objects go through objects.py and render.py, the flows through trace.py.
"""

from __future__ import annotations

import pytest

from netlab.proxy.ruleset import parse_restore_text
from netlab.proxy.trace import trace

from proxy_testlib import GOLDEN, TEST_NODE_IPS, load_yaml, render_objects, resolve


def _flatten(flows):
    for f in flows:
        if isinstance(f, list):
            yield from _flatten(f)
        else:
            yield f


def _cases():
    for path in sorted((GOLDEN / "flows").glob("*.yaml")):
        spec = load_yaml(path)
        if "variants" in spec:
            for variant in spec["variants"]:
                flows = []
                for f in _flatten(spec["flows"]):
                    f = dict(f, **(variant.get("overrides") or {}).get(f["name"], {}))
                    flows.append(f)
                unknown = set(variant.get("overrides") or {}) - {f["name"] for f in flows}
                assert not unknown, f"{path.name}: overrides for unknown flows {unknown}"
                case = {"name": variant["name"], "config": variant.get("config") or {},
                        "objects": spec["objects"], "flows": flows}
                yield path.stem, case
        else:
            for case in spec["cases"]:
                yield path.stem, case


def _params():
    for stem, case in _cases():
        for flow in _flatten(case["flows"]):
            yield pytest.param(case, flow, id=f"{stem}/{case['name']}/{flow['name']}")


_rendered = {}


def _ruleset(case):
    key = id(case)
    if key not in _rendered:
        if "rules_file" in case:
            _rendered[key] = parse_restore_text((GOLDEN / "flows" / case["rules_file"]).read_text())
        else:
            _rendered[key] = render_objects(case.get("objects") or [], **(case.get("config") or {}))
    return _rendered[key]


@pytest.mark.parametrize("case, flow", list(_params()))
def test_packet_flow(case, flow):
    ruleset = _ruleset(case)
    result = trace(ruleset, resolve(flow["source"]), flow.get("protocol") or "tcp",
                   resolve(flow["dest"]), flow["port"], local_ips=TEST_NODE_IPS)
    got = (result.output, result.masquerade)
    want = (flow["output"], bool(flow.get("masq", False)))
    assert got == want, "matched rules:\n" + "\n".join(result.matched)


def test_flow_tables_are_broad():
    """Guard against silently losing ported cases."""
    assert len(list(_params())) >= 190
