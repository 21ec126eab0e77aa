"""kubectl's object verbs as pure decisions (netlab/edits.py): label/annotate rules and the
objects kubectl's generators write (create deployment, create service, expose, run)."""

import pytest

from netlab import edits


def test_label_arguments_split_into_objects_sets_and_removals():
    assert edits.split_changes(["pod", "web", "tier=front", "app-"]) == (["pod", "web"], {"tier": "front"}, ["app"])
    with pytest.raises(edits.EditError, match="can not both modify and remove"):
        edits.split_changes(["pod", "web", "app=x", "app-"])


def test_a_label_that_has_a_value_needs_overwrite():
    with pytest.raises(edits.EditError, match=r"'app' already has a value \(web\), and --overwrite is false"):
        edits.relabel({"app": "web"}, {"app": "db"}, [], overwrite=False)
    assert edits.relabel({"app": "web"}, {"app": "db"}, [], overwrite=True) == ({"app": "db"}, [])
    assert edits.relabel({"app": "web"}, {"app": "web"}, [], overwrite=False) == ({"app": "web"}, [])


def test_removing_a_label_that_is_not_there_is_a_note_and_the_message_is_kubectls():
    labels, notes = edits.relabel({"app": "web"}, {}, ["tier"], overwrite=False)
    assert labels == {"app": "web"} and notes == ['label "tier" not found.']
    assert edits.label_message({"app": "web"}, {}, overwrite=False) == "unlabeled"
    assert edits.label_message({"app": "web"}, {"app": "web"}, overwrite=False) == "not labeled"
    assert edits.label_message({}, {"app": "web"}, overwrite=False) == "labeled"


def test_create_deployment_writes_kubectls_object():
    raw = edits.deployment("hello", "registry.k8s.io/e2e-test-images/agnhost:2.39", replicas=3, port=8080)
    assert raw["metadata"] == {"name": "hello", "namespace": "default", "labels": {"app": "hello"}}
    assert raw["spec"]["selector"] == {"matchLabels": {"app": "hello"}} and raw["spec"]["replicas"] == 3
    (container,) = raw["spec"]["template"]["spec"]["containers"]
    assert container == {"name": "agnhost", "image": "registry.k8s.io/e2e-test-images/agnhost:2.39",
                         "resources": {}, "ports": [{"containerPort": 8080}]}


def test_create_service_names_each_port_after_its_pair():
    raw = edits.service("nodeport", "web", ["80:8080"], node_port=30100)
    assert raw["spec"] == {"ports": [{"name": "80-8080", "port": 80, "protocol": "TCP", "targetPort": 8080,
                                      "nodePort": 30100}], "selector": {"app": "web"}, "type": "NodePort"}
    with pytest.raises(edits.EditError, match="invalid port pair"):
        edits.service("clusterip", "web", ["http"])


def test_expose_a_deployment_selects_its_match_labels_and_defaults_to_its_container_ports():
    deploy = {"kind": "Deployment", "metadata": {"name": "web", "namespace": "default", "labels": {"app": "web"}},
              "spec": {"selector": {"matchLabels": {"app": "web"}},
                       "template": {"spec": {"containers": [{"name": "n", "ports": [{"containerPort": 80}]}]}}}}
    raw = edits.expose(deploy, None, None, "NodePort", None, None)
    assert raw["spec"] == {"ports": [{"port": 80, "protocol": "TCP", "targetPort": 80}],
                           "selector": {"app": "web"}, "type": "NodePort"}
    named = edits.expose(deploy, "8080", "http", None, "web2", None)
    assert named["metadata"]["name"] == "web2" and named["spec"]["ports"] == [
        {"port": 8080, "protocol": "TCP", "targetPort": "http"}]


def test_expose_a_pod_without_labels_or_ports_says_why_not():
    pod = {"kind": "Pod", "metadata": {"name": "p"}, "spec": {"containers": [{"name": "c"}]}}
    with pytest.raises(edits.EditError, match="couldn't retrieve selectors"):
        edits.expose(pod, "80", None, None, None, None)
    pod["metadata"]["labels"] = {"run": "p"}
    with pytest.raises(edits.EditError, match="couldn't find port"):
        edits.expose(pod, None, None, None, None, None)


def test_run_makes_a_bare_pod_labelled_run_name_with_args_or_a_command():
    raw = edits.run_pod("tmp", "busybox", ["sh", "-c", "echo hi"], restart="Never")
    assert raw["metadata"]["labels"] == {"run": "tmp"} and raw["spec"]["restartPolicy"] == "Never"
    assert raw["spec"]["containers"][0]["args"] == ["sh", "-c", "echo hi"]
    assert edits.run_pod("tmp", "busybox", ["sleep", "1"], command=True)["spec"]["containers"][0]["command"] == \
        ["sleep", "1"]
    with pytest.raises(edits.EditError, match="invalid restart policy"):
        edits.run_pod("tmp", "busybox", [], restart="Sometimes")


def test_an_edited_object_is_written_back_without_what_the_server_keeps():
    shown = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "default", "uid": "u",
                                                             "resourceVersion": "3", "creationTimestamp": "t",
                                                             "annotations": {"netlab.io/netns": "x"}},
             "spec": {}, "status": {"phase": "Running"}}
    assert edits.as_submitted(shown) == {"apiVersion": "v1", "kind": "Pod",
                                         "metadata": {"name": "p", "namespace": "default"}, "spec": {}}
