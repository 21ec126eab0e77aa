"""`netlab describe` for Endpoints, EndpointSlices, Nodes, Namespaces, ConfigMaps and Secrets.

Each golden text is written out from kubectl v1.35's layout in
staging/src/k8s.io/kubectl/pkg/describe/describe.go (the describer named in each test's comment),
aligned as its tabwriter (minwidth 0, tabwidth 8, padding 2) aligns it.
"""

import base64
import datetime
import ipaddress

import pytest

from netlab import describe, views
from netlab.cluster.topology import Node
from tests.test_describe import NOW, event, text


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


# -- Endpoints ----------------------------------------------------------------------------------

def endpoints() -> dict:
    """A v1 Endpoints as services.endpoints_view builds it: one subset per slice, unnamed ports bare."""
    def address(ip, pod, node):
        return {"ip": ip, "nodeName": node, "targetRef": {"kind": "Pod", "namespace": "default", "name": pod}}
    return {"apiVersion": "v1", "kind": "Endpoints",
            "metadata": {"name": "web", "namespace": "default", "labels": {"app": "web"}},
            "subsets": [
                {"addresses": [address("10.244.1.3", "web-a", "worker"), address("10.244.2.4", "web-c", "worker2")],
                 "notReadyAddresses": [address("10.244.2.3", "web-b", "worker2")],
                 "ports": [{"name": "http", "port": 8080, "protocol": "TCP"},
                           {"name": "metrics", "port": 9090, "protocol": "TCP"}]},
                {"addresses": [address("10.244.3.7", "web-d", "worker3")],
                 "ports": [{"port": 8081, "protocol": "TCP"}]},
            ]}


def test_endpoints_list_each_subsets_addresses_and_ports():
    # describeEndpoints: a blank line closes each subset; unnamed ports read <unset>
    updated = event("Endpoints", "web", "FailedToUpdateEndpoint", "Failed to update endpoint default/web",
                    "2026-12-01T22:45:00Z", type_="Warning", component="endpoint-controller")
    assert describe.describe_endpoints(endpoints(), [updated], NOW) == text("""
        Name:         web
        Namespace:    default
        Labels:       app=web
        Annotations:  <none>
        Subsets:
          Addresses:          10.244.1.3,10.244.2.4
          NotReadyAddresses:  10.244.2.3
          Ports:
            Name     Port  Protocol
            ----     ----  --------
            http     8080  TCP
            metrics  9090  TCP

          Addresses:          10.244.3.7
          NotReadyAddresses:  <none>
          Ports:
            Name     Port  Protocol
            ----     ----  --------
            <unset>  8081  TCP

        Events:
          Type     Reason                  Age   From                 Message
          ----     ------                  ----  ----                 -------
          Warning  FailedToUpdateEndpoint  5m    endpoint-controller  Failed to update endpoint default/web
        """)


def test_endpoints_with_no_subsets_go_straight_to_events():
    # describeEndpoints writes the blank line per subset, so none leaves "Subsets:" bare
    empty = {"apiVersion": "v1", "kind": "Endpoints", "metadata": {"name": "lonely", "namespace": "default"}}
    assert describe.describe_endpoints(empty, [], NOW) == text("""
        Name:         lonely
        Namespace:    default
        Labels:       <none>
        Annotations:  <none>
        Subsets:
        Events:  <none>
        """)


# -- EndpointSlices -----------------------------------------------------------------------------

def slice_() -> dict:
    """An EndpointSlice as services.endpoint_slices builds it."""
    def endpoint(ip, pod, node, ready):
        return {"addresses": [ip], "conditions": {"ready": ready, "serving": ready, "terminating": False},
                "nodeName": node, "targetRef": {"kind": "Pod", "namespace": "default", "name": pod}}
    return {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
            "metadata": {"name": "web-985w4", "namespace": "default",
                         "labels": {"kubernetes.io/service-name": "web",
                                    "endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io"},
                         "ownerReferences": [{"apiVersion": "v1", "kind": "Service", "name": "web",
                                              "controller": True, "blockOwnerDeletion": True}]},
            "addressType": "IPv4",
            "endpoints": [endpoint("10.244.1.3", "web-a", "worker", True),
                          endpoint("10.244.2.3", "web-b", "worker2", False)],
            "ports": [{"name": "http", "port": 8080, "protocol": "TCP"},
                      {"name": "", "port": 9090, "protocol": "TCP"}]}


def test_an_endpoint_slice_shows_its_ports_and_each_endpoints_conditions_and_placement():
    # describeEndpointSliceV1: an empty port name reads <unset>, as do unset hostname and zone
    assert describe.describe_endpoint_slice(slice_(), [], NOW) == text("""
        Name:         web-985w4
        Namespace:    default
        Labels:       endpointslice.kubernetes.io/managed-by=endpointslice-controller.k8s.io
                      kubernetes.io/service-name=web
        Annotations:  <none>
        AddressType:  IPv4
        Ports:
          Name     Port  Protocol
          ----     ----  --------
          http     8080  TCP
          <unset>  9090  TCP
        Endpoints:
          - Addresses:  10.244.1.3
            Conditions:
              Ready:    true
            Hostname:   <unset>
            TargetRef:  Pod/web-a
            NodeName:   worker
            Zone:       <unset>
          - Addresses:  10.244.2.3
            Conditions:
              Ready:    false
            Hostname:   <unset>
            TargetRef:  Pod/web-b
            NodeName:   worker2
            Zone:       <unset>
        Events:         <none>
        """)


def test_a_hand_written_slice_without_ports_or_endpoints_says_so_inline():
    # describeEndpointSliceV1: "Ports: <unset>" and "Endpoints: <none>" have no tab, so no column
    bare = {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
            "metadata": {"name": "external", "namespace": "default"}, "addressType": "IPv4"}
    assert describe.describe_endpoint_slice(bare, [], NOW) == text("""
        Name:         external
        Namespace:    default
        Labels:       <none>
        Annotations:  <none>
        AddressType:  IPv4
        Ports: <unset>
        Endpoints: <none>
        Events:  <none>
        """)


def test_a_slice_endpoint_with_a_hostname_and_no_ready_condition_or_target():
    bare = {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
            "metadata": {"name": "db-1", "namespace": "default"}, "addressType": "IPv4",
            "ports": [{"port": 5432}],
            "endpoints": [{"addresses": ["192.0.2.10"], "conditions": {}, "hostname": "db-0", "zone": "a"}]}
    out = describe.describe_endpoint_slice(bare, [], NOW)
    assert text("""
        Ports:
          Name     Port  Protocol
          ----     ----  --------
          <unset>  5432  TCP
        Endpoints:
          - Addresses:  192.0.2.10
            Conditions:
              Ready:   <unset>
            Hostname:  db-0
            NodeName:  <unset>
            Zone:      a
        Events:        <none>
        """) in out


# -- Nodes --------------------------------------------------------------------------------------

def pod(namespace, name, node, created, phase="Running", **resources):
    """A pod as `netlab get pods -o json` prints it, reduced to what describe node reads."""
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": namespace, "creationTimestamp": created},
            "spec": {"nodeName": node, "containers": [{"name": "c", "image": "busybox:1.36",
                                                       **({"resources": resources} if resources else {})}]},
            "status": {"phase": phase}}


def cluster_node() -> dict:
    """A control-plane Node with everything a cluster's kubelet reports: capacity, times, messages."""
    return {
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"name": "control-plane", "creationTimestamp": "2026-12-01T22:30:00Z",
                     "labels": {"kubernetes.io/arch": "amd64", "kubernetes.io/hostname": "control-plane",
                                "kubernetes.io/os": "linux", "node-role.kubernetes.io/control-plane": ""},
                     "annotations": {"netlab.io/netns": "nl-demo-control-plane"}},
        "spec": {"podCIDR": "10.244.0.0/24", "podCIDRs": ["10.244.0.0/24"],
                 "taints": [{"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"},
                            {"key": "example.com/maintenance", "value": "true", "effect": "NoExecute"}]},
        "status": {
            "capacity": {"cpu": "2", "ephemeral-storage": "61255492Ki", "hugepages-2Mi": "0",
                         "memory": "4015568Ki", "pods": "110"},
            "allocatable": {"cpu": "1900m", "ephemeral-storage": "61255492Ki", "hugepages-2Mi": "0",
                            "memory": "3913168Ki", "pods": "110"},
            "conditions": [
                {"type": "MemoryPressure", "status": "False", "lastHeartbeatTime": "2026-12-01T22:49:50Z",
                 "lastTransitionTime": "2026-12-01T22:30:00Z", "reason": "KubeletHasSufficientMemory",
                 "message": "kubelet has sufficient memory available"},
                {"type": "Ready", "status": "True", "lastHeartbeatTime": "2026-12-01T22:49:50Z",
                 "lastTransitionTime": "2026-12-01T22:31:00Z", "reason": "KubeletReady",
                 "message": "kubelet is posting ready status"}],
            "addresses": [{"type": "InternalIP", "address": "172.18.0.2"},
                          {"type": "Hostname", "address": "control-plane"}],
            "nodeInfo": {"machineID": "0f1e2d3c", "systemUUID": "4b5a6978", "bootID": "8c7d6e5f",
                         "kernelVersion": "6.8.0-49-generic", "osImage": "Debian GNU/Linux 12 (bookworm)",
                         "operatingSystem": "linux", "architecture": "amd64",
                         "containerRuntimeVersion": "containerd://2.1.1", "kubeletVersion": "v1.35.0"},
        },
    }


CLUSTER_PODS = [
    pod("kube-system", "coredns-5dd5756b68-8xq2x", "control-plane", "2026-12-01T22:30:00Z",
        requests={"cpu": "100m", "memory": "70Mi"}, limits={"memory": "170Mi"}),
    # limits only: the API server defaults its requests to them
    pod("default", "web-6d4b8f7c9-abcde", "control-plane", "2026-12-01T22:48:00Z",
        limits={"cpu": "500m", "memory": "128Mi"}),
    pod("kube-system", "kube-proxy-x7k2p", "control-plane", "2026-12-01T22:30:00Z"),
    pod("default", "job-done", "control-plane", "2026-12-01T22:35:00Z", phase="Succeeded",
        requests={"cpu": "1"}),                                               # finished: not listed
    pod("default", "web-6d4b8f7c9-fghij", "worker", "2026-12-01T22:48:00Z",
        requests={"cpu": "1"}),                                               # another node's
]


def test_a_cluster_node_shows_taints_lease_conditions_resources_and_its_pods_share_of_them():
    # describeNode, describeNodeLease, describeNodeResource, printTaintsMultilineWithIndent
    lease = {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
             "metadata": {"name": "control-plane", "namespace": "kube-node-lease"},
             "spec": {"holderIdentity": "control-plane", "leaseDurationSeconds": 40,
                      "renewTime": "2026-12-01T22:49:58.123456Z"}}
    registered = event("Node", "control-plane", "RegisteredNode",
                       "Node control-plane event: Registered Node control-plane in Controller",
                       "2026-12-01T22:31:00Z", component="node-controller")
    del registered["involvedObject"]["namespace"]       # a Node's events name no namespace
    out = describe.describe_node(cluster_node(), CLUSTER_PODS, [registered], NOW, lease)
    assert out == text("""
        Name:               control-plane
        Roles:              control-plane
        Labels:             kubernetes.io/arch=amd64
                            kubernetes.io/hostname=control-plane
                            kubernetes.io/os=linux
                            node-role.kubernetes.io/control-plane=
        Annotations:        netlab.io/netns: nl-demo-control-plane
        CreationTimestamp:  Tue, 01 Dec 2026 22:30:00 +0000
        Taints:             example.com/maintenance=true:NoExecute
                            node-role.kubernetes.io/control-plane:NoSchedule
        Unschedulable:      false
        Lease:
          HolderIdentity:  control-plane
          AcquireTime:     <unset>
          RenewTime:       Tue, 01 Dec 2026 22:49:58 +0000
        Conditions:
          Type             Status  LastHeartbeatTime                 LastTransitionTime                Reason                       Message
          ----             ------  -----------------                 ------------------                ------                       -------
          MemoryPressure   False   Tue, 01 Dec 2026 22:49:50 +0000   Tue, 01 Dec 2026 22:30:00 +0000   KubeletHasSufficientMemory   kubelet has sufficient memory available
          Ready            True    Tue, 01 Dec 2026 22:49:50 +0000   Tue, 01 Dec 2026 22:31:00 +0000   KubeletReady                 kubelet is posting ready status
        Addresses:
          InternalIP:  172.18.0.2
          Hostname:    control-plane
        Capacity:
          cpu:                2
          ephemeral-storage:  61255492Ki
          hugepages-2Mi:      0
          memory:             4015568Ki
          pods:               110
        Allocatable:
          cpu:                1900m
          ephemeral-storage:  61255492Ki
          hugepages-2Mi:      0
          memory:             3913168Ki
          pods:               110
        System Info:
          Machine ID:                 0f1e2d3c
          System UUID:                4b5a6978
          Boot ID:                    8c7d6e5f
          Kernel Version:             6.8.0-49-generic
          OS Image:                   Debian GNU/Linux 12 (bookworm)
          Operating System:           linux
          Architecture:               amd64
          Container Runtime Version:  containerd://2.1.1
          Kubelet Version:            v1.35.0
        PodCIDR:                      10.244.0.0/24
        PodCIDRs:                     10.244.0.0/24
        Non-terminated Pods:          (3 in total)
          Namespace                   Name                        CPU Requests  CPU Limits  Memory Requests  Memory Limits  Age
          ---------                   ----                        ------------  ----------  ---------------  -------------  ---
          default                     web-6d4b8f7c9-abcde         500m (26%)    500m (26%)  128Mi (3%)       128Mi (3%)     2m
          kube-system                 coredns-5dd5756b68-8xq2x    100m (5%)     0 (0%)      70Mi (1%)        170Mi (4%)     20m
          kube-system                 kube-proxy-x7k2p            0 (0%)        0 (0%)      0 (0%)           0 (0%)         20m
        Allocated resources:
          (Total limits may be over 100 percent, i.e., overcommitted.)
          Resource           Requests    Limits
          --------           --------    ------
          cpu                600m (31%)  500m (26%)
          memory             198Mi (5%)  298Mi (7%)
          ephemeral-storage  0 (0%)      0 (0%)
          hugepages-2Mi      0 (0%)      0 (0%)
        Events:
          Type    Reason          Age   From             Message
          ----    ------          ----  ----             -------
          Normal  RegisteredNode  19m   node-controller  Node control-plane event: Registered Node control-plane in Controller
        """)


def test_a_netlab_node_shows_the_machines_capacity_and_placeholders_for_what_netlab_does_not_report(monkeypatch):
    # describeNode over views.node_object: the machine's CPUs and memory as capacity, no lease
    # (<unset>), no machine ids (empty)
    monkeypatch.setattr(views.platform, "release", lambda: "6.8.0-49-generic")
    monkeypatch.setattr(views.platform, "machine", lambda: "x86_64")
    monkeypatch.setattr(views, "machine_capacity", lambda: {"cpu": "2", "memory": "4015724Ki", "pods": "110"})
    topology_node = Node(
        name="worker", index=2, labels={"kubernetes.io/hostname": "worker", "kubernetes.io/os": "linux"},
        netns="nl-demo-worker", pod_cidr=ipaddress.ip_network("10.244.1.0/24"), ip="172.18.0.3")
    created = datetime.datetime(2026, 12, 1, 22, 30, tzinfo=datetime.timezone.utc).timestamp()
    node = views.node_object("demo", topology_node, created)
    pods = [pod("default", "client", "worker", "2026-12-01T22:40:00Z", requests={"cpu": "250m"})]
    assert describe.describe("node", node, {"pods": pods}, [], NOW) == text("""
        Name:               worker
        Roles:              <none>
        Labels:             kubernetes.io/hostname=worker
                            kubernetes.io/os=linux
        Annotations:        netlab.io/netns: nl-demo-worker
        CreationTimestamp:  Tue, 01 Dec 2026 22:30:00 +0000
        Taints:             <none>
        Unschedulable:      false
        Lease:
          HolderIdentity:  <unset>
          AcquireTime:     <unset>
          RenewTime:       <unset>
        Conditions:
          Type    Status  LastHeartbeatTime                 LastTransitionTime                Reason         Message
          ----    ------  -----------------                 ------------------                ------         -------
          Ready   True    Tue, 01 Dec 2026 22:30:00 +0000   Tue, 01 Dec 2026 22:30:00 +0000   KubeletReady   kubelet is posting ready status
        Addresses:
          InternalIP:  172.18.0.3
          Hostname:    worker
        Capacity:
          cpu:     2
          memory:  4015724Ki
          pods:    110
        Allocatable:
          cpu:     2
          memory:  4015724Ki
          pods:    110
        System Info:
          Machine ID:                 |
          System UUID:                |
          Boot ID:                    |
          Kernel Version:             6.8.0-49-generic
          OS Image:                   netlab namespace
          Operating System:           linux
          Architecture:               amd64
          Container Runtime Version:  netlab://processes
          Kubelet Version:            netlab
        PodCIDR:                      10.244.1.0/24
        PodCIDRs:                     10.244.1.0/24
        Non-terminated Pods:          (1 in total)
          Namespace                   Name      CPU Requests  CPU Limits  Memory Requests  Memory Limits  Age
          ---------                   ----      ------------  ----------  ---------------  -------------  ---
          default                     client    250m (12%)    0 (0%)      0 (0%)           0 (0%)         10m
        Allocated resources:
          (Total limits may be over 100 percent, i.e., overcommitted.)
          Resource           Requests    Limits
          --------           --------    ------
          cpu                250m (12%)  0 (0%)
          memory             0 (0%)      0 (0%)
          ephemeral-storage  0 (0%)      0 (0%)
        Events:              <none>
        """)


def test_an_unschedulable_node_with_a_role_label_and_extended_resources():
    # findNodeRoles reads both label forms (an empty role is none); extended resources get requests
    # and limits, no share
    node = cluster_node()
    node["metadata"]["labels"] = {"kubernetes.io/role": "gpu", "node-role.kubernetes.io/worker": "",
                                  "node-role.kubernetes.io/": ""}
    node["spec"]["unschedulable"] = True
    node["status"]["allocatable"]["example.com/gpu"] = "4"
    gpu = pod("default", "trainer", "control-plane", "2026-12-01T22:40:00Z",
              requests={"example.com/gpu": "1"}, limits={"example.com/gpu": "1"})
    out = describe.describe_node(node, [gpu], [], NOW)
    assert out.startswith("Name:               control-plane\nRoles:              gpu,worker\n")
    assert "Unschedulable:      true\n" in out
    assert "  hugepages-2Mi      0 (0%)    0 (0%)\n  example.com/gpu    1         1\nEvents:" in out


def test_pod_requests_take_init_containers_as_a_floor_and_add_sidecars_and_overhead():
    # resourcehelper.PodRequests / PodLimits (aggregateContainerResourcesByFn)
    spec = {"containers": [{"name": "app", "resources": {"requests": {"cpu": "200m", "memory": "64Mi"}}}],
            "initContainers": [
                {"name": "proxy", "restartPolicy": "Always", "resources": {"requests": {"cpu": "50m"}}},
                {"name": "migrate", "resources": {"requests": {"cpu": "1", "memory": "32Mi"},
                                                  "limits": {"memory": "1Gi"}}}],
            "overhead": {"cpu": "10m"}}
    requests = describe.pod_requests({"spec": spec})
    limits = describe.pod_limits({"spec": spec})
    # cpu: max(200m + 50m, 1 + 50m) + 10m; memory: max(64Mi, 32Mi)
    assert {k: describe.quantity_string(v) for k, v in requests.items()} == {"cpu": "1060m", "memory": "64Mi"}
    # only memory has a limit, so the cpu overhead is not added to limits
    assert {k: describe.quantity_string(v) for k, v in limits.items()} == {"memory": "1Gi"}
    spec["resources"] = {"requests": {"cpu": "2"}}           # pod-level resources win
    assert describe.quantity_string(describe.pod_requests({"spec": spec})["cpu"]) == "2010m"


@pytest.mark.parametrize("given, canonical", [
    ("100m", "100m"), ("1000m", "1"), ("0.5", "500m"), ("1000", "1k"), ("1.5k", "1500"), ("1024", "1024"),
    ("128Mi", "128Mi"), ("1.5Gi", "1536Mi"), ("3.5Ki", "3584"), ("0.5Ki", "512"), ("16323780Ki", "16323780Ki"),
    ("12e6", "12e6"), ("0.1m", "100u"), ("0", "0"),
])
def test_quantities_print_in_canonical_form_as_quantity_string_does(given, canonical):
    assert describe.quantity_string(describe.parse_quantity(given)) == canonical


# -- Namespaces ---------------------------------------------------------------------------------

def test_a_namespace_has_its_name_label_status_and_no_quotas_or_limit_ranges():
    # describeNamespace, DescribeResourceQuotas and DescribeLimitRanges of empty lists; the API
    # server labels every namespace with its name
    ns = {"apiVersion": "v1", "kind": "Namespace",
          "metadata": {"name": "shop", "labels": {"team": "payments"}, "creationTimestamp": "2026-12-01T22:30:00Z"},
          "status": {"phase": "Active"}}
    assert describe.describe("ns", ns, {}, [event("Namespace", "shop", "R", "m", "2026-12-01T22:30:00Z")],
                             NOW) == text("""
        Name:         shop
        Labels:       kubernetes.io/metadata.name=shop
                      team=payments
        Annotations:  <none>
        Status:       Active

        No resource quota.

        No LimitRange resource.
        """)


def test_a_terminating_namespace_shows_its_conditions():
    ns = {"apiVersion": "v1", "kind": "Namespace",
          "metadata": {"name": "old", "labels": {"kubernetes.io/metadata.name": "old"},
                       "deletionTimestamp": "2026-12-01T22:49:00Z"},
          "status": {"phase": "Terminating", "conditions": [
              {"type": "NamespaceContentRemaining", "status": "True", "lastTransitionTime": "2026-12-01T22:49:01Z",
               "reason": "SomeResourcesRemain",
               "message": "Some resources are remaining: pods. has 1 resource instances"}]}}
    assert describe.describe_namespace(ns) == text("""
        Name:         old
        Labels:       kubernetes.io/metadata.name=old
        Annotations:  <none>
        Status:       Terminating
        Conditions:
          Type                       Status  LastTransitionTime               Reason               Message
          ----                       ------  ------------------               ------               -------
          NamespaceContentRemaining  True    Tue, 01 Dec 2026 22:49:01 +0000  SomeResourcesRemain  Some resources are remaining: pods. has 1 resource instances

        No resource quota.

        No LimitRange resource.
        """)


# -- ConfigMaps and Secrets ---------------------------------------------------------------------

def test_a_config_map_prints_each_value_in_full_and_binary_data_by_size():
    # ConfigMapDescriber: "key:\n----\nVALUE\n\n" per key; a value's own final newline adds a line
    cm = {"apiVersion": "v1", "kind": "ConfigMap",
          "metadata": {"name": "app-config", "namespace": "default", "labels": {"app": "web"}},
          "data": {"nginx.conf": "server {\n  listen 8080;\n}\n", "MODE": "prod"},
          "binaryData": {"logo.png": b64(b"\x89PNG\r\n\x1a\n")}}
    assert describe.describe("cm", cm, {}, [], NOW) == text("""
        Name:         app-config
        Namespace:    default
        Labels:       app=web
        Annotations:  <none>

        Data
        ====
        MODE:
        ----
        prod

        nginx.conf:
        ----
        server {
          listen 8080;
        }



        BinaryData
        ====
        logo.png: 8 bytes

        Events:  <none>
        """)


def test_an_empty_config_map_still_has_both_headings():
    cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "empty", "namespace": "default"}}
    assert describe.describe_configmap(cm, [], NOW) == text("""
        Name:         empty
        Namespace:    default
        Labels:       <none>
        Annotations:  <none>

        Data
        ====

        BinaryData
        ====

        Events:  <none>
        """)


def test_a_secret_shows_sizes_never_values():
    # describeSecret: no events; stringData counts as the API server merges it into data
    secret = views.stored_object({"apiVersion": "v1", "kind": "Secret",
                                  "metadata": {"name": "db", "namespace": "default"},
                                  "data": {"password": b64(b"s3cr3t!!")}, "stringData": {"username": "admin"}})
    out = describe.describe("secret", secret, {}, [event("Secret", "db", "R", "m", "2026-12-01T22:30:00Z")], NOW)
    assert out == text("""
        Name:         db
        Namespace:    default
        Labels:       <none>
        Annotations:  <none>

        Type:  Opaque

        Data
        ====
        password:  8 bytes
        username:  5 bytes
        """)
    assert "s3cr3t" not in out and "admin" not in out


def test_a_service_account_token_secret_shows_its_token_as_kubectl_does():
    secret = {"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/service-account-token",
              "metadata": {"name": "build-robot", "namespace": "default",
                           "annotations": {"kubernetes.io/service-account.name": "build-robot"}},
              "data": {"ca.crt": b64(b"-" * 1066), "namespace": b64(b"default"), "token": b64(b"eyJhbGciOi")}}
    assert describe.describe_secret(secret).endswith(text("""
        Type:  kubernetes.io/service-account-token

        Data
        ====
        ca.crt:     1066 bytes
        namespace:  7 bytes
        token:      eyJhbGciOi
        """))


# -- dispatch -----------------------------------------------------------------------------------

@pytest.mark.parametrize("kind, expected", [
    ("endpoints", "Endpoints"), ("ep", "Endpoints"), ("EndpointSlice", "EndpointSlice"),
    ("endpointslices.discovery.k8s.io", "EndpointSlice"), ("no", "Node"), ("nodes", "Node"),
    ("ns", "Namespace"), ("Namespace", "Namespace"), ("cm", "ConfigMap"), ("configmaps", "ConfigMap"),
    ("secret", "Secret"), ("Secrets", "Secret"),
])
def test_describe_knows_the_new_kinds_and_their_short_names(kind, expected):
    objects = {"Endpoints": endpoints(), "EndpointSlice": slice_(), "Node": cluster_node(),
               "Namespace": {"metadata": {"name": "shop"}},
               "ConfigMap": {"metadata": {"name": "c", "namespace": "default"}},
               "Secret": {"metadata": {"name": "s", "namespace": "default"}}}
    direct = {"Endpoints": lambda o: describe.describe_endpoints(o, [], NOW),
              "EndpointSlice": lambda o: describe.describe_endpoint_slice(o, [], NOW),
              "Node": lambda o: describe.describe_node(o, CLUSTER_PODS, [], NOW),
              "Namespace": describe.describe_namespace,
              "ConfigMap": lambda o: describe.describe_configmap(o, [], NOW),
              "Secret": describe.describe_secret}
    related = {"pods": CLUSTER_PODS, "replicasets": [], "endpointslices": []}
    assert describe.describe(kind, objects[expected], related, [], NOW) == direct[expected](objects[expected])


def test_describe_node_lists_the_pods_it_is_given_in_related():
    out = describe.describe("node", cluster_node(), {"pods": CLUSTER_PODS}, [], NOW)
    assert "Non-terminated Pods:          (3 in total)\n" in out
    assert "Non-terminated Pods:          (0 in total)\n" in describe.describe("node", cluster_node(), {}, [], NOW)
