"""Typed objects: defaults, env markers, selectors with Kubernetes' matching semantics."""

from textwrap import dedent

import pytest

from netlab.manifest import (
    ContainerPort, EnvVar, LabelSelector, LabelSelectorRequirement, ObjectMeta, loads,
)


@pytest.mark.parametrize("operator, values, labels, expected", [
    ("In", ("a", "b"), {"k": "a"}, True),
    ("In", ("a", "b"), {"k": "c"}, False),
    ("In", ("a",), {}, False),
    ("NotIn", ("a",), {"k": "b"}, True),
    ("NotIn", ("a",), {"k": "a"}, False),
    ("NotIn", ("a",), {}, True),  # a missing key is "not in" any set, as in apimachinery
    ("Exists", (), {"k": ""}, True),
    ("Exists", (), {"other": "x"}, False),
    ("DoesNotExist", (), {}, True),
    ("DoesNotExist", (), {"k": "x"}, False),
])
def test_requirement_semantics(operator, values, labels, expected):
    assert LabelSelectorRequirement("k", operator, values).matches(labels) is expected


def test_selector_combines_match_labels_and_expressions():
    selector = LabelSelector.from_dict({
        "matchLabels": {"component": "redis"},
        "matchExpressions": [
            {"key": "tier", "operator": "In", "values": ["cache"]},
            {"key": "environment", "operator": "NotIn", "values": ["dev"]},
        ],
    })
    assert selector.matches({"component": "redis", "tier": "cache"})
    assert selector.matches({"component": "redis", "tier": "cache", "environment": "prod"})
    assert not selector.matches({"component": "redis", "tier": "cache", "environment": "dev"})
    assert not selector.matches({"tier": "cache"})
    assert str(selector) == "component=redis,tier in (cache),environment notin (dev)"


def test_empty_selector_selects_everything():
    assert LabelSelector.from_dict({}).matches({"any": "thing"})
    assert LabelSelector().matches(None)


def test_pod_fields_and_defaults():
    text = dedent("""\
        apiVersion: v1
        kind: Pod
        metadata:
          name: web
          labels: {app: web}
          annotations: {note: hi}
        spec:
          nodeName: node2
          securityContext: {runAsUser: 1000}
          containers:
          - name: web
            image: nginx
            ports: [{containerPort: 80, name: http}, {containerPort: 53, protocol: UDP}]
            readinessProbe: {httpGet: {path: /, port: http}}
          - name: helper
            image: busybox
            command: [tail, -f, /dev/null]
            workingDir: /work
            securityContext: {runAsUser: 0}
            env:
            - {name: PLAIN, value: x}
            - {name: EMPTY}
            - {name: IP, valueFrom: {fieldRef: {fieldPath: status.podIP}}}
            - {name: APP, valueFrom: {fieldRef: {fieldPath: "metadata.labels['app']"}}}
            - {name: CM, valueFrom: {configMapKeyRef: {name: c, key: k}}}
            - {name: MEM, valueFrom: {resourceFieldRef: {resource: limits.memory}}}
        """)
    pod = loads(text).pods[0]
    assert pod.meta == ObjectMeta("web", "default", {"app": "web"}, {"note": "hi"})
    assert pod.key == ("Pod", "default", "web")
    assert pod.spec.node_name == "node2"
    assert pod.spec.restart_policy == "Always"
    assert pod.spec.termination_grace_period_seconds == 30
    assert pod.spec.dns_policy == "ClusterFirst"
    web, helper = pod.spec.containers
    assert web.ports == [ContainerPort("http", 80, "TCP"), ContainerPort(None, 53, "UDP")]
    assert web.command is None and web.args is None
    assert web.run_as_user == 1000  # the pod's securityContext
    assert web.readiness_probe == {"httpGet": {"path": "/", "port": "http"}}
    assert helper.command == ["tail", "-f", "/dev/null"]
    assert helper.working_dir == "/work"
    assert helper.run_as_user == 0  # the container's own wins, even when 0
    assert helper.env == [
        EnvVar("PLAIN", value="x"),
        EnvVar("EMPTY", value=""),
        EnvVar("IP", field_path="status.podIP"),
        EnvVar("APP", field_path="metadata.labels['app']"),
        EnvVar("CM", key_ref=("ConfigMap", "c", "k", False)),
        EnvVar("MEM", unsupported="resourceFieldRef"),
    ]
    assert pod.spec.container("helper") is helper
    assert pod.raw["metadata"]["name"] == "web"


def test_deployment_and_replicaset():
    text = dedent("""\
        apiVersion: apps/v1
        kind: Deployment
        metadata: {name: web, namespace: shop}
        spec:
          selector: {matchLabels: {app: web}}
          strategy: {rollingUpdate: {maxSurge: 1}}
          template:
            metadata: {labels: {app: web, tier: front}, annotations: {a: b}}
            spec: {containers: [{name: c, image: i}]}
        ---
        apiVersion: apps/v1
        kind: ReplicaSet
        metadata: {name: rs}
        spec:
          replicas: 0
          selector: {matchLabels: {app: rs}}
          template:
            metadata: {labels: {app: rs}}
            spec: {containers: [{name: c, image: i}]}
        """)
    manifests = loads(text)
    deployment, = manifests.deployments
    assert deployment.replicas == 1
    assert deployment.namespace == "shop"
    assert deployment.selector.match_labels == {"app": "web"}
    assert deployment.template.labels == {"app": "web", "tier": "front"}
    assert deployment.template.annotations == {"a": "b"}
    assert deployment.template.spec.containers[0].name == "c"
    assert deployment.strategy == {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": "25%"}}
    replicaset, = manifests.replicasets
    assert replicaset.replicas == 0
    assert replicaset.selector.matches(replicaset.template.labels)


def test_service_namespace_and_endpointslice():
    text = dedent("""\
        apiVersion: v1
        kind: Namespace
        metadata: {name: shop}
        ---
        apiVersion: v1
        kind: Service
        metadata: {name: web, namespace: shop}
        spec:
          selector: {app: web}
          ports: [{port: 80, targetPort: http}]
        ---
        apiVersion: v1
        kind: Service
        metadata: {name: manual}
        spec:
          type: NodePort
          ports: [{name: a, port: 80, nodePort: 30080}, {name: b, port: 81}]
        ---
        apiVersion: discovery.k8s.io/v1
        kind: EndpointSlice
        metadata: {name: manual-1, labels: {kubernetes.io/service-name: manual}}
        addressType: IPv4
        endpoints: [{addresses: [10.244.1.5], conditions: {ready: true}}]
        ports: [{name: a, port: 8080}]
        """)
    manifests = loads(text)
    namespace, = manifests.namespaces
    assert namespace.namespace is None and namespace.key == ("Namespace", None, "shop")
    web, manual = manifests.services
    assert (web.type, web.selector, web.namespace) == ("ClusterIP", {"app": "web"}, "shop")
    assert web.ports == [{"port": 80, "targetPort": "http"}]
    assert (manual.type, manual.selector) == ("NodePort", None)
    assert manual.ports[0]["nodePort"] == 30080
    slice_, = manifests.endpointslices
    assert slice_.service_name == "manual" and slice_.address_type == "IPv4"
    assert slice_.endpoints[0]["addresses"] == ["10.244.1.5"]
    assert [type(o).__name__ for o in manifests.objects] == ["Namespace", "Service", "Service", "EndpointSlice"]
