"""Full-ruleset and per-chain expectations ported from kubernetes proxier_test.go (531be812).

Each golden/rulesets/NAME.yaml holds the test's Kubernetes objects (and fixture overrides);
NAME.expected is the test's expected iptables-restore input, verbatim. Rendered text is
compared after proxier_test.go's sortIPTablesRules, i.e. ignoring only the orderings that
come from Go map iteration.
"""

from __future__ import annotations

import difflib

import pytest

from netlab.proxy import chains as ch
from netlab.proxy.model import Endpoint, LoadBalancerIngress, ServicePort
from netlab.proxy.objects import Inventory, render_input_from_inventory
from netlab.proxy.render import LARGE_CLUSTER_ENDPOINTS_THRESHOLD, probability, render
from netlab.proxy.ruleset import check_jumps
from netlab.proxy.trace import trace

from proxy_testlib import (GOLDEN, chain_text, fixture_config, load_yaml, render_objects,
                           sort_like_upstream)

CASES = sorted(p.stem for p in (GOLDEN / "rulesets").glob("*.yaml"))


def _diff(expected: str, got: str) -> str:
    return "".join(difflib.unified_diff(expected.splitlines(True), got.splitlines(True),
                                        "expected", "rendered"))


@pytest.mark.parametrize("case", CASES)
def test_full_ruleset_matches_upstream_expectation(case):
    spec = load_yaml(GOLDEN / "rulesets" / f"{case}.yaml")
    expected = (GOLDEN / "rulesets" / f"{case}.expected").read_text()
    config = fixture_config(**spec.get("config") or {})
    data = render_input_from_inventory(Inventory().add(spec["objects"], case), config.node_name,
                                       config.family)
    ruleset = render(config, data.service_ports, data.endpoints,
                     existing_nat_chains=spec.get("existing_nat_chains") or ())
    got = sort_like_upstream(ruleset.to_restore_text())
    assert got == expected, _diff(expected, got)
    assert check_jumps(ruleset.to_restore_text()) == []
    assert check_jumps(ruleset.to_restore_text(include_builtin_jumps=True)) == []


# --- single chains ----------------------------------------------------------------------

FORWARD_TAIL = (
    '-A KUBE-FORWARD -m comment --comment "kubernetes forwarding rules" -m mark --mark 0x4000/0x4000 -j ACCEPT\n'
    '-A KUBE-FORWARD -m comment --comment "kubernetes forwarding conntrack rule" -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT\n')


@pytest.mark.parametrize("nfacct, tcp_liberal, drop_rule", [
    (False, False, "-A KUBE-FORWARD -m conntrack --ctstate INVALID -j DROP\n"),
    (True, False, "-A KUBE-FORWARD -m conntrack --ctstate INVALID -m nfacct --nfacct-name ct_state_invalid_dropped_pkts -j DROP\n"),
    (False, True, ""),
])
def test_drop_invalid_rule(nfacct, tcp_liberal, drop_rule):
    """TestDropInvalidRule."""
    ruleset = render(fixture_config(nfacct=nfacct, tcp_be_liberal=tcp_liberal), [], [])
    assert chain_text(ruleset.to_restore_text(), "filter", "KUBE-FORWARD") == drop_rule + FORWARD_TAIL


@pytest.mark.parametrize("random_fully", [False, True])
def test_masquerade_rule(random_fully):
    """TestMasqueradeRule."""
    ruleset = render(fixture_config(random_fully=random_fully), [], [])
    suffix = " --random-fully" if random_fully else ""
    assert chain_text(ruleset.to_restore_text(), "nat", "KUBE-POSTROUTING") == (
        "-A KUBE-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN\n"
        "-A KUBE-POSTROUTING -j MARK --xor-mark 0x4000\n"
        '-A KUBE-POSTROUTING -m comment --comment "kubernetes service traffic requiring SNAT" -j MASQUERADE'
        + suffix + "\n")


def test_production_mark_is_zero_padded():
    """kube-proxy formats 1<<14 with Go's %#08x (notes §5.2)."""
    ruleset = render(fixture_config(mark_style="padded"), [], [])
    text = ruleset.to_restore_text()
    assert "-A KUBE-MARK-MASQ -j MARK --or-mark 0x00004000\n" in text
    assert "-m mark ! --mark 0x00004000/0x00004000 -j RETURN" in text
    assert "--mark 0x00004000/0x00004000 -j ACCEPT" in text
    text = render(fixture_config(mark_style="padded", masquerade_bit=0), [], []).to_restore_text()
    assert "--or-mark 0x00000001" in text


FIREWALL_RULE = ('-A KUBE-FIREWALL -m comment --comment "block incoming localnet connections" '
                 "-d 127.0.0.0/8 ! -s 127.0.0.0/8 -m conntrack ! --ctstate RELATED,ESTABLISHED,DNAT -j DROP\n")


@pytest.mark.parametrize("family, localhost, addresses, expect_firewall", [
    ("IPv4", True, None, True),
    ("IPv4", False, None, False),
    ("IPv4", False, ["192.168.0.0/24", "127.0.0.1/32"], False),
    ("IPv4", False, ["192.168.0.0/24", "192.168.1.0/24", "2001:db8::/64"], False),
    ("IPv6", True, None, False),
    ("IPv6", False, None, False),
    ("IPv6", False, ["192.168.0.0/24", "192.168.1.0/24", "2001:db8::/64"], False),
])
def test_nodeports_kube_firewall_chain(family, localhost, addresses, expect_firewall):
    """TestNodePorts: KUBE-FIREWALL holds the anti-martian rule only for IPv4 localhost NodePorts."""
    ruleset = render(fixture_config(family=family, localhost_nodeports=localhost,
                                    node_port_addresses=addresses), [], [])
    text = ruleset.to_restore_text()
    assert chain_text(text, "filter", "KUBE-FIREWALL") == (FIREWALL_RULE if expect_firewall else "")
    assert (":KUBE-FIREWALL - [0:0]" in text) == expect_firewall
    # Whole tables always declare it: kube-proxy's kubelet jumps need the chain.
    assert ":KUBE-FIREWALL - [0:0]" in ruleset.to_restore_text(include_builtin_jumps=True)


@pytest.mark.parametrize("addresses, localhost, family, expected", [
    (None, True, "IPv4", ["-m addrtype --dst-type LOCAL -j KUBE-NODEPORTS"]),
    (None, False, "IPv4", ["-m addrtype --dst-type LOCAL ! -d 127.0.0.0/8 -j KUBE-NODEPORTS"]),
    (None, True, "IPv6", ["-m addrtype --dst-type LOCAL ! -d ::1/128 -j KUBE-NODEPORTS"]),
    (["192.168.0.0/24", "127.0.0.1/32"], False, "IPv4", ["-d 192.168.0.2 -j KUBE-NODEPORTS"]),
    (["192.168.0.0/24", "127.0.0.1/32"], True, "IPv4",
     ["-d 192.168.0.2 -j KUBE-NODEPORTS", "-d 127.0.0.1 -j KUBE-NODEPORTS"]),
    (["192.168.0.0/24", "192.168.1.0/24", "2001:db8::/64"], False, "IPv4",
     ["-d 192.168.0.2 -j KUBE-NODEPORTS", "-d 192.168.1.2 -j KUBE-NODEPORTS"]),
    (["192.168.0.0/24", "192.168.1.0/24", "2001:db8::/64"], False, "IPv6",
     ["-d 2001:db8::1 -j KUBE-NODEPORTS"]),
    (["primary"], True, "IPv4", ["-d 192.168.0.2 -j KUBE-NODEPORTS"]),
])
def test_nodeport_catch_all_is_last_rule(addresses, localhost, family, expected):
    """The KUBE-SERVICES → KUBE-NODEPORTS rule(s) for each --nodeport-addresses form (§6.3)."""
    sp = ServicePort("ns1", "svc1", "p80", "TCP",
                     "fd00:172:30::41" if family == "IPv6" else "172.30.0.41", 80,
                     type="NodePort", node_port=3001)
    ruleset = render(fixture_config(family=family, localhost_nodeports=localhost,
                                    node_port_addresses=addresses), [sp], [])
    rules = ruleset.nat.chain_rules("KUBE-SERVICES")
    head = ('-m comment --comment "kubernetes service nodeports; NOTE: this must be the last '
            'rule in this chain" ')
    assert rules == [head + e for e in expected]


def test_ipv6_service_port_rules():
    """IPv6 comes for free: bracketed DNAT targets and endpoint hashes, no localhost NodePorts."""
    sp = ServicePort("ns1", "svc1", "p80", "TCP", "fd00:172:30::41", 80, type="NodePort",
                     node_port=3001)
    eps = [Endpoint("ns1", "svc1", "p80", "TCP", "fd00:10:180::1", 80),
           Endpoint("ns1", "svc1", "p80", "TCP", "10.180.0.1", 80)]  # other family: ignored
    ruleset = render(fixture_config(family="IPv6"), [sp], eps)
    sep = ch.endpoint_chain("ns1/svc1:p80", "tcp", "[fd00:10:180::1]:80")
    assert ruleset.nat.chain_rules(sep) == [
        "-m comment --comment ns1/svc1:p80 -s fd00:10:180::1 -j KUBE-MARK-MASQ",
        "-m comment --comment ns1/svc1:p80 -m tcp -p tcp -j DNAT --to-destination [fd00:10:180::1]:80",
    ]
    svc = ch.service_chains("ns1/svc1:p80", "tcp").svc
    assert ruleset.nat.chain_rules(svc)[0].endswith("! -s fd00:10::/64 -j KUBE-MARK-MASQ")
    assert all("127.0.0.0/8" not in a for a in ruleset.nat.chain_rules("KUBE-NODEPORTS"))
    assert ruleset.filter.chain_rules("KUBE-FIREWALL") == []
    assert check_jumps(ruleset.to_restore_text()) == []


# --- large cluster mode (TestSyncProxyRulesLargeClusterMode) ----------------------------

def _large_cluster_inputs(with_svc3: bool):
    ports = [ServicePort("ns1", "svc1", "p80", "TCP", "172.30.0.41", 80),
             ServicePort("ns2", "svc2", "p8080", "TCP", "172.30.0.42", 8080),
             ServicePort("ns3", "svc3", "p8081", "TCP", "172.30.0.43", 8081)]
    eps = []
    half = LARGE_CLUSTER_ENDPOINTS_THRESHOLD // 2 - 1
    for i in range(half):
        eps.append(Endpoint("ns1", "svc1", "p80", "TCP", f"10.0.{i % 256}.{i // 256}", 80))
        eps.append(Endpoint("ns2", "svc2", "p8080", "TCP", f"10.1.{i % 256}.{i // 256}", 8080))
    if with_svc3:
        for ip in ("203.0.113.4", "203.0.113.8", "203.0.113.12"):
            eps.append(Endpoint("ns3", "svc3", "p8081", "TCP", ip, 8081))
    return ports, eps


def _count_endpoints_and_comments(text: str, match: str):
    matched, endpoints, comments = "", 0, 0
    for line in text.split("\n"):
        if line.startswith("-A KUBE-SEP-") and "-j DNAT" in line:
            endpoints += 1
            comments += "--comment" in line
            if match in line:
                matched = line
    return matched, endpoints, comments


def test_large_cluster_mode_drops_endpoint_comments():
    config = fixture_config(masquerade_all=True)
    ports, eps = _large_cluster_inputs(with_svc3=False)
    text = render(config, ports, eps).to_restore_text()
    first, n, comments = _count_endpoints_and_comments(text, "10.0.0.0")
    assert first == ("-A KUBE-SEP-DKGQUZGBKLTPAR56 -m comment --comment ns1/svc1:p80 "
                     "-m tcp -p tcp -j DNAT --to-destination 10.0.0.0:80")
    assert n == 2 * (LARGE_CLUSTER_ENDPOINTS_THRESHOLD // 2 - 1) == comments

    ports, eps = _large_cluster_inputs(with_svc3=True)
    ruleset = render(config, ports, eps)
    text = ruleset.to_restore_text()
    first, n, comments = _count_endpoints_and_comments(text, "10.0.0.0")
    assert first == "-A KUBE-SEP-DKGQUZGBKLTPAR56 -m tcp -p tcp -j DNAT --to-destination 10.0.0.0:80"
    assert (n, comments) == (2 * (LARGE_CLUSTER_ENDPOINTS_THRESHOLD // 2 - 1) + 3, 0)
    first, _, _ = _count_endpoints_and_comments(text, "203.0.113.4")
    assert first == "-A KUBE-SEP-RUVVH7YV3PHQBDOS -m tcp -p tcp -j DNAT --to-destination 203.0.113.4:8081"
    # Only SEP rules and SVC → SEP rules lose their comments.
    svc = ch.service_chains("ns3/svc3:p8081", "tcp").svc
    assert ruleset.nat.chain_rules(svc) == [
        '-m comment --comment "ns3/svc3:p8081 cluster IP" -m tcp -p tcp -d 172.30.0.43 --dport 8081 -j KUBE-MARK-MASQ',
        "-m statistic --mode random --probability 0.3333333333 -j " + ch.endpoint_chain("ns3/svc3:p8081", "tcp", "203.0.113.12:8081"),
        "-m statistic --mode random --probability 0.5000000000 -j " + ch.endpoint_chain("ns3/svc3:p8081", "tcp", "203.0.113.4:8081"),
        "-j " + ch.endpoint_chain("ns3/svc3:p8081", "tcp", "203.0.113.8:8081"),
    ]
    assert check_jumps(text) == []

    svc4 = ServicePort("ns4", "svc4", "p8082", "TCP", "172.30.0.44", 8082)
    ep4 = Endpoint("ns4", "svc4", "p8082", "TCP", "10.4.0.1", 8082)
    text = render(config, ports + [svc4], eps + [ep4]).to_restore_text()
    first, _, _ = _count_endpoints_and_comments(text, "10.4.0.1")
    assert first == "-A KUBE-SEP-SU5STNODRYEWJAUF -m tcp -p tcp -j DNAT --to-destination 10.4.0.1:8082"
    # Deleting svc4 while its chains exist: they are flushed and deleted.
    text = render(config, ports, eps,
                  existing_nat_chains=["KUBE-SVC-EBDQOQU5SJFXRIL3", "KUBE-SEP-SU5STNODRYEWJAUF"]
                  ).to_restore_text()
    assert "-X KUBE-SVC-EBDQOQU5SJFXRIL3\n" in text and "-X KUBE-SEP-SU5STNODRYEWJAUF\n" in text


def test_large_cluster_threshold_counts_all_endpoints_of_known_services():
    """Exactly 1000 endpoints keep comments; 1001 drop them (threshold is 'more than')."""
    ports = [ServicePort("ns", f"s{i}", "", "TCP", f"172.30.{i // 256}.{i % 256}", 80)
             for i in range(200)]
    eps = [Endpoint("ns", f"s{i}", "", "TCP", f"10.{i // 256}.{i % 256}.{j}", 80)
           for i in range(200) for j in range(5)]
    text = render(fixture_config(), ports, eps).to_restore_text()
    assert _count_endpoints_and_comments(text, "x")[1:] == (1000, 1000)
    eps.append(Endpoint("ns", "s0", "", "TCP", "10.99.0.1", 80))
    text = render(fixture_config(), ports, eps).to_restore_text()
    assert _count_endpoints_and_comments(text, "x")[1:] == (1001, 0)


# --- LoadBalancer ingress ipMode (TestLoadBalancerIngressRouteTypeProxy) ----------------

@pytest.mark.parametrize("ip_mode, expected", [("Proxy", False), ("VIP", True), (None, True)])
def test_load_balancer_ingress_ip_mode(ip_mode, expected):
    sp = ServicePort("ns1", "svc1", "p80", "TCP", "10.20.30.41", 80, type="LoadBalancer",
                     node_port=3001, load_balancer_ingress=(LoadBalancerIngress("1.2.3.4", ip_mode),))
    ep = Endpoint("ns1", "svc1", "p80", "TCP", "10.180.0.1", 80)
    rules = render(fixture_config(), [sp], [ep]).nat.chain_rules("KUBE-SERVICES")
    assert any("-d 1.2.3.4 " in r for r in rules) == expected


# --- names and probabilities ----------------------------------------------------------

@pytest.mark.parametrize("text, expected", [
    ("ns1/svc1:p80" + "tcp", "XPGD46QRK7WJZT7O"),
    ("ns2/svc2:p80" + "tcp", "GNZBNJ2PO5MGZ6GT"),
    ("ns5/svc5:p80" + "tcp", "NUKIZ6OKUXPJNT4C"),
    ("ns2/svc2:p8080" + "tcp", "2VJB64SDSIJUP5T6"),
    ("ns4/svc4:p8082" + "tcp", "EBDQOQU5SJFXRIL3"),
])
def test_port_proto_hash_matches_notes(text, expected):
    name, proto = text[:-3], text[-3:]
    assert ch.port_proto_hash(name, proto) == expected
    assert ch.service_chains(name, proto) == (f"KUBE-SVC-{expected}", f"KUBE-SVL-{expected}",
                                              f"KUBE-EXT-{expected}", f"KUBE-FW-{expected}")


@pytest.mark.parametrize("svc_port, endpoint, expected", [
    ("ns1/svc1:p80", "10.180.0.1:80", "KUBE-SEP-SXIVWICOYRO3J4NJ"),
    ("ns5/svc5:p80", "10.180.0.3:80", "KUBE-SEP-I77PXRDZVX7PMWMN"),
    ("ns3/svc3:p80", "10.180.0.3:80", "KUBE-SEP-OYPFS5VJICHGATKP"),
    ("ns1/svc1:p80", "10.0.0.0:80", "KUBE-SEP-DKGQUZGBKLTPAR56"),
    ("ns3/svc3:p8081", "203.0.113.4:8081", "KUBE-SEP-RUVVH7YV3PHQBDOS"),
    ("ns4/svc4:p8082", "10.4.0.1:8082", "KUBE-SEP-SU5STNODRYEWJAUF"),
])
def test_endpoint_chain_names_match_notes(svc_port, endpoint, expected):
    assert ch.endpoint_chain(svc_port, "tcp", endpoint) == expected


@pytest.mark.parametrize("svc_port, protocol, expected", [
    # The kube-dns chains every kubeadm/kind cluster shows (widely published node listings).
    ("kube-system/kube-dns:dns", "udp", "KUBE-SVC-TCOU7JCQXEZGVUNU"),
    ("kube-system/kube-dns:dns-tcp", "tcp", "KUBE-SVC-ERIFXISQEP7F7OF4"),
    ("kube-system/kube-dns:metrics", "tcp", "KUBE-SVC-JD5MR3NA4I4DYORP"),
])
def test_well_known_kube_dns_chain_names(svc_port, protocol, expected):
    assert ch.service_chains(svc_port, protocol).svc == expected


def test_chain_names_fit_iptables_limit():
    names = ch.service_chains("a-very-long-namespace-name/a-very-long-service-name:http", "sctp")
    assert all(len(n) <= 28 for n in names)
    assert len(ch.endpoint_chain("x/y", "udp", "[fd00::1]:53")) == 25


@pytest.mark.parametrize("n, expected", [
    (1, "1.0000000000"), (2, "0.5000000000"), (3, "0.3333333333"), (4, "0.2500000000"),
    (10, "0.1000000000"), (100, "0.0100000000"), (1000, "0.0010000000"),
    (10000, "0.0001000000"), (100000, "0.0000100000"), (100001, "0.0000099999"),
])
def test_compute_probability(n, expected):
    """TestComputeProbability and the table of §4."""
    assert probability(n) == expected


def test_probabilities_strictly_decrease():
    values = [float(probability(i)) for i in range(2, 100001)]
    assert all(a > b for a, b in zip(values, values[1:]))


@pytest.mark.parametrize("n", [1, 2, 3, 4, 7])
def test_service_chain_probabilities_per_endpoint_count(n):
    """Rule i of n gets 1/(n-i); the last rule has no statistic match (§4)."""
    sp = ServicePort("ns", "web", "", "TCP", "10.96.0.10", 80)
    eps = [Endpoint("ns", "web", "", "TCP", f"10.244.1.{i + 2}", 8080) for i in range(n)]
    rules = render(fixture_config(), [sp], eps).nat.chain_rules(ch.service_chains("ns/web", "tcp").svc)
    jumps = rules[1:]
    assert len(jumps) == n
    for i, rule in enumerate(jumps[:-1]):
        assert f"--probability {probability(n - i)} -j KUBE-SEP-" in rule
    assert "statistic" not in jumps[-1]


# --- consistency checker (TestCheckIPTablesRuleJumps) ----------------------------------

@pytest.mark.parametrize("text, error", [
    ("*filter\nCOMMIT\n*nat\n:KUBE-MARK-MASQ - [0:0]\n:KUBE-SERVICES - [0:0]\n:KUBE-SVC-XPGD46QRK7WJZT7O - [0:0]\n"
     "-A KUBE-MARK-MASQ -j MARK --or-mark 0x4000\n"
     '-A KUBE-SERVICES -m comment --comment "ns1/svc1:p80 cluster IP" -m tcp -p tcp -d 10.20.30.41 --dport 80 -j KUBE-SVC-XPGD46QRK7WJZT7O\n'
     '-A KUBE-SVC-XPGD46QRK7WJZT7O -m comment --comment "ns1/svc1:p80 cluster IP" -m tcp -p tcp -d 10.20.30.41 --dport 80 ! -s 10.0.0.0/24 -j KUBE-MARK-MASQ\n'
     "COMMIT\n", ""),
    ("*filter\nCOMMIT\n*nat\n:KUBE-SERVICES - [0:0]\n"
     '-A KUBE-SERVICES -m comment --comment "ns1/svc1:p80 cluster IP" -m tcp -p tcp -d 172.30.0.41 --dport 80 -j KUBE-SVC-XPGD46QRK7WJZT7O\n'
     "COMMIT\n", "some chains in nat are used but were not created: ['KUBE-SVC-XPGD46QRK7WJZT7O']"),
    ("*filter\nCOMMIT\n*nat\n:KUBE-SERVICES - [0:0]\n:KUBE-SVC-XPGD46QRK7WJZT7O - [0:0]\n"
     '-A KUBE-SERVICES -m comment --comment "ns1/svc1:p80 cluster IP" -m tcp -p tcp -d 172.30.0.41 --dport 80 -j KUBE-SVC-XPGD46QRK7WJZT7O\n'
     "COMMIT\n", "some chains in nat are jumped to but have no rules: ['KUBE-SVC-XPGD46QRK7WJZT7O']"),
    ("*filter\nCOMMIT\n*nat\n:KUBE-MARK-MASQ - [0:0]\n:KUBE-SERVICES - [0:0]\n"
     '-A KUBE-SERVICES -m comment --comment "ns1/svc1:p80 cluster IP" ...\n'
     '-A KUBE-SVC-XPGD46QRK7WJZT7O -m comment --comment "ns1/svc1:p80 cluster IP" -m tcp -p tcp -d 172.30.0.41 --dport 80 ! -s 10.0.0.0/8 -j KUBE-MARK-MASQ\n'
     "COMMIT\n", "some chains in nat are used but were not created: ['KUBE-SVC-XPGD46QRK7WJZT7O']"),
    ("*filter\nCOMMIT\n*nat\n:KUBE-MARK-MASQ - [0:0]\n:KUBE-SERVICES - [0:0]\n:KUBE-SVC-XPGD46QRK7WJZT7O - [0:0]\n"
     '-A KUBE-SERVICES -m comment --comment "ns1/svc1:p80 cluster IP" ...\n'
     "COMMIT\n", "some chains in nat are created but not used: ['KUBE-SVC-XPGD46QRK7WJZT7O']"),
])
def test_check_jumps(text, error):
    assert check_jumps(text) == ([error] if error else [])


def test_sort_like_upstream_matches_go_normaliser():
    """TestSortIPTablesRules "correctly match same service name in different styles of comments"."""
    text = ("*filter\nCOMMIT\n*nat\n:KUBE-SERVICES - [0:0]\n"
            '-A KUBE-SERVICES -m comment --comment "ns2/svc2:p80 cluster IP" svc2 line 1\n'
            "-A KUBE-SERVICES -m comment --comment ns2/svc2 svc2 line 2\n"
            '-A KUBE-SERVICES -m comment --comment "ns2/svc2 blah" svc2 line 3\n'
            '-A KUBE-SERVICES -m comment --comment "ns1/svc1:p80 cluster IP" svc1 line 1\n'
            "-A KUBE-SERVICES -m comment --comment ns1/svc1 svc1 line 2\n"
            '-A KUBE-SERVICES -m comment --comment "ns1/svc1 blah" svc1 line 3\n'
            "COMMIT\n")
    assert sort_like_upstream(text) == (
        "*filter\nCOMMIT\n*nat\n:KUBE-SERVICES - [0:0]\n"
        '-A KUBE-SERVICES -m comment --comment "ns1/svc1:p80 cluster IP" svc1 line 1\n'
        "-A KUBE-SERVICES -m comment --comment ns1/svc1 svc1 line 2\n"
        '-A KUBE-SERVICES -m comment --comment "ns1/svc1 blah" svc1 line 3\n'
        '-A KUBE-SERVICES -m comment --comment "ns2/svc2:p80 cluster IP" svc2 line 1\n'
        "-A KUBE-SERVICES -m comment --comment ns2/svc2 svc2 line 2\n"
        '-A KUBE-SERVICES -m comment --comment "ns2/svc2 blah" svc2 line 3\n'
        "COMMIT\n")


# --- properties of the output -------------------------------------------------------------

def _overall_ruleset():
    spec = load_yaml(GOLDEN / "rulesets" / "overall.yaml")
    return render_objects(spec["objects"])


def test_render_is_deterministic_and_order_independent():
    spec = load_yaml(GOLDEN / "rulesets" / "overall.yaml")
    a = render_objects(spec["objects"]).to_restore_text()
    b = render_objects(list(reversed(spec["objects"]))).to_restore_text()
    assert a == b


def test_nodeport_catch_all_is_last_in_kube_services():
    rules = _overall_ruleset().nat.chain_rules("KUBE-SERVICES")
    assert "must be the last rule" in rules[-1]
    assert all("must be the last rule" not in r for r in rules[:-1])


def test_restore_text_layout_matches_kube_proxy():
    """§2: *filter then *nat, fixed declarations first, no rules in built-in chains."""
    text = _overall_ruleset().to_restore_text()
    lines = text.splitlines()
    assert lines[:7] == ["*filter", ":KUBE-SERVICES - [0:0]", ":KUBE-EXTERNAL-SERVICES - [0:0]",
                         ":KUBE-FORWARD - [0:0]", ":KUBE-NODEPORTS - [0:0]",
                         ":KUBE-PROXY-FIREWALL - [0:0]", ":KUBE-FIREWALL - [0:0]"]
    nat = lines.index("*nat")
    assert lines[nat + 1:nat + 5] == [":KUBE-SERVICES - [0:0]", ":KUBE-NODEPORTS - [0:0]",
                                      ":KUBE-POSTROUTING - [0:0]", ":KUBE-MARK-MASQ - [0:0]"]
    assert lines[-1] == "COMMIT" and text.endswith("COMMIT\n")
    for builtin in ("INPUT", "OUTPUT", "FORWARD", "PREROUTING", "POSTROUTING"):
        assert f"-A {builtin} " not in text


def test_whole_tables_text_has_builtin_chains_and_jumps_in_node_order():
    text = _overall_ruleset().to_restore_text(include_builtin_jumps=True)
    filter_part = text.split("COMMIT\n")[0].splitlines()
    nat_part = text.split("COMMIT\n")[1].splitlines()
    assert filter_part[1:4] == [":INPUT ACCEPT [0:0]", ":FORWARD ACCEPT [0:0]", ":OUTPUT ACCEPT [0:0]"]
    assert nat_part[1:5] == [":PREROUTING ACCEPT [0:0]", ":INPUT ACCEPT [0:0]",
                             ":OUTPUT ACCEPT [0:0]", ":POSTROUTING ACCEPT [0:0]"]
    # The verified listing of notes §1.2.
    assert [l for l in filter_part if l.startswith(("-A INPUT", "-A FORWARD", "-A OUTPUT"))] == [
        "-A INPUT -j KUBE-FIREWALL",
        '-A INPUT -m conntrack --ctstate NEW -m comment --comment "kubernetes load balancer firewall" -j KUBE-PROXY-FIREWALL',
        '-A INPUT -m comment --comment "kubernetes health check service ports" -j KUBE-NODEPORTS',
        '-A INPUT -m conntrack --ctstate NEW -m comment --comment "kubernetes externally-visible service portals" -j KUBE-EXTERNAL-SERVICES',
        '-A FORWARD -m conntrack --ctstate NEW -m comment --comment "kubernetes load balancer firewall" -j KUBE-PROXY-FIREWALL',
        '-A FORWARD -m comment --comment "kubernetes forwarding rules" -j KUBE-FORWARD',
        '-A FORWARD -m conntrack --ctstate NEW -m comment --comment "kubernetes service portals" -j KUBE-SERVICES',
        '-A FORWARD -m conntrack --ctstate NEW -m comment --comment "kubernetes externally-visible service portals" -j KUBE-EXTERNAL-SERVICES',
        "-A OUTPUT -j KUBE-FIREWALL",
        '-A OUTPUT -m conntrack --ctstate NEW -m comment --comment "kubernetes load balancer firewall" -j KUBE-PROXY-FIREWALL',
        '-A OUTPUT -m conntrack --ctstate NEW -m comment --comment "kubernetes service portals" -j KUBE-SERVICES',
    ]
    assert [l for l in nat_part if l.startswith(("-A PREROUTING", "-A OUTPUT", "-A POSTROUTING"))] == [
        '-A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES',
        '-A OUTPUT -m comment --comment "kubernetes service portals" -j KUBE-SERVICES',
        '-A POSTROUTING -m comment --comment "kubernetes postrouting rules" -j KUBE-POSTROUTING',
    ]


def test_whole_tables_text_without_nfacct_has_no_nfacct_matches():
    spec = load_yaml(GOLDEN / "rulesets" / "overall.yaml")
    text = render_objects(spec["objects"], nfacct=False).to_restore_text(include_builtin_jumps=True)
    assert "nfacct" not in text
    # Without the counter kube-proxy writes no localhost NodePort accounting rule at all.
    assert "-d 127.0.0.0/8 --dport" not in text


def test_whole_tables_with_canary():
    text = render(fixture_config(), [], []).to_restore_text(include_builtin_jumps=True,
                                                            include_canary=True)
    assert text.startswith("*mangle\n")
    assert text.count(":KUBE-PROXY-CANARY - [0:0]") == 3
    assert check_jumps(text) == []


def test_service_chain_table():
    table = {(i.service_port, i.protocol): i for i in _overall_ruleset().service_chain_table()}
    svc2 = table[("ns2/svc2:p80", "tcp")]
    assert (svc2.svc, svc2.svl, svc2.ext, svc2.fw) == (
        "KUBE-SVC-GNZBNJ2PO5MGZ6GT", None, "KUBE-EXT-GNZBNJ2PO5MGZ6GT", None)
    assert svc2.endpoints == (("10.180.0.2:80", "KUBE-SEP-RS4RBKLTHTF2IUXJ"),)
    svc5 = table[("ns5/svc5:p80", "tcp")]
    assert svc5.fw == "KUBE-FW-NUKIZ6OKUXPJNT4C"
    svc6 = table[("ns6/svc6:p80", "tcp")]
    assert (svc6.svc, svc6.ext, svc6.endpoints) == (None, None, ())


def test_every_rendered_jump_target_is_declared():
    """No rule jumps to an undefined chain, for a mix of every feature."""
    spec = load_yaml(GOLDEN / "rulesets" / "overall.yaml")
    for overrides in ({}, {"masquerade_all": True}, {"detect_local_mode": ""},
                      {"detect_local_mode": "BridgeInterface", "bridge_interface": "cni0"},
                      {"localhost_nodeports": False}, {"node_port_addresses": ["192.168.0.0/24"]},
                      {"nfacct": False, "tcp_be_liberal": True, "random_fully": True}):
        ruleset = render_objects(spec["objects"], **overrides)
        assert check_jumps(ruleset.to_restore_text()) == [], overrides
        assert check_jumps(ruleset.to_restore_text(include_builtin_jumps=True)) == [], overrides


# --- topology hints (pkg/proxy/topology.go) --------------------------------------------

def _topology_trace(eps, **config):
    sp = ServicePort("ns", "web", "", "TCP", "10.96.0.50", 80)
    ruleset = render(fixture_config(**config), [sp], eps)
    return trace(ruleset, "10.0.0.2", "tcp", "10.96.0.50", 80).endpoints


def test_zone_hints_narrow_cluster_endpoints_to_the_nodes_zone():
    eps = [Endpoint("ns", "web", "", "TCP", "10.244.1.2", 80, zone_hints=("z1",)),
           Endpoint("ns", "web", "", "TCP", "10.244.2.2", 80, zone_hints=("z2",))]
    assert _topology_trace(eps, zone="z1") == ["10.244.1.2:80"]
    # No endpoint hinted for the node's zone (or no zone label): hints are ignored.
    assert _topology_trace(eps, zone="z3") == ["10.244.1.2:80", "10.244.2.2:80"]
    assert _topology_trace(eps) == ["10.244.1.2:80", "10.244.2.2:80"]
    # One ready endpoint without hints: hints are ignored.
    eps.append(Endpoint("ns", "web", "", "TCP", "10.244.3.2", 80))
    assert _topology_trace(eps, zone="z1") == ["10.244.1.2:80", "10.244.2.2:80", "10.244.3.2:80"]


def test_node_hints_prefer_same_node():
    eps = [Endpoint("ns", "web", "", "TCP", "10.244.1.2", 80, zone_hints=("z1",), node_hints=("test-node",)),
           Endpoint("ns", "web", "", "TCP", "10.244.2.2", 80, zone_hints=("z1",), node_hints=("node2",))]
    assert _topology_trace(eps, zone="z1") == ["10.244.1.2:80"]
    assert _topology_trace(eps, zone="z1", prefer_same_traffic_distribution=False) == [
        "10.244.1.2:80", "10.244.2.2:80"]
