"""Labs whose primary family is IPv6: an IPv6-only lab ([IPv6]) lays out no IPv4 pod range and gives
pods IPv6 addresses alone; an IPv6-first one ([IPv6, IPv4]) gives both, IPv6 first, in every place
Kubernetes shows an order (podIP, podIPs, InternalIPs, podCIDRs, a Service's default family, the
kubernetes Service and cluster DNS)."""

import random

import pytest

from netlab import views
from netlab.cluster import addons, controllers, dnsrecords, downward, services
from netlab.cluster.topology import build_topology, pod_ips
from netlab.manifest import loads
from netlab.manifest.model import Container, ObjectMeta, Pod, PodSpec
from netlab.runtime import coredns

HEAD = "apiVersion: netlab.io/v1alpha1\nkind: Cluster\n"
ONLY6 = build_topology("t", loads(HEAD + "spec: {ipFamilies: [IPv6]}\n", "lab.yaml").lab)
FIRST6 = build_topology("t", loads(HEAD + "spec: {ipFamilies: [IPv6, IPv4]}\n", "lab.yaml").lab)
RANGE = (30000, 32767)
SOURCE = Pod(meta=ObjectMeta("a"), spec=PodSpec(containers=[Container(name="c", image="nginx")]),
             raw={"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "a"},
                  "spec": {"containers": [{"name": "c", "image": "nginx"}]}})


def _placed(topology, names=("a", "b")):
    pods = [Pod(meta=ObjectMeta(name), spec=SOURCE.spec, raw={**SOURCE.raw, "metadata": {"name": name}})
            for name in names]
    return controllers.plan(pods, [], topology, {}, rng=random.Random(1)).pods


def _svc(name, **spec):
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name},
            "spec": {"selector": {"app": "web"}, "ports": [{"port": 80}], **spec}}


def _allocated(topology, *svcs):
    return services.allocate(list(svcs), {}, topology.service_cidr, RANGE, service_cidr6=topology.service_cidr6,
                             families=topology.ip_families)[0]


def test_an_ipv6_only_node_has_an_ipv6_pod_range_alone_and_keeps_its_ipv4_underlay_address():
    node = ONLY6.nodes[0]
    assert (node.pod_cidr, node.gateway) == (None, None)
    assert (str(node.pod_cidr6), node.gateway6) == ("fd00:10:244:1::/64", "fd00:10:244:1::1")
    assert (node.ip, node.ip6) == ("172.18.0.2", "fc00:f853:ccd:e793::2")
    assert node.internal_ips(ONLY6.ip_families) == ["fc00:f853:ccd:e793::2"]
    assert (ONLY6.cluster_cidr, ONLY6.service_cidr, ONLY6.ipv4, ONLY6.primary_family) == (None, None, False, "IPv6")


def test_an_ipv6_only_pod_gets_an_ipv6_address_alone():
    for pod in _placed(ONLY6):
        assert pod.ip is None and pod.ip6.startswith(f"fd00:10:244:{pod.node[-1]}::")
        assert pod_ips(pod, ONLY6.ip_families) == [pod.ip6] == pod_ips(pod.to_dict(), ONLY6.ip_families)


def test_an_ipv6_first_pod_lists_its_ipv6_address_first():
    (pod,) = _placed(FIRST6, ("a",))
    assert pod.ip.startswith("10.244.") and pod_ips(pod, FIRST6.ip_families) == [pod.ip6, pod.ip]


def test_views_and_the_downward_api_put_the_primary_familys_address_first():
    for topology in (ONLY6, FIRST6):
        (pod,) = _placed(topology, ("a",))
        node = topology.node(pod.node)
        expected = [pod.ip6] + ([pod.ip] if pod.ip else [])
        status = views.pod_object("t", pod, SOURCE, node.ip, None, host_ip6=node.ip6,
                                  families=topology.ip_families)["status"]
        assert status["podIP"] == pod.ip6 and [e["ip"] for e in status["podIPs"]] == expected
        assert status["hostIP"] == node.ip6 and [e["ip"] for e in status["hostIPs"]] == node.internal_ips(
            topology.ip_families)
        assert downward.field_value("status.podIPs", pod, node, families=topology.ip_families) == ",".join(expected)
        assert downward.field_value("status.hostIP", pod, node, families=topology.ip_families) == node.ip6
        shown = views.node_object("t", node, 0.0, topology)
        assert shown["spec"]["podCIDR"] == str(node.pod_cidr6)
        assert shown["status"]["addresses"][0] == {"type": "InternalIP", "address": node.ip6}
    # flanneld without IPv4 (EnableIPv4 false) writes no IPv4 public-ip
    annotations = views.node_object("t", ONLY6.nodes[0], 0.0, ONLY6)["metadata"]["annotations"]
    assert "flannel.alpha.coreos.com/public-ip" not in annotations
    assert annotations["flannel.alpha.coreos.com/public-ipv6"] == "fc00:f853:ccd:e793::2"


def test_a_service_on_an_ipv6_only_cluster_is_ipv6_and_prefer_dual_stack_stays_single():
    plain, prefer = _allocated(ONLY6, _svc("plain"), _svc("prefer", ipFamilyPolicy="PreferDualStack"))
    for svc in (plain, prefer):
        assert svc["spec"]["ipFamilies"] == ["IPv6"] and svc["spec"]["clusterIP"].startswith("fd00:10:96::")
        assert len(svc["spec"]["clusterIPs"]) == 1


def test_a_service_on_an_ipv6_first_cluster_defaults_to_ipv6_and_dual_stack_lists_ipv6_first():
    plain, prefer, v4 = _allocated(FIRST6, _svc("plain"), _svc("prefer", ipFamilyPolicy="PreferDualStack"),
                                   _svc("v4", ipFamilies=["IPv4"]))
    assert plain["spec"]["ipFamilies"] == ["IPv6"] and ":" in plain["spec"]["clusterIP"]
    assert prefer["spec"]["ipFamilies"] == ["IPv6", "IPv4"]
    assert ":" in prefer["spec"]["clusterIPs"][0] and "." in prefer["spec"]["clusterIPs"][1]
    assert v4["spec"]["clusterIP"].startswith("10.")


def test_an_ipv4_service_or_cluster_ip_on_an_ipv6_only_cluster_is_refused_as_not_configured():
    with pytest.raises(services.ServiceError) as info:
        _allocated(ONLY6, _svc("v4", ipFamilies=["IPv4"]))
    assert 'spec.ipFamilies[0]: Invalid value: "IPv4": not configured on this cluster' in str(info.value)


def test_an_ipv6_load_balancer_gets_no_address_from_the_labs_ipv4_pool_and_a_dual_stack_one_does():
    pool = ("172.18.255.200", "172.18.255.250")
    v6, dual = services.allocate([_svc("v6", type="LoadBalancer"),
                                  _svc("dual", type="LoadBalancer", ipFamilyPolicy="PreferDualStack")], {},
                                 FIRST6.service_cidr, RANGE, lb_pool=pool, service_cidr6=FIRST6.service_cidr6,
                                 families=FIRST6.ip_families)[0]
    assert "status" not in v6                              # <pending>, as MetalLB leaves it
    assert dual["status"]["loadBalancer"]["ingress"][0]["ip"] == "172.18.255.200"


def test_the_kubernetes_service_and_its_endpoint_are_of_the_primary_family():
    objects = addons.control_plane_objects(ONLY6.service_cidrs()["IPv6"], ONLY6.nodes[0].ip6)
    service = next(o for o in objects if o["kind"] == "Service")
    endpoints = next(o for o in objects if o["kind"] == "EndpointSlice")
    assert service["spec"]["clusterIP"] == "fd00:10:96::1"
    assert endpoints["addressType"] == "IPv6" and endpoints["endpoints"][0]["addresses"] == ["fc00:f853:ccd:e793::2"]


def test_the_cluster_dns_name_server_record_is_aaaa_on_an_ipv6_cluster_dns_address():
    lines = dnsrecords.records([], [], [], "fd00:10:96::a", "cluster.local")
    assert any(line.split()[0] == "ns.dns.cluster.local." and "AAAA fd00:10:96::a" in line for line in lines)


def test_the_dns_server_listens_on_ipv6_too_where_the_pod_has_an_ipv6_address():
    assert "interface: ::" in coredns.unbound_config(ipv6=True) and "do-ip6: yes" in coredns.unbound_config(ipv6=True)
    assert "interface: ::" not in coredns.unbound_config() and "do-ip6: no" in coredns.unbound_config()
