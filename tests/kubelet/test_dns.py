"""A pod's resolv.conf from its dnsPolicy and dnsConfig, as kubelet's GetPodDNS makes it."""

from netlab.kubelet.dns import ResolvConf, pod_resolv_conf

CLUSTER_DNS = "10.96.0.10"


def test_cluster_first_points_at_the_cluster_dns_with_the_namespaces_search_path():
    conf = pod_resolv_conf({}, "shop", CLUSTER_DNS)
    assert conf.render() == ("search shop.svc.cluster.local svc.cluster.local cluster.local\n"
                             "nameserver 10.96.0.10\n"
                             "options ndots:5\n")
    assert pod_resolv_conf({"dnsPolicy": "ClusterFirstWithHostNet"}, "shop", CLUSTER_DNS) == conf


def test_cluster_first_keeps_the_nodes_search_paths_after_the_clusters_but_not_its_servers():
    node = ResolvConf(["192.0.2.53"], ["corp.example", "svc.cluster.local"], ["rotate"])
    conf = pod_resolv_conf({}, "default", CLUSTER_DNS, node)
    assert conf.nameservers == [CLUSTER_DNS]
    assert conf.searches == ["default.svc.cluster.local", "svc.cluster.local", "cluster.local", "corp.example"]
    assert conf.options == ["ndots:5"]


def test_default_is_the_nodes_configuration_and_a_lab_node_has_none():
    node = ResolvConf(["192.0.2.53"], ["corp.example"], ["rotate"])
    assert pod_resolv_conf({"dnsPolicy": "Default"}, "default", CLUSTER_DNS, node) == node
    assert pod_resolv_conf({"dnsPolicy": "Default"}, "default", CLUSTER_DNS).render() == ""


def test_host_network_with_cluster_first_gets_the_nodes_configuration():
    node = ResolvConf(["192.0.2.53"])
    assert pod_resolv_conf({"hostNetwork": True}, "default", CLUSTER_DNS, node).nameservers == ["192.0.2.53"]
    assert pod_resolv_conf({"hostNetwork": True, "dnsPolicy": "ClusterFirstWithHostNet"}, "default",
                           CLUSTER_DNS, node).nameservers == [CLUSTER_DNS]


def test_none_is_dns_config_alone():
    spec = {"dnsPolicy": "None", "dnsConfig": {
        "nameservers": ["192.0.2.1"], "searches": ["ns1.svc.cluster-domain.example", "my.dns.search.suffix"],
        "options": [{"name": "ndots", "value": "2"}, {"name": "edns0"}]}}
    assert pod_resolv_conf(spec, "default", CLUSTER_DNS).render() == (
        "search ns1.svc.cluster-domain.example my.dns.search.suffix\n"
        "nameserver 192.0.2.1\n"
        "options ndots:2 edns0\n")


def test_dns_config_is_merged_on_top_dropping_repeats_and_replacing_options_by_name():
    spec = {"dnsConfig": {"nameservers": [CLUSTER_DNS, "192.0.2.1", "192.0.2.2", "192.0.2.3"],
                          "searches": ["cluster.local", "extra.example"],
                          "options": [{"name": "ndots", "value": "1"}, {"name": "single-request-reopen"}]}}
    conf = pod_resolv_conf(spec, "default", CLUSTER_DNS)
    assert conf.nameservers == [CLUSTER_DNS, "192.0.2.1", "192.0.2.2"]       # at most three, as kubelet keeps
    assert conf.searches == ["default.svc.cluster.local", "svc.cluster.local", "cluster.local", "extra.example"]
    assert conf.options == ["ndots:1", "single-request-reopen"]


def test_a_dns_config_the_api_server_would_refuse_is_refused_naming_the_field():
    import pytest
    from netlab.manifest import ManifestError, loads

    pod = "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n%s  containers: [{name: c, image: debian}]\n"
    with pytest.raises(ManifestError, match=r"spec\.dnsConfig: Required value: must provide `dnsConfig` when "
                                            r"`dnsPolicy` is None"):
        loads(pod % "  dnsPolicy: None\n")
    with pytest.raises(ManifestError, match=r"spec\.dnsConfig\.nameservers: Required value"):
        loads(pod % "  dnsPolicy: None\n  dnsConfig: {searches: [a.example]}\n")
    with pytest.raises(ManifestError) as err:
        loads(pod % "  dnsConfig: {nameservers: [192.0.2.1, 192.0.2.2, 192.0.2.3, 192.0.2.4], "
                    "searches: [Bad_Name], options: [{value: x}]}\n")
    text = str(err.value)
    assert "spec.dnsConfig.nameservers: must not have more than 3 nameservers" in text
    assert 'spec.dnsConfig.searches[0]: invalid search path "Bad_Name"' in text
    assert "spec.dnsConfig.options[0].name: Required value: must not be empty" in text
    loads(pod % "  dnsPolicy: None\n  dnsConfig: {nameservers: [192.0.2.1], searches: [corp.example.]}\n")
