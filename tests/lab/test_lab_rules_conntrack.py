"""`netlab rules NODE --service` and `netlab conntrack` on a live lab: one Service's chains in a
packet's order, and the connections a probe made with the pods kube-proxy sent them to."""

import json
import re
from pathlib import Path

import pytest

from tests.conftest import lab_up, netlab_cli

pytestmark = pytest.mark.root

MANIFESTS = Path(__file__).resolve().parents[2] / "manifests"


@pytest.fixture(scope="module")
def lab():
    with lab_up("nlrc", "-f", str(MANIFESTS)) as name:
        yield name


def test_a_services_rules_read_in_a_packets_order_on_every_node(lab):
    svc = json.loads(netlab_cli("get", "svc", "web-nodeport", "-o", "json", "--name", lab).stdout)
    for node in ("node1", "node2"):
        text = netlab_cli("rules", node, "--service", "web-nodeport", "--name", lab).stdout
        rules = [line for line in text.splitlines() if line.startswith("-A ")]
        chains = [line.split()[1] for line in rules]
        assert chains[0] == "KUBE-SERVICES" and f"-d {svc['spec']['clusterIP']}/32" in rules[0]
        assert chains[1].startswith("KUBE-SVC-") and any(c.startswith("KUBE-SEP-") for c in chains)
        assert max(i for i, c in enumerate(chains) if c.startswith("KUBE-SEP-")) < chains.index("KUBE-NODEPORTS")
        assert chains[-1].startswith(("KUBE-NODEPORTS", "KUBE-EXT-"))
        assert not any('"default/web-sticky' in line or '"default/web:' in line for line in rules)
    missing = netlab_cli("rules", "node1", "--service", "nothing", "--name", lab, check=False)
    assert missing.returncode == 1 and missing.stderr.strip() == 'Error from server (NotFound): services "nothing" not found'


def test_a_service_in_all_three_modes_side_by_side(lab):
    svc = json.loads(netlab_cli("get", "svc", "web-nodeport", "-o", "json", "--name", lab).stdout)
    cluster_ip, node_port = svc["spec"]["clusterIP"], svc["spec"]["ports"][0]["nodePort"]
    text = netlab_cli("rules", "node1", "--service", "web-nodeport", "--all-modes", "--name", lab).stdout
    iptables, nft, ipvs = (text.split(f"=== {mode} ===\n", 1)[1].split("\n=== ", 1)[0]
                           for mode in ("iptables", "nftables", "IPVS"))
    assert "walks nat KUBE-SERVICES rule by rule" in iptables and f"-d {cluster_ip}" in iptables
    assert "one verdict-map lookup" in nft and f"{cluster_ip} . tcp . 80 : goto service-" in nft
    assert "hash lookup" in ipvs and f"-A -t {cluster_ip}:80 -s rr" in ipvs and f"-A -t 172.18.0.2:{node_port} -s rr" in ipvs
    # the same endpoints in every form: the live iptables rules' DNAT targets
    live = netlab_cli("rules", "node1", "--service", "web-nodeport", "--name", lab).stdout
    endpoints = set(re.findall(r"--to-destination (\S+)", live))
    assert len(endpoints) == 4
    assert set(re.findall(r"dnat to (\S+)", nft)) == endpoints
    assert set(re.findall(rf"-a -t {re.escape(cluster_ip)}:80 -r (\S+) -m", ipvs)) == endpoints
    refused = netlab_cli("rules", "node1", "--all-modes", "--name", lab, check=False)
    assert refused.returncode == 1 and "--all-modes shows one Service" in refused.stderr


def test_conntrack_after_a_probe_shows_each_connection_dnated_to_a_web_pod(lab):
    netlab_cli("probe", "--from", "curl", "web", "--count", "30", "--name", lab)
    pods = {p["status"]["podIP"]: p["metadata"]["name"]
            for p in json.loads(netlab_cli("get", "pods", "-o", "json", "--name", lab).stdout)["items"]}
    curl_node = json.loads(netlab_cli("get", "pod", "curl", "-o", "json", "--name", lab).stdout)["spec"]["nodeName"]
    lines = netlab_cli("conntrack", curl_node, "--service", "web", "--name", lab).stdout.splitlines()
    assert re.match(rf"node/{curl_node} \((\d+) connections\)", lines[0])
    entries = [line for line in lines[1:] if "-> svc/web(" in line]
    assert len(entries) >= 30
    for line in entries:
        chosen = re.search(r"DNAT -> pod/([\w-]+)\((\d+\.\d+\.\d+\.\d+):80\)", line)
        assert line.lstrip().startswith("tcp ") and "pod/curl(" in line and chosen, line
        assert pods[chosen.group(2)] == chosen.group(1) and chosen.group(1).startswith("web-")
