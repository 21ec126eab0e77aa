"""The python-iptables backend: same rules as the restore backend, and Services still work."""

import os
import re
import time

import pytest

from netlab.dataplane import traffic
from netlab.proxy.ruleset import parse_sections
from netlab.runtime import parse_builtin_reply
from tests.conftest import lab_namespaces, netlab_cli, unique_lab

pytestmark = pytest.mark.root


def _tables(text):
    """table -> its chain declarations and rules in order (no counters, comments or COMMIT)."""
    return {section.name: [f":{chain} {policy}" for chain, policy in section.policies.items()] +
            [f":{chain} -" for chain in section.chains] +
            [f"-A {chain} {args}".rstrip() for _, chain, args in section.rules]
            for section in parse_sections(text)}


@pytest.fixture(scope="module")
def labs():
    iptc_lab, restore_lab = unique_lab(), unique_lab()
    # one seed for both: the same uids, so the same ClusterIPs and nodePorts in both labs' rules
    os.environ["NETLAB_SEED"] = "iptc-backend-test"
    try:
        netlab_cli("up", "--name", iptc_lab, "--iptables-backend", "python-iptables")
        netlab_cli("up", "--name", restore_lab)
        yield iptc_lab, restore_lab
    finally:
        os.environ.pop("NETLAB_SEED", None)
        for name in (iptc_lab, restore_lab):
            netlab_cli("down", "--name", name, check=False)
            assert lab_namespaces(name) == []


def _dns_endpoints_in_rules(lab, node):
    """Whether kube-proxy's rules on NODE hold both cluster DNS pods (they join once their
    readiness probes pass, a moment after `up`)."""
    nat = _tables(netlab_cli("rules", node, "--name", lab).stdout)["nat"]
    return sum(1 for line in nat if line.startswith("-A KUBE-SEP-") and '"kube-system/kube-dns:dns"' in line
               and "-j DNAT" in line) == 2


def test_rules_read_back_identical_rule_for_rule_to_the_restore_backends(labs):
    iptc_lab, restore_lab = labs
    deadline = time.monotonic() + 20
    while not all(_dns_endpoints_in_rules(lab, node) for lab in labs for node in ("node1", "node2")):
        assert time.monotonic() < deadline, "the cluster DNS pods never reached kube-proxy's rules"
        time.sleep(0.1)
    for node in ("node1", "node2"):
        ours = _tables(netlab_cli("rules", node, "--name", iptc_lab).stdout)
        theirs = _tables(netlab_cli("rules", node, "--name", restore_lab).stdout)
        assert ours["nat"] == theirs["nat"] and ours["filter"] == theirs["filter"]
        assert any("--probability 0.33333333349" in line for line in ours["nat"])


def test_cluster_ip_spreads_node_port_answers_and_affinity_sticks(labs):
    iptc_lab, _ = labs
    out = netlab_cli("probe", "--name", iptc_lab, "--from", "curl", "web", "--count", "400").stdout
    assert "consistent with kube-proxy's shares" in out
    answers = [parse_builtin_reply(r.text) for r in traffic.send(f"{iptc_lab}-client", "172.18.0.2", 30080, "TCP", 5)]
    assert all(a.get("pod", "").startswith("web-") for a in answers)
    sticky = netlab_cli("probe", "--name", iptc_lab, "--from", "curl", "web-sticky", "--count", "30").stdout
    assert len(re.findall(r"^\S+:80\s+web-\S+\s+30\s", sticky, re.M)) == 1
