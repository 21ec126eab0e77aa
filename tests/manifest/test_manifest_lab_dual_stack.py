"""The lab file's dual-stack keys: spec.ipFamilies, the comma form of the CIDR fields, kind's IPv6
defaults, nodeCIDRMaskSizeIPv6, and every refusal naming its field."""

from ipaddress import IPv6Network

from netlab.manifest import LabConfig
from tests.manifest.test_manifest_lab import lab_of, problems

DUAL = "spec:\n  ipFamilies: [IPv4, IPv6]\n"


def test_a_lab_is_single_stack_ipv4_unless_the_lab_file_asks_for_ipv6():
    for lab in (LabConfig(), lab_of(""), lab_of("spec: {ipFamilies: [IPv4]}\n")):
        assert lab.ip_families == ("IPv4",) and lab.dual_stack is False
        assert (lab.pod_cidr6, lab.service_cidr6, lab.underlay6) == (None, None, None)
        assert lab.node_cidr_mask_size6 == 64


def test_a_dual_stack_lab_gets_kinds_ipv6_ranges_when_it_names_none():
    lab = lab_of(DUAL)
    assert lab.ip_families == ("IPv4", "IPv6") and lab.dual_stack is True
    assert lab.pod_cidr6 == IPv6Network("fd00:10:244::/56")
    assert lab.service_cidr6 == IPv6Network("fd00:10:96::/112")
    assert lab.underlay6 == IPv6Network("fc00:f853:ccd:e793::/64")
    assert lab.node_cidr_mask_size6 == 64
    assert str(lab.pod_cidr) == "10.244.0.0/16" and str(lab.underlay) == "172.18.0.0/16"


def test_the_cidr_fields_take_kubeadms_comma_form_ipv4_first():
    lab = lab_of(DUAL + "  podCIDR: 10.200.0.0/16,fd00:200::/56\n"
                        "  nodeCIDRMaskSizeIPv6: 72\n"
                        '  serviceCIDR: "10.100.0.0/16, fd00:100::/108"\n'
                        "  underlay: 192.168.50.0/24,fd00:50::/64\n")
    assert (str(lab.pod_cidr), str(lab.pod_cidr6)) == ("10.200.0.0/16", "fd00:200::/56")
    assert (str(lab.service_cidr), str(lab.service_cidr6)) == ("10.100.0.0/16", "fd00:100::/108")
    assert (str(lab.underlay), str(lab.underlay6)) == ("192.168.50.0/24", "fd00:50::/64")
    assert lab.node_cidr_mask_size6 == 72


def test_an_ipv4_only_value_on_a_dual_stack_lab_keeps_the_default_ipv6_range():
    lab = lab_of(DUAL + "  podCIDR: 10.200.0.0/16\n")
    assert str(lab.pod_cidr) == "10.200.0.0/16" and lab.pod_cidr6 == IPv6Network("fd00:10:244::/56")


def test_ip_families_must_be_known_distinct_and_not_empty():
    assert problems("spec: {ipFamilies: [IPv4, IPv4]}\n") == [
        'lab.yaml:3: spec.ipFamilies[1]: duplicate value "IPv4"']
    assert problems("spec: {ipFamilies: [IPv4, IPv5]}\n") == [
        'lab.yaml:3: spec.ipFamilies[1]: unsupported value "IPv5"; did you mean "IPv6"? (supported: "IPv4", '
        '"IPv6")']
    assert problems("spec: {ipFamilies: []}\n") == [
        "lab.yaml:3: spec.ipFamilies: a lab needs an IP family: use [IPv4], [IPv6], or both for a dual-stack "
        "lab ([IPv4, IPv6]; the first is the primary family)"]


def test_an_ipv6_range_on_a_single_stack_lab_is_refused_with_the_way_to_dual_stack():
    said = problems("spec:\n  podCIDR: 10.244.0.0/16,fd00:10:244::/56\n  nodeCIDRMaskSizeIPv6: 64\n")
    assert said == [
        'lab.yaml:4: spec.podCIDR: "fd00:10:244::/56" is IPv6 and spec.ipFamilies is [IPv4]: add IPv6 to '
        "ipFamilies ([IPv4, IPv6]) for a dual-stack lab, or give an IPv4 CIDR such as 10.244.0.0/16",
        "lab.yaml:5: spec.nodeCIDRMaskSizeIPv6: nodeCIDRMaskSizeIPv6 splits the IPv6 podCIDR: add IPv6 to "
        "spec.ipFamilies ([IPv4, IPv6]) for a dual-stack lab, or remove it",
    ]
    assert problems("spec: {serviceCIDR: 'fd00:10:96::/112'}\n") == [
        'lab.yaml:3: spec.serviceCIDR: "fd00:10:96::/112" is IPv6 and spec.ipFamilies is [IPv4]: add IPv6 to '
        "ipFamilies ([IPv4, IPv6]) for a dual-stack lab, or give an IPv4 CIDR such as 10.96.0.0/12"]


def test_the_comma_form_must_be_one_cidr_of_each_family():
    assert problems(DUAL + "  underlay: 172.18.0.0/16,10.0.0.0/8\n") == [
        'lab.yaml:5: spec.underlay: invalid value "172.18.0.0/16,10.0.0.0/8": one CIDR of each family, '
        "e.g. 172.18.0.0/16,fc00:f853:ccd:e793::/64"]
    assert problems(DUAL + "  underlay: 172.18.0.0/16,fc00::/64,fd00::/64\n") == [
        'lab.yaml:5: spec.underlay: invalid value "172.18.0.0/16,fc00::/64,fd00::/64": at most two CIDRs, one of '
        "each family, e.g. 172.18.0.0/16,fc00:f853:ccd:e793::/64"]


def test_the_comma_form_takes_the_families_in_either_order_and_a_family_left_out_keeps_its_default():
    lab = lab_of(DUAL + "  podCIDR: fd00:200::/56,10.200.0.0/16\n")
    assert (str(lab.pod_cidr), str(lab.pod_cidr6)) == ("10.200.0.0/16", "fd00:200::/56")
    lab = lab_of(DUAL + "  podCIDR: fd00:200::/56\n")
    assert (str(lab.pod_cidr), str(lab.pod_cidr6)) == ("10.244.0.0/16", "fd00:200::/56")


def test_a_bad_ipv6_range_is_refused_at_its_field():
    assert problems(DUAL + "  underlay: 172.18.0.0/16,fc00::1/64\n") == [
        'lab.yaml:5: spec.underlay: invalid CIDR "fc00::1/64": the host bits are set; did you mean "fc00::/64"?']
    assert problems(DUAL + "  underlay: 172.18.0.0/16,fe80::/64\n") == [
        'lab.yaml:5: spec.underlay: "fe80::/64" is not a unicast range a lab can route (link-local, multicast or '
        "loopback): use a unique local range such as fc00:f853:ccd:e793::/64"]
    assert problems(DUAL + "  podCIDR: 10.244.0.0/16,fd00:zz::/56\n") == [
        'lab.yaml:5: spec.podCIDR: invalid CIDR "fd00:zz::/56": write it as ADDRESS/PREFIX, e.g. '
        "10.244.0.0/16,fd00:10:244::/56"]


def test_ipv6_ranges_must_not_overlap():
    assert problems(DUAL + "  serviceCIDR: 10.96.0.0/12,fd00:10:244:ff::/112\n") == [
        "lab.yaml:5: spec.serviceCIDR: podCIDR fd00:10:244::/56 and serviceCIDR fd00:10:244:ff::/112 overlap: "
        "pick ranges that do not"]


def test_an_ipv6_service_range_larger_than_the_api_server_takes_is_refused():
    assert problems(DUAL + "  serviceCIDR: 10.96.0.0/12,fd00:10:96::/64\n") == [
        "lab.yaml:5: spec.serviceCIDR: serviceCIDR fd00:10:96::/64 is too large: the API server takes an IPv6 "
        "Service range of /108 or smaller"]


def test_the_ipv6_node_mask_must_split_the_pod_range_as_kube_controller_manager_allows():
    expected = ("must be longer than the IPv6 podCIDR's /56, by at most 16 bits (kube-controller-manager's "
                "limit), and at most 126")
    assert problems(DUAL + "  nodeCIDRMaskSizeIPv6: 48\n") == [
        f"lab.yaml:5: spec.nodeCIDRMaskSizeIPv6: nodeCIDRMaskSizeIPv6 48 {expected}"]
    assert problems(DUAL + "  nodeCIDRMaskSizeIPv6: 80\n") == [
        f"lab.yaml:5: spec.nodeCIDRMaskSizeIPv6: nodeCIDRMaskSizeIPv6 80 {expected}"]
    assert problems(DUAL + "  nodes: 5\n  podCIDR: 10.244.0.0/16,fd00:10:244::/62\n") == [
        "lab.yaml:5: spec.nodes: podCIDR fd00:10:244::/62 split into /64 subnets has room for 3 nodes (node k "
        "takes subnet k), not 5: use a larger IPv6 podCIDR or nodeCIDRMaskSizeIPv6"]


def test_nodes_and_clients_must_fit_the_ipv6_underlay_at_their_ipv4_offsets():
    said = problems(DUAL + "  underlay: 172.18.0.0/16,fd00:50::/120\n  clients: [{name: far, ip: 172.18.1.5}]\n")
    assert said == [
        "lab.yaml:5: spec.underlay: client far's IPv6 address (offset 261, as in 172.18.0.0/16) is outside "
        "underlay fd00:50::/120: use a larger IPv6 underlay"]
