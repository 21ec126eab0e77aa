"""Admission: what the API server refuses because of what it already holds (namespaces, immutable fields)."""

from textwrap import dedent

import pytest

from netlab.manifest import ManifestError, loads
from netlab.manifest.admission import admit

SERVICE = dedent("""\
    apiVersion: v1
    kind: Service
    metadata: {name: web%s}
    spec:
      clusterIP: %s
      ports: [{port: 80}]
    """)

DEPLOYMENT = dedent("""\
    apiVersion: apps/v1
    kind: Deployment
    metadata: {name: web}
    spec:
      selector:
        matchLabels: {app: %s}
      template:
        metadata: {labels: {app: %s}}
        spec:
          containers: [{name: web, image: %s}]
    """)

POD = "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n  - {name: c, image: %s, ports: [{containerPort: %d}]}\n"


def refusals(text, stored=(), namespaces=(), cluster_ips=None):
    """The lines admission prints for TEXT (as m.yaml) against STORED raw objects; [] when admitted."""
    by_key = {}
    for raw in stored:
        obj, = loads(raw, "old.yaml").objects
        by_key[obj.key] = obj.raw
    try:
        admit(loads(text, "m.yaml").objects, by_key.get, namespaces, cluster_ips or {})
    except ManifestError as err:
        return str(err).splitlines()
    return []


def test_an_object_in_a_namespace_that_does_not_exist_is_refused_unless_the_apply_or_the_lab_has_it():
    pod = "apiVersion: v1\nkind: Pod\nmetadata: {name: p, namespace: shop}\nspec: {containers: [{name: c, image: i}]}\n"
    assert refusals(pod) == [
        'm.yaml:3: metadata.namespace: namespaces "shop" not found: apply a Namespace named shop first '
        "(kind: Namespace), or use an existing namespace"]
    assert refusals(pod, namespaces=["shop"]) == []
    assert refusals(pod + "---\napiVersion: v1\nkind: Namespace\nmetadata: {name: shop}\n") == []
    assert refusals(pod.replace("shop", "kube-system")) == []


def test_a_services_cluster_ip_may_not_change_once_set_but_may_be_left_out():
    held = {"default/web": "10.96.0.20"}
    assert refusals(SERVICE % ("", "10.96.0.21"), [SERVICE % ("", "10.96.0.20")], cluster_ips=held) == [
        'm.yaml:5: spec.clusterIP: invalid value "10.96.0.21": field is immutable: the Service holds '
        "10.96.0.20; remove the field, or delete the Service and apply it again"]
    assert refusals(SERVICE % ("", '""'), [SERVICE % ("", "10.96.0.20")], cluster_ips=held) == []
    # an allocated (not written) clusterIP is just as fixed
    allocated = SERVICE.replace("  clusterIP: %s\n", "") % ""
    assert refusals(SERVICE % ("", "10.96.0.99"), [allocated], cluster_ips=held)[0].startswith(
        'm.yaml:5: spec.clusterIP: invalid value "10.96.0.99": field is immutable')
    assert refusals(SERVICE % ("", "None"), [allocated], cluster_ips=held) != []


def test_the_same_service_twice_in_one_apply_is_checked_as_two_writes():
    text = SERVICE % ("", "10.96.0.20") + "---\n" + SERVICE % ("", "10.96.0.21")
    assert refusals(text) == [
        'm.yaml:12: spec.clusterIP: invalid value "10.96.0.21": field is immutable: the Service holds '
        "10.96.0.20; remove the field, or delete the Service and apply it again"]
    assert refusals(SERVICE % ("", "10.96.0.20") + "---\n" + SERVICE % ("", "10.96.0.20")) == []


def test_a_deployments_selector_is_immutable_but_its_template_is_not():
    old = DEPLOYMENT % ("web", "web", "nginx:1.25")
    assert refusals(DEPLOYMENT % ("web", "web", "nginx:1.26"), [old]) == []
    assert refusals(DEPLOYMENT % ("shop", "shop", "nginx:1.25"), [old]) == [
        "m.yaml:5: spec.selector: field is immutable: a selector cannot change once created; delete the "
        "Deployment and apply it again to change it"]


def test_a_pods_spec_may_change_only_in_its_images():
    old = POD % ("nginx:1.25", 80)
    assert refusals(POD % ("nginx:1.26", 80), [old]) == []
    (line,) = refusals(POD % ("nginx:1.25", 8080), [old])
    assert line.startswith("m.yaml:6: spec.containers[0].ports[0].containerPort: Forbidden: pod updates may "
                           "not change fields other than spec.containers[*].image")


@pytest.mark.parametrize("kind", ["Service", "Deployment", "Pod"])
def test_a_new_object_has_nothing_to_be_immutable_against(kind):
    text = {"Service": SERVICE % ("", "10.96.0.21"), "Deployment": DEPLOYMENT % ("a", "a", "i"),
            "Pod": POD % ("i", 1)}[kind]
    assert refusals(text) == []
