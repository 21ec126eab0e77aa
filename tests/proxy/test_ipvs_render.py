"""kube-proxy's IPVS mode, rendered: expectations ported from kubernetes
pkg/proxy/ipvs/proxier_test.go @9f4edccb (the stored copy nearest 531be812).

golden/ipvs/*.yaml hold the Go tests' objects and assertions (README.md there says how each
kind of assertion is compared: as upstream does, sets of virtual/real servers, sorted set
entries, per-chain jump targets and match-sets). The rendered *texts* are what is checked:
ipvsadm-save, ipset save and iptables-restore output are parsed back and compared. Tests whose
Services have a port without a number (the Go tests' `TargetPort`-only ports) build the model
directly, as objects.py refuses such ports. No root, except the marked namespace round trip.
"""

from __future__ import annotations

import itertools
import os
import shutil
import subprocess
from dataclasses import replace
from typing import Dict, List

import pytest

from netlab.proxy.ipvs_render import (IpvsRuleset, is_valid_for_set, node_addresses,
                                      parse_ipset_save, parse_ipvsadm_save, render_ipvs, set_name)
from netlab.proxy.model import DETECT_NONE, MARK_SHORT, Endpoint, LoadBalancerIngress, ProxyConfig, ServicePort
from netlab.proxy.objects import Inventory, render_input_from_inventory
from netlab.proxy.ruleset import parse_restore_text

from proxy_testlib import GOLDEN, fixture_config, load_yaml

IPVS = GOLDEN / "ipvs"

# NewFakeProxier (proxier_test.go): node "test-node", no proxier.nodeIP, a no-op local-traffic
# detector, scheduler rr, no --random-fully; its netlink fake lists nodeIPs on eth0
# (interface_addresses). Its masquerade mark is unset; netlab writes the tests' usual 0x4000.
FAKE = ProxyConfig(node_name="test-node", node_ips=(), interface_addresses=(), detect_local_mode=DETECT_NONE,
                   mark_style=MARK_SHORT, random_fully=False)


def fake_config(**overrides) -> ProxyConfig:
    """FAKE with OVERRIDES (ProxyConfig fields; lists become tuples)."""
    return replace(FAKE, **{k: tuple(v) if isinstance(v, list) else v for k, v in overrides.items()})


def _cases():
    for path in sorted(IPVS.glob("*.yaml")):
        spec = load_yaml(path)
        defaults = (spec.get("defaults") or {}).get("config") or {}
        for i, case in enumerate(spec["cases"]):
            upstream = case.get("upstream") or spec["upstream"]
            name = f"{upstream}/{case['name']}" if case.get("name") else upstream
            config = dict(defaults, **(case.get("config") or {}))
            yield pytest.param(config, case["objects"], case["expect"], id=f"{path.stem}[{i}] {name}")


def render_objects(objects: list, config: ProxyConfig) -> IpvsRuleset:
    data = render_input_from_inventory(Inventory().add(objects, "test"), config.node_name, config.family)
    return render_ipvs(config, data.service_ports, data.endpoints)


def iptables_view(text: str) -> Dict[str, List[str]]:
    """getRules for every chain: nat rules, then filter rules, each "TARGET[ set=S][ src=C]"."""
    out: Dict[str, List[str]] = {}
    ruleset = parse_restore_text(text)
    for table in ("nat", "filter"):
        for chain, args in ruleset.tables[table].rules:
            words = args.split()
            rule = words[words.index("-j") + 1]
            if "--match-set" in words:
                rule += f" set={words[words.index('--match-set') + 1]}"
            if "-s" in words and words[words.index("-s") - 1] != "!":
                rule += f" src={words[words.index('-s') + 1]}"
            out.setdefault(chain, []).append(rule)
    return out


def _vs(table: Dict[str, List[str]], arg: str) -> List[str]:
    """The real servers of the one virtual server whose service argument is ARG (-t IP:PORT)."""
    keys = [k for k in table if k == arg or k.startswith(arg + " ")]
    assert len(keys) == 1, f"{arg}: {keys} among {sorted(table)}"
    return table[keys[0]]


def _bare(rule: str) -> str:
    """A rule view without src=, for expectations that do not name one (checkIptables)."""
    return " ".join(w for w in rule.split() if not w.startswith("src="))


@pytest.mark.parametrize("config, objects, expect", list(_cases()))
def test_upstream_expectation(config, objects, expect):
    ruleset = render_objects(objects, fake_config(**config))
    table = parse_ipvsadm_save(ruleset.ipvsadm_save())
    if "ipvs" in expect:  # reflect.DeepEqual of the whole fake IPVS
        assert {k: sorted(v) for k, v in table.items()} == {k: sorted(v) for k, v in expect["ipvs"].items()}
    if "ipvs_count" in expect:
        assert len(table) == expect["ipvs_count"], sorted(table)
    for arg, servers in (expect.get("ipvs_some") or {}).items():
        assert sorted(_vs(table, arg)) == sorted(servers), arg
    for arg, allowed in (expect.get("ipvs_rs_within") or {}).items():
        assert set(_vs(table, arg)) <= set(allowed), arg
    if "ipvs_persistence" in expect:
        assert table and all(f" -p {expect['ipvs_persistence']}" in f" {k}" for k in table), sorted(table)
    sets = parse_ipset_save(ruleset.ipset_save())
    for name, entries in (expect.get("ipsets") or {}).items():
        assert sorted(sets[name]) == sorted(entries), name
    view = iptables_view(ruleset.iptables_restore())
    for chain, rules in (expect.get("iptables") or {}).items():
        got = [r if "src=" in want else _bare(r) for r, want in zip(view.get(chain, []), rules)]
        assert len(view.get(chain, [])) == len(rules) and got == rules, (chain, view.get(chain))
    if "no_local" in expect:
        assert list(ruleset.no_local_endpoints) == expect["no_local"]


# --- Go tests whose Services have a port without a number: the model, built directly -------------

def _slice_eps(ns, name, specs, port=80, protocol="TCP"):
    return [Endpoint(ns, name, "", protocol, ip, port, ready=ready, serving=ready, node_name=node)
            for ip, node, ready in specs]


def test_endpoint_slice_e2e():
    """TestEndpointSliceE2E: the local endpoint is in KUBE-LOOP-BACK, the ready ones are real
    servers; once the slice is deleted the virtual server stays, empty."""
    sp = ServicePort("ns1", "svc1", "", "TCP", "172.20.1.1", 0)
    eps = _slice_eps("ns1", "svc1", [("10.0.1.1", "test-node", True), ("10.0.1.2", "node2", True),
                                     ("10.0.1.3", "node3", True), ("10.0.1.4", "node3", False)])
    r = render_ipvs(FAKE, [sp], eps)
    assert r.ipset("KUBE-LOOP-BACK").entries == {"10.0.1.1,tcp:80,10.0.1.1"}
    table = parse_ipvsadm_save(r.ipvsadm_save())
    assert table == {"-t 172.20.1.1:0 -s rr": ["10.0.1.1:80", "10.0.1.2:80", "10.0.1.3:80"]}
    r = render_ipvs(FAKE, [sp], [])
    assert r.ipset("KUBE-LOOP-BACK").entries == set()
    assert parse_ipvsadm_save(r.ipvsadm_save()) == {"-t 172.20.1.1:0 -s rr": []}


def test_health_check_node_port_e2e():
    """TestHealthCheckNodePortE2E: the health check node port of a Local LoadBalancer is in
    KUBE-HEALTH-CHECK-NODE-PORT, follows spec changes, and goes with the Service."""
    sp = ServicePort("ns1", "svc1", "", "TCP", "172.20.1.1", 0, type="LoadBalancer",
                     health_check_node_port=30000, external_traffic_policy="Local")
    assert render_ipvs(FAKE, [sp], []).ipset("KUBE-HEALTH-CHECK-NODE-PORT").entries == {"30000"}
    sp = replace(sp, health_check_node_port=30001)
    assert render_ipvs(FAKE, [sp], []).ipset("KUBE-HEALTH-CHECK-NODE-PORT").entries == {"30001"}
    assert render_ipvs(FAKE, [], []).ipset("KUBE-HEALTH-CHECK-NODE-PORT").entries == set()


@pytest.mark.parametrize("policy, nodes, loop_back, servers", [
    ("Cluster", ["test-node", "node1", "node2"], 1, ["10.0.1.1:80", "10.0.1.2:80", "10.0.1.3:80"]),
    ("Cluster", ["node0", "node1", "node2"], 0, None),
    ("Local", ["test-node", "node1", "node2"], 1, ["10.0.1.1:80"]),
    ("Local", ["node0", "node1", "node2"], 0, None),
])
def test_internal_traffic_policy_e2e(policy, nodes, loop_back, servers):
    """TestTestInternalTrafficPolicyE2E: iTP Local keeps only local endpoints as real servers."""
    sp = ServicePort("ns1", "svc1", "", "TCP", "172.20.1.1", 0, internal_traffic_policy=policy)
    eps = _slice_eps("ns1", "svc1", [(f"10.0.1.{i + 1}", n, True) for i, n in enumerate(nodes)])
    r = render_ipvs(FAKE, [sp], eps)
    assert len(r.ipset("KUBE-LOOP-BACK").entries) == loop_back
    table = parse_ipvsadm_save(r.ipvsadm_save())
    if servers is not None:  # expectVirtualServer
        assert len(table) == 1 and list(table.values())[0] == servers
    else:
        assert list(table.values()) in ([[]], [["10.0.1.1:80", "10.0.1.2:80", "10.0.1.3:80"]])
    r = render_ipvs(FAKE, [sp], [])
    assert r.ipset("KUBE-LOOP-BACK").entries == set()
    assert list(parse_ipvsadm_save(r.ipvsadm_save()).values()) == [[]]


# --- single chains and helpers ---------------------------------------------------------------------

@pytest.mark.parametrize("random_fully", [False, True])
def test_masquerade_rule(random_fully):
    """TestMasqueradeRule: KUBE-POSTROUTING's MASQUERADE has --random-fully iff iptables has it."""
    text = render_ipvs(fake_config(random_fully=random_fully), [], []).iptables_restore()
    masq = [l for l in text.splitlines() if l.startswith("-A KUBE-POSTROUTING") and "-j MASQUERADE" in l
            and "--match-set" not in l]
    assert len(masq) == 1 and masq[0].endswith("--random-fully") == random_fully


@pytest.mark.parametrize("family, src", [("IPv4", "127.0.0.0/8"), ("IPv6", "::1/128")])
def test_dismiss_localhost_rule_exist(family, src):
    """TestDismissLocalhostRuleExist: the first KUBE-SERVICES rule returns localhost sources."""
    view = iptables_view(render_ipvs(fake_config(family=family), [], []).iptables_restore())
    assert view["KUBE-SERVICES"][0] == f"RETURN src={src}"


def test_create_and_link_kube_chain():
    """TestCreateAndLinkKubeChain: the chains each table's restore declares, in order."""
    text = render_ipvs(FAKE, [], []).iptables_restore()
    nat, filt = text.split("*filter\n")
    assert [l for l in nat.splitlines() if l.startswith(":")] == [
        ":KUBE-SERVICES - [0:0]", ":KUBE-POSTROUTING - [0:0]", ":KUBE-NODE-PORT - [0:0]",
        ":KUBE-LOAD-BALANCER - [0:0]", ":KUBE-MARK-MASQ - [0:0]"]
    assert [l for l in filt.splitlines() if l.startswith(":")] == [
        ":KUBE-FORWARD - [0:0]", ":KUBE-NODE-PORT - [0:0]", ":KUBE-PROXY-FIREWALL - [0:0]",
        ":KUBE-SOURCE-RANGES-FIREWALL - [0:0]", ":KUBE-IPVS-FILTER - [0:0]", ":KUBE-IPVS-OUT-FILTER - [0:0]"]


@pytest.mark.parametrize("v6, ip, valid", [
    (False, "127.0.0.1", False), (False, "127.0.0.0", False), (False, "127.6.7.8", False),
    (False, "8.8.8.8", True), (False, "192.168.0.1", True), (False, "169.254.0.0", True),
    (False, "::ffff:169.254.0.0", True), (False, "1000::", False),
    (True, "::1", False), (True, "1000::", True), (True, "fe80::200:ff:fe01:1", False),
    (True, "8.8.8.8", False), (True, "::ffff:8.8.8.8", False),
])
def test_ip_is_valid_for_set(v6, ip, valid):
    """TestIpIsValidForSet."""
    assert is_valid_for_set(ip, v6) == valid


@pytest.mark.parametrize("family, addresses, expected", [
    ("IPv4", ["1.2.3.4", "127.0.0.1"], ["1.2.3.4"]),  # case 0
    ("IPv4", ["127.0.0.1"], []),  # case 1
    ("IPv4", [], []),  # case 2
    ("IPv4", ["10.20.30.40", "fe80::200:ff:fe01:1", "127.0.0.1", "::1", "172.17.0.1"],
     ["10.20.30.40", "172.17.0.1"]),  # case 3
    ("IPv4", ["10.20.30.40", "127.0.0.1", "::1", "1000::", "10.20.30.31"], ["10.20.30.40", "10.20.30.31"]),  # case 4
    ("IPv4", ["1.2.3.4", "127.0.0.1", "::1", "10.20.30.31"], ["1.2.3.4", "10.20.30.31"]),  # case 9 (ipvs0, not kube-ipvs0)
    ("IPv6", ["1.2.3.4", "1000::", "127.0.0.1", "::1", "10.20.30.31", "2000::", "fe80::200:ff:fe01:1"],
     ["1000::", "2000::"]),  # case 10
])
def test_get_node_ips(family, addresses, expected):
    """TestGetNodeIPs, the cases without kube-ipvs0 addresses (netlab's inputs are the node's
    own interfaces; cases 5-8 and 11 subtract addresses already on kube-ipvs0)."""
    assert node_addresses(fake_config(family=family, interface_addresses=addresses)) == expected


def test_multi_port_service_bind_addr():
    """TestMultiPortServiceBindAddr: a multi-port Service binds its cluster IP once."""
    ports = [ServicePort("ns1", "svc1", p, proto, "172.16.55.4", n)
             for p, proto, n in (("port1", "TCP", 1234), ("port2", "TCP", 1235), ("port3", "UDP", 1236))]
    for some in (ports[:2], ports[:1], ports):
        r = render_ipvs(FAKE, some, [])
        assert r.bound_addresses == ["172.16.55.4"]
        assert r.addresses_text() == "ip addr add 172.16.55.4/32 dev kube-ipvs0\n"
    assert render_ipvs(FAKE, [], []).bound_addresses == []


# --- what proxier.go does that its tests do not pin ------------------------------------------------

def test_ipvsadm_save_form():
    """ipvsadm 1.31's FMT_RULE: -t/-u/--sctp-service, [IPv6]:port, -p for persistence, -m -w 1."""
    ports = [ServicePort("ns", "a", "", "TCP", "fd00::10", 80, session_affinity="ClientIP",
                         session_affinity_timeout=600),
             ServicePort("ns", "b", "", "UDP", "fd00::11", 53),
             ServicePort("ns", "c", "", "SCTP", "fd00::12", 9)]
    eps = [Endpoint("ns", n, "", proto, "fd00:1::2", port) for n, proto, port in
           (("a", "TCP", 8080), ("b", "UDP", 53), ("c", "SCTP", 9))]
    text = render_ipvs(fake_config(family="IPv6"), ports, eps).ipvsadm_save()
    assert text == ("-A -t [fd00::10]:80 -s rr -p 600\n"
                    "-a -t [fd00::10]:80 -r [fd00:1::2]:8080 -m -w 1\n"
                    "-A -u [fd00::11]:53 -s rr\n"
                    "-a -u [fd00::11]:53 -r [fd00:1::2]:53 -m -w 1\n"
                    "-A --sctp-service [fd00::12]:9 -s rr\n"
                    "-a --sctp-service [fd00::12]:9 -r [fd00:1::2]:9 -m -w 1\n")
    mh = render_ipvs(fake_config(family="IPv6"), ports[:1], [], scheduler="mh").ipvsadm_save()
    assert mh == "-A -t [fd00::10]:80 -s mh -p 600 -b mh-port\n"


def test_ipv6_set_names_and_create_lines():
    """NewIPSet: KUBE-6- names cut to 31 characters; hash sets family inet6, bitmaps a range."""
    assert set_name("KUBE-CLUSTER-IP", True) == "KUBE-6-CLUSTER-IP"
    assert set_name("KUBE-LOAD-BALANCER-SOURCE-CIDR", True) == "KUBE-6-LOAD-BALANCER-SOURCE-CID"
    assert set_name("KUBE-NODE-PORT-LOCAL-SCTP-HASH", True) == "KUBE-6-NODE-PORT-LOCAL-SCTP-HAS"
    assert set_name("KUBE-CLUSTER-IP", False) == "KUBE-CLUSTER-IP"
    lines = render_ipvs(fake_config(family="IPv6"), [], []).ipset_save().splitlines()
    assert len(lines) == 17 and all(len(l.split()[1]) <= 31 for l in lines)
    assert "create KUBE-6-CLUSTER-IP hash:ip,port family inet6 hashsize 1024 maxelem 65536" in lines
    assert "create KUBE-6-NODE-PORT-TCP bitmap:port range 0-65535" in lines
    assert "create KUBE-IPVS-IPS hash:ip family inet hashsize 1024 maxelem 65536" in \
        render_ipvs(FAKE, [], []).ipset_save().splitlines()


@pytest.mark.parametrize("overrides, rule", [
    ({}, "-m set --match-set KUBE-CLUSTER-IP src,dst -j KUBE-MARK-MASQ"),
    ({"masquerade_all": True}, "-m set --match-set KUBE-CLUSTER-IP dst,dst -j KUBE-MARK-MASQ"),
    ({"detect_local_mode": "ClusterCIDR", "cluster_cidr": "10.0.0.0/8"},
     "-m set --match-set KUBE-CLUSTER-IP dst,dst ! -s 10.0.0.0/8 -j KUBE-MARK-MASQ"),
    ({"detect_local_mode": "InterfaceNamePrefix", "interface_name_prefix": "veth"},
     "-m set --match-set KUBE-CLUSTER-IP dst,dst ! -i veth+ -j KUBE-MARK-MASQ"),
])
def test_cluster_ip_masquerade_rule(overrides, rule):
    """writeIptablesRules' three forms of the KUBE-CLUSTER-IP masquerade rule."""
    sp = ServicePort("ns", "a", "", "TCP", "10.96.0.10", 53)
    text = render_ipvs(fake_config(**overrides), [sp], []).iptables_restore()
    head = '-A KUBE-SERVICES -m comment --comment "Kubernetes service cluster ip + port for masquerade purpose" '
    assert head + rule in text.splitlines()


def test_source_ranges_with_the_node_ip_allow_the_node():
    """A source range holding the node IP: KUBE-LOAD-BALANCER-SOURCE-IP gets LBIP,proto:port,LBIP
    and there is no KUBE-IPVS-OUT-FILTER rule; without it, the node's own access is dropped."""
    sp = ServicePort("ns", "lb", "", "TCP", "10.96.0.20", 80, type="LoadBalancer",
                     load_balancer_ingress=(LoadBalancerIngress("5.6.7.8"),),
                     load_balancer_source_ranges=("192.168.0.0/16",))
    inside = render_ipvs(fake_config(node_ips=["192.168.0.2"]), [sp], [])
    assert inside.ipset("KUBE-LOAD-BALANCER-SOURCE-IP").entries == {"5.6.7.8,tcp:80,5.6.7.8"}
    assert "KUBE-IPVS-OUT-FILTER -s" not in inside.iptables_restore()
    outside = render_ipvs(fake_config(node_ips=["10.1.0.2"]), [sp], [])
    assert outside.ipset("KUBE-LOAD-BALANCER-SOURCE-IP").entries == set()
    assert ("-A KUBE-IPVS-OUT-FILTER -s 5.6.7.8 -m ipvs --vaddr 5.6.7.8 --vproto tcp --vport 80 -j DROP"
            in outside.iptables_restore().splitlines())


def test_external_ip_on_a_node_interface_is_not_bound():
    """syncProxyRules: an external IP the node already has is not added to kube-ipvs0."""
    sp = ServicePort("ns", "e", "", "TCP", "10.96.0.30", 80, external_ips=("192.168.0.2", "203.0.113.9"))
    r = render_ipvs(fake_config(interface_addresses=["192.168.0.2"]), [sp], [])
    assert r.bound_addresses == ["10.96.0.30", "203.0.113.9"]
    assert r.ipset("KUBE-IPVS-IPS").entries == {"10.96.0.30", "203.0.113.9"}
    assert len(parse_ipvsadm_save(r.ipvsadm_save())) == 3


def test_node_port_without_node_ips_skips_its_health_check_too():
    """proxier.go `continue`s out of a NodePort Service when there are no node IPs, before the
    health check entry; with node IPs the entry is there."""
    sp = ServicePort("ns", "lb", "", "TCP", "10.96.0.40", 80, type="LoadBalancer", node_port=30080,
                     health_check_node_port=32000, external_traffic_policy="Local")
    assert render_ipvs(FAKE, [sp], []).ipset("KUBE-HEALTH-CHECK-NODE-PORT").entries == set()
    with_ip = render_ipvs(fake_config(interface_addresses=["192.168.0.2"]), [sp], [])
    assert with_ip.ipset("KUBE-HEALTH-CHECK-NODE-PORT").entries == {"32000"}
    assert with_ip.ipset("KUBE-NODE-PORT-LOCAL-TCP").entries == {"30080"}


def test_iptables_text_reads_back_and_every_jump_is_declared():
    """The restore text parses, and every -j target is a declared chain or a built-in target."""
    r = render_objects(load_yaml(GOLDEN / "rulesets" / "overall.yaml")["objects"], fixture_config())
    ruleset = parse_restore_text(r.iptables_restore())
    targets = {"ACCEPT", "DROP", "REJECT", "RETURN", "MARK", "MASQUERADE"}
    for table in ruleset.tables.values():
        for chain, args in table.rules:
            assert chain in table.chains
            target = args.split()[args.split().index("-j") + 1]
            assert target in targets or target in table.chains, (table.name, chain, args)


def test_overall_snapshot():
    """netlab's to_text() of TestOverallIPTablesRules' objects (golden/ipvs/overall.txt, read
    against proxier.go line by line; not an upstream expectation)."""
    r = render_objects(load_yaml(GOLDEN / "rulesets" / "overall.yaml")["objects"], fixture_config())
    assert r.to_text() == (IPVS / "overall.txt").read_text()


def test_parsers_reject_other_text():
    with pytest.raises(ValueError, match="line 1"):
        parse_ipvsadm_save("-a -t 1.2.3.4:80 -r 10.0.0.1:80 -m -w 1\n")
    with pytest.raises(ValueError, match="line 2"):
        parse_ipset_save("create X hash:ip\nflush X\n")


# --- root: the texts load into a real, throwaway namespace -------------------------------------------

_counter = itertools.count()


@pytest.fixture
def netns():
    if not shutil.which("ip"):
        pytest.skip("no `ip` command")
    name = f"netlab-ipvstest-{os.getpid()}-{next(_counter)}"
    subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        yield name
    finally:
        subprocess.run(["ip", "netns", "delete", name], check=False)


def _run(netns: str, *cmd: str, input_text: str = "") -> str:
    proc = subprocess.run(["ip", "netns", "exec", netns, *cmd], capture_output=True, text=True, input=input_text)
    assert proc.returncode == 0, f"{' '.join(cmd)} in {netns}: {proc.stderr.strip()}"
    return proc.stdout


@pytest.mark.root
def test_sets_and_rules_load_into_a_namespace(netns):
    """ipset restore takes ipset_save() and `ipset save` gives it back (plus the kernel's
    bucketsize/initval); iptables-restore --noflush takes iptables_restore() but for the
    `-m ipvs` rule, which needs a kernel with IP_VS."""
    if not shutil.which("ipset"):
        pytest.skip("no `ipset` command (apt-get install ipset)")
    restore = next((c for c in ("iptables-legacy-restore", "iptables-nft-restore", "iptables-restore")
                    if shutil.which(c)), None)
    if restore is None:
        pytest.skip("no iptables-restore")
    r = render_objects(load_yaml(GOLDEN / "rulesets" / "overall.yaml")["objects"],
                       fixture_config(mark_style="padded", random_fully=True))
    _run(netns, "ipset", "restore", input_text=r.ipset_save())
    saved = _run(netns, "ipset", "save")
    back = [" ".join(w for i, w in enumerate(line.split()) if not (w in ("bucketsize", "initval") or
            (i and line.split()[i - 1] in ("bucketsize", "initval")))) for line in saved.splitlines()]
    assert sorted(back) == sorted(r.ipset_save().splitlines())
    text = "".join(line for line in r.iptables_restore().splitlines(True) if "-m ipvs" not in line)
    _run(netns, restore, "--noflush", input_text=text)
    out = _run(netns, restore.replace("-restore", "-save"))
    assert "-A KUBE-IPVS-FILTER -m conntrack --ctstate NEW -m set --match-set KUBE-IPVS-IPS dst -j REJECT" in out
