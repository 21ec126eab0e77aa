"""`explain` against real traffic: for every data-plane scenario its verdict, its endpoint set and the
source each endpoint sees are what real requests get, on both iptables backends and in kube-proxy's
nftables mode (where explain walks the nft table `ip kube-proxy` of each node).

Each lab is one module-scoped fixture per mode (restore, python-iptables, nftables). Requests go from inside
the lab's namespaces (netlab.dataplane.traffic, as tests/lab/test_lab_services.py sends them); the
built-in server in every pod names itself and the client address it saw.
"""

import textwrap
import time

import pytest

from netlab import explain as ex
from netlab.dataplane import iptables, nftables, traffic
from netlab.lab import LabError
from netlab.runtime import parse_builtin_reply
from tests.conftest import lab_up, netlab_cli, until

pytestmark = pytest.mark.root

LAB = textwrap.dedent("""\
    apiVersion: netlab.io/v1alpha1
    kind: Cluster
    spec:
      clients:
      - {name: client, ip: 172.18.0.100}
      - {name: outsider, ip: 172.18.0.101}
      loadBalancerPool: 172.18.255.200-172.18.255.210
    ---
    apiVersion: apps/v1
    kind: Deployment
    metadata: {name: web}
    spec:
      replicas: 4
      selector: {matchLabels: {app: web}}
      template:
        metadata: {labels: {app: web}}
        spec:
          containers: [{name: web, image: nginx, ports: [{name: http, containerPort: 8080}]}]
    ---
    apiVersion: apps/v1
    kind: Deployment
    metadata: {name: solo}
    spec:
      replicas: 1
      selector: {matchLabels: {app: solo}}
      template:
        metadata: {labels: {app: solo}}
        spec:
          nodeSelector: {kubernetes.io/hostname: node2}
          containers: [{name: web, image: nginx, ports: [{containerPort: 80}]}]
    ---
    apiVersion: apps/v1
    kind: Deployment
    metadata: {name: dns}
    spec:
      replicas: 1
      selector: {matchLabels: {app: dns}}
      template:
        metadata: {labels: {app: dns}}
        spec:
          containers:
          - {name: dns, image: example.com/udp-echo, ports: [{name: dns, containerPort: 5353, protocol: UDP}]}
    ---
    apiVersion: v1
    kind: Pod
    metadata: {name: client-a}
    spec:
      nodeName: node1
      containers: [{name: c, image: curlimages/curl, command: [sleep, infinity]}]
    ---
    apiVersion: v1
    kind: Pod
    metadata: {name: client-b}
    spec:
      nodeName: node2
      containers: [{name: c, image: curlimages/curl, command: [sleep, infinity]}]
    ---
    apiVersion: v1
    kind: Service
    metadata: {name: web}
    spec:
      selector: {app: web}
      ports: [{name: http, port: 80, targetPort: http}]
    ---
    apiVersion: v1
    kind: Service
    metadata: {name: two-ports}
    spec:
      selector: {app: web}
      ports: [{name: a, port: 80, targetPort: 8080}, {name: b, port: 81, targetPort: 8080}]
    ---
    apiVersion: v1
    kind: Service
    metadata: {name: web-np}
    spec:
      type: NodePort
      selector: {app: web}
      ports: [{port: 80, targetPort: 8080, nodePort: 30080}]
    ---
    apiVersion: v1
    kind: Service
    metadata: {name: solo-np}
    spec:
      type: NodePort
      selector: {app: solo}
      ports: [{port: 80, nodePort: 30082}]
    ---
    apiVersion: v1
    kind: Service
    metadata: {name: solo-local}
    spec:
      type: NodePort
      externalTrafficPolicy: Local
      selector: {app: solo}
      ports: [{port: 80, nodePort: 30081}]
    ---
    apiVersion: v1
    kind: Service
    metadata: {name: sticky}
    spec:
      selector: {app: web}
      sessionAffinity: ClientIP
      ports: [{port: 80, targetPort: 8080}]
    ---
    apiVersion: v1
    kind: Service
    metadata: {name: nobody}
    spec:
      selector: {app: nothing-has-this-label}
      ports: [{port: 80}]
    ---
    apiVersion: v1
    kind: Service
    metadata: {name: wrong-port}
    spec:
      selector: {app: solo}
      ports: [{port: 80, targetPort: 9999}]
    ---
    apiVersion: v1
    kind: Service
    metadata: {name: dns}
    spec:
      selector: {app: dns}
      ports: [{name: dns, port: 53, targetPort: dns, protocol: UDP}]
    ---
    apiVersion: v1
    kind: Service
    metadata: {name: a-web-lb}
    spec:
      type: LoadBalancer
      selector: {app: web}
      ports: [{port: 80, targetPort: 8080}]
    ---
    apiVersion: v1
    kind: Service
    metadata: {name: b-solo-lb}
    spec:
      type: LoadBalancer
      externalTrafficPolicy: Local
      selector: {app: solo}
      ports: [{port: 80}]
    ---
    apiVersion: v1
    kind: Service
    metadata: {name: c-ranged-lb}
    spec:
      type: LoadBalancer
      loadBalancerSourceRanges: [172.18.0.100/32]
      selector: {app: web}
      ports: [{port: 80, targetPort: 8080}]
    ---
    apiVersion: v1
    kind: Service
    metadata: {name: web-ext}
    spec:
      selector: {app: web}
      externalIPs: [172.18.254.10]
      ports: [{port: 8081, targetPort: 8080}]
    """)


MODES = {"restore": ("--iptables-backend", "restore"), "python-iptables": ("--iptables-backend", "python-iptables"),
         "nftables": ("--proxy-mode", "nftables")}
_MODE = {}                      # lab name -> its mode


@pytest.fixture(scope="module", params=list(MODES))
def lab(request, tmp_path_factory):
    path = tmp_path_factory.mktemp("explain") / "lab.yaml"
    path.write_text(LAB)
    with lab_up("nlex", "-f", str(path), *MODES[request.param]) as name:
        _MODE[name] = request.param
        # the cluster DNS pods join kube-proxy's rules once their readiness probes pass: wait for that, so
        # the rules explain reads are the ones the traffic meets
        assert until(lambda: all(_dns_endpoints_in_rules(name, node) for node in ("node1", "node2"))), \
            "the cluster DNS pods never reached kube-proxy's rules"
        yield name


def _nft(lab):
    return _MODE[lab] == "nftables"


def _dns_endpoints_in_rules(lab, node):
    text = netlab_cli("rules", node, "--name", lab).stdout
    if _nft(lab):
        return sum(1 for line in text.splitlines() if line.strip().startswith("chain endpoint-")
                   and "-kube-system/kube-dns/udp/dns__" in line) == 2
    return sum(1 for line in text.splitlines() if line.startswith("-A KUBE-SEP-")
               and '"kube-system/kube-dns:dns"' in line and "-j DNAT" in line) == 2


def _pods(lab):
    from netlab.inspect import get_objects
    return {p["metadata"]["name"]: p for p in get_objects(lab, "Pod", "default", [])}


def _service(lab, name):
    from netlab.inspect import get_objects
    return get_objects(lab, "Service", "default", [name])[0]


def _netns(lab, source):
    kind, _, name = source.rpartition("/")
    return f"{lab}-{name}" if kind in ("client", "node") else f"{lab}-default.{name}"


def _send(lab, source, ip, port, count, protocol="TCP", timeout=2.0):
    """What COUNT real requests got: [(endpoint ip:port, source the pod saw) or ("error", message)]."""
    out = []
    for reply in traffic.send(_netns(lab, source), ip, port, protocol, count, timeout=timeout):
        if not reply.ok:
            out.append(("error", reply.error))
            continue
        answer = parse_builtin_reply(reply.text)
        port = answer["server"].rpartition(":")[2] if "server" in answer else answer["port"]   # UDP echo: port
        out.append((f"{answer['pod_ip']}:{port}", answer["client"].rpartition(":")[0]))
    return out


def _predicted(expl):
    """endpoint ip:port -> the source address explain says that endpoint sees."""
    return {c.address: c.seen_source for c in expl.endpoints if c.verdict == "delivered"}


def _check_delivered(lab, source, dest, count=80, **kw):
    """explain's endpoints and sources are exactly what COUNT real requests meet."""
    expl = ex.explain(lab, source, dest, **kw)
    assert expl.verdict == "delivered", ex.format_text(expl)
    req = expl.request
    seen = _send(lab, source, req.dst, req.port, count, protocol=req.protocol.upper())
    assert all(s[0] != "error" for s in seen), seen
    predicted = _predicted(expl)
    assert {s[0] for s in seen} == set(predicted), (seen, predicted)           # every endpoint, and no other
    assert {s for s in seen} == set(predicted.items()), (seen, predicted)        # each with the source explain says
    return expl


def _live_lines(lab, netns):
    """The lines of NETNS's live rules: iptables-save's, and in nftables mode `nft list table ip kube-proxy`'s
    (what `netlab rules NODE` prints)."""
    from netlab.explain import _variant
    from netlab.lab import _loaded_lab
    st, _ = _loaded_lab(lab)
    lines = {line.strip() for line in iptables.save(netns, which=_variant(st)).splitlines()}
    if _nft(lab):
        lines |= {line.strip() for line in nftables.list_table(netns).splitlines()}
    return lines


def test_pod_to_cluster_ip_on_the_same_node_and_across_nodes(lab):
    expl = _check_delivered(lab, "client-a", "svc/web")
    nodes = {c.node for c in expl.endpoints}
    assert nodes == {"node1", "node2"} and not expl.masquerade
    assert all(c.seen_source == _pods(lab)["client-a"]["status"]["podIP"] for c in expl.endpoints)
    assert sorted(c.pod.name for c in expl.endpoints) == sorted(n for n in _pods(lab) if n.startswith("web-"))
    for cand in expl.endpoints:
        crossed = [h.namespace for h in cand.hops if h.kind == "link"]
        if cand.node == "node1":
            assert crossed == [f"{lab}-default.client-a", f"{lab}-node1"]
        else:
            assert crossed == [f"{lab}-default.client-a", f"{lab}-node1", f"{lab}-underlay", f"{lab}-node2"]


def test_every_rule_on_the_path_is_a_line_of_that_namespaces_live_rules(lab):
    expl = ex.explain(lab, "client/client", "node/node1:30080")
    for cand in expl.candidates:
        for netns in {h.namespace for h in cand.hops if h.rule}:
            lines = _live_lines(lab, netns)
            assert all(h.rule in lines for h in cand.hops if h.rule and h.namespace == netns)
    assert {f"{lab}-node1", f"{lab}-node2"} <= set(expl.namespaces)
    tables = {h.table for cand in expl.candidates for h in cand.hops if h.rule}
    assert tables == ({"ip kube-proxy"} if _nft(lab) else {"nat", "filter"})


def test_hairpin_masquerades_a_pod_reaching_itself(lab):
    me = next(n for n, p in _pods(lab).items() if n.startswith("web-") and p["spec"]["nodeName"] == "node1")
    expl = _check_delivered(lab, me, "web", count=100)
    mine = next(c for c in expl.endpoints if c.pod.name == me)
    assert mine.masquerade and mine.seen_source == "10.244.1.1"
    assert not any(c.masquerade for c in expl.endpoints if c is not mine)


def test_node_port_cluster_policy_through_a_node_with_and_without_a_local_endpoint(lab):
    remote = _check_delivered(lab, "client/client", "node/node1:30082", count=10)   # solo runs on node2 only
    (cand,) = remote.endpoints
    assert cand.masquerade and cand.seen_source == "172.18.0.2" and cand.node == "node2"
    local = _check_delivered(lab, "client/client", "node/node2:30082", count=10)
    assert local.endpoints[0].seen_source == "10.244.2.1"
    spread = _check_delivered(lab, "client/client", "172.18.0.2:30080")
    assert {c.seen_source for c in spread.endpoints} == {"172.18.0.2", "10.244.1.1"}


def test_node_port_local_policy_keeps_the_client_ip_and_a_node_without_endpoint_drops(lab):
    served = _check_delivered(lab, "client/client", "node/node2:30081", count=10)
    assert not served.masquerade and served.endpoints[0].seen_source == "172.18.0.100"
    dropped = ex.explain(lab, "client/client", "node/node1:30081")
    assert dropped.verdict == "dropped" and dropped.endpoints == []
    if _nft(lab):
        assert ex.to_json(dropped)["rule"].startswith("ip kube-proxy nodeport-endpoints-check: ")
        assert '@no-endpoint-nodeports element tcp . 30081 "default/solo-local": drop' in dropped.candidates[0].reason
    else:
        assert '"default/solo-local has no local endpoints"' in ex.to_json(dropped)["rule"]
    started = time.monotonic()
    (reply,) = _send(lab, "client/client", "172.18.0.2", 30081, 1, timeout=1.5)
    assert reply[0] == "error" and time.monotonic() - started >= 1.4            # DROP: a timeout


def test_session_affinity_is_pinned_to_the_endpoint_that_answered(lab):
    ip = _service(lab, "sticky")["spec"]["clusterIP"]
    before = ex.to_json(ex.explain(lab, "client-b", "sticky"))
    assert before["affinity"]["pinned"] is None and len(before["endpoints"]) == 4
    assert len(before["affinity"]["rules"]) == 4
    assert before["affinity"]["backend"] == ("nftables" if _nft(lab) else "iptables")
    first = _send(lab, "client-b", ip, 80, 20)
    assert len({s[0] for s in first}) == 1
    after = ex.to_json(ex.explain(lab, "client-b", "sticky"))
    assert after["affinity"]["pinned"] == first[0][0]
    assert [e["address"] for e in after["endpoints"] if e["pinned"]] == [first[0][0]]
    assert len(after["endpoints"]) == 4                      # and what a new client would get
    assert after["affinity"]["list"] in after["affinity"]["pinnedBy"]
    assert {s[0] for s in _send(lab, "client-b", ip, 80, 20)} == {first[0][0]}


def test_no_endpoints_is_rejected_at_once(lab):
    expl = ex.explain(lab, "client-a", "nobody")
    data = ex.to_json(expl)
    assert data["verdict"] == "rejected" and data["endpoints"] == []
    if _nft(lab):
        assert data["rule"] == "ip kube-proxy reject-chain: reject"
        assert '@no-endpoint-services element' in data["reason"] and '"default/nobody"' in data["reason"]
    else:
        assert '"default/nobody has no endpoints"' in data["rule"] and "-j REJECT" in data["rule"]
    started = time.monotonic()
    (reply,) = _send(lab, "client-a", expl.request.dst, 80, 1, timeout=3)
    assert reply[0] == "error" and "refused" in reply[1].lower() and time.monotonic() - started < 1.0


def test_a_target_port_nothing_listens_on_is_delivered_and_refused(lab):
    expl = ex.explain(lab, "client-a", "wrong-port")
    (cand,) = expl.endpoints
    assert cand.address.endswith(":9999") and cand.listening is False
    (reply,) = _send(lab, "client-a", expl.request.dst, 80, 1)
    assert reply[0] == "error" and "refused" in reply[1].lower()


def test_load_balancer_ip_from_the_client_through_the_node_the_kernel_picks(lab):
    lb = _service(lab, "a-web-lb")["status"]["loadBalancer"]["ingress"][0]["ip"]
    expl = _check_delivered(lab, "client/client", lb)
    assert all(c.masquerade for c in expl.endpoints)
    local = _service(lab, "b-solo-lb")["status"]["loadBalancer"]["ingress"][0]["ip"]
    kept = _check_delivered(lab, "client/client", f"{local}:80", count=10)
    assert kept.endpoints[0].seen_source == "172.18.0.100" and not kept.masquerade


def test_load_balancer_source_ranges_serve_inside_and_drop_outside(lab):
    lb = _service(lab, "c-ranged-lb")["status"]["loadBalancer"]["ingress"][0]["ip"]
    _check_delivered(lab, "client/client", lb, count=40)
    for outside in ("client/outsider", "client-a"):
        expl = ex.explain(lab, outside, lb)
        assert expl.verdict == "dropped" and expl.endpoints == []
        if _nft(lab):
            end = expl.candidates[0].end_rule
            # nft lists the one-member set { 172.18.0.100/32 } as a plain address
            assert end.startswith("ip kube-proxy firewall-") and end.endswith("ip saddr != 172.18.0.100 drop")
        else:
            assert "traffic not accepted by KUBE-FW-" in expl.candidates[0].end_rule
        (reply,) = _send(lab, outside, lb, 80, 1, timeout=1.5)
        assert reply[0] == "error"


def test_external_ip(lab):
    expl = _check_delivered(lab, "client/client", "172.18.254.10:8081", count=40)
    assert all(c.address.endswith(":8080") for c in expl.endpoints)


def test_udp_service(lab):
    expl = _check_delivered(lab, "client-b", "dns", count=5)
    assert expl.request.protocol == "udp"
    assert [c.pod.name for c in expl.endpoints] == [n for n in _pods(lab) if n.startswith("dns-")]


def test_pod_ip_and_cluster_ip_from_a_node(lab):
    target = _pods(lab)["client-a"]["status"]["podIP"]
    web = next(p for n, p in _pods(lab).items() if n.startswith("web-") and p["spec"]["nodeName"] == "node2")
    expl = _check_delivered(lab, "client-a", f"{web['status']['podIP']}:8080", count=3)
    assert expl.endpoints[0].seen_source == target and not expl.masquerade
    from_node = _check_delivered(lab, "node/node2", "web")
    assert all(c.masquerade for c in from_node.endpoints)


def test_node_to_the_kubernetes_service_agrees_with_conntrack(lab):
    import subprocess
    expl = ex.explain(lab, "node/node1", "kubernetes")
    (cand,) = expl.endpoints
    assert cand.address == "172.18.0.2:6443" and cand.masquerade
    (reply,) = traffic.send(f"{lab}-node1", expl.request.dst, 443, "TCP", 1)
    assert reply.ok, reply.error
    entries = subprocess.run(["ip", "netns", "exec", f"{lab}-node1", "conntrack", "-L", "-p", "tcp",
                              "--orig-dst", expl.request.dst], capture_output=True, text=True).stdout
    line = next(line for line in entries.splitlines() if "dport=443" in line)
    reply_src, reply_dst = line.split("src=")[2].split()[0], line.split("dst=")[2].split()[0]
    assert f"{reply_src}:6443" == cand.address and reply_dst == cand.seen_source


def test_the_client_cannot_route_to_a_cluster_ip(lab):
    expl = ex.explain(lab, "client/client", "svc/web")
    assert expl.verdict == "dropped" and "no route" in expl.candidates[0].reason
    (reply,) = _send(lab, "client/client", expl.request.dst, 80, 1)
    assert reply[0] == "error" and "unreachable" in reply[1].lower()


def test_text_and_errors(lab):
    text = ex.format_text(ex.explain(lab, "client-a", "svc/web"))
    assert text.splitlines()[0] == "client-a -> svc/web = Service default/web:http (clusterIP)"
    assert "   1. [pod/client-a] note: no iptables rules in this namespace" in text
    for source, dest, words in (("client-a", "svc/missing", 'services "missing" not found'),
                                ("client-a", "two-ports", "has 2 ports"),
                                ("ghost", "web", 'pods "ghost" not found'),
                                ("node/node9", "web", 'node "node9" not found'),
                                ("client-a", "node/node1", "say which port")):
        with pytest.raises(LabError, match=words):
            ex.explain(lab, source, dest)
    assert ex.explain(lab, "client-a", "two-ports:b").request.port == 81
    assert ex.explain(lab, "client-a", "web.default:http").request.port == 80
    # FROM as an address: a client's, a pod's, a node's
    assert ex.explain(lab, "172.18.0.100", "node/node2:30081").request.netns == f"{lab}-client"
    pod_ip = _pods(lab)["client-b"]["status"]["podIP"]
    assert ex.explain(lab, pod_ip, "web").request.netns == f"{lab}-default.client-b"
    assert ex.explain(lab, "172.18.0.3", "web").request.netns == f"{lab}-node2"
    with pytest.raises(LabError, match="has the address 10.9.9.9"):
        ex.explain(lab, "10.9.9.9", "web")
