"""Kubernetes object dicts → model: API-server/kube-proxy defaults, joins, warnings."""

from __future__ import annotations

import pytest

from netlab.proxy.model import Endpoint, ServicePort
from netlab.proxy.objects import (Inventory, build_render_input, canonical_cidr, canonical_ip,
                                  endpoints_from_slice, node_info, render_input_from_inventory,
                                  service_ports_from_service)
from netlab.proxy.render import endpoints_map, render

from proxy_testlib import GOLDEN, fixture_config, load_yaml


def svc(name="web", namespace="default", **spec):
    spec.setdefault("clusterIP", "10.96.0.50")
    spec.setdefault("ports", [{"port": 80}])
    return {"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": name, "namespace": namespace}, "spec": spec}


def slice_(service="web", namespace="default", name=None, endpoints=(), ports=({"port": 8080},),
           address_type="IPv4"):
    return {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
            "metadata": {"name": name or f"{service}-abc", "namespace": namespace,
                         "labels": {"kubernetes.io/service-name": service}},
            "addressType": address_type, "endpoints": list(endpoints), "ports": list(ports)}


def test_service_port_defaults():
    ports, warnings = service_ports_from_service(svc())
    assert warnings == []
    assert ports == [ServicePort("default", "web", "", "TCP", "10.96.0.50", 80)]
    p = ports[0]
    assert (p.type, p.session_affinity, p.external_traffic_policy, p.internal_traffic_policy) == (
        "ClusterIP", "None", "Cluster", "Cluster")


def test_client_ip_affinity_timeout_defaults_to_10800():
    ports, _ = service_ports_from_service(svc(sessionAffinity="ClientIP"))
    assert (ports[0].session_affinity, ports[0].session_affinity_timeout) == ("ClientIP", 10800)
    ports, _ = service_ports_from_service(svc(sessionAffinity="ClientIP", sessionAffinityConfig={
        "clientIP": {"timeoutSeconds": 60}}))
    assert ports[0].session_affinity_timeout == 60


def test_affinity_rules_use_the_timeout():
    data = build_render_input([svc(sessionAffinity="ClientIP", sessionAffinityConfig={
        "clientIP": {"timeoutSeconds": 60}}), slice_(endpoints=[{"addresses": ["10.244.1.2"]}])],
        "node1", cluster_cidr="10.244.0.0/16")
    text = render(data.config, data.service_ports, data.endpoints).to_restore_text()
    assert "--rcheck --seconds 60 --reap" in text
    assert "-m recent --name KUBE-SEP-" in text and "--set -m tcp -p tcp -j DNAT" in text


@pytest.mark.parametrize("spec", [
    {"clusterIP": "None"},
    {"type": "ExternalName", "externalName": "foo2.bar.com", "clusterIP": "172.30.55.4"},
])
def test_headless_and_external_name_services_produce_no_rules(spec):
    """TestBuildServiceMapServiceHeadless / ...ServiceTypeExternalName."""
    ports, warnings = service_ports_from_service(svc(**spec))
    assert (ports, warnings) == ([], [])


def test_service_without_cluster_ip_is_named_in_a_warning():
    s = svc()
    del s["spec"]["clusterIP"]
    ports, warnings = service_ports_from_service(s, source="a.yaml")
    assert ports == []
    assert warnings == ["a.yaml: Service default/web: no spec.clusterIP (the API server assigns "
                        "one when the Service is created); ignored"]


def test_single_stack_service_of_other_family_is_skipped_with_a_warning():
    ports, warnings = service_ports_from_service(svc(clusterIP="fd00::10", clusterIPs=["fd00::10"]))
    assert ports == [] and "no IPv4 cluster IP" in warnings[0]
    ports, _ = service_ports_from_service(
        svc(clusterIP="10.96.0.5", clusterIPs=["10.96.0.5", "fd00::5"]), family="IPv6")
    assert ports[0].cluster_ip == "fd00::5"


def test_service_map_add_remove_counts():
    """TestBuildServiceMapAddRemove: 10 service ports; only the eTP Local LB has a health check."""
    def port(name, proto, port, node_port, target):
        return {"name": name, "protocol": proto, "port": port, "nodePort": node_port,
                "targetPort": target}
    objects = [
        svc("cluster-ip", "somewhere-else", type="ClusterIP", clusterIP="172.30.55.4", ports=[
            {"name": "something", "protocol": "UDP", "port": 1234},
            {"name": "somethingelse", "protocol": "UDP", "port": 1235},
            {"name": "sctpport", "protocol": "SCTP", "port": 1236}]),
        svc("node-port", "somewhere-else", type="NodePort", clusterIP="172.30.55.10", ports=[
            port("blahblah", "UDP", 345, 678, 0), port("moreblahblah", "TCP", 344, 677, 0),
            port("muchmoreblah", "SCTP", 343, 676, 0)]),
        svc("load-balancer", "somewhere", type="LoadBalancer", clusterIP="172.30.55.11",
            loadBalancerIP="1.2.3.4", ports=[port("foobar", "UDP", 8675, 30061, 7000),
                                             port("baz", "UDP", 8676, 30062, 7001)]),
        svc("only-local-load-balancer", "somewhere", type="LoadBalancer",
            clusterIP="172.30.55.12", loadBalancerIP="5.6.7.8", externalTrafficPolicy="Local",
            healthCheckNodePort=345, ports=[port("foobar2", "UDP", 8677, 30063, 7002),
                                            port("baz", "UDP", 8678, 30064, 7003)]),
    ]
    data = build_render_input(objects, "test-node", cluster_cidr="10.0.0.0/8")
    assert len(data.service_ports) == 10
    ruleset = render(data.config, data.service_ports, data.endpoints)
    assert ruleset.filter.chain_rules("KUBE-NODEPORTS") == [
        '-m comment --comment "somewhere/only-local-load-balancer:baz health check node port" '
        "-m tcp -p tcp --dport 345 -j ACCEPT",
        '-m comment --comment "somewhere/only-local-load-balancer:foobar2 health check node port" '
        "-m tcp -p tcp --dport 345 -j ACCEPT"]


def test_nodeport_and_health_check_missing_are_reported():
    ports, warnings = service_ports_from_service(svc(type="LoadBalancer", externalTrafficPolicy="Local"))
    assert ports[0].node_port == 0
    assert any("no spec.healthCheckNodePort" in w for w in warnings)
    assert any("has no nodePort" in w for w in warnings)
    _, warnings = service_ports_from_service(svc(type="LoadBalancer",
                                                 allocateLoadBalancerNodePorts=False))
    assert warnings == []


def test_endpoint_slice_defaults():
    eps, warnings = endpoints_from_slice(slice_(endpoints=[{"addresses": ["10.244.1.2"]}]))
    assert warnings == []
    assert eps == [Endpoint("default", "web", "", "TCP", "10.244.1.2", 8080, ready=True,
                            serving=True, terminating=False)]


def test_endpoint_slice_conditions_and_hints():
    eps, _ = endpoints_from_slice(slice_(endpoints=[{
        "addresses": ["10.244.1.2", "10.244.1.3"], "nodeName": "node1", "zone": "a",
        "conditions": {"ready": False, "terminating": True},
        "hints": {"forZones": [{"name": "a"}], "forNodes": [{"name": "node1"}]}}],
        ports=[{"name": "http", "port": 8080, "protocol": "TCP"},
               {"name": "dns", "port": 53, "protocol": "UDP"}]))
    assert [(e.port_name, e.protocol, e.port) for e in eps] == [("http", "TCP", 8080), ("dns", "UDP", 53)]
    e = eps[0]
    assert (e.ip, e.ready, e.serving, e.terminating, e.node_name, e.zone_hints, e.node_hints) == (
        "10.244.1.2", False, True, True, "node1", ("a",), ("node1",))


@pytest.mark.parametrize("patch, message", [
    ({"metadata": {"name": "x", "namespace": "default"}}, "no kubernetes.io/service-name label"),
    ({"addressType": "FQDN"}, "addressType FQDN is not used by kube-proxy"),
])
def test_unusable_endpoint_slices_are_named(patch, message):
    eps, warnings = endpoints_from_slice(dict(slice_(), **patch), source="f.yaml")
    assert eps == [] and message in warnings[0] and warnings[0].startswith("f.yaml: EndpointSlice ")


def test_endpoints_are_sorted_by_string_and_deduplicated_preferring_local():
    """TestUpdateEndpointsMap: 10.1.1.11:11 sorts before 10.1.1.1:11; local copies win."""
    config = fixture_config()
    eps = [Endpoint("ns1", "ep1", "p11", "UDP", "10.1.1.1", 11),
           Endpoint("ns1", "ep1", "p11", "UDP", "10.1.1.11", 11),
           Endpoint("ns1", "ep1", "p11", "UDP", "10.1.1.1", 11, node_name="test-node"),
           Endpoint("ns1", "ep1", "p11", "UDP", "10.1.1.1", 11, node_name="other")]
    got = endpoints_map(eps, config)[("ns1", "ep1", "p11", "UDP")]
    assert [(e.string, e.local) for e in got] == [("10.1.1.11:11", False), ("10.1.1.1:11", True)]


def test_slices_join_services_by_label_port_name_and_protocol():
    objects = [svc(ports=[{"name": "http", "port": 80}, {"name": "dns", "port": 53, "protocol": "UDP"}]),
               slice_(endpoints=[{"addresses": ["10.244.1.2"]}],
                      ports=[{"name": "http", "port": 8080}, {"name": "dns", "port": 53}])]
    data = build_render_input(objects, "node1", source="x.yaml")
    assert {e.key for e in data.endpoints} == {("default", "web", "http", "TCP"),
                                               ("default", "web", "dns", "TCP")}
    assert any("port dns/TCP matches no port of Service default/web" in w for w in data.warnings)


def test_slice_of_missing_service_is_reported():
    data = build_render_input([slice_(endpoints=[{"addresses": ["10.244.1.2"]}])], "node1")
    assert any("no Service default/web among the inputs" in w for w in data.warnings)


def test_other_kinds_and_endpoints_are_named_in_warnings():
    inv = Inventory().add([
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "d"}},
        {"apiVersion": "v1", "kind": "Endpoints", "metadata": {"name": "e", "namespace": "d"}},
        {"apiVersion": "discovery.k8s.io/v1beta1", "kind": "EndpointSlice", "metadata": {"name": "s"}},
        "just a string", None, {"foo": 1}], "m.yaml")
    assert inv.warnings == [
        "m.yaml: ConfigMap d/c: v1 ConfigMap is not used by kube-proxy; ignored",
        "m.yaml: Endpoints d/e: kube-proxy reads EndpointSlices, not Endpoints; ignored",
        "m.yaml: EndpointSlice s: apiVersion discovery.k8s.io/v1beta1 is not supported "
        "(expected discovery.k8s.io/v1); ignored",
        "m.yaml: document 4: not a Kubernetes object (a str); ignored",
        "m.yaml: document 6: no kind/apiVersion, so not a Kubernetes object; ignored",
    ]


def test_list_renders_like_the_objects_given_one_by_one():
    spec = load_yaml(GOLDEN / "rulesets" / "overall.yaml")
    objects = spec["objects"]
    as_list = [{"apiVersion": "v1", "kind": "List", "metadata": {"resourceVersion": ""},
                "items": objects}]
    texts = []
    for docs in (objects, as_list):
        data = build_render_input(docs, "test-node", node_ips=("192.168.0.2",),
                                  cluster_cidr="10.0.0.0/8")
        texts.append(render(data.config, data.service_ports, data.endpoints).to_restore_text())
    assert texts[0] == texts[1]
    assert "KUBE-SVC-XPGD46QRK7WJZT7O" in texts[0]


def test_node_and_kube_proxy_configuration_feed_the_config():
    node = {"apiVersion": "v1", "kind": "Node",
            "metadata": {"name": "node1", "labels": {"topology.kubernetes.io/zone": "z1"}},
            "spec": {"podCIDR": "10.244.1.0/24", "podCIDRs": ["10.244.1.0/24"]},
            "status": {"addresses": [{"type": "InternalIP", "address": "172.18.0.2"},
                                     {"type": "Hostname", "address": "node1"},
                                     {"type": "InternalIP", "address": "fc00::2"}]}}
    kpc = {"apiVersion": "kubeproxy.config.k8s.io/v1alpha1", "kind": "KubeProxyConfiguration",
           "mode": "iptables", "clusterCIDR": "10.244.0.0/16,fd00:10:244::/56",
           "detectLocalMode": "BridgeInterface", "detectLocal": {"bridgeInterface": "cni0"},
           "iptables": {"masqueradeAll": True, "masqueradeBit": 15, "localhostNodePorts": False},
           "nodePortAddresses": ["172.18.0.0/16"], "conntrack": {"tcpBeLiberal": True}}
    data = render_input_from_inventory(Inventory().add([node, kpc]), "node1")
    c = data.config
    assert (c.node_ips, c.node_pod_cidrs, c.zone) == (("172.18.0.2", "fc00::2"), ("10.244.1.0/24",), "z1")
    assert (c.cluster_cidr, c.detect_local_mode, c.bridge_interface) == (
        "10.244.0.0/16,fd00:10:244::/56", "BridgeInterface", "cni0")
    assert (c.masquerade_all, c.masquerade_bit, c.localhost_nodeports, c.node_port_addresses,
            c.tcp_be_liberal) == (True, 15, False, ("172.18.0.0/16",), True)
    assert data.warnings == []
    assert node_info(node).internal_ips == ("172.18.0.2", "fc00::2")
    # Explicit overrides win over the objects.
    data = render_input_from_inventory(Inventory().add([node, kpc]), "node1",
                                       node_ips=("172.18.0.9",), masquerade_all=False)
    assert (data.config.node_ips, data.config.masquerade_all) == (("172.18.0.9",), False)


def test_missing_node_ips_and_cluster_cidr_are_reported():
    data = build_render_input([svc()], "node1")
    assert any("no node IPs" in w for w in data.warnings)
    assert any("no IPv4 cluster CIDR" in w for w in data.warnings)


@pytest.mark.parametrize("text, expected", [
    ("10.180.00.001", "10.180.0.1"), ("172.30.0.041", "172.30.0.41"), ("1.2.3.4", "1.2.3.4"),
    ("FD00:10:180:0:0:0:2:1", "fd00:10:180::2:1"), ("::ffff:1.2.3.4", "1.2.3.4"),
    ("1.2.3", None), ("1.2.3.256", None), ("", None), (None, None), ("a.b.c.d", None),
])
def test_canonical_ip(text, expected):
    assert canonical_ip(text) == expected


@pytest.mark.parametrize("text, expected", [
    ("203.0.113.000/025", "203.0.113.0/25"), (" 203.0.113.0/25", "203.0.113.0/25"),
    ("203.0.113.5/25", "203.0.113.0/25"), ("2001:db8::1/64", "2001:db8::/64"),
    ("203.0.113.0", None), ("x/24", None),
])
def test_canonical_cidr(text, expected):
    assert canonical_cidr(text) == expected
