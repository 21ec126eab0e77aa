"""The lab's Cluster document: DESIGN.md §3 defaults, overrides, and strict checks."""

from ipaddress import IPv4Address, IPv4Network
from textwrap import dedent

import pytest

from netlab.manifest import ClientConfig, KubeProxyConfig, LabConfig, ManifestError, NodeConfig, loads

HEAD = "apiVersion: netlab.io/v1alpha1\nkind: Cluster\n"


def lab_of(text):
    return loads(HEAD + text, "lab.yaml").lab


def problems(text):
    with pytest.raises(ManifestError) as info:
        loads(HEAD + text, "lab.yaml")
    return str(info.value).splitlines()


def test_defaults_without_a_cluster_document_or_with_an_empty_one():
    for lab in (LabConfig(), loads("").lab, lab_of("")):
        assert lab.nodes == (NodeConfig("node1", IPv4Address("172.18.0.2")),
                             NodeConfig("node2", IPv4Address("172.18.0.3")))
        assert lab.pod_cidr == IPv4Network("10.244.0.0/16")
        assert lab.node_cidr_mask_size == 24
        assert lab.node_pod_cidr(1) == IPv4Network("10.244.1.0/24")
        assert lab.service_cidr == IPv4Network("10.96.0.0/12")
        assert lab.cluster_dns_ip == IPv4Address("10.96.0.10")
        assert lab.underlay == IPv4Network("172.18.0.0/16")
        assert lab.node_port_range == (30000, 32767)
        assert lab.clients == (ClientConfig("client", IPv4Address("172.18.0.100")),)
        assert lab.load_balancer_pool == (IPv4Address("172.18.255.200"), IPv4Address("172.18.255.250"))
        assert lab.iptables_backend == "restore"
        assert lab.kube_proxy == KubeProxyConfig(False, 14, "ClusterCIDR")
    assert lab_of("").source is not None and lab_of("").source.line == 1


def test_everything_overridden():
    lab = lab_of(dedent("""\
        metadata: {name: demo}
        spec:
          nodes:
          - {name: alpha, labels: {zone: a}}
          - name: beta
          podCIDR: 10.200.0.0/16
          nodeCIDRMaskSize: 26
          serviceCIDR: 10.100.0.0/16
          underlay: 192.168.50.0/24
          nodePortRange: 31000-31999
          clients: [{name: laptop, ip: 192.168.50.10}, {name: phone}]
          loadBalancerPool: 192.168.50.240/28
          iptablesBackend: python-iptables
          kubeProxy: {masqueradeAll: true, masqueradeBit: 15, detectLocalMode: NodeCIDR}
        """))
    assert lab.name == "demo"
    assert lab.nodes == (NodeConfig("alpha", IPv4Address("192.168.50.2"), {"zone": "a"}),
                         NodeConfig("beta", IPv4Address("192.168.50.3")))
    assert lab.node_pod_cidr(2) == IPv4Network("10.200.0.128/26")
    assert lab.service_cidr == IPv4Network("10.100.0.0/16")
    assert lab.node_port_range == (31000, 31999)
    assert lab.clients == (ClientConfig("laptop", IPv4Address("192.168.50.10")),
                           ClientConfig("phone", IPv4Address("192.168.50.101")))
    assert lab.load_balancer_pool == (IPv4Address("192.168.50.240"), IPv4Address("192.168.50.255"))
    assert lab.iptables_backend == "python-iptables"
    assert lab.kube_proxy == KubeProxyConfig(True, 15, "NodeCIDR")


def test_node_count_and_derived_defaults_follow_the_underlay():
    lab = lab_of("spec: {nodes: 3, underlay: 10.10.0.0/24}\n")
    assert [(n.name, str(n.ip)) for n in lab.nodes] == [
        ("node1", "10.10.0.2"), ("node2", "10.10.0.3"), ("node3", "10.10.0.4")]
    assert lab.clients == (ClientConfig("client", IPv4Address("10.10.0.100")),)
    assert lab.load_balancer_pool == (IPv4Address("10.10.0.200"), IPv4Address("10.10.0.250"))


def test_unknown_fields_and_types():
    assert problems("spec:\n  node: 3\n  podCidr: 10.0.0.0/16\n  nodes: two\n") == [
        'lab.yaml:4: spec.node: unknown field "node"; did you mean "nodes"?',
        'lab.yaml:5: spec.podCidr: unknown field "podCidr"; did you mean "podCIDR"?',
        'lab.yaml:6: spec.nodes: expected an integer or a list, got a string ("two")',
    ]


def test_bad_values():
    text = dedent("""\
        metadata: {name: My Lab}
        spec:
          nodes: [{name: node1}, {name: Node_2}, {name: node1}, {labels: {a: b}}]
          podCIDR: 10.244.1.0/16
          serviceCIDR: 10.244.0.0/12
          underlay: fe80::/64
          nodePortRange: 32767-30000
          clients: [{name: node1, ip: 172.18.0.2}, {name: far, ip: 10.0.0.1}, {name: gw, ip: 172.18.0.1}]
          loadBalancerPool: 172.18.0.200-172.18.0.100
          iptablesBackend: nft
          kubeProxy: {masqueradeBit: 40, detectLocalMode: clustercidr}
        """)
    assert problems(text) == [
        'lab.yaml:3: metadata.name: invalid lab name "My Lab": use at most 63 lower case letters, digits and '
        '"-", starting and ending with a letter or digit (e.g. my-lab)',
        "lab.yaml:5: spec.nodes[3].name: required field is missing",
        'lab.yaml:5: spec.nodes[1].name: invalid node name "Node_2": use at most 63 lower case letters, '
        'digits and "-", starting and ending with a letter or digit (e.g. node-2)',
        'lab.yaml:5: spec.nodes[2].name: duplicate node name "node1"',
        'lab.yaml:6: spec.podCIDR: invalid CIDR "10.244.1.0/16": the host bits are set; did you mean '
        '"10.244.0.0/16"?',
        'lab.yaml:7: spec.serviceCIDR: invalid CIDR "10.244.0.0/12": the host bits are set; did you mean '
        '"10.240.0.0/12"?',
        "lab.yaml:7: spec.serviceCIDR: podCIDR 10.244.0.0/16 and serviceCIDR 10.240.0.0/12 overlap: pick "
        "ranges that do not",
        'lab.yaml:8: spec.underlay: "fe80::/64" is IPv6 and spec.ipFamilies is [IPv4]: add IPv6 to ipFamilies '
        "([IPv4, IPv6]) for a dual-stack lab, or give an IPv4 CIDR such as 172.18.0.0/16",
        'lab.yaml:9: spec.nodePortRange: invalid port range "32767-30000": need 1 <= FIRST <= LAST <= 65535',
        'lab.yaml:10: spec.clients[0].name: client name "node1" is also a node name: rename one of them',
        "lab.yaml:10: spec.clients[0].ip: client node1's IP 172.18.0.2 is node node1's address (node k is "
        ".k+1 of the underlay): pick another address",
        "lab.yaml:10: spec.clients[1].ip: client far's IP 10.0.0.1 is not a host address of underlay "
        "172.18.0.0/16: pick another address",
        "lab.yaml:10: spec.clients[2].ip: client gw's IP 172.18.0.1 is the underlay's gateway address: pick "
        "another address",
        'lab.yaml:11: spec.loadBalancerPool: invalid address pool "172.18.0.200-172.18.0.100": the first '
        "address is after the last",
        'lab.yaml:12: spec.iptablesBackend: unsupported value "nft" (supported: "restore", "python-iptables")',
        "lab.yaml:13: spec.kubeProxy.masqueradeBit: invalid value 40: must be between 0 and 31",
        'lab.yaml:13: spec.kubeProxy.detectLocalMode: unsupported value "clustercidr"; did you mean '
        '"ClusterCIDR"? (supported: "ClusterCIDR", "NodeCIDR", "BridgeInterface")',
    ]


def test_room_for_nodes_and_pool_placement():
    assert problems("spec: {nodes: 5, podCIDR: 10.244.0.0/24, nodeCIDRMaskSize: 26}\n") == [
        "lab.yaml:3: spec.nodeCIDRMaskSize: podCIDR 10.244.0.0/24 split into /26 subnets has room for 3 nodes "
        "(node k takes subnet k), not 5: use a larger podCIDR or nodeCIDRMaskSize",
    ]
    assert problems("spec: {loadBalancerPool: 172.18.0.1-172.18.0.9}\n") == [
        "lab.yaml:3: spec.loadBalancerPool: loadBalancerPool 172.18.0.1-172.18.0.9 holds node node1's "
        "address 172.18.0.2: move the pool",
    ]
    assert problems("spec: {loadBalancerPool: 10.1.0.1-10.1.0.9}\n") == [
        "lab.yaml:3: spec.loadBalancerPool: loadBalancerPool 10.1.0.1-10.1.0.9 is not inside underlay "
        "172.18.0.0/16: the external client reaches LoadBalancer IPs over the underlay",
    ]


def test_one_cluster_document_per_load_and_the_right_api_version():
    text = HEAD + "---\n" + HEAD + "---\napiVersion: kind.x-k8s.io/v1alpha4\nkind: Cluster\n"
    with pytest.raises(ManifestError) as info:
        loads(text, "two.yaml")
    assert str(info.value).splitlines() == [
        "two.yaml:4: a second Cluster document (the first is at two.yaml:1): a load may hold one; merge them",
        'two.yaml:7: apiVersion: unsupported apiVersion "kind.x-k8s.io/v1alpha4" for a Cluster: netlab\'s '
        'lab document uses "apiVersion: netlab.io/v1alpha1"',
    ]


def test_the_cluster_document_is_not_a_kubernetes_object():
    manifests = loads(HEAD + "spec: {nodes: 1}\n---\napiVersion: v1\nkind: Namespace\nmetadata: {name: n}\n")
    assert [type(o).__name__ for o in manifests.objects] == ["Namespace"]
    assert len(manifests.lab.nodes) == 1


def test_kube_proxy_min_sync_period_is_a_go_duration():
    assert problems("spec: {kubeProxy: {minSyncPeriod: 2 seconds}}\n") == [
        'lab.yaml:3: spec.kubeProxy.minSyncPeriod: invalid value "2 seconds": a duration such as 1s, 500ms or 0s']
    lab = loads(HEAD + "spec: {kubeProxy: {minSyncPeriod: 500ms}}\n", "lab.yaml").lab
    assert lab.kube_proxy.min_sync_period == 0.5


def test_cluster_dns_is_on_at_dot_ten_with_two_replicas_unless_the_lab_file_says_otherwise():
    default = lab_of("")
    assert (default.cluster_dns.enabled, default.cluster_dns.replicas) == (True, 2)
    assert default.cluster_dns_ip == IPv4Address("10.96.0.10")
    moved = lab_of("spec:\n  serviceCIDR: 10.100.0.0/16\n  clusterDNS: {ip: 10.100.0.53, replicas: 1}\n")
    assert moved.cluster_dns_ip == IPv4Address("10.100.0.53") and moved.cluster_dns.replicas == 1
    assert lab_of("spec:\n  serviceCIDR: 10.100.0.0/16\n").cluster_dns_ip == IPv4Address("10.100.0.10")
    assert lab_of("spec:\n  clusterDNS: {enabled: false}\n").cluster_dns.enabled is False


def test_a_cluster_dns_address_outside_the_service_cidr_is_refused():
    said = problems("spec:\n  clusterDNS: {ip: 10.244.0.10}\n")
    assert any("spec.clusterDNS.ip" in line and "not a host address of serviceCIDR 10.96.0.0/12" in line
               for line in said), said
    assert any("spec.clusterDNS.replicas" in line for line in problems("spec:\n  clusterDNS: {replicas: -1}\n"))
