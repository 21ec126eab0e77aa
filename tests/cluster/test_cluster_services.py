"""Service defaults and allocation (the API server's part) and EndpointSlices (the controller's)."""

import pytest

from netlab.cluster import services

CIDR = "10.96.0.0/12"
RANGE = (30000, 32767)


def _svc(name, **spec):
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name},
            "spec": {"selector": {"app": name}, "ports": [{"port": 80}], **spec}}


def test_defaults_are_the_api_servers():
    (svc,), _ = services.allocate([_svc("a", type="NodePort", sessionAffinity="ClientIP")], {}, CIDR, RANGE)
    spec = svc["spec"]
    assert spec["ports"][0] == {"port": 80, "protocol": "TCP", "targetPort": 80, "nodePort": spec["ports"][0]["nodePort"]}
    assert spec["externalTrafficPolicy"] == "Cluster" and spec["internalTrafficPolicy"] == "Cluster"
    assert spec["sessionAffinityConfig"] == {"clientIP": {"timeoutSeconds": 10800}}
    assert 30000 <= spec["ports"][0]["nodePort"] <= 32767
    assert spec["clusterIP"].startswith("10.")


def test_allocations_are_kept_across_applies():
    first, record = services.allocate([_svc("a", type="NodePort"), _svc("b")], {}, CIDR, RANGE)
    again, record2 = services.allocate([_svc("b"), _svc("a", type="NodePort")], record, CIDR, RANGE)
    assert {s["metadata"]["name"]: s["spec"]["clusterIP"] for s in first} == \
           {s["metadata"]["name"]: s["spec"]["clusterIP"] for s in again}
    assert record == record2


def test_a_given_cluster_ip_outside_the_range_or_taken_is_refused():
    with pytest.raises(services.ServiceError, match="not in the valid range"):
        services.allocate([_svc("a", clusterIP="192.168.0.1")], {}, CIDR, RANGE)
    with pytest.raises(services.ServiceError, match="already allocated"):
        services.allocate([_svc("a", clusterIP="10.96.0.50"), _svc("b", clusterIP="10.96.0.50")], {}, CIDR, RANGE)


def test_a_given_node_port_outside_the_range_or_taken_is_refused():
    def node_port(name, port):
        return _svc(name, type="NodePort", ports=[{"port": 80, "nodePort": port}])
    with pytest.raises(services.ServiceError, match=r"spec.ports\[0\].nodePort.*valid range"):
        services.allocate([node_port("a", 8080)], {}, CIDR, RANGE)
    with pytest.raises(services.ServiceError, match="already allocated"):
        services.allocate([node_port("a", 30080), node_port("b", 30080)], {}, CIDR, RANGE)


def test_headless_and_external_name_services_get_no_cluster_ip():
    (headless, ext), _ = services.allocate(
        [_svc("h", clusterIP="None"), {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "e"},
                                        "spec": {"type": "ExternalName", "externalName": "example.com"}}],
        {}, CIDR, RANGE)
    assert headless["spec"]["clusterIP"] == "None"
    assert "clusterIP" not in ext["spec"]


def test_load_balancer_with_local_policy_gets_a_health_check_node_port():
    (svc,), _ = services.allocate([_svc("lb", type="LoadBalancer", externalTrafficPolicy="Local")], {}, CIDR, RANGE)
    assert 30000 <= svc["spec"]["healthCheckNodePort"] <= 32767
    assert svc["spec"]["healthCheckNodePort"] != svc["spec"]["ports"][0]["nodePort"]


def _pod(name, ip, node, port_name="http", port=8080, ready=True, app="web"):
    return {"name": name, "namespace": "default", "labels": {"app": app}, "ip": ip, "node": node,
            "ready": ready, "container_ports": [(port_name, port, "TCP")]}


def test_slices_follow_selected_pods_and_resolve_named_target_ports_per_pod():
    (svc,), _ = services.allocate([_svc("web", ports=[{"name": "http", "port": 80, "targetPort": "http"}])],
                                  {}, CIDR, RANGE)
    pods = [_pod("a", "10.244.1.2", "node1"), _pod("b", "10.244.2.2", "node2", port=9090),
            _pod("c", "10.244.1.3", "node1", app="other"), _pod("d", "10.244.2.3", "node2", ready=False)]
    slices = services.endpoint_slices(svc, pods)
    assert sorted((s["ports"][0]["port"], [e["addresses"][0] for e in s["endpoints"]]) for s in slices) == [
        (8080, ["10.244.1.2", "10.244.2.3"]), (9090, ["10.244.2.2"])]
    assert all(s["metadata"]["labels"]["kubernetes.io/service-name"] == "web" for s in slices)
    view = services.endpoints_view(svc, slices)
    ready = [a["ip"] for subset in view["subsets"] for a in subset.get("addresses", [])]
    assert sorted(ready) == ["10.244.1.2", "10.244.2.2"]


def test_a_selector_matching_nothing_gives_no_endpoints():
    (svc,), _ = services.allocate([_svc("none")], {}, CIDR, RANGE)
    assert services.endpoint_slices(svc, [_pod("a", "10.244.1.2", "node1")]) == []
    assert "subsets" not in services.endpoints_view(svc, [])


POOL = ("172.18.255.200", "172.18.255.201")


def _lb(name, **spec):
    return _svc(name, type="LoadBalancer", **spec)


def test_load_balancers_get_ingress_ips_from_the_pool_until_it_runs_out():
    ready, record = services.allocate([_lb("a"), _lb("b"), _lb("c")], {}, CIDR, RANGE, lb_pool=POOL)
    ingress = [((s.get("status") or {}).get("loadBalancer") or {}).get("ingress") for s in ready]
    assert ingress[:2] == [[{"ip": "172.18.255.200", "ipMode": "VIP"}], [{"ip": "172.18.255.201", "ipMode": "VIP"}]]
    assert ingress[2] is None                                # <pending>
    again, _ = services.allocate([_lb("c"), _lb("b"), _lb("a")], record, CIDR, RANGE, lb_pool=POOL)
    assert [s["status"]["loadBalancer"]["ingress"][0]["ip"] for s in again if s.get("status")] == \
        ["172.18.255.201", "172.18.255.200"]


def test_a_requested_load_balancer_ip_is_honoured_and_a_foreign_class_is_left_alone():
    ready, _ = services.allocate([_lb("a", loadBalancerIP="172.18.255.201"), _lb("b"),
                                  _lb("c", loadBalancerClass="example.com/other")], {}, CIDR, RANGE, lb_pool=POOL)
    assert ready[0]["status"]["loadBalancer"]["ingress"][0]["ip"] == "172.18.255.201"
    assert ready[1]["status"]["loadBalancer"]["ingress"][0]["ip"] == "172.18.255.200"
    assert "status" not in ready[2]


def test_a_new_service_asking_for_a_running_ones_allocated_ip_or_port_is_refused_not_obeyed():
    (running,), record = services.allocate([_svc("a", type="NodePort")], {}, CIDR, RANGE)
    ip, port = running["spec"]["clusterIP"], running["spec"]["ports"][0]["nodePort"]
    with pytest.raises(services.ServiceError, match=rf'"default/b": spec.clusterIP: .*"{ip}": provided IP is '
                                                    r"already allocated \(to default/a\)"):
        services.allocate([_svc("a", type="NodePort"), _svc("b", clusterIP=ip)], record, CIDR, RANGE)
    with pytest.raises(services.ServiceError, match=rf"spec.ports\[0\].nodePort: Invalid value: {port}: "
                                                    r"provided port is already allocated \(to default/a\)"):
        services.allocate([_svc("a", type="NodePort"),
                           _svc("b", type="NodePort", ports=[{"port": 80, "nodePort": port}])], record, CIDR, RANGE)
    again, _ = services.allocate([_svc("a", type="NodePort")], record, CIDR, RANGE)
    assert again[0]["spec"]["clusterIP"] == ip                         # the running one keeps its own


def test_one_node_port_twice_in_a_service_is_a_duplicate():
    ports = [{"name": "x", "port": 80, "nodePort": 30100}, {"name": "y", "port": 81, "nodePort": 30100}]
    with pytest.raises(services.ServiceError, match=r"spec.ports\[1\].nodePort: Duplicate value: 30100"):
        services.allocate([_svc("a", type="NodePort", ports=ports)], {}, CIDR, RANGE)


def _with_uid(service: dict, uid: str) -> dict:
    service["metadata"]["uid"] = uid
    return service


def test_a_service_deleted_and_created_again_gets_a_fresh_cluster_ip_and_node_port():
    # the API server's allocators pick at random: a new object of the same name is a new draw
    (first,), record = services.allocate([_with_uid(_svc("a", type="NodePort"), "uid-1")], {}, CIDR, RANGE)
    (kept,), _ = services.allocate([_with_uid(_svc("a", type="NodePort"), "uid-1")], record, CIDR, RANGE)
    (again,), _ = services.allocate([_with_uid(_svc("a", type="NodePort"), "uid-2")], {}, CIDR, RANGE)
    assert kept["spec"]["clusterIP"] == first["spec"]["clusterIP"]
    assert again["spec"]["clusterIP"] != first["spec"]["clusterIP"]
    assert again["spec"]["ports"][0]["nodePort"] != first["spec"]["ports"][0]["nodePort"]


def test_a_new_object_of_a_held_name_does_not_inherit_its_predecessors_allocation():
    (first,), record = services.allocate([_with_uid(_svc("a", type="NodePort"), "uid-1")], {}, CIDR, RANGE)
    (replaced,), _ = services.allocate([_with_uid(_svc("a", type="NodePort"), "uid-2")], record, CIDR, RANGE)
    (fresh,), _ = services.allocate([_with_uid(_svc("a", type="NodePort"), "uid-2")], {}, CIDR, RANGE)
    assert replaced["spec"]["clusterIP"] == fresh["spec"]["clusterIP"] != first["spec"]["clusterIP"]


def test_allocations_repeat_for_the_same_uids():
    # a store seeded for tests hands out the same uids, so the same lab gets the same addresses
    one, _ = services.allocate([_with_uid(_svc("a", type="NodePort"), "u")], {}, CIDR, RANGE)
    two, _ = services.allocate([_with_uid(_svc("a", type="NodePort"), "u")], {}, CIDR, RANGE)
    assert one == two
