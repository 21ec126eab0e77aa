"""`netlab get` tables, column for column as kubectl's (k8s.io/kubernetes
pkg/printers/internalversion/printers.go: each kind's TableColumnDefinitions and print<Kind>
function; -o wide adds the columns marked Priority 1). netlab adds one column of its own, NETNS,
at the end of nodes' and pods' wide tables."""

import time

from netlab import output, printers, views



def _five_minutes_ago() -> str:
    # taken when each object is made: a module-level time would age while the suite runs
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 300))


def _meta(name, namespace="default", **extra):
    return {"name": name, "namespace": namespace, "creationTimestamp": _five_minutes_ago(), **extra}


def _table(kind, objects, wide=False, all_namespaces=False):
    return output.table(*printers.table_rows(kind, objects, wide=wide, all_namespaces=all_namespaces))


def _service(name, type_, cluster_ip, ports, **spec):
    return {"kind": "Service", "metadata": _meta(name),
            "spec": {"type": type_, "clusterIP": cluster_ip, "ports": ports, **spec}}


def test_services_print_type_cluster_ip_external_ip_ports_and_selector_wide():
    # printService: NAME TYPE CLUSTER-IP EXTERNAL-IP PORT(S) AGE, wide SELECTOR
    services = [
        _service("web", "ClusterIP", "10.96.12.7", [{"port": 80, "protocol": "TCP"}], selector={"app": "web"}),
        _service("np", "NodePort", "10.96.3.3", [{"port": 80, "nodePort": 30080, "protocol": "TCP"},
                                                 {"port": 53, "nodePort": 30053, "protocol": "UDP"}]),
        _service("db", "ClusterIP", "None", [{"port": 5432, "protocol": "TCP"}], selector={"app": "db"}),
        _service("ext", "ExternalName", None, [], externalName="example.com"),
    ]
    assert _table("Service", services, wide=True) == "\n".join([
        "NAME   TYPE           CLUSTER-IP   EXTERNAL-IP   PORT(S)                     AGE   SELECTOR",
        "web    ClusterIP      10.96.12.7   <none>        80/TCP                      5m    app=web",
        "np     NodePort       10.96.3.3    <none>        80:30080/TCP,53:30053/UDP   5m    <none>",
        "db     ClusterIP      None         <none>        5432/TCP                    5m    app=db",
        "ext    ExternalName   <none>       example.com   <none>                      5m    <none>",
    ])


def test_deployments_and_replicasets_print_their_counts_and_wide_their_containers():
    # printDeployment: NAME READY UP-TO-DATE AVAILABLE AGE, wide CONTAINERS IMAGES SELECTOR;
    # printReplicaSet: NAME DESIRED CURRENT READY AGE, wide the same three
    template = {"spec": {"containers": [{"name": "nginx", "image": "nginx:1.25"}]}}
    deploy = {"kind": "Deployment", "metadata": _meta("web"),
              "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "web"}}, "template": template},
              "status": {"readyReplicas": 2, "updatedReplicas": 3, "availableReplicas": 2}}
    rs = {"kind": "ReplicaSet", "metadata": _meta("web-5d4f8"),
          "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "web", "pod-template-hash": "5d4f8"}},
                   "template": template},
          "status": {"replicas": 3, "readyReplicas": 2}}
    assert _table("Deployment", [deploy], wide=True) == "\n".join([
        "NAME   READY   UP-TO-DATE   AVAILABLE   AGE   CONTAINERS   IMAGES       SELECTOR",
        "web    2/3     3            2           5m    nginx        nginx:1.25   app=web"])
    assert _table("ReplicaSet", [rs], all_namespaces=True) == "\n".join([
        "NAMESPACE   NAME        DESIRED   CURRENT   READY   AGE",
        "default     web-5d4f8   3         3         2       5m"])


def test_endpoints_and_endpointslices_print_their_addresses():
    # printEndpoints: NAME ENDPOINTS AGE; printEndpointSlice: NAME ADDRESSTYPE PORTS ENDPOINTS AGE
    endpoints = {"kind": "Endpoints", "metadata": _meta("web"),
                 "subsets": [{"addresses": [{"ip": "10.244.1.3"}, {"ip": "10.244.2.4"}], "ports": [{"port": 80}]}]}
    slice_ = {"kind": "EndpointSlice", "metadata": _meta("web-x7k2p"), "addressType": "IPv4",
              "ports": [{"port": 80, "protocol": "TCP"}],
              "endpoints": [{"addresses": ["10.244.1.3"]}, {"addresses": ["10.244.2.4"]}]}
    assert _table("Endpoints", [endpoints]) == "NAME   ENDPOINTS                     AGE\n" \
                                               "web    10.244.1.3:80,10.244.2.4:80   5m"
    assert _table("EndpointSlice", [slice_]) == "NAME        ADDRESSTYPE   PORTS   ENDPOINTS               AGE\n" \
                                                "web-x7k2p   IPv4          80      10.244.1.3,10.244.2.4   5m"


def test_namespaces_configmaps_and_secrets():
    # printNamespace: NAME STATUS AGE; printConfigMap: NAME DATA AGE; printSecret: NAME TYPE DATA AGE
    namespace = {"kind": "Namespace", "metadata": _meta("shop", namespace=None), "status": {"phase": "Active"}}
    configmap = {"kind": "ConfigMap", "metadata": _meta("settings"), "data": {"a": "1", "b": "2"}}
    secret = {"kind": "Secret", "metadata": _meta("token"), "type": "Opaque", "data": {"t": "eA=="}}
    assert _table("Namespace", [namespace]) == "NAME   STATUS   AGE\nshop   Active   5m"
    assert _table("ConfigMap", [configmap]) == "NAME       DATA   AGE\nsettings   2      5m"
    assert _table("Secret", [secret]) == "NAME    TYPE     DATA   AGE\ntoken   Opaque   1      5m"


def test_nodes_print_roles_and_version_and_wide_their_node_info():
    # printNode: NAME STATUS ROLES AGE VERSION, wide INTERNAL-IP EXTERNAL-IP OS-IMAGE KERNEL-VERSION
    # CONTAINER-RUNTIME (then netlab's NETNS)
    node = {"kind": "Node", "metadata": {"name": "node1", "creationTimestamp": _five_minutes_ago(),
                                         "labels": {"node-role.kubernetes.io/control-plane": ""},
                                         "annotations": {views.NETNS_ANNOTATION: "lab-node1"}},
            "spec": {"podCIDR": "10.244.1.0/24"},
            "status": {"addresses": [{"type": "InternalIP", "address": "172.18.0.2"}],
                       "nodeInfo": {"kubeletVersion": "netlab", "osImage": "netlab namespace",
                                    "kernelVersion": "6.8.0", "containerRuntimeVersion": "netlab://processes"}}}
    assert _table("Node", [node], wide=True) == "\n".join([
        "NAME    STATUS   ROLES           AGE   VERSION   INTERNAL-IP   EXTERNAL-IP   OS-IMAGE           "
        "KERNEL-VERSION   CONTAINER-RUNTIME    NETNS",
        "node1   Ready    control-plane   5m    netlab    172.18.0.2    <none>        netlab namespace   "
        "6.8.0            netlab://processes   lab-node1"])
