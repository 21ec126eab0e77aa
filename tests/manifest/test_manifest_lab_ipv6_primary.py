"""The lab file's IPv6-primary labs: spec.ipFamilies [IPv6] (IPv6-only) and [IPv6, IPv4] (dual-stack,
IPv6 first), their defaults, and the refusals that name their field."""

from ipaddress import IPv4Network, IPv6Address, IPv6Network

from tests.manifest.test_manifest_lab import lab_of, problems

ONLY6 = "spec:\n  ipFamilies: [IPv6]\n"


def test_an_ipv6_only_lab_has_kinds_ipv6_ranges_and_no_ipv4_pod_or_service_range():
    lab = lab_of(ONLY6)
    assert lab.ip_families == ("IPv6",) and lab.dual_stack is True
    assert (lab.pod_cidr, lab.service_cidr) == (None, None)
    assert lab.pod_cidr6 == IPv6Network("fd00:10:244::/56") and lab.service_cidr6 == IPv6Network("fd00:10:96::/112")
    # the nodes' docker-like network keeps its IPv4 range beside the IPv6 one, as kind's does
    assert lab.underlay == IPv4Network("172.18.0.0/16") and lab.underlay6 == IPv6Network("fc00:f853:ccd:e793::/64")
    assert lab.cluster_dns_ip == IPv6Address("fd00:10:96::a")


def test_an_ipv6_only_lab_takes_its_ranges_as_single_ipv6_cidrs():
    lab = lab_of(ONLY6 + "  podCIDR: fd00:200::/56\n  serviceCIDR: fd00:100::/108\n"
                         "  underlay: 192.168.50.0/24,fd00:50::/64\n  clusterDNS: {ip: 'fd00:100::53'}\n")
    assert (lab.pod_cidr, str(lab.pod_cidr6)) == (None, "fd00:200::/56")
    assert (lab.service_cidr, str(lab.service_cidr6)) == (None, "fd00:100::/108")
    assert (str(lab.underlay), str(lab.underlay6)) == ("192.168.50.0/24", "fd00:50::/64")
    assert str(lab.cluster_dns_ip) == "fd00:100::53"


def test_an_ipv4_pod_or_service_range_on_an_ipv6_only_lab_is_refused_with_the_way_out():
    assert problems(ONLY6 + "  podCIDR: 10.244.0.0/16\n") == [
        'lab.yaml:5: spec.podCIDR: "10.244.0.0/16" is IPv4 and spec.ipFamilies is [IPv6]: add IPv4 to '
        "ipFamilies for a dual-stack lab, or give an IPv6 CIDR such as fd00:10:244::/56"]
    assert problems(ONLY6 + "  nodeCIDRMaskSize: 24\n") == [
        "lab.yaml:5: spec.nodeCIDRMaskSize: nodeCIDRMaskSize splits the IPv4 podCIDR and this lab is IPv6 only: "
        "use nodeCIDRMaskSizeIPv6, or add IPv4 to spec.ipFamilies"]
    assert problems(ONLY6 + "  clusterDNS: {ip: 10.96.0.10}\n") == [
        'lab.yaml:5: spec.clusterDNS.ip: invalid IPv6 address "10.96.0.10"']


def test_an_ipv6_first_lab_has_both_families_and_cluster_dns_on_the_ipv6_service_range():
    lab = lab_of("spec:\n  ipFamilies: [IPv6, IPv4]\n  serviceCIDR: fd00:10:96::/112,10.96.0.0/12\n")
    assert lab.ip_families == ("IPv6", "IPv4")
    assert (str(lab.pod_cidr), str(lab.pod_cidr6)) == ("10.244.0.0/16", "fd00:10:244::/56")
    assert (str(lab.service_cidr), str(lab.service_cidr6)) == ("10.96.0.0/12", "fd00:10:96::/112")
    assert lab.cluster_dns_ip == IPv6Address("fd00:10:96::a")
