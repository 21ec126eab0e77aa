"""netlab explain's pure core: a packet walked through rulesets, routes and links given as data.

The lab here is the default two-node layout (DESIGN.md §3) built in memory: each node's rules are
what netlab.proxy renders for the Services and EndpointSlices below (the whole-tables text a
fresh namespace is restored from), plus small literal iptables-save texts for the kernel's order
of tables and hooks. No root, no namespaces.
"""

from __future__ import annotations

import pytest

from netlab import explain as ex
from netlab.proxy import ruleset_for_node

NODES = {"node1": ("172.18.0.2", "10.244.1"), "node2": ("172.18.0.3", "10.244.2")}
CLIENTS = {"client": "172.18.0.100", "outsider": "172.18.0.101"}
UNDERLAY_GW = "172.18.0.1"

PODS = [("web-a", "node1", "10.244.1.3"), ("web-b", "node1", "10.244.1.4"), ("web-c", "node2", "10.244.2.3"),
        ("web-d", "node2", "10.244.2.4"), ("solo", "node2", "10.244.2.5"), ("curl", "node1", "10.244.1.9"),
        ("curl2", "node2", "10.244.2.9")]
WEB = ["web-a", "web-b", "web-c", "web-d"]


def _service(name, spec, status=None):
    doc = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": "default"}, "spec": spec}
    if status:
        doc["status"] = status
    return doc


def _slice(service, pods, port=8080, port_name=None, protocol="TCP"):
    by_name = {p[0]: p for p in PODS}
    return {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice", "addressType": "IPv4",
            "metadata": {"name": f"{service}-x", "namespace": "default",
                         "labels": {"kubernetes.io/service-name": service}},
            "ports": [{"name": port_name, "port": port, "protocol": protocol}],
            "endpoints": [{"addresses": [by_name[p][2]], "conditions": {"ready": True}, "nodeName": by_name[p][1],
                           "targetRef": {"kind": "Pod", "name": p, "namespace": "default"}} for p in pods]}


DOCS = [
    _service("web", {"clusterIP": "10.96.0.50", "ports": [{"name": "http", "port": 80, "targetPort": 8080}]}),
    _slice("web", WEB, port_name="http"),
    _service("web-np", {"type": "NodePort", "clusterIP": "10.96.0.51",
                        "ports": [{"port": 80, "targetPort": 8080, "nodePort": 30080}]}),
    _slice("web-np", ["web-c", "web-d"]),
    _service("solo-local", {"type": "NodePort", "clusterIP": "10.96.0.52", "externalTrafficPolicy": "Local",
                            "ports": [{"port": 80, "targetPort": 80, "nodePort": 30081}]}),
    _slice("solo-local", ["solo"], port=80),
    _service("sticky", {"clusterIP": "10.96.0.53", "sessionAffinity": "ClientIP",
                        "sessionAffinityConfig": {"clientIP": {"timeoutSeconds": 600}},
                        "ports": [{"port": 80, "targetPort": 8080}]}),
    _slice("sticky", WEB),
    _service("nobody", {"clusterIP": "10.96.0.54", "ports": [{"port": 80}]}),
    _service("ranged", {"type": "LoadBalancer", "clusterIP": "10.96.0.55",
                        "loadBalancerSourceRanges": ["172.18.0.100/32"],
                        "ports": [{"port": 80, "targetPort": 8080, "nodePort": 30082}]},
             {"loadBalancer": {"ingress": [{"ip": "172.18.255.200"}]}}),
    _slice("ranged", ["web-a", "web-c"]),
    _service("ext", {"clusterIP": "10.96.0.56", "externalIPs": ["172.18.254.10"],
                     "ports": [{"port": 8081, "targetPort": 8080}]}),
    _slice("ext", ["web-a"]),
    _service("dns", {"clusterIP": "10.96.0.57", "ports": [{"name": "dns", "port": 53, "protocol": "UDP",
                                                             "targetPort": 5353}]}),
    _slice("dns", ["web-b"], port=5353, port_name="dns", protocol="UDP"),
    _service("api", {"clusterIP": "10.96.0.1", "ports": [{"name": "https", "port": 443, "targetPort": 6443}]}),
    {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice", "addressType": "IPv4",
     "metadata": {"name": "api", "namespace": "default", "labels": {"kubernetes.io/service-name": "api"}},
     "ports": [{"name": "https", "port": 6443, "protocol": "TCP"}],
     "endpoints": [{"addresses": ["172.18.0.2"], "conditions": {"ready": True}}]},
]

_RULES = {}


def _node_rules(node):
    if node not in _RULES:
        ip, prefix = NODES[node]
        ruleset, _ = ruleset_for_node(DOCS, node, nfacct=False, node_ips=(ip,), cluster_cidr="10.244.0.0/16",
                                      node_pod_cidrs=(f"{prefix}.0/24",), bridge_interface="cni0",
                                      interface_addresses=("127.0.0.1", ip, f"{prefix}.1"))
        _RULES[node] = ruleset.to_restore_text(include_builtin_jumps=True)
    return _RULES[node]


def _local(ip, dev):
    return ex.Route(dst=ip, type="local", dev=dev, table="local", prefsrc=ip)


LOOPBACK = ex.Route(dst="127.0.0.0/8", type="local", dev="lo", table="local", prefsrc="127.0.0.1")


def _node_ns(node):
    ip, prefix = NODES[node]
    other = [n for n in NODES if n != node]
    routes = [_local(ip, "eth0"), _local(f"{prefix}.1", "cni0"), LOOPBACK,
              ex.Route(dst="0.0.0.0/0", gateway=UNDERLAY_GW, dev="eth0"),
              ex.Route(dst=f"{prefix}.0/24", dev="cni0", prefsrc=f"{prefix}.1"),
              ex.Route(dst="172.18.0.0/16", dev="eth0", prefsrc=ip)]
    routes += [ex.Route(dst=f"{NODES[o][1]}.0/24", gateway=NODES[o][0], dev="eth0") for o in other]
    return ex.Netns(name=f"t-{node}", rules=_node_rules(node), routes=tuple(routes), forwarding=True, bridge_nf=True)


def _pod_ns(name, node, ip, listening=frozenset({("tcp", 8080), ("tcp", 80), ("udp", 5353)})):
    gw = NODES[node][1] + ".1"
    routes = (_local(ip, "eth0"), LOOPBACK, ex.Route(dst="0.0.0.0/0", gateway=gw, dev="eth0"),
              ex.Route(dst="10.244.0.0/16", gateway=gw, dev="eth0"),
              ex.Route(dst=NODES[node][1] + ".0/24", dev="eth0", prefsrc=ip))
    return ex.Netns(name=f"t-default.{name}", routes=routes, listening=listening)


def _client_ns(name, extra=()):
    ip = CLIENTS[name]
    routes = (_local(ip, "eth0"), LOOPBACK, ex.Route(dst="172.18.0.0/16", dev="eth0", prefsrc=ip)) + tuple(extra)
    return ex.Netns(name=f"t-{name}", routes=routes)


LB_ROUTES = (ex.Route(dst="172.18.255.200", nexthops=(("172.18.0.2", "eth0"), ("172.18.0.3", "eth0"))),
             ex.Route(dst="172.18.254.10", gateway="172.18.0.3", dev="eth0"))


def _facts(namespaces=None, route_choices=None):
    spaces = {f"t-{n}": _node_ns(n) for n in NODES}
    spaces.update({f"t-default.{p}": _pod_ns(p, node, ip) for p, node, ip in PODS})
    spaces.update({f"t-{c}": _client_ns(c, LB_ROUTES) for c in CLIENTS})
    spaces["t-underlay"] = ex.Netns(name="t-underlay", routes=(_local(UNDERLAY_GW, "br0"),
                                                                ex.Route(dst="172.18.0.0/16", dev="br0")),
                                    bridge_nf=True)
    spaces.update(namespaces or {})
    labels = {f"t-{n}": f"node/{n}" for n in NODES}
    labels.update({f"t-{c}": f"client/{c}" for c in CLIENTS})
    labels.update({f"t-default.{p}": f"pod/{p}" for p, _, _ in PODS})
    labels["t-underlay"] = "underlay"
    owners = {UNDERLAY_GW: ("t-underlay", "br0")}
    for n, (ip, prefix) in NODES.items():
        owners[ip] = (f"t-{n}", "eth0")
        owners[f"{prefix}.1"] = (f"t-{n}", "cni0")
    owners.update({ip: (f"t-{c}", "eth0") for c, ip in CLIENTS.items()})
    owners.update({ip: (f"t-default.{p}", "eth0") for p, _, ip in PODS})
    bridges = [ex.Bridge("t-underlay", "br0", tuple((f"t-{n}", "eth0", n) for n in list(NODES) + list(CLIENTS)))]
    bridges += [ex.Bridge(f"t-{n}", "cni0", tuple((f"t-default.{p}", "eth0", f"veth-{p}") for p, node, _ in PODS
                                                   if node == n)) for n in NODES]
    pods = {ip: ex.PodRef("default", p, node, f"t-default.{p}", ip) for p, node, ip in PODS}
    return ex.Facts(namespaces=spaces, labels=labels, owners=owners, bridges=tuple(bridges), pods=pods,
                    route_choices=dict(route_choices or {}))


def _explain(src_ns, src_ip, dst, port, protocol="tcp", facts=None):
    request = ex.Request(netns=src_ns, src=src_ip, protocol=protocol, dst=dst, port=port,
                         source_label=src_ns, dest_label=f"{dst}:{port}")
    return ex.explain_packet(facts or _facts(), request)


def _from_pod(pod, dst, port, **kw):
    ip = next(p[2] for p in PODS if p[0] == pod)
    return _explain(f"t-default.{pod}", ip, dst, port, **kw)


def _pods(expl):
    return sorted(c.pod.name for c in expl.endpoints if c.pod)


# -- rule parsing --------------------------------------------------------------------------------

def test_parse_rule_reads_save_and_restore_syntax_alike():
    saved = ex.parse_rule("KUBE-SVC-X", '! -s 10.244.0.0/16 -d 10.96.0.50/32 -p tcp -m comment --comment '
                                       '"default/web:http cluster IP" -m tcp --dport 80 -j KUBE-MARK-MASQ')
    written = ex.parse_rule("KUBE-SVC-X", '-m comment --comment "default/web:http cluster IP" -m tcp -p tcp '
                                         '-d 10.96.0.50 --dport 80 ! -s 10.244.0.0/16 -j KUBE-MARK-MASQ')
    for rule in (saved, written):
        got = {(c.module, c.option, c.values, c.negated) for c in rule.conds}
        assert ("", "-s", ("10.244.0.0/16",), True) in got
        assert ("tcp", "--dport", ("80",), False) in got
        assert rule.comment == "default/web:http cluster IP" and rule.target == "KUBE-MARK-MASQ"
    assert saved.line.startswith("-A KUBE-SVC-X ! -s 10.244.0.0/16")


def test_parse_rule_target_options_negated_matches_and_odd_spacing():
    rule = ex.parse_rule("KUBE-FORWARD", "-m conntrack --ctstate INVALID -m nfacct --nfacct-name  "
                                        "ct_state_invalid_dropped_pkts -j DROP")
    assert [(c.module, c.option, c.values) for c in rule.conds] == [
        ("conntrack", "--ctstate", ("INVALID",)), ("nfacct", "--nfacct-name", ("ct_state_invalid_dropped_pkts",))]
    rule = ex.parse_rule("KUBE-POSTROUTING", "-m mark ! --mark 0x4000/0x4000 -j RETURN")
    assert rule.conds[0].negated and rule.target == "RETURN"
    rule = ex.parse_rule("KUBE-SEP-X", '-p tcp -m comment --comment "a \\"quoted\\" name" -m recent --set --name '
                                      'KUBE-SEP-X --mask 255.255.255.255 --rsource -m tcp -j DNAT --to-destination '
                                      '10.244.1.3:8080')
    assert rule.comment == 'a "quoted" name'
    assert rule.target_opts == {"--to-destination": ("10.244.1.3:8080",)}
    assert {c.option for c in rule.conds if c.module == "recent"} == {"--set", "--name", "--mask", "--rsource"}


def test_routes_from_ip_json_keeps_ipv4_main_and_local_with_multipath():
    routes = ex.routes_from_ip_json([
        {"dst": "default", "gateway": "172.18.0.1", "dev": "eth0", "protocol": "static", "flags": []},
        {"dst": "10.244.1.0/24", "dev": "cni0", "protocol": "kernel", "scope": "link", "prefsrc": "10.244.1.1"},
        {"type": "local", "dst": "10.244.1.1", "dev": "cni0", "table": "local", "prefsrc": "10.244.1.1"},
        {"dst": "172.18.255.200", "protocol": "static",
         "nexthops": [{"gateway": "172.18.0.2", "dev": "eth0"}, {"gateway": "172.18.0.3", "dev": "eth0"}]},
        {"dst": "fe80::/64", "dev": "eth0"}, {"type": "multicast", "dst": "ff00::/8", "dev": "eth0"}])
    assert [r.text() for r in routes] == [
        "default via 172.18.0.1 dev eth0", "10.244.1.0/24 dev cni0 src 10.244.1.1", "local 10.244.1.1 dev cni0",
        "172.18.255.200 nexthop via 172.18.0.2 dev eth0 nexthop via 172.18.0.3 dev eth0"]
    assert ex.lookup_route(routes, "10.244.1.7").dev == "cni0"
    assert ex.lookup_route(routes, "10.244.1.1").type == "local"
    assert ex.lookup_route(routes, "8.8.8.8").gateway == "172.18.0.1"


# -- ClusterIP -----------------------------------------------------------------------------------

def test_pod_to_cluster_ip_lists_four_endpoints_with_kube_proxys_shares():
    expl = _from_pod("curl", "10.96.0.50", 80)
    assert expl.verdict == "delivered"
    assert _pods(expl) == WEB
    assert [round(c.probability, 6) for c in expl.endpoints] == [0.25] * 4
    assert not expl.masquerade
    assert all(c.seen_source == "10.244.1.9" for c in expl.endpoints)       # no NAT of the source
    first = expl.candidates[0].hops
    assert first[0].namespace == "t-default.curl" and first[0].action == "no iptables rules in this namespace"
    assert first[1].kind == "route" and "via 10.244.1.1 dev eth0" in first[1].action
    # the node's PREROUTING comes next: the pod leaves by its veth into cni0
    rule_hops = [h for h in first if h.kind == "rule"]
    assert (rule_hops[0].namespace, rule_hops[0].hook, rule_hops[0].table, rule_hops[0].chain) == \
        ("t-node1", "PREROUTING", "nat", "PREROUTING")
    chosen = [h for h in first if h.kind == "rule" and h.matched and h.chain.startswith("KUBE-SVC-")]
    assert "--probability 0.2500000000" in chosen[0].rule and "taken (probability 0.2500)" in chosen[0].action


def test_each_candidate_path_runs_to_its_pod_local_through_the_bridge_remote_via_the_other_node():
    expl = _from_pod("curl", "10.96.0.50", 80)
    by_pod = {c.pod.name: c for c in expl.endpoints}
    local, remote = by_pod["web-a"], by_pod["web-c"]
    assert [h.namespace for h in local.hops if h.kind == "link"] == ["t-default.curl", "t-node1"]
    assert any("br_netfilter bridges the frame" in h.action for h in local.hops)
    remote_ns = []
    for h in remote.hops:
        if not remote_ns or remote_ns[-1] != h.namespace:
            remote_ns.append(h.namespace)
    assert remote_ns == ["t-default.curl", "t-node1", "t-underlay", "t-node2", "t-default.web-c"]
    assert any(h.kind == "route" and "via 172.18.0.3 dev eth0 (node/node2)" in h.action for h in remote.hops)
    # node2 sees the pod's own address: no masquerade there either
    assert remote.seen_source == "10.244.1.9" and not remote.masquerade
    assert remote.shared > 0 and remote.hops[:remote.shared] == expl.candidates[0].hops[:remote.shared]


def test_not_masqueraded_names_the_rule_that_decided():
    expl = _from_pod("curl", "10.96.0.50", 80)
    reason = expl.endpoints[0].masquerade_reason
    assert reason.startswith("not masqueraded")
    assert '"default/web:http cluster IP" -> KUBE-MARK-MASQ did not match (source 10.244.1.9 is in 10.244.0.0/16)' \
        in reason
    assert "KUBE-POSTROUTING -m mark ! --mark" in reason


def test_hairpin_masquerades_only_the_candidate_that_is_the_sender():
    expl = _from_pod("web-a", "10.96.0.50", 80)
    by_pod = {c.pod.name: c for c in expl.endpoints}
    assert by_pod["web-a"].masquerade and by_pod["web-a"].seen_source == "10.244.1.1"   # cni0's address
    assert not any(by_pod[p].masquerade for p in ("web-b", "web-c", "web-d"))
    assert expl.masquerade
    assert any("the port it came in by (hairpin mode)" in h.action for h in by_pod["web-a"].hops)
    data = ex.to_json(expl)
    assert "for 10.244.1.3:8080: MASQUERADE" in data["masqueradeReason"]


def test_node_to_cluster_ip_is_masqueraded_to_the_outgoing_interface():
    expl = _explain("t-node1", None, "10.96.0.50", 80)
    sources = {c.pod.name: c.seen_source for c in expl.endpoints}
    assert sources == {"web-a": "10.244.1.1", "web-b": "10.244.1.1", "web-c": "172.18.0.2", "web-d": "172.18.0.2"}
    first = expl.candidates[0].hops
    # a node's packet is routed first (the kernel picks the route and source before OUTPUT), then OUTPUT
    assert first[0].kind == "route" and "via 172.18.0.1 dev eth0" in first[0].action
    assert (first[1].hook, first[1].table) == ("OUTPUT", "nat")
    assert any(h.kind == "route" and h.action.startswith("after DNAT, 10.244.1.3 dev cni0") for h in first)
    assert '"default/web:http cluster IP"' in expl.endpoints[0].masquerade_reason      # the rule that marked it


def test_node_to_a_service_on_its_own_address_goes_out_lo_and_back_in():
    expl = _explain("t-node1", None, "10.96.0.1", 443)
    (cand,) = expl.endpoints
    assert (cand.address, cand.node, cand.verdict) == ("172.18.0.2:6443", "node1", "delivered")
    hooks = []
    for h in cand.hops:
        if h.hook and (not hooks or hooks[-1] != (h.hook, h.table)):
            hooks.append((h.hook, h.table))
    # OUTPUT, POSTROUTING, then PREROUTING without nat (the connection's NAT is settled), INPUT
    assert hooks == [("OUTPUT", "nat"), ("OUTPUT", "filter"), ("POSTROUTING", "nat"), ("INPUT", "filter")]
    assert any(h.kind == "link" and h.action.startswith("out lo and back in") for h in cand.hops)
    assert not any(h.hook == "PREROUTING" and h.table == "nat" for h in cand.hops)
    assert cand.masquerade and cand.seen_source == "172.18.0.2"          # the hairpin mark, out of lo
    assert cand.reply[-1].action.endswith("gets the answer from 10.96.0.1:443, the address it connected to")


def test_udp_service_with_a_named_port():
    expl = _from_pod("curl2", "10.96.0.57", 53, protocol="udp")
    assert [(c.address, c.pod.name) for c in expl.endpoints] == [("10.244.1.4:5353", "web-b")]
    assert expl.endpoints[0].listening is True


def test_nothing_listening_is_said():
    facts = _facts({"t-default.web-b": _pod_ns("web-b", "node1", "10.244.1.4", listening=frozenset())})
    expl = _from_pod("curl2", "10.96.0.57", 53, protocol="udp", facts=facts)
    assert expl.verdict == "delivered" and expl.endpoints[0].listening is False
    assert "nothing listens on udp/5353" in expl.endpoints[0].reason


def test_no_endpoints_is_rejected_by_the_rule_that_says_so():
    expl = _from_pod("curl", "10.96.0.54", 80)
    assert expl.verdict == "rejected" and expl.endpoints == []
    cand = expl.candidates[0]
    assert '"default/nobody has no endpoints"' in cand.end_rule and "-j REJECT" in cand.end_rule
    assert cand.reason == 'rejected by filter KUBE-SERVICES in node/node1 ("default/nobody has no endpoints")'
    assert cand.hops[-1].hook == "FORWARD"
    data = ex.to_json(expl)
    assert (data["verdict"], data["endpoints"], data["rule"]) == ("rejected", [], cand.end_rule)


def test_client_has_no_route_to_a_cluster_ip():
    expl = _explain("t-client", "172.18.0.100", "10.96.0.50", 80)
    assert expl.verdict == "dropped"
    assert "no route to 10.96.0.50" in expl.candidates[0].reason and "node/NAME:NODEPORT" in expl.candidates[0].reason


# -- NodePort and externalTrafficPolicy ----------------------------------------------------------

def test_node_port_cluster_policy_via_a_node_without_local_endpoints():
    expl = _explain("t-client", "172.18.0.100", "172.18.0.2", 30080)
    assert expl.verdict == "delivered" and _pods(expl) == ["web-c", "web-d"]
    for cand in expl.endpoints:
        assert cand.masquerade and cand.seen_source == "172.18.0.2"
        assert "masquerade traffic for default/web-np external destinations" in cand.masquerade_reason
    reply = [h.action for h in expl.endpoints[0].reply]
    assert any("un-MASQUERADE: destination 172.18.0.2 -> 172.18.0.100" in a and
               "un-DNAT: source 10.244.2.3:8080 -> 172.18.0.2:30080" in a for a in reply)
    assert reply[-1] == "the client's socket gets the answer from 172.18.0.2:30080, the address it connected to"


def test_node_port_local_policy_keeps_the_client_ip_or_drops():
    served = _explain("t-client", "172.18.0.100", "172.18.0.3", 30081)
    assert served.verdict == "delivered" and _pods(served) == ["solo"]
    assert not served.masquerade and served.endpoints[0].seen_source == "172.18.0.100"
    dropped = _explain("t-client", "172.18.0.100", "172.18.0.2", 30081)
    assert dropped.verdict == "dropped" and dropped.endpoints == []
    assert '"default/solo-local has no local endpoints"' in dropped.candidates[0].end_rule
    assert dropped.candidates[0].hops[-1].hook == "INPUT"


def test_pod_traffic_to_a_local_policy_node_port_short_circuits_to_every_endpoint():
    expl = _from_pod("curl", "172.18.0.2", 30081)
    assert expl.verdict == "delivered" and _pods(expl) == ["solo"]
    assert any('"pod traffic for default/solo-local external destinations"' in (h.rule or "") and h.matched
               for h in expl.candidates[0].hops)


# -- session affinity ----------------------------------------------------------------------------

def test_affinity_names_the_rules_when_the_lists_are_unknown():
    expl = _from_pod("curl", "10.96.0.53", 80)
    assert expl.affinity["pinned"] is None and expl.affinity["timeoutSeconds"] == 600
    assert len(expl.affinity["rules"]) == 4 and all("--rcheck --seconds 600" in r for r in expl.affinity["rules"])
    assert _pods(expl) == WEB
    sets = [h for h in expl.candidates[0].hops if h.kind == "rule" and "DNAT" in h.action]
    assert "records 10.244.1.9 in xt_recent list KUBE-SEP-" in sets[0].action


def _sticky_recent(age):
    text = _node_rules("node1")
    sep = next(line.split("--rcheck", 1)[0] for line in text.splitlines()
               if "--rcheck" in line and "default/sticky -> 10.244.2.3:8080" in line)
    name = sep.rsplit("--name ", 1)[1].split()[0]
    node = _node_ns("node1")
    node.recent = {name: {"10.244.1.9": age}}
    return _facts({"t-node1": node}), name


def test_affinity_pins_a_client_its_list_holds():
    facts, name = _sticky_recent(30.0)
    expl = _from_pod("curl", "10.96.0.53", 80, facts=facts)
    assert expl.affinity["pinned"] == "10.244.2.3:8080" and expl.affinity["list"] == name
    assert expl.candidates[0].pinned and expl.candidates[0].pod.name == "web-c"
    assert _pods(expl) == WEB                    # the shares a new client would get
    assert all(round(c.probability, 6) == 0.25 for c in expl.endpoints)
    data = ex.to_json(expl)
    assert data["affinity"]["pinnedBy"].startswith("-A KUBE-SVC-") and f"--name {name}" in data["affinity"]["pinnedBy"]
    assert "pinned to 10.244.2.3:8080" in ex.format_text(expl)


def test_affinity_entry_older_than_the_timeout_does_not_pin():
    facts, _ = _sticky_recent(900.0)
    expl = _from_pod("curl", "10.96.0.53", 80, facts=facts)
    assert expl.affinity["pinned"] is None and len(expl.endpoints) == 4


# -- LoadBalancer, source ranges, externalIPs ----------------------------------------------------

def test_load_balancer_source_ranges_accept_inside_and_drop_outside():
    inside = _explain("t-client", "172.18.0.100", "172.18.255.200", 80, facts=_facts(
        route_choices={("t-client", "172.18.255.200"): "172.18.0.3"}))
    assert inside.verdict == "delivered" and _pods(inside) == ["web-a", "web-c"]
    route = next(h for h in inside.candidates[0].hops if h.kind == "route")
    assert "ECMP over 172.18.0.2, 172.18.0.3: the kernel's flow hash picks 172.18.0.3" in route.action
    outside = _explain("t-outsider", "172.18.0.101", "172.18.255.200", 80)
    assert outside.verdict == "dropped" and outside.endpoints == []
    cand = outside.candidates[0]
    assert "traffic not accepted by KUBE-FW-" in cand.end_rule and "-j DROP" in cand.end_rule
    assert any(h.kind == "return" and h.chain.startswith("KUBE-FW-") for h in cand.hops)


def test_external_ip():
    expl = _explain("t-client", "172.18.0.100", "172.18.254.10", 8081)
    assert expl.verdict == "delivered" and _pods(expl) == ["web-a"]
    assert expl.endpoints[0].masquerade and expl.endpoints[0].seen_source == "172.18.0.3"


def test_pod_to_pod_on_one_bridge_is_bridged_through_the_nodes_hooks():
    expl = _from_pod("curl", "10.244.1.3", 8080)
    assert expl.verdict == "delivered" and [c.address for c in expl.endpoints] == ["10.244.1.3:8080"]
    hops = expl.candidates[0].hops
    assert any(h.namespace == "t-node1" and h.hook == "FORWARD" for h in hops)
    assert any("br_netfilter runs this namespace's hooks" in h.action for h in hops)
    assert not expl.masquerade


# -- the kernel's order over literal saves ----------------------------------------------------------

LITERAL = """# Generated by iptables-save v1.8.9 (nf_tables)
*raw
:PREROUTING ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
-A PREROUTING -p tcp -m tcp --dport 80 -j TRACE
COMMIT
*mangle
:PREROUTING ACCEPT [0:0]
:FORWARD ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
-A PREROUTING -s 10.244.1.9/32 -j MARK --set-xmark 0x10/0xff
COMMIT
*filter
:INPUT ACCEPT [0:0]
:FORWARD DROP [0:0]
:OUTPUT ACCEPT [0:0]
:ALLOWED - [0:0]
-A FORWARD -m mark --mark 0x10/0xff -j ALLOWED
-A FORWARD -m set --match-set blocked src -j DROP
-A ALLOWED -p tcp -m tcp --dport 443 -j ACCEPT
-A ALLOWED -j RETURN
COMMIT
"""


def test_tables_in_priority_order_marks_and_a_drop_policy():
    node = _node_ns("node1")
    node.rules = LITERAL
    expl = _from_pod("curl", "10.244.2.3", 80, facts=_facts({"t-node1": node}))
    cand = expl.candidates[0]
    order = []
    for h in cand.hops:
        if h.namespace == "t-node1" and h.table and (not order or order[-1] != (h.hook, h.table)):
            order.append((h.hook, h.table))
    assert order == [("PREROUTING", "raw"), ("PREROUTING", "mangle"), ("FORWARD", "mangle"), ("FORWARD", "filter")]
    mark = next(h for h in cand.hops if h.rule and "--set-xmark" in h.rule)
    assert mark.action == "MARK 0x0 -> 0x10"
    assert cand.verdict == "dropped" and cand.reason == "dropped by the policy of filter FORWARD in node/node1"
    assert any("-m set --match-set" in w for w in expl.warnings)      # ipset: cannot be evaluated here


def test_to_json_has_the_documented_shape():
    data = ex.to_json(_from_pod("curl", "10.96.0.50", 80))
    assert {"verdict", "endpoints", "masquerade", "masqueradeReason", "hops", "returnPath", "affinity",
            "source", "destination", "warnings"} <= set(data)
    assert data["verdict"] == "delivered" and data["masquerade"] is False
    for endpoint in data["endpoints"]:
        assert {"address", "pod", "probability", "hops", "masquerade", "masqueradeReason"} <= set(endpoint)
    assert [e["address"] for e in data["endpoints"]] == ["10.244.1.3:8080", "10.244.1.4:8080", "10.244.2.3:8080",
                                                         "10.244.2.4:8080"]
    assert abs(sum(e["probability"] for e in data["endpoints"]) - 1.0) < 1e-6
    for i, hop in enumerate(data["hops"], 1):
        assert {"namespace", "table", "chain", "rule", "action"} <= set(hop) and hop["step"] == i
    rules = [h["rule"] for h in data["hops"] if h["rule"]]
    assert all(r.startswith("-A ") for r in rules)
    assert data["hops"] == data["endpoints"][0]["hops"]


def test_format_text_numbers_the_hops_and_folds_long_runs():
    text = ex.format_text(_explain("t-client", "172.18.0.100", "172.18.0.2", 30080))
    lines = text.splitlines()
    assert lines[1].startswith("  packet: tcp 172.18.0.100 -> 172.18.0.2:30080")
    assert lines[2].startswith("verdict: delivered")
    assert any(line.startswith("   1. [client/client] note: no iptables rules") for line in lines)
    assert any("more rules of KUBE-SERVICES do not match" in line for line in lines)
    assert "return path (conntrack):" in text
    assert "path to 10.244.2.4:8080 (50.0%): as above to step" in text
    verbose = ex.format_text(_explain("t-client", "172.18.0.100", "172.18.0.2", 30080), verbose=True)
    assert "more rules of KUBE-SERVICES do not match" not in verbose and len(verbose) > len(text)


@pytest.mark.parametrize("probabilities, shares", [
    (["0.33333333349", "0.50000000000"], [1 / 3, 1 / 3, 1 / 3]),
    (["0.25000000000", "0.33333333349", "0.50000000000"], [0.25] * 4),
])
def test_statistic_chains_give_each_endpoint_its_share(probabilities, shares):
    lines = ["*nat", ":PREROUTING ACCEPT [0:0]", ":SVC - [0:0]"] + [f":SEP{i} - [0:0]" for i in range(len(shares))]
    lines.append("-A PREROUTING -d 10.96.9.9/32 -p tcp -m tcp --dport 80 -j SVC")
    for i, p in enumerate(probabilities):
        lines.append(f"-A SVC -m statistic --mode random --probability {p} -j SEP{i}")
    lines.append(f"-A SVC -j SEP{len(shares) - 1}")
    for i in range(len(shares)):
        lines.append(f"-A SEP{i} -p tcp -m tcp -j DNAT --to-destination 10.244.2.{3 + i % 2}:{8000 + i}")
    lines.append("COMMIT")
    node = _node_ns("node1")
    node.rules = "\n".join(lines) + "\n"
    expl = _from_pod("curl", "10.96.9.9", 80, facts=_facts({"t-node1": node}))
    assert [round(c.probability, 6) for c in expl.endpoints] == [round(s, 6) for s in shares]
    assert [c.address for c in expl.endpoints] == [f"10.244.2.{3 + i % 2}:{8000 + i}" for i in range(len(shares))]


# -- IPv6: the same lab's second family (spec.ipFamilies: [IPv4, IPv6]) ---------------------------
#
# Every node, pod and client has the IPv6 twin of its address (DESIGN.md §3, cluster/topology.py):
# node K is ::K+1 of the IPv6 underlay and has pod range fd00:10:244:K::/64, a pod's address keeps its
# last IPv4 octet. Each node's rules are the IPv6 proxier's (ip6tables-restore text); routes are the
# IPv6 ones `ip -6 route` shows, link-local addresses and all.

UNDERLAY6 = "fc00:f853:ccd:e793"
NODES6 = {"node1": (f"{UNDERLAY6}::2", "fd00:10:244:1"), "node2": (f"{UNDERLAY6}::3", "fd00:10:244:2")}
CLIENTS6 = {"client": f"{UNDERLAY6}::64", "outsider": f"{UNDERLAY6}::65"}
UNDERLAY_GW6 = f"{UNDERLAY6}::1"
PODS6 = [(name, node, f"{NODES6[node][1]}::{ip.rsplit('.', 1)[1]}") for name, node, ip in PODS]


def _service6(name, spec):
    doc = _service(name, dict(spec, ipFamilies=["IPv6"], ipFamilyPolicy="SingleStack"))
    doc["spec"]["clusterIPs"] = [spec["clusterIP"]]
    return doc


def _slice6(service, pods, port=8080, port_name=None):
    by_name = {p[0]: p for p in PODS6}
    doc = _slice(service, [], port=port, port_name=port_name)
    doc["addressType"] = "IPv6"
    doc["endpoints"] = [{"addresses": [by_name[p][2]], "conditions": {"ready": True}, "nodeName": by_name[p][1],
                         "targetRef": {"kind": "Pod", "name": p, "namespace": "default"}} for p in pods]
    return doc


DOCS6 = [
    _service6("web", {"clusterIP": "fd00:10:96::50", "ports": [{"name": "http", "port": 80, "targetPort": 8080}]}),
    _slice6("web", WEB, port_name="http"),
    _service6("web-np", {"type": "NodePort", "clusterIP": "fd00:10:96::51",
                         "ports": [{"port": 80, "targetPort": 8080, "nodePort": 30080}]}),
    _slice6("web-np", ["web-c", "web-d"]),
    _service6("solo-local", {"type": "NodePort", "clusterIP": "fd00:10:96::52", "externalTrafficPolicy": "Local",
                             "ports": [{"port": 80, "targetPort": 80, "nodePort": 30081}]}),
    _slice6("solo-local", ["solo"], port=80),
    _service6("nobody", {"clusterIP": "fd00:10:96::54", "ports": [{"port": 80}]}),
    _service6("sticky", {"clusterIP": "fd00:10:96::53", "sessionAffinity": "ClientIP",
                         "sessionAffinityConfig": {"clientIP": {"timeoutSeconds": 600}},
                         "ports": [{"port": 80, "targetPort": 8080}]}),
    _slice6("sticky", WEB),
]

_RULES6 = {}


def _node_rules6(node):
    if node not in _RULES6:
        ip, prefix = NODES6[node]
        ruleset, _ = ruleset_for_node(DOCS6, node, family="IPv6", nfacct=False, node_ips=(ip,),
                                      cluster_cidr="fd00:10:244::/56", node_pod_cidrs=(f"{prefix}::/64",),
                                      bridge_interface="cni0", interface_addresses=("::1", ip, f"{prefix}::1"))
        _RULES6[node] = ruleset.to_restore_text(include_builtin_jumps=True)
    return _RULES6[node]


LOOPBACK6 = ex.Route(dst="::1", type="local", dev="lo", table="local")


def _link_local(dev, n):
    """A link-local address listed first: an address the kernel never takes as a global packet's source."""
    return ex.Route(dst=f"fe80::{n}", type="local", dev=dev, table="local")


def _node_ns6(node):
    ip, prefix = NODES6[node]
    other = [n for n in NODES6 if n != node]
    routes = [_link_local("eth0", 1), _link_local("cni0", 2), ex.Route(dst=ip, type="local", dev="eth0", table="local"),
              ex.Route(dst=f"{prefix}::1", type="local", dev="cni0", table="local"), LOOPBACK6,
              ex.Route(dst="::/0", gateway=UNDERLAY_GW6, dev="eth0"), ex.Route(dst=f"{prefix}::/64", dev="cni0"),
              ex.Route(dst=f"{UNDERLAY6}::/64", dev="eth0")]
    routes += [ex.Route(dst=f"{NODES6[o][1]}::/64", gateway=NODES6[o][0], dev="eth0") for o in other]
    return ex.Netns(name=f"t-{node}", rules=_node_rules6(node), routes=tuple(routes), forwarding=True,
                    bridge_nf=True)


def _pod_ns6(name, node, ip, listening=frozenset({("tcp", 8080), ("tcp", 80)})):
    prefix = NODES6[node][1]
    routes = (_link_local("eth0", 9), ex.Route(dst=ip, type="local", dev="eth0", table="local"), LOOPBACK6,
              ex.Route(dst="::/0", gateway=f"{prefix}::1", dev="eth0"),
              ex.Route(dst="fd00:10:244::/56", gateway=f"{prefix}::1", dev="eth0"),
              ex.Route(dst=f"{prefix}::/64", dev="eth0"))
    return ex.Netns(name=f"t-default.{name}", routes=routes, listening=listening)


def _facts6(namespaces=None):
    """The lab's namespaces (and labels) in their IPv6 half: IPv6 rules and routes, IPv6 owners and pods."""
    spaces = {f"t-{n}": _node_ns6(n) for n in NODES6}
    spaces.update({f"t-default.{p}": _pod_ns6(p, node, ip) for p, node, ip in PODS6})
    spaces.update({f"t-{c}": ex.Netns(name=f"t-{c}", routes=(
        _link_local("eth0", 7), ex.Route(dst=ip, type="local", dev="eth0", table="local"), LOOPBACK6,
        ex.Route(dst=f"{UNDERLAY6}::/64", dev="eth0"))) for c, ip in CLIENTS6.items()})
    spaces["t-underlay"] = ex.Netns(name="t-underlay", bridge_nf=True, routes=(
        ex.Route(dst=UNDERLAY_GW6, type="local", dev="br0", table="local"),
        ex.Route(dst=f"{UNDERLAY6}::/64", dev="br0")))
    spaces.update(namespaces or {})
    facts = _facts(spaces)
    facts.owners = {UNDERLAY_GW6: ("t-underlay", "br0")}
    for n, (ip, prefix) in NODES6.items():
        facts.owners[ip] = (f"t-{n}", "eth0")
        facts.owners[f"{prefix}::1"] = (f"t-{n}", "cni0")
    facts.owners.update({ip: (f"t-{c}", "eth0") for c, ip in CLIENTS6.items()})
    facts.owners.update({ip: (f"t-default.{p}", "eth0") for p, _, ip in PODS6})
    facts.pods = {ip: ex.PodRef("default", p, node, f"t-default.{p}", ip) for p, node, ip in PODS6}
    return facts


def _explain6(src_ns, src_ip, dst, port, facts=None):
    request = ex.Request(netns=src_ns, src=src_ip, protocol="tcp", dst=dst, port=port, source_label=src_ns,
                         dest_label=ex.host_port(dst, port))
    return ex.explain_packet(facts or _facts6(), request)


def _from_pod6(pod, dst, port, **kw):
    ip = next(p[2] for p in PODS6 if p[0] == pod)
    return _explain6(f"t-default.{pod}", ip, dst, port, **kw)


def test_family_follows_the_destination_and_addresses_with_a_port_are_bracketed():
    assert ex.family_of("fd00:10:96::50") is ex.IPV6 and ex.family_of("10.96.0.50") is ex.IPV4
    assert (ex.host_port("fd00:10:96::50", 80), ex.host_port("10.96.0.50", 80)) == ("[fd00:10:96::50]:80",
                                                                                  "10.96.0.50:80")
    assert ex._split_hostport("[fd00:10:244:2::3]:8080") == ("fd00:10:244:2::3", 8080)
    assert ex._split_hostport("[fd00::1]-[fd00::2]:1000-2000") == ("fd00::1", 1000)
    assert ex._split_hostport("fd00::1") == ("fd00::1", None)
    assert ex._split_hostport("10.244.1.3:8080") == ("10.244.1.3", 8080)


def test_routes_from_ip_json_keeps_the_families_own_routes():
    entries = [{"dst": "fd00:10:244:1::/64", "dev": "eth0", "metric": 256},
               {"dst": "default", "gateway": "fd00:10:244:1::1", "dev": "eth0", "metric": 1024},
               {"type": "local", "dst": "fd00:10:244:1::3", "dev": "eth0", "table": "local"},
               {"type": "anycast", "dst": "fd00:10:244:1::", "dev": "eth0", "table": "local"},
               {"type": "multicast", "dst": "ff00::/8", "dev": "eth0", "table": "local"},
               {"dst": "10.244.1.0/24", "dev": "eth0"}]
    routes = ex.routes_from_ip_json(entries, ex.IPV6)
    assert [r.text() for r in routes] == ["fd00:10:244:1::/64 dev eth0", "default via fd00:10:244:1::1 dev eth0",
                                          "local fd00:10:244:1::3 dev eth0"]
    assert ex.lookup_route(routes, "fd00:10:96::50").gateway == "fd00:10:244:1::1"
    assert [r.dst for r in ex.routes_from_ip_json(entries)] == ["0.0.0.0/0", "10.244.1.0/24"]


def test_ipv6_pod_to_cluster_ip_walks_the_ip6tables_rules_to_every_endpoint():
    expl = _from_pod6("curl", "fd00:10:96::50", 80)
    assert expl.request.family is ex.IPV6 and expl.verdict == "delivered"
    assert _pods(expl) == WEB
    assert [c.address for c in expl.endpoints] == [f"[{ip}]:8080" for p, _, ip in PODS6 if p in WEB]
    assert [round(c.probability, 6) for c in expl.endpoints] == [0.25] * 4
    assert not expl.masquerade and all(c.seen_source == "fd00:10:244:1::9" for c in expl.endpoints)
    first = expl.candidates[0].hops
    assert first[0].action == "no ip6tables rules in this namespace"
    assert first[1].kind == "route" and "via fd00:10:244:1::1 dev eth0 (node/node1)" in first[1].action
    dnat = next(h for h in first if h.matched and h.action.startswith("DNAT"))
    assert "-j DNAT --to-destination [fd00:10:244:1::3]:8080" in dnat.rule
    assert dnat.action == "DNAT [fd00:10:96::50]:80 -> [fd00:10:244:1::3]:8080"
    remote = next(c for c in expl.endpoints if c.pod.name == "web-c")
    assert any(h.kind == "route" and f"via {NODES6['node2'][0]} dev eth0 (node/node2)" in h.action
               for h in remote.hops)
    assert remote.reply[-1].action == ("the client's socket gets the answer from [fd00:10:96::50]:80, the address "
                                       "it connected to")


def test_ipv6_pod_to_pod_across_nodes_is_not_translated():
    expl = _from_pod6("curl", "fd00:10:244:2::3", 8080)
    (cand,) = expl.endpoints
    assert (cand.address, cand.pod.name, cand.verdict) == ("[fd00:10:244:2::3]:8080", "web-c", "delivered")
    assert cand.nats == [] and cand.seen_source == "fd00:10:244:1::9"
    crossed = []
    for h in cand.hops:
        if not crossed or crossed[-1] != h.namespace:
            crossed.append(h.namespace)
    assert crossed == ["t-default.curl", "t-node1", "t-underlay", "t-node2", "t-default.web-c"]


def test_ipv6_node_port_from_a_client_is_masqueraded_to_the_nodes_ipv6_address():
    expl = _explain6("t-client", CLIENTS6["client"], NODES6["node1"][0], 30080)
    assert expl.verdict == "delivered" and _pods(expl) == ["web-c", "web-d"]
    for cand in expl.endpoints:
        assert cand.masquerade and cand.seen_source == NODES6["node1"][0]
        assert "masquerade traffic for default/web-np external destinations" in cand.masquerade_reason
    reply = [h.action for h in expl.endpoints[0].reply]
    assert any(f"un-MASQUERADE: destination {NODES6['node1'][0]} -> {CLIENTS6['client']}" in a and
               f"un-DNAT: source [fd00:10:244:2::3]:8080 -> [{NODES6['node1'][0]}]:30080" in a for a in reply)


def test_ipv6_source_and_masquerade_addresses_are_never_link_local():
    expl = _explain6("t-node1", None, "fd00:10:96::50", 80)
    assert expl.src == NODES6["node1"][0]            # eth0's global address, not fe80::1 listed before it
    sources = {c.pod.name: c.seen_source for c in expl.endpoints}
    assert sources == {"web-a": "fd00:10:244:1::1", "web-b": "fd00:10:244:1::1", "web-c": NODES6["node1"][0],
                       "web-d": NODES6["node1"][0]}


def test_ipv6_no_endpoints_is_rejected_with_icmpv6_and_local_policy_drops():
    rejected = _from_pod6("curl", "fd00:10:96::54", 80)
    cand = rejected.candidates[0]
    assert rejected.verdict == "rejected" and '"default/nobody has no endpoints"' in cand.end_rule
    assert any(h.matched and h.action == "REJECT with icmp6-port-unreachable" for h in cand.hops)
    dropped = _explain6("t-client", CLIENTS6["client"], NODES6["node1"][0], 30081)
    assert dropped.verdict == "dropped" and '"default/solo-local has no local endpoints"' in \
        dropped.candidates[0].end_rule
    served = _explain6("t-client", CLIENTS6["client"], NODES6["node2"][0], 30081)
    assert not served.masquerade and served.endpoints[0].seen_source == CLIENTS6["client"]


def test_ipv6_a_node_without_ipv6_forwarding_drops_and_says_which_sysctl():
    node = _node_ns6("node1")
    node.forwarding = False
    expl = _from_pod6("curl", "fd00:10:96::50", 80, facts=_facts6({"t-node1": node}))
    remote = next(c for c in expl.candidates if c.address == "[fd00:10:244:2::3]:8080")
    assert remote.verdict == "dropped"
    assert remote.reason == "node/node1 does not forward (net.ipv6.conf.all.forwarding=0)"


def test_ipv6_json_names_the_family_and_keeps_its_fields():
    data = ex.to_json(_from_pod6("curl", "fd00:10:96::50", 80))
    assert data["family"] == "IPv6"
    assert (data["source"]["ip"], data["destination"]["ip"]) == ("fd00:10:244:1::9", "fd00:10:96::50")
    assert data["endpoints"][0]["address"] == "[fd00:10:244:1::3]:8080"
    assert data["endpoints"][0]["nat"][0]["from"] == "[fd00:10:96::50]:80"
    assert ex.to_json(_from_pod("curl", "10.96.0.50", 80))["family"] == "IPv4"
    text = ex.format_text(_from_pod6("curl", "fd00:10:96::50", 80))
    assert text.splitlines()[1].startswith("  packet: tcp fd00:10:244:1::9 -> [fd00:10:96::50]:80, the first of")


# -- FROM and DEST over IPv6: names, addresses, -6 -----------------------------------------------

def _dual_stack_lab(dual_stack=True):
    """(state, topology) of a running two-node lab as resolve_source/resolve_destination read them."""
    import ipaddress
    from types import SimpleNamespace
    from netlab.cluster.topology import Client, Node, Topology
    nodes = tuple(Node(name=n, index=k, ip=ip, pod_cidr=ipaddress.ip_network(f"{prefix}.0/24"), netns=f"lab-{n}",
                       ip6=NODES6[n][0] if dual_stack else None,
                       pod_cidr6=ipaddress.ip_network(f"{NODES6[n][1]}::/64") if dual_stack else None)
                  for k, (n, (ip, prefix)) in enumerate(NODES.items(), start=1))
    topology = Topology(lab="lab", underlay=ipaddress.ip_network("172.18.0.0/16"), underlay_gateway=UNDERLAY_GW,
                        cluster_cidr=ipaddress.ip_network("10.244.0.0/16"),
                        service_cidr=ipaddress.ip_network("10.96.0.0/12"), node_port_range=(30000, 32767),
                        nodes=nodes, clients=(Client("client", CLIENTS["client"], "lab-client",
                                                     CLIENTS6["client"] if dual_stack else None),),
                        ip_families=("IPv4", "IPv6") if dual_stack else ("IPv4",))
    web = _service("web", {"type": "NodePort", "clusterIP": "10.96.0.50", "ipFamilies": ["IPv4", "IPv6"],
                           "clusterIPs": ["10.96.0.50", "fd00:10:96::50"], "ports": [{"port": 80, "nodePort": 30080}]})
    v4 = _service("web-v4", {"clusterIP": "10.96.0.60", "clusterIPs": ["10.96.0.60"], "ipFamilies": ["IPv4"],
                             "ports": [{"port": 80}]})
    pods = {f"default/{p}": {"namespace": "default", "name": p, "node": node, "ip": ip,
                             "ip6": next(i for q, _, i in PODS6 if q == p) if dual_stack else None}
            for p, node, ip in PODS}
    st = SimpleNamespace(allocations={"view": {"services": [web, v4], "slices": []}}, pods=pods)
    return st, topology


def test_dest_names_stand_for_their_ipv6_addresses_with_ipv6():
    st, topology = _dual_stack_lab()
    assert ex.resolve_destination(st, topology, "svc/web", "default", None)["ip"] == "10.96.0.50"    # primary
    got = ex.resolve_destination(st, topology, "svc/web", "default", None, ipv6=True)
    assert (got["ip"], got["port"], got["service"]["via"]) == ("fd00:10:96::50", 80, "clusterIP")
    assert ex.resolve_destination(st, topology, "node/node2:30080", "default", None, ipv6=True)["service"]["via"] \
        == "nodePort"
    assert ex.resolve_destination(st, topology, "pod/web-c:8080", "default", None, ipv6=True)["ip"] == \
        "fd00:10:244:2::3"
    for text in ("[fd00:10:96::50]:80", "fd00:10:96::50", "[fd00:10:96::50]"):
        got = ex.resolve_destination(st, topology, text, "default", None)
        assert (got["ip"], got["port"], got["service"]["name"]) == ("fd00:10:96::50", 80, "web"), text
    from netlab.lab import LabError
    with pytest.raises(LabError, match='service "default/web-v4" has no IPv6 cluster IP'):
        ex.resolve_destination(st, topology, "web-v4", "default", None, ipv6=True)


def test_source_takes_the_family_of_the_packet():
    st, topology = _dual_stack_lab()
    assert ex.resolve_source("lab", st, topology, "curl", "default", ex.IPV6)[1] == "fd00:10:244:1::9"
    assert ex.resolve_source("lab", st, topology, "client/client", "default", ex.IPV6)[1] == CLIENTS6["client"]
    assert ex.resolve_source("lab", st, topology, NODES6["node2"][0], "default", ex.IPV6)[0] == "lab-node2"
    from netlab.lab import LabError
    with pytest.raises(LabError, match="FROM 10.244.1.9 is an IPv4 address and the destination an IPv6 one"):
        ex.resolve_source("lab", st, topology, "10.244.1.9", "default", ex.IPV6)


def test_ipv6_is_refused_on_a_single_stack_lab():
    from netlab.lab import LabError
    _, single = _dual_stack_lab(dual_stack=False)
    for source, dest, ipv6 in (("curl", "svc/web", True), ("curl", "[fd00:10:96::50]:80", False),
                               ("fd00:10:244:1::9", "web", False)):
        with pytest.raises(LabError, match="is IPv4 only"):
            ex._family_wanted("lab", single, source, dest, ipv6)
    _, dual = _dual_stack_lab()
    assert ex._family_wanted("lab", dual, "fd00:10:244:1::9", "web", False) is True
    assert ex._family_wanted("lab", dual, "curl", "web", False) is False
