"""A container's env from ConfigMaps and Secrets, as kubelet resolves it: envFrom first (with its
prefix, invalid names skipped), then env; a missing object is CreateContainerConfigError."""

from netlab.cluster import downward
from netlab.cluster.controllers import PodInstance
from netlab.manifest import loads

POD = """\
apiVersion: v1
kind: Pod
metadata: {name: p}
spec:
  containers:
  - name: c
    image: debian
    envFrom:
    - configMapRef: {name: game}
      prefix: G_
    - secretRef: {name: creds, optional: %s}
    env:
    - {name: G_lives, value: overridden}
    - name: LIVES
      valueFrom: {configMapKeyRef: {name: game, key: lives}}
    - name: MAYBE
      valueFrom: {configMapKeyRef: {name: game, key: nope, optional: true}}
"""
GAME = {"kind": "ConfigMap", "data": {"lives": "3", "bad=name": "x"}}
CREDS = {"kind": "Secret", "data": {"password": "czNjcmV0"}}


def _env(optional: str, *objects):
    pod_obj, = loads(POD % optional).pods
    held = {("ConfigMap", "default", "game"): GAME}
    held.update({("Secret", "default", "creds"): o for o in objects})
    pod = PodInstance(namespace="default", name="p", uid="u", node="node1", ip="10.244.1.2", source=pod_obj.key,
                      labels={}, spec_hash="h")
    warnings, errors = [], []
    env = downward.container_env(pod_obj.spec.containers[0], pod, None, warnings,
                                 lookup=lambda kind, ns, name: held.get((kind, ns, name)), config_errors=errors)
    return env, warnings, errors


def test_env_from_and_key_refs_resolve_in_kubelets_order():
    env, warnings, errors = _env("false", CREDS)
    assert env == {"G_lives": "overridden", "password": "s3cret", "LIVES": "3"}
    assert errors == []
    assert "keys [G_bad=name] from the EnvFrom configmap default/game were skipped" in warnings[0]


def test_a_missing_secret_is_a_create_container_config_error_unless_optional():
    _, _, errors = _env("false")
    assert errors == ['secret "creds" not found']
    env, _, errors = _env("true")
    assert errors == [] and "password" not in env
