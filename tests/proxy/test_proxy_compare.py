"""`netlab proxy compare SERVICE` and `netlab proxy render --mode ipvs`: one Service in the three
modes, and IPVS mode's whole text, for the objects of upstream's TestOverallIPTablesRules."""

from __future__ import annotations

import pytest
import yaml
from click.testing import CliRunner

from netlab.proxy.cli import proxy
from netlab.proxy.compare import (HOW_IPTABLES, HOW_IPVS, HOW_NFTABLES, UnknownService, compare_service,
                                  parse_service)
from netlab.proxy.ipvs_render import render_ipvs
from netlab.proxy.objects import Inventory, render_input_from_inventory
from netlab.proxy.render import render
from netlab.proxy.service_rules import service_rules

from proxy_testlib import GOLDEN, load_yaml

OVERALL = load_yaml(GOLDEN / "rulesets" / "overall.yaml")["objects"]
NODE = {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "test-node"},
        "status": {"addresses": [{"type": "InternalIP", "address": "192.168.0.2"}]}}
KPC = {"apiVersion": "kubeproxy.config.k8s.io/v1alpha1", "kind": "KubeProxyConfiguration",
       "clusterCIDR": "10.0.0.0/8"}
WEB = [{"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"},
        "spec": {"clusterIP": "10.96.0.50", "ports": [{"name": "http", "port": 80}]}},
       {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
        "metadata": {"name": "web-1", "labels": {"kubernetes.io/service-name": "web"}},
        "addressType": "IPv4", "endpoints": [{"addresses": ["10.244.1.2"], "nodeName": "test-node"}],
        "ports": [{"name": "http", "port": 8080}]},
       {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "headless"},
        "spec": {"clusterIP": "None", "ports": [{"port": 80}]}}]


@pytest.fixture
def objects(tmp_path):
    f = tmp_path / "objects.yaml"
    f.write_text(yaml.safe_dump_all(OVERALL + WEB + [NODE, KPC]))
    return f


def run(*args):
    return CliRunner().invoke(proxy, list(args))


def _sections(text):
    """{mode: section text} of compare's output."""
    parts = text.split("\n=== ")[1:]
    return {p.split(" ===", 1)[0]: p.split("\n", 1)[1] for p in parts}


def test_compare_prints_the_three_modes_in_order_each_with_its_packet_path(objects):
    result = run("compare", "-f", str(objects), "--node", "test-node", "ns5/svc5")
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert out.startswith("Service ns5/svc5 on node test-node (IPv4): ")
    assert out.index("=== iptables ===") < out.index("=== nftables ===") < out.index("=== IPVS ===")
    sections = _sections(out)
    for mode, how in (("iptables", HOW_IPTABLES), ("nftables", HOW_NFTABLES), ("IPVS", HOW_IPVS)):
        assert sections[mode].startswith(f"# how a packet finds its endpoint: {how}\n")
    # iptables: exactly what service_rules picks from the rendered restore input
    data = render_input_from_inventory(Inventory().add(OVERALL + WEB + [NODE, KPC]), "test-node")
    expected = service_rules(render(data.config, data.service_ports, data.endpoints).to_restore_text(), "ns5", "svc5")
    assert sections["iptables"].split("\n", 1)[1] == expected
    # nftables: the verdict-map elements that lead to its chains, its affinity set, its chains
    nft = sections["nftables"]
    assert "add element ip kube-proxy service-ips { 172.30.0.45 . tcp . 80 : goto service-HVFWP5L3-ns5/svc5/tcp/p80 }" in nft
    assert "add set ip kube-proxy affinity-GTK6MW7G-ns5/svc5/tcp/p80__10.180.0.3/80 " in nft
    assert "add rule ip kube-proxy firewall-HVFWP5L3-ns5/svc5/tcp/p80 ip saddr != { 203.0.113.0/25 } drop" in nft
    # IPVS: its persistent virtual servers, its set entries, the shared rules matching them
    ipvs = sections["IPVS"]
    assert "-A -t 172.30.0.45:80 -s rr -p 10800\n-a -t 172.30.0.45:80 -r 10.180.0.3:80 -m -w 1\n" in ipvs
    assert "add KUBE-LOAD-BALANCER-SOURCE-CIDR 5.6.7.8,tcp:80,203.0.113.0/25" in ipvs
    assert "-A KUBE-IPVS-OUT-FILTER -s 5.6.7.8 -m ipvs --vaddr 5.6.7.8 --vproto tcp --vport 80 -j DROP" in ipvs
    # nothing of another Service
    assert "ns1/svc1" not in out and "172.30.0.41" not in out


def test_a_service_without_endpoints_in_each_mode(objects):
    """iptables REJECTs in filter, nftables has a no-endpoint-services element, IPVS an empty
    virtual server (the kernel answers ICMP port unreachable)."""
    result = run("compare", "-f", str(objects), "--node", "test-node", "ns6/svc6")
    assert result.exit_code == 0, result.output
    sections = _sections(result.stdout)
    assert '--comment "ns6/svc6:p80 has no endpoints" -m tcp -p tcp -d 172.30.0.46 --dport 80 -j REJECT' in sections["iptables"]
    assert ('add element ip kube-proxy no-endpoint-services { 172.30.0.46 . tcp . 80 comment "ns6/svc6:p80" '
            ": goto reject-chain }") in sections["nftables"]
    ipvs = sections["IPVS"]
    assert "-A -t 172.30.0.46:80 -s rr\n# (a virtual server without real servers" in ipvs
    assert "add KUBE-IPVS-IPS 172.30.0.46" in ipvs
    assert "-A KUBE-IPVS-FILTER -m conntrack --ctstate NEW -m set --match-set KUBE-IPVS-IPS dst -j REJECT" in ipvs


def test_a_bare_name_is_in_the_default_namespace(objects):
    result = run("compare", "-f", str(objects), "--node", "test-node", "web")
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("Service default/web on node test-node")
    sections = _sections(result.stdout)
    assert "-A -t 10.96.0.50:80 -s rr\n-a -t 10.96.0.50:80 -r 10.244.1.2:8080 -m -w 1" in sections["IPVS"]
    assert "add KUBE-LOOP-BACK 10.244.1.2,tcp:8080,10.244.1.2" in sections["IPVS"]
    assert "-j DNAT --to-destination 10.244.1.2:8080" in sections["iptables"]
    assert "meta l4proto tcp dnat to 10.244.1.2:8080" in sections["nftables"]


@pytest.mark.parametrize("service, message", [
    ("nosuch", "Error: no Service default/nosuch among the inputs"),
    ("ns1/svc9", "Error: no Service ns1/svc9 among the inputs"),
    ("headless", "Error: Service default/headless: kube-proxy writes no IPv4 rules for it"),
    ("a/b/c", "Error: SERVICE 'a/b/c': expected NAME or NAMESPACE/NAME"),
])
def test_a_service_it_cannot_show_is_a_one_line_error(objects, service, message):
    result = run("compare", "-f", str(objects), "--node", "test-node", service)
    assert result.exit_code == 1, result.output
    assert result.stderr.splitlines()[-1].startswith(message), result.stderr
    assert "Traceback" not in result.output


def test_compare_ipv6(tmp_path):
    f = tmp_path / "dual.yaml"
    f.write_text(yaml.safe_dump_all([
        {"apiVersion": "v1", "kind": "Service", "metadata": {"namespace": "ns", "name": "dual"},
         "spec": {"clusterIPs": ["10.96.0.9", "fd00:96::9"], "ports": [{"name": "dns", "port": 53, "protocol": "UDP"}]}},
        {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
         "metadata": {"namespace": "ns", "name": "dual-6", "labels": {"kubernetes.io/service-name": "dual"}},
         "addressType": "IPv6", "endpoints": [{"addresses": ["fd00:244::5"]}],
         "ports": [{"name": "dns", "port": 53, "protocol": "UDP"}]}]))
    result = run("compare", "-f", str(f), "--node", "n1", "--node-ip", "fd00::2",
                 "--cluster-cidr", "fd00:244::/64", "--family", "IPv6", "ns/dual")
    assert result.exit_code == 0, result.output
    ipvs = _sections(result.stdout)["IPVS"]
    assert "-A -u [fd00:96::9]:53 -s rr\n-a -u [fd00:96::9]:53 -r [fd00:244::5]:53 -m -w 1" in ipvs
    assert "ip addr add fd00:96::9/128 dev kube-ipvs0" in ipvs
    assert "add KUBE-6-CLUSTER-IP fd00:96::9,udp:53" in ipvs
    assert "add element ip6 kube-proxy service-ips { fd00:96::9 . udp . 53 : goto " in _sections(result.stdout)["nftables"]


def test_compare_service_is_pure_and_names_an_unknown_service():
    data = render_input_from_inventory(Inventory().add(OVERALL + [NODE, KPC]), "test-node")
    comparison = compare_service(data, "ns1", "svc1")
    assert [v.mode for v in comparison.views] == ["iptables", "nftables", "IPVS"]
    assert comparison.to_text() == compare_service(data, "ns1", "svc1").to_text()
    with pytest.raises(UnknownService, match="no Service ns1/web among the inputs"):
        compare_service(data, "ns1", "web")
    assert parse_service("web") == ("default", "web")
    assert parse_service("kube-system/kube-dns") == ("kube-system", "kube-dns")


def test_render_mode_ipvs_prints_the_whole_text(objects):
    result = run("render", "-f", str(objects), "--node", "test-node", "--mode", "ipvs",
                 "--mark-style", "short", "--no-random-fully")
    assert result.exit_code == 0, result.output
    data = render_input_from_inventory(Inventory().add(OVERALL + WEB + [NODE, KPC]), "test-node",
                                       mark_style="short", random_fully=False)
    assert result.stdout == render_ipvs(data.config, data.service_ports, data.endpoints).to_text()
    for header in ("# 1. kube-ipvs0", "# 2. IPVS virtual servers", "# 3. ipsets", "# 4. iptables rules",
                   "# 5. jumps", "# 6. sysctls"):
        assert f"\n{header}" in result.stdout
    assert "-A KUBE-MARK-MASQ -j MARK --or-mark 0x4000\n" in result.stdout
    assert "warning:" in result.stderr  # the Go fixture's NodePort Service without a nodePort


def test_render_mode_ipvs_refuses_whole_tables(objects):
    result = run("render", "-f", str(objects), "--node", "test-node", "--mode", "ipvs", "--whole-tables")
    assert result.exit_code == 1
    assert result.stderr == "Error: --whole-tables is for --mode iptables\n"


def test_registered_in_the_netlab_command():
    from netlab.cli import main
    result = CliRunner().invoke(main, ["proxy", "compare", "--help"])
    assert result.exit_code == 0
    assert "NAME or NAMESPACE/NAME" in result.stdout
