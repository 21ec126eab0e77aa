"""A generated corpus of invalid manifests, each knowing the line and the field its error must name.

Every case starts from a valid base document (a Deployment whose pod template has ports, probes and
env; a NodePort Service with two named ports; a bare Pod; a Namespace; the lab's Cluster document)
and applies one Mutation: a description, the field to change, the new value, and the field path
the first problem must name. The text is rendered by PyYAML's safe dumper in block style, so every field
sits on its own line, and the expected line is found by marking that field in a copy and rendering
the copy (`line_of`): it never asks netlab's own locator (netlab/manifest/source.py).

    cases()        refused by netlab.manifest.loads alone (file case-NNN.yaml)
    store_cases()  valid on their own, refused only against the lab that lab_text() brings up

GAP_MUTATIONS and STORE_GAP_MUTATIONS are the cases this corpus first found netlab getting wrong
(each `gap` says how); they are fixed and run as ordinary cases, kept apart as the record.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, replace
from typing import Any, List, Optional, Sequence, Tuple

import yaml

# ------------------------------------------------------------------------------------ the cases


@dataclass(frozen=True)
class Case:
    """One invalid input: its text, and where and how netlab must say it is wrong."""

    name: str                  # case-NNN or store-NN: the file is NAME.yaml
    description: str
    text: str
    path: Optional[str]        # the field path of the first problem; None for YAML that does not parse
    line: int                  # its 1-based line in text
    says: str = ""             # a fragment of the first problem's message
    gap: str = ""              # what netlab got wrong before it was fixed
    store: bool = False        # refused only against the running lab

    @property
    def file(self) -> str:
        return f"{self.name}.yaml"


DROP = object()                # a Mutation value: remove the field


@dataclass(frozen=True)
class Mutation:
    """A change to a base document, and the field whose error it must cause."""

    description: str
    path: str                  # the field to change, as kubectl prints it: spec.ports[1].nodePort
    value: Any                 # its new value, or DROP
    says: str = ""             # a fragment of the first problem's message
    expect: str = ""           # the field the error names, when it is not the changed one
    also: Tuple[Tuple[str, Any], ...] = ()   # (path, value) changes made first, to set the scene
    gap: str = ""              # what netlab got wrong before it was fixed (the gap tables only)


# ------------------------------------------------------------------------------ base documents

def container(name: str) -> dict:
    """A container with two named ports, env (a value and a fieldRef), two probes, limits, a mount."""
    return {
        "name": name,
        "image": "nginx:1.27",
        "imagePullPolicy": "IfNotPresent",
        "ports": [{"name": "http", "containerPort": 80, "protocol": "TCP"},
                  {"name": "metrics", "containerPort": 9100}],
        "env": [{"name": "MODE", "value": "demo"},
                {"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}}],
        "readinessProbe": {"httpGet": {"path": "/", "port": "http"}, "periodSeconds": 2},
        "livenessProbe": {"tcpSocket": {"port": 80}, "initialDelaySeconds": 1},
        "resources": {"limits": {"cpu": "500m", "memory": "128Mi"}},
        "volumeMounts": [{"name": "data", "mountPath": "/data"}],
    }


def pod_spec(name: str) -> dict:
    # volumes come before containers so that a bad volume is the first problem by line, not the
    # mount that then names no volume
    return {"terminationGracePeriodSeconds": 5,
            "volumes": [{"name": "data", "emptyDir": {}}],
            "containers": [container(name)]}


NAMESPACE = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team-a", "labels": {"team": "a"}}}

DEPLOYMENT = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "metadata": {"name": "web", "labels": {"app": "web"}, "annotations": {"owner": "net-team"}},
    "spec": {
        "replicas": 2,
        "minReadySeconds": 0,
        "revisionHistoryLimit": 10,
        "progressDeadlineSeconds": 600,
        "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}},
        "selector": {"matchLabels": {"app": "web"}},
        "template": {"metadata": {"labels": {"app": "web", "tier": "front"}}, "spec": pod_spec("web")},
    },
}

SERVICE = {
    "apiVersion": "v1",
    "kind": "Service",
    "metadata": {"name": "web", "labels": {"app": "web"}},
    "spec": {
        "type": "NodePort",
        "clusterIP": "10.96.0.50",
        "selector": {"app": "web"},
        "ports": [{"name": "http", "port": 80, "targetPort": "http", "nodePort": 30080, "protocol": "TCP"},
                  {"name": "metrics", "port": 9100, "targetPort": 9100, "nodePort": 30091}],
        "sessionAffinity": "None",
        "externalTrafficPolicy": "Cluster",
    },
}

POD = {
    "apiVersion": "v1",
    "kind": "Pod",
    "metadata": {"name": "solo", "namespace": "team-a", "labels": {"app": "solo"}},
    "spec": {"restartPolicy": "Always", **pod_spec("box")},
}

CLUSTER = {
    "apiVersion": "netlab.io/v1alpha1",
    "kind": "Cluster",
    "metadata": {"name": "corpus"},
    "spec": {"nodes": 2, "podCIDR": "10.244.0.0/16", "serviceCIDR": "10.96.0.0/12",
             "nodePortRange": "30000-32767"},
}

LAB_OBJECTS = (NAMESPACE, DEPLOYMENT, SERVICE, POD)


def lab_text() -> str:
    """The lab the store cases run against: two nodes, and the four base objects."""
    lab = {"apiVersion": "netlab.io/v1alpha1", "kind": "Cluster", "spec": {"nodes": 2}}
    return "---\n".join(render(doc) for doc in (lab,) + LAB_OBJECTS)


# ------------------------------------------------------------------------------- paths and text

_PART = re.compile(r"([^.\[\]]+)|\[([^\]]*)\]")


def parse_path(text: str) -> Tuple[Any, ...]:
    """spec.ports[1].nodePort -> ('spec', 'ports', 1, 'nodePort'); labels[app] -> (..., 'app')."""
    parts: List[Any] = []
    for name, bracket in _PART.findall(text):
        parts.append(name if name else (int(bracket) if bracket.isdigit() else bracket))
    return tuple(parts)


_Dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)     # libyaml's emitter: ten times faster


def render(doc: Any) -> str:
    """DOC as block-style YAML, one field a line, never folded (a 100 KB value stays on its line)."""
    return yaml.dump(doc, Dumper=_Dumper, sort_keys=False, default_flow_style=False, width=10**9, allow_unicode=True)


def fresh(doc: Any) -> Any:
    """A deep copy sharing nothing, so that the dump never writes YAML anchors and aliases."""
    return json.loads(json.dumps(doc))


def set_at(doc: Any, path: Sequence[Any], value: Any) -> None:
    """Set (or with DROP remove) the field at PATH, making the maps on the way; index len appends."""
    node = doc
    for part, following in zip(path, path[1:]):
        if isinstance(node, dict) and not isinstance(node.get(part), (dict, list)):
            node[part] = [] if isinstance(following, int) else {}
        node = node[part]
    last = path[-1]
    if value is DROP:
        del node[last]
    elif isinstance(node, list) and last == len(node):
        node.append(fresh(value))
    else:
        node[last] = fresh(value)


_MARK = "zz-corpus-mark"


def line_of(doc: Any, path: Sequence[Any]) -> int:
    """The line of the deepest part of PATH that DOC has, in render(DOC); 1 when none of it exists.

    The field is marked in a copy (a map key renamed, a list item replaced by the mark) and the
    copy rendered: everything above the field renders the same, so the mark's line is the field's.
    """
    marked = fresh(doc)
    parent, part, node = None, None, marked
    for step in path:
        if isinstance(node, dict) and step in node:
            parent, part, node = node, step, node[step]
        elif isinstance(node, list) and isinstance(step, int) and 0 <= step < len(node):
            parent, part, node = node, step, node[step]
        else:
            break
    if parent is None:
        return 1
    if isinstance(parent, list):
        parent[part] = _MARK
    else:
        items = list(parent.items())
        parent.clear()
        parent.update((_MARK if key == part else key, value) for key, value in items)
    lines = render(marked).splitlines()
    (found,) = [i for i, text in enumerate(lines, start=1) if _MARK in text]
    return found


def mutated(base: dict, mutation: Mutation) -> dict:
    """A copy of BASE with MUTATION's changes made."""
    doc = fresh(base)
    for path, value in mutation.also + ((mutation.path, mutation.value),):   # the scene, then the change
        set_at(doc, parse_path(path), value)
    return doc


def _case(name: str, base: dict, mutation: Mutation, store: bool = False) -> Case:
    """The Case of BASE with MUTATION made, its line found in its own rendering."""
    doc = mutated(base, mutation)
    expect = mutation.expect or mutation.path
    return Case(name, mutation.description, render(doc), expect, line_of(doc, parse_path(expect)),
                mutation.says, mutation.gap, store)


# ------------------------------------------------------------------------------------ mutations

LONG_LABEL = "a" * 64                       # one more than a DNS label (and a label value) may hold
HUGE = "x" * 100_000                        # a 100 KB name
BIG_INT32 = 2**31                           # one more than an int32 holds
TWENTY_DIGITS = 98765432109876543210        # more than an int64 holds


def metadata_mutations(kind: str, max_name: int, namespaced: bool) -> List[Mutation]:
    """apiVersion, kind and metadata: names, labels, annotations, types and unknown fields."""
    too_long = "a" * (max_name + 1)
    out = [
        Mutation("name in upper case", "metadata.name", "Web", 'invalid name "Web"'),
        Mutation("name with an underscore", "metadata.name", "web_1", "invalid name"),
        Mutation("name starting with a dash", "metadata.name", "-web", "invalid name"),
        Mutation("name ending with a dot", "metadata.name", "web.", "invalid name"),
        Mutation(f"name of {max_name + 1} characters", "metadata.name", too_long, "invalid name"),
        Mutation("name of 100 KB", "metadata.name", HUGE, "(100000 characters)"),
        Mutation("empty name", "metadata.name", "", "required field is missing"),
        Mutation("no name", "metadata.name", DROP, "required field is missing"),
        Mutation("no metadata at all", "metadata", DROP, "required field is missing", expect="metadata.name"),
        Mutation("name as a number", "metadata.name", 42, "expected a string"),
        Mutation("name as a list", "metadata.name", ["web"], "expected a string"),
        Mutation("metadata as a list", "metadata", [{"name": "web"}], "expected a map"),
        Mutation("generateName instead of a name", "metadata.generateName", "web-",
                 "generateName is not supported", also=(("metadata.name", DROP),)),
        Mutation("misspelled metadata field", "metadata.nmae", "web", 'unknown field "nmae"'),
        Mutation("labels as a list", "metadata.labels", ["app=web"], "expected a map"),
        Mutation("label key starting with a dash", "metadata.labels[-app]", "web", "invalid label key"),
        Mutation("label key with an empty prefix", "metadata.labels[/app]", "web", "the prefix before '/' is empty"),
        Mutation("label key with an upper case prefix", "metadata.labels[Example.com/app]", "web",
                 "must be a DNS subdomain"),
        Mutation("label key with a space", "metadata.labels[my app]", "web", "invalid label key"),
        Mutation("label key of 64 characters", f"metadata.labels[{LONG_LABEL}]", "web", "invalid label key"),
        Mutation("label value of 64 characters", "metadata.labels[app]", LONG_LABEL, "invalid label value"),
        Mutation("label value with a space", "metadata.labels[app]", "web app", "invalid label value"),
        Mutation("label value ending with a dash", "metadata.labels[app]", "web-", "invalid label value"),
        Mutation("label value as a number", "metadata.labels[version]", 2, 'expected a string, got an integer'),
        Mutation("annotations over 256 KiB", "metadata.annotations[big]", "x" * 300_000, "bytes of annotations",
                 expect="metadata.annotations"),
        Mutation("annotation key with a space", "metadata.annotations[my note]", "hi", "invalid annotation key"),
        Mutation("annotation value as a number", "metadata.annotations[replicas]", 3, "expected a string"),
        Mutation("annotation value as a map", "metadata.annotations[config]", {"a": "b"}, "expected a string"),
        Mutation("resourceVersion as a number", "metadata.resourceVersion", 12, "quote it"),
        Mutation("creationTimestamp as a number", "metadata.creationTimestamp", 5, "expected a timestamp"),
        Mutation("finalizers as a string", "metadata.finalizers", "kubernetes", "expected a list"),
        Mutation("ownerReference without apiVersion, kind and uid", "metadata.ownerReferences",
                 [{"name": "owner"}], "required field is missing",
                 expect="metadata.ownerReferences[0].apiVersion"),
        Mutation("apiVersion of another group", "apiVersion", "apps/v2" if kind != "Service" else "apps/v1",
                 "is not served as"),
        Mutation("apiVersion that is not GROUP/VERSION", "apiVersion", "apps//v1", "invalid apiVersion",
                 also=(("kind", kind + "X"),)),
        Mutation("no apiVersion", "apiVersion", DROP, "required field is missing"),
        Mutation("apiVersion as a number", "apiVersion", 1, "expected a string"),
        Mutation("kind in lower case", "kind", kind.lower(), f'did you mean "{kind}"'),
        Mutation("no kind", "kind", DROP, "required field is missing"),
        Mutation("kind as a list", "kind", [kind], "expected a kind"),
        Mutation("misspelled top-level field", "spc", {}, 'unknown field "spc"'),
    ]
    if namespaced:
        out += [
            Mutation("namespace in upper case", "metadata.namespace", "Team-A", 'invalid namespace "Team-A"'),
            Mutation("namespace of 64 characters", "metadata.namespace", LONG_LABEL, "invalid namespace"),
            Mutation("namespace with a dot", "metadata.namespace", "team.a", "invalid namespace"),
        ]
    return out


def container_mutations(c: str) -> List[Mutation]:
    """A container at path C: name, image, ports, env, probes, mounts, resources."""
    return [
        Mutation("container name in upper case", f"{c}.name", "Web", "invalid container name"),
        Mutation("container name of 64 characters", f"{c}.name", LONG_LABEL, "invalid container name"),
        Mutation("no container name", f"{c}.name", DROP, "required field is missing"),
        Mutation("no image", f"{c}.image", DROP, "required field is missing: the container image"),
        Mutation("empty image", f"{c}.image", "", "the container image"),
        Mutation("imagePullPolicy Sometimes", f"{c}.imagePullPolicy", "Sometimes", 'unsupported value "Sometimes"'),
        Mutation("misspelled imagePullPolicy", f"{c}.imagePullPolicyy", "Always",
                 'did you mean "imagePullPolicy"'),
        Mutation("command as a string", f"{c}.command", "nginx -g daemon", "expected a list"),
        Mutation("args as a map", f"{c}.args", {"a": 1}, "expected a list"),
        Mutation("workingDir as a number", f"{c}.workingDir", 5, "expected a string"),
        Mutation("containerPort 0", f"{c}.ports[0].containerPort", 0, "between 1 and 65535"),
        Mutation("containerPort -1", f"{c}.ports[0].containerPort", -1, "between 1 and 65535"),
        Mutation("containerPort 65536", f"{c}.ports[0].containerPort", 65536, "between 1 and 65535"),
        Mutation("containerPort 2^31", f"{c}.ports[0].containerPort", BIG_INT32, "an int32"),
        Mutation("containerPort of 20 digits", f"{c}.ports[0].containerPort", TWENTY_DIGITS, "invalid value"),
        Mutation("containerPort as a quoted number", f"{c}.ports[0].containerPort", "80", "remove the quotes"),
        Mutation("no containerPort", f"{c}.ports[0].containerPort", DROP, "required field is missing"),
        Mutation("port protocol HTTP", f"{c}.ports[0].protocol", "HTTP", 'unsupported value "HTTP"'),
        Mutation("port protocol in lower case", f"{c}.ports[0].protocol", "tcp", 'did you mean "TCP"'),
        Mutation("port name in upper case", f"{c}.ports[0].name", "HTTP", "invalid port name"),
        Mutation("port name of 16 characters", f"{c}.ports[1].name", "metrics-endpoint", "invalid port name"),
        Mutation("port name that is a number", f"{c}.ports[1].name", "9100", "a quoted number"),
        Mutation("duplicate port name", f"{c}.ports[1].name", "http", 'duplicate port name "http"'),
        Mutation("hostPort 65536", f"{c}.ports[0].hostPort", 65536, "invalid hostPort"),
        Mutation("ports as a map", f"{c}.ports", {"containerPort": 80}, "expected a list"),
        Mutation("env as a map", f"{c}.env", {"MODE": "demo"}, "expected a list"),
        Mutation("env name with '='", f"{c}.env[0].name", "MODE=demo", "invalid environment variable name"),
        Mutation("env without a name", f"{c}.env[0].name", DROP, "required field is missing"),
        Mutation("env value as a number", f"{c}.env[0].value", 5, "quote it"),
        Mutation("env with value and valueFrom", f"{c}.env[1].value", "10.0.0.1", "may not be set together",
                 expect=f"{c}.env[1].valueFrom"),
        Mutation("env valueFrom with two sources", f"{c}.env[1].valueFrom.secretKeyRef",
                 {"name": "s", "key": "k"}, "give exactly one", expect=f"{c}.env[1].valueFrom"),
        Mutation("env fieldPath that does not exist", f"{c}.env[1].valueFrom.fieldRef.fieldPath", "status.podIPX",
                 'unsupported value "status.podIPX"'),
        Mutation("env fieldRef apiVersion v2", f"{c}.env[1].valueFrom.fieldRef.apiVersion", "v2",
                 'unsupported value "v2"'),
        Mutation("probe with two handlers", f"{c}.readinessProbe.tcpSocket", {"port": 80},
                 "more than 1 handler type"),
        Mutation("probe without a handler", f"{c}.readinessProbe.httpGet", DROP, "must specify a handler type",
                 expect=f"{c}.readinessProbe"),
        Mutation("probe port 0", f"{c}.livenessProbe.tcpSocket.port", 0, "between 1 and 65535"),
        Mutation("probe port 70000", f"{c}.livenessProbe.tcpSocket.port", 70000, "between 1 and 65535"),
        Mutation("probe port name with an underscore", f"{c}.readinessProbe.httpGet.port", "http_port",
                 "invalid port name"),
        Mutation("probe httpGet without a port", f"{c}.readinessProbe.httpGet.port", DROP,
                 "required field is missing"),
        Mutation("probe httpGet as a list", f"{c}.readinessProbe.httpGet", [{"port": 80}], "expected a map"),
        Mutation("probe periodSeconds -1", f"{c}.readinessProbe.periodSeconds", -1, "greater than or equal to 0"),
        Mutation("probe timeoutSeconds 2^31", f"{c}.readinessProbe.timeoutSeconds", BIG_INT32, "an int32"),
        Mutation("liveness successThreshold 2", f"{c}.livenessProbe.successThreshold", 2, "must be 1"),
        Mutation("probe terminationGracePeriodSeconds 0", f"{c}.livenessProbe.terminationGracePeriodSeconds", 0,
                 "greater than 0"),
        Mutation("mount of a volume that does not exist", f"{c}.volumeMounts[0].name", "cache",
                 'no volume named "cache"'),
        Mutation("mount without a mountPath", f"{c}.volumeMounts[0].mountPath", DROP, "required field is missing"),
        Mutation("cpu limit that is not a quantity", f"{c}.resources.limits[cpu]", "lots", 'invalid quantity "lots"'),
        Mutation("memory limit as a boolean", f"{c}.resources.limits[memory]", True, "expected a quantity"),
        Mutation("resources as a list", f"{c}.resources", [], "expected a map"),
        Mutation("runAsUser -1", f"{c}.securityContext.runAsUser", -1, "greater than or equal to 0"),
    ]


def pod_spec_mutations(s: str, template_of: str = "") -> List[Mutation]:
    """A pod spec at path S (a Pod's, or a workload's template's when TEMPLATE_OF names the kind)."""
    c = f"{s}.containers[0]"
    out = [
        Mutation("no containers", f"{s}.containers", DROP, "required field is missing"),
        Mutation("empty containers", f"{s}.containers", [], "at least one container"),
        Mutation("containers as a map", f"{s}.containers", {"name": "web"}, "expected a list"),
        Mutation("duplicate container name", f"{s}.containers[1]", container("web" if template_of else "box"),
                 "duplicate container name", expect=f"{s}.containers[1].name"),
        Mutation("init container named as a container", f"{s}.initContainers",
                 [{"name": "web" if template_of else "box", "image": "busybox"}], "duplicate container name",
                 expect=f"{c}.name"),
        Mutation("misspelled containers", f"{s}.container", [], 'did you mean "containers"'),
        Mutation("dnsPolicy Cluster", f"{s}.dnsPolicy", "Cluster", 'unsupported value "Cluster"'),
        Mutation("duplicate volume name", f"{s}.volumes[1]", {"name": "data", "emptyDir": {}},
                 'duplicate volume name "data"', expect=f"{s}.volumes[1].name"),
        Mutation("volume name in upper case", f"{s}.volumes[0].name", "Data", "invalid volume name"),
        Mutation("node selector key with a space", f"{s}.nodeSelector[disk type]", "ssd",
                 "invalid node selector key"),
        Mutation("terminationGracePeriodSeconds -1", f"{s}.terminationGracePeriodSeconds", -1,
                 "greater than or equal to 0"),
        Mutation("pod runAsUser -1", f"{s}.securityContext.runAsUser", -1, "greater than or equal to 0"),
        Mutation("hostname with an underscore", f"{s}.hostname", "web_1", "invalid hostname"),
        Mutation("nodeName in upper case", f"{s}.nodeName", "Node1", "invalid node name"),
        Mutation("hostNetwork as a quoted boolean", f"{s}.hostNetwork", "true", "remove the quotes"),
        Mutation("activeDeadlineSeconds as a duration", f"{s}.activeDeadlineSeconds", "1h", "expected an integer"),
        Mutation("affinity as a list", f"{s}.affinity", [], "expected a map"),
    ]
    if template_of:
        out.append(Mutation("restartPolicy Never in a template", f"{s}.restartPolicy", "Never",
                            f'a {template_of} pod template needs "Always"'))
    else:
        out.append(Mutation("restartPolicy Sometimes", f"{s}.restartPolicy", "Sometimes",
                            'unsupported value "Sometimes"'))
    return out + container_mutations(c)


DEPLOYMENT_MUTATIONS = [
    Mutation("replicas as a quoted number", "spec.replicas", "2", "remove the quotes"),
    Mutation("replicas -1", "spec.replicas", -1, "greater than or equal to 0"),
    Mutation("replicas 2^31", "spec.replicas", BIG_INT32, "an int32"),
    Mutation("replicas of 20 digits", "spec.replicas", TWENTY_DIGITS, "out of range"),
    Mutation("replicas 1.5", "spec.replicas", 1.5, "expected an integer"),
    Mutation("replicas as a boolean", "spec.replicas", True, "expected an integer"),
    Mutation("replicas as a list", "spec.replicas", [2], "expected an integer"),
    Mutation("misspelled replicas", "spec.replica", 2, 'did you mean "replicas"'),
    Mutation("spec as a list", "spec", [], "expected a map"),
    Mutation("no spec", "spec", DROP, "required field is missing"),
    Mutation("no selector", "spec.selector", DROP, "required field is missing"),
    Mutation("empty selector", "spec.selector", {}, "empty selector"),
    Mutation("selector that does not match the template", "spec.selector.matchLabels[app]", "api",
             "selector does not match template labels", expect="spec.template.metadata.labels"),
    Mutation("template without labels", "spec.template.metadata.labels", DROP,
             "selector does not match template labels"),
    Mutation("matchLabels as a list", "spec.selector.matchLabels", ["app=web"], "expected a map"),
    Mutation("matchLabels key with a space", "spec.selector.matchLabels[my app]", "web", "invalid label key"),
    Mutation("matchExpressions operator Equals", "spec.selector.matchExpressions",
             [{"key": "tier", "operator": "Equals", "values": ["front"]}], 'unsupported value "Equals"',
             expect="spec.selector.matchExpressions[0].operator"),
    Mutation("matchExpressions In without values", "spec.selector.matchExpressions",
             [{"key": "tier", "operator": "In"}], "required when operator is In",
             expect="spec.selector.matchExpressions[0].values"),
    Mutation("matchExpressions Exists with values", "spec.selector.matchExpressions",
             [{"key": "tier", "operator": "Exists", "values": ["front"]}], "must be empty",
             expect="spec.selector.matchExpressions[0].values"),
    Mutation("matchExpressions that the template does not match", "spec.selector.matchExpressions",
             [{"key": "tier", "operator": "In", "values": ["back"]}], "selector does not match",
             expect="spec.template.metadata.labels"),
    Mutation("no template", "spec.template", DROP, "required field is missing"),
    Mutation("template without a spec", "spec.template.spec", DROP, "required field is missing"),
    Mutation("template label value with a space", "spec.template.metadata.labels[tier]", "front end",
             "invalid label value"),
    Mutation("minReadySeconds -1", "spec.minReadySeconds", -1, "greater than or equal to 0"),
    Mutation("revisionHistoryLimit -1", "spec.revisionHistoryLimit", -1, "greater than or equal to 0"),
    Mutation("progressDeadlineSeconds 2^31", "spec.progressDeadlineSeconds", BIG_INT32, "an int32"),
    Mutation("progressDeadlineSeconds as a duration", "spec.progressDeadlineSeconds", "10m", "expected an integer"),
    Mutation("paused as yes", "spec.paused", "yes", "expected a boolean"),
    Mutation("strategy type Rolling", "spec.strategy.type", "Rolling", 'unsupported value "Rolling"'),
    Mutation("Recreate strategy with rollingUpdate", "spec.strategy.type", "Recreate",
             'may not be set when type is "Recreate"', expect="spec.strategy.rollingUpdate"),
    Mutation("maxSurge as a number in quotes", "spec.strategy.rollingUpdate.maxSurge", "25",
             "a percentage such as"),
    Mutation("maxSurge -1", "spec.strategy.rollingUpdate.maxSurge", -1, "greater than or equal to 0"),
    Mutation("maxSurge and maxUnavailable both 0", "spec.strategy.rollingUpdate.maxSurge", 0,
             "may not be 0 when maxSurge is 0", expect="spec.strategy.rollingUpdate.maxUnavailable"),
    Mutation("rollingUpdate as a list", "spec.strategy.rollingUpdate", [], "expected a map"),
] + pod_spec_mutations("spec.template.spec", "Deployment")

LB = ("spec.type", "LoadBalancer")          # "also" for the cases that need a LoadBalancer
NO_NODE_PORTS = (("spec.ports[0].nodePort", DROP), ("spec.ports[1].nodePort", DROP))
CLUSTER_IP_ONLY = (("spec.type", "ClusterIP"), ("spec.externalTrafficPolicy", DROP)) + NO_NODE_PORTS

SERVICE_MUTATIONS = [
    Mutation("type Nodeport", "spec.type", "Nodeport", 'did you mean "NodePort"'),
    Mutation("type Balancer", "spec.type", "Balancer", 'unsupported value "Balancer"'),
    Mutation("type as a number", "spec.type", 1, "expected a string"),
    Mutation("name starting with a digit", "metadata.name", "1web", "starting with a letter"),
    Mutation("port 0", "spec.ports[0].port", 0, "between 1 and 65535"),
    Mutation("port -1", "spec.ports[0].port", -1, "between 1 and 65535"),
    Mutation("port 65536", "spec.ports[1].port", 65536, "between 1 and 65535"),
    Mutation("port 2^31", "spec.ports[0].port", BIG_INT32, "an int32"),
    Mutation("port of 20 digits", "spec.ports[0].port", TWENTY_DIGITS, "invalid value"),
    Mutation("port as a quoted number", "spec.ports[0].port", "80", "remove the quotes"),
    Mutation("no port", "spec.ports[1].port", DROP, "required field is missing"),
    Mutation("nodePort 65536", "spec.ports[1].nodePort", 65536, "invalid nodePort 65536"),
    Mutation("nodePort -1", "spec.ports[0].nodePort", -1, "invalid nodePort -1"),
    Mutation("nodePort 2^31", "spec.ports[1].nodePort", BIG_INT32, "an int32"),
    Mutation("nodePort as a quoted number", "spec.ports[0].nodePort", "30080", "remove the quotes"),
    Mutation("nodePort on a ClusterIP Service", "spec.type", "ClusterIP", 'may not be set when type is "ClusterIP"',
             expect="spec.ports[0].nodePort"),
    Mutation("port protocol HTTP", "spec.ports[0].protocol", "HTTP", 'unsupported value "HTTP"'),
    Mutation("targetPort 65536", "spec.ports[1].targetPort", 65536, "between 1 and 65535"),
    Mutation("targetPort -1", "spec.ports[1].targetPort", -1, "between 1 and 65535"),
    Mutation("targetPort name with an underscore", "spec.ports[0].targetPort", "http_port", "invalid port name"),
    Mutation("targetPort name of 16 characters", "spec.ports[0].targetPort", "metrics-endpoint", "invalid port name"),
    Mutation("targetPort as a map", "spec.ports[0].targetPort", {"port": 80}, "expected an integer or a string"),
    Mutation("port name in upper case", "spec.ports[0].name", "Http", "invalid port name"),
    Mutation("duplicate port name", "spec.ports[1].name", "http", 'duplicate port name "http"'),
    Mutation("second port without a name", "spec.ports[1].name", DROP, "required when a Service has more than one"),
    Mutation("duplicate port number", "spec.ports[1].port", 80, "duplicate port 80/TCP", expect="spec.ports[1]"),
    Mutation("no ports", "spec.ports", DROP, "required field is missing"),
    Mutation("empty ports", "spec.ports", [], "required field is missing"),
    Mutation("ports as a map", "spec.ports", {"port": 80}, "expected a list"),
    Mutation("misspelled ports", "spec.port", [{"port": 80}], 'did you mean "ports"'),
    Mutation("clusterIP None on a NodePort Service", "spec.clusterIP", "None", "may not be set to 'None'"),
    Mutation("clusterIP that is not an address", "spec.clusterIP", "10.96.0.300", 'invalid clusterIP "10.96.0.300"'),
    Mutation("clusterIP as a number", "spec.clusterIP", 10, "expected a string"),
    Mutation("clusterIPs[0] other than clusterIP", "spec.clusterIPs", ["10.96.0.51"], "must match spec.clusterIP",
             expect="spec.clusterIPs[0]"),
    Mutation("three clusterIPs", "spec.clusterIPs", ["10.96.0.50", "fd00::50", "10.96.0.52"], "at most 2 entries"),
    Mutation("two IPv4 clusterIPs", "spec.clusterIPs", ["10.96.0.50", "10.96.0.51"], "one IP for each IP family",
             expect="spec.clusterIPs[1]"),
    Mutation("clusterIPs None with another", "spec.clusterIPs", ["None", "10.96.0.51"], 'the only entry',
             expect="spec.clusterIPs[0]", also=(("spec.clusterIP", DROP),) + CLUSTER_IP_ONLY),
    Mutation("source range with prefix /33", "spec.loadBalancerSourceRanges", ["10.0.0.0/33"],
             'invalid value "10.0.0.0/33"', expect="spec.loadBalancerSourceRanges[0]", also=(LB,)),
    Mutation("source range without a prefix", "spec.loadBalancerSourceRanges", ["10.0.0.0/8", "192.168.1.1"],
             'invalid value "192.168.1.1"', expect="spec.loadBalancerSourceRanges[1]", also=(LB,)),
    Mutation("source range that is a word", "spec.loadBalancerSourceRanges", ["office"], 'invalid value "office"',
             expect="spec.loadBalancerSourceRanges[0]", also=(LB,)),
    Mutation("source ranges on a NodePort Service", "spec.loadBalancerSourceRanges", ["10.0.0.0/8"],
             "may only be used when type is LoadBalancer"),
    Mutation("source ranges as a string", "spec.loadBalancerSourceRanges", "10.0.0.0/8", "expected a list",
             also=(LB,)),
    Mutation("source ranges annotation with a bad CIDR",
             "metadata.annotations[service.beta.kubernetes.io/load-balancer-source-ranges]", "10.0.0.0/8,10.1.0.0/99",
             'invalid value "10.1.0.0/99"', also=(LB,)),
    Mutation("externalIP that is not an address", "spec.externalIPs", ["1.2.3"], 'invalid external IP "1.2.3"',
             expect="spec.externalIPs[0]"),
    Mutation("loadBalancerIP that is not an address", "spec.loadBalancerIP", "my-lb", "invalid loadBalancerIP",
             also=(LB,)),
    Mutation("sessionAffinity Sticky", "spec.sessionAffinity", "Sticky", 'unsupported value "Sticky"'),
    Mutation("sessionAffinityConfig with sessionAffinity None", "spec.sessionAffinityConfig",
             {"clientIP": {"timeoutSeconds": 60}}, 'may not be set when sessionAffinity is "None"'),
    Mutation("affinity timeout 0", "spec.sessionAffinityConfig.clientIP.timeoutSeconds", 0, "between 1 and 86400",
             also=(("spec.sessionAffinity", "ClientIP"),)),
    Mutation("affinity timeout of a day and a second", "spec.sessionAffinityConfig.clientIP.timeoutSeconds", 86401,
             "between 1 and 86400", also=(("spec.sessionAffinity", "ClientIP"),)),
    Mutation("externalTrafficPolicy Global", "spec.externalTrafficPolicy", "Global", 'unsupported value "Global"'),
    Mutation("externalTrafficPolicy on a ClusterIP Service", "spec.externalTrafficPolicy", "Local",
             "may only be set when type is NodePort", also=CLUSTER_IP_ONLY),
    Mutation("internalTrafficPolicy Node", "spec.internalTrafficPolicy", "Node", 'unsupported value "Node"'),
    Mutation("healthCheckNodePort on a NodePort Service", "spec.healthCheckNodePort", 30100,
             "may only be set for type LoadBalancer"),
    Mutation("ipFamilies IPv5", "spec.ipFamilies", ["IPv5"], 'unsupported value "IPv5"', expect="spec.ipFamilies[0]"),
    Mutation("ipFamilyPolicy DualStack", "spec.ipFamilyPolicy", "DualStack", 'unsupported value "DualStack"'),
    Mutation("selector value with a space", "spec.selector[app]", "web app", "invalid selector value"),
    Mutation("selector as a list", "spec.selector", ["app=web"], "expected a map"),
    Mutation("ExternalName without externalName", "spec.type", "ExternalName", "required for type ExternalName",
             expect="spec.externalName", also=(("spec.clusterIP", DROP),) + NO_NODE_PORTS),
    Mutation("ExternalName with a clusterIP", "spec.type", "ExternalName", "may not be set for ExternalName",
             expect="spec.clusterIP", also=(("spec.externalName", "db.example.com"),) + NO_NODE_PORTS),
    Mutation("externalName with an underscore", "spec.externalName", "my_db.example.com", "invalid externalName",
             also=(("spec.type", "ExternalName"), ("spec.clusterIP", DROP), ("spec.externalTrafficPolicy", DROP))
             + NO_NODE_PORTS),
    Mutation("publishNotReadyAddresses as yes", "spec.publishNotReadyAddresses", "yes", "expected a boolean"),
]

NAMESPACE_MUTATIONS = [
    Mutation("namespace name with a dot", "metadata.name", "team.a", "invalid name"),
    Mutation("finalizers as a string", "spec.finalizers", "kubernetes", "expected a list"),
    Mutation("misspelled spec field", "spec.finalizer", ["kubernetes"], 'did you mean "finalizers"'),
]

POD_MUTATIONS = [
    Mutation("no spec", "spec", DROP, "required field is missing"),
    Mutation("spec as a string", "spec", "nginx", "expected a map"),
] + pod_spec_mutations("spec")

CLUSTER_MUTATIONS = [
    Mutation("no nodes", "spec.nodes", 0, "at least 1 node"),
    Mutation("nodes -1", "spec.nodes", -1, "at least 1 node"),
    Mutation("nodes as a quoted number", "spec.nodes", "2", "expected an integer or a list"),
    Mutation("duplicate node names", "spec.nodes", [{"name": "a"}, {"name": "a"}], 'duplicate node name "a"',
             expect="spec.nodes[1].name"),
    Mutation("node name in upper case", "spec.nodes", [{"name": "Node1"}], "invalid node name",
             expect="spec.nodes[0].name"),
    Mutation("podCIDR with prefix /33", "spec.podCIDR", "10.244.0.0/33", 'invalid CIDR "10.244.0.0/33"'),
    Mutation("podCIDR with host bits", "spec.podCIDR", "10.244.1.0/16", "the host bits are set"),
    Mutation("serviceCIDR overlapping podCIDR", "spec.serviceCIDR", "10.240.0.0/12", "overlap"),
    Mutation("nodePortRange backwards", "spec.nodePortRange", "32767-30000", "invalid port range"),
    Mutation("misspelled nodes", "spec.node", 2, 'did you mean "nodes"'),
    Mutation("lab name in upper case", "metadata.name", "Lab", "invalid lab name"),
    Mutation("iptablesBackend nft", "spec.iptablesBackend", "nft", 'unsupported value "nft"'),
]


# ---------------------------------------------------------------------------- raw-text cases

def _replace_line(text: str, old: str, new: str) -> Tuple[str, int]:
    """TEXT with its one line OLD replaced by NEW, and that line's number."""
    lines = text.splitlines(keepends=True)
    (index,) = [i for i, line in enumerate(lines) if line.rstrip("\n") == old]
    lines[index] = new + "\n"
    return "".join(lines), index + 1


def _syntax_cases() -> List[Tuple[str, str, Optional[str], int, str]]:
    """(description, text, path, line, says) for YAML that is not a manifest, written by hand."""
    deployment = render(DEPLOYMENT)
    service = render(SERVICE)
    out = []

    def edit(description, text, old, new, says, path=None):
        changed, line = _replace_line(text, old, new)
        out.append((description, changed, path, line, says))

    edit("a tab in the indentation", deployment, "  replicas: 2", "\treplicas: 2", "indent with spaces")
    edit("an unquoted value with ': ' in it", deployment, "      - name: web", "      - name: web: server",
         "mapping values are not allowed")
    edit("a list item inside a map", service, "  clusterIP: 10.96.0.50", "  - clusterIP: 10.96.0.50",
         "YAML syntax error")
    edit("an undefined alias", deployment, "  replicas: 2", "  replicas: *count", "undefined alias")
    edit("an unsupported tag", deployment, "        image: nginx:1.27", "        image: !docker nginx:1.27",
         "unsupported YAML tag")
    edit("a merge key with a number", service, "  sessionAffinity: None", "  <<: 5", "merge key")
    edit("a list as a map key", service, "  sessionAffinity: None", "  ? [a, b]\n  : c", "a map key must be")
    edit("a duplicate name", deployment, "  labels:", "  name: api\n  labels:", 'duplicate field "name"',
         path="metadata.name")
    edit("a duplicate replicas", deployment, "  minReadySeconds: 0", "  replicas: 3", 'duplicate field "replicas"',
         path="spec.replicas")
    edit("a duplicate nodePort", service, "    protocol: TCP", "    nodePort: 30081",
         'duplicate field "nodePort"', path="spec.ports[0].nodePort")
    out.append(("a list instead of an object", render([DEPLOYMENT]), None, 1, "expected a Kubernetes object"))
    out.append(("a string instead of an object", "just some words\n", None, 1, "expected a Kubernetes object"))
    return out


def _named(mutations: List[Mutation], description: str) -> Mutation:
    (found,) = [m for m in mutations if m.description == description]
    return found


def _second_document_cases() -> List[Tuple[str, str, str, int, str]]:
    """Bad documents after a good one: the line counts from the top of the file."""
    first = render(NAMESPACE) + "---\n"
    offset = first.count("\n")
    picks = [(DEPLOYMENT, _named(DEPLOYMENT_MUTATIONS, "replicas 2^31")),
             (SERVICE, _named(SERVICE_MUTATIONS, "type Nodeport")),
             (POD, _named(POD_MUTATIONS, "duplicate container name"))]
    out = []
    for base, mutation in picks:
        doc = mutated(base, mutation)
        path = mutation.expect or mutation.path
        out.append((f"{mutation.description}, in a second document", first + render(doc), path,
                    offset + line_of(doc, parse_path(path)), mutation.says))
    return out


def _list_cases() -> List[Tuple[str, str, str, int, str]]:
    """A v1 List (kubectl get -o yaml): a bad item's error names the field in the item, at its line."""
    out = []
    for base, mutation in ((DEPLOYMENT, _named(DEPLOYMENT_MUTATIONS, "replicas as a quoted number")),
                           (SERVICE, _named(SERVICE_MUTATIONS, "type Balancer"))):
        doc = {"apiVersion": "v1", "kind": "List", "items": [fresh(NAMESPACE), mutated(base, mutation)]}
        path = mutation.expect or mutation.path
        out.append((f"{mutation.description}, in a List item", render(doc), path,
                    line_of(doc, ("items", 1) + parse_path(path)), mutation.says))
    return out


# -------------------------------------------------------------------------------- the corpus

def _closed(pairs: List[Tuple[dict, Mutation]]) -> List[Tuple[dict, Mutation]]:
    """Cases this corpus found netlab getting wrong (their `gap` says how), fixed since: ordinary cases now."""
    return [(base, replace(m, gap="")) for base, m in pairs]


def _static() -> List[Tuple[dict, Mutation]]:
    pairs: List[Tuple[dict, Mutation]] = []
    for base, max_name, namespaced in ((DEPLOYMENT, 253, True), (SERVICE, 63, True), (POD, 253, True),
                                       (NAMESPACE, 63, False)):
        pairs += [(base, m) for m in metadata_mutations(base["kind"], max_name, namespaced)]
    pairs += [(DEPLOYMENT, m) for m in DEPLOYMENT_MUTATIONS]
    pairs += [(SERVICE, m) for m in SERVICE_MUTATIONS]
    pairs += [(POD, m) for m in POD_MUTATIONS]
    pairs += [(NAMESPACE, m) for m in NAMESPACE_MUTATIONS]
    pairs += [(CLUSTER, m) for m in CLUSTER_MUTATIONS]
    pairs += _closed(GAP_MUTATIONS)
    pairs.append((CLUSTER, Mutation("2^31 nodes", "spec.nodes", BIG_INT32, "has room for")))
    return pairs


def cases() -> List[Case]:
    """Every static case: refused by netlab.manifest.loads with the error at Case.line and Case.path."""
    out = [_case(f"case-{i:03d}", base, replace(m, description=f"{m.description} ({base['kind']})"))
           for i, (base, m) in enumerate(_static(), start=1)]
    for description, text, path, line, says in _syntax_cases() + _second_document_cases() + _list_cases():
        out.append(Case(f"case-{len(out) + 1:03d}", description, text, path, line, says))
    bell, line = _replace_line(render(NAMESPACE), "    team: a", "    team: a\x07")
    out.append(Case(f"case-{len(out) + 1:03d}", "a control character in a value", bell, "", line,
                    "control characters are not allowed"))
    # refused at a6, the first level past a million values (9^7 strings)
    out.append(Case(f"case-{len(out) + 1:03d}", "a billion laughs: nine levels of nine aliases", _billion_laughs(),
                    "", 12, "excessive aliasing"))
    return out


# ------------------------------------------------------------------------- against the lab

def _renamed_service(name: str, *changes: Tuple[str, Any]) -> Tuple[Tuple[str, Any], ...]:
    """The "also" changes that make SERVICE a new Service NAME, holding no address or port of its own."""
    return (("metadata.name", name), ("spec.clusterIP", DROP)) + NO_NODE_PORTS + changes


STORE_MUTATIONS = [
    (POD, Mutation("a Pod in a namespace that does not exist", "metadata.namespace", "nowhere",
                   'namespaces "nowhere" not found')),
    (DEPLOYMENT, Mutation("a Deployment in a namespace that does not exist", "metadata.namespace", "nowhere",
                          'namespaces "nowhere" not found')),
    (SERVICE, Mutation("a Service in a namespace that does not exist", "metadata.namespace", "nowhere",
                       'namespaces "nowhere" not found', also=(("spec.clusterIP", DROP),) + NO_NODE_PORTS)),
    (SERVICE, Mutation("a Service's clusterIP changed", "spec.clusterIP", "10.96.0.51", "field is immutable")),
    (SERVICE, Mutation("a Service's clusterIPs changed", "spec.clusterIPs", ["10.96.0.51"], "may not change once set",
                       expect="spec.clusterIPs[0]", also=(("spec.clusterIP", DROP),))),
    (DEPLOYMENT, Mutation("a Deployment's selector changed", "spec.selector.matchLabels[app]", "web2",
                          "field is immutable", expect="spec.selector",
                          also=(("spec.template.metadata.labels[app]", "web2"),))),
    (DEPLOYMENT, Mutation("a Deployment's selector narrowed", "spec.selector.matchLabels[tier]", "front",
                          "field is immutable", expect="spec.selector")),
    (POD, Mutation("a bare Pod's container port changed", "spec.containers[0].ports[0].containerPort", 8080,
                   "pod updates may not change fields")),
    (POD, Mutation("a bare Pod's container renamed", "spec.containers[0].name", "box2",
                   "pod updates may not change fields")),
    (POD, Mutation("a bare Pod's restartPolicy changed", "spec.restartPolicy", "Never",
                   "pod updates may not change fields")),
    (POD, Mutation("a bare Pod's env changed", "spec.containers[0].env[0].value", "prod",
                   "pod updates may not change fields")),
    (POD, Mutation("a bare Pod given a second container", "spec.containers[1]", {"name": "side", "image": "busybox"},
                   "pod updates may not change fields", expect="spec.containers")),
    (POD, Mutation("a bare Pod's volume changed", "spec.volumes[0].emptyDir.medium", "Memory",
                   "pod updates may not change fields")),
    (POD, Mutation("a bare Pod moved to a node", "spec.nodeName", "node2", "pod updates may not change fields")),
]

# Refused by the lab's Service allocator (lab.check_services) and capacity check, with the object's
# first line instead of the field's, and a "Service ns/name:" between line and field
_ALLOCATOR_GAP = ('names the object\'s first line, not the field\'s, puts "Service default/NAME: " between '
                  'line and field, and ends with a line "nothing was changed" that is not a problem line')

STORE_GAP_MUTATIONS = [
    (SERVICE, Mutation("a clusterIP outside the service CIDR 10.96.0.0/12", "spec.clusterIP", "10.200.0.10",
                       "not in the valid range", also=_renamed_service("other"), gap=_ALLOCATOR_GAP)),
    (SERVICE, Mutation("the service CIDR's network address as clusterIP", "spec.clusterIP", "10.96.0.0",
                       "not in the valid range", also=_renamed_service("other"), gap=_ALLOCATOR_GAP)),
    (SERVICE, Mutation("a clusterIP another Service holds", "spec.clusterIP", "10.96.0.50", "already allocated",
                       also=_renamed_service("other"), gap=_ALLOCATOR_GAP)),
    (SERVICE, Mutation("a nodePort below the range 30000-32767", "spec.ports[0].nodePort", 29999,
                       "not in the valid range", also=_renamed_service("other"), gap=_ALLOCATOR_GAP)),
    (SERVICE, Mutation("a nodePort above the range 30000-32767", "spec.ports[0].nodePort", 32768,
                       "not in the valid range", also=_renamed_service("other"), gap=_ALLOCATOR_GAP)),
    (SERVICE, Mutation("a nodePort another Service holds", "spec.ports[0].nodePort", 30080, "already allocated",
                       also=_renamed_service("other"), gap=_ALLOCATOR_GAP)),
    (SERVICE, Mutation("a healthCheckNodePort below the range", "spec.healthCheckNodePort", 29999,
                       "not in the valid range",
                       also=_renamed_service("other", ("spec.type", "LoadBalancer"),
                                             ("spec.externalTrafficPolicy", "Local")),
                       gap=_ALLOCATOR_GAP)),
    (DEPLOYMENT, Mutation("more replicas than the lab has pod addresses", "spec.replicas", 100_000, "do not fit",
                          gap="names the object's first line (line 1), not the line of spec.replicas")),
]


def store_cases() -> List[Case]:
    """Valid on their own, refused by `netlab apply` against the lab lab_text() brings up."""
    pairs = STORE_MUTATIONS + _closed(STORE_GAP_MUTATIONS)
    return [_case(f"store-{i:02d}", base, m, store=True) for i, (base, m) in enumerate(pairs, start=1)]


# ----------------------------------------------------------- found wrong by this corpus, fixed since

_ACCEPTED = "accepted by netlab; the API server refuses it"
_CRASH = "crashes netlab.manifest.loads with a traceback (the CLI prints one line naming no file, line or field)"
C0 = "spec.template.spec.containers[0]"

GAP_MUTATIONS = [
    (DEPLOYMENT, Mutation("status as a list", "status", [],
                          gap=_ACCEPTED + " (strict decoding: status is a struct)")),
    (SERVICE, Mutation("the same nodePort twice in one Service", "spec.ports[1].nodePort", 30080,
                       gap=_ACCEPTED + " (Duplicate value); `netlab apply` refuses it later, at the object's "
                                       "first line")),
    (DEPLOYMENT, Mutation("a volume with two sources", "spec.template.spec.volumes[0].hostPath", {"path": "/tmp"},
                          gap=_ACCEPTED + " (may not specify more than 1 volume type)")),
    (DEPLOYMENT, Mutation("toleration operator Maybe", "spec.template.spec.tolerations",
                          [{"key": "a", "operator": "Maybe"}], expect="spec.template.spec.tolerations[0].operator",
                          gap=_ACCEPTED + " (Unsupported value)")),
    (DEPLOYMENT, Mutation("httpGet scheme FTP", f"{C0}.readinessProbe.httpGet.scheme", "FTP",
                          gap=_ACCEPTED + " (supported: HTTP, HTTPS)")),
    (DEPLOYMENT, Mutation("exec probe without a command", f"{C0}.livenessProbe", {"exec": {}},
                          expect=f"{C0}.livenessProbe.exec.command", gap=_ACCEPTED + " (Required value)")),
    (DEPLOYMENT, Mutation("terminationMessagePolicy Sometimes", f"{C0}.terminationMessagePolicy", "Sometimes",
                          gap=_ACCEPTED + " (Unsupported value)")),
    (DEPLOYMENT, Mutation("two mounts at the same path", f"{C0}.volumeMounts[1]",
                          {"name": "data", "mountPath": "/data"},
                          expect=f"{C0}.volumeMounts[1].mountPath", gap=_ACCEPTED + " (must be unique)")),
    (DEPLOYMENT, Mutation("cpu request above the limit", f"{C0}.resources.requests", {"cpu": "1"},
                          expect=f"{C0}.resources.requests[cpu]",
                          gap=_ACCEPTED + " (must be less than or equal to cpu limit)")),
    (DEPLOYMENT, Mutation("a negative cpu limit", f"{C0}.resources.limits[cpu]", "-1",
                          gap=_ACCEPTED + " (must be greater than or equal to 0)")),
    (DEPLOYMENT, Mutation("the same hostPort in two containers", f"{C0}.ports[0].hostPort", 8080,
                          expect="spec.template.spec.containers[1].ports[0].hostPort",
                          also=(("spec.template.spec.containers[1]",
                                 {"name": "side", "image": "nginx",
                                  "ports": [{"containerPort": 81, "hostPort": 8080}]}),),
                          gap=_ACCEPTED + " (Duplicate value: 8080/TCP)")),
    (DEPLOYMENT, Mutation("serviceAccountName with an underscore", "spec.template.spec.serviceAccountName", "web_sa",
                          gap=_ACCEPTED + " (a DNS subdomain)")),
    (DEPLOYMENT, Mutation("priorityClassName in upper case", "spec.template.spec.priorityClassName", "High",
                          gap=_ACCEPTED + " (a DNS subdomain)")),
    (DEPLOYMENT, Mutation("dnsConfig nameserver that is not an address", "spec.template.spec.dnsConfig",
                          {"nameservers": ["dns"]}, expect="spec.template.spec.dnsConfig.nameservers[0]",
                          gap=_ACCEPTED + " (must be a valid IP address)")),
    (DEPLOYMENT, Mutation("hostAliases ip that is not an address", "spec.template.spec.hostAliases",
                          [{"ip": "gateway", "hostnames": ["gw"]}], expect="spec.template.spec.hostAliases[0].ip",
                          gap=_ACCEPTED + " (must be a valid IP address)")),
    (DEPLOYMENT, Mutation("minReadySeconds above progressDeadlineSeconds", "spec.minReadySeconds", 700,
                          expect="spec.progressDeadlineSeconds",
                          gap=_ACCEPTED + " (progressDeadlineSeconds must be greater than minReadySeconds)")),
    (DEPLOYMENT, Mutation("maxUnavailable 110%", "spec.strategy.rollingUpdate.maxUnavailable", "110%",
                          gap=_ACCEPTED + " (must not be greater than 100%)")),
    (POD, Mutation("an image with a leading space", "spec.containers[0].image", " nginx",
                   gap=_ACCEPTED + " (must not have leading or trailing whitespace)")),
    (SERVICE, Mutation("appProtocol with a space", "spec.ports[0].appProtocol", "my proto",
                       gap=_ACCEPTED + " (a qualified name)")),
    (SERVICE, Mutation("the same IP family twice", "spec.ipFamilies", ["IPv4", "IPv4"], expect="spec.ipFamilies[1]",
                       gap=_ACCEPTED + " (Duplicate value)")),
    (SERVICE, Mutation("ipFamilies IPv6 with an IPv4 clusterIP", "spec.ipFamilies", ["IPv6"],
                       expect="spec.ipFamilies[0]", gap=_ACCEPTED + " (does not match the clusterIP's family; "
                                                                    "the lab is IPv4 only)")),
    (SERVICE, Mutation("an IPv6 clusterIPs entry in an IPv4 lab", "spec.clusterIPs", ["10.96.0.50", "fd00::50"],
                       expect="spec.clusterIPs[1]", gap=_ACCEPTED + " (ipFamilyPolicy must be PreferDualStack or "
                                                                    "RequireDualStack; the lab is IPv4 only)")),
    (SERVICE, Mutation("loadBalancerClass with a space", "spec.loadBalancerClass", "my class", also=(LB,),
                       gap=_ACCEPTED + " (a qualified name)")),
    (DEPLOYMENT, Mutation("an empty item in a container's ports", f"{C0}.ports[0]", None,
                          expect=f"{C0}.ports[0]", gap=_CRASH + " (AttributeError in build.py)")),
    (DEPLOYMENT, Mutation("an empty item in a container's env", f"{C0}.env[0]", None,
                          expect=f"{C0}.env[0]", gap=_CRASH + " (AttributeError in build.py)")),
    (DEPLOYMENT, Mutation("an empty matchExpressions item", "spec.selector.matchExpressions", [None],
                          expect="spec.selector.matchExpressions[0]", gap=_CRASH + " (TypeError in model.py)")),
    (DEPLOYMENT, Mutation("a matchExpressions item without key and operator", "spec.selector.matchExpressions", [{}],
                          expect="spec.selector.matchExpressions[0].key", gap=_CRASH + " (KeyError in model.py)")),
    (SERVICE, Mutation("a Service port as a list", "spec.ports[0].port", [80],
                       gap=_CRASH + " (TypeError: unhashable type: 'list' in checks.service)")),
    (SERVICE, Mutation("a Service port protocol as a list", "spec.ports[0].protocol", ["TCP"],
                       gap=_CRASH + " (TypeError: unhashable type: 'list' in checks.service)")),
    (CLUSTER, Mutation("more nodes than the podCIDR has subnets", "spec.nodes", 300,
                       gap="first names spec.underlay, a field the document does not have, at the line of "
                           "spec:, for the default client's address that node99 takes; the field to blame is "
                           "spec.nodes")),
]


def _billion_laughs() -> str:
    """Twelve lines whose aliases expand to 9^9 strings (go-yaml refuses "excessive aliasing")."""
    lines = ["apiVersion: v1", "kind: ConfigMap", "metadata:", "  name: lol", "data:",
             "  a0: &a0 [x, x, x, x, x, x, x, x, x]"]
    lines += [f"  a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]" for i in range(1, 9)]
    return "\n".join(lines) + "\n"
