"""Partial syncs over nf_tables netlink (dataplane/nft_netlink.py) are what `nft -f` would write.

Three checks: the encoder's messages are nft 1.0.6's, attribute for attribute (against
`nft --check --debug=mnl`, which prints the batch it would send); a table built with them lists
exactly like one built with `nft -f`; and a batch the kernel refuses changes nothing and is
reported by nft's own error, naming the failing line.
"""

from __future__ import annotations

import re
import secrets
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from netlab.dataplane import nft_netlink, nftables
from netlab.proxy.model import Endpoint, ServicePort
from netlab.proxy.nft_render import render_nft
from netlab.proxy.nft_ruleset import Chain, Element, Op, Rule, Set, Table, parse_transaction

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "proxy"))
from proxy_testlib import GOLDEN, load_yaml  # noqa: E402
from test_proxy_nft_golden import SERVICE_CIDRS, nft_config, render_objects  # noqa: E402

# --- pure: the bytes nft 1.0.6 wrote (captured with `nft --check --debug=mnl`) -----------------

# add rule ip kube-proxy endpoint-D meta l4proto tcp dnat to 10.180.0.1:80
DNAT_RULE = ("020000000f0001006b7562652d70726f787900000f000200656e64706f696e742d440000e400048024000180"
             "090001006d6574610000000014000280080002000000001008000100000000012c00018008000100636d70"
             "0020000280080001000000000108000200000000000c00038005000100060000002c0001800e000100696d"
             "6d6564696174650000001800028008000100000000010c000280080001000ab400012c0001800e00010069"
             "6d6d6564696174650000001800028008000100000000020c000280060001000050000038000180080001"
             "006e6174002c0002800800010000000001080002000000000208000300000000010800050000000002080007"
             "0000000002")
# add rule ... external-S fib saddr type local goto service-S comment "short-circuit local traffic"
FIB_RULE = ("020000000f0001006b7562652d70726f787900000f00020065787465726e616c2d530000980004802800018008"
            "000100666962001c0002800800030000000001080002000000000308000100000000012c00018008000100636d"
            "700020000280080001000000000108000200000000000c0003800800010002000000400001800e000100696d6d"
            "6564696174650000002c0002800800010000000000200002801c00028008000100fffffffc0e00020073657276"
            "6963652d5300000022000700001c73686f72742d63697263756974206c6f63616c2074726166666963000000")
# add element ip kube-proxy service-ips { 172.30.0.42 . udp . 53 : goto service-S } (without the
# NFTA_SET_ELEM_LIST_SET_ID nft adds from its cache: the kernel finds a named set by its name)
SERVICE_IP_ELEMENT = ("020000000f0001006b7562652d70726f7879000010000200736572766963652d697073003c0003803800"
                      "01801400018010000100ac1e002a1100000000350000200002801c00028008000100fffffffc0e000200"
                      "736572766963652d53000000")


def _message_body(batch: nft_netlink.Batch, n: int) -> bytes:
    """Message N's nfgenmsg and attributes, as --debug=mnl prints them after the header."""
    kind, flags, attrs, _ = batch.messages[n]
    return struct.pack("=BBH", 2, 0, 0) + attrs


def test_a_dnat_rule_is_the_message_nft_writes():
    batch = nft_netlink.encode([Op("add", Rule("endpoint-D", "meta l4proto tcp dnat to 10.180.0.1:80"))],
                               "ip", "kube-proxy")
    assert _message_body(batch, 0).hex() == DNAT_RULE
    assert batch.messages[0][:2] == (nft_netlink.NFT_MSG_NEWRULE, nft_netlink.NLM_F_CREATE | nft_netlink.NLM_F_APPEND)


def test_a_commented_fib_rule_is_the_message_nft_writes():
    rule = Rule("external-S", "fib saddr type local goto service-S", "short-circuit local traffic")
    assert _message_body(nft_netlink.encode([Op("add", rule)], "ip", "kube-proxy"), 0).hex() == FIB_RULE


def test_a_map_element_is_the_message_nft_writes():
    elem = Element("service-ips", ("172.30.0.42", "udp", "53"), ("goto service-S",), "map")
    assert _message_body(nft_netlink.encode([Op("add", elem)], "ip", "kube-proxy"), 0).hex() == SERVICE_IP_ELEMENT


def test_a_numgen_vmap_rule_is_an_anonymous_map_its_elements_and_the_rule():
    rule = Rule("service-S", "numgen random mod 2 vmap { 0 : goto endpoint-A , 1 : goto endpoint-B }")
    batch = nft_netlink.encode([Op("add", rule)], "ip", "kube-proxy")
    assert [m[0] for m in batch.messages] == [nft_netlink.NFT_MSG_NEWSET, nft_netlink.NFT_MSG_NEWSETELEM,
                                              nft_netlink.NFT_MSG_NEWRULE]
    assert {m[3] for m in batch.messages} == {0}       # all three come from the one operation


@pytest.mark.parametrize("op", [
    Op("add", Table("rules for kube-proxy")),
    Op("add", Chain("nat-prerouting", "nat", "prerouting", -100)),
    Op("add", Chain("reject-chain", comment="helper")),
    Op("add", Set("affinity-X", "set", "ipv4_addr", ("dynamic", "timeout"), 10800)),
    Op("add", Rule("firewall-X", "ip saddr != { 203.0.113.0/25 } drop")),
    Op("add", Rule("service-X", "ip saddr @affinity-Y goto endpoint-Y")),
    Op("add", Rule("endpoint-Y", "update @affinity-Y { ip saddr }")),
    Op("add", Rule("services", "ip daddr . meta l4proto . th dport vmap @service-ips")),
    Op("add", Rule("external-X", "iifname veth* goto service-X")),
    Op("add", Element("nodeport-ips", ("2001:db8::1",))),          # an IPv6 key in an ip table
])
def test_what_the_encoder_does_not_write_is_left_to_nft(op):
    with pytest.raises(nft_netlink.Unsupported):
        nft_netlink.encode([op], "ip", "kube-proxy")


# --- root: against nft itself ------------------------------------------------------------------

def _ipv6_ruleset():
    ports = [ServicePort("ns1", "svc1", "p80", "TCP", "fd00:172:30::41", 80),
             ServicePort("ns2", "svc2", "p53", "UDP", "fd00:172:30::42", 53, type="NodePort", node_port=3001,
                         external_traffic_policy="Local"),
             ServicePort("ns3", "svc3", "p80", "TCP", "fd00:172:30::43", 80)]
    eps = [Endpoint("ns1", "svc1", "p80", "TCP", "fd00:10:180::1", 80),
           Endpoint("ns1", "svc1", "p80", "TCP", "fd00:10:180::2", 80),
           Endpoint("ns2", "svc2", "p53", "UDP", "fd00:10:180::3", 53, node_name="test-node")]
    return render_nft(nft_config(family="IPv6"), ports, eps, service_cidrs=SERVICE_CIDRS)


def _rulesets():
    objects = load_yaml(GOLDEN / "nft" / "overall.yaml")["objects"]
    return {
        "overall": render_objects(objects),
        "bridge-detector": render_objects(objects, detect_local_mode="BridgeInterface", bridge_interface="cni0"),
        "node-cidr": render_objects(objects, detect_local_mode="NodeCIDR", node_pod_cidrs=("10.100.4.0/22",)),
        "ipv6": _ipv6_ruleset(),
    }


RULESETS = _rulesets()


@pytest.fixture
def namespaces():
    made = []

    def make():
        name = f"nltest-nftnl-{secrets.token_hex(3)}"
        subprocess.run(["ip", "netns", "add", name], check=True)
        made.append(name)
        return name

    try:
        yield make
    finally:
        for name in made:
            subprocess.run(["ip", "netns", "del", name], check=False)


# --- `nft --debug=mnl` output, read back into messages -------------------------------------------

_MNL_TYPE = re.compile(r"^\|\s+(\d+)\s+\|\s+\S+\s+\|\s+\|\s+type \| flags")
_MNL_DATA = re.compile(r"^\| ((?:[0-9a-f]{2} ){4}) \|\s+\|\s+(?:extra header|data)")
_MNL_ATTR = re.compile(r"^\|(?:\x1b\[[0-9;]*m)?(\d+)(?:\x1b\[0m)?\|(?:\x1b\[[0-9;]*m)?(..)(?:\x1b\[0m)?"
                       r"\|(?:\x1b\[[0-9;]*m)?(\d+)(?:\x1b\[0m)?\|")


def _mnl_messages(text: str) -> list:
    """(message type, body) of each nf_tables message in `nft --debug=mnl` output."""
    out = []
    for line in text.splitlines():
        m = _MNL_TYPE.match(line)
        if m:
            out.append([int(m.group(1)), bytearray()])
        elif out and (m := _MNL_ATTR.match(line)):
            kind = int(m.group(3)) | (nft_netlink.NLA_F_NESTED if "N" in m.group(2) else 0)
            out[-1][1] += struct.pack("=HH", int(m.group(1)), kind)
        elif out and (m := _MNL_DATA.match(line)):
            out[-1][1] += bytes.fromhex(m.group(1).replace(" ", ""))
    writes = {3, 5, 6, 8, 9, 11, 12, 14}
    return [(t & 0xFF, bytes(b[4:])) for t, b in out if t >> 8 == nft_netlink.NFNL_SUBSYS_NFTABLES
            and t & 0xFF in writes]


def _tree(data: bytes) -> list:
    out, off = [], 0
    while off + 4 <= len(data):
        length, kind = struct.unpack_from("=HH", data, off)
        body = data[off + 4:off + length]
        out.append((kind, _tree(body) if kind & nft_netlink.NLA_F_NESTED else body))
        off += (length + 3) & ~3
    return out


def _comparable(messages: list) -> list:
    """The messages as attribute trees, set ids numbered by first appearance (nft counts them over
    its whole run), without the cache's set id nft adds to a named set's element list."""
    ids: dict = {}

    def renumber(value: bytes) -> bytes:
        return struct.pack(">I", ids.setdefault(value, len(ids) + 1))

    out = []
    for kind, body in messages:
        tree = _tree(body)
        if kind in (12, 14):
            named = [v for k, v in tree if k == 2] != [b"__map%d\0"]
            tree = [(k, v) for k, v in tree if k != 4] if named else [(k, renumber(v) if k == 4 else v)
                                                                       for k, v in tree]
        elif kind == 9:
            tree = [(k, renumber(v) if k == 10 else v) for k, v in tree]
        elif kind == 6:
            tree = [(k, _renumber_lookups(v, renumber) if k == 4 | nft_netlink.NLA_F_NESTED else v)
                    for k, v in tree]
        out.append((kind, tree))
    return out


def _renumber_lookups(exprs: list, renumber) -> list:
    out = []
    for kind, elem in exprs:
        name = [v for k, v in elem if k == 1]
        if name == [b"lookup\0"]:
            elem = [(k, [(a, renumber(v) if a == 4 else v) for a, v in data] if k & nft_netlink.NLA_F_NESTED else data)
                    for k, data in elem]
        out.append((kind, elem))
    return out


def _nft(namespace: str, *args, text: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(["ip", "netns", "exec", namespace, "nft", *args], input=text,
                          capture_output=True, text=True)


def _changes(ruleset) -> list:
    """Every operation a partial sync may send, from a full sync of RULESET: its chain adds, rules
    and elements, then a flush and a delete of each endpoint chain and of each element."""
    ops = [p.op for p in parse_transaction(ruleset.to_transaction())]
    family = ruleset.family
    adds = [op for op in ops if op.verb == "add" and not isinstance(op.obj, (Table, Set))
            and nft_netlink.writes(op, family, "kube-proxy")]
    chains = [op.obj for op in adds if isinstance(op.obj, Chain) and op.obj.name.startswith("endpoint-")]
    elements = [op.obj for op in adds if isinstance(op.obj, Element)]
    return (adds + [Op("flush", c) for c in chains] + [Op("delete", e) for e in elements]
            + [Op("delete", c) for c in chains])


@pytest.mark.root
@pytest.mark.parametrize("name", sorted(RULESETS))
def test_the_encoder_writes_the_messages_nft_writes(namespaces, name):
    ruleset = RULESETS[name]
    ns = namespaces()
    nftables.apply(ns, ruleset.to_transaction())
    ops = _changes(ruleset)
    assert any("numgen" in op.obj.rule for op in ops if isinstance(op.obj, Rule))
    text = "".join(op.text(ruleset.family, "kube-proxy") + "\n" for op in ops)
    result = _nft(ns, "--check", "--debug=mnl", "-f", "-", text=text)
    expected = _comparable(_mnl_messages(result.stdout + result.stderr))
    batch = nft_netlink.encode(ops, ruleset.family, "kube-proxy")
    got = _comparable([(kind, attrs) for kind, _, attrs, _ in batch.messages])
    assert len(got) == len(expected)
    for n, (mine, nfts) in enumerate(zip(got, expected)):
        assert mine == nfts, f"message {n + 1} (operation {batch.op_index(n + 1) + 1})"


@pytest.mark.root
@pytest.mark.parametrize("name", sorted(RULESETS))
def test_a_table_written_over_netlink_lists_as_one_written_by_nft(namespaces, name):
    ruleset = RULESETS[name]
    family = ruleset.family
    by_nft, by_netlink = namespaces(), namespaces()
    text = ruleset.to_transaction()
    nftables.apply(by_nft, text)
    # the same operations in the same order: runs of what the encoder writes over netlink, the
    # rest (the table, base chains, sets, affinity and firewall rules) through nft -f
    run, encodable_run = [], None
    for parsed in parse_transaction(text) + [None]:
        encodable = parsed is not None and nft_netlink.writes(parsed.op, family, "kube-proxy")
        if run and (parsed is None or encodable != encodable_run):
            if encodable_run:
                nft_netlink.commit(by_netlink, nft_netlink.encode(run, family, "kube-proxy"))
            else:
                nftables.apply(by_netlink, "".join(op.text(family, "kube-proxy") + "\n" for op in run))
            run = []
        if parsed is not None:
            run.append(parsed.op)
            encodable_run = encodable
    listed = _nft(by_nft, "list", "table", family, "kube-proxy").stdout
    assert "numgen random mod" in listed
    assert _nft(by_netlink, "list", "table", family, "kube-proxy").stdout == listed


@pytest.mark.root
def test_a_refused_batch_changes_nothing_and_nft_names_the_failing_line(namespaces):
    ruleset = RULESETS["overall"]
    ns = namespaces()
    nftables.apply(ns, ruleset.to_transaction())
    before = _nft(ns, "list", "table", "ip", "kube-proxy").stdout
    text = ("add chain ip kube-proxy endpoint-new\n"
            "add rule ip kube-proxy endpoint-new ip saddr 10.180.0.9 jump mark-for-masquerade\n"
            "add rule ip kube-proxy endpoint-new goto no-such-chain\n")
    ops = [p.op for p in parse_transaction(text)]
    with pytest.raises(nft_netlink.KernelRefused) as refused:
        nft_netlink.commit(ns, nft_netlink.encode(ops, "ip", "kube-proxy"))
    assert refused.value.index == 2
    assert _nft(ns, "list", "table", "ip", "kube-proxy").stdout == before
    with pytest.raises(nftables.NftError) as info:
        nftables.apply(ns, text)
    message = str(info.value)
    assert ">     3  add rule ip kube-proxy endpoint-new goto no-such-chain" in message
    assert message.endswith("the previous rules are still in place")
    assert _nft(ns, "list", "table", "ip", "kube-proxy").stdout == before


@pytest.mark.root
def test_a_partial_sync_goes_over_netlink(namespaces, monkeypatch):
    ruleset = RULESETS["overall"]
    ns = namespaces()
    nftables.apply(ns, ruleset.to_transaction())
    text = ("add chain ip kube-proxy endpoint-new\n"
            "add rule ip kube-proxy endpoint-new meta l4proto tcp dnat to 10.180.0.9:80\n")

    def no_nft(*args, **kwargs):
        raise AssertionError("nft was run")

    monkeypatch.setattr(nftables.subprocess, "run", no_nft)
    monkeypatch.setattr(nftables.subprocess, "Popen", no_nft)
    nftables.apply(ns, text)
    assert nftables.apply_many([(ns, "", "flush chain ip kube-proxy endpoint-new\n")]) == []
    monkeypatch.undo()
    assert _nft(ns, "list", "chain", "ip", "kube-proxy", "endpoint-new").returncode == 0
    assert "dnat" not in _nft(ns, "list", "chain", "ip", "kube-proxy", "endpoint-new").stdout


@pytest.mark.root
def test_a_batch_bigger_than_the_sockets_buffer_goes_in_whole(namespaces):
    ns = namespaces()
    nftables.apply(ns, RULESETS["overall"].to_transaction())
    ops = []
    for n in range(2000):
        chain = f"endpoint-BIG{n:05d}-ns/big/tcp/p80__10.180.{n // 250}.{n % 250 + 1}/80"
        ops += [Op("add", Chain(chain)), Op("add", Rule(chain, f"ip saddr 10.180.{n // 250}.{n % 250 + 1} jump mark-for-masquerade")),
                Op("add", Rule(chain, f"meta l4proto tcp dnat to 10.180.{n // 250}.{n % 250 + 1}:80"))]
    batch = nft_netlink.encode(ops, "ip", "kube-proxy")
    assert len(batch.to_bytes()) > 4 * 212_992                  # past the default send buffer
    nft_netlink.commit(ns, batch)
    listed = _nft(ns, "list", "table", "ip", "kube-proxy").stdout
    assert listed.count("chain endpoint-BIG") == 2000 and listed.count("dnat to 10.180.") >= 2000
