"""`netlab graph`'s pure half: the model from hand-made objects, the DOT text, the trace overlay, the page."""

import ipaddress
import shutil
import subprocess
import xml.etree.ElementTree as ET

import pytest

from netlab import graph, names
from netlab.cluster.topology import Client, Node, Topology

LAB = "gt"
needs_dot = pytest.mark.skipif(shutil.which("dot") is None, reason="needs Graphviz's dot")


def topology() -> Topology:
    nodes = tuple(Node(name=f"node{k}", index=k, ip=f"172.18.0.{k + 1}",
                       pod_cidr=ipaddress.ip_network(f"10.244.{k}.0/24"), netns=names.node_netns(LAB, f"node{k}"))
                  for k in (1, 2))
    return Topology(lab=LAB, underlay=ipaddress.ip_network("172.18.0.0/16"), underlay_gateway="172.18.0.1",
                    cluster_cidr=ipaddress.ip_network("10.244.0.0/16"),
                    service_cidr=ipaddress.ip_network("10.96.0.0/12"), node_port_range=(30000, 32767), nodes=nodes,
                    clients=(Client("client", "172.18.0.100", names.client_netns(LAB, "client")),),
                    load_balancer_pool=("172.18.255.200", "172.18.255.250"))


def pod(name, node, ip, namespace="default", containers=None, uid=None):
    meta = {"name": name, "namespace": namespace, "uid": uid or f"uid-{name}", "annotations": {}}
    if node:
        meta["annotations"]["netlab.io/netns"] = names.pod_netns(LAB, namespace, name)
    spec = {"containers": containers or [{"name": "web", "image": "nginx",
                                          "ports": [{"name": "http", "containerPort": 8080}]}]}
    if node:
        spec["nodeName"] = node
    status = {"phase": "Running" if node else "Pending"}
    if ip:
        status["podIP"] = ip
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": spec, "status": status}


def service(name, ports, namespace="default", type_="ClusterIP", cluster_ip="10.96.0.50", selector=True, **spec):
    body = {"type": type_, "clusterIP": cluster_ip, "ports": ports, **spec}
    if selector:
        body["selector"] = {"app": name}
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": namespace},
            "spec": body}


def endpoint_slice(service_name, endpoints, ports, namespace="default"):
    """endpoints: (ip, pod name or None, ready)."""
    return {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
            "metadata": {"name": f"{service_name}-abcde", "namespace": namespace,
                         "labels": {"kubernetes.io/service-name": service_name}},
            "endpoints": [dict({"addresses": [ip], "conditions": {"ready": ready}},
                               **({"targetRef": {"kind": "Pod", "namespace": namespace, "name": ref}} if ref else {}))
                          for ip, ref, ready in endpoints],
            "ports": ports}


PODS = [
    pod("web-a", "node1", "10.244.1.3", containers=[
        {"name": "nginx", "image": "nginx", "ports": [{"name": "http", "containerPort": 8080}]},
        {"name": "helper", "image": "busybox", "command": ["tail", "-f", "/dev/null"]}]),
    pod("web-b", "node2", "10.244.2.3"),
    pod("coredns-x", "node1", "10.244.1.2", namespace="kube-system", containers=[
        {"name": "coredns", "image": "coredns", "ports": [{"name": "dns", "containerPort": 53, "protocol": "UDP"},
                                                           {"name": "dns-tcp", "containerPort": 53}]}]),
    pod("waiting", None, None),
]
SERVICES = [
    service("kubernetes", [{"name": "https", "port": 443, "targetPort": 6443}], cluster_ip="10.96.0.1", selector=False),
    service("web", [{"name": "http", "port": 80, "targetPort": "http"}], cluster_ip="10.96.0.80"),
    service("web-np", [{"port": 80, "targetPort": 8080, "nodePort": 30080}], type_="NodePort",
            cluster_ip="10.96.0.81", externalTrafficPolicy="Local"),
    dict(service("web-lb", [{"port": 80, "targetPort": 8080, "nodePort": 31000}], type_="LoadBalancer",
                 cluster_ip="10.96.0.82", externalIPs=["192.0.2.7"]),
         status={"loadBalancer": {"ingress": [{"ip": "172.18.255.200"}]}}),
    service("nobody", [{"port": 80}], cluster_ip="10.96.0.83"),
    service("outside", [], type_="ExternalName", cluster_ip=None, selector=False, externalName="example.com"),
    service("ext", [{"port": 9000}], cluster_ip="10.96.0.84", selector=False),
    service("kube-dns", [{"name": "dns", "port": 53, "protocol": "UDP", "targetPort": 53},
                         {"name": "dns-tcp", "port": 53, "protocol": "TCP", "targetPort": 53}],
            namespace="kube-system", cluster_ip="10.96.0.10"),
]
SLICES = [
    endpoint_slice("kubernetes", [("172.18.0.2", None, True)], [{"name": "https", "port": 6443, "protocol": "TCP"}]),
    endpoint_slice("web", [("10.244.1.3", "web-a", True), ("10.244.2.3", "web-b", False)],
                   [{"name": "http", "port": 8080, "protocol": "TCP"}]),
    endpoint_slice("web-np", [("10.244.1.3", "web-a", True), ("10.244.2.3", "web-b", True)],
                   [{"name": "", "port": 8080, "protocol": "TCP"}]),
    endpoint_slice("web-lb", [("10.244.1.3", "web-a", True)], [{"name": "", "port": 8080, "protocol": "TCP"}]),
    endpoint_slice("ext", [("198.51.100.9", None, True)], [{"name": "", "port": 9000, "protocol": "TCP"}]),
    endpoint_slice("kube-dns", [("10.244.1.2", "coredns-x", True)],
                   [{"name": "dns", "port": 53, "protocol": "UDP"}, {"name": "dns-tcp", "port": 53, "protocol": "TCP"}],
                   namespace="kube-system"),
]
ROUTES = {
    "node1": [{"dst": "default", "gateway": "172.18.0.1", "dev": "eth0"},
              {"dst": "10.244.1.0/24", "dev": "cni0", "scope": "link"},
              {"dst": "10.244.2.0/24", "gateway": "172.18.0.3", "dev": "eth0"}],
    "node2": [{"dst": "10.244.1.0/24", "gateway": "172.18.0.2", "dev": "eth0"}],
}


@pytest.fixture
def model():
    return graph.lab_model(topology(), PODS, SERVICES, SLICES, ROUTES)


def by_name(items, name):
    return next(item for item in items if item.name == name)


# -- the model ------------------------------------------------------------------------------------

def test_nodes_carry_their_addresses_cni0_and_routes_to_the_other_nodes(model):
    node1 = by_name(model.nodes, "node1")
    assert (node1.ip, node1.cni0, node1.pod_cidr, node1.netns) == ("172.18.0.2", "10.244.1.1", "10.244.1.0/24",
                                                                   "gt-node1")
    assert [r.text() for r in node1.routes] == ["default via 172.18.0.1 dev eth0", "10.244.1.0/24 dev cni0",
                                                "10.244.2.0/24 via 172.18.0.3 dev eth0 (node2)"]
    assert [r.via_node for r in by_name(model.nodes, "node2").routes] == ["node1"]


def test_a_node_whose_routes_were_not_read_has_none():
    model = graph.lab_model(topology(), [], [], [], None)
    assert all(node.routes == () for node in model.nodes)


def test_pods_carry_ip_node_containers_and_their_host_side_veth(model):
    web = by_name(model.pods, "web-a")
    assert (web.ip, web.node, web.netns, web.phase) == ("10.244.1.3", "node1", "gt-default.web-a", "Running")
    assert [(c.name, c.ports) for c in web.containers] == [("nginx", ("8080 (http)",)), ("helper", ())]
    assert web.veth == names.pod_host_veth("default", "web-a", "uid-web-a")
    dns = by_name(model.pods, "coredns-x")
    assert dns.namespace == "kube-system" and dns.containers[0].ports == ("53/UDP (dns)", "53 (dns-tcp)")
    waiting = by_name(model.pods, "waiting")
    assert (waiting.node, waiting.veth, waiting.phase) == (None, None, "Pending")


def test_services_point_at_their_endpoints_with_port_to_target_port(model):
    web = by_name(model.services, "web")
    assert [(e.target, e.ready, e.ports) for e in web.endpoints] == [
        ("pod_default_web-a", True, ("80 → 8080",)), ("pod_default_web-b", False, ("80 → 8080",))]
    assert web.ports[0].text() == "80 → http (http)"     # the Service says the name, the slice the number
    dns = by_name(model.services, "kube-dns")
    assert dns.endpoints[0].target == "pod_kube-system_coredns-x"
    assert dns.endpoints[0].ports == ("53/UDP → 53", "53 → 53")


def test_node_ports_lb_ips_external_ips_and_policies_are_kept(model):
    np_ = by_name(model.services, "web-np")
    assert np_.type == "NodePort" and np_.ports[0].node_port == 30080
    assert np_.notes == ("externalTrafficPolicy Local",)
    lb = by_name(model.services, "web-lb")
    assert lb.lb_ips == ("172.18.255.200",) and lb.external_ips == ("192.0.2.7",)


def test_an_endpoint_on_a_node_or_outside_the_lab_points_at_that(model):
    assert by_name(model.services, "kubernetes").endpoints[0].target == "node_node1"
    assert by_name(model.services, "ext").endpoints[0].target == "addr_198.51.100.9"
    assert model.externals == ("198.51.100.9",)
    assert by_name(model.services, "nobody").endpoints == ()
    assert by_name(model.services, "outside").external_name == "example.com"


def test_every_lab_namespace_has_an_owner(model):
    assert model.owner("gt-underlay") == "underlay"
    assert model.owner("gt-node2") == "node_node2"
    assert model.owner("gt-client") == "client_client"
    assert model.owner("gt-kube-system.coredns-x") == "pod_kube-system_coredns-x"
    assert model.owner("other-node1") is None
    assert model.namespaces() == ["default", "kube-system"]


# -- DOT ------------------------------------------------------------------------------------------

def test_the_dot_names_every_node_pod_service_and_client(model):
    text = graph.to_dot(model)
    for name in ["node1", "node2", "client", "web-a", "web-b", "coredns-x", "waiting", "kubernetes", "web",
                 "web-np", "web-lb", "nobody", "outside", "kube-dns", "gt-underlay"]:
        assert f">{name}<" in text or f" {name}<" in text or f"netns {name}<" in text, name
    for shown in ["ClusterIP 10.96.0.10", "nodePort 30080", "LoadBalancer 172.18.255.200", "externalIP 192.0.2.7",
                  "cni0 10.244.2.1", "pod CIDR 10.244.1.0/24", "10.244.2.0/24 via 172.18.0.3 dev eth0 (node2)",
                  "ExternalName → example.com", "no endpoints", "veth " + names.pod_host_veth("default", "web-b",
                                                                                              "uid-web-b")]:
        assert shown in text, shown


def test_pods_sit_inside_their_node_and_services_point_at_their_endpoints(model):
    text = graph.to_dot(model)
    node1 = text.index('subgraph "cluster_node_node1"')
    node2 = text.index('subgraph "cluster_node_node2"')
    assert node1 < text.index('"pod_default_web-a" [') < node2 < text.index('"pod_default_web-b" [')
    assert '"pod_default_web-a" -> "svc_default_web-np"' in text
    assert 'label="53/UDP → 53\\n53 → 53"' in text                 # both kube-dns ports on one arrow
    assert 'style="dashed"' in text.split('"pod_default_web-b" -> "svc_default_web" ')[1].split("\n")[0]
    assert 'subgraph "cluster_services_kube-system"' in text


def test_names_that_need_escaping_are_escaped():
    odd = pod("x", "node1", "10.244.1.9", containers=[{"name": 'a"b<c>&', "image": "i"}])
    text = graph.to_dot(graph.lab_model(topology(), [odd], [], []))
    assert "a&quot;b&lt;c&gt;&amp;" in text


# -- the trace overlay ----------------------------------------------------------------------------

def hop(namespace, chain, action, rule="-A X", table="nat"):
    return {"namespace": namespace, "table": table, "chain": chain, "rule": rule, "action": action}


NODE_PORT_PATH = {
    "verdict": "delivered", "masquerade": True,
    "endpoints": [{"address": "10.244.1.3:8080", "pod": "web-a", "probability": 0.5},
                  {"address": "10.244.2.3:8080", "pod": "web-b", "probability": 0.5}],
    "hops": [hop("gt-client", "OUTPUT", "ACCEPT", table="filter"),
             hop("gt-node1", "PREROUTING", "jump KUBE-SERVICES"),
             hop("gt-node1", "KUBE-NODEPORTS", "jump KUBE-EXT-ABC"),
             hop("gt-node1", "KUBE-SEP-DEF", "DNAT to 10.244.2.3:8080",
                 rule="-A KUBE-SEP-DEF -p tcp -m tcp -j DNAT --to-destination 10.244.2.3:8080"),
             hop("gt-node1", "KUBE-POSTROUTING", "MASQUERADE", rule="-A KUBE-POSTROUTING -j MASQUERADE"),
             hop("gt-node2", "FORWARD", "ACCEPT", table="filter")],
}


def test_the_overlay_numbers_each_move_between_namespaces(model):
    overlay = graph.trace_overlay(model, NODE_PORT_PATH)
    path = [(s.number, s.source, s.target, s.hops) for s in overlay.steps if not s.alternative]
    assert path == [(1, "client_client", "node_node1", (0,)),
                    (2, "node_node1", "node_node2", (1, 2, 3, 4)),
                    (3, "node_node2", "pod_default_web-b", (5,))]
    assert overlay.steps[1].nat == ("DNAT to 10.244.2.3:8080", "MASQUERADE")     # NAT labels the step leaving
    assert overlay.steps[0].nat == () and overlay.steps[2].note == "10.244.2.3:8080"
    (other,) = [s for s in overlay.steps if s.alternative]                    # the DNAT's other choice
    assert (other.source, other.target, other.note) == ("node_node1", "pod_default_web-a", "10.244.1.3:8080 p=0.50")
    assert overlay.end is None and overlay.masquerade


def test_without_a_dnat_in_the_hops_every_endpoint_is_a_numbered_candidate(model):
    path = {"verdict": "delivered", "masquerade": False, "hops": [hop("gt-node1", "KUBE-SVC-X", "jump KUBE-SEP-Y")],
            "endpoints": [{"address": "10.244.1.3:8080", "pod": "web-a", "probability": 0.5},
                          {"address": "10.244.2.3:8080", "pod": "web-b", "probability": 0.5}]}
    steps = graph.trace_overlay(model, path).steps
    assert [(s.number, s.target, s.note) for s in steps] == [(1, "pod_default_web-a", "10.244.1.3:8080 p=0.50"),
                                                           (1, "pod_default_web-b", "10.244.2.3:8080 p=0.50")]


def test_a_rejected_path_ends_on_the_last_namespace(model):
    path = {"verdict": "rejected", "endpoints": [], "masquerade": False,
            "hops": [hop("gt-default.web-a", "OUTPUT", "ACCEPT", table="filter"),
                     hop("gt-node1", "KUBE-SERVICES", "REJECT (has no endpoints)", table="filter")]}
    overlay = graph.trace_overlay(model, path)
    assert [(s.number, s.source, s.target) for s in overlay.steps] == [(1, "pod_default_web-a", "node_node1")]
    assert overlay.end == "node_node1"
    text = graph.to_dot(model, path)
    assert "✗ rejected" in text and 'class="trace step-1' in text
    lines = graph.describe_path(model, overlay)
    assert lines[0] == "path: rejected, not masqueraded"
    assert lines[-1].strip() == "ends in node node1: rejected (REJECT (has no endpoints))"


def test_a_namespace_the_lab_does_not_know_gets_a_box_of_its_own(model):
    path = {"verdict": "dropped", "endpoints": [], "masquerade": False,
            "hops": [hop("elsewhere", "OUTPUT", "ACCEPT"), hop("gt-node2", "KUBE-EXT-X", "DROP")]}
    overlay = graph.trace_overlay(model, path)
    assert overlay.unknown == (("netns_elsewhere", "elsewhere"),)
    assert overlay.steps[0].source == "netns_elsewhere"
    assert '"netns_elsewhere" [' in graph.to_dot(model, path)


def test_the_traced_dot_draws_numbered_red_edges_labelled_with_the_nat(model):
    text = graph.to_dot(model, NODE_PORT_PATH)
    trace = [line for line in text.splitlines() if 'class="trace' in line]
    assert len(trace) == 4
    assert '"node_node1" -> "node_node2"' in trace[1]
    assert 'label="2\\nDNAT to 10.244.2.3:8080\\nMASQUERADE"' in trace[1]
    assert 'style="dashed"' in trace[3] and 'constraint="false"' in trace[0]
    untraced = graph.to_dot(model)
    assert 'class="trace' not in untraced


def test_the_summary_says_the_path_in_words(model):
    lines = graph.describe_path(model, graph.trace_overlay(model, NODE_PORT_PATH))
    assert lines == [
        "path: delivered, masqueraded",
        "  1  client client → node node1",
        "  2  node node1 → node node2   DNAT to 10.244.2.3:8080   MASQUERADE",
        "  3  node node2 → pod default/web-b   10.244.2.3:8080",
        "     the DNAT could also have chosen: pod default/web-a (10.244.1.3:8080 p=0.50)",
    ]


# -- Graphviz and the page ------------------------------------------------------------------------

def svg_root(text: str):
    root = ET.fromstring(text.encode())
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    return root


@needs_dot
def test_dot_makes_valid_svg_with_an_element_per_object(model):
    root = svg_root(graph.to_svg(model, NODE_PORT_PATH))
    ids = {el.get("id") for el in root.iter()}
    assert {"node_node1", "pod_default_web-a", "pod_kube-system_coredns-x", "svc_default_web-np", "client_client",
            "underlay", "addr_198.51.100.9"} <= ids
    texts = " ".join(el.text or "" for el in root.iter("{http://www.w3.org/2000/svg}text"))
    assert "web-lb" in texts and "DNAT to 10.244.2.3:8080" in texts


@needs_dot
def test_the_page_is_one_self_contained_file_naming_everything(model):
    page = graph.to_html(model, NODE_PORT_PATH)
    assert page.startswith("<!DOCTYPE html>") and "<svg" in page and "<?xml" not in page
    for fetch in ("<link", " src=", "@import", "url(", 'href="http'):
        assert fetch not in page, fetch
    for name in ["node1", "node2", "web-a", "web-b", "coredns-x", "kube-dns", "web-lb", "outside"]:
        assert page.count(name) >= 2, name                       # in the picture and in the tables
    assert 'data-step="2"' in page and "KUBE-SEP-DEF" in page


@needs_dot
def test_png_comes_from_dot(model):
    data = graph.run_dot(graph.to_dot(model), "png")
    assert data[:8] == b"\x89PNG\r\n\x1a\n"


def test_dot_failing_says_why():
    if shutil.which("dot") is None:
        pytest.skip("needs Graphviz's dot")
    with pytest.raises(graph.GraphError, match="dot -Tsvg failed"):
        graph.run_dot("digraph { a -> }", "svg")


def test_render_refuses_an_unknown_format():
    with pytest.raises(graph.GraphError, match="unknown output format 'jpeg'"):
        graph.render("any", "jpeg")


def test_without_graphviz_the_error_says_what_to_install(monkeypatch):
    monkeypatch.setattr(graph.shutil, "which", lambda name: None)
    with pytest.raises(graph.GraphError, match="apt-get install graphviz"):
        graph.run_dot("digraph {}", "svg")


def test_node_routes_reads_each_node_with_ip_json(monkeypatch):
    calls = []

    def run(argv, **kwargs):
        calls.append(argv)
        ok = argv[2] == "gt-node1"
        return subprocess.CompletedProcess(argv, 0 if ok else 1, '[{"dst": "default"}]' if ok else "", "")

    assert graph.node_routes(topology(), run=run) == {"node1": [{"dst": "default"}]}
    assert calls == [["ip", "-n", "gt-node1", "-j", "route"], ["ip", "-n", "gt-node2", "-j", "route"]]
