"""spec.ipFamilies: [IPv4, IPv6] for real, in both live proxy modes: every pod and node has an
address of each family, IPv6 pod-to-pod traffic crosses nodes without NAT, `curl -6` reaches an
IPv6 ClusterIP and NodePort, both traffic policies hold over IPv6, and each node's IPv6 rules
(ip6tables-save, or the ip6 kube-proxy table) are the renderer's, object for object."""

import json
import re
import secrets
import subprocess

import pytest

from tests.conftest import lab_up, netlab_cli, until
from tests.workloads import client_pod, documents, service, whoami_on

pytestmark = pytest.mark.root

CLIENT6 = "fc00:f853:ccd:e793::64"          # the external client: 172.18.0.100's IPv6 twin
NODE_IP6 = {"node1": "fc00:f853:ccd:e793::2", "node2": "fc00:f853:ccd:e793::3"}

WORKLOADS = documents(
    whoami_on("node2"), client_pod("curl", "node1"),
    service("web", "type: NodePort\nipFamilyPolicy: PreferDualStack", "{port: 80, nodePort: 30080}"),
    service("web-local", "type: NodePort\nexternalTrafficPolicy: Local\nipFamilyPolicy: RequireDualStack\n"
                         "ipFamilies: [IPv6, IPv4]", "{port: 80, nodePort: 30081}"),
    service("web-v4"))


@pytest.fixture(scope="module", params=["iptables", "nftables"])
def lab(request, tmp_path_factory):
    path = tmp_path_factory.mktemp("dualstack") / "lab.yaml"
    path.write_text("apiVersion: netlab.io/v1alpha1\nkind: Cluster\n"
                    f"spec: {{nodes: 2, ipFamilies: [IPv4, IPv6], proxyMode: {request.param}}}\n---\n"
                    + WORKLOADS)
    with lab_up("nds", "-f", str(path)) as name:
        yield name


def _get(lab, kind):
    data = json.loads(netlab_cli("get", kind, "-o", "json", "--name", lab).stdout)
    return {item["metadata"]["name"]: item for item in data["items"]}


def _pods(lab, prefix="web-"):
    return [p for name, p in _get(lab, "pods").items() if name.startswith(prefix)]


def _curl_text(namespace, url):
    done = subprocess.run(["ip", "netns", "exec", namespace, "curl", "-s", "-m", "5", url],
                          capture_output=True, text=True)
    assert done.returncode == 0, (namespace, url, done.stderr)
    return done.stdout


def _curl(namespace, url):
    """The whoami reply to `curl -s URL` from inside NAMESPACE, as {field: value} (RemoteAddr, Hostname)."""
    return dict(line.split(": ", 1) for line in _curl_text(namespace, url).splitlines() if ": " in line)


def _remote_host(reply):
    return reply["RemoteAddr"].rpartition(":")[0].strip("[]")


def _curl_netns(lab):
    return f"{lab}-default.curl"


def test_every_pod_has_an_address_of_each_family_on_eth0_and_in_its_status(lab):
    for pod in _pods(lab) + _pods(lab, "curl"):
        ips = [entry["ip"] for entry in pod["status"]["podIPs"]]
        assert len(ips) == 2 and ":" not in ips[0] and ips[1].startswith("fd00:10:244:")
        assert pod["status"]["podIP"] == ips[0]
        shown = subprocess.run(["ip", "netns", "exec", pod["metadata"]["annotations"]["netlab.io/netns"],
                                "ip", "-6", "addr", "show", "dev", "eth0"], capture_output=True, text=True).stdout
        assert f"inet6 {ips[1]}/64 scope global" in shown
    node2 = _get(lab, "nodes")["node2"]
    assert node2["spec"]["podCIDRs"] == ["10.244.2.0/24", "fd00:10:244:2::/64"]
    assert NODE_IP6["node2"] in [a["address"] for a in node2["status"]["addresses"] if a["type"] == "InternalIP"]


def test_ipv6_pod_to_pod_across_nodes_keeps_the_callers_address(lab):
    curl_ip6 = _get(lab, "pods")["curl"]["status"]["podIPs"][1]["ip"]
    for pod in _pods(lab):
        target = pod["status"]["podIPs"][1]["ip"]
        text = _curl_text(_curl_netns(lab), f"http://[{target}]:80/")
        reply = dict(line.split(": ", 1) for line in text.splitlines() if ": " in line)
        assert reply["Hostname"] == pod["metadata"]["name"]
        assert _remote_host(reply) == curl_ip6            # no NAT between pods
        assert f"IP: {target}\n" in text                 # whoami lists the pod's addresses, both families


def test_curl_6_reaches_the_ipv6_cluster_ip_and_the_nodeport_on_every_node(lab):
    web = _get(lab, "services")["web"]["spec"]
    assert web["ipFamilies"] == ["IPv4", "IPv6"] and web["clusterIPs"][1].startswith("fd00:10:96::")
    names = {p["metadata"]["name"] for p in _pods(lab)}
    seen = {_curl(_curl_netns(lab), f"http://[{web['clusterIPs'][1]}]:80/")["Hostname"] for _ in range(12)}
    assert seen <= names and seen
    for k, (node, address) in enumerate(NODE_IP6.items(), start=1):
        reply = _curl(f"{lab}-client", f"http://[{address}]:30080/")
        assert reply["Hostname"] in names
        # externalTrafficPolicy Cluster: masqueraded to the ingress node's address on the way out
        # (its underlay one, or cni0's when the endpoint is on the same node)
        assert _remote_host(reply) in (address, f"fd00:10:244:{k}::1")


def test_external_traffic_policy_local_over_ipv6_keeps_the_clients_address_on_the_endpoints_node(lab):
    local = _get(lab, "services")["web-local"]["spec"]
    assert local["ipFamilies"] == ["IPv6", "IPv4"] and ":" in local["clusterIP"]
    reply = _curl(f"{lab}-client", f"http://[{NODE_IP6['node2']}]:30081/")
    assert _remote_host(reply) == CLIENT6
    refused = subprocess.run(["ip", "netns", "exec", f"{lab}-client", "curl", "-s", "-m", "2",
                              f"http://[{NODE_IP6['node1']}]:30081/"], capture_output=True, text=True)
    assert refused.returncode != 0                        # node1 has no local endpoint: dropped


def test_a_single_stack_service_gets_rules_of_its_own_family_only(lab):
    v4 = _get(lab, "services")["web-v4"]["spec"]
    assert v4["ipFamilies"] == ["IPv4"] and len(v4["clusterIPs"]) == 1
    assert v4["clusterIP"] in netlab_cli("rules", "node1", "--name", lab).stdout
    ipv6_rules = netlab_cli("rules", "node1", "--family", "IPv6", "--name", lab).stdout
    assert "default/web-v4" not in ipv6_rules and "default/web" in ipv6_rules
    slices = _get(lab, "endpointslices")
    assert sorted(s["addressType"] for name, s in slices.items() if name.startswith("web-") and
                  s["metadata"]["labels"]["kubernetes.io/service-name"] == "web") == ["IPv4", "IPv6"]


def test_probe_spreads_ipv6_requests_as_the_live_ipv6_rules_say(lab):
    cluster_ip6 = _get(lab, "services")["web"]["spec"]["clusterIPs"][1]
    text = netlab_cli("probe", "--from", "curl", f"[{cluster_ip6}]:80", "--count", "200", "--name", lab).stdout
    for pod in _pods(lab):
        assert f"[{pod['status']['podIPs'][1]['ip']}]:80" in text and "50.0%" in text
    assert "consistent with kube-proxy's shares" in text and "NOT consistent" not in text


def _live_equals_rendered(lab, node_name):
    """(live, rendered) IPv6 rules of NODE_NAME, each in the kernel's own spelling."""
    from netlab import lab as lab_mod
    from netlab import proxier, state
    from netlab.dataplane import iptables, nftables
    st = state.load(lab)
    topology = lab_mod.topology_of(lab, st.config)
    config = lab_mod.manifest_lab_config(st.config)
    view = st.allocations["view"]
    renderer = proxier.NodeRenderer(view["services"] + view["slices"], topology, config, "IPv6")
    node = topology.node(node_name)
    if config.proxy_mode == "nftables":
        from netlab.proxy.nft_listing import canonical_rule
        ruleset, _ = renderer.render_nft(node)
        live = nftables.read_whole_table(node.netns, "ip6")
        return ([sorted(canonical_rule(line) for line in table.dump().splitlines())
                 for table in (live, ruleset.table)])
    nfacct = proxier.applied_rules(st, "IPv6")[node_name]["nfacct"]
    ruleset, _ = renderer.render(node, nfacct)
    scratch = f"nltest-ds6-{secrets.token_hex(3)}"
    subprocess.run(["ip", "netns", "add", scratch], check=True)
    try:
        if nfacct:      # the rules match kube-proxy's nfacct counters: the scratch namespace needs them too
            from netlab.dataplane import nfnetlink
            nfnetlink.ensure_counters(scratch)
        subprocess.run(["ip", "netns", "exec", scratch, "ip6tables-restore"], check=True, text=True,
                       input=ruleset.to_restore_text(include_builtin_jumps=True))
        rendered = subprocess.run(["ip", "netns", "exec", scratch, "ip6tables-save"], capture_output=True,
                                  text=True, check=True).stdout
    finally:
        subprocess.run(["ip", "netns", "del", scratch], check=False)

    def rules_only(saved):
        return [line.split(" [")[0] for line in saved.splitlines() if line and not line.startswith("#")]
    return rules_only(iptables.save(node.netns, ip6=True)), rules_only(rendered)


def test_each_nodes_ipv6_rules_are_the_renderers_object_for_object(lab):
    for node in NODE_IP6:
        # (the supervisor may be a sync behind the lab's view for a moment after up)
        until(lambda: _same(*_live_equals_rendered(lab, node)), timeout=5.0)
        live, rendered = _live_equals_rendered(lab, node)
        assert live == rendered and any("KUBE-SVC-" in line or "service-" in line for line in live)


def _same(live, rendered):
    return live == rendered


def test_the_ipv4_rules_carry_no_ipv6_address_and_the_ipv6_rules_no_ipv4_one(lab):
    v4 = netlab_cli("rules", "node1", "--name", lab).stdout
    v6 = netlab_cli("rules", "node1", "--family", "IPv6", "--name", lab).stdout
    # (nftables mode's endpoint chains spell an IPv6 endpoint with dots: ...__fd00.10.244.2..3/80)
    assert "fd00:" not in v4 and not re.search(r"(?<![.\w])10\.244\.\d+\.\d+", v6) and "fd00:10:244:2::" in v6
