"""Service environment variables, as kubelet's envvars.FromServices and getServiceEnvVarMap set them."""

from netlab.kubelet.envvars import from_services, service_env


def _svc(name, ip, ports, namespace="default"):
    return {"metadata": {"name": name, "namespace": namespace}, "spec": {"clusterIP": ip, "ports": ports}}


def test_from_services_matches_upstreams_expectations():
    # the Services of upstream's TestFromServices (pkg/kubelet/envvars/envvars_test.go)
    services = [
        _svc("foo-bar", "1.2.3.4", [{"port": 8080, "protocol": "TCP"}]),
        _svc("abc-123", "5.6.7.8", [{"name": "u-d-p", "port": 8081, "protocol": "UDP"},
                                    {"name": "t-c-p", "port": 8081, "protocol": "TCP"}]),
        _svc("q-u-u-x", "9.8.7.6", [{"port": 8082, "protocol": "TCP"}, {"name": "8083", "port": 8083, "protocol": "TCP"}]),
        _svc("svrc-clusterip-none", "None", [{"port": 8082, "protocol": "TCP"}]),
        _svc("svrc-clusterip-empty", "", [{"port": 8082, "protocol": "TCP"}]),
    ]
    assert list(from_services(services).items()) == [
        ("FOO_BAR_SERVICE_HOST", "1.2.3.4"),
        ("FOO_BAR_SERVICE_PORT", "8080"),
        ("FOO_BAR_PORT", "tcp://1.2.3.4:8080"),
        ("FOO_BAR_PORT_8080_TCP", "tcp://1.2.3.4:8080"),
        ("FOO_BAR_PORT_8080_TCP_PROTO", "tcp"),
        ("FOO_BAR_PORT_8080_TCP_PORT", "8080"),
        ("FOO_BAR_PORT_8080_TCP_ADDR", "1.2.3.4"),
        ("ABC_123_SERVICE_HOST", "5.6.7.8"),
        ("ABC_123_SERVICE_PORT", "8081"),
        ("ABC_123_SERVICE_PORT_U_D_P", "8081"),
        ("ABC_123_SERVICE_PORT_T_C_P", "8081"),
        ("ABC_123_PORT", "udp://5.6.7.8:8081"),
        ("ABC_123_PORT_8081_UDP", "udp://5.6.7.8:8081"),
        ("ABC_123_PORT_8081_UDP_PROTO", "udp"),
        ("ABC_123_PORT_8081_UDP_PORT", "8081"),
        ("ABC_123_PORT_8081_UDP_ADDR", "5.6.7.8"),
        ("ABC_123_PORT_8081_TCP", "tcp://5.6.7.8:8081"),
        ("ABC_123_PORT_8081_TCP_PROTO", "tcp"),
        ("ABC_123_PORT_8081_TCP_PORT", "8081"),
        ("ABC_123_PORT_8081_TCP_ADDR", "5.6.7.8"),
        ("Q_U_U_X_SERVICE_HOST", "9.8.7.6"),
        ("Q_U_U_X_SERVICE_PORT", "8082"),
        ("Q_U_U_X_SERVICE_PORT_8083", "8083"),
        ("Q_U_U_X_PORT", "tcp://9.8.7.6:8082"),
        ("Q_U_U_X_PORT_8082_TCP", "tcp://9.8.7.6:8082"),
        ("Q_U_U_X_PORT_8082_TCP_PROTO", "tcp"),
        ("Q_U_U_X_PORT_8082_TCP_PORT", "8082"),
        ("Q_U_U_X_PORT_8082_TCP_ADDR", "9.8.7.6"),
        ("Q_U_U_X_PORT_8083_TCP", "tcp://9.8.7.6:8083"),
        ("Q_U_U_X_PORT_8083_TCP_PROTO", "tcp"),
        ("Q_U_U_X_PORT_8083_TCP_PORT", "8083"),
        ("Q_U_U_X_PORT_8083_TCP_ADDR", "9.8.7.6"),
    ]


def test_a_pod_sees_its_namespaces_services_and_the_master_service_only():
    services = [
        _svc("kubernetes", "10.96.0.1", [{"name": "https", "port": 443, "protocol": "TCP"}]),
        _svc("web", "10.96.0.20", [{"port": 80}]),
        _svc("db", "10.96.0.30", [{"port": 5432}], namespace="data"),
        _svc("headless", "None", [{"port": 80}]),
        {"metadata": {"name": "outside", "namespace": "default"}, "spec": {"type": "ExternalName",
                                                                           "externalName": "example.com"}},
    ]
    in_default = service_env(services, "default")
    assert {k for k in in_default if k.endswith("_SERVICE_HOST")} == {"KUBERNETES_SERVICE_HOST", "WEB_SERVICE_HOST"}
    assert in_default["KUBERNETES_SERVICE_PORT_HTTPS"] == "443"
    assert in_default["WEB_PORT"] == "tcp://10.96.0.20:80"       # a port without protocol is TCP
    in_data = service_env(services, "data")
    assert {k for k in in_data if k.endswith("_SERVICE_HOST")} == {"KUBERNETES_SERVICE_HOST", "DB_SERVICE_HOST"}
    # enableServiceLinks: false keeps the master Service only
    assert {k for k in service_env(services, "default", False) if k.endswith("_SERVICE_HOST")} == {
        "KUBERNETES_SERVICE_HOST"}


def test_a_service_of_the_pods_namespace_shadows_the_master_service_of_its_name():
    services = [_svc("kubernetes", "10.96.0.9", [{"port": 8443}], namespace="team"),
                _svc("kubernetes", "10.96.0.1", [{"port": 443}])]
    assert service_env(services, "team")["KUBERNETES_SERVICE_HOST"] == "10.96.0.9"
    assert service_env(services, "other")["KUBERNETES_SERVICE_HOST"] == "10.96.0.1"


def test_the_containers_own_env_wins_and_may_name_service_variables():
    from netlab.cluster import downward
    from netlab.cluster.controllers import PodInstance
    from netlab.manifest import loads

    pod_obj, = loads("""\
apiVersion: v1
kind: Pod
metadata: {name: p}
spec:
  containers:
  - name: c
    image: debian
    env:
    - {name: WEB_SERVICE_PORT, value: "9999"}
    - {name: BACKEND, value: "http://$(WEB_SERVICE_HOST):$(WEB_SERVICE_PORT)/"}
""").pods
    pod = PodInstance(namespace="default", name="p", uid="u", node="node1", ip="10.244.1.2", source=pod_obj.key,
                      labels={}, spec_hash="h")
    env = downward.container_env(pod_obj.spec.containers[0], pod, None, [],
                                 service_env=service_env([_svc("web", "10.96.0.20", [{"port": 80}])], "default"))
    assert env["WEB_SERVICE_PORT"] == "9999"
    assert env["BACKEND"] == "http://10.96.0.20:9999/"
    assert env["WEB_SERVICE_HOST"] == "10.96.0.20"
    assert list(env)[:2] == ["WEB_SERVICE_PORT", "BACKEND"]     # the container's own first, as kubelet lists them
