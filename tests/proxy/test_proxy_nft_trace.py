"""Packet flows through kube-proxy's nftables table, ported from kubernetes
pkg/proxy/nftables/proxier_test.go's runPacketFlowTests tables (@81810de6), and the tracer's
own behaviour (nft_trace.py, a port of helpers_test.go's nftablesTracer).

Each golden/nft/flows/NAME.yaml holds Kubernetes objects, fixture overrides and flows:
(source, protocol, destination, port) -> expected output (endpoints joined by ", ", or
DROP/REJECT, or "") and whether the packet is masqueraded. A case's `then` is what upstream
checks after its second, partial sync (e.g. the EndpointSlice deleted): the transaction from
the first state is applied to the table, and the flows run again on the result.
"""

from __future__ import annotations

import pytest

from netlab.proxy.model import Endpoint, ServicePort
from netlab.proxy.nft_render import render_nft
from netlab.proxy.nft_ruleset import NftTable
from netlab.proxy.nft_trace import NftTraceError, trace_nft

from proxy_testlib import GOLDEN, TEST_NODE_IPS, load_yaml, resolve
from test_proxy_nft_golden import SERVICE_CIDRS, nft_config, render_objects

FLOWS = GOLDEN / "nft" / "flows"


def _flatten(flows):
    for f in flows:
        if isinstance(f, list):
            yield from _flatten(f)
        else:
            yield f


def _cases():
    for path in sorted(FLOWS.glob("*.yaml")):
        spec = load_yaml(path)
        if "variants" in spec:
            base = list(_flatten(spec["flows"]))
            for variant in spec["variants"]:
                overrides = variant.get("overrides") or {}
                unknown = set(overrides) - {f["name"] for f in base}
                assert not unknown, f"{path.name}: overrides for unknown flows {unknown}"
                for name, o in overrides.items():
                    flow = next(f for f in base if f["name"] == name)
                    # As upstream: an override must change something.
                    assert any(flow.get(k, False if k == "masq" else None) != v
                               for k, v in o.items()), f"{path.name}: {name}: override is a no-op"
                flows = [dict(f, **overrides.get(f["name"], {})) for f in base]
                yield path.stem, {"name": variant["name"], "config": variant.get("config") or {},
                                  "objects": spec["objects"], "flows": flows}
        else:
            for case in spec["cases"]:
                yield path.stem, case


_tables = {}


def _table(case, phase):
    """The table after the case's first sync ("flows"), or after its second one ("then")."""
    key = (id(case), phase)
    if key not in _tables:
        config = case.get("config") or {}
        first = render_objects(case.get("objects") or [], **config)
        if phase == "flows":
            _tables[key] = first.table
        else:
            second = render_objects(case["then"].get("objects") or [], **config)
            sync = second.sync(first)
            assert not sync.full  # upstream's second sync is a partial one
            _tables[key] = first.table.apply_text(sync.transaction)
    return _tables[key]


def _params():
    for stem, case in _cases():
        for phase in ("flows", "then"):
            flows = case["then"]["flows"] if phase == "then" and "then" in case else (
                case["flows"] if phase == "flows" else [])
            for flow in _flatten(flows):
                suffix = "" if phase == "flows" else " (after the second sync)"
                yield pytest.param(case, phase, flow, id=f"{stem}/{case['name']}/{flow['name']}{suffix}")


@pytest.mark.parametrize("case, phase, flow", list(_params()))
def test_packet_flow(case, phase, flow):
    table = _table(case, phase)
    result = trace_nft(table, resolve(flow["source"]), flow.get("protocol") or "tcp",
                       resolve(flow["dest"]), flow["port"], local_ips=TEST_NODE_IPS)
    got = (result.output, result.masquerade)
    want = (flow["output"], bool(flow.get("masq", False)))
    assert got == want, "matched rules:\n" + "\n".join(result.matched)


def test_flow_tables_are_broad():
    """Guard against silently losing ported cases."""
    assert len(list(_params())) >= 190


# --- the tracer itself -------------------------------------------------------------------------

def _web(**config):
    sp = ServicePort("ns", "web", "", "TCP", "172.30.0.50", 80, type="NodePort", node_port=30080)
    eps = [Endpoint("ns", "web", "", "TCP", "10.0.1.2", 8080, node_name="test-node"),
           Endpoint("ns", "web", "", "TCP", "10.0.2.2", 8080, node_name="node2")]
    return render_nft(nft_config(**config), [sp], eps, service_cidrs=SERVICE_CIDRS)


def test_result_properties_and_matched_rules():
    r = trace_nft(_web(), "10.0.0.9", "TCP", "172.30.0.50", 80, local_ips=TEST_NODE_IPS)
    assert (r.output, r.endpoints, r.verdict, r.masquerade) == (
        "10.0.1.2:8080, 10.0.2.2:8080", ["10.0.1.2:8080", "10.0.2.2:8080"], None, False)
    assert r.matched[:2] == ["filter-prerouting-pre-dnat: ct state new jump firewall-check",
                             "nat-prerouting: jump services"]
    assert any(m.startswith("endpoint-") and "dnat to 10.0.1.2:8080" in m for m in r.matched)
    # A wrong port of a ClusterIP is rejected after DNAT found nothing.
    r = trace_nft(_web(), "10.0.0.9", "tcp", "172.30.0.50", 81, local_ips=TEST_NODE_IPS)
    assert (r.output, r.verdict) == ("REJECT", "REJECT")


def test_interface_detectors():
    """iifname [!=] NAME / PREFIX* (the BridgeInterface and InterfaceNamePrefix detectors)."""
    for config, inside in (({"detect_local_mode": "BridgeInterface", "bridge_interface": "cni0"}, "cni0"),
                           ({"detect_local_mode": "InterfaceNamePrefix", "interface_name_prefix": "veth"},
                            "veth1234")):
        ruleset = _web(**config)
        pod = trace_nft(ruleset, "10.0.0.9", "tcp", "172.30.0.50", 80, TEST_NODE_IPS, inside)
        other = trace_nft(ruleset, "10.0.0.9", "tcp", "172.30.0.50", 80, TEST_NODE_IPS, "eth0")
        unknown = trace_nft(ruleset, "10.0.0.9", "tcp", "172.30.0.50", 80, TEST_NODE_IPS)
        assert (pod.masquerade, other.masquerade, unknown.masquerade) == (False, True, True)


def test_session_affinity_lookup():
    """A client already in an endpoint's affinity set goes straight to that endpoint."""
    sp = ServicePort("ns", "web", "", "TCP", "172.30.0.50", 80, session_affinity="ClientIP")
    eps = [Endpoint("ns", "web", "", "TCP", "10.0.1.2", 8080),
           Endpoint("ns", "web", "", "TCP", "10.0.2.2", 8080)]
    ruleset = render_nft(nft_config(), [sp], eps, service_cidrs=SERVICE_CIDRS)
    table = ruleset.table
    assert trace_nft(table, "10.0.0.9", "tcp", "172.30.0.50", 80).endpoints == [
        "10.0.1.2:8080", "10.0.2.2:8080"]
    affinity = ruleset.services[0].affinity_sets[1]
    remembered = table.apply_text(f"add element ip kube-proxy {affinity} {{ 10.0.0.9 }}\n")
    assert trace_nft(remembered, "10.0.0.9", "tcp", "172.30.0.50", 80).endpoints == ["10.0.2.2:8080"]
    assert trace_nft(remembered, "10.0.0.8", "tcp", "172.30.0.50", 80).endpoints == [
        "10.0.1.2:8080", "10.0.2.2:8080"]


def test_nodeport_on_every_local_address_with_match_all():
    """--nodeport-addresses 0.0.0.0/0: fib daddr type local, but never 127.0.0.0/8."""
    ruleset = _web(node_port_addresses=["0.0.0.0/0"])
    local = list(TEST_NODE_IPS) + ["127.0.0.1"]
    assert trace_nft(ruleset, "203.0.113.2", "tcp", "192.168.1.2", 30080, local).endpoints == [
        "10.0.1.2:8080", "10.0.2.2:8080"]
    assert trace_nft(ruleset, "127.0.0.1", "tcp", "127.0.0.1", 30080, local).output == ""


def test_unknown_rules_and_chains_are_errors():
    table = NftTable.from_text(
        "add table ip kube-proxy\n"
        "add chain ip kube-proxy filter-prerouting-pre-dnat { type filter hook prerouting priority -110 ; }\n"
        "add chain ip kube-proxy nat-prerouting { type nat hook prerouting priority -100 ; }\n"
        "add rule ip kube-proxy nat-prerouting meta nfproto ipv4 counter\n")
    with pytest.raises(NftTraceError, match="unmatched rule in nat-prerouting"):
        trace_nft(table, "10.0.0.1", "tcp", "10.0.0.2", 80)
    with pytest.raises(NftTraceError, match="unknown chain 'filter-prerouting-pre-dnat'"):
        trace_nft(NftTable.from_text("add table ip kube-proxy\n"), "10.0.0.1", "tcp", "10.0.0.2", 80)
