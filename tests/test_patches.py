"""kubectl patch's three formats (netlab/patches.py), on the fields tutorials patch."""

import pytest

from netlab import patches

SERVICE = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web", "labels": {"app": "web"}},
           "spec": {"type": "ClusterIP", "selector": {"app": "web"},
                    "ports": [{"name": "http", "port": 80, "targetPort": 8080}]}}
DEPLOYMENT = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
              "spec": {"replicas": 2, "template": {"spec": {"containers": [
                  {"name": "nginx", "image": "nginx:1.25", "ports": [{"containerPort": 80}],
                   "env": [{"name": "A", "value": "1"}]},
                  {"name": "side", "image": "busybox"}]}}}}


def test_a_strategic_patch_changes_a_services_type_and_leaves_the_rest():
    patched = patches.apply(SERVICE, '{"spec":{"type":"NodePort"}}')
    assert patched["spec"]["type"] == "NodePort"
    assert patched["spec"]["ports"] == SERVICE["spec"]["ports"] and SERVICE["spec"]["type"] == "ClusterIP"


def test_a_strategic_patch_merges_containers_by_name_and_a_services_ports_by_port():
    patched = patches.apply(DEPLOYMENT, '{"spec":{"template":{"spec":{"containers":[{"name":"nginx","image":"nginx:1.27"}]}}}}')
    nginx, side = patched["spec"]["template"]["spec"]["containers"]
    assert nginx["image"] == "nginx:1.27" and nginx["ports"] == [{"containerPort": 80}] and side["name"] == "side"
    ports = patches.apply(SERVICE, '{"spec":{"ports":[{"port":80,"targetPort":9090},{"port":443,"name":"https"}]}}')
    assert ports["spec"]["ports"] == [{"name": "http", "port": 80, "targetPort": 9090}, {"port": 443, "name": "https"}]


def test_a_strategic_patch_deletes_a_list_item_with_the_patch_directive_and_a_key_with_null():
    patched = patches.apply(DEPLOYMENT, '{"spec":{"template":{"spec":{"containers":[{"name":"side","$patch":"delete"}]}}}}')
    assert [c["name"] for c in patched["spec"]["template"]["spec"]["containers"]] == ["nginx"]
    assert "labels" not in patches.apply(SERVICE, '{"metadata":{"labels":null}}')["metadata"]


def test_a_merge_patch_replaces_lists_whole():
    patched = patches.apply(SERVICE, '{"spec":{"ports":[{"port":81}]}}', "merge")
    assert patched["spec"]["ports"] == [{"port": 81}]


def test_a_merge_patch_changes_a_selector_written_as_yaml():
    patched = patches.apply(SERVICE, "spec:\n  selector:\n    app: web2\n", "merge")
    assert patched["spec"]["selector"] == {"app": "web2"}


def test_a_json_patch_replaces_adds_and_removes_at_pointers():
    ops = ('[{"op":"replace","path":"/spec/replicas","value":4},'
           '{"op":"add","path":"/spec/template/spec/containers/0/env/-","value":{"name":"B","value":"2"}},'
           '{"op":"remove","path":"/spec/template/spec/containers/1"}]')
    patched = patches.apply(DEPLOYMENT, ops, "json")
    assert patched["spec"]["replicas"] == 4
    assert patched["spec"]["template"]["spec"]["containers"][0]["env"][-1] == {"name": "B", "value": "2"}
    assert len(patched["spec"]["template"]["spec"]["containers"]) == 1


def test_a_json_patch_at_a_missing_path_or_a_failed_test_is_refused_and_changes_nothing():
    with pytest.raises(patches.PatchError, match='doc is missing path: "/spec/nothing/here"'):
        patches.apply(DEPLOYMENT, '[{"op":"replace","path":"/spec/nothing/here","value":1}]', "json")
    with pytest.raises(patches.PatchError, match="testing value /spec/replicas failed"):
        patches.apply(DEPLOYMENT, '[{"op":"test","path":"/spec/replicas","value":9}]', "json")
    assert DEPLOYMENT["spec"]["replicas"] == 2


def test_a_patch_that_is_not_json_or_yaml_is_a_parse_error():
    with pytest.raises(patches.PatchError, match="unable to parse"):
        patches.apply(SERVICE, '{"spec": [')
