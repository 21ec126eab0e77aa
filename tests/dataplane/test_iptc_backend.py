"""The python-iptables backend writes, rule for rule, what iptables-legacy-restore writes.

Pure tests (tokenizer, text and rule parsing) run anywhere; the rest are root tests: each loads
the same text with the backend into one throwaway namespace and with iptables-legacy-restore into
another, and compares `iptables-legacy-save` of the two. Namespaces are named nltest-iptc-<hex>
and always deleted; no traffic is sent; the root namespace's tables are checked unchanged.
"""

from __future__ import annotations

import re
import secrets
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from netlab.dataplane import iptc_backend, netns, nfnetlink
from netlab.dataplane.iptc_backend import IptcError, Step, parse_text, rule_steps, tokenize
from netlab.proxy import ruleset_for_node

GOLDEN = Path(__file__).resolve().parent.parent / "proxy" / "golden" / "rulesets"


# --- pure ------------------------------------------------------------------------------------

def test_tokenize_splits_like_iptables_restore():
    assert tokenize('-m comment --comment "ns/a:p cluster IP" -j X') == [
        ("-m", False), ("comment", False), ("--comment", False), ("ns/a:p cluster IP", True),
        ("-j", False), ("X", False)]
    assert tokenize(r'--comment "say \"hi\"" --x ""') == [
        ("--comment", False), ('say "hi"', True), ("--x", False), ("", True)]
    with pytest.raises(ValueError):
        tokenize('--comment "open')


def test_rule_steps_keep_command_line_order_and_negation():
    steps = rule_steps('-m comment --comment "-looks like an option" -m tcp -p tcp -d 10.96.0.1 '
                       '! -s 10.244.0.0/16 --dport 443 -m mark ! --mark 0x4000/0x4000 '
                       '-j MASQUERADE --random-fully')
    assert steps == [
        Step("match", "comment"), Step("option", "comment", ("-looks like an option",)),
        Step("match", "tcp"), Step("entry", "protocol", ("tcp",)), Step("entry", "dst", ("10.96.0.1",)),
        Step("entry", "src", ("10.244.0.0/16",), True), Step("option", "dport", ("443",)),
        Step("match", "mark"), Step("option", "mark", ("0x4000/0x4000",), True),
        Step("target", "MASQUERADE"), Step("option", "random-fully")]
    assert rule_steps("-m recent --name KUBE-SEP-X --rcheck --seconds 10800 --reap -g CHAIN") == [
        Step("match", "recent"), Step("option", "name", ("KUBE-SEP-X",)), Step("option", "rcheck"),
        Step("option", "seconds", ("10800",)), Step("option", "reap"), Step("goto", "CHAIN")]


@pytest.mark.parametrize("args", ["-j", "! -j ACCEPT", "-s 1.2.3.4 !", "stray", "-p tcp tcp"])
def test_rule_steps_refuse_malformed_rules(args):
    with pytest.raises(ValueError):
        rule_steps(args)


def test_parse_text_reads_tables_policies_chains_and_line_numbers():
    tables = parse_text("# x\n*filter\n:INPUT DROP [3:4]\n:A - [0:0]\n:B - [0:0]\n"
                        "[1:2] -A A -j B\n-X B\nCOMMIT\n*nat\nCOMMIT\n")
    assert [t.name for t in tables] == ["filter", "nat"]
    f = tables[0]
    assert f.policies == {"INPUT": "DROP"} and f.chains == ["A"]
    assert [(r.line, r.chain, r.args, r.text) for r in f.rules] == [(6, "A", "-j B", "-A A -j B")]


@pytest.mark.parametrize("text, where", [("-A X -j Y\n", "line 1"), ("*filter\n-I X\nCOMMIT\n", "line 2"),
                                         ("*filter\n:X\nCOMMIT\n", "line 2"), ("*filter\n", "no COMMIT")])
def test_parse_text_names_the_bad_line(text, where):
    with pytest.raises(IptcError, match=where):
        parse_text(text)


def test_a_malformed_rule_is_refused_before_any_namespace_is_touched():
    text = "*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -s 1.2.3.4 ! \nCOMMIT\n"
    with pytest.raises(IptcError) as err:
        iptc_backend.apply_text("nltest-iptc-never-created", text)
    message = str(err.value)
    assert "'nltest-iptc-never-created'" in message and "line 3" in message
    assert "\n>     3  -A INPUT -s 1.2.3.4 !\n" in message and "previous rules are still in place" in message


# --- rendered rulesets -------------------------------------------------------------------------

def _svc(name, ip, typ="ClusterIP", ports=None, status=None, **spec):
    ports = ports or [{"name": "http", "port": 80, "protocol": "TCP", "targetPort": 8080}]
    doc = {"apiVersion": "v1", "kind": "Service", "metadata": {"namespace": "default", "name": name},
           "spec": dict(type=typ, clusterIP=ip, ports=ports, **spec)}
    if status:
        doc["status"] = {"loadBalancer": {"ingress": [{"ip": status}]}}
    return doc


def _slice(name, endpoints, port=8080):
    return {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice", "addressType": "IPv4",
            "metadata": {"namespace": "default", "name": f"{name}-1",
                         "labels": {"kubernetes.io/service-name": name}},
            "endpoints": [{"addresses": [ip], "nodeName": node, "conditions": {"ready": True}}
                          for ip, node in endpoints],
            "ports": [{"name": "http", "port": port, "protocol": "TCP"}]}


def _port(node_port, name="http", port=80, protocol="TCP"):
    return [{"name": name, "port": port, "protocol": protocol, "targetPort": 8080, "nodePort": node_port}]


def service_docs(drop=(), extra=()):
    """Services covering what kube-proxy writes: spread, NodePort, affinity, eTP Local, LB ranges,
    externalIPs, no endpoints (REJECT), UDP/SCTP; DROP names services to leave out."""
    docs = [
        _svc("four", "10.96.0.10"), _slice("four", [(f"10.244.{i}.5", f"node{i}") for i in range(1, 5)]),
        _svc("np", "10.96.0.11", "NodePort", _port(30080)),
        _slice("np", [("10.244.1.6", "node1"), ("10.244.2.6", "node2")]),
        _svc("aff", "10.96.0.12", sessionAffinity="ClientIP"),
        _slice("aff", [("10.244.1.7", "node1"), ("10.244.2.7", "node2")]),
        _svc("local", "10.96.0.13", "LoadBalancer", _port(30081), "172.18.255.200",
             externalTrafficPolicy="Local", healthCheckNodePort=32000),
        _slice("local", [("10.244.1.8", "node1"), ("10.244.2.8", "node2")]),
        _svc("remote", "10.96.0.17", "LoadBalancer", _port(30084), "172.18.255.202",
             externalTrafficPolicy="Local", healthCheckNodePort=32001),
        _slice("remote", [("10.244.2.10", "node2")]),
        _svc("lb", "10.96.0.14", "LoadBalancer", _port(30082), "172.18.255.201",
             loadBalancerSourceRanges=["203.0.113.0/25", "198.51.100.7/32"]),
        _slice("lb", [("10.244.2.9", "node2")]),
        _svc("ext", "10.96.0.18", externalIPs=["192.0.2.50"]), _slice("ext", [("10.244.1.11", "node1")]),
        _svc("empty", "10.96.0.15", "NodePort", _port(30083)),
        _svc("udp", "10.96.0.16", ports=[{"name": "dns", "port": 53, "protocol": "UDP"},
                                         {"name": "sctp", "port": 99, "protocol": "SCTP"}]),
    ]
    docs += list(extra)
    return [d for d in docs if d["metadata"]["name"] not in drop
            and d["metadata"].get("labels", {}).get("kubernetes.io/service-name") not in drop]


def render(docs, **overrides) -> str:
    options = dict(nfacct=False, node_ips=("172.18.0.2",), cluster_cidr="10.244.0.0/16")
    options.update(overrides)
    ruleset, _ = ruleset_for_node(docs, "node1", **options)
    return ruleset.to_restore_text(include_builtin_jumps=True)


def overall_text() -> str:
    objects = yaml.safe_load((GOLDEN / "overall.yaml").read_text())["objects"]
    ruleset, _ = ruleset_for_node(objects, "test-node", nfacct=False, cluster_cidr="10.0.0.0/8",
                                  node_ips=("192.168.0.2", "192.168.1.2", "192.168.99.11"))
    return ruleset.to_restore_text(include_builtin_jumps=True)


# Syntax kube-proxy does not write, to show the translation is generic: implicit protocol match,
# multiport, tcp flags, interface wildcards, -f, goto, a quoted quote, SNAT, REJECT options,
# a non-default policy and counters on a rule.
EXTRAS = r"""*filter
:INPUT ACCEPT [0:0]
:FORWARD DROP [0:0]
:OUTPUT ACCEPT [0:0]
:EXTRA - [0:0]
-A INPUT -i lo -j ACCEPT
-A INPUT ! -i veth+ -p tcp -m multiport --dports 80,443,8000:8080 -j EXTRA
-A INPUT -p udp --dport 53 -j ACCEPT
-A INPUT -p tcp -m tcp --tcp-flags SYN,RST SYN ! --sport 1:1023 -j EXTRA
-A INPUT -m state --state ESTABLISHED -j ACCEPT
-A INPUT -g EXTRA
-A FORWARD -f -j DROP
-A FORWARD -o eth0 -p icmp -m icmp --icmp-type 8 -j REJECT --reject-with icmp-host-prohibited
[5:300] -A EXTRA -m comment --comment "a \"quoted\" word" -j RETURN
-A EXTRA -m addrtype --src-type LOCAL --dst-type UNICAST -j MARK --set-xmark 0x1/0xff
COMMIT
*nat
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
-A POSTROUTING -s 10.0.0.0/8 ! -d 10.0.0.0/8 -o eth+ -j SNAT --to-source 192.0.2.1-192.0.2.4
-A POSTROUTING -p tcp -j MASQUERADE --to-ports 1024-2000
-A OUTPUT -p tcp -d 192.0.2.9 --dport 80 -j DNAT --to-destination 10.1.2.3:8080
COMMIT
"""


# --- root: real namespaces -----------------------------------------------------------------------

def _strip(text: str) -> str:
    """iptables-save text without '#' lines and with every counter zeroed."""
    return "\n".join(re.sub(r"\[\d+:\d+\]", "[0:0]", line) for line in text.splitlines()
                     if not line.startswith("#"))


def _legacy_restore(namespace: str, text: str) -> None:
    subprocess.run(["nsenter", f"--net={netns.path(namespace)}", "--", "iptables-legacy-restore", "-w", "5"],
                   input=text, text=True, check=True, capture_output=True)


def _root_tables():
    def save(tool):
        if not shutil.which(tool):
            return None
        return _strip(subprocess.run([tool], capture_output=True, text=True).stdout)
    return {tool: save(tool) for tool in ("iptables-legacy-save", "iptables-nft-save")}


@pytest.fixture(scope="module")
def root_tables_unchanged():
    before = _root_tables()
    yield
    assert _root_tables() == before, "the root namespace's iptables changed"


@pytest.fixture
def pair(root_tables_unchanged):
    """Two fresh namespaces: (for the backend, for iptables-legacy-restore); always deleted."""
    if not shutil.which("iptables-legacy-restore"):
        pytest.skip("no iptables-legacy-restore")
    names = [f"nltest-iptc-{secrets.token_hex(3)}" for _ in range(2)]
    try:
        for name in names:
            netns.create(name)
        yield tuple(names)
    finally:
        for name in names:
            netns.delete(name)


def _assert_same(ours: str, theirs: str) -> None:
    a, b = _strip(iptc_backend.save(ours)), _strip(iptc_backend.save(theirs))
    assert a == b
    assert "*filter" in a and "*nat" in a and "*mangle" not in a and "*raw" not in a


SCENARIOS = {
    "services": lambda: render(service_docs()),
    "services-nfacct": lambda: render(service_docs(), nfacct=True),
    "overall": overall_text,
    "extras": lambda: EXTRAS,
}


@pytest.mark.root
@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_rules_read_back_identical_to_iptables_legacy_restore(pair, scenario):
    text = SCENARIOS[scenario]()
    if scenario == "services-nfacct":
        for name in pair:
            if not nfnetlink.ensure_counters(name):
                pytest.skip("no nfacct in this kernel")
        assert "-m nfacct --nfacct-name" in text
    iptc_backend.apply_text(pair[0], text)
    _legacy_restore(pair[1], text)
    _assert_same(*pair)
    saved = iptc_backend.save(pair[0], "nat")
    if scenario == "services":
        for shape in ("--probability 0.25000000000", "--probability 0.33333333349",
                      "-m recent --rcheck --seconds 10800 --reap --name KUBE-SEP-",
                      "-m recent --set --name KUBE-SEP-", "-j MASQUERADE --random-fully",
                      "-j MARK --set-xmark 0x4000/0x4000", "-j DNAT --to-destination 10.244.4.5:8080",
                      "-m addrtype --src-type LOCAL"):
            assert shape in saved, shape
        filt = iptc_backend.save(pair[0], "filter")
        assert "-s 203.0.113.0/25 -m comment" not in filt  # source ranges live in nat KUBE-FW-*
        assert "-j REJECT --reject-with icmp-port-unreachable" in filt
        assert "-m mark --mark 0x4000/0x4000 -j ACCEPT" in filt
    # python-iptables writes the legacy tables only: nft sees none of it.
    nft = subprocess.run(["nsenter", f"--net={netns.path(pair[0])}", "--", "iptables-nft-save"],
                         capture_output=True, text=True).stdout
    assert "KUBE-" not in nft and "EXTRA" not in nft


@pytest.mark.root
def test_reapplying_a_changed_ruleset_replaces_the_old_one(pair):
    first = render(service_docs())
    second = render(service_docs(drop=("aff", "lb", "four"), extra=[
        _svc("new", "10.96.0.30", "NodePort", _port(30090)), _slice("new", [("10.244.1.30", "node1")])]))
    for text in (first, second):
        iptc_backend.apply_text(pair[0], text)
        _legacy_restore(pair[1], text)
    _assert_same(*pair)
    saved = iptc_backend.save(pair[0])
    gone = set(re.findall(r"^:(KUBE-\S+)", first, re.M)) - set(re.findall(r"^:(KUBE-\S+)", second, re.M))
    assert gone and not any(f":{chain} " in saved for chain in gone)
    assert "default/new:http" in saved and "default/aff:http" not in saved


BAD_RULES = {
    "bad port": ("nat", "-A KUBE-SERVICES -m tcp -p tcp -d 10.96.9.9 --dport notaport -j ACCEPT"),
    "undeclared chain": ("nat", "-A KUBE-SERVICES -d 10.96.9.9 -j KUBE-SVC-NOSUCHCHAIN"),
    "unknown match": ("filter", "-A KUBE-FORWARD -m nosuchmatch --foo 1 -j ACCEPT"),
    "bad address": ("filter", "-A KUBE-SERVICES -d 10.96.0.300 -j ACCEPT"),
    "option of no module": ("filter", "-A KUBE-FORWARD --dport 80 -j ACCEPT"),
}


def _insert_into(text: str, table: str, rule: str):
    """TEXT with RULE added as the last rule of TABLE, and its line number."""
    lines = text.splitlines()
    start = lines.index(f"*{table}")
    at = lines.index("COMMIT", start)
    lines.insert(at, rule)
    return "\n".join(lines) + "\n", at + 1


@pytest.mark.root
@pytest.mark.parametrize("case", list(BAD_RULES))
def test_a_bad_rule_changes_nothing_and_names_the_rule(pair, case):
    good = render(service_docs())
    iptc_backend.apply_text(pair[0], good)
    before = _strip(iptc_backend.save(pair[0]))
    table, rule = BAD_RULES[case]
    bad, line = _insert_into(render(service_docs(drop=("four",))), table, rule)
    with pytest.raises(IptcError) as err:
        iptc_backend.apply_text(pair[0], bad)
    message = str(err.value)
    assert f"network namespace {pair[0]!r}" in message
    assert f"table {table}, line {line}: " in message and f"\n> {line:5d}  {rule}\n" in message
    assert message.endswith("the previous rules are still in place")
    assert _strip(iptc_backend.save(pair[0])) == before  # neither table was committed


@pytest.mark.root
def test_a_rule_the_kernel_refuses_at_commit_changes_nothing(pair):
    good = render(service_docs())
    iptc_backend.apply_text(pair[0], good)
    before = _strip(iptc_backend.save(pair[0]))
    # DNAT parses fine in userspace; only the kernel knows it is nat-only (xt_check_target).
    bad, _ = _insert_into(good, "filter", "-A KUBE-FORWARD -j DNAT --to-destination 10.0.0.1")
    with pytest.raises(IptcError, match=r"table filter: the kernel refused the table: .*\n"
                                        r"the previous rules are still in place"):
        iptc_backend.apply_text(pair[0], bad)
    assert _strip(iptc_backend.save(pair[0])) == before


@pytest.mark.root
def test_a_missing_namespace_is_named(root_tables_unchanged):
    with pytest.raises(IptcError, match="'nltest-iptc-absent' does not exist"):
        iptc_backend.apply_text("nltest-iptc-absent", EXTRAS)


@pytest.mark.root
def test_each_namespace_gets_its_own_tables(pair):
    """python-iptables caches table handles per process; one child per call keeps namespaces apart."""
    first, second = render(service_docs(drop=("np",))), render(service_docs(drop=("aff",)))
    iptc_backend.apply_text(pair[0], first)
    iptc_backend.apply_text(pair[1], second)
    a, b = iptc_backend.save(pair[0]), iptc_backend.save(pair[1])
    assert "default/aff:http" in a and "default/np:http" not in a
    assert "default/np:http" in b and "default/aff:http" not in b


@pytest.mark.root
def test_a_table_changed_while_building_is_built_again_under_the_lock(pair, monkeypatch):
    """The build runs unlocked; a commit that finds the table changed (EAGAIN) rebuilds and wins."""
    real_lock = iptc_backend._lock

    def meddle_then_lock(wait):  # runs in the child, inside pair[0], between build and commit
        subprocess.run(["iptables-legacy", "-w", "5", "-t", "nat", "-A", "OUTPUT", "-d", "192.0.2.99",
                        "-j", "ACCEPT"], check=True)
        return real_lock(wait)

    text = render(service_docs())
    iptc_backend.apply_text(pair[0], render(service_docs(drop=("np",))))
    monkeypatch.setattr(iptc_backend, "_lock", meddle_then_lock)
    iptc_backend.apply_text(pair[0], text)
    _legacy_restore(pair[1], text)
    _assert_same(*pair)
    assert "192.0.2.99" not in iptc_backend.save(pair[0])
