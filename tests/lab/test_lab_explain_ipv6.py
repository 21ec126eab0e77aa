"""`explain` over IPv6 against real IPv6 traffic, in both proxy modes: on a dual-stack lab the walk reads
each namespace's IPv6 half (ip6tables-save, or the nft table `ip6 kube-proxy`; `ip -6 route`), and its
endpoints and the source each endpoint sees are what `curl http://[addr]:port/` meets.

One module-scoped lab per mode. The web pods are traefik/whoami, which names itself (`Hostname: POD`) and
the address it was reached from (`RemoteAddr: [addr]:port`).
"""

import json
import subprocess
import time

import pytest

from netlab import explain as ex
from netlab.dataplane import iptables, nftables
from netlab.lab import LabError
from tests.conftest import lab_up, netlab_cli
from tests.workloads import client_pod, documents, service, whoami_on

pytestmark = pytest.mark.root

CLIENT6 = "fc00:f853:ccd:e793::64"          # client/client: 172.18.0.100's IPv6 twin
NODE_IP6 = {"node1": "fc00:f853:ccd:e793::2", "node2": "fc00:f853:ccd:e793::3"}

WORKLOADS = documents(
    whoami_on("node2"), client_pod("client", "node1"),
    service("web", "type: NodePort\nipFamilyPolicy: PreferDualStack", "{port: 80, nodePort: 30080}"),
    service("nobody", "ipFamilyPolicy: PreferDualStack", app="nothing-has-this-label"),
    service("web-v4"))

_MODE = {}                      # lab name -> its proxy mode


@pytest.fixture(scope="module", params=["iptables", "nftables"])
def lab(request, tmp_path_factory):
    path = tmp_path_factory.mktemp("explain6") / "lab.yaml"
    path.write_text("apiVersion: netlab.io/v1alpha1\nkind: Cluster\n"
                    f"spec: {{nodes: 2, ipFamilies: [IPv4, IPv6], proxyMode: {request.param}}}\n---\n" + WORKLOADS)
    with lab_up("nlx6", "-f", str(path)) as name:
        _MODE[name] = request.param
        yield name


def _pod(lab, name):
    from netlab.inspect import get_objects
    return get_objects(lab, "Pod", "default", [name])[0]


def _web_pods(lab):
    from netlab.inspect import get_objects
    return {p["metadata"]["name"]: p for p in get_objects(lab, "Pod", "default", [])
            if p["metadata"]["name"].startswith("web-")}


def _ip6(pod):
    return next(entry["ip"] for entry in pod["status"]["podIPs"] if ":" in entry["ip"])


def _cluster_ip6(lab, name):
    """Service NAME's IPv6 cluster IP (its spec.clusterIPs entry of that family)."""
    from netlab.inspect import get_objects
    return next(ip for ip in get_objects(lab, "Service", "default", [name])[0]["spec"]["clusterIPs"] if ":" in ip)


def _curl(netns, url, timeout=5):
    """`curl -s URL` from inside NETNS: ({whoami field: value}, exit code, seconds it took)."""
    started = time.monotonic()
    done = subprocess.run(["ip", "netns", "exec", netns, "curl", "-s", "-m", str(timeout), url],
                          capture_output=True, text=True)
    reply = dict(line.split(": ", 1) for line in done.stdout.splitlines() if ": " in line)
    return reply, done.returncode, time.monotonic() - started


def _remote_host(reply):
    return reply["RemoteAddr"].rpartition(":")[0].strip("[]")


def _check_delivered(lab, netns, source, dest, count=24, **kw):
    """explain's endpoints (by pod) and the source each sees are exactly what COUNT real IPv6 requests meet."""
    expl = ex.explain(lab, source, dest, **kw)
    assert expl.request.family is ex.IPV6 and expl.verdict == "delivered", ex.format_text(expl)
    predicted = {c.pod.name: c.seen_source for c in expl.endpoints}
    url = f"http://{ex.host_port(expl.request.dst, expl.request.port)}/"
    seen = set()
    for _ in range(count):
        reply, code, _ = _curl(netns, url)
        assert code == 0, (url, code)
        seen.add((reply["Hostname"], _remote_host(reply)))
    assert seen == set(predicted.items()), (seen, predicted)      # every endpoint, each with its source
    return expl


def test_pod_to_the_ipv6_cluster_ip_reaches_every_endpoint_unmasqueraded(lab):
    client6 = _ip6(_pod(lab, "client"))
    expl = _check_delivered(lab, f"{lab}-default.client", "client", "svc/web", ipv6=True)
    web = _cluster_ip6(lab, "web")
    assert expl.request.dst == web and expl.src == client6
    assert sorted(c.address for c in expl.endpoints) == sorted(f"[{_ip6(p)}]:80" for p in _web_pods(lab).values())
    assert not expl.masquerade and {c.node for c in expl.endpoints} == {"node2"}
    dnat = next(n for n in expl.endpoints[0].nats if n.kind == "DNAT")
    assert (dnat.namespace, dnat.before) == (f"{lab}-node1", f"[{web}]:80")
    # the same IPv6 cluster IP given as an address, bracketed with its port or bare
    assert ex.explain(lab, "client", f"[{web}]:80").request.dst == web
    assert ex.explain(lab, "client", web).request.port == 80


def test_pod_to_an_ipv6_pod_on_another_node_is_not_translated(lab):
    name, target = next(iter(_web_pods(lab).items()))
    expl = _check_delivered(lab, f"{lab}-default.client", "client", f"[{_ip6(target)}]:80", count=3)
    (cand,) = expl.endpoints
    assert (cand.pod.name, cand.nats, cand.masquerade) == (name, [], False)
    crossed = [h.namespace for h in cand.hops if h.kind == "link"]
    assert crossed == [f"{lab}-default.client", f"{lab}-node1", f"{lab}-underlay", f"{lab}-node2"]
    assert any(h.kind == "route" and f"via {NODE_IP6['node2']} dev eth0 (node/node2)" in h.action for h in cand.hops)
    assert ex.explain(lab, "client", f"pod/{name}", ipv6=True).request.dst == _ip6(target)


def test_client_to_a_nodes_ipv6_node_port_is_masqueraded_to_that_node(lab):
    expl = _check_delivered(lab, f"{lab}-client", "client/client", "node/node1:30080", ipv6=True)
    assert expl.request.dst == NODE_IP6["node1"] and expl.src == CLIENT6
    assert all(c.masquerade and c.seen_source == NODE_IP6["node1"] for c in expl.endpoints)
    reply = [h.action for h in expl.endpoints[0].reply]
    assert f"the client's socket gets the answer from [{NODE_IP6['node1']}]:30080, the address it connected to" \
        == reply[-1]


def test_no_endpoints_over_ipv6_is_rejected_at_once(lab):
    expl = ex.explain(lab, "client", "nobody", ipv6=True)
    data = ex.to_json(expl)
    assert data["family"] == "IPv6" and data["verdict"] == "rejected" and data["endpoints"] == []
    if _MODE[lab] == "nftables":
        assert data["rule"] == "ip6 kube-proxy reject-chain: reject"
    else:
        assert '"default/nobody has no endpoints"' in data["rule"] and "-j REJECT" in data["rule"]
    _, code, seconds = _curl(f"{lab}-default.client", f"http://{ex.host_port(expl.request.dst, 80)}/")
    # refused by the ICMPv6 answer (curl: 7), not a timeout (28). The answer to the first SYN may arrive while
    # connect() still holds the socket, and tcp_v6_err drops it then (TcpExtLockDroppedIcmps): the
    # refusal can come with the SYN retransmitted a second later.
    assert code == 7 and seconds < 3.0


def test_every_rule_on_the_path_is_a_line_of_the_namespaces_live_ipv6_rules(lab):
    expl = ex.explain(lab, "client/client", "node/node1:30080", ipv6=True)
    tables = {h.table for cand in expl.candidates for h in cand.hops if h.rule}
    assert tables == ({"ip6 kube-proxy"} if _MODE[lab] == "nftables" else {"nat", "filter"})
    for cand in expl.candidates:
        for netns in {h.namespace for h in cand.hops if h.rule}:
            if _MODE[lab] == "nftables":
                lines = {line.strip() for line in nftables.list_table(netns, "ip6").splitlines()}
            else:
                lines = {line.strip() for line in iptables.save(netns, ip6=True).splitlines()}
            assert all(h.rule in lines for h in cand.hops if h.rule and h.namespace == netns)


def test_json_and_the_cli_show_the_family_and_ipv6_addresses(lab):
    data = json.loads(netlab_cli("explain", "client", "svc/web", "-6", "-o", "json", "--name", lab).stdout)
    assert data["family"] == "IPv6" and data["destination"]["ip"] == _cluster_ip6(lab, "web")
    assert data["source"]["ip"] == _ip6(_pod(lab, "client"))
    assert all(e["address"].startswith("[fd00:10:244:2::") and e["address"].endswith("]:80") for e in data["endpoints"])
    v4 = json.loads(netlab_cli("explain", "client", "svc/web", "-o", "json", "--name", lab).stdout)
    assert v4["family"] == "IPv4" and ":" not in v4["destination"]["ip"]
    traced = netlab_cli("trace", "client", "svc/web", "--name", lab, check=False)   # IPv4: trace is fine with it
    assert traced.returncode == 0, traced.stderr
    refused = netlab_cli("trace", "client", f"[{_cluster_ip6(lab, 'web')}]:80", "--name", lab, check=False)
    assert refused.returncode != 0 and refused.stderr.strip().splitlines() == [
        f"error: trace follows IPv4 packets only; `netlab explain client [{_cluster_ip6(lab, 'web')}]:80 -6` "
        "predicts the IPv6 path"]


def test_ipv6_errors_say_what_is_missing(lab):
    for source, dest, kw, words in (
            ("client", "web-v4", {"ipv6": True}, 'service "default/web-v4" has no IPv6 cluster IP'),
            ("client", "10.96.0.1:443", {"ipv6": True}, "-6: DEST 10.96.0.1:443 is the IPv4 address"),
            ("10.244.1.2", _cluster_ip6(lab, "web"), {}, "is an IPv4 address and the destination an IPv6 one"),
            ("fd00:10:244:9::9", "web", {}, "has the address fd00:10:244:9::9")):
        with pytest.raises(LabError, match=words):
            ex.explain(lab, source, dest, **kw)
    # FROM as an IPv6 address: names then stand for IPv6 addresses
    expl = ex.explain(lab, _ip6(_pod(lab, "client")), "web")
    assert expl.request.netns == f"{lab}-default.client" and expl.request.dst == _cluster_ip6(lab, "web")
    assert ex.explain(lab, NODE_IP6["node2"], "web").request.netns == f"{lab}-node2"
