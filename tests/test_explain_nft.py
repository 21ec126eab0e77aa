"""netlab explain in kube-proxy's nftables mode, without root: the walk over the `ip kube-proxy` table.

Two tiers, both over nft text the renderer writes (`netlab proxy render --mode nftables`):

* the default two-node lab of tests/test_explain.py, its nodes' rules the nftables renderer's
  transaction for the same Services and EndpointSlices (and no iptables rules at all), walked end to
  end: pods, nodes and clients, bridges, routes, the return path;
* upstream's packet-flow tables (tests/proxy/golden/nft/flows, proxier_test.go's runPacketFlowTests):
  every flow (IPv4, and IPv6 through an `ip6 kube-proxy` table) through one node's hooks, which must
  reach the endpoints, DROP or REJECT and the masquerade decision upstream expects.

The IPv6 half of the lab (test_explain.py's DOCS6, NODES6, ...) is walked over the `ip6 kube-proxy`
transaction the nftables renderer writes for the IPv6 proxier.
"""

from __future__ import annotations

import json
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from netlab import explain as ex
from netlab.explain_nft import NFT_TABLE, NFT_TABLE6, NftFacts, rule_pieces
from netlab.proxy.nft_render import nft_ruleset_for_node
from netlab.proxy.nft_ruleset import NftTable
from tests.test_explain import (CLIENTS, CLIENTS6, DOCS, DOCS6, NODES, NODES6, PODS, PODS6, WEB, _facts, _facts6,
                                _node_ns, _node_ns6)

sys.path.insert(0, str(Path(__file__).parent / "proxy"))
from test_proxy_nft_trace import _params as _flow_params, _table as _flow_table  # noqa: E402
from proxy_testlib import TEST_NODE_IPS, resolve  # noqa: E402

_TEXT = {}


def _node_text(node):
    """The nft transaction kube-proxy's nftables mode writes on NODE for DOCS (its first sync)."""
    if node not in _TEXT:
        ip, prefix = NODES[node]
        ruleset, _ = nft_ruleset_for_node(DOCS, node, node_ips=(ip,), cluster_cidr="10.244.0.0/16",
                                          node_pod_cidrs=(f"{prefix}.0/24",), bridge_interface="cni0",
                                          interface_addresses=("127.0.0.1", ip, f"{prefix}.1"),
                                          service_cidrs=("10.96.0.0/12",))
        _TEXT[node] = ruleset.to_transaction()
    return _TEXT[node]


def _nft_node(node, table=None):
    return replace(_node_ns(node), rules="", nft=table if table is not None else _node_text(node))


def _nft_facts(extra=None, route_choices=None):
    spaces = {f"t-{n}": _nft_node(n) for n in NODES}
    spaces.update(extra or {})
    return _facts(spaces, route_choices)


def _explain(src_ns, src_ip, dst, port, protocol="tcp", facts=None):
    request = ex.Request(netns=src_ns, src=src_ip, protocol=protocol, dst=dst, port=port,
                         source_label=src_ns, dest_label=f"{dst}:{port}")
    return ex.explain_packet(facts or _nft_facts(), request)


def _from_pod(pod, dst, port, **kw):
    ip = next(p[2] for p in PODS if p[0] == pod)
    return _explain(f"t-default.{pod}", ip, dst, port, **kw)


def _client(dst, port, name="client", **kw):
    return _explain(f"t-{name}", CLIENTS[name], dst, port, **kw)


def _pods(expl):
    return sorted(c.pod.name for c in expl.endpoints if c.pod)


def _hooks(hops, netns):
    order = []
    for h in hops:
        if h.namespace == netns and h.table and (not order or order[-1] != (h.hook, h.chain)):
            if h.chain in ("filter-prerouting-pre-dnat", "nat-prerouting", "filter-forward", "filter-input",
                           "filter-output-pre-dnat", "nat-output", "filter-output", "nat-postrouting"):
                order.append((h.hook, h.chain))
    return order


# -- the lab, end to end ---------------------------------------------------------------------------

def test_pod_to_cluster_ip_forks_at_numgen_into_every_endpoint():
    expl = _from_pod("curl", "10.96.0.50", 80)
    assert expl.verdict == "delivered" and _pods(expl) == WEB
    assert [round(c.probability, 6) for c in expl.endpoints] == [0.25] * 4
    assert not expl.masquerade and all(c.seen_source == "10.244.1.9" for c in expl.endpoints)
    first = expl.candidates[0].hops
    assert first[3].namespace == "t-node1" and NFT_TABLE in first[3].action        # no iptables rules, the nft table
    rules = [h for h in first if h.kind == "rule"]
    assert (rules[0].hook, rules[0].table, rules[0].chain, rules[0].rule) == (
        "PREROUTING", "ip kube-proxy", "filter-prerouting-pre-dnat", "ct state new jump firewall-check")
    pick = next(h for h in first if h.rule and h.rule.startswith("numgen random mod 4 vmap"))
    assert pick.matched and "numgen random mod 4 is 0 (probability 0.2500): goto endpoint-" in pick.action
    # the kernel's order: pre-DNAT filter (dstnat - 10), nat (dstnat), then FORWARD and POSTROUTING
    assert _hooks(first, "t-node1") == [("PREROUTING", "filter-prerouting-pre-dnat"), ("PREROUTING", "nat-prerouting"),
                                        ("FORWARD", "filter-forward"), ("POSTROUTING", "nat-postrouting")]
    remote = next(c for c in expl.endpoints if c.pod.name == "web-c")
    assert [h.namespace for h in remote.hops if h.kind == "link"] == ["t-default.curl", "t-node1", "t-underlay",
                                                                       "t-node2"]
    assert remote.rule.startswith("ip kube-proxy service-") and remote.rule.endswith(
        "-> 2 : goto endpoint-" + remote.rule.rsplit("goto endpoint-", 1)[1])
    assert remote.shared > 0 and remote.hops[:remote.shared] == first[:remote.shared]


def test_every_hop_quotes_a_rule_of_its_chain():
    for expl in (_from_pod("curl", "10.96.0.50", 80), _client("172.18.0.2", 30080),
                 _from_pod("curl", "10.96.0.54", 80)):
        for cand in expl.candidates:
            for h in cand.hops:
                if h.table == NFT_TABLE and h.rule:
                    table = NftTable.from_text(_node_text(h.where.split("/")[1]))
                    shown = NftFacts.from_table(table).shown[h.chain]
                    assert h.rule in shown, (h.chain, h.rule)


def test_not_masqueraded_names_the_rules_that_did_not_mark():
    reason = _from_pod("curl", "10.96.0.50", 80).endpoints[0].masquerade_reason
    assert reason.startswith("not masqueraded: ip kube-proxy service-")
    assert "ip saddr != 10.244.0.0/16 jump mark-for-masquerade did not match (source 10.244.1.9 is in " \
           "10.244.0.0/16)" in reason
    assert "`mark and 0x00004000 == 0 return` returns (no masquerade mark)" in reason


def test_hairpin_masquerades_the_pod_that_reaches_itself():
    expl = _from_pod("web-a", "10.96.0.50", 80)
    by_pod = {c.pod.name: c for c in expl.endpoints}
    mine = by_pod["web-a"]
    assert mine.masquerade and mine.seen_source == "10.244.1.1"
    assert "marked by ip kube-proxy endpoint-" in mine.masquerade_reason
    assert "by ip kube-proxy masquerading: masquerade" in mine.masquerade_reason
    assert not any(by_pod[p].masquerade for p in ("web-b", "web-c", "web-d"))
    assert any("the port it came in by (hairpin mode)" in h.action for h in mine.hops)


def test_node_to_cluster_ip_runs_output_chains_and_masquerades():
    expl = _explain("t-node1", None, "10.96.0.50", 80)
    assert {c.pod.name: c.seen_source for c in expl.endpoints} == {
        "web-a": "10.244.1.1", "web-b": "10.244.1.1", "web-c": "172.18.0.2", "web-d": "172.18.0.2"}
    first = expl.candidates[0].hops
    assert first[1].kind == "route"
    assert _hooks(first, "t-node1")[:3] == [("OUTPUT", "filter-output-pre-dnat"), ("OUTPUT", "nat-output"),
                                            ("OUTPUT", "filter-output")]


def test_node_to_its_own_endpoint_goes_out_lo_without_nat_on_the_way_back_in():
    (cand,) = _explain("t-node1", None, "10.96.0.1", 443).endpoints
    assert (cand.address, cand.verdict, cand.masquerade, cand.seen_source) == (
        "172.18.0.2:6443", "delivered", True, "172.18.0.2")
    assert not any(h.hook == "PREROUTING" and h.chain == "nat-prerouting" for h in cand.hops)
    assert ("INPUT", "filter-input") in _hooks(cand.hops, "t-node1")


def test_no_endpoints_is_rejected_by_way_of_the_map_element():
    expl = _from_pod("curl", "10.96.0.54", 80)
    assert expl.verdict == "rejected" and expl.endpoints == []
    cand = expl.candidates[0]
    assert cand.end_rule == "ip kube-proxy reject-chain: reject"
    assert cand.reason == ('rejected by ip kube-proxy reject-chain in node/node1; reached by @no-endpoint-services '
                           'element 10.96.0.54 . tcp . 80 "default/nobody": goto reject-chain')
    assert cand.hops[-1].hook == "FORWARD"


def test_a_wrong_port_of_a_cluster_ip_is_rejected_by_cluster_ips_check():
    cand = _from_pod("curl", "10.96.0.50", 81).candidates[0]
    assert cand.verdict == "rejected" and cand.end_rule.startswith("ip kube-proxy cluster-ips-check: ip daddr "
                                                                    "@cluster-ips reject")
    assert "Reject traffic to invalid ports of ClusterIPs" in cand.reason


def test_udp_service():
    expl = _from_pod("curl2", "10.96.0.57", 53, protocol="udp")
    assert [(c.address, c.pod.name) for c in expl.endpoints] == [("10.244.1.4:5353", "web-b")]


def test_node_port_cluster_policy_via_a_node_without_local_endpoints():
    expl = _client("172.18.0.2", 30080)
    assert expl.verdict == "delivered" and _pods(expl) == ["web-c", "web-d"]
    for cand in expl.endpoints:
        assert cand.masquerade and cand.seen_source == "172.18.0.2"
    reply = [h.action for h in expl.endpoints[0].reply]
    assert any("un-MASQUERADE: destination 172.18.0.2 -> 172.18.0.100" in a for a in reply)


def test_node_port_local_policy_keeps_the_client_ip_or_drops():
    served = _client("172.18.0.3", 30081)
    assert served.verdict == "delivered" and _pods(served) == ["solo"]
    assert not served.masquerade and served.endpoints[0].seen_source == "172.18.0.100"
    dropped = _client("172.18.0.2", 30081)
    assert dropped.verdict == "dropped" and dropped.endpoints == []
    cand = dropped.candidates[0]
    assert cand.hops[-1].hook == "INPUT" and cand.end_rule.startswith("ip kube-proxy nodeport-endpoints-check:")
    assert '@no-endpoint-nodeports element tcp . 30081 "default/solo-local": drop' in cand.reason


def test_pod_traffic_to_a_local_policy_node_port_short_circuits():
    expl = _from_pod("curl", "172.18.0.2", 30081)
    assert expl.verdict == "delivered" and _pods(expl) == ["solo"]
    assert any(h.matched and 'comment "short-circuit pod traffic"' in (h.rule or "") for h in expl.candidates[0].hops)


def _sticky_table(client, endpoint):
    table = NftTable.from_text(_node_text("node1"))
    name = next(s for s in table.sets if s.startswith("affinity-") and "default/sticky/" in s and endpoint in s)
    return table.apply_text(f"add element ip kube-proxy {name} {{ {client} }}\n"), name


def test_affinity_sets_of_a_new_client_are_empty():
    expl = _from_pod("curl", "10.96.0.53", 80)
    assert expl.affinity["pinned"] is None and expl.affinity["timeoutSeconds"] == 600
    assert expl.affinity["backend"] == "nftables" and len(expl.affinity["rules"]) == 4
    assert all("ip saddr @affinity-" in r for r in expl.affinity["rules"]) and _pods(expl) == WEB
    update = next(h for h in expl.candidates[0].hops if h.rule and h.rule.startswith("update @affinity-"))
    assert update.action.startswith("records 10.244.1.9 in @affinity-")
    assert "whose set holds it" in ex.format_text(expl)


def test_affinity_pins_a_client_its_set_holds():
    table, name = _sticky_table("10.244.1.9", "10.244.2.3/8080")
    facts = _nft_facts({"t-node1": _nft_node("node1", NftFacts(table, expires={name: {"10.244.1.9": 420.0}}))})
    expl = _from_pod("curl", "10.96.0.53", 80, facts=facts)
    assert expl.affinity["pinned"] == "10.244.2.3:8080" and expl.affinity["list"] == name
    assert name in expl.affinity["pinnedBy"] and expl.affinity["pinnedBy"].startswith("ip kube-proxy service-")
    first = expl.candidates[0]
    assert first.pinned and first.pod.name == "web-c"
    assert _pods(expl) == WEB and all(round(c.probability, 6) == 0.25 for c in expl.endpoints)
    held = next(h for h in first.hops if h.matched and h.rule and h.rule.startswith(f"ip saddr @{name}"))
    assert f"@{name} holds 10.244.1.9 (expires in 420 s): pinned" in held.action
    assert "pinned to 10.244.2.3:8080" in ex.format_text(expl)
    # another client is not pinned
    other = _from_pod("curl2", "10.96.0.53", 80, facts=facts)
    assert other.affinity["pinned"] is None


def test_load_balancer_source_ranges_accept_inside_and_drop_outside():
    choice = {("t-client", "172.18.255.200"): "172.18.0.3"}
    inside = _client("172.18.255.200", 80, facts=_nft_facts(route_choices=choice))
    assert inside.verdict == "delivered" and _pods(inside) == ["web-a", "web-c"]
    assert all(c.masquerade for c in inside.endpoints)
    for outside in (_client("172.18.255.200", 80, name="outsider"), _from_pod("curl", "172.18.255.200", 80)):
        assert outside.verdict == "dropped" and outside.endpoints == []
        cand = outside.candidates[0]
        assert cand.end_rule.startswith("ip kube-proxy firewall-") and cand.end_rule.endswith(
            "ip saddr != { 172.18.0.100/32 } drop")
        assert cand.hops[-1].chain.startswith("firewall-") and cand.hops[-1].hook == "PREROUTING"


def test_external_ip():
    expl = _client("172.18.254.10", 8081)
    assert expl.verdict == "delivered" and _pods(expl) == ["web-a"]
    assert expl.endpoints[0].masquerade and expl.endpoints[0].seen_source == "172.18.0.3"


def test_pod_to_pod_is_bridged_through_the_nodes_chains():
    expl = _from_pod("curl", "10.244.1.3", 8080)
    assert expl.verdict == "delivered" and not expl.masquerade
    assert ("FORWARD", "filter-forward") in _hooks(expl.candidates[0].hops, "t-node1")


def test_json_and_text_keep_their_shape():
    expl = _client("172.18.0.2", 30080)
    data = ex.to_json(expl)
    assert data["verdict"] == "delivered" and data["masquerade"] is True
    assert [e["pod"] for e in data["endpoints"]] == ["web-c", "web-d"]
    assert {e["probability"] for e in data["endpoints"]} == {0.5}
    nft_hops = [h for h in data["hops"] if h["table"] == NFT_TABLE and h["kind"] == "rule"]
    assert nft_hops and all(h["chain"] and h["rule"] and h["hook"] for h in nft_hops)
    text = ex.format_text(expl)
    assert "[node/node1] ip kube-proxy nat-prerouting: jump services" in text
    assert "path to 10.244.2.4:8080 (50.0%): as above to step" in text


# -- NAT and priorities beside iptables ------------------------------------------------------------

IPTABLES_NAT = """*nat
:PREROUTING ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
-A PREROUTING -d 10.96.0.50/32 -p tcp -m tcp --dport 80 -j DNAT --to-destination 10.244.2.4:8080
COMMIT
*raw
:PREROUTING ACCEPT [0:0]
-A PREROUTING -p tcp -m tcp --dport 80 -j TRACE
COMMIT
*mangle
:PREROUTING ACCEPT [0:0]
-A PREROUTING -p tcp -j MARK --set-xmark 0x1/0xff
COMMIT
"""


def test_iptables_and_nft_chains_run_in_priority_order_and_the_first_nat_binding_wins():
    node = replace(_nft_node("node1"), rules=IPTABLES_NAT)
    expl = _from_pod("curl", "10.96.0.50", 80, facts=_nft_facts({"t-node1": node}))
    (cand,) = expl.endpoints                              # iptables' nat DNATed: nft's nat-prerouting is skipped
    assert cand.address == "10.244.2.4:8080"
    order = []
    for h in cand.hops:
        what = h.table if h.table != NFT_TABLE else h.chain
        if h.namespace == "t-node1" and h.hook == "PREROUTING" and h.table and (not order or order[-1] != what) \
                and (h.table != NFT_TABLE or h.chain.startswith(("filter-", "nat-"))):
            order.append(what)
    # raw -300, mangle -150, nft filter-prerouting-pre-dnat -110, then the NAT hook (-100)
    assert order == ["raw", "mangle", "filter-prerouting-pre-dnat", "nat"]
    assert not any(h.chain == "nat-prerouting" for h in cand.hops if h.namespace == "t-node1")


def test_an_unknown_rule_piece_does_not_match_and_is_warned_about():
    text = _node_text("node1").replace("add rule ip kube-proxy nat-prerouting jump services",
                                       "add rule ip kube-proxy nat-prerouting meta nfproto ipv4 jump services")
    expl = _from_pod("curl", "10.96.0.50", 80, facts=_nft_facts({"t-node1": _nft_node("node1", text)}))
    assert expl.endpoints == [] or all(c.address is None or c.address.startswith("10.96.") for c in expl.candidates)
    assert any("`meta nfproto ipv4 jump services` is not a piece kube-proxy writes" in w for w in expl.warnings)


def test_rule_pieces_reads_both_spellings():
    assert [n for n, _ in rule_pieces("ip daddr @nodeport-ips meta l4proto . th dport vmap @service-nodeports")] == [
        "daddr_set", "port_vmap"]
    assert [n for n, _ in rule_pieces("ip saddr != { 1.2.3.4 , 5.6.7.0/24 } drop")] == ["saddr_anon", "verdict"]
    assert [n for n, _ in rule_pieces("mark and 0x4000 == 0 return")] == ["mark_test", "verdict"]
    assert [n for n, _ in rule_pieces("meta mark set meta mark | 0x4000")] == ["unknown"]   # nft's own: spelled out
    assert [n for n, _ in rule_pieces("meta l4proto tcp dnat to 10.0.0.1:80")] == ["l4proto", "dnat"]


LISTED_JSON = {"nftables": [
    {"metainfo": {"version": "1.0.6", "json_schema_version": 1}},
    {"table": {"family": "ip", "name": "kube-proxy", "handle": 1}},
    {"set": {"family": "ip", "name": "affinity-X-default/web/tcp/__10.244.2.3/80", "table": "kube-proxy",
             "type": "ipv4_addr", "flags": ["timeout"], "timeout": 600, "size": 65535,
             "elem": [{"elem": {"val": "10.244.1.5", "expires": 598}}]}},
    {"map": {"family": "ip", "name": "service-ips", "table": "kube-proxy", "type": ["ipv4_addr", "inet_proto",
                                                                                  "inet_service"], "map": "verdict",
             "elem": [[{"concat": ["10.96.0.9", "tcp", 80]}, {"goto": {"target": "service-X-default/web/tcp/"}}]]}},
    {"chain": {"family": "ip", "table": "kube-proxy", "name": "nat-prerouting", "type": "nat", "hook": "prerouting",
               "prio": -100, "policy": "accept"}},
    {"chain": {"family": "ip", "table": "kube-proxy", "name": "nat-output", "type": "nat", "hook": "output",
               "prio": -100, "policy": "accept"}},
    {"chain": {"family": "ip", "table": "kube-proxy", "name": "services"}},
    {"chain": {"family": "ip", "table": "kube-proxy", "name": "mark-for-masquerade"}},
    {"chain": {"family": "ip", "table": "kube-proxy", "name": "service-X-default/web/tcp/"}},
    {"chain": {"family": "ip", "table": "kube-proxy", "name": "endpoint-X-default/web/tcp/__10.244.2.3/80"}},
]}
LISTING = """table ip kube-proxy {
\tchain nat-prerouting {
\t\ttype nat hook prerouting priority dstnat; policy accept;
\t\tjump services
\t}

\tchain nat-output {
\t\ttype nat hook output priority -100; policy accept;
\t\tjump services
\t}

\tchain services {
\t\tip daddr . meta l4proto . th dport vmap @service-ips
\t}

\tchain mark-for-masquerade {
\t\tmeta mark set meta mark | 0x00004000
\t}

\tchain service-X-default/web/tcp/ {
\t\tip daddr 10.96.0.9 ip saddr != 10.244.0.0/16 jump mark-for-masquerade
\t\tip saddr @affinity-X-default/web/tcp/__10.244.2.3/80 goto endpoint-X-default/web/tcp/__10.244.2.3/80
\t\tnumgen random mod 1 vmap { 0 : goto endpoint-X-default/web/tcp/__10.244.2.3/80 }
\t}

\tchain endpoint-X-default/web/tcp/__10.244.2.3/80 {
\t\tip saddr 10.244.2.3 jump mark-for-masquerade comment "hairpin"
\t\tupdate @affinity-X-default/web/tcp/__10.244.2.3/80 { ip saddr }
\t\tmeta l4proto tcp dnat to 10.244.2.3:80
\t}
}
"""


def test_the_live_listing_matches_in_kube_proxys_spelling_and_quotes_nfts():
    facts = NftFacts.from_listing(LISTED_JSON, LISTING)
    assert facts.table.rules("mark-for-masquerade")[0].rule == "mark set mark or 0x00004000"
    assert facts.shown["mark-for-masquerade"] == ["meta mark set meta mark | 0x00004000"]
    endpoint = "endpoint-X-default/web/tcp/__10.244.2.3/80"
    assert facts.table.rules(endpoint)[0].comment == "hairpin"
    assert facts.shown[endpoint][0] == 'ip saddr 10.244.2.3 jump mark-for-masquerade comment "hairpin"'
    assert facts.expires == {"affinity-X-default/web/tcp/__10.244.2.3/80": {"10.244.1.5": 598.0}}
    assert facts.table.find_element("service-ips", "10.96.0.9", "tcp", "80").value == (
        "goto service-X-default/web/tcp/",)
    assert [c.name for c in facts.base_chains("PREROUTING")] == ["nat-prerouting"]
    # walked: web-a (10.244.1.3) is not in the set, so numgen picks; a client the set holds is pinned
    on_node1 = _nft_facts({"t-node1": replace(_nft_node("node1"), nft=facts)})
    (cand,) = _from_pod("web-a", "10.96.0.9", 80, facts=on_node1).endpoints
    assert cand.address == "10.244.2.3:80" and not cand.pinned
    held = json.loads(json.dumps(LISTED_JSON).replace("10.244.1.5", "10.244.1.3"))
    pinned = _nft_facts({"t-node1": replace(_nft_node("node1"), nft=NftFacts.from_listing(held, LISTING))})
    expl = _from_pod("web-a", "10.96.0.9", 80, facts=pinned)
    assert expl.candidates[0].pinned and expl.affinity["pinned"] == "10.244.2.3:80"
    assert any(h.matched and "holds 10.244.1.3 (expires in 598 s): pinned" in h.action for h in expl.candidates[0].hops)
    # from the node: marked by the rule nft lists in its own spelling
    (cand,) = _explain("t-node1", None, "10.96.0.9", 80, facts=on_node1).endpoints
    mark = next(h for h in cand.hops if h.chain == "mark-for-masquerade" and h.kind == "rule")
    assert (mark.rule, mark.action) == ("meta mark set meta mark | 0x00004000", "MARK 0x0 -> 0x4000")


# -- upstream's packet flows -----------------------------------------------------------------------

def _ipv4(flow):
    return all(":" not in resolve(flow[k]) for k in ("source", "dest"))


FLOWS = [p for p in _flow_params() if _ipv4(p.values[2])]


def _walk_one_node(table, source, protocol, dest, port):
    """The flow through one node's hooks (as upstream's tracer: arriving from outside, PREROUTING, then
    INPUT or FORWARD and POSTROUTING): (output as upstream writes it, marked for masquerade). The node's
    addresses and routes are those of DEST's family."""
    ipv6 = ":" in dest
    local = [ip for ip in TEST_NODE_IPS if (":" in ip) == ipv6]
    routes = tuple(ex.Route(dst=ip, type="local", dev="eth0", table="local", prefsrc=ip) for ip in local) + (
        (ex.Route(dst="::1", type="local", dev="lo", table="local"),
         ex.Route(dst="::/0", gateway="2001:db8::ffff", dev="eth0")) if ipv6 else
        (ex.Route(dst="127.0.0.0/8", type="local", dev="lo", table="local"),
         ex.Route(dst="0.0.0.0/0", gateway="192.168.0.1", dev="eth0")))
    node = ex.Netns(name="n", routes=routes, forwarding=True, nft=NftFacts.from_table(table))
    facts = ex.Facts(namespaces={"n": node}, labels={"n": "node/test-node"}, owners={})
    walker = ex._Walker(facts, ex.Request(netns="n", src=source, protocol=protocol, dst=dest, port=port))
    branch = ex._Branch(pkt=ex._Packet(src=source, dst=dest, dport=port, proto=protocol))
    walker.enter(branch, "n")
    outputs, marked = [], False
    for b in walker.hook(branch, "n", "PREROUTING", "eth0", None):
        marked = marked or any(m[2] for m in b.marks)
        ends = [b]
        if not b.end:
            is_local = walker.addr_type("n", b.pkt.dst) == "LOCAL"
            ends = walker.hook(b, "n", "INPUT" if is_local else "FORWARD", "eth0", None if is_local else "eth0")
            if not is_local:
                after = []
                for e in ends:
                    if e.end:
                        after.append(e)
                        continue
                    (out,) = walker.hook(e, "n", "POSTROUTING", None, "eth0")
                    masqueraded = any(n.kind == "MASQUERADE" for n in out.nats)
                    assert masqueraded == any(m[2] for m in e.marks)    # the mark becomes a masquerade
                    after.append(out)
                ends = after
        for e in ends:
            dnat = next((n.after for n in e.nats if n.kind == "DNAT"), None)
            word = {"dropped": "DROP", "rejected": "REJECT"}.get(e.end[0] if e.end else "")
            for out in ([dnat] if dnat else []) + ([word] if word else []):
                if out not in outputs:
                    outputs.append(out)
    assert not walker.warnings, walker.warnings
    return ", ".join(outputs), marked


@pytest.mark.parametrize("case, phase, flow", FLOWS)
def test_upstream_packet_flow(case, phase, flow):
    table = _flow_table(case, phase)
    got = _walk_one_node(table, resolve(flow["source"]), (flow.get("protocol") or "tcp").lower(),
                         resolve(flow["dest"]), flow["port"])
    assert got == (flow["output"], bool(flow.get("masq", False)))


def test_upstream_flows_are_many():
    assert len(FLOWS) >= 150


FLOWS6 = [p for p in _flow_params() if not _ipv4(p.values[2])]


@pytest.mark.parametrize("case, phase, flow", FLOWS6)
def test_upstream_ipv6_packet_flow(case, phase, flow):
    table = _flow_table(case, phase)
    assert table.family == "ip6"
    got = _walk_one_node(table, resolve(flow["source"]), (flow.get("protocol") or "tcp").lower(),
                         resolve(flow["dest"]), flow["port"])
    assert got == (flow["output"], bool(flow.get("masq", False)))


def test_upstream_ipv6_flows_are_there():
    assert len(FLOWS6) >= 8


# -- IPv6: the lab's `ip6 kube-proxy` tables ------------------------------------------------------

_TEXT6 = {}


def _node_text6(node):
    """The nft transaction of NODE's IPv6 proxier (table ip6 kube-proxy) for DOCS6."""
    if node not in _TEXT6:
        ip, prefix = NODES6[node]
        ruleset, _ = nft_ruleset_for_node(DOCS6, node, family="IPv6", node_ips=(ip,), cluster_cidr="fd00:10:244::/56",
                                          node_pod_cidrs=(f"{prefix}::/64",), bridge_interface="cni0",
                                          interface_addresses=("::1", ip, f"{prefix}::1"),
                                          service_cidrs=("fd00:10:96::/112",))
        _TEXT6[node] = ruleset.to_transaction()
    return _TEXT6[node]


def _nft_node6(node, table=None):
    return replace(_node_ns6(node), rules="", nft=table if table is not None else _node_text6(node))


def _explain6(src_ns, src_ip, dst, port, facts=None):
    request = ex.Request(netns=src_ns, src=src_ip, protocol="tcp", dst=dst, port=port, source_label=src_ns,
                         dest_label=ex.host_port(dst, port))
    return ex.explain_packet(facts or _facts6({f"t-{n}": _nft_node6(n) for n in NODES6}), request)


def _from_pod6(pod, dst, port, **kw):
    ip = next(p[2] for p in PODS6 if p[0] == pod)
    return _explain6(f"t-default.{pod}", ip, dst, port, **kw)


def test_ipv6_pod_to_cluster_ip_walks_the_ip6_kube_proxy_table():
    expl = _from_pod6("curl", "fd00:10:96::50", 80)
    assert expl.verdict == "delivered" and _pods(expl) == WEB
    assert [c.address for c in expl.endpoints] == [f"[{ip}]:8080" for p, _, ip in PODS6 if p in WEB]
    assert not expl.masquerade and all(c.seen_source == "fd00:10:244:1::9" for c in expl.endpoints)
    first = expl.candidates[0].hops
    assert {h.table for h in first if h.kind == "rule"} == {NFT_TABLE6}
    assert first[3].action == ("no ip6tables rules here; kube-proxy's are the nft table ip6 kube-proxy "
                               "(nftables mode)")
    dnat = next(h for h in first if h.matched and "DNAT" in h.action)
    assert dnat.rule == "meta l4proto tcp dnat to [fd00:10:244:1::3]:8080"
    assert dnat.action == "DNAT [fd00:10:96::50]:80 -> [fd00:10:244:1::3]:8080"
    assert expl.endpoints[0].rule.startswith("ip6 kube-proxy service-")
    assert "ip6 saddr != fd00:10:244::/56 jump mark-for-masquerade did not match (source fd00:10:244:1::9 is in " \
           "fd00:10:244::/56)" in expl.endpoints[0].masquerade_reason
    assert _hooks(first, "t-node1") == [("PREROUTING", "filter-prerouting-pre-dnat"), ("PREROUTING", "nat-prerouting"),
                                        ("FORWARD", "filter-forward"), ("POSTROUTING", "nat-postrouting")]


def test_ipv6_every_hop_quotes_a_rule_of_its_chain():
    for expl in (_from_pod6("curl", "fd00:10:96::50", 80), _from_pod6("curl", "fd00:10:96::54", 80),
                 _explain6("t-client", CLIENTS6["client"], NODES6["node1"][0], 30080)):
        for cand in expl.candidates:
            for h in cand.hops:
                if h.table == NFT_TABLE6 and h.rule:
                    shown = NftFacts.from_text(_node_text6(h.where.split("/")[1]), "ip6").shown[h.chain]
                    assert h.rule in shown, (h.chain, h.rule)


def test_ipv6_node_port_is_masqueraded_to_the_nodes_ipv6_address():
    expl = _explain6("t-client", CLIENTS6["client"], NODES6["node1"][0], 30080)
    assert expl.verdict == "delivered" and _pods(expl) == ["web-c", "web-d"]
    for cand in expl.endpoints:
        assert cand.masquerade and cand.seen_source == NODES6["node1"][0]
        assert "by ip6 kube-proxy masquerading: masquerade" in cand.masquerade_reason
    assert ex.to_json(expl)["family"] == "IPv6"


def test_ipv6_no_endpoints_is_rejected_with_icmpv6_and_local_policy_drops():
    cand = _from_pod6("curl", "fd00:10:96::54", 80).candidates[0]
    assert cand.verdict == "rejected" and cand.end_rule == "ip6 kube-proxy reject-chain: reject"
    assert cand.reason == ('rejected by ip6 kube-proxy reject-chain in node/node1; reached by @no-endpoint-services '
                           'element fd00:10:96::54 . tcp . 80 "default/nobody": goto reject-chain')
    assert any(h.matched and h.action == "REJECT with icmpv6 type port-unreachable" for h in cand.hops)
    dropped = _explain6("t-client", CLIENTS6["client"], NODES6["node1"][0], 30081).candidates[0]
    assert dropped.verdict == "dropped" and dropped.end_rule.startswith("ip6 kube-proxy nodeport-endpoints-check:")


def test_ipv6_affinity_pins_a_client_its_ip6_set_holds():
    table = NftTable.from_text(_node_text6("node1"), "ip6", "kube-proxy")
    name = next(s for s in table.sets if s.startswith("affinity-") and "default/sticky/" in s and "2..3/8080" in s)
    table = table.apply_text(f"add element ip6 kube-proxy {name} {{ fd00:10:244:1::9 }}\n")
    facts = _facts6({"t-node1": _nft_node6("node1", NftFacts(table)), "t-node2": _nft_node6("node2")})
    expl = _from_pod6("curl", "fd00:10:96::53", 80, facts=facts)
    assert expl.affinity["pinned"] == "[fd00:10:244:2::3]:8080" and expl.affinity["pinnedBy"].startswith(
        "ip6 kube-proxy service-")
    other = _from_pod6("curl2", "fd00:10:96::53", 80, facts=facts)      # a client the set does not hold
    assert other.affinity["pinned"] is None
    assert "(update @affinity-... { ip6 saddr })" in ex.format_text(other)
