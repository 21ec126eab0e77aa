"""kube-proxy's nftables mode, conformance: expectations ported from kubernetes
pkg/proxy/nftables/proxier_test.go (@81810de6, whose expectations match proxier.go @531be812)
and helpers_test.go.

Golden data lives in golden/nft/: NAME.yaml holds a test's Kubernetes objects (and its sync
steps), the .nft files its expected text verbatim (base_rules.nft is the test's baseRules).
Tables are compared as upstream compares them: the renderer's transaction is applied to an
in-memory table (knftables' Fake semantics, nft_ruleset.NftTable), whose Dump() is compared
with the expectation after sortNFTablesTransaction (nft_ruleset.diff_transactions).
"""

from __future__ import annotations

import pytest

from netlab.proxy.model import Endpoint, LoadBalancerIngress, ServicePort
from netlab.proxy.nft_render import (NftRuleset, endpoint_chain_base, hash_and_truncate,
                                     render_nft, service_port_chain_base)
from netlab.proxy.nft_ruleset import (NftTable, NftTextError, diff_transactions,
                                      parse_transaction, sort_transaction, transaction_text)
from netlab.proxy.objects import Inventory, render_input_from_inventory

from proxy_testlib import GOLDEN, fixture_config, load_yaml

NFT = GOLDEN / "nft"
# NewFakeProxier (nftables): nodePortAddresses 192.168.0.2/32 and 2001:db8::1/128 (what
# "primary" gives for this node), serviceCIDRs 172.30.0.0/16 / fd00:10:96::/112; the rest is
# the iptables fixture (node test-node, pod CIDR 10.0.0.0/8, mark 0x4000).
NODE_PORT_ADDRESSES = ("192.168.0.2/32", "2001:db8::1/128")
SERVICE_CIDRS = ("172.30.0.0/16", "fd00:10:96::/112")


def nft_config(**overrides):
    """The nftables fake proxier's ProxyConfig, with OVERRIDES (ProxyConfig fields)."""
    overrides.setdefault("node_port_addresses", NODE_PORT_ADDRESSES)
    return fixture_config(**overrides)


def render_objects(objects, service_cidrs=SERVICE_CIDRS, **overrides) -> NftRuleset:
    """Render Kubernetes object dicts with the nftables fake proxier's settings."""
    config = nft_config(**overrides)
    data = render_input_from_inventory(Inventory().add(objects, "test"), config.node_name,
                                       config.family)
    return render_nft(config, data.service_ports, data.endpoints, service_cidrs=service_cidrs)


def expected_text(*names: str) -> str:
    """The concatenation of golden .nft files, as the Go test concatenates baseRules + its text."""
    return "".join((NFT / n).read_text() for n in names)


def _assert_tables_equal(expected: str, got: str):
    """assertNFTablesTransactionEqual."""
    diff = diff_transactions(expected, got)
    assert diff == "", "tables do not match:\n" + diff


# --- whole tables after one full sync ---------------------------------------------------------

@pytest.mark.parametrize("case", ["overall", "bad_ips"])
def test_full_sync_matches_upstream(case):
    """TestOverallNFTablesRules, TestBadIPs: one full sync on a fresh node."""
    spec = load_yaml(NFT / f"{case}.yaml")
    ruleset = render_objects(spec["objects"])
    _assert_tables_equal(expected_text(*spec["expected"]), ruleset.dump())
    # The transaction itself applies cleanly to an empty table and says the same.
    table = NftTable("ip", "kube-proxy").apply_text(ruleset.to_transaction())
    _assert_tables_equal(expected_text(*spec["expected"]), table.dump())


def test_fresh_node_transaction_starts_as_kube_proxy_does():
    """setupNFTables on a fresh proxier (§4.2): the table, then add+delete of each base chain
    (done once per process), then each base chain added and flushed."""
    lines = render_objects([]).to_transaction().splitlines()
    assert lines[:5] == [
        'add table ip kube-proxy { comment "rules for kube-proxy" ; }',
        "add chain ip kube-proxy filter-prerouting-pre-dnat",
        "delete chain ip kube-proxy filter-prerouting-pre-dnat",
        "add chain ip kube-proxy filter-output-pre-dnat",
        "delete chain ip kube-proxy filter-output-pre-dnat",
    ]
    assert lines[17:19] == [
        "add chain ip kube-proxy filter-prerouting-pre-dnat { type filter hook prerouting priority -110 ; }",
        "flush chain ip kube-proxy filter-prerouting-pre-dnat",
    ]
    assert "flush set ip kube-proxy nodeport-ips" in lines
    # Every line reads back as the operation it was written from.
    text = "\n".join(lines) + "\n"
    assert transaction_text([p.op for p in parse_transaction(text)], "ip", "kube-proxy") == text


# --- partial syncs ----------------------------------------------------------------------------------

def test_sync_proxy_rules_repeated():
    """TestSyncProxyRulesRepeated: partial syncs write only what changed (NumOperations), stale
    chains are flushed at once and deleted by a later sync, in a transaction of their own."""
    spec = load_yaml(NFT / "repeated.yaml")
    state, now = None, 0.0
    for step in spec["steps"]:
        if step.get("age_stale_chains"):
            now += 2.0  # ageStaleChains(): everything stale is now more than a second old
        ruleset = render_objects([spec["objects"][n] for n in step["objects"]])
        result = ruleset.sync(state, now=now)
        state = result.state
        where = f"step {step['name']!r}"
        assert result.full == (step is spec["steps"][0]), where
        if "expected" in step:
            diff = diff_transactions(expected_text("base_rules.nft", step["expected"]),
                                     state.kernel.dump())
            assert diff == "", f"{where}: tables do not match:\n{diff}"
        if "operations" in step:
            assert result.operations == step["operations"], f"{where}:\n{result.transaction}"
        if "cleanup_operations" in step:
            assert result.cleanup_operations == step["cleanup_operations"], where
            assert result.cleanup.count("delete chain ip kube-proxy ") == step["cleanup_operations"]
        if "stale_chains" in step:
            assert sorted(state.stale_chains) == step["stale_chains"], where


def test_partial_sync_transaction_text():
    """The partial transaction for "add a new service and its endpoints": the two elements,
    then each chain added, flushed and filled (knftables' syntax, kube-proxy's order)."""
    spec = load_yaml(NFT / "repeated.yaml")
    objs = spec["objects"]
    first = render_objects([objs[n] for n in ("svc1", "svc2", "eps1", "eps2")])
    second = render_objects([objs[n] for n in ("svc1", "svc2", "svc3", "eps1", "eps2", "eps3")])
    ep = "endpoint-2OCDJSZQ-ns3/svc3/tcp/p80__10.0.3.1/80"
    svc = "service-4AT6LBPK-ns3/svc3/tcp/p80"
    assert second.to_transaction(first).splitlines() == [
        f"add chain ip kube-proxy {ep}",
        f"flush chain ip kube-proxy {ep}",
        f"add chain ip kube-proxy {svc}",
        f"flush chain ip kube-proxy {svc}",
        "add element ip kube-proxy cluster-ips { 172.30.0.43 }",
        f"add element ip kube-proxy service-ips {{ 172.30.0.43 . tcp . 80 : goto {svc} }}",
        f"add rule ip kube-proxy {svc} ip daddr 172.30.0.43 ip saddr != 10.0.0.0/8 jump mark-for-masquerade",
        f"add rule ip kube-proxy {svc} numgen random mod 1 vmap {{ 0 : goto {ep} }}",
        f"add rule ip kube-proxy {ep} ip saddr 10.0.3.1 jump mark-for-masquerade",
        f"add rule ip kube-proxy {ep} meta l4proto tcp dnat to 10.0.3.1:80",
    ]
    # Nothing changed: nothing to write.
    assert second.to_transaction(second) == ""
    # full=True: setupNFTables again (without the once-per-process base-chain reset) and every
    # service, and no element written twice.
    full = second.sync(first, full=True)
    assert full.full and "delete chain" not in full.transaction
    assert full.transaction.count("add element ip kube-proxy cluster-ips") == 1


def test_changed_map_element_is_deleted_then_added():
    """nftElementStorage: an element whose verdict changes is deleted and added again in place
    (the kernel refuses to overwrite it); one no longer wanted is deleted at the end."""
    spec = load_yaml(NFT / "repeated.yaml")
    objs = spec["objects"]
    before = render_objects([objs["svc3"], objs["eps3"]])
    lines = render_objects([objs["svc3"]]).to_transaction(before).splitlines()
    assert lines[-1] == "delete element ip kube-proxy service-ips { 172.30.0.43 . tcp . 80 }"
    assert ('add element ip kube-proxy no-endpoint-services { 172.30.0.43 . tcp . 80 comment '
            '"ns3/svc3:p80" : goto reject-chain }') in lines
    # internalTrafficPolicy Local: no endpoints at all rejects, only remote ones drop.
    svc = dict(objs["svc3"], spec=dict(objs["svc3"]["spec"], internalTrafficPolicy="Local"))
    remote = dict(objs["eps3"], endpoints=[{"addresses": ["10.0.3.1"], "nodeName": "node2"}])
    lines = render_objects([svc, remote]).to_transaction(render_objects([svc])).splitlines()
    i = lines.index("delete element ip kube-proxy no-endpoint-services { 172.30.0.43 . tcp . 80 }")
    assert lines[i + 1] == ('add element ip kube-proxy no-endpoint-services { 172.30.0.43 . tcp . 80 '
                            'comment "ns3/svc3:p80" : drop }')


def test_sync_proxy_rules_startup():
    """TestSyncProxyRulesStartup: a restarted kube-proxy's first sync keeps the elements and
    endpoint chains already in the table and writes setupOps + 14 operations."""
    spec = load_yaml(NFT / "startup.yaml")
    setup_ops = render_objects([]).sync(None).operations
    existing = NftTable.from_text(expected_text(*spec["existing"]))
    result = render_objects(spec["objects"]).sync(existing)
    _assert_tables_equal(expected_text(*spec["expected"]), result.state.kernel.dump())
    assert result.operations == setup_ops + spec["operations_after_setup"], result.transaction


def test_restart_rewrites_endpoint_chain_when_affinity_changes():
    """epChainSkipUpdate keeps an existing endpoint chain only if its affinity set exists
    exactly when session affinity is on."""
    spec = load_yaml(NFT / "overall.yaml")
    ruleset = render_objects(spec["objects"])
    table = ruleset.table
    ep = "endpoint-GTK6MW7G-ns5/svc5/tcp/p80__10.180.0.3/80"
    again = ruleset.sync(table)  # same state, new process: endpoint chains kept
    assert f"flush chain ip kube-proxy {ep}" not in again.transaction
    assert "add set ip kube-proxy affinity-GTK6MW7G-ns5/svc5/tcp/p80__10.180.0.3/80" in again.transaction
    gone = NftTable.from_text(table.dump().replace(
        "add set ip kube-proxy affinity-GTK6MW7G-ns5/svc5/tcp/p80__10.180.0.3/80 "
        "{ type ipv4_addr ; flags dynamic,timeout ; timeout 10800s ; }\n", "").replace(
        f"add rule ip kube-proxy {ep} update @affinity-GTK6MW7G-ns5/svc5/tcp/p80__10.180.0.3/80 "
        "{ ip saddr }\n", "").replace(
        "add rule ip kube-proxy service-HVFWP5L3-ns5/svc5/tcp/p80 ip saddr "
        f"@affinity-GTK6MW7G-ns5/svc5/tcp/p80__10.180.0.3/80 goto {ep}\n", ""))
    assert f"flush chain ip kube-proxy {ep}" in ruleset.sync(gone).transaction
    # Affinity turned off while kube-proxy was down: the set is there, so the chain is rewritten.
    svc5 = next(o for o in spec["objects"] if o["kind"] == "Service" and o["metadata"]["name"] == "svc5")
    plain = dict(svc5, spec={k: v for k, v in svc5["spec"].items()
                             if k not in ("sessionAffinity", "sessionAffinityConfig")})
    without = render_objects([plain if o is svc5 else o for o in spec["objects"]])
    assert f"flush chain ip kube-proxy {ep}" in without.sync(table).transaction
    assert "flush chain ip kube-proxy endpoint-5OJB2KTY-ns1/svc1/tcp/p80__10.180.0.1/80" not in (
        without.sync(table).transaction)


def test_stale_affinity_set_is_deleted_at_once():
    """Stale affinity sets are deleted in the same transaction, after the chains using them
    were rewritten (unlike stale chains)."""
    spec = load_yaml(NFT / "overall.yaml")
    before = render_objects(spec["objects"])
    svc5 = next(o for o in spec["objects"] if o["metadata"]["name"] == "svc5" and o["kind"] == "Service")
    plain = dict(svc5, spec={k: v for k, v in svc5["spec"].items()
                             if k not in ("sessionAffinity", "sessionAffinityConfig")})
    after = render_objects([plain if o is svc5 else o for o in spec["objects"]])
    result = after.sync(before)
    lines = result.transaction.splitlines()
    delete = "delete set ip kube-proxy affinity-GTK6MW7G-ns5/svc5/tcp/p80__10.180.0.3/80"
    assert delete in lines
    assert lines.index(delete) > lines.index(
        "flush chain ip kube-proxy endpoint-GTK6MW7G-ns5/svc5/tcp/p80__10.180.0.3/80")
    assert "affinity-" not in result.state.kernel.dump()


def test_configuration_change_is_a_restart():
    """Another ProxyConfig is another kube-proxy: a full sync with the base-chain reset; a new
    zone label only forces a full sync (OnTopologyChange)."""
    spec = load_yaml(NFT / "overall.yaml")
    before = render_objects(spec["objects"])
    after = render_objects(spec["objects"], masquerade_all=True)
    assert "delete chain ip kube-proxy nat-prerouting" in after.to_transaction(before)
    zoned = render_objects(spec["objects"], zone="z1").sync(before)
    assert zoned.full and "delete chain" not in zoned.transaction


# --- single properties ----------------------------------------------------------------------------

@pytest.mark.parametrize("ip_mode, expected", [("Proxy", False), ("VIP", True), (None, True)])
def test_load_balancer_ingress_route_type_proxy(ip_mode, expected):
    """TestLoadBalancerIngressRouteTypeProxy: ipMode Proxy gets no service-ips element."""
    sp = ServicePort("ns1", "svc1", "p80", "TCP", "10.20.30.41", 80, type="LoadBalancer",
                     node_port=3001, load_balancer_ingress=(LoadBalancerIngress("1.2.3.4", ip_mode),))
    ep = Endpoint("ns1", "svc1", "p80", "TCP", "10.180.0.1", 80)
    table = render_nft(nft_config(), [sp], [ep], service_cidrs=SERVICE_CIDRS).table
    assert (table.find_element("service-ips", "1.2.3.4", "tcp", "80") is not None) == expected


@pytest.mark.parametrize("name, itp, etp, nodes, expected", [
    ("internalTrafficPolicy is set and there are local endpoints", "Local", None,
     ["test-node", "node1", "node2"], (0, 0)),
    ("externalTrafficPolicy is set and there are local endpoints", None, "Local",
     ["test-node", "node1", "node2"], (0, 0)),
    ("both policies are set and there are local endpoints", "Local", "Local",
     ["test-node", "node1", "node2"], (0, 0)),
    ("internalTrafficPolicy is set and there are no local endpoints", "Local", None,
     ["node0", "node1", "node2"], (1, 0)),
    ("externalTrafficPolicy is set and there are no local endpoints", None, "Local",
     ["node0", "node1", "node2"], (0, 1)),
    ("both policies are set and there are no local endpoints", "Local", "Local",
     ["node0", "node1", "node2"], (1, 1)),
    ("both policies are set and there are no endpoints at all", "Local", "Local", [], (0, 0)),
])
def test_no_endpoints_metric(name, itp, etp, nodes, expected):
    """TestNoEndpointsMetric: sync_proxy_rules_no_local_endpoints_total (internal, external)."""
    spec = {"clusterIP": "172.30.1.1", "selector": {"foo": "bar"},
            "ports": [{"name": "", "port": 80, "protocol": "TCP", "nodePort": 123}]}
    if itp:
        spec["internalTrafficPolicy"] = itp
    if etp:
        spec["type"] = "NodePort"
        spec["externalTrafficPolicy"] = etp
    objects = [
        {"apiVersion": "v1", "kind": "Service", "metadata": {"namespace": "ns1", "name": "svc1"},
         "spec": spec},
        {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice", "addressType": "IPv4",
         "metadata": {"namespace": "ns1", "name": "svc1-1",
                      "labels": {"kubernetes.io/service-name": "svc1"}},
         "ports": [{"name": "", "port": 80, "protocol": "TCP"}],
         "endpoints": [{"addresses": [f"10.0.1.{i + 1}"], "conditions": {"ready": True},
                        "nodeName": n} for i, n in enumerate(nodes)]},
    ]
    assert render_objects(objects).no_local_endpoints == expected, name


def test_service_cidrs_changed():
    """TestProxier_OnServiceCIDRsChanged: only the proxier's family, joined with "," (no
    spaces), in cluster-ips-check's drop rule; without any, no drop rule."""
    cidrs = ["172.30.0.0/16", "172.50.0.0/16", "fd00:10:96::/112", "fd00:172:30::/112"]
    v4 = render_objects([], service_cidrs=cidrs).table.chain_text("cluster-ips-check")
    assert v4.splitlines()[1] == "ip daddr { 172.30.0.0/16,172.50.0.0/16 } drop"
    v6 = render_objects([], service_cidrs=cidrs, family="IPv6").table.chain_text("cluster-ips-check")
    assert v6.splitlines() == ["ip6 daddr @cluster-ips reject",
                               "ip6 daddr { fd00:10:96::/112,fd00:172:30::/112 } drop"]
    assert render_objects([], service_cidrs=()).table.chain_text("cluster-ips-check") == (
        "ip daddr @cluster-ips reject")


@pytest.mark.parametrize("addresses, services_rule, nodeport_check, elements", [
    (None, "ip daddr @nodeport-ips meta l4proto . th dport vmap @service-nodeports",
     "ip daddr @nodeport-ips meta l4proto . th dport vmap @no-endpoint-nodeports", ["192.168.0.2"]),
    # nftables mode's default when --nodeport-addresses is not given: the primary node IP
    ((), "ip daddr @nodeport-ips meta l4proto . th dport vmap @service-nodeports",
     "ip daddr @nodeport-ips meta l4proto . th dport vmap @no-endpoint-nodeports", ["192.168.0.2"]),
    (["192.168.0.0/16", "127.0.0.1/32"],
     "ip daddr @nodeport-ips meta l4proto . th dport vmap @service-nodeports",
     "ip daddr @nodeport-ips meta l4proto . th dport vmap @no-endpoint-nodeports",
     ["192.168.0.2", "192.168.1.2", "192.168.99.11"]),  # loopback skipped
    (["0.0.0.0/0"],
     "fib daddr type local ip daddr != 127.0.0.0/8 meta l4proto . th dport vmap @service-nodeports",
     "ip daddr != 127.0.0.0/8 meta l4proto . th dport vmap @no-endpoint-nodeports", None),
])
def test_nodeport_addresses(addresses, services_rule, nodeport_check, elements):
    """--nodeport-addresses (§3.10): the nodeport-ips set, or fib daddr type local for all."""
    config = {} if addresses is None else {"node_port_addresses": addresses}
    table = render_objects([], **config).table
    assert table.chain_text("services").splitlines()[1] == services_rule
    assert table.chain_text("nodeport-endpoints-check") == nodeport_check
    if elements is None:
        assert "nodeport-ips" not in table.sets
    else:
        assert [e.key[0] for e in table.elements("nodeport-ips")] == elements


def test_ipv6_table():
    """The ip6 table: ip6 matches, ipv6_addr sets, bracketed DNAT, dotted endpoint names."""
    sp = ServicePort("ns1", "svc1", "p80", "TCP", "fd00:172:30::41", 80, type="NodePort",
                     node_port=3001)
    eps = [Endpoint("ns1", "svc1", "p80", "TCP", "fd00:10:180::1", 80),
           Endpoint("ns1", "svc1", "p80", "TCP", "10.180.0.1", 80)]  # other family: ignored
    ruleset = render_nft(nft_config(family="IPv6"), [sp], eps, service_cidrs=SERVICE_CIDRS)
    text = ruleset.to_transaction()
    assert text.startswith('add table ip6 kube-proxy { comment "rules for kube-proxy" ; }\n')
    assert "add set ip6 kube-proxy cluster-ips { type ipv6_addr ; comment \"Active ClusterIPs\" ; }" in text
    ep = "endpoint-" + endpoint_chain_base("ns1", "svc1", "tcp", "p80", "[fd00:10:180::1]:80")
    assert ep.endswith("__fd00.10.180..1/80")
    table = ruleset.table
    assert table.chain_text(ep) == ("ip6 saddr fd00:10:180::1 jump mark-for-masquerade\n"
                                    "meta l4proto tcp dnat to [fd00:10:180::1]:80")
    assert table.find_element("service-ips", "fd00:172:30::41", "tcp", "80") is not None
    assert [e.key for e in table.elements("nodeport-ips")] == [("2001:db8::1",)]
    assert "10.180.0.1" not in text


@pytest.mark.parametrize("overrides, rule", [
    ({}, "ip daddr 172.30.0.41 ip saddr != 10.0.0.0/8 jump mark-for-masquerade"),
    ({"masquerade_all": True}, "ip daddr 172.30.0.41 jump mark-for-masquerade"),
    ({"detect_local_mode": ""}, None),
    ({"detect_local_mode": "BridgeInterface", "bridge_interface": "cni0"},
     "ip daddr 172.30.0.41 iifname != cni0 jump mark-for-masquerade"),
    ({"detect_local_mode": "InterfaceNamePrefix", "interface_name_prefix": "veth"},
     "ip daddr 172.30.0.41 iifname != veth* jump mark-for-masquerade"),
])
def test_cluster_ip_masquerade_rule(overrides, rule):
    """The service chain's first rule per local-traffic detector (§3.3 rule 1)."""
    spec = load_yaml(NFT / "overall.yaml")
    table = render_objects(spec["objects"], **overrides).table
    first = table.rules("service-ULMVA6XW-ns1/svc1/tcp/p80")[0].rule
    if rule is None:
        assert first.startswith("numgen ")
    else:
        assert first == rule


def test_production_mark_is_zero_padded():
    """kube-proxy formats the mark with Go's %#08x: 0x00004000; the tests inject 0x4000."""
    text = render_objects([], mark_style="padded").to_transaction()
    assert "add rule ip kube-proxy mark-for-masquerade mark set mark or 0x00004000\n" in text
    assert "add rule ip kube-proxy masquerading mark and 0x00004000 == 0 return\n" in text


def test_firewall_allows_lb_ips_when_a_range_holds_the_node_ip():
    """TestLoadBalancer's firewall rule: the ranges, then the LB IPs (allowFromNode)."""
    spec = load_yaml(NFT / "flows" / "load_balancer.yaml")
    table = render_objects(spec["cases"][0]["objects"]).table
    assert table.chain_text("firewall-ULMVA6XW-ns1/svc1/tcp/p80") == (
        "ip saddr != { 192.168.0.0/24 , 203.0.113.0/25 , 1.2.3.4 , 5.6.7.8 } drop")


def test_service_info():
    """The objects each service port owns, for listings."""
    spec = load_yaml(NFT / "overall.yaml")
    info = {i.service_port: i for i in render_objects(spec["objects"]).services}
    svc2 = info["ns2/svc2:p80"]
    assert (svc2.service_chain, svc2.local_chain, svc2.external_chain, svc2.firewall_chain) == (
        "service-42NFTM6N-ns2/svc2/tcp/p80", None, "external-42NFTM6N-ns2/svc2/tcp/p80", None)
    assert svc2.endpoints == (("10.180.0.2:80", "endpoint-SGOXE6O3-ns2/svc2/tcp/p80__10.180.0.2/80"),)
    assert info["ns5/svc5:p80"].affinity_sets == (
        "affinity-GTK6MW7G-ns5/svc5/tcp/p80__10.180.0.3/80",)
    svc6 = info["ns6/svc6:p80"]
    assert (svc6.service_chain, svc6.endpoints, [e.container for e in svc6.elements]) == (
        None, (), ["cluster-ips", "no-endpoint-services"])


def test_headless_and_external_name_services_get_nothing():
    """TestBuildServiceMapServiceHeadless, TestBuildServiceMapServiceTypeExternalName: no
    service ports, so nothing beyond the base rules."""
    objects = [
        {"apiVersion": "v1", "kind": "Service",
         "metadata": {"namespace": "somewhere-else", "name": "headless"},
         "spec": {"type": "ClusterIP", "clusterIP": "None",
                  "ports": [{"name": "rpc", "port": 1234, "protocol": "UDP"}]}},
        {"apiVersion": "v1", "kind": "Service",
         "metadata": {"namespace": "somewhere-else", "name": "headless-without-port"},
         "spec": {"type": "ClusterIP", "clusterIP": "None"}},
        {"apiVersion": "v1", "kind": "Service",
         "metadata": {"namespace": "somewhere-else", "name": "external-name"},
         "spec": {"type": "ExternalName", "clusterIP": "172.30.55.4", "externalName": "foo2.bar.com",
                  "ports": [{"name": "blah", "port": 1235, "protocol": "UDP", "nodePort": 5321}]}},
    ]
    ruleset = render_objects(objects)
    assert ruleset.services == []
    _assert_tables_equal(expected_text("base_rules.nft"), ruleset.dump())


def test_render_is_deterministic_and_order_independent():
    spec = load_yaml(NFT / "overall.yaml")
    a = render_objects(spec["objects"]).to_transaction()
    b = render_objects(list(reversed(spec["objects"]))).to_transaction()
    assert a == b


# --- names (Test_servicePortChainNameBase, Test_servicePortEndpointChainNameBase) -------------

LONG_NS = "very-long-namespace-name-abcdefghijklmnopqrstuvwxyz0123456789xx"
LONG_NAME = "very-long-service-name-why-would-you-even-do-this-i-mean-really"
LONG_PORT = "port-443-providing-the-hypertext-transmission-protocol-with-tls"


@pytest.mark.parametrize("ns, name, port, protocol, expected", [
    ("testing", "service", "http", "tcp", "P4ZYZVCF-testing/service/tcp/http"),
    ("testing", "service", "https", "tcp", "LZBRENCP-testing/service/tcp/https"),
    (LONG_NS, LONG_NAME, LONG_PORT, "sctp", f"KR6NACJP-{LONG_NS}/{LONG_NAME}/sctp/{LONG_PORT}"),
])
def test_service_port_chain_name_base(ns, name, port, protocol, expected):
    assert service_port_chain_base(ns, name, protocol, port) == expected


@pytest.mark.parametrize("ns, name, port, protocol, endpoint, expected", [
    ("testing", "service", "http", "tcp", "10.180.0.1:80",
     "JO2XBXZR-testing/service/tcp/http__10.180.0.1/80"),
    ("testing", "service", "http", "tcp", "10.180.0.2:80",
     "5S6H3H22-testing/service/tcp/http__10.180.0.2/80"),
    ("testing", "service", "http", "tcp", "[fd80:abcd:12::a1b2:c3d4:e5f6:9999]:80",
     "U7E2ET36-testing/service/tcp/http__fd80.abcd.12..a1b2.c3d4.e5f6.9999/80"),
    (LONG_NS, LONG_NAME, LONG_PORT, "sctp", "[1234:5678:9abc:def0::abc:1234]:443",
     f"5YS7AFEA-{LONG_NS}/{LONG_NAME}/sctp/{LONG_PORT}__1234.5678.9abc.def0..abc.1234/443"),
    (LONG_NS, LONG_NAME, LONG_PORT, "sctp", "[1234:5678:9abc:def0::abcd:1234:5678]:443",
     f"CI6C53Q3-{LONG_NS}/{LONG_NAME}/sctp/{LONG_PORT}__1234.5678.9abc.def0..abcd.1234..."),
    (LONG_NS, LONG_NAME, LONG_PORT, "sctp", "[1234:5678:9abc:def0::abcd:1234:8765]:443",
     f"2FLXFK6X-{LONG_NS}/{LONG_NAME}/sctp/{LONG_PORT}__1234.5678.9abc.def0..abcd.1234..."),
])
def test_service_port_endpoint_chain_name_base(ns, name, port, protocol, endpoint, expected):
    got = endpoint_chain_base(ns, name, protocol, port, endpoint)
    assert got == expected
    assert len(got) <= 240


def test_hash_matches_the_standard_library():
    import base64
    import hashlib
    for text in ("ns1/svc1/tcp/p80", "kube-system/kube-dns/udp/dns", "x" * 300):
        want = base64.b32encode(hashlib.sha256(text.encode()).digest()).decode()[:8]
        assert hash_and_truncate(text)[:9] == want + "-"


# --- the comparison helpers (helpers_test.go) ------------------------------------------------------

def test_sort_nftables_transaction():
    """Test_sortNFTablesTransaction (helpers_test.go)."""
    got = sort_transaction((NFT / "helpers_sort_input.nft").read_text())
    assert got == (NFT / "helpers_sort_expected.nft").read_text().strip()


def test_diff_nftables_transaction():
    """Test_diffNFTablesTransaction: equal once sorted; a missing line is a difference."""
    given = (NFT / "helpers_sort_input.nft").read_text()
    expected = (NFT / "helpers_sort_expected.nft").read_text()
    assert diff_transactions(given, expected) == ""
    not_expected = "\n".join(expected.split("\n")[2:])
    assert diff_transactions(given, not_expected) != ""


def test_diff_nftables_chain():
    """Test_diffNFTablesChain: a chain's rules as text, trailing newlines ignored."""
    table = NftTable("ip", "testing").apply_text(
        "add table ip testing\n"
        "add chain ip testing mark-masq-chain\n"
        "add chain ip testing masquerade-chain\n"
        "add chain ip testing empty-chain\n"
        "add rule ip testing mark-masq-chain mark set mark or 0x4000\n"
        "add rule ip testing masquerade-chain mark and 0x4000 == 0 return\n"
        "add rule ip testing masquerade-chain mark set mark xor 0x4000\n"
        "add rule ip testing masquerade-chain masquerade fully-random\n")
    assert table.chain_text("mark-masq-chain") == "mark set mark or 0x4000\n".strip()
    assert table.chain_text("masquerade-chain") == (
        "mark and 0x4000 == 0 return\nmark set mark xor 0x4000\nmasquerade fully-random")
    assert table.chain_text("masquerade-chain") != "mark set mark xor 0x4000\nmasquerade fully-random"
    assert table.chain_text("empty-chain") == "\n".strip()


# --- the in-memory table: what nft would refuse ----------------------------------------------------

@pytest.mark.parametrize("text, message", [
    ("add chain ip kube-proxy x\n", "no such table"),
    ("add table ip kube-proxy\nadd rule ip kube-proxy x drop\n", "no such chain 'x'"),
    ("add table ip kube-proxy\nadd chain ip kube-proxy a\nadd rule ip kube-proxy a jump b\n",
     "no such chain 'b'"),
    ("add table ip kube-proxy\nadd chain ip kube-proxy a\nadd chain ip kube-proxy b\n"
     "add rule ip kube-proxy a jump b\ndelete chain ip kube-proxy b\n", "still the target of a rule of chain .a."),
    ("add table ip kube-proxy\nadd map ip kube-proxy m { type inet_proto . inet_service : verdict ; }\n"
     "add chain ip kube-proxy a\nadd element ip kube-proxy m { tcp . 80 : goto a }\n"
     "add element ip kube-proxy m { tcp . 80 : drop }\n", "already exists with value 'goto a'"),
    ("add table ip kube-proxy\nadd set ip kube-proxy s { type ipv4_addr ; }\n"
     "delete element ip kube-proxy s { 1.2.3.4 }\n", "no such element"),
    ("add table ip kube-proxy\nadd chain ip kube-proxy a\nadd rule ip kube-proxy a ip daddr @s drop\n",
     "no such set 's'"),
    ("add table ip kube-proxy\nfrobnicate\n", "line 2: not an nft operation"),
])
def test_table_refuses_what_nft_refuses(text, message):
    with pytest.raises(NftTextError, match=message):
        NftTable("ip", "kube-proxy").apply_text(text)


def test_a_chain_named_by_a_map_element_cannot_go_until_the_element_goes():
    table = NftTable.from_text(
        "add table ip kube-proxy\nadd map ip kube-proxy m { type inet_proto . inet_service : verdict ; }\n"
        "add chain ip kube-proxy a\nadd element ip kube-proxy m { tcp . 80 : goto a }\n")
    with pytest.raises(NftTextError, match="still the target of an element of map 'm'"):
        table.apply_text("delete chain ip kube-proxy a\n")
    table = table.apply_text("delete element ip kube-proxy m { tcp . 80 }\ndelete chain ip kube-proxy a\n")
    assert table.chain_names() == []
    # a flushed chain no longer holds its jumps: the chain it jumped to may go
    table = NftTable.from_text("add table ip kube-proxy\nadd chain ip kube-proxy a\nadd chain ip kube-proxy b\n"
                               "add rule ip kube-proxy a jump b\n")
    assert table.apply_text("flush chain ip kube-proxy a\ndelete chain ip kube-proxy b\n").chain_names() == ["a"]


def test_a_transaction_leaves_the_table_it_started_from_as_it_was():
    # the result shares what it did not change with the original (copy-on-write), never what it did
    before = NftTable.from_text(
        "add table ip kube-proxy\nadd chain ip kube-proxy a\nadd chain ip kube-proxy b\n"
        "add rule ip kube-proxy a drop\nadd set ip kube-proxy s { type ipv4_addr ; }\n"
        "add element ip kube-proxy s { 1.2.3.4 }\n")
    dump = before.dump()
    after = before.apply_text("add rule ip kube-proxy a accept\nflush chain ip kube-proxy b\n"
                              "add element ip kube-proxy s { 5.6.7.8 }\ndelete element ip kube-proxy s { 1.2.3.4 }\n")
    assert before.dump() == dump
    assert after.chain_text("a") == "drop\naccept" and [e.key for e in after.elements("s")] == [("5.6.7.8",)]
    later = after.apply_text("flush set ip kube-proxy s\nadd rule ip kube-proxy b drop\n")
    assert after.chain_text("b") == "" and [e.key for e in after.elements("s")] == [("5.6.7.8",)]
    assert later.chain_text("b") == "drop" and later.elements("s") == [] and before.dump() == dump


def test_failed_transaction_changes_nothing():
    table = NftTable.from_text("add table ip kube-proxy\nadd chain ip kube-proxy a\n")
    with pytest.raises(NftTextError, match="operation 2: no such chain 'b'"):
        table.apply_text("add rule ip kube-proxy a drop\nadd rule ip kube-proxy b drop\n")
    assert table.rules("a") == []


def test_parse_round_trip_with_quotes_and_ipv6_keys():
    text = ('add table ip6 kube-proxy { comment "rules for kube-proxy" ; }\n'
            'add map ip6 kube-proxy no-endpoint-services { type ipv6_addr . inet_proto . inet_service : verdict ; comment "a \\"quoted\\" one" ; }\n'
            'add chain ip6 kube-proxy reject-chain { comment "helper" ; }\n'
            'add element ip6 kube-proxy no-endpoint-services { fd00::1 . tcp . 80 comment "ns/svc:p" : goto reject-chain }\n'
            "delete element ip6 kube-proxy no-endpoint-services { fd00::1 . tcp . 80 }\n")
    ops = parse_transaction(text)
    assert ops[3].op.obj.key == ("fd00::1", "tcp", "80")
    assert ops[3].op.obj.value == ("goto reject-chain",)
    assert ops[1].op.obj.comment == 'a "quoted" one'
    assert transaction_text([p.op for p in ops], "ip6", "kube-proxy") == text
    assert NftTable.from_text(text, "ip6").elements("no-endpoint-services") == []


def test_a_partial_sync_replans_only_the_changed_port_and_writes_what_a_fresh_render_writes():
    import dataclasses
    from netlab.proxy import nft_render
    config = nft_config()
    ports = [ServicePort(namespace="ns1", name=f"svc{i}", port_name="p80", protocol="TCP", port=80,
                         cluster_ip=f"172.30.0.{40 + i}") for i in range(5)]
    eps = [Endpoint(namespace="ns1", service=f"svc{i}", port_name="p80", protocol="TCP", ip=f"10.180.0.{i + 1}",
                    port=80, ready=True, serving=True, terminating=False, node_name="test-node")
           for i in range(5)]
    first = render_nft(config, ports, eps, service_cidrs=SERVICE_CIDRS).sync(None, now=0.0)
    eps[2] = dataclasses.replace(eps[2], ip="10.180.0.99")
    planned = []
    original = nft_render._plan_port
    nft_render._plan_port = lambda sp, e, s: planned.append(sp.name) or original(sp, e, s)
    try:
        cached = render_nft(config, ports, eps, service_cidrs=SERVICE_CIDRS).sync(first.state, now=10.0)
    finally:
        nft_render._plan_port = original
    assert planned == ["svc2"]
    nft_render._PLAN_CACHE.clear()
    fresh = render_nft(config, ports, eps, service_cidrs=SERVICE_CIDRS).sync(first.state, now=10.0)
    assert cached.transaction == fresh.transaction and "10.180.0.99" in cached.transaction


def _five_ports(changed_ip=None):
    ports = [ServicePort(namespace="ns1", name=f"svc{i}", port_name="p80", protocol="TCP", port=80,
                         cluster_ip=f"172.30.0.{40 + i}") for i in range(5)]
    eps = [Endpoint(namespace="ns1", service=f"svc{i}", port_name="p80", protocol="TCP",
                    ip=changed_ip if (changed_ip and i == 2) else f"10.180.0.{i + 1}",
                    port=80, ready=True, serving=True, terminating=False, node_name="test-node")
           for i in range(5)]
    return ports, eps


def test_a_tables_digest_names_its_contents_and_is_the_same_in_another_process():
    import subprocess
    import sys
    from netlab.proxy import nft_render
    config = nft_config()
    digest = render_nft(config, *_five_ports(), service_cidrs=SERVICE_CIDRS).digest()
    nft_render._PLAN_CACHE.clear()
    assert render_nft(config, *_five_ports(), service_cidrs=SERVICE_CIDRS).digest() == digest   # planned afresh
    assert render_nft(config, *_five_ports("10.180.0.99"), service_cidrs=SERVICE_CIDRS).digest() != digest
    assert render_nft(nft_config(masquerade_all=True), *_five_ports(), service_cidrs=SERVICE_CIDRS).digest() != digest
    # the lab's record is written by one process and read by another (str hashes differ between them)
    code = ("import sys; sys.path[:0] = ['tests/proxy', '.']; import test_proxy_nft_golden as t; "
            "print(t.render_nft(t.nft_config(), *t._five_ports(), service_cidrs=t.SERVICE_CIDRS).digest())")
    other = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                           env={"PYTHONHASHSEED": "12345", "PATH": "/usr/bin:/bin"})
    assert other.stdout.strip() == digest
