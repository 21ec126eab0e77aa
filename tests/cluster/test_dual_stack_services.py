"""Services on single- and dual-stack clusters: ipFamilyPolicy and ipFamilies as the API server's
initIPFamilyFields settles them, one clusterIPs entry per family, and EndpointSlices per family."""

import ipaddress

import pytest

from netlab.cluster import services

CIDR, CIDR6 = "10.96.0.0/12", "fd00:10:96::/112"
RANGE = (30000, 32767)


def _svc(name, **spec):
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name},
            "spec": {"selector": {"app": "web"}, "ports": [{"port": 80}], **spec}}


def _dual(*svcs, previous=None):
    return services.allocate(list(svcs), previous or {}, CIDR, RANGE, service_cidr6=CIDR6)


def _single(*svcs):
    return services.allocate(list(svcs), {}, CIDR, RANGE)


def _families(svc):
    spec = svc["spec"]
    return spec["ipFamilyPolicy"], spec["ipFamilies"], [ipaddress.ip_address(ip).version if ip != "None" else ip
                                                       for ip in spec["clusterIPs"]]


def _refused(allocate, *svcs):
    with pytest.raises(services.ServiceError) as info:
        allocate(*svcs)
    return str(info.value).splitlines()


# -- dual-stack cluster -------------------------------------------------------------------------

def test_a_service_without_a_policy_is_single_stack_of_the_clusters_primary_family():
    (svc,), _ = _dual(_svc("a"))
    assert _families(svc) == ("SingleStack", ["IPv4"], [4])
    assert ipaddress.ip_address(svc["spec"]["clusterIP"]) in ipaddress.ip_network(CIDR)


def test_a_single_stack_ipv6_service_gets_its_cluster_ip_from_the_ipv6_range():
    (svc,), record = _dual(_svc("a", ipFamilies=["IPv6"]))
    assert _families(svc) == ("SingleStack", ["IPv6"], [6])
    assert ipaddress.ip_address(svc["spec"]["clusterIP"]) in ipaddress.ip_network(CIDR6)
    assert record["default/a"]["clusterIPs"] == svc["spec"]["clusterIPs"]


def test_prefer_dual_stack_gets_both_families_in_cluster_order_with_cluster_ip_the_first():
    (svc,), _ = _dual(_svc("a", ipFamilyPolicy="PreferDualStack"))
    assert _families(svc) == ("PreferDualStack", ["IPv4", "IPv6"], [4, 6])
    assert svc["spec"]["clusterIP"] == svc["spec"]["clusterIPs"][0]


def test_require_dual_stack_puts_the_given_family_first():
    (svc,), _ = _dual(_svc("a", ipFamilyPolicy="RequireDualStack", ipFamilies=["IPv6"]))
    assert _families(svc) == ("RequireDualStack", ["IPv6", "IPv4"], [6, 4])
    assert ipaddress.ip_address(svc["spec"]["clusterIP"]).version == 6


def test_given_cluster_ips_are_claimed_per_family_and_name_the_families():
    (svc,), _ = _dual(_svc("a", ipFamilyPolicy="PreferDualStack", clusterIPs=["10.96.0.50", "fd00:10:96::50"]))
    assert svc["spec"]["clusterIPs"] == ["10.96.0.50", "fd00:10:96::50"]
    assert svc["spec"]["clusterIP"] == "10.96.0.50" and svc["spec"]["ipFamilies"] == ["IPv4", "IPv6"]
    (other,), _ = _dual(_svc("b", ipFamilyPolicy="RequireDualStack", clusterIP="10.96.0.51"))
    assert other["spec"]["clusterIPs"][0] == "10.96.0.51" and _families(other)[2] == [4, 6]


def test_a_given_ipv6_cluster_ip_outside_the_range_or_taken_is_refused_at_its_entry():
    assert _refused(_dual, _svc("a", ipFamilyPolicy="PreferDualStack", clusterIPs=["10.96.0.50", "fd00:99::50"])) == [
        'Service "default/a": spec.clusterIPs[1]: Invalid value: "fd00:99::50": provided IP is not in the valid '
        "range. The range of valid IPs is fd00:10:96::/112"]
    assert _refused(_dual, _svc("a", ipFamilies=["IPv6"], clusterIP="fd00:10:96::50"),
                    _svc("b", ipFamilies=["IPv6"], clusterIP="fd00:10:96::50")) == [
        'Service "default/b": spec.clusterIP: Invalid value: "fd00:10:96::50": provided IP is already allocated '
        "(to default/a)"]


def test_the_last_address_of_the_ipv6_range_is_a_cluster_ip_for_ipv6_has_no_broadcast():
    (svc,), _ = _dual(_svc("a", ipFamilies=["IPv6"], clusterIP="fd00:10:96::ffff"))
    assert svc["spec"]["clusterIP"] == "fd00:10:96::ffff"
    assert _refused(_dual, _svc("a", clusterIP="10.111.255.255"))[0].endswith(
        "provided IP is not in the valid range. The range of valid IPs is 10.96.0.0/12")


def test_single_stack_with_two_cluster_ips_or_two_families_is_refused_with_the_api_servers_message():
    assert _refused(_dual, _svc("a", ipFamilyPolicy="SingleStack", clusterIPs=["10.96.0.50", "fd00:10:96::50"],
                                ipFamilies=["IPv4", "IPv6"])) == [
        'Service "default/a": spec.ipFamilyPolicy: Invalid value: "SingleStack": must be \'RequireDualStack\' or '
        "'PreferDualStack' when multiple cluster IPs are specified",
        'Service "default/a": spec.ipFamilyPolicy: Invalid value: "SingleStack": must be \'RequireDualStack\' or '
        "'PreferDualStack' when multiple IP families are specified"]


def test_a_cluster_ip_of_the_other_family_than_its_ip_families_entry_is_refused():
    assert _refused(_dual, _svc("a", ipFamilyPolicy="PreferDualStack", ipFamilies=["IPv4", "IPv6"],
                                clusterIPs=["10.96.0.50", "10.96.0.51"])) == [
        'Service "default/a": spec.clusterIPs[1]: Invalid value: "10.96.0.51": expected an IPv6 value as indicated '
        "by `ipFamilies[1]`",
        'Service "default/a": spec.clusterIPs: Invalid value: []string{"10.96.0.50", "10.96.0.51"}: may specify no '
        "more than one IP for each IP family"]


def test_a_headless_service_gets_families_by_the_same_rules_and_cluster_ips_none():
    (single, dual), _ = _dual(_svc("h", clusterIP="None"),
                              _svc("d", clusterIP="None", ipFamilyPolicy="PreferDualStack"))
    assert _families(single) == ("SingleStack", ["IPv4"], ["None"])
    assert _families(dual) == ("PreferDualStack", ["IPv4", "IPv6"], ["None"])
    assert dual["spec"]["clusterIP"] == "None"


def test_a_headless_service_without_selector_defaults_to_require_dual_stack():
    selectorless = _svc("h", clusterIP="None")
    del selectorless["spec"]["selector"]
    (svc,), _ = _dual(selectorless)
    assert _families(svc) == ("RequireDualStack", ["IPv4", "IPv6"], ["None"])


def test_an_external_name_service_gets_no_ip_family_fields():
    (svc,), _ = _dual({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "e"},
                       "spec": {"type": "ExternalName", "externalName": "example.com"}})
    assert not {"ipFamilies", "ipFamilyPolicy", "clusterIP", "clusterIPs"} & set(svc["spec"])


def test_both_cluster_ips_stay_across_syncs_and_a_record_from_before_dual_stack_keeps_its_ipv4():
    first, record = _dual(_svc("a", ipFamilyPolicy="PreferDualStack"), _svc("b"))
    again, record2 = _dual(_svc("b"), _svc("a", ipFamilyPolicy="PreferDualStack"), previous=record)
    assert {s["metadata"]["name"]: s["spec"]["clusterIPs"] for s in first} == \
           {s["metadata"]["name"]: s["spec"]["clusterIPs"] for s in again}
    assert record == record2
    old = {"default/a": {"nodePorts": {}, "clusterIP": "10.96.0.77"}}
    (upgraded,), _ = _dual(_svc("a", ipFamilyPolicy="PreferDualStack"), previous=old)
    assert upgraded["spec"]["clusterIPs"][0] == "10.96.0.77" and _families(upgraded)[2] == [4, 6]


def test_a_running_services_ipv6_cluster_ip_is_not_given_to_a_new_one():
    (svc,), record = _dual(_svc("a", ipFamilyPolicy="PreferDualStack"))
    held = svc["spec"]["clusterIPs"][1]
    assert _refused(lambda *s: _dual(*s, previous=record), _svc("a", ipFamilyPolicy="PreferDualStack"),
                    _svc("b", ipFamilies=["IPv6"], clusterIP=held)) == [
        f'Service "default/b": spec.clusterIP: Invalid value: "{held}": provided IP is already allocated '
        "(to default/a)"]


# -- single-stack cluster -----------------------------------------------------------------------

def test_require_dual_stack_on_a_single_stack_cluster_is_refused_with_the_api_servers_message():
    assert _refused(_single, _svc("a", ipFamilyPolicy="RequireDualStack")) == [
        'Service "default/a": spec.ipFamilyPolicy: Invalid value: "RequireDualStack": this cluster is not '
        "configured for dual-stack services"]


def test_prefer_dual_stack_on_a_single_stack_cluster_gets_one_family():
    (svc,), record = _single(_svc("a", ipFamilyPolicy="PreferDualStack"))
    assert _families(svc) == ("PreferDualStack", ["IPv4"], [4])
    assert "clusterIPs" not in record["default/a"]


def test_an_ipv6_family_or_cluster_ip_on_a_single_stack_cluster_is_not_configured():
    assert _refused(_single, _svc("a", ipFamilies=["IPv6"])) == [
        'Service "default/a": spec.ipFamilies[0]: Invalid value: "IPv6": not configured on this cluster']
    assert _refused(_single, _svc("a", ipFamilyPolicy="PreferDualStack", clusterIPs=["10.96.0.50", "fd00::50"])) == [
        'Service "default/a": spec.clusterIPs[1]: Invalid value: []string{"10.96.0.50", "fd00::50"}: IPv6 is not '
        "configured on this cluster"]


def test_single_stack_defaults_are_what_they_were_before_dual_stack():
    for raw in (_svc("a"), _svc("h", clusterIP="None"), {**_svc("s", clusterIP="None"), "spec": {"clusterIP": "None"}}):
        spec = services.apply_defaults(raw)["spec"]
        assert (spec["ipFamilies"], spec["ipFamilyPolicy"]) == (["IPv4"], "SingleStack")
        assert list(spec)[-2:] == ["ipFamilies", "ipFamilyPolicy"]


# -- EndpointSlices per family ------------------------------------------------------------------

def _pod(name, ip, ip6=None, node="node1"):
    pod = {"name": name, "namespace": "default", "labels": {"app": "web"}, "ip": ip, "node": node,
           "ready": True, "container_ports": [("http", 8080, "TCP")]}
    return {**pod, "ip6": ip6} if ip6 else pod


PODS = [_pod("a", "10.244.1.2", "fd00:10:244:1::2"), _pod("b", "10.244.2.2", "fd00:10:244:2::2", node="node2"),
        _pod("old", "10.244.1.3")]


def _addresses(slice_):
    return [e["addresses"][0] for e in slice_["endpoints"]]


def test_a_dual_stack_service_gets_an_ipv4_and_an_ipv6_slice_of_each_pods_address_of_that_family():
    (svc,), _ = _dual(_svc("web", ipFamilyPolicy="PreferDualStack"))
    v4, v6 = services.endpoint_slices(svc, PODS)
    assert (v4["addressType"], _addresses(v4)) == ("IPv4", ["10.244.1.2", "10.244.2.2", "10.244.1.3"])
    assert (v6["addressType"], _addresses(v6)) == ("IPv6", ["fd00:10:244:1::2", "fd00:10:244:2::2"])
    assert v4["metadata"]["name"] != v6["metadata"]["name"]
    assert all(s["metadata"]["labels"]["kubernetes.io/service-name"] == "web" for s in (v4, v6))
    assert [e["nodeName"] for e in v6["endpoints"]] == ["node1", "node2"]


def test_the_ipv4_slice_keeps_the_name_it_had_before_dual_stack():
    (single,), _ = _single(_svc("web"))
    (dual,), _ = _dual(_svc("web", ipFamilyPolicy="PreferDualStack"))
    assert services.endpoint_slices(dual, PODS)[0]["metadata"]["name"] == \
        services.endpoint_slices(single, PODS)[0]["metadata"]["name"]


def test_an_ipv6_service_gets_ipv6_slices_only_and_a_single_stack_one_ipv4_only():
    (v6_only, v4_only), _ = _dual(_svc("six", ipFamilies=["IPv6"]), _svc("four"))
    assert [s["addressType"] for s in services.endpoint_slices(v6_only, PODS)] == ["IPv6"]
    assert [s["addressType"] for s in services.endpoint_slices(v4_only, PODS)] == ["IPv4"]


def test_the_endpoints_object_holds_the_primary_family_alone():
    (v4_first, v6_first), _ = _dual(_svc("a", ipFamilyPolicy="PreferDualStack"),
                                    _svc("b", ipFamilyPolicy="PreferDualStack", ipFamilies=["IPv6"]))
    ips = {}
    for svc in (v4_first, v6_first):
        view = services.endpoints_view(svc, services.endpoint_slices(svc, PODS))
        ips[svc["metadata"]["name"]] = [a["ip"] for subset in view["subsets"] for a in subset["addresses"]]
    assert ips == {"a": ["10.244.1.2", "10.244.1.3", "10.244.2.2"], "b": ["fd00:10:244:1::2", "fd00:10:244:2::2"]}
