"""`netlab rules NODE --service NAME`: the rules one Service owns, in a packet's order, from
upstream's own expected rulesets (TestOverallIPTablesRules, golden/rulesets; the nftables
proxier's TestOverallNFTablesRules, golden/nft)."""

from netlab.proxy.service_rules import service_rules

from proxy_testlib import GOLDEN

OVERALL = (GOLDEN / "rulesets" / "overall.expected").read_text()


def _rules(text):
    return [line for line in text.splitlines() if line.startswith("-A ")]


def test_a_services_entries_lead_into_its_own_chains_in_a_packets_order():
    text = service_rules(OVERALL, "ns2", "svc2")
    nat = text.split("*nat", 1)[1]
    lines = _rules(nat)
    chains = [line.split()[1] for line in lines]
    # the cluster IP entry, then the chain that picks an endpoint, then the endpoint's DNAT
    assert chains[:3] == ["KUBE-SERVICES", "KUBE-SVC-GNZBNJ2PO5MGZ6GT", "KUBE-SVC-GNZBNJ2PO5MGZ6GT"]
    assert chains.index("KUBE-SEP-RS4RBKLTHTF2IUXJ") < chains.index("KUBE-NODEPORTS")
    assert any("-j DNAT --to-destination 10.180.0.2:80" in line for line in lines)
    # every rule naming the Service is there, and nothing of another Service
    assert all("ns2/svc2" in line or "KUBE-EXT-GNZBNJ2PO5MGZ6GT" in line or "KUBE-SVL-GNZBNJ2PO5MGZ6GT" in line
               or "KUBE-SVC-GNZBNJ2PO5MGZ6GT" in line for line in lines)
    assert not any("ns1/svc1" in line for line in _rules(text))


def test_the_filter_rules_naming_a_service_come_too():
    text = service_rules(OVERALL, "ns2", "svc2")
    filter_rules = _rules(text.split("*nat", 1)[0])
    assert '-A KUBE-EXTERNAL-SERVICES -m comment --comment "ns2/svc2:p80 has no local endpoints" -m tcp -p tcp ' \
           "-d 192.168.99.22 --dport 80 -j DROP" in filter_rules
    assert all(line.split()[1] in ("KUBE-NODEPORTS", "KUBE-EXTERNAL-SERVICES") for line in filter_rules)
    rejected = service_rules(OVERALL, "ns6", "svc6")
    assert '-A KUBE-SERVICES -m comment --comment "ns6/svc6:p80 has no endpoints" -m tcp -p tcp -d 172.30.0.46 ' \
           "--dport 80 -j REJECT" in _rules(rejected)


def test_a_service_the_node_has_no_rules_for_is_empty():
    assert service_rules(OVERALL, "ns9", "nothing") == ""
    # a name that only starts like another's is not that Service
    assert service_rules(OVERALL, "ns2", "svc") == ""


def test_in_nftables_mode_a_services_chains_and_map_elements_are_kept():
    from netlab.proxy.service_rules import nft_service_rules
    transaction = (GOLDEN / "nft" / "overall.nft").read_text()
    kept = nft_service_rules(transaction, "ns1", "svc1").splitlines()
    assert "add chain ip kube-proxy service-ULMVA6XW-ns1/svc1/tcp/p80" in kept
    assert "add element ip kube-proxy service-ips { 172.30.0.41 . tcp . 80 : goto service-ULMVA6XW-ns1/svc1/tcp/p80 }" in kept
    assert any("dnat to 10.180.0.1:80" in line for line in kept)
    assert not any("ns2/svc2" in line for line in kept)
    listed = """table ip kube-proxy {
\tmap service-ips {
\t\ttype ipv4_addr . inet_proto . inet_service : verdict
\t\telements = { 172.30.0.41 . tcp . 80 : goto service-ULMVA6XW-ns1/svc1/tcp/p80,
\t\t\t     172.30.0.42 . tcp . 80 : goto service-42NFTM6N-ns2/svc2/tcp/p80 }
\t}

\tchain service-ULMVA6XW-ns1/svc1/tcp/p80 {
\t\tip daddr 172.30.0.41 ip saddr != 10.0.0.0/8 jump mark-for-masquerade
\t}

\tchain service-42NFTM6N-ns2/svc2/tcp/p80 {
\t\tip daddr 172.30.0.42 jump mark-for-masquerade
\t}
}
"""
    out = nft_service_rules(listed, "ns1", "svc1")
    assert "chain service-ULMVA6XW-ns1/svc1/tcp/p80 {" in out and "ns2/svc2" not in out
    assert "172.30.0.41 . tcp . 80 : goto service-ULMVA6XW-ns1/svc1/tcp/p80" in out
