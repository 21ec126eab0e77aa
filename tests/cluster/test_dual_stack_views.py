"""What a dual-stack lab shows of its nodes and pods: both pod CIDRs, both InternalIPs, both pod IPs
(status.podIPs) and the downward API's comma-joined podIPs and hostIPs; a single-stack lab shows
what it always did."""

from netlab import views
from netlab.cluster import downward
from netlab.cluster.controllers import PodInstance
from netlab.cluster.topology import build_topology
from netlab.manifest import loads
from netlab.manifest.model import Container, LabConfig, ObjectMeta, Pod, PodSpec

HEAD = "apiVersion: netlab.io/v1alpha1\nkind: Cluster\n"
DUAL = build_topology("t", loads(HEAD + "spec: {ipFamilies: [IPv4, IPv6]}\n", "lab.yaml").lab)
SINGLE = build_topology("t", LabConfig())
SOURCE = Pod(meta=ObjectMeta("a"), spec=PodSpec(containers=[Container(name="c", image="nginx")]),
             raw={"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "a"},
                  "spec": {"containers": [{"name": "c", "image": "nginx"}]}})


def _pod(ip6=None):
    return PodInstance("default", "a", "uid-a", ("Pod", "default", "a"), "h", node="node1", ip="10.244.1.2",
                       ip6=ip6)


def test_a_dual_stack_node_lists_both_pod_cidrs_and_both_internal_ips_primary_first():
    node = views.node_object("t", DUAL.nodes[0], 0.0, DUAL)
    assert node["spec"] == {"podCIDR": "10.244.1.0/24", "podCIDRs": ["10.244.1.0/24", "fd00:10:244:1::/64"]}
    assert node["status"]["addresses"] == [{"type": "InternalIP", "address": "172.18.0.2"},
                                           {"type": "InternalIP", "address": "fc00:f853:ccd:e793::2"},
                                           {"type": "Hostname", "address": "node1"}]


def test_a_dual_stack_host_gw_node_carries_flannels_ipv6_annotations():
    annotations = views.node_object("t", DUAL.nodes[0], 0.0, DUAL)["metadata"]["annotations"]
    assert annotations["flannel.alpha.coreos.com/public-ipv6"] == "fc00:f853:ccd:e793::2"
    assert annotations["flannel.alpha.coreos.com/backend-v6-data"] == "null"


def test_a_single_stack_node_shows_one_of_each_as_before():
    node = views.node_object("t", SINGLE.nodes[0], 0.0, SINGLE)
    assert node["spec"]["podCIDRs"] == ["10.244.1.0/24"]
    assert [a["type"] for a in node["status"]["addresses"]] == ["InternalIP", "Hostname"]
    assert not [k for k in node["metadata"]["annotations"] if "v6" in k]


def test_a_dual_stack_pods_status_keeps_pod_ip_ipv4_and_lists_both_in_pod_ips():
    status = views.pod_object("t", _pod("fd00:10:244:1::2"), SOURCE, "172.18.0.2", None,
                              host_ip6="fc00:f853:ccd:e793::2")["status"]
    assert status["podIP"] == "10.244.1.2"
    assert status["podIPs"] == [{"ip": "10.244.1.2"}, {"ip": "fd00:10:244:1::2"}]
    assert status["hostIP"] == "172.18.0.2"
    assert status["hostIPs"] == [{"ip": "172.18.0.2"}, {"ip": "fc00:f853:ccd:e793::2"}]


def test_a_single_stack_pods_status_lists_its_one_address():
    status = views.pod_object("t", _pod(), SOURCE, "172.18.0.2", None)["status"]
    assert (status["podIPs"], status["hostIPs"]) == ([{"ip": "10.244.1.2"}], [{"ip": "172.18.0.2"}])


def test_the_downward_api_joins_a_dual_stack_pods_and_nodes_addresses_with_a_comma():
    pod, node = _pod("fd00:10:244:1::2"), DUAL.nodes[0]
    assert downward.field_value("status.podIP", pod, node) == "10.244.1.2"
    assert downward.field_value("status.podIPs", pod, node) == "10.244.1.2,fd00:10:244:1::2"
    assert downward.field_value("status.hostIP", pod, node) == "172.18.0.2"
    assert downward.field_value("status.hostIPs", pod, node) == "172.18.0.2,fc00:f853:ccd:e793::2"


def test_the_downward_api_of_a_single_stack_pod_is_its_one_address():
    pod, node = _pod(), SINGLE.nodes[0]
    assert downward.field_value("status.podIPs", pod, node) == "10.244.1.2"
    assert downward.field_value("status.hostIPs", pod, node) == "172.18.0.2"
