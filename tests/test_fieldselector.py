"""kubectl's --field-selector, decided as the API server decides it (netlab/fieldselector.py).

The grammar is k8s.io/apimachinery/pkg/fields/selector.go; which fields a kind takes is its field label
conversion (kubernetes pkg/apis/core/v1/conversion.go, runtime.DefaultMetaV1FieldSelectorConversion for the
rest); the values compared are its ToSelectableFields (pkg/registry/core/pod/strategy.go and siblings); the
message around a refusal is cli-runtime's EnhanceListError. Listed per kind in
https://kubernetes.io/docs/concepts/overview/working-with-objects/field-selectors/.
"""

import pytest

from netlab import fieldselector
from netlab.fieldselector import FieldSelectorError


def pod(name, namespace="default", node=None, phase="Running", ip=None, host_network=None, **spec):
    """A pod as `kubectl get pod -o json` shows it (trimmed to the selectable fields)."""
    obj = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": namespace},
           "spec": {"restartPolicy": "Always", "schedulerName": "default-scheduler",
                    "serviceAccountName": "default", "containers": [{"name": "app", "image": "nginx:1.25"}], **spec},
           "status": {"phase": phase}}
    if node:
        obj["spec"]["nodeName"] = node
    if host_network is not None:
        obj["spec"]["hostNetwork"] = host_network
    if ip:
        obj["status"]["podIPs"] = [{"ip": ip}]
    return obj


PODS = [
    pod("web-1", node="node-1", ip="10.244.1.5"),
    pod("web-2", node="node-2", ip="10.244.2.7"),
    pod("kube-proxy-x", namespace="kube-system", node="node-1", ip="172.18.0.2", host_network=True),
    pod("db-0", phase="Pending", restartPolicy="OnFailure"),
]


def selected(selector, objects=PODS, kind="Pod"):
    matches = fieldselector.parse(selector, kind)
    return [obj["metadata"]["name"] for obj in objects if matches(obj)]


@pytest.mark.parametrize("selector, names", [
    ("status.phase=Running", ["web-1", "web-2", "kube-proxy-x"]),
    ("status.phase==Running", ["web-1", "web-2", "kube-proxy-x"]),
    ("status.phase!=Running", ["db-0"]),
    ("spec.nodeName=node-1", ["web-1", "kube-proxy-x"]),
    ("spec.nodeName=node-1,metadata.namespace=default", ["web-1"]),
    ("metadata.name=web-2", ["web-2"]),
    ("metadata.namespace!=kube-system", ["web-1", "web-2", "db-0"]),
    ("spec.restartPolicy=OnFailure", ["db-0"]),
    ("spec.schedulerName=default-scheduler,status.phase=Pending", ["db-0"]),
    ("spec.serviceAccountName=default", ["web-1", "web-2", "kube-proxy-x", "db-0"]),
    ("", ["web-1", "web-2", "kube-proxy-x", "db-0"]),
])
def test_a_pod_field_selector_matches_as_the_api_server_filters(selector, names):
    assert selected(selector) == names


def test_a_field_the_object_lacks_compares_as_empty():
    # an unscheduled pod's spec.nodeName is "" in ToSelectableFields
    assert selected("spec.nodeName=") == ["db-0"]
    assert selected("spec.nodeName!=") == ["web-1", "web-2", "kube-proxy-x"]
    assert selected("status.nominatedNodeName=") == ["web-1", "web-2", "kube-proxy-x", "db-0"]


def test_host_network_compares_as_true_or_false_and_is_false_when_unset():
    # strconv.FormatBool of the pod's hostNetwork
    assert selected("spec.hostNetwork=true") == ["kube-proxy-x"]
    assert selected("spec.hostNetwork=false") == ["web-1", "web-2", "db-0"]
    assert selected("spec.hostNetwork=True") == []


def test_pod_ip_is_the_first_of_pod_ips_or_the_v1_pod_ip():
    assert selected("status.podIP=10.244.2.7") == ["web-2"]
    old_style = pod("old", phase="Running")
    old_style["status"]["podIP"] = "10.244.3.3"
    assert selected("status.podIP=10.244.3.3", [old_style]) == ["old"]


def test_pod_ips_is_accepted_but_only_ever_equals_empty():
    # the conversion lets status.podIPs through, but ToSelectableFields has no such field
    assert selected("status.podIPs=10.244.1.5") == []
    assert selected("status.podIPs=") == ["web-1", "web-2", "kube-proxy-x", "db-0"]


def test_old_clients_spec_host_means_spec_node_name():
    assert selected("spec.host=node-2") == ["web-2"]


def test_the_deprecated_service_account_field_counts_when_the_new_one_is_empty():
    legacy = pod("legacy", serviceAccountName="", serviceAccount="builder")
    assert selected("spec.serviceAccountName=builder", [legacy]) == ["legacy"]


def test_a_backslash_escapes_a_comma_or_equals_sign_in_a_value():
    odd = [pod("a,b"), pod("x=y"), pod("back\\slash")]
    assert selected("metadata.name=a\\,b", odd) == ["a,b"]
    assert selected("metadata.name=x\\=y", odd) == ["x=y"]
    assert selected("metadata.name=back\\\\slash", odd) == ["back\\slash"]


def test_other_kinds_select_on_the_fields_their_registries_expose():
    services = [{"metadata": {"name": "web", "namespace": "default"},
                 "spec": {"type": "NodePort", "clusterIP": "10.96.0.20"}},
                {"metadata": {"name": "db", "namespace": "default"},
                 "spec": {"type": "ClusterIP", "clusterIP": "None"}}]
    assert selected("spec.type=NodePort", services, "Service") == ["web"]
    assert selected("spec.clusterIP=None", services, "Service") == ["db"]
    nodes = [{"metadata": {"name": "node-1"}, "spec": {"unschedulable": True}},
             {"metadata": {"name": "node-2"}, "spec": {}}]
    assert selected("spec.unschedulable=false", nodes, "Node") == ["node-2"]
    namespaces = [{"metadata": {"name": "old"}, "status": {"phase": "Terminating"}},
                  {"metadata": {"name": "default"}, "status": {"phase": "Active"}}]
    assert selected("status.phase=Active", namespaces, "Namespace") == ["default"]
    secrets = [{"metadata": {"name": "tls", "namespace": "default"}, "type": "kubernetes.io/tls"},
               {"metadata": {"name": "token", "namespace": "default"}, "type": "Opaque"}]
    assert selected("type=kubernetes.io/tls", secrets, "Secret") == ["tls"]
    configmaps = [{"metadata": {"name": "kube-root-ca.crt", "namespace": "default"}}]
    assert selected("metadata.name=kube-root-ca.crt", configmaps, "ConfigMap") == ["kube-root-ca.crt"]


def test_an_events_source_is_its_component_or_else_its_reporting_component():
    events = [
        {"metadata": {"name": "web-1.1", "namespace": "default"}, "type": "Normal", "reason": "Scheduled",
         "involvedObject": {"kind": "Pod", "name": "web-1", "namespace": "default"},
         "source": {"component": "default-scheduler"}},
        {"metadata": {"name": "web-1.2", "namespace": "default"}, "type": "Warning", "reason": "BackOff",
         "involvedObject": {"kind": "Pod", "name": "web-1", "namespace": "default"},
         "reportingComponent": "kubelet", "source": {}},
    ]
    assert selected("source=kubelet", events, "Event") == ["web-1.2"]
    assert selected("involvedObject.name=web-1,type=Warning", events, "Event") == ["web-1.2"]
    assert selected("reason=Scheduled,involvedObject.kind=Pod", events, "Event") == ["web-1.1"]


def refusal(selector, kind, **labels):
    with pytest.raises(FieldSelectorError) as refused:
        fieldselector.parse(selector, kind, **labels)
    return str(refused.value)


def test_an_unsupported_pod_field_is_refused_with_kubectls_message():
    assert refusal("foo=bar", "Pod") == ('Error from server (BadRequest): Unable to find "/v1, Resource=pods" that '
                                         'match label selector "", field selector "foo=bar": field label not '
                                         'supported: foo')


def test_the_refusal_names_the_label_selector_given_alongside():
    assert refusal("spec.nodename=node-1", "Pod", label_selector="app=web") == (
        'Error from server (BadRequest): Unable to find "/v1, Resource=pods" that match label selector "app=web", '
        'field selector "spec.nodename=node-1": field label not supported: spec.nodename')


@pytest.mark.parametrize("kind, selector, resource, reason", [
    ("Node", "metadata.namespace=default", "/v1, Resource=nodes", "field label not supported: metadata.namespace"),
    ("Service", "spec.ports=80", "/v1, Resource=services", "field label not supported: spec.ports"),
    ("Namespace", "name=default", "/v1, Resource=namespaces", "field label not supported: name"),
    # kinds with no conversion of their own take only metadata.name and metadata.namespace; ReplicaSet's
    # status.replicas is refused too, whatever the field selectors page says (kubernetes/kubernetes#135136)
    ("ReplicaSet", "status.replicas=0", "apps/v1, Resource=replicasets",
     '"status.replicas" is not a known field selector: only "metadata.name", "metadata.namespace"'),
    ("Deployment", "spec.paused=true", "apps/v1, Resource=deployments",
     '"spec.paused" is not a known field selector: only "metadata.name", "metadata.namespace"'),
    ("EndpointSlice", "addressType=IPv4", "discovery.k8s.io/v1, Resource=endpointslices",
     '"addressType" is not a known field selector: only "metadata.name", "metadata.namespace"'),
    ("ConfigMap", "data=x", "/v1, Resource=configmaps",
     '"data" is not a known field selector: only "metadata.name", "metadata.namespace"'),
    ("Endpoints", "subsets=x", "/v1, Resource=endpoints",
     '"subsets" is not a known field selector: only "metadata.name", "metadata.namespace"'),
])
def test_each_kind_refuses_the_fields_its_conversion_does_not_know(kind, selector, resource, reason):
    assert refusal(selector, kind) == (f'Error from server (BadRequest): Unable to find "{resource}" that match '
                                       f'label selector "", field selector "{selector}": {reason}')


@pytest.mark.parametrize("selector, reason", [
    ("status.phase", "invalid selector: 'status.phase'; can't understand 'status.phase'"),
    ("metadata.name=a=b", "invalid field selector: unescaped character in value: 61"),
    ("metadata.name=a,b", "invalid selector: 'metadata.name=a,b'; can't understand 'b'"),
    ("metadata.name=a\\b", "invalid field selector: invalid escape sequence: \\b"),
    ("metadata.name=a\\", "invalid field selector: invalid escape sequence: \\"),
])
def test_a_selector_that_does_not_parse_is_refused_by_the_api_server(selector, reason):
    assert refusal(selector, "Pod").endswith(f": {reason}")


def test_terms_are_checked_in_sorted_order_so_the_first_bad_field_alphabetically_is_named():
    # parseSelector sorts the terms before converting them
    assert refusal("zone=a,status.phase=Running,color=red", "Pod").endswith("field label not supported: color")


def test_a_kind_netlab_does_not_serve_is_a_programming_error():
    with pytest.raises(ValueError):
        fieldselector.parse("metadata.name=x", "Widget")
