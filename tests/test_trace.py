"""netlab trace's pure parts, on what real traces read (no root).

tests/golden/trace/NAME.json are captures of real traces (tests/golden/trace/record.py made them):
the `nft -a monitor` lines of every namespace on the path, `nft -a list ruleset`, `iptables-nft-save`
and `conntrack -L` of the namespaces with rules, the socket's outcome, the explanation the trace
compared with (its dataclasses as dicts) and `to_json`'s trace keys of the live result. The parsers
and the comparison are checked on them; a fake Machine replays them through `capture`. nft-NAME.json
come from a lab in kube-proxy's nftables mode (its rules: the nft table `ip kube-proxy`).
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from netlab import conntrack as conntrack_mod
from netlab import explain as ex
from netlab import trace as tr

GOLDEN = Path(__file__).parent / "golden" / "trace"
SCENARIOS = sorted(p.stem for p in GOLDEN.glob("*.json"))


def _known(cls, data: dict) -> dict:
    names = {f.name for f in dataclasses.fields(cls)}
    return {k: v for k, v in data.items() if k in names}


def _hop(data: dict) -> ex.Hop:
    return ex.Hop(**_known(ex.Hop, data))


def _candidate(data: dict) -> ex.Candidate:
    data = dict(data, hops=[_hop(h) for h in data["hops"]], reply=[_hop(h) for h in data.get("reply", [])],
                nats=[ex.Nat(**_known(ex.Nat, n)) for n in data["nats"]],
                pod=ex.PodRef(**_known(ex.PodRef, data["pod"])) if data.get("pod") else None)
    return ex.Candidate(**_known(ex.Candidate, data))


def _explanation(data: dict) -> ex.Explanation:
    rest = {k: v for k, v in data.items() if k not in ("request", "candidates")}
    return ex.Explanation(request=ex.Request(**_known(ex.Request, data["request"])),
                          candidates=[_candidate(c) for c in data["candidates"]], **_known(ex.Explanation, rest))


def golden(name: str):
    """(explanation, capture, the live result's trace keys, lab) of tests/golden/trace/NAME.json."""
    data = json.loads((GOLDEN / f"{name}.json").read_text())
    return _explanation(data["explanation"]), tr.Capture(**_known(tr.Capture, data["capture"])), data["result"], \
        data["lab"]


def _trace_lines(lines):
    return [line for line in lines if line.startswith("trace id")]


# -- nft monitor output -------------------------------------------------------------------------

def test_parse_packet_reads_the_four_tuple_and_the_device_of_a_tcp_packet_line():
    line = ('iif "eth0" ether saddr 16:cb:fa:15:75:94 ether daddr b6:b1:4e:ec:62:f7 ip saddr 172.18.0.100 '
            "ip daddr 172.18.0.2 ip dscp cs0 ip ecn not-ect ip ttl 64 ip id 64459 ip length 60 tcp sport 55531 "
            "tcp dport 30082 tcp flags == syn tcp window 64240 ")
    packet = tr.parse_packet(line)
    assert packet == tr.Packet("tcp", "172.18.0.100", 55531, "172.18.0.2", 30082, iif="eth0")
    assert packet.text() == "tcp 172.18.0.100:55531 -> 172.18.0.2:30082 in eth0"


def test_parse_packet_reads_udp_with_a_payload_and_a_raw_link_header():
    line = ('oif "cni0" @ll,0,112 0xbadc8c2d261bfae58c0f1b4b0800 ip saddr 10.244.1.4 ip daddr 10.244.1.3 '
            "ip ttl 64 udp sport 58639 udp dport 5353 udp length 21 @th,64,96 0x6e65746c6162207472616365 ")
    assert tr.parse_packet(line) == tr.Packet("udp", "10.244.1.4", 58639, "10.244.1.3", 5353, oif="cni0")


def test_parse_packet_gives_none_for_a_packet_without_ports():
    assert tr.parse_packet('iif "eth0" ip saddr 10.0.0.1 ip daddr 10.0.0.2 icmp type echo-request') is None
    assert tr.parse_packet('iif "eth0" ip6 saddr ::1 ip6 daddr ::2 tcp sport 1 tcp dport 2') is None


def test_parse_monitor_keeps_trace_events_and_skips_ruleset_changes():
    _, cap, _, lab = golden("node-port-masquerade")
    lines = cap.lines[f"{lab}-node1"]
    events = tr.parse_monitor(lines, "ns")
    assert len(events) == len(_trace_lines(lines)) and len(lines) > len(events)
    assert {e.namespace for e in events} == {"ns"}
    assert [e.kind for e in events if e.table == "netlab-trace"] == ["packet", "rule", "rule", "policy"]
    assert [(e.table, e.chain) for e in events if e.kind == "packet"] == [
        ("netlab-trace", "pre"), ("nat", "PREROUTING"), ("filter", "FORWARD"), ("nat", "POSTROUTING")]


def test_parse_monitor_reads_a_rule_without_its_counter_with_its_handle_and_verdict():
    _, cap, _, lab = golden("node-port-masquerade")
    events = tr.parse_monitor(cap.lines[f"{lab}-node1"], f"{lab}-node1")
    dnat = next(e for e in events if e.kind == "rule" and e.chain.startswith("KUBE-SEP-"))
    assert (dnat.family, dnat.table, dnat.handle, dnat.verdict) == ("ip", "nat", 61, "accept")
    assert dnat.text == "meta l4proto tcp dnat to 10.244.2.3:80"
    jump = next(e for e in events if e.kind == "rule" and e.chain == "PREROUTING")
    assert (jump.text, jump.verdict, jump.handle) == ("jump KUBE-SERVICES", "jump KUBE-SERVICES", 21)
    assert jump.packet is None and jump.trace_id == dnat.trace_id == "3628c15d"


def test_parse_monitor_reads_an_unknown_rule_by_its_handle():
    (event,) = tr.parse_monitor(["trace id a178bf39 ip netlab-trace out unknown rule handle 7 (verdict continue)"],
                                "ns")
    assert (event.kind, event.handle, event.verdict, event.text) == ("rule", 7, "continue", None)


def test_parse_monitor_takes_a_policys_verdict_without_the_mark_and_a_verdict_line():
    events = tr.parse_monitor(["trace id 1 ip filter FORWARD policy accept meta mark 0x00004000",
                               "trace id 1 ip filter FORWARD policy drop ",
                               "trace id 2 inet t c verdict jump KUBE-X",
                               "trace id 3 ip t c verdict drop"], "ns")
    assert [(e.kind, e.family, e.verdict) for e in events] == [
        ("policy", "ip", "accept"), ("policy", "ip", "drop"), ("verdict", "inet", "jump KUBE-X"),
        ("verdict", "ip", "drop")]


# -- handle -> iptables-save line ---------------------------------------------------------------

def test_parse_listing_gives_each_chains_rules_in_order_with_their_handles():
    _, cap, _, lab = golden("node-port-masquerade")
    chains = tr.parse_listing(cap.listings[f"{lab}-node1"])
    assert chains[("ip", "filter", "FORWARD")] == [
        (14, "ct state new jump KUBE-PROXY-FIREWALL"), (15, "jump KUBE-FORWARD"),
        (16, "ct state new jump KUBE-SERVICES"), (17, "ct state new jump KUBE-EXTERNAL-SERVICES")]
    assert chains[("ip", "filter", "KUBE-NODEPORTS")] == []
    assert ("ip", "netlab-trace", "pre") in chains          # listed; rule_map leaves it out
    assert all(family == "ip" for family, _, _ in chains)


def test_parse_listing_is_not_fooled_by_braces_in_comments_or_by_sets():
    listing = ('table ip t { # handle 1\n'
               '\tset s { # handle 9\n\t\ttype ipv4_addr\n\t\telements = { 10.0.0.1 }\n\t}\n'
               '\tchain c { # handle 1\n'
               '\t\tip saddr @s counter packets 1 bytes 2 comment "a { b" accept # handle 3\n'
               '\t\tcomment "} }" drop # handle 4\n'
               '\t}\n}\n'
               'table inet u { # handle 2\n\tchain d { # handle 1\n\t\taccept # handle 2\n\t}\n}\n')
    assert tr.parse_listing(listing) == {
        ("ip", "t", "c"): [(3, 'ip saddr @s comment "a { b" accept'), (4, 'comment "} }" drop')],
        ("inet", "u", "d"): [(2, "accept")]}


def test_rule_map_pairs_every_kube_proxy_rule_handle_with_its_iptables_save_line():
    _, cap, _, lab = golden("node-port-masquerade")
    ns = f"{lab}-node1"
    rules = tr.rule_map(cap.listings[ns], cap.saves[ns])
    assert rules.problems == []
    assert rules.lines[("nat", "KUBE-SEP-LCMHDT6ZYP45KAOY", 61)] == (
        '-A KUBE-SEP-LCMHDT6ZYP45KAOY -p tcp -m comment --comment "default/solo-np" -m tcp '
        "-j DNAT --to-destination 10.244.2.3:80")
    saved = [line for line in cap.saves[ns].splitlines() if line.startswith("-A ")]
    assert sorted(rules.lines.values()) == sorted(saved)               # every line, once
    assert not any(table == "netlab-trace" for table, _, _ in rules.lines)


def test_rule_map_reports_a_chain_whose_rule_count_differs_and_maps_none_of_it():
    _, cap, _, lab = golden("rejected")
    ns = f"{lab}-node1"
    saved = cap.saves[ns].replace("-A FORWARD -m comment --comment \"kubernetes forwarding rules\" -j KUBE-FORWARD\n",
                                  "", 1)
    assert saved != cap.saves[ns]
    rules = tr.rule_map(cap.listings[ns], saved)
    assert rules.problems == ["filter FORWARD has 4 rules in nft and 3 in iptables-save"]
    assert not any(chain == "FORWARD" and table == "filter" for table, chain, _ in rules.lines)
    assert rules.texts[("filter", "FORWARD", 15)] == "jump KUBE-FORWARD"


def test_rule_map_refuses_a_line_whose_jump_target_is_not_the_rules():
    _, cap, _, lab = golden("rejected")
    ns = f"{lab}-node1"
    saved = cap.saves[ns].replace("-j KUBE-EXTERNAL-SERVICES", "-j KUBE-NODEPORTS", 1)
    rules = tr.rule_map(cap.listings[ns], saved)
    assert len(rules.problems) == 1 and rules.problems[0].startswith("filter INPUT: nft rule 13 ")
    assert ("filter", "INPUT", 13) not in rules.lines and ("filter", "INPUT", 12) in rules.lines


def test_rule_map_says_when_iptables_save_output_cannot_be_read():
    _, cap, _, lab = golden("rejected")
    rules = tr.rule_map(cap.listings[f"{lab}-node1"], "*nat\n-A PREROUTING -j X\n")       # no COMMIT
    assert rules.lines == {} and rules.problems[0].startswith("its iptables-save output could not be read")


# -- which events are the flow's ----------------------------------------------------------------

def _entries(cap):
    return [e for text in cap.conntrack.values() for e in conntrack_mod.parse(text)]


def test_flow_tuples_follow_the_dnat_then_the_masquerade_through_conntrack():
    _, cap, _, _ = golden("node-port-masquerade")
    first = ("172.18.0.100", 55531, "172.18.0.2", 30082)
    stages, seen = tr.flow_tuples(first, _entries(cap))
    assert stages == [first, ("172.18.0.2", 5013, "10.244.2.3", 80)]
    assert ("172.18.0.100", 55531, "10.244.2.3", 80) in seen                 # DNAT done, not yet SNAT
    # the earlier trace's TIME_WAIT entry and the kubelet's probes are other connections
    assert not any(t[1] in (41729, 55988, 33944) for t in seen)


def test_flow_tuples_of_a_rejected_connection_are_the_one_sent():
    _, cap, _, _ = golden("rejected")
    first = ("10.244.1.4", cap.sport, "10.104.73.110", 80)
    assert tr.flow_tuples(first, _entries(cap)) == ([first], {first})


def test_visits_of_start_at_our_chain_and_keep_the_events_after_it():
    _, cap, _, lab = golden("node-port-masquerade")
    first = ("172.18.0.100", 55531, "172.18.0.2", 30082)
    _, seen = tr.flow_tuples(first, _entries(cap))
    (visit,) = tr.visits_of(tr.parse_monitor(cap.lines[f"{lab}-node1"], "n1"), lambda t: t in seen)
    assert (visit.namespace, visit.hook, visit.packet.tuple) == ("n1", "pre", first)
    assert all(e.table != "netlab-trace" for e in visit.events)
    assert [e.chain for e in visit.events if e.kind == "packet"] == ["PREROUTING", "FORWARD", "POSTROUTING"]
    underlay = tr.visits_of(tr.parse_monitor(cap.lines[f"{lab}-underlay"], "u"), lambda t: t in seen)
    assert [v.packet.tuple for v in underlay] == [first, ("172.18.0.2", 5013, "10.244.2.3", 80)]  # both ways


def test_visits_of_drop_a_retransmission_and_packets_of_other_flows():
    _, cap, _, lab = golden("cluster-ip-across-nodes")
    lines = _trace_lines(cap.lines[f"{lab}-node2"])
    again = [line.replace(line.split()[2], "0badcafe", 1) for line in lines]          # a retransmitted SYN
    probe = ['trace id 11111111 ip netlab-trace pre packet: iif "cni0" ip saddr 10.244.2.1 ip daddr 10.244.2.3 '
             "tcp sport 33000 tcp dport 80 tcp flags == syn",
             "trace id 11111111 ip netlab-trace pre unknown rule handle 6 (verdict continue)"]
    ours = {("10.244.1.4", 41729, "10.244.2.3", 80)}
    visits = tr.visits_of(tr.parse_monitor(lines + probe + again, "n2"), lambda t: t in ours)
    assert len(visits) == 1 and visits[0].packet.sport == 41729
    assert len(visits[0].events) == len(tr.visits_of(tr.parse_monitor(lines, "n2"), lambda t: t in ours)[0].events)


def test_kernel_path_orders_visits_by_nat_stage_then_by_explains_namespaces():
    expl, cap, _, lab = golden("node-port-masquerade")
    result = tr.analyse(expl, cap)
    seen = [(h.where, h.packet.split(":")[0]) for h in result.kernel if h.kind == "packet"]
    assert seen == [("client/client", "leaves"), ("underlay", "arrives"), ("node/node1", "arrives"),
                    ("underlay", "arrives"), ("node/node2", "arrives"), ("pod/solo", "arrives")]
    # the underlay saw the masqueraded packet after node1 sent it, though its events came first
    assert [h.packet for h in result.kernel if h.kind == "packet" and h.where == "underlay"][1] == \
        "arrives: tcp 172.18.0.2:5013 -> 10.244.2.3:80 in br0"
    assert all(h.rule is not None for h in result.kernel if h.kind == "rule")


def test_kernel_path_keeps_nfts_text_for_a_rule_iptables_save_does_not_have():
    visit = tr.Visit("n", "pre", tr.Packet("tcp", "a", 1, "b", 2), [
        tr.TraceEvent("n", "1", "ip", "nat", "PREROUTING", "rule", "jump X", 5, "jump X"),
        tr.TraceEvent("n", "1", "inet", "mine", "c", "rule", "accept", 2, "accept")])
    rules = tr.RuleMap(lines={("nat", "PREROUTING", 5): "-A PREROUTING -j X"})
    hops = tr.kernel_path([visit], {"n": rules}, lambda t: 0, ["n"], {"n": "node/n"})
    assert [h.kind for h in hops] == ["packet", "rule", "rule"]
    assert hops[1].key() == ("n", "nat", "PREROUTING", "-A PREROUTING -j X")
    assert hops[2].key() == ("n", "inet mine", "c", "nft rule 2: accept")


# -- comparing ----------------------------------------------------------------------------------

def test_first_path_difference_is_none_for_the_same_steps_and_the_index_of_the_first_other():
    expl, cap, _, _ = golden("cluster-ip-across-nodes")
    result = tr.analyse(expl, cap)
    explained = tr.compared_explain_hops(result.candidate)
    traced = tr.compared_kernel_hops(result.kernel)
    assert tr.first_path_difference(explained, traced) is None and len(traced) == 22
    assert tr.first_path_difference(explained, traced[:-1]) == 21              # the kernel's path ends early
    assert tr.first_path_difference(explained[:3], traced) == 3
    other = list(traced)
    other[4] = dataclasses.replace(other[4], rule="-A FORWARD -j SOMETHING-ELSE")
    assert tr.first_path_difference(explained, other) == 4


def test_chosen_endpoint_is_conntracks_dnat_else_the_dnat_rule_else_the_destination():
    expl, cap, _, _ = golden("cluster-ip-across-nodes")
    kernel = tr.analyse(expl, cap).kernel
    sent = ("10.244.1.4", 41729, "10.102.68.42", 80)
    assert tr.chosen_endpoint(kernel, [sent, ("10.244.1.4", 41729, "10.244.2.3", 80)], "established") == \
        "10.244.2.3:80"
    assert tr.chosen_endpoint(kernel, [sent], "established") == "10.244.2.3:80"          # from the DNAT rule
    direct = ("10.244.1.4", 41729, "10.244.2.3", 80)
    assert tr.chosen_endpoint([], [direct], "established") == "10.244.2.3:80"
    assert tr.chosen_endpoint([], [direct], "no answer") is None


def test_chosen_endpoint_is_none_for_a_packet_a_rule_dropped():
    for name in ("rejected", "dropped-local"):
        expl, cap, _, _ = golden(name)
        kernel = tr.analyse(expl, cap).kernel
        assert tr.chosen_endpoint(kernel, [("x", 1, expl.request.dst, expl.request.port)], cap.outcome) is None


def test_pick_candidate_takes_the_kernels_endpoint_else_a_path_that_ends_else_the_first():
    def cand(address, verdict=ex.DELIVERED):
        return ex.Candidate(address, 0.5, verdict, "", "ns", [], [], False, "")
    a, b, ended = cand("10.0.0.1:80"), cand("10.0.0.2:80"), cand(None, ex.DROPPED)
    expl = ex.Explanation(ex.Request("ns", None, "tcp", "10.96.0.1", 80), [a, b, ended])
    assert tr.pick_candidate(expl, "10.0.0.2:80") is b
    assert tr.pick_candidate(expl, None) is ended
    assert tr.pick_candidate(expl, "10.9.9.9:80") is a
    assert tr.pick_candidate(ex.Explanation(expl.request, []), "10.0.0.1:80") is None


@pytest.mark.parametrize("verdict,listening,protocol,fits,misfits", [
    (ex.DELIVERED, True, "tcp", {tr.ESTABLISHED}, {tr.REFUSED, tr.DROPPED, tr.NO_ANSWER}),
    (ex.DELIVERED, False, "tcp", {tr.REFUSED}, {tr.ESTABLISHED, tr.NO_ANSWER}),
    (ex.DELIVERED, True, "udp", {tr.REPLY, tr.NO_ANSWER}, {tr.REFUSED}),
    (ex.REJECTED, None, "tcp", {tr.REFUSED, tr.UNREACHABLE}, {tr.ESTABLISHED, tr.NO_ANSWER}),
    (ex.DROPPED, None, "tcp", {tr.DROPPED, tr.NO_ANSWER, tr.UNREACHABLE}, {tr.ESTABLISHED, tr.REFUSED}),
])
def test_outcome_fits_what_the_verdict_means_for_a_client(verdict, listening, protocol, fits, misfits):
    cand = ex.Candidate("10.0.0.1:80", 1.0, verdict, "", "ns", [], [], False, "", listening=listening)
    assert all(tr.outcome_fits(cand, protocol, o) for o in fits)
    assert not any(tr.outcome_fits(cand, protocol, o) for o in misfits)
    assert tr.outcome_fits(None, protocol, tr.NO_ANSWER) and not tr.outcome_fits(None, protocol, tr.ESTABLISHED)


# -- the trace table and the monitors -----------------------------------------------------------

def test_trace_table_replaces_a_leftover_table_in_one_transaction_and_marks_only_first_packets():
    text = tr.trace_table("tcp", 40000, [("172.18.0.2", 30082), ("10.244.2.3", 80), ("10.10.0.1", 80),
                                         ("10.9.0.1", 8080)])
    lines = text.splitlines()
    assert lines[:3] == ["table ip netlab-trace", "delete table ip netlab-trace", "table ip netlab-trace {"]
    assert text.count("type filter hook prerouting priority raw - 1; policy accept;") == 1
    assert text.count("type filter hook output priority raw - 1; policy accept;") == 1
    assert text.count("meta l4proto tcp th sport 40000 tcp flags & (syn | ack) == syn meta nftrace set 1") == 2
    assert text.count("ip daddr { 10.9.0.1, 10.10.0.1, 10.244.2.3, 172.18.0.2 } th dport { 80, 8080, 30082 }") == 2
    udp = tr.trace_table("udp", 5, [])
    assert "tcp flags" not in udp and "ip daddr" not in udp and "meta l4proto udp th sport 5 meta nftrace set 1" in udp


def test_monitor_ready_once_our_tables_transaction_is_printed_whole():
    _, cap, _, lab = golden("rejected")
    lines = cap.lines[f"{lab}-node1"]
    end = next(i for i, line in enumerate(lines) if line.startswith("# new generation"))
    assert not tr.monitor_ready(lines[:end])
    assert tr.monitor_ready(lines[:end + 1])
    assert not tr.monitor_ready(["# new generation 7 by process 1 (iptables-nft-restore)"])
    assert not tr.monitor_ready(["trace id 1 ip netlab-trace pre policy accept", "# new generation 8 by process 2"])


def test_deleted_after_sees_only_a_deletion_from_the_mark_on():
    _, cap, _, lab = golden("rejected")
    lines = cap.lines[f"{lab}-node1"]
    mark = len(lines) - 3
    assert tr.deleted_after(lines, mark)
    # the setup transaction's own "delete table" (replacing a leftover) comes before the mark
    setup = next(i for i, line in enumerate(lines) if line.startswith("delete table ip netlab-trace"))
    assert tr.deleted_after(lines[:setup + 1], 0) and not tr.deleted_after(lines[:setup + 1], setup + 1)


def test_drop_seen_tells_a_drop_from_a_reject_for_our_source_port_only():
    for name, expected in (("dropped-local", "drop"), ("rejected", "reject"), ("cluster-ip-across-nodes", None)):
        _, cap, _, lab = golden(name)
        found = {tr.drop_seen(lines, cap.sport) for lines in cap.lines.values()} - {None}
        assert found == ({expected} if expected else set()), name
        assert {tr.drop_seen(lines, cap.sport + 1) for lines in cap.lines.values()} == {None}


def test_unmapped_is_true_only_for_a_handle_the_listing_lacks():
    _, cap, _, lab = golden("rejected")
    ns = f"{lab}-node1"
    assert not tr.unmapped(cap.lines[ns], ns, cap.listings[ns])
    assert tr.unmapped(cap.lines[ns], ns, cap.listings[ns].replace("# handle 30\n", "# handle 31\n"))


# -- analyse, to_json, format_text --------------------------------------------------------------

TRACE_KEYS = ("sent", "outcome", "error", "chosen", "comparedWith", "matchesExplain", "firstDifference",
              "sameSteps", "kernel", "traceWarnings")


@pytest.mark.parametrize("name", SCENARIOS)
def test_analyse_of_a_real_capture_gives_what_the_live_trace_gave(name):
    expl, cap, live, _ = golden(name)
    data = tr.to_json(tr.analyse(expl, cap))
    assert {k: data[k] for k in TRACE_KEYS} == {k: live[k] for k in TRACE_KEYS}
    assert data["matchesExplain"] is True and data["traceWarnings"] == []
    endpoints = {c.address for c in expl.endpoints}
    if expl.verdict == ex.DELIVERED:
        assert data["chosen"] in endpoints
    else:
        assert data["chosen"] is None and endpoints == set()
    json.dumps(data)


def test_analyse_of_the_golden_scenarios_names_what_each_proves():
    assert set(SCENARIOS) >= {"cluster-ip-across-nodes", "node-port-masquerade", "hairpin", "rejected",
                              "dropped-local", "udp-same-node"}
    hairpin = tr.analyse(*golden("hairpin")[:2])
    assert hairpin.kernel[-1].packet == "arrives: tcp 10.244.2.1:64097 -> 10.244.2.3:80 in eth0"    # masqueraded
    assert any(h.rule and h.rule.endswith("-j MASQUERADE --random-fully") for h in hairpin.kernel)
    rejected = tr.analyse(*golden("rejected")[:2])
    assert rejected.kernel[-1].rule.endswith("-j REJECT --reject-with icmp-port-unreachable")
    assert (rejected.outcome, rejected.error, rejected.candidate.verdict) == ("refused", "Connection refused",
                                                                              ex.REJECTED)
    dropped = tr.analyse(*golden("dropped-local")[:2])
    assert dropped.kernel[-1].verdict == "drop" and dropped.outcome == tr.DROPPED
    udp = tr.analyse(*golden("udp-same-node")[:2])
    assert (udp.outcome, udp.sent["protocol"], udp.chosen) == (tr.REPLY, "udp", "10.244.1.3:5353")


def test_analyse_names_the_first_step_where_explain_predicted_another_rule():
    expl, cap, _, _ = golden("cluster-ip-across-nodes")
    cand = expl.candidates[0]
    compared = tr.compared_explain_hops(cand)
    index = cand.hops.index(compared[5])
    cand.hops[index] = dataclasses.replace(cand.hops[index], rule="-A FORWARD -j PREDICTED")
    result = tr.analyse(expl, cap)
    diff = result.first_difference
    assert not result.matches_explain and (diff["what"], diff["step"], result.same_steps) == ("path", 6, 5)
    assert diff["explain"]["rule"] == "-A FORWARD -j PREDICTED"
    assert diff["kernel"]["rule"].startswith("-A FORWARD ") and diff["kernel"]["verdict"] == "jump KUBE-FORWARD"
    text = tr.format_text(result)
    assert "verdict: differs from explain: step 6: the kernel went [node/node1] filter FORWARD: " in text
    assert "!  6. [node/node1] filter FORWARD: " in text
    assert "explain's path from step 6:" in text and "   6. [node/node1] filter FORWARD: -A FORWARD -j PREDICTED" in text


def test_analyse_says_when_the_kernel_chose_an_endpoint_explain_did_not_list():
    expl, cap, _, _ = golden("cluster-ip-across-nodes")
    expl.candidates[0].address = "10.244.2.99:80"
    diff = tr.analyse(expl, cap).first_difference
    assert (diff["what"], diff["kernel"], diff["explain"]) == ("chosen", "10.244.2.3:80", ["10.244.2.99:80"])


def test_analyse_says_when_the_outcome_is_not_the_verdicts():
    expl, cap, _, _ = golden("cluster-ip-across-nodes")
    cap.outcome, cap.error = tr.REFUSED, "Connection refused"
    diff = tr.analyse(expl, cap).first_difference
    assert diff["what"] == "outcome"
    assert diff["reason"] == "the connection was refused (Connection refused); explain predicted delivered"


def test_analyse_says_when_the_kernel_sent_from_another_address():
    expl, cap, _, _ = golden("node-port-masquerade")
    expl.src = "172.18.0.200"
    diff = tr.analyse(expl, cap).first_difference
    assert (diff["what"], diff["explain"], diff["kernel"]) == ("source", "172.18.0.200", "172.18.0.100")


def test_analyse_warns_for_a_traced_rule_without_an_iptables_save_line():
    expl, cap, _, lab = golden("rejected")
    ns = f"{lab}-node1"
    cap.saves[ns] = cap.saves[ns].replace("-j KUBE-EXTERNAL-SERVICES", "-j KUBE-NODEPORTS", 1)
    result = tr.analyse(expl, cap)
    assert any(w.startswith(f"{ns}: filter INPUT: nft rule 13 ") for w in result.warnings)
    rejected = tr.analyse(*golden("rejected")[:2])
    assert result.kernel == rejected.kernel               # INPUT is not on this path: the same hops


def test_to_json_is_explains_json_plus_the_kernels_path():
    expl, cap, _, _ = golden("node-port-masquerade")
    data = tr.to_json(tr.analyse(expl, cap))
    assert set(ex.to_json(expl)) <= set(data) and set(TRACE_KEYS) <= set(data)
    assert data["sent"] == {"netns": expl.request.netns, "protocol": "tcp", "src": "172.18.0.100",
                            "sport": 55531, "dst": "172.18.0.2", "dport": 30082}
    assert data["comparedWith"] == data["chosen"] == "10.244.2.3:80"
    assert [h["step"] for h in data["kernel"]] == list(range(1, len(data["kernel"]) + 1))


def test_format_text_says_what_was_sent_what_the_kernel_chose_and_the_verdict():
    expl, cap, _, _ = golden("node-port-masquerade")
    lines = tr.format_text(tr.analyse(expl, cap)).splitlines()
    assert lines[0] == "trace: client/client -> node/node1:30082 = Service default/solo-np:80 (nodePort)"
    assert lines[1].startswith("  sent: tcp 172.18.0.100:55531 -> 172.18.0.2:30082 from ")
    assert lines[1].endswith(", one connection: established (%d ms in all)" % round(cap.seconds * 1000))
    assert lines[2] == "  the kernel chose 10.244.2.3:80 (pod solo, node2): one of explain's 1 endpoints (100.0%)"
    assert lines[3] == "  explain predicted: delivered, 1 endpoint (10.244.2.3:80), masquerade yes"
    assert lines[4] == "verdict: the same path as explain (24 rules and policies)"
    assert "      [underlay] arrives: tcp 172.18.0.2:5013 -> 10.244.2.3:80 in br0" in lines
    assert "warnings:" not in lines
    rejected = tr.format_text(tr.analyse(*golden("rejected")[:2])).splitlines()
    assert rejected[2] == "  the kernel chose no endpoint"
    assert rejected[1].endswith("one connection: refused (Connection refused) (%d ms in all)"
                                % round(golden("rejected")[1].seconds * 1000))


# -- kube-proxy's nftables mode -----------------------------------------------------------------

NFT_SCENARIOS = [name for name in SCENARIOS if name.startswith("nft-")]
KP = "ip kube-proxy"


def test_parse_monitor_reads_a_verdict_map_lookup_as_a_rule_whose_verdict_is_the_elements():
    _, cap, _, lab = golden("nft-cluster-ip-across-nodes")
    events = tr.parse_monitor(cap.lines[f"{lab}-node1"], "n1")
    lookup = next(e for e in events if e.kind == "rule" and e.chain == "services")
    assert (lookup.family, lookup.table, lookup.handle) == ("ip", "kube-proxy", 53)
    assert lookup.text == "ip daddr . meta l4proto . th dport vmap @service-ips"
    assert lookup.verdict == "goto service-NOJZO4L6-default/solo/tcp/"
    pick = next(e for e in events if e.kind == "rule" and e.chain == "service-NOJZO4L6-default/solo/tcp/")
    assert pick.text.startswith("numgen random mod 1 vmap { 0 : goto endpoint-")
    # the base chains that ran to their end (nat-prerouting ended at the DNAT's accept)
    assert [e.chain for e in events if e.kind == "policy" and e.table == "kube-proxy"] == [
        "filter-prerouting-pre-dnat", "filter-forward", "nat-postrouting"]


def test_rule_map_gives_each_kube_proxy_rule_handle_its_text_as_nft_list_table_prints_it():
    expl, cap, _, lab = golden("nft-cluster-ip-across-nodes")
    ns = f"{lab}-node1"
    assert cap.saves[ns] == ""                            # no iptables rules in nftables mode
    rules = tr.rule_map(cap.listings[ns], cap.saves[ns])
    assert rules.problems == []
    table = cap.listings[ns].split("table ip kube-proxy {", 1)[1].split("\n}\n", 1)[0]
    listed = [line.strip() for line in table.splitlines()
              if line.startswith("\t\t") and " # handle " in line and not line.strip().startswith(("set ", "map "))]
    assert sorted(rules.lines.values()) == sorted(line.rsplit(" # handle ", 1)[0] for line in listed)
    assert rules.lines[("kube-proxy", "reject-chain", 46)] == "reject"          # its chain comment is no rule
    assert not any(chain in ("cluster-ips", "service-ips") for _, chain, _ in rules.lines)   # sets are not chains
    # explain quotes the same text: each rule it predicts is one of these
    node1 = [h for h in expl.candidates[0].hops if h.namespace == ns and h.kind == "rule"]
    assert node1 and {h.rule for h in node1} <= set(rules.lines.values())


def test_kernel_path_names_kube_proxy_rules_by_table_chain_and_text_as_explain_does():
    expl, cap, _, _ = golden("nft-cluster-ip-across-nodes")
    result = tr.analyse(expl, cap)
    traced = tr.compared_kernel_hops(result.kernel)
    assert traced and {h.table for h in traced} == {KP}
    assert [h.key() for h in traced] == [tr.explain_key(h) for h in tr.compared_explain_hops(result.candidate)]
    dnat = next(h for h in traced if h.kind == "rule" and h.rule.startswith("meta l4proto tcp dnat to "))
    assert dnat.chain.startswith("endpoint-") and dnat.rule.endswith(" dnat to 10.244.2.3:80")
    assert dnat.key() == (dnat.namespace, KP, dnat.chain, "meta l4proto tcp dnat to 10.244.2.3:80")
    policy = next(h for h in traced if h.kind == "policy")
    assert policy.key() == (policy.namespace, KP, "filter-prerouting-pre-dnat", "policy accept")


def test_kernel_path_quotes_the_listings_text_for_a_handle_whatever_the_event_printed():
    visit = tr.Visit("n", "pre", tr.Packet("tcp", "a", 1, "b", 2), [
        tr.TraceEvent("n", "1", "ip", "kube-proxy", "services", "rule", "goto x", 53, "as the event put it")])
    rules = tr.rule_map("table ip kube-proxy { # handle 1\n\tchain services { # handle 26\n"
                        "\t\tip daddr . meta l4proto . th dport vmap @service-ips # handle 53\n\t}\n}\n", "")
    (hop,) = [h for h in tr.kernel_path([visit], {"n": rules}, lambda t: 0, ["n"], {}) if h.kind == "rule"]
    assert (hop.table, hop.rule, hop.nft) == (KP, "ip daddr . meta l4proto . th dport vmap @service-ips",
                                               "as the event put it")


def test_analyse_warns_for_a_kube_proxy_rule_handle_the_listing_lacks_and_names_the_difference():
    expl, cap, _, lab = golden("nft-cluster-ip-across-nodes")
    ns = f"{lab}-node1"
    cap.listings[ns] = cap.listings[ns].replace(" # handle 53\n", " # handle 9953\n", 1)
    result = tr.analyse(expl, cap)
    assert result.warnings == [f"node/node1: {KP} services rule handle 53 is not in the `nft -a list ruleset` "
                               "read with it (the rules changed during the trace? run it again)"]
    diff = result.first_difference
    assert diff["what"] == "path" and diff["kernel"]["rule"] is None
    assert diff["reason"].startswith(f"step 4: the kernel went [node/node1] {KP} services: nft rule 53: ip daddr . "
                                     "meta l4proto . th dport vmap @service-ips; explain predicted [node/node1] "
                                     f"{KP} services: ip daddr . meta l4proto . th dport vmap @service-ips")


def test_analyse_names_the_first_nft_rule_where_explain_predicted_another():
    expl, cap, _, _ = golden("nft-node-port-masquerade")
    cand = expl.candidates[0]
    compared = tr.compared_explain_hops(cand)
    at = next(i for i, h in enumerate(compared) if h.rule == "masquerade fully-random")
    index = cand.hops.index(compared[at])
    cand.hops[index] = dataclasses.replace(cand.hops[index], rule="masquerade")
    result = tr.analyse(expl, cap)
    assert (result.first_difference["step"], result.same_steps) == (at + 1, at)
    text = tr.format_text(result)
    assert f"!{at + 1:>3}. [node/node1] {KP} masquerading: masquerade fully-random" in text
    assert f"{at + 1:>4}. [node/node1] {KP} masquerading: masquerade\n" in text


def test_chosen_endpoint_in_nftables_mode_is_the_dnat_to_of_the_endpoint_chain():
    expl, cap, _, _ = golden("nft-cluster-ip-across-nodes")
    kernel = tr.analyse(expl, cap).kernel
    sent = ("10.244.1.4", cap.sport, expl.request.dst, expl.request.port)
    assert tr.chosen_endpoint(kernel, [sent], "established") == "10.244.2.3:80"         # no conntrack stage
    for name in ("nft-rejected", "nft-dropped-local"):
        expl, cap, _, _ = golden(name)
        kernel = tr.analyse(expl, cap).kernel
        assert tr.chosen_endpoint(kernel, [("x", 1, expl.request.dst, expl.request.port)], cap.outcome) is None


def test_drop_seen_tells_nfts_reject_statement_from_a_verdict_map_drop():
    for name, expected in (("nft-rejected", "reject"), ("nft-dropped-local", "drop"),
                           ("nft-cluster-ip-across-nodes", None)):
        _, cap, _, _ = golden(name)
        assert {tr.drop_seen(lines, cap.sport) for lines in cap.lines.values()} - {None} == \
            ({expected} if expected else set()), name
    lines = ["trace id 1 ip kube-proxy c packet: ip saddr 10.0.0.1 ip daddr 10.0.0.2 tcp sport 7 tcp dport 80",
             'trace id 1 ip kube-proxy c rule ip daddr 10.96.0.0/12 drop comment "not a reject" # handle 41 '
             "(verdict drop)"]
    assert tr.drop_seen(lines, 7) == "drop"


def test_session_affinity_in_nftables_mode_goes_through_the_clients_affinity_set():
    expl, cap, _, _ = golden("nft-affinity-pinned")
    result = tr.analyse(expl, cap)
    assert result.matches_explain and result.chosen == expl.affinity["pinned"] == "10.244.2.3:80"
    rules = [h.rule for h in tr.compared_kernel_hops(result.kernel) if h.kind == "rule"]
    (pinned,) = [r for r in rules if r.startswith("ip saddr @affinity-")]
    assert pinned.endswith(" goto endpoint-OSAJYC26-default/sticky/tcp/__10.244.2.3/80")
    assert expl.affinity["pinnedBy"] == f"{KP} service-EDE2N7RF-default/sticky/tcp/: {pinned}"
    assert not any(r.startswith("numgen ") for r in rules)                   # not a draw
    assert "update @affinity-OSAJYC26-default/sticky/tcp/__10.244.2.3/80 { ip saddr }" in rules


def test_format_text_in_nftables_mode_quotes_nfts_rules():
    result = tr.analyse(*golden("nft-node-port-masquerade")[:2])
    lines = tr.format_text(result).splitlines()
    assert lines[0] == "trace: client/client -> node/node1:30082 = Service default/solo-np:80 (nodePort)"
    assert lines[4] == "verdict: the same path as explain (25 rules and policies)"
    assert lines[5] == f"kernel path (nft monitor trace; each rule of {KP} as `nft list table` prints it):"
    assert f"   4. [node/node1] {KP} services: ip daddr @nodeport-ips meta l4proto . th dport vmap " \
        "@service-nodeports" in lines
    assert f"   2. [node/node1] {KP} filter-prerouting-pre-dnat: policy accept" in lines
    assert "(no iptables rule)" not in "\n".join(lines) and "warnings:" not in lines
    both = [dataclasses.replace(result.kernel[-1], kind="rule", table="nat", chain="X", rule="-A X -j Y")]
    assert tr._spelling(result.kernel + both) == \
        f"iptables rules as iptables-save prints them, {KP}'s as `nft list table` does"
    assert tr._spelling(both) == "each rule as iptables-save prints it"


def test_the_nftables_mode_captures_cover_the_scenarios_and_go_through_no_iptables_rule():
    assert set(NFT_SCENARIOS) >= {"nft-cluster-ip-across-nodes", "nft-node-port-masquerade", "nft-affinity-pinned",
                                  "nft-rejected", "nft-dropped-local"}
    for name in NFT_SCENARIOS:
        expl, cap, _, _ = golden(name)
        result = tr.analyse(expl, cap)
        assert result.matches_explain, name
        assert {h.table for h in result.kernel if h.kind in ("rule", "policy")} == {KP}, name
    masq = tr.analyse(*golden("nft-node-port-masquerade")[:2])
    assert masq.chosen == "10.244.2.3:80" and masq.explanation.masquerade
    assert "arrives: tcp 172.18.0.2:7988 -> 10.244.2.3:80 in br0" in [h.packet for h in masq.kernel]
    rejected = tr.analyse(*golden("nft-rejected")[:2])
    assert [(h.chain, h.rule, h.verdict) for h in rejected.kernel[-2:]] == [
        ("service-endpoints-check", "ip daddr . meta l4proto . th dport vmap @no-endpoint-services",
         "goto reject-chain"), ("reject-chain", "reject", "drop")]
    assert (rejected.outcome, rejected.candidate.verdict) == (tr.REFUSED, ex.REJECTED)
    dropped = tr.analyse(*golden("nft-dropped-local")[:2])
    assert (dropped.kernel[-1].chain, dropped.kernel[-1].verdict, dropped.outcome) == (
        "nodeport-endpoints-check", "drop", tr.DROPPED)


def test_plan_for_traces_every_namespace_of_every_path_and_the_dnat_targets():
    expl, _, _, lab = golden("node-port-masquerade")
    plan = tr.plan_for(expl)
    assert plan.namespaces[0] == plan.source_netns == f"{lab}-client"
    assert set(plan.namespaces) == {f"{lab}-{n}" for n in ("client", "underlay", "node1", "node2", "default.solo")}
    assert plan.ruled == [f"{lab}-node1", f"{lab}-node2"]
    assert plan.endpoints == [("10.244.2.3", 80), ("172.18.0.2", 30082)]
    assert (plan.protocol, plan.dst, plan.dport) == ("tcp", "172.18.0.2", 30082)


# -- capture, replayed by a fake machine --------------------------------------------------------

class FakeMonitor(tr.Monitor):
    def __init__(self):
        self.lines = []
        self.stopped = False

    def stop(self):
        self.stopped = True


class FakeFlow(tr.Flow):
    def __init__(self, machine):
        self.machine, self.sport, self.closed = machine, machine.cap.sport, False

    def start(self, dst, port):
        self.machine.started = (dst, port)
        for ns, mon in self.machine.mons.items():          # the kernel's events of the connection
            mon.lines += _trace_lines(self.machine.cap.lines[ns])

    def poll(self, timeout):
        answer = self.machine.cap.outcome
        return None if answer in (tr.DROPPED, tr.NO_ANSWER) else (answer, self.machine.cap.error)

    def source(self):
        return self.machine.cap.source

    def close(self):
        self.closed = True


class FakeMachine(tr.Machine):
    """Replays a golden capture: each namespace's monitor prints its recorded lines as the jobs run."""

    def __init__(self, cap, deaf=(), undeletable=()):
        self.cap, self.deaf, self.undeletable = cap, set(deaf), set(undeletable)
        self.mons, self.jobs, self.scripts, self.started, self.flows = {}, [], {}, None, []

    def _split(self, ns):
        lines = self.cap.lines[ns]
        ready = next(i for i, line in enumerate(lines) if line.startswith("# new generation")) + 1
        rest = [line for line in lines[ready:] if not line.startswith("trace id")]
        return lines[:ready], rest

    def run(self, jobs):
        out = []
        for job in jobs:
            self.jobs.append(job)
            ns, argv = job.netns, job.argv
            setup, teardown = self._split(ns)
            if argv[:2] == ["nft", "-f"]:
                if ns not in self.deaf:
                    self.mons[ns].lines += setup
                out.append((0, "", ""))
            elif argv[:3] == ["nft", "-a", "list"]:
                out.append((0, self.cap.listings[ns], ""))
            elif argv[:3] == ["nft", "delete", "table"]:
                if ns in self.undeletable:
                    out.append((1, "", "Error: Could not process rule: Operation not permitted"))
                elif any(line.startswith("delete table") for line in self.mons[ns].lines[len(setup):]):
                    out.append((1, "", "Error: Could not process rule: No such file or directory"))
                else:
                    self.mons[ns].lines += teardown
                    out.append((0, "", ""))
            elif argv[0] == "conntrack":
                out.append((0, self.cap.conntrack.get(ns, ""), ""))
            elif argv[0].startswith("iptables-"):
                out.append((0, self.cap.saves[ns], ""))
            else:
                raise AssertionError(f"unexpected job {job}")
        return out

    def monitors(self, namespaces):
        self.mons = {ns: FakeMonitor() for ns in namespaces}
        return dict(self.mons)

    def flow(self, netns, protocol):
        self.flows.append(FakeFlow(self))
        return self.flows[-1]

    def script(self, text):
        path = f"/fake/{len(self.scripts)}.nft"
        self.scripts[path] = text
        return path

    def deleted(self):
        return [j.netns for j in self.jobs if j.argv[:3] == ["nft", "delete", "table"]]


@pytest.mark.parametrize("name", SCENARIOS)
def test_capture_replayed_from_a_real_trace_gives_the_live_result_and_cleans_up(name):
    expl, recorded, live, _ = golden(name)
    plan = tr.plan_for(expl)
    assert set(plan.namespaces) == set(recorded.lines)
    machine = FakeMachine(recorded)
    cap = tr.capture(machine, plan, wait=2.0)
    assert (cap.sport, cap.source, cap.outcome, cap.error) == (recorded.sport, recorded.source, recorded.outcome,
                                                               recorded.error)
    assert cap.cleaned and cap.left == [] and cap.warnings == []
    assert sorted(machine.deleted()) == sorted(plan.namespaces)
    assert all(m.stopped for m in machine.mons.values()) and machine.flows[0].closed
    (table,) = [t for t in machine.scripts.values() if t.startswith("table ip netlab-trace\n")]
    assert f"th sport {recorded.sport} " in table
    data = tr.to_json(tr.analyse(expl, cap))
    assert {k: data[k] for k in TRACE_KEYS} == {k: live[k] for k in TRACE_KEYS}


def test_capture_stops_waiting_at_a_drop_verdict():
    expl, recorded, _, _ = golden("dropped-local")
    looks = []

    def clock():                                       # a second per look: --wait 30 would be 30 looks
        looks.append(None)
        return float(len(looks))

    cap = tr.capture(FakeMachine(recorded), tr.plan_for(expl), wait=30.0, clock=clock)
    assert cap.outcome == tr.DROPPED and cap.cleaned
    assert len(looks) < 10


def test_capture_deletes_every_table_when_a_monitor_never_gets_ready():
    expl, recorded, _, lab = golden("rejected")
    plan = tr.plan_for(expl)
    machine = FakeMachine(recorded, deaf={f"{lab}-node1"})
    cap = tr.Capture()
    with pytest.raises(tr.TraceError, match=f"nft monitor in network namespace '{lab}-node1' never showed our"):
        tr.capture(machine, plan, ready_timeout=0.1, cap=cap)
    assert machine.started is None                      # nothing was sent
    assert any(t == tr.POKE for t in machine.scripts.values())
    assert sorted(machine.deleted()) == sorted(plan.namespaces)
    assert cap.cleaned and cap.left == [] and all(m.stopped for m in machine.mons.values())
    assert machine.flows[0].closed


def test_capture_records_a_table_it_could_not_delete():
    expl, recorded, _, lab = golden("rejected")
    machine = FakeMachine(recorded, undeletable={f"{lab}-node1"})
    cap = tr.capture(machine, tr.plan_for(expl), wait=2.0)
    assert cap.left == [f"{lab}-node1"] and cap.cleaned
    assert machine.deleted().count(f"{lab}-node1") == 2                   # tried again in the cleanup
    assert cap.warnings == []                     # no wait for a deletion that did not happen


def test_remove_leftovers_deletes_the_recorded_tables_and_then_the_record(tmp_path, monkeypatch):
    from netlab import names
    from netlab.dataplane import netns as netns_mod
    monkeypatch.setattr(names, "RUN_DIR", tmp_path)
    monkeypatch.setattr(netns_mod, "exists", lambda ns: ns != "lab-gone")
    record = tmp_path / "lab" / "trace-tables.json"
    record.parent.mkdir()

    class Deleting(tr.Machine):
        def __init__(self, refuse=()):
            self.jobs, self.refuse = [], refuse

        def run(self, jobs):
            self.jobs += jobs
            return [(1, "", "Error: Operation not permitted") if j.netns in self.refuse
                    else (1, "", "Error: No such file or directory") if j.netns == "lab-b" else (0, "", "")
                    for j in jobs]

    assert tr.remove_leftovers("lab", Deleting()) == []                        # no record: nothing to do
    record.write_text(json.dumps(["lab-a", "lab-b", "lab-gone"]))
    machine = Deleting(refuse={"lab-a"})
    with pytest.raises(tr.TraceError, match="cannot be deleted in 'lab-a'"):
        tr.remove_leftovers("lab", machine)
    assert record.exists()
    machine = Deleting()
    assert tr.remove_leftovers("lab", machine) == ["lab-a", "lab-b"]
    assert [(j.netns, j.argv) for j in machine.jobs] == [
        ("lab-a", ["nft", "delete", "table", "ip", "netlab-trace"]),
        ("lab-b", ["nft", "delete", "table", "ip", "netlab-trace"])]
    assert not record.exists()
