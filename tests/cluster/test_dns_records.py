"""The cluster's DNS records, as CoreDNS's kubernetes plugin serves them (netlab/cluster/dnsrecords.py)."""

from netlab.cluster import dnsrecords
from netlab.cluster.services import endpoint_slices


def _service(name, namespace="default", cluster_ip="10.96.0.20", ports=None, selector=None, **spec):
    body = {"clusterIP": cluster_ip, "ports": ports if ports is not None else
            [{"name": "http", "port": 80, "protocol": "TCP", "targetPort": 8080}],
            "selector": selector or {"app": name}}
    body.update(spec)
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": namespace}, "spec": body}


def _pod(name, ip, app="web", namespace="default", ready=True, **extra):
    pod = {"name": name, "namespace": namespace, "labels": {"app": app}, "ip": ip, "node": "node1",
           "ready": ready, "container_ports": [("http", 8080, "TCP")]}
    pod.update(extra)
    return pod


def _records(services, pods, dns_ip="10.96.0.10"):
    slices = [s for service in services for s in endpoint_slices(service, pods)]
    return dnsrecords.records(services, slices, pods, dns_ip)


def _at(lines, name, kind=None):
    return sorted(line.split(" ", 4)[4] for line in lines
                  if line.split(" ")[0] == name and (kind is None or line.split(" ")[3] == kind))


def test_a_cluster_ip_service_name_answers_its_cluster_ip_and_its_ip_points_back():
    lines = _records([_service("web")], [_pod("web-1", "10.244.1.5")])
    assert _at(lines, "web.default.svc.cluster.local.", "A") == ["10.96.0.20"]
    assert _at(lines, "20.0.96.10.in-addr.arpa.", "PTR") == ["web.default.svc.cluster.local."]


def test_srv_records_name_the_port_and_protocol_and_point_at_the_service():
    ports = [{"name": "http", "port": 80, "protocol": "TCP"}, {"name": "dns", "port": 53, "protocol": "UDP"}]
    lines = _records([_service("web", ports=ports)], [])
    assert _at(lines, "_http._tcp.web.default.svc.cluster.local.") == ["0 100 80 web.default.svc.cluster.local."]
    assert _at(lines, "_dns._udp.web.default.svc.cluster.local.") == ["0 100 53 web.default.svc.cluster.local."]
    # the bare name holds every port, the weight split between them as CoreDNS does
    assert _at(lines, "web.default.svc.cluster.local.", "SRV") == [
        "0 50 53 web.default.svc.cluster.local.", "0 50 80 web.default.svc.cluster.local."]


def test_an_unnamed_port_has_no_port_named_srv_record():
    lines = _records([_service("web", ports=[{"port": 80, "protocol": "TCP"}])], [])
    assert not [line for line in lines if line.startswith("_")]


def test_a_headless_service_answers_each_ready_endpoint_and_leaves_out_the_unready():
    service = _service("db", cluster_ip="None", selector={"app": "db"})
    pods = [_pod("db-0", "10.244.1.7", app="db"), _pod("db-1", "10.244.2.7", app="db"),
            _pod("db-2", "10.244.2.8", app="db", ready=False)]
    lines = _records([service], pods)
    assert _at(lines, "db.default.svc.cluster.local.", "A") == ["10.244.1.7", "10.244.2.7"]
    assert _at(lines, "10-244-1-7.db.default.svc.cluster.local.", "A") == ["10.244.1.7"]
    # SRV per endpoint, on the endpoint's (target) port, at the endpoint's own name
    assert _at(lines, "_http._tcp.db.default.svc.cluster.local.") == [
        "0 50 8080 10-244-1-7.db.default.svc.cluster.local.", "0 50 8080 10-244-2-7.db.default.svc.cluster.local."]
    assert _at(lines, "7.1.244.10.in-addr.arpa.", "PTR") == ["10-244-1-7.db.default.svc.cluster.local."]
    assert _at(lines, "10-244-2-8.db.default.svc.cluster.local.") == []


def test_a_pod_with_hostname_and_subdomain_gets_its_name_under_the_headless_service():
    service = _service("db", cluster_ip="None", selector={"app": "db"})
    pods = [_pod("db-0", "10.244.1.7", app="db", hostname="primary", subdomain="db"),
            _pod("db-1", "10.244.2.7", app="db", hostname="replica", subdomain="other")]
    lines = _records([service], pods)
    assert _at(lines, "primary.db.default.svc.cluster.local.", "A") == ["10.244.1.7"]
    assert _at(lines, "7.1.244.10.in-addr.arpa.", "PTR") == ["primary.db.default.svc.cluster.local."]
    # a subdomain naming another Service gives no hostname here: the address with dashes
    assert _at(lines, "10-244-2-7.db.default.svc.cluster.local.", "A") == ["10.244.2.7"]


def test_an_external_name_service_is_a_cname_to_its_external_name():
    service = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "search", "namespace": "shop"},
               "spec": {"type": "ExternalName", "externalName": "www.example.com"}}
    lines = dnsrecords.records([service], [], [], None)
    assert _at(lines, "search.shop.svc.cluster.local.") == ["www.example.com."]
    assert _at(lines, "search.shop.svc.cluster.local.", "CNAME") == ["www.example.com."]


def test_every_pod_has_a_dashed_record_in_its_namespace_and_a_ptr_when_no_service_names_it():
    lines = _records([_service("web")], [_pod("web-1", "10.244.1.5"), _pod("loner", "10.244.2.9", app="none")])
    assert _at(lines, "10-244-2-9.default.pod.cluster.local.", "A") == ["10.244.2.9"]
    assert _at(lines, "9.2.244.10.in-addr.arpa.", "PTR") == ["10-244-2-9.default.pod.cluster.local."]
    # an endpoint's address points at its name under the Service instead
    assert _at(lines, "5.1.244.10.in-addr.arpa.", "PTR") == ["10-244-1-5.web.default.svc.cluster.local."]


def test_the_zone_has_its_soa_ns_and_schema_version():
    lines = dnsrecords.records([], [], [], "10.96.0.10")
    assert _at(lines, "cluster.local.", "NS") == ["ns.dns.cluster.local."]
    assert _at(lines, "ns.dns.cluster.local.", "A") == ["10.96.0.10"]
    assert _at(lines, "dns-version.cluster.local.", "TXT") == ['"1.1.0"']
    assert _at(lines, "cluster.local.", "SOA")[0].startswith("ns.dns.cluster.local. hostmaster.cluster.local. ")


def test_records_are_lines_unbound_local_data_takes():
    lines = _records([_service("web")], [_pod("web-1", "10.244.1.5")])
    assert lines == sorted(set(lines))
    for line in lines:
        name, ttl, klass, kind, data = line.split(" ", 4)
        assert name.endswith(".") and ttl == "30" and klass == "IN" and data


def test_changes_reload_each_changed_name_whole_and_remove_the_gone():
    before = ["a.x. 30 IN A 10.0.0.1", "a.x. 30 IN A 10.0.0.2", "b.x. 30 IN A 10.0.0.3", "c.x. 30 IN A 10.0.0.4"]
    after = ["a.x. 30 IN A 10.0.0.1", "b.x. 30 IN A 10.0.0.3", "d.x. 30 IN A 10.0.0.5"]
    remove, add = dnsrecords.changes(before, after)
    assert remove == ["a.x.", "c.x."]
    assert add == ["a.x. 30 IN A 10.0.0.1", "d.x. 30 IN A 10.0.0.5"]
    assert dnsrecords.changes(after, after) == ([], [])


def test_a_dual_stack_service_name_answers_a_and_aaaa_and_each_cluster_ip_points_back():
    service = _service("web", clusterIPs=["10.96.0.20", "fd00:10:96::20"], ipFamilies=["IPv4", "IPv6"],
                       ipFamilyPolicy="PreferDualStack")
    lines = _records([service], [_pod("web-1", "10.244.1.5", ip6="fd00:10:244:1::5")])
    assert _at(lines, "web.default.svc.cluster.local.", "A") == ["10.96.0.20"]
    assert _at(lines, "web.default.svc.cluster.local.", "AAAA") == ["fd00:10:96::20"]
    assert _at(lines, "0.2.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.6.9.0.0.0.1.0.0.0.0.d.f.ip6.arpa.", "PTR") == [
        "web.default.svc.cluster.local."]
    assert _at(lines, "_http._tcp.web.default.svc.cluster.local.") == ["0 100 80 web.default.svc.cluster.local."]


def test_a_headless_services_ipv6_endpoints_answer_aaaa_under_their_dashed_compressed_address():
    service = _service("db", cluster_ip="None", selector={"app": "db"}, ipFamilies=["IPv4", "IPv6"],
                       ipFamilyPolicy="PreferDualStack")
    lines = _records([service], [_pod("db-0", "10.244.1.7", app="db", ip6="fd00:10:244:1::7")])
    assert _at(lines, "db.default.svc.cluster.local.", "AAAA") == ["fd00:10:244:1::7"]
    # CoreDNS's endpointHostname: the address as the API writes it, colons as dashes
    assert _at(lines, "fd00-10-244-1--7.db.default.svc.cluster.local.", "AAAA") == ["fd00:10:244:1::7"]
    assert _at(lines, "10-244-1-7.db.default.svc.cluster.local.", "A") == ["10.244.1.7"]


def test_a_pod_with_a_hostname_gets_both_addresses_at_its_name_under_the_headless_service():
    service = _service("db", cluster_ip="None", selector={"app": "db"}, ipFamilies=["IPv4", "IPv6"])
    lines = _records([service], [_pod("db-0", "10.244.1.7", app="db", ip6="fd00:10:244:1::7", hostname="primary",
                                      subdomain="db")])
    assert _at(lines, "primary.db.default.svc.cluster.local.") == ["10.244.1.7", "fd00:10:244:1::7"]


def test_a_dual_stack_pods_ipv6_address_has_no_pod_record_for_coredns_indexes_status_pod_ip_alone():
    lines = _records([], [_pod("loner", "10.244.2.9", ip6="fd00:10:244:2::9")])
    assert _at(lines, "10-244-2-9.default.pod.cluster.local.", "A") == ["10.244.2.9"]
    assert [line for line in lines if "fd00" in line or "AAAA" in line] == []


def test_an_ipv6_address_ending_in_a_run_of_zeros_gets_a_trailing_zero_label():
    assert dnsrecords._dashed("fd00:10:244:1::") == "fd00-10-244-1--0"
    assert dnsrecords._dashed("10.244.1.5") == "10-244-1-5"
