"""Whole-tables text loads into a real, throwaway network namespace and reads like a node.

Root only (marked `root`; skipped otherwise). Every namespace gets a unique name and is
deleted in a finally; the root namespace's tables are never touched and no traffic is sent.
"""

from __future__ import annotations

import itertools
import os
import shutil
import subprocess

import pytest

from netlab.proxy.model import Endpoint, ServicePort
from netlab.proxy.render import render
from netlab.proxy.ruleset import parse_restore_text
from netlab.proxy.trace import trace

from proxy_testlib import (GOLDEN, TEST_EXTERNAL_CLIENT, TEST_NODE_IP, TEST_NODE_IPS,
                           fixture_config, load_yaml, render_objects)

pytestmark = pytest.mark.root

_counter = itertools.count()

BACKENDS = [b for b in ("nft", "legacy") if shutil.which(f"iptables-{b}-restore")]


def _run(netns, *cmd, input_text=None):
    proc = subprocess.run(["ip", "netns", "exec", netns, *cmd], capture_output=True, text=True,
                          input=input_text)
    assert proc.returncode == 0, f"{' '.join(cmd)} in {netns}: {proc.stderr.strip()}"
    return proc.stdout


@pytest.fixture
def netns():
    if not shutil.which("ip"):
        pytest.skip("no `ip` command")
    name = f"netlab-proxytest-{os.getpid()}-{next(_counter)}"
    subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        yield name
    finally:
        subprocess.run(["ip", "netns", "delete", name], check=False)


def _production(objects, **overrides):
    """The overall fixture with production formatting and no nfacct counters."""
    overrides = dict(dict(mark_style="padded", random_fully=True, nfacct=False), **overrides)
    return render_objects(objects, **overrides)


def _four_endpoints_with_affinity():
    sp = ServicePort("default", "web", "http", "TCP", "10.96.0.50", 80, type="NodePort",
                     node_port=30080, session_affinity="ClientIP")
    eps = [Endpoint("default", "web", "http", "TCP", f"10.244.{i}.2", 8080,
                    node_name="test-node" if i == 1 else f"node{i}") for i in range(1, 5)]
    return render(fixture_config(mark_style="padded", random_fully=True, nfacct=False),
                  [sp], eps)


@pytest.mark.parametrize("backend", BACKENDS)
def test_whole_tables_load_and_read_back_like_a_node(netns, backend):
    ruleset = _production(load_yaml(GOLDEN / "rulesets" / "overall.yaml")["objects"])
    text = ruleset.to_restore_text(include_builtin_jumps=True)
    _run(netns, f"iptables-{backend}-restore", input_text=text)
    saved = _run(netns, f"iptables-{backend}-save")
    live = parse_restore_text(saved)
    for table in ("filter", "nat"):
        ours = ruleset.rules_by_chain(table)
        theirs = live.tables[table].rules_by_chain()
        assert {c: len(r) for c, r in theirs.items()} == {c: len(r) for c, r in ours.items()}, table
    nat = _run(netns, f"iptables-{backend}", "-t", "nat", "-S")
    assert "-A KUBE-MARK-MASQ -j MARK --set-xmark 0x4000/0x4000" in nat
    assert "-A PREROUTING -m comment --comment \"kubernetes service portals\" -j KUBE-SERVICES" in nat
    assert ('-A KUBE-SERVICES -d 172.30.0.41/32 -p tcp -m comment --comment '
            '"ns1/svc1:p80 cluster IP" -m tcp --dport 80 -j KUBE-SVC-XPGD46QRK7WJZT7O') in nat
    # The tracer reads the node's own iptables-save and agrees with the rendered rules.
    for src, dst, port in [("10.0.0.2", "172.30.0.44", 80), (TEST_EXTERNAL_CLIENT, "192.168.99.22", 80),
                           (TEST_NODE_IP, TEST_NODE_IP, 30000), ("10.0.0.2", "172.30.0.46", 80),
                           (TEST_EXTERNAL_CLIENT, "5.6.7.8", 80), (TEST_NODE_IP, "1.2.3.4", 80),
                           (TEST_EXTERNAL_CLIENT, TEST_NODE_IP, 3002)]:
        a = trace(ruleset, src, "tcp", dst, port, TEST_NODE_IPS)
        b = trace(live, src, "tcp", dst, port, TEST_NODE_IPS)
        assert (a.output, a.masquerade) == (b.output, b.masquerade), (src, dst, port)


@pytest.mark.parametrize("backend", BACKENDS)
def test_probabilities_and_affinity_as_the_kernel_prints_them(netns, backend):
    ruleset = _four_endpoints_with_affinity()
    _run(netns, f"iptables-{backend}-restore",
         input_text=ruleset.to_restore_text(include_builtin_jumps=True))
    nat = _run(netns, f"iptables-{backend}", "-t", "nat", "-S")
    for p in ("0.25000000000", "0.33333333349", "0.50000000000"):
        assert f"--probability {p} " in nat
    assert "-m recent --rcheck --seconds 10800 --reap --name KUBE-SEP-" in nat
    assert "--mask 255.255.255.255 --rsource" in nat
    live = parse_restore_text(_run(netns, f"iptables-{backend}-save"))
    got = trace(live, TEST_EXTERNAL_CLIENT, "tcp", TEST_NODE_IP, 30080, TEST_NODE_IPS)
    assert got.endpoints == [f"10.244.{i}.2:8080" for i in range(1, 5)] and got.masquerade


def test_ipv6_whole_tables_load(netns):
    if not shutil.which("ip6tables-restore"):
        pytest.skip("no ip6tables-restore")
    sp = ServicePort("ns1", "svc1", "p80", "TCP", "fd00:172:30::41", 80, type="NodePort",
                     node_port=3001)
    eps = [Endpoint("ns1", "svc1", "p80", "TCP", "fd00:10:180::1", 80),
           Endpoint("ns1", "svc1", "p80", "TCP", "fd00:10:180::2:1", 80, node_name="test-node")]
    ruleset = render(fixture_config(family="IPv6", mark_style="padded", random_fully=True,
                                    nfacct=False), [sp], eps)
    _run(netns, "ip6tables-restore", input_text=ruleset.to_restore_text(include_builtin_jumps=True))
    nat = _run(netns, "ip6tables", "-t", "nat", "-S")
    assert "--to-destination [fd00:10:180::1]:80" in nat
    assert "! -d ::1/128" in nat


def test_kube_proxy_restore_input_loads_with_noflush_after_the_jumps(netns):
    """kube-proxy's own text (no built-in jumps) applies with --noflush, as kube-proxy does it."""
    ruleset = _production(load_yaml(GOLDEN / "rulesets" / "overall.yaml")["objects"])
    _run(netns, "iptables-restore", "--noflush", input_text=ruleset.to_restore_text())
    filter_rules = _run(netns, "iptables", "-S", "KUBE-FORWARD")
    assert "-A KUBE-FORWARD -m conntrack --ctstate INVALID -j DROP" in filter_rules
