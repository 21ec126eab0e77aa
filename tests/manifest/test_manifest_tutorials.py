"""Manifests copied from the kubernetes.io tutorials and kubectl output load unmodified."""

from pathlib import Path

import pytest

from netlab.manifest import load

FIXTURES = Path(__file__).with_name("fixtures")
FILES = sorted(p.name for p in FIXTURES.iterdir() if p.suffix in (".yaml", ".yml", ".json"))


@pytest.mark.parametrize("name", FILES)
def test_tutorial_manifest_is_accepted_unmodified(name):
    manifests = load(FIXTURES / name)
    assert manifests.objects
    assert all(": skipping " in w for w in manifests.warnings), manifests.warnings


def test_the_whole_fixture_set_loads_as_one_folder_and_repeated_objects_keep_their_last_definition():
    whole = load(FIXTURES)
    repeated = [key for key in {o.key for o in whole.objects} if [o.key for o in whole.objects].count(key) > 1]
    assert repeated                         # several tutorials name their Deployment nginx-deployment
    for key in repeated:
        last = [o for o in whole.objects if o.key == key][-1]
        assert [o for o in whole.final() if o.key == key] == [last]


def test_what_the_tutorials_mean_is_what_netlab_sees():
    deployment, = load(FIXTURES / "stateless-nginx-deployment.yaml").deployments
    assert (deployment.name, deployment.replicas) == ("nginx-deployment", 2)
    assert deployment.template.spec.containers[0].ports[0].container_port == 80

    listed = load(FIXTURES / "kubectl-get-o-yaml.yaml")
    pod, = listed.pods
    assert pod.name == "nginx-deployment-86dcfdf4c6-4vq8z"
    assert pod.spec.node_name == "kind-worker"
    assert pod.raw["status"]["podIP"] == "10.244.1.2"
    assert listed.services[0].raw["spec"]["clusterIP"] == "10.96.12.34"

    skipped = load(FIXTURES / "namespaced-and-skipped.yaml")
    assert [type(o).__name__ for o in skipped.objects] == ["Namespace", "Pod", "Service", "ConfigMap"]
    assert skipped.pods[0].namespace == "development"
    assert [w.split(": ", 1)[1] for w in skipped.warnings] == [
        'skipping StatefulSet "web": netlab does not model StatefulSets',
        'skipping Ingress "minimal-ingress": netlab does not model Ingresses',
        'skipping Certificate "example-com": netlab does not model Certificates',
    ]

    env = load(FIXTURES / "downward-api-env.yaml").pods
    assert [e.field_path for e in env[0].spec.containers[0].env] == [
        "spec.nodeName", "metadata.name", "metadata.namespace", "status.podIP", "spec.serviceAccountName"]
    assert [e.unsupported for e in env[1].spec.containers[0].env] == [
        "resourceFieldRef", "resourceFieldRef", None, None]
    assert env[1].spec.containers[0].env[3].key_ref[0] == "ConfigMap"

    hello = load(FIXTURES / "frontend-backend.yaml")
    assert [o.name for o in hello.objects] == ["backend", "hello", "frontend"]
    assert hello.services[0].ports[0]["targetPort"] == "http"
