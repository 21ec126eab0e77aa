"""`kubectl describe` text for netlab's objects: Pods, Deployments, ReplicaSets, Services, Endpoints,
EndpointSlices, Nodes, Namespaces, ConfigMaps and Secrets.

A port of kubectl v1.35's describers (staging/src/k8s.io/kubectl/pkg/describe/describe.go:
describePod, DescribePodTemplate, describeDeployment, describeReplicaSet, describeService,
describeEndpoints, describeEndpointSliceV1, describeNode, describeNamespace, ConfigMapDescriber,
describeSecret, DescribeEvents): the same fields in the same order, spelled the same (`<none>`,
`<unset>`, `0/TCP`), written through the same two layers -- a prefix writer (two spaces per LEVEL) over Go's
text/tabwriter (minwidth 0, tabwidth 8, padding 2, padchar ' ') -- so columns line up exactly
where kubectl's do, trailing spaces included.

Inputs are the plain dicts `netlab get -o json` prints; every function is pure, with the clock as
the `now` argument. Times print in UTC as RFC 1123 with a numeric zone; ages are kubectl's
HumanDuration (netlab.output.age). The text ends with a newline, as kubectl's does.
"""

from __future__ import annotations

import base64
import binascii
import copy
import datetime
import json
import math
import re
from decimal import ROUND_CEILING, ROUND_UP, Decimal, InvalidOperation, localcontext
from typing import NamedTuple
from urllib.parse import quote

from netlab import output
from netlab.manifest.model import LabelSelector

LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"   # describe never shows it
REVISION_ANNOTATION = "deployment.kubernetes.io/revision"
HASH_LABEL = "pod-template-hash"
SERVICE_NAME_LABEL = "kubernetes.io/service-name"
MAX_ANNOTATION_LEN = 140
_ZERO_TIME = "Mon, 01 Jan 0001 00:00:00 +0000"     # Go's zero time.Time, which kubectl prints for unset times
_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")

# The DefaultTolerationSeconds admission plugin gives every pod these unless it tolerates the taints.
_DEFAULT_TOLERATIONS = (
    {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300},
    {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300},
)

# API defaults of a Probe's timing fields.
_PROBE_DEFAULTS = {"initialDelaySeconds": 0, "timeoutSeconds": 1, "periodSeconds": 10,
                   "successThreshold": 1, "failureThreshold": 3}

_KINDS = {
    "pod": "Pod", "pods": "Pod", "po": "Pod",
    "deployment": "Deployment", "deployments": "Deployment", "deploy": "Deployment",
    "deployment.apps": "Deployment", "deployments.apps": "Deployment",
    "replicaset": "ReplicaSet", "replicasets": "ReplicaSet", "rs": "ReplicaSet",
    "replicaset.apps": "ReplicaSet", "replicasets.apps": "ReplicaSet",
    "service": "Service", "services": "Service", "svc": "Service",
    "endpoints": "Endpoints", "ep": "Endpoints",
    "endpointslice": "EndpointSlice", "endpointslices": "EndpointSlice",
    "endpointslice.discovery.k8s.io": "EndpointSlice", "endpointslices.discovery.k8s.io": "EndpointSlice",
    "node": "Node", "nodes": "Node", "no": "Node",
    "namespace": "Namespace", "namespaces": "Namespace", "ns": "Namespace",
    "configmap": "ConfigMap", "configmaps": "ConfigMap", "cm": "ConfigMap",
    "secret": "Secret", "secrets": "Secret",
}

NODE_ROLE_PREFIX = "node-role.kubernetes.io/"     # LabelNodeRolePrefix: node-role.kubernetes.io/<role>=""
NODE_ROLE_LABEL = "kubernetes.io/role"            # NodeLabelRole: kubernetes.io/role=<role>
NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name"
SERVICE_ACCOUNT_TOKEN_TYPE = "kubernetes.io/service-account-token"


# -- public API ---------------------------------------------------------------------------------

def describe(kind: str, obj: dict, related: dict, events: list, now: float) -> str:
    """kubectl describe KIND for OBJ, with the RELATED objects its describer looks up.

    RELATED keys by kind (each a list of kubectl-shaped dicts unless said otherwise; a missing key
    is an empty list):
      Deployment:  "replicasets" -- the namespace's ReplicaSets (the Deployment's are picked out)
      ReplicaSet:  "pods" -- the namespace's pods
      Service:     "endpointslices" -- the namespace's EndpointSlices
      Node:        "pods" -- pods of every namespace (those bound to the node and not finished are
                   listed); "lease" -- its kube-node-lease Lease dict, or absent (netlab has none)
      Pod, Endpoints, EndpointSlice, Namespace, ConfigMap, Secret: none.
    EVENTS is every Event at hand; each describer keeps the object's own. Namespaces and Secrets
    show no events, as in kubectl.
    """
    related = related or {}
    resolved = _KINDS.get(kind.lower()) if isinstance(kind, str) else None
    if resolved == "Pod":
        return describe_pod(obj, events, now)
    if resolved == "Deployment":
        return describe_deployment(obj, related.get("replicasets") or [], events, now)
    if resolved == "ReplicaSet":
        return describe_replicaset(obj, related.get("pods") or [], events, now)
    if resolved == "Service":
        return describe_service(obj, related.get("endpointslices") or [], events, now)
    if resolved == "Endpoints":
        return describe_endpoints(obj, events, now)
    if resolved == "EndpointSlice":
        return describe_endpoint_slice(obj, events, now)
    if resolved == "Node":
        return describe_node(obj, related.get("pods") or [], events, now, related.get("lease"))
    if resolved == "Namespace":
        return describe_namespace(obj)
    if resolved == "ConfigMap":
        return describe_configmap(obj, events, now)
    if resolved == "Secret":
        return describe_secret(obj)
    raise ValueError(f"no description has been implemented for {kind!r} (netlab describes pods, "
                     "deployments, replicasets, services, endpoints, endpointslices, nodes, namespaces, "
                     "configmaps and secrets)")


def describe_pod(pod: dict, events: list, now: float) -> str:
    """kubectl describe pod: placement, status, containers, conditions, tolerations, events."""
    meta, spec, status = _parts(pod)
    w = _Writer()
    w.write(0, f"Name:\t{meta.get('name', '')}\n")
    w.write(0, f"Namespace:\t{_namespace(meta)}\n")
    # the Priority and ServiceAccount admission plugins fill these in on every pod
    w.write(0, f"Priority:\t{spec.get('priority', 0)}\n")
    if spec.get("priorityClassName"):
        w.write(0, f"Priority Class Name:\t{spec['priorityClassName']}\n")
    if spec.get("runtimeClassName"):
        w.write(0, f"Runtime Class Name:\t{spec['runtimeClassName']}\n")
    account = spec.get("serviceAccountName") or spec.get("serviceAccount") or "default"
    w.write(0, f"Service Account:\t{account}\n")
    if spec.get("nodeName"):
        w.write(0, f"Node:\t{spec['nodeName']}/{status.get('hostIP') or ''}\n")
    else:
        w.write(0, "Node:\t<none>\n")
    if status.get("startTime"):
        w.write(0, f"Start Time:\t{rfc1123z(status['startTime'])}\n")
    _labels(w, "Labels", meta.get("labels"))
    _annotations(w, "Annotations", meta.get("annotations"))
    phase = status.get("phase") or ""
    if meta.get("deletionTimestamp") and phase not in ("Failed", "Succeeded"):
        w.write(0, f"Status:\tTerminating (lasts {since(meta['deletionTimestamp'], now)})\n")
        grace = meta.get("deletionGracePeriodSeconds", spec.get("terminationGracePeriodSeconds", 30))
        w.write(0, f"Termination Grace Period:\t{grace}s\n")
    else:
        w.write(0, f"Status:\t{phase}\n")
    if status.get("reason"):
        w.write(0, f"Reason:\t{status['reason']}\n")
    if status.get("message"):
        w.write(0, f"Message:\t{status['message']}\n")
    w.write(0, f"IP:\t{status.get('podIP') or ''}\n")
    ips = [entry.get("ip", "") for entry in status.get("podIPs") or []]
    if ips:
        w.write(0, "IPs:\n")
        for ip in ips:
            w.write(1, f"IP:\t{ip}\n")
    else:
        w.write(0, "IPs:\t<none>\n")
    controller = _controller_of(meta)
    if controller:
        w.write(0, f"Controlled By:\t{controller['kind']}/{controller['name']}\n")
    if status.get("nominatedNodeName"):
        w.write(0, f"NominatedNodeName:\t{status['nominatedNodeName']}\n")
    if spec.get("initContainers"):
        _containers(w, "Init Containers", spec["initContainers"], status.get("initContainerStatuses"), pod, "")
    _containers(w, "Containers", spec.get("containers") or [], status.get("containerStatuses"), pod, "")
    if spec.get("readinessGates"):
        w.write(0, "Readiness Gates:\n  Type\tStatus\n")
        conditions = {c.get("type"): c.get("status") for c in status.get("conditions") or []}
        for gate in spec["readinessGates"]:
            w.write(1, f"{gate.get('conditionType')} \t{conditions.get(gate.get('conditionType'), '<none>')} \n")
    if status.get("conditions"):
        w.write(0, "Conditions:\n  Type\tStatus\n")
        for condition in status["conditions"]:
            w.write(1, f"{condition.get('type', '')} \t{condition.get('status', '')} \n")
    _volumes(w, spec.get("volumes"), "")
    w.write(0, f"QoS Class:\t{status.get('qosClass') or qos_class(spec)}\n")
    _labels(w, "Node-Selectors", spec.get("nodeSelector"))
    _tolerations(w, "Tolerations", pod_tolerations(spec))
    _topology_spread(w, spec.get("topologySpreadConstraints"), "")
    _events(w, events_for(events, "Pod", meta), now)
    return w.text()


def describe_deployment(deploy: dict, replicasets: list, events: list, now: float) -> str:
    """kubectl describe deployment: replicas, strategy, pod template, conditions, ReplicaSets, events."""
    meta, spec, status = _parts(deploy)
    old, new = deployment_replicasets(deploy, replicasets)
    annotations = dict(meta.get("annotations") or {})
    revision = _revision(([new] if new else []) + old)
    if REVISION_ANNOTATION not in annotations and revision:
        # the Deployment controller keeps its newest ReplicaSet's revision on the Deployment too
        annotations[REVISION_ANNOTATION] = str(revision)
    strategy = spec.get("strategy") or {}
    kind = strategy.get("type") or "RollingUpdate"
    w = _Writer()
    w.write(0, f"Name:\t{meta.get('name', '')}\n")
    w.write(0, f"Namespace:\t{_namespace(meta)}\n")
    w.write(0, f"CreationTimestamp:\t{rfc1123z(meta.get('creationTimestamp'))}\n")
    _labels(w, "Labels", meta.get("labels"))
    _annotations(w, "Annotations", annotations)
    w.write(0, f"Selector:\t{selector_text(spec.get('selector'))}\n")
    w.write(0, f"Replicas:\t{spec.get('replicas', 1)} desired | {status.get('updatedReplicas', 0)} updated | "
               f"{status.get('replicas', 0)} total | {status.get('availableReplicas', 0)} available | "
               f"{status.get('unavailableReplicas', 0)} unavailable\n")
    w.write(0, f"StrategyType:\t{kind}\n")
    w.write(0, f"MinReadySeconds:\t{spec.get('minReadySeconds', 0)}\n")
    if kind == "RollingUpdate":
        rolling = strategy.get("rollingUpdate") or {}
        unavailable, surge = (rolling.get(k) for k in ("maxUnavailable", "maxSurge"))
        w.write(0, f"RollingUpdateStrategy:\t{'25%' if unavailable is None else unavailable} max unavailable, "
                   f"{'25%' if surge is None else surge} max surge\n")
    _pod_template(w, spec.get("template") or {})
    _workload_conditions(w, status.get("conditions"))
    if old or new:
        w.write(0, f"OldReplicaSets:\t{_replicasets_line(old)}\n")
        w.write(0, f"NewReplicaSet:\t{_replicasets_line([new] if new else [])}\n")
    _events(w, events_for(events, "Deployment", meta), now)
    return w.text()


def describe_replicaset(rs: dict, pods: list, events: list, now: float) -> str:
    """kubectl describe replicaset: selector, owner, replicas, its pods' phases, pod template, events."""
    meta, spec, status = _parts(rs)
    counts = pods_status(rs, pods)
    w = _Writer()
    w.write(0, f"Name:\t{meta.get('name', '')}\n")
    w.write(0, f"Namespace:\t{_namespace(meta)}\n")
    w.write(0, f"Selector:\t{selector_text(spec.get('selector')) or '<none>'}\n")
    _labels(w, "Labels", meta.get("labels"))
    _annotations(w, "Annotations", meta.get("annotations"))
    controller = _controller_of(meta)
    if controller:
        w.write(0, f"Controlled By:\t{controller['kind']}/{controller['name']}\n")
    w.write(0, f"Replicas:\t{status.get('replicas', 0)} current / {spec.get('replicas', 1)} desired\n")
    w.write(0, "Pods Status:\t")
    w.write(0, "{Running} Running / {Pending} Waiting / {Succeeded} Succeeded / {Failed} Failed\n".format(**counts))
    _pod_template(w, spec.get("template") or {})
    _workload_conditions(w, status.get("conditions"))
    _events(w, events_for(events, "ReplicaSet", meta), now)
    return w.text()


def describe_service(svc: dict, slices: list, events: list, now: float) -> str:
    """kubectl describe service: addresses, ports with their ready endpoints, traffic policies, events."""
    meta, spec, status = _parts(svc)
    mine = service_slices(svc, slices)
    w = _Writer()
    _object_header(w, meta)
    w.write(0, f"Selector:\t{format_labels(spec.get('selector'))}\n")
    w.write(0, f"Type:\t{spec.get('type') or 'ClusterIP'}\n")
    if spec.get("ipFamilyPolicy") is not None:
        w.write(0, f"IP Family Policy:\t{spec['ipFamilyPolicy']}\n")
    w.write(0, f"IP Families:\t{','.join(spec.get('ipFamilies') or []) or '<none>'}\n")
    w.write(0, f"IP:\t{spec.get('clusterIP') or ''}\n")
    w.write(0, f"IPs:\t{','.join(spec.get('clusterIPs') or []) or '<none>'}\n")
    if spec.get("externalIPs"):
        w.write(0, f"External IPs:\t{','.join(spec['externalIPs'])}\n")
    if spec.get("loadBalancerIP"):
        w.write(0, f"Desired LoadBalancer IP:\t{spec['loadBalancerIP']}\n")
    if spec.get("externalName"):
        w.write(0, f"External Name:\t{spec['externalName']}\n")
    ingress = ((status.get("loadBalancer") or {}).get("ingress")) or []
    if ingress:
        w.write(0, f"LoadBalancer Ingress:\t{_ingress_text(ingress)}\n")
    for port in spec.get("ports") or []:
        name = port.get("name") or "<unset>"
        protocol = port.get("protocol") or "TCP"
        target = port.get("targetPort") or port.get("port")
        w.write(0, f"Port:\t{name}\t{port.get('port')}/{protocol}\n")
        w.write(0, f"TargetPort:\t{target}/{protocol}\n")
        if port.get("appProtocol") is not None:
            w.write(0, f"AppProtocol:\t{port['appProtocol']}\n")
        if port.get("nodePort"):
            w.write(0, f"NodePort:\t{name}\t{port['nodePort']}/{protocol}\n")
        w.write(0, f"Endpoints:\t{format_endpoint_slices(mine, port.get('name') or '')}\n")
    w.write(0, f"Session Affinity:\t{spec.get('sessionAffinity') or 'None'}\n")
    if spec.get("externalTrafficPolicy"):
        w.write(0, f"External Traffic Policy:\t{spec['externalTrafficPolicy']}\n")
    if spec.get("internalTrafficPolicy") is not None:
        w.write(0, f"Internal Traffic Policy:\t{spec['internalTrafficPolicy']}\n")
    if spec.get("healthCheckNodePort"):
        w.write(0, f"HealthCheck NodePort:\t{spec['healthCheckNodePort']}\n")
    if spec.get("loadBalancerSourceRanges"):
        w.write(0, f"LoadBalancer Source Ranges:\t{','.join(spec['loadBalancerSourceRanges'])}\n")
    if spec.get("trafficDistribution") is not None:
        w.write(0, f"Traffic Distribution:\t{spec['trafficDistribution']}\n")
    _events(w, events_for(events, "Service", meta), now)
    return w.text()


def describe_endpoints(ep: dict, events: list, now: float) -> str:
    """kubectl describe endpoints: each subset's ready and not-ready addresses and its ports, events."""
    meta = ep.get("metadata") or {}
    w = _Writer()
    _object_header(w, meta)
    w.write(0, "Subsets:\n")
    for subset in ep.get("subsets") or []:
        ready = ",".join(a.get("ip", "") for a in subset.get("addresses") or [])
        not_ready = ",".join(a.get("ip", "") for a in subset.get("notReadyAddresses") or [])
        w.write(1, f"Addresses:\t{ready or '<none>'}\n")
        w.write(1, f"NotReadyAddresses:\t{not_ready or '<none>'}\n")
        if subset.get("ports"):
            w.write(1, "Ports:\n")
            w.write(2, "Name\tPort\tProtocol\n")
            w.write(2, "----\t----\t--------\n")
            for port in subset["ports"]:
                w.write(2, f"{port.get('name') or '<unset>'}\t{port.get('port')}\t{port.get('protocol') or 'TCP'}\n")
        w.write(0, "\n")
    _events(w, events_for(events, "Endpoints", meta), now)
    return w.text()


def describe_endpoint_slice(slice_: dict, events: list, now: float) -> str:
    """kubectl describe endpointslice: address type, ports, each endpoint's conditions and placement, events."""
    meta = slice_.get("metadata") or {}
    w = _Writer()
    _object_header(w, meta)
    w.write(0, f"AddressType:\t{slice_.get('addressType', '')}\n")
    if not slice_.get("ports"):
        w.write(0, "Ports: <unset>\n")
    else:
        w.write(0, "Ports:\n")
        w.write(1, "Name\tPort\tProtocol\n")
        w.write(1, "----\t----\t--------\n")
        for port in slice_["ports"]:
            number = "<unset>" if port.get("port") is None else str(port["port"])
            w.write(1, f"{port.get('name') or '<unset>'}\t{number}\t{port.get('protocol') or 'TCP'}\n")
    if not slice_.get("endpoints"):
        w.write(0, "Endpoints: <none>\n")
    else:
        w.write(0, "Endpoints:\n")
        for endpoint in slice_["endpoints"]:
            w.write(1, f"- Addresses:\t{', '.join(endpoint.get('addresses') or []) or '<none>'}\n")
            w.write(2, "Conditions:\n")
            ready = (endpoint.get("conditions") or {}).get("ready")
            w.write(3, f"Ready:\t{'<unset>' if ready is None else str(bool(ready)).lower()}\n")
            w.write(2, f"Hostname:\t{_or_unset(endpoint.get('hostname'))}\n")
            if endpoint.get("targetRef") is not None:
                ref = endpoint["targetRef"]
                w.write(2, f"TargetRef:\t{ref.get('kind', '')}/{ref.get('name', '')}\n")
            w.write(2, f"NodeName:\t{_or_unset(endpoint.get('nodeName'))}\n")
            w.write(2, f"Zone:\t{_or_unset(endpoint.get('zone'))}\n")
    _events(w, events_for(events, "EndpointSlice", meta), now)
    return w.text()


def _or_unset(value) -> str:
    # an unset pointer field prints `<unset>`, a set empty one prints empty
    return "<unset>" if value is None else str(value)


def describe_node(node: dict, pods: list, events: list, now: float, lease: dict | None = None) -> str:
    """kubectl describe node: roles, taints, lease, conditions, addresses, resources, system info, its
    non-terminated pods (from PODS) with their requests and limits, the totals, events.

    LEASE is the node's kube-node-lease Lease; without one its fields print `<unset>`.
    """
    meta, spec, status = _parts(node)
    name = meta.get("name", "")
    w = _Writer()
    w.write(0, f"Name:\t{name}\n")
    w.write(0, f"Roles:\t{','.join(node_roles(meta.get('labels'))) or '<none>'}\n")
    _labels(w, "Labels", meta.get("labels"))
    _annotations(w, "Annotations", meta.get("annotations"))
    w.write(0, f"CreationTimestamp:\t{rfc1123z(meta.get('creationTimestamp'))}\n")
    _taints(w, "Taints", spec.get("taints"))
    w.write(0, f"Unschedulable:\t{'true' if spec.get('unschedulable') else 'false'}\n")
    lease_spec = (lease or {}).get("spec") or {}
    w.write(0, "Lease:\n")
    w.write(1, f"HolderIdentity:\t{_or_unset(lease_spec.get('holderIdentity'))}\n")
    for field, title in (("acquireTime", "AcquireTime"), ("renewTime", "RenewTime")):
        stamp = lease_spec.get(field)
        w.write(1, f"{title}:\t{'<unset>' if stamp is None else rfc1123z(stamp)}\n")
    if status.get("conditions"):
        w.write(0, "Conditions:\n  Type\tStatus\tLastHeartbeatTime\tLastTransitionTime\tReason\tMessage\n")
        w.write(1, "----\t------\t-----------------\t------------------\t------\t-------\n")
        for c in status["conditions"]:
            # unset times print as Go's zero time, as kubectl formats them regardless
            w.write(1, f"{c.get('type', '')} \t{c.get('status', '')} \t{rfc1123z(c.get('lastHeartbeatTime'))} \t"
                       f"{rfc1123z(c.get('lastTransitionTime'))} \t{c.get('reason', '')} \t{c.get('message', '')}\n")
    w.write(0, "Addresses:\n")
    for address in status.get("addresses") or []:
        w.write(1, f"{address.get('type', '')}:\t{address.get('address', '')}\n")
    for field, title in (("capacity", "Capacity"), ("allocatable", "Allocatable")):
        if status.get(field):
            w.write(0, f"{title}:\n")
            for resource in sorted(status[field]):
                w.write(0, f"  {resource}:\t{quantity_string(parse_quantity(status[field][resource]))}\n")
    info = status.get("nodeInfo") or {}
    w.write(0, "System Info:\n")
    for field, title in (("machineID", "Machine ID"), ("systemUUID", "System UUID"), ("bootID", "Boot ID"),
                         ("kernelVersion", "Kernel Version"), ("osImage", "OS Image"),
                         ("operatingSystem", "Operating System"), ("architecture", "Architecture"),
                         ("containerRuntimeVersion", "Container Runtime Version"),
                         ("kubeletVersion", "Kubelet Version")):
        w.write(0, f"  {title}:\t{info.get(field) or ''}\n")
    if spec.get("podCIDR"):
        w.write(0, f"PodCIDR:\t{spec['podCIDR']}\n")
    if spec.get("podCIDRs"):
        w.write(0, f"PodCIDRs:\t{','.join(spec['podCIDRs'])}\n")
    if spec.get("providerID"):
        w.write(0, f"ProviderID:\t{spec['providerID']}\n")
    _node_resources(w, node, node_pods(node, pods), now)
    _events(w, events_for(events, "Node", meta, namespaced=False), now)
    return w.text()


def node_roles(labels: dict | None) -> list:
    """findNodeRoles: node-role.kubernetes.io/<role> keys and kubernetes.io/role values, sorted, once each."""
    roles = set()
    for key, value in (labels or {}).items():
        if key.startswith(NODE_ROLE_PREFIX) and key[len(NODE_ROLE_PREFIX):]:
            roles.add(key[len(NODE_ROLE_PREFIX):])
        elif key == NODE_ROLE_LABEL and value:
            roles.add(value)
    return sorted(roles)


def _taints(w: _Writer, title: str, taints: list | None) -> None:
    """printTaintsMultilineWithIndent: key[=value]:effect, ordered by effect then key."""
    w.write(0, f"{title}:\t")
    if not taints:
        w.line("<none>")
        return
    ordered = sorted(taints, key=lambda t: f"{t.get('effect', '')},{t.get('key', '')}")
    for i, taint in enumerate(ordered):
        if i:
            w.write(0, "\t")
        value = f"={taint['value']}" if taint.get("value") else ""
        w.write(0, f"{taint.get('key', '')}{value}:{taint.get('effect', '')}\n")


def node_pods(node: dict, pods: list) -> list:
    """The pods bound to NODE that have not finished (spec.nodeName=NODE, phase not Succeeded or
    Failed), in the API server's list order: by namespace, then name."""
    name = (node.get("metadata") or {}).get("name")
    mine = [p for p in pods or [] if (p.get("spec") or {}).get("nodeName") == name
            and (p.get("status") or {}).get("phase") not in ("Succeeded", "Failed")]
    return sorted(mine, key=lambda p: (_namespace(p.get("metadata") or {}), (p.get("metadata") or {}).get("name", "")))


def _share(q: Quantity, whole: Quantity, milli: bool) -> str:
    """`100m (5%)`: Q and its percentage of WHOLE, compared in thousandths (MilliValue) or units (Value).

    int64(float64(q) / float64(whole) * 100), truncated. kubectl does not guard a zero WHOLE in the
    per-pod rows (Go's int64(NaN) is platform-defined); netlab prints 0% there, as kubectl itself
    does in the Allocated resources totals.
    """
    amount, total = (q.milli(), whole.milli()) if milli else (q.whole(), whole.whole())
    return f"{quantity_string(q)} ({int(amount / total * 100) if total else 0}%)"


def _node_resources(w: _Writer, node: dict, pods: list, now: float) -> None:
    """describeNodeResource: the Non-terminated Pods table and the Allocated resources totals."""
    status = node.get("status") or {}
    allocatable = {k: parse_quantity(v) for k, v in (status.get("allocatable") or status.get("capacity") or {}).items()}
    zero = Quantity(Decimal(0), "")
    cpu, memory = allocatable.get("cpu", zero), allocatable.get("memory", zero)
    w.write(0, f"Non-terminated Pods:\t({len(pods)} in total)\n")
    w.write(1, "Namespace\tName\t\tCPU Requests\tCPU Limits\tMemory Requests\tMemory Limits\tAge\n")
    w.write(1, "---------\t----\t\t------------\t----------\t---------------\t-------------\t---\n")
    requests: dict = {}
    limits: dict = {}
    for pod in pods:
        asks, caps = pod_requests(pod), pod_limits(pod)
        _add_resources(requests, asks)
        _add_resources(limits, caps)
        pod_meta = pod.get("metadata") or {}
        cells = [_share(values.get(name, zero), whole, name == "cpu")
                 for name, whole in (("cpu", cpu), ("memory", memory)) for values in (asks, caps)]
        w.write(1, f"{_namespace(pod_meta)}\t{pod_meta.get('name', '')}\t\t{cells[0]}\t{cells[1]}\t{cells[2]}\t"
                   f"{cells[3]}\t{since(pod_meta.get('creationTimestamp'), now)}\n")
    w.write(0, "Allocated resources:\n  (Total limits may be over 100 percent, i.e., overcommitted.)\n")
    w.write(1, "Resource\tRequests\tLimits\n")
    w.write(1, "--------\t--------\t------\n")
    huge = sorted(n for n in allocatable if n.startswith("hugepages-"))
    for name in ["cpu", "memory", "ephemeral-storage"] + huge:
        whole = allocatable.get(name, zero)
        w.write(1, f"{name}\t{_share(requests.get(name, zero), whole, name == 'cpu')}\t"
                   f"{_share(limits.get(name, zero), whole, name == 'cpu')}\n")
    # extended resources (not cpu, memory, ephemeral-storage, hugepages-* or pods) get no share
    for name in sorted(n for n in allocatable if not n.startswith("hugepages-")
                       and n not in ("cpu", "memory", "ephemeral-storage", "pods")):
        w.write(1, f"{name}\t{quantity_string(requests.get(name, zero))}\t"
                   f"{quantity_string(limits.get(name, zero))}\n")


def describe_namespace(ns: dict) -> str:
    """kubectl describe namespace: labels, status, conditions, then its (absent) quotas and limit ranges.

    netlab has no ResourceQuota or LimitRange objects, so it says so as kubectl does for none.
    """
    meta, _, status = _parts(ns)
    labels = dict(meta.get("labels") or {})
    if meta.get("name"):
        # the API server's namespace strategy stamps every namespace with its name label
        labels[NAMESPACE_NAME_LABEL] = meta["name"]
    phase = status.get("phase") or ("Terminating" if meta.get("deletionTimestamp") else "Active")
    w = _Writer()
    w.write(0, f"Name:\t{meta.get('name', '')}\n")
    _labels(w, "Labels", labels)
    _annotations(w, "Annotations", meta.get("annotations"))
    w.write(0, f"Status:\t{phase}\n")
    if status.get("conditions"):
        w.write(0, "Conditions:\n")
        w.write(1, "Type\tStatus\tLastTransitionTime\tReason\tMessage\n")
        w.write(1, "----\t------\t------------------\t------\t-------\n")
        for c in status["conditions"]:
            w.write(1, f"{c.get('type', '')}\t{c.get('status', '')}\t{rfc1123z(c.get('lastTransitionTime'))}\t"
                       f"{c.get('reason', '')}\t{c.get('message', '')}\n")
    w.write(0, "\n")
    w.write(0, "No resource quota.\n")       # DescribeResourceQuotas of an empty list
    w.write(0, "\n")
    w.write(0, "No LimitRange resource.\n")  # DescribeLimitRanges of an empty list
    return w.text()


def describe_configmap(cm: dict, events: list, now: float) -> str:
    """kubectl describe configmap: each data key with its value in full, binary data sizes, events."""
    meta = cm.get("metadata") or {}
    w = _Writer()
    _object_header(w, meta)
    w.write(0, "\nData\n====\n")
    data = cm.get("data") or {}
    for key in sorted(data):
        w.write(0, f"{key}:\n----\n")
        w.write(0, f"{data[key]}\n")
        w.write(0, "\n")
    w.write(0, "\nBinaryData\n====\n")
    binary = cm.get("binaryData") or {}
    for key in sorted(binary):
        w.write(0, f"{key}: {len(_decoded(binary[key]))} bytes\n")
    w.write(0, "\n")
    _events(w, events_for(events, "ConfigMap", meta), now)
    return w.text()


def describe_secret(secret: dict) -> str:
    """kubectl describe secret: type and each data key's size in bytes -- never the values (but a
    service account token's token, as kubectl shows it)."""
    meta = secret.get("metadata") or {}
    kind = secret.get("type") or "Opaque"
    data = {key: _decoded(value) for key, value in (secret.get("data") or {}).items()}
    for key, value in (secret.get("stringData") or {}).items():
        data[key] = str(value).encode()      # the API server merges stringData into data
    w = _Writer()
    _object_header(w, meta)
    w.write(0, f"\nType:\t{kind}\n")
    w.write(0, "\nData\n====\n")
    for key in sorted(data):
        if key == "token" and kind == SERVICE_ACCOUNT_TOKEN_TYPE:
            w.write(0, f"{key}:\t{data[key].decode(errors='replace')}\n")
        else:
            w.write(0, f"{key}:\t{len(data[key])} bytes\n")
    return w.text()


def _decoded(value) -> bytes:
    """The bytes of a base64 data value as the API returns it (its text, if it is not base64)."""
    try:
        return base64.b64decode(str(value), validate=True)
    except (binascii.Error, ValueError):
        return str(value).encode()


# -- the writer: PrefixWriter over text/tabwriter -----------------------------------------------

class _Writer:
    """kubectl's PrefixWriter on a tabwriter: text at an indentation level, aligned when flushed."""

    def __init__(self) -> None:
        self._pending: list = []
        self._done: list = []

    def write(self, level: int, text: str) -> None:
        """PrefixWriter.Write: two spaces per level before TEXT (embedded lines get no prefix)."""
        self._pending.append(_escape("  " * level + text))

    def line(self, text: str) -> None:
        """PrefixWriter.WriteLine: TEXT and a newline, no indentation."""
        self._pending.append(_escape(text + "\n"))

    def flush(self) -> None:
        """tabwriter.Flush: align what was written so far as one unit, apart from what follows."""
        self._done.append(tabwrite("".join(self._pending)))
        self._pending = []

    def text(self) -> str:
        self.flush()
        return "".join(self._done)


def _escape(text: str) -> str:
    # printers.WriteEscaped: no terminal escape sequences from object fields (kubernetes#101695)
    return text.replace("\x1b", "^[").replace("\r", "\\r")


def tabwrite(text: str, minwidth: int = 0, padding: int = 2) -> str:
    """Go's text/tabwriter (padchar ' ', no flags) over TEXT.

    A cell is text ended by a tab; the text after a line's last tab is not in any column. A column
    block is a run of consecutive lines that all have a cell in that column; each of its cells is
    padded to the block's widest cell plus PADDING. Blocks nest: a column's blocks are found within
    each block of the column to its left. Widths count characters.
    """
    lines = [line.split("\t") for line in text.split("\n")]
    if len(lines[-1]) > 1 and lines[-1][-1] == "":
        lines[-1].pop()     # Flush ends an unterminated last cell only if it holds text
    out: list = []

    def write_lines(start: int, end: int, widths: list) -> None:
        for i in range(start, end):
            for j, cell in enumerate(lines[i]):
                out.append(cell)
                if j < len(widths):
                    out.append(" " * (widths[j] - len(cell)))
            if i + 1 < len(lines):
                out.append("\n")

    def format_block(start: int, end: int, widths: list) -> None:
        column = len(widths)
        this = start
        while this < end:
            if column >= len(lines[this]) - 1:
                this += 1
                continue
            write_lines(start, this, widths)
            start = this
            width = minwidth
            while this < end and column < len(lines[this]) - 1:
                width = max(width, len(lines[this][column]) + padding)
                this += 1
            format_block(start, this, widths + [width])
            start = this
        write_lines(start, end, widths)

    format_block(0, len(lines), [])
    return "".join(out)


# -- times --------------------------------------------------------------------------------------

def _seconds(stamp) -> float | None:
    """Seconds since the epoch of an API timestamp ("2026-12-01T22:40:00Z"), None when unset."""
    if stamp is None or stamp == "":
        return None
    if isinstance(stamp, (int, float)):
        return float(stamp)
    try:
        moment = datetime.datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ")
    except ValueError:
        moment = datetime.datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.timezone.utc)
    return moment.timestamp()


def rfc1123z(stamp) -> str:
    """Go's time.RFC1123Z in UTC: Tue, 01 Dec 2026 22:40:00 +0000 (Go's zero time when unset)."""
    seconds = _seconds(stamp)
    if seconds is None:
        return _ZERO_TIME
    t = datetime.datetime.fromtimestamp(seconds, datetime.timezone.utc)
    return f"{_DAYS[t.weekday()]}, {t.day:02d} {_MONTHS[t.month - 1]} {t.year:04d} {t:%H:%M:%S} +0000"


def since(stamp, now: float) -> str:
    """translateTimestampSince: HumanDuration of the time since STAMP, `<unknown>` when unset."""
    seconds = _seconds(stamp)
    if seconds is None:
        return "<unknown>"
    # HumanDuration tolerates clocks up to 2s apart; int() truncates toward zero as Go's does
    if int(now - seconds) < -1:
        return "<invalid>"
    return output.age(seconds, now)


# -- metadata helpers ---------------------------------------------------------------------------

def _parts(obj: dict) -> tuple:
    return obj.get("metadata") or {}, obj.get("spec") or {}, obj.get("status") or {}


def _namespace(meta: dict) -> str:
    return meta.get("namespace") or "default"


def _controller_of(meta: dict) -> dict | None:
    """metav1.GetControllerOf: the ownerReference with controller: true."""
    return next((ref for ref in meta.get("ownerReferences") or [] if ref.get("controller")), None)


def _controlled_by(obj: dict, kind: str, owner_meta: dict) -> bool:
    """metav1.IsControlledBy, by uid; by kind and name where netlab left a uid empty."""
    ref = _controller_of(obj.get("metadata") or {})
    if ref is None:
        return False
    if ref.get("uid") and owner_meta.get("uid"):
        return ref["uid"] == owner_meta["uid"]
    return ref.get("kind") == kind and ref.get("name") == owner_meta.get("name")


def _object_header(w: "_Writer", meta: dict) -> None:
    """The lines most describers open with: Name, Namespace, Labels, Annotations."""
    w.write(0, f"Name:\t{meta.get('name', '')}\n")
    w.write(0, f"Namespace:\t{_namespace(meta)}\n")
    _labels(w, "Labels", meta.get("labels"))
    _annotations(w, "Annotations", meta.get("annotations"))


def _labels(w: _Writer, title: str, labels: dict | None, initial: str = "", inner: str = "\t") -> None:
    """printLabelsMultilineWithIndent: key=value lines in key order, `<none>` when empty."""
    w.write(0, f"{initial}{title}:{inner}")
    if not labels:
        w.line("<none>")
        return
    for i, key in enumerate(sorted(labels)):
        if i:
            w.write(0, initial + inner)
        w.write(0, f"{key}={labels[key]}\n")


def _annotations(w: _Writer, title: str, annotations: dict | None) -> None:
    """printAnnotationsMultiline: `key: value`, long or multi-line values on lines of their own."""
    w.write(0, f"{title}:\t")
    keys = sorted(k for k in annotations or {} if k != LAST_APPLIED)
    if not keys:
        w.line("<none>")
        return
    for i, key in enumerate(keys):
        if i:
            w.write(0, "\t")
        value = str(annotations[key])
        value = value[:-1] if value.endswith("\n") else value
        if len(value.encode()) + len(key.encode()) + 2 > MAX_ANNOTATION_LEN or "\n" in value:
            w.write(0, f"{key}:\n")
            for part in value.split("\n"):
                w.write(0, f"\t  {_shorten(part, MAX_ANNOTATION_LEN - 2)}\n")
        else:
            w.write(0, f"{key}: {value}\n")


def _shorten(text: str, limit: int) -> str:
    # kubectl cuts bytes, not characters
    raw = text.encode()
    return raw[:limit].decode(errors="ignore") + "..." if len(raw) > limit else text


def selector_text(selector: dict | None) -> str:
    """labels.Selector.String() of a LabelSelector: its requirements in key order, `` when empty."""
    parsed = LabelSelector.from_dict(selector)
    requirements = [(key, f"{key}={value}") for key, value in sorted(parsed.match_labels.items())]
    requirements += [(e.key, str(e)) for e in parsed.match_expressions]
    return ",".join(text for _, text in sorted(requirements, key=lambda r: r[0]))


def format_labels(labels: dict | None) -> str:
    """labels.FormatLabels: k=v pairs in key order, `<none>` when empty."""
    return ",".join(f"{k}={v}" for k, v in sorted((labels or {}).items())) or "<none>"


# -- events -------------------------------------------------------------------------------------

def events_for(events: list, kind: str, meta: dict, namespaced: bool = True) -> list:
    """The events whose involvedObject is this object (kind, name and, if NAMESPACED, namespace)."""
    name, namespace = meta.get("name"), _namespace(meta)
    return [e for e in events or []
            if (e.get("involvedObject") or {}).get("kind") == kind
            and (e.get("involvedObject") or {}).get("name") == name
            and (not namespaced or ((e.get("involvedObject") or {}).get("namespace") or namespace) == namespace)]


def event_age(event: dict, now: float) -> str:
    """The Age column: `3m (x4 over 10m)` for a repeated event, else the time since it happened."""
    first = since(event.get("eventTime"), now) if event.get("eventTime") else \
        since(event.get("firstTimestamp"), now)
    series = event.get("series")
    if series:
        return f"{since(series.get('lastObservedTime'), now)} (x{series.get('count', 0)} over {first})"
    if (event.get("count") or 0) > 1:
        return f"{since(event.get('lastTimestamp'), now)} (x{event['count']} over {first})"
    return first


def _events(w: _Writer, events: list, now: float) -> None:
    """DescribeEvents: Type, Reason, Age, From, Message, oldest last-seen first."""
    if not events:
        w.write(0, "Events:\t<none>\n")
        return
    w.flush()       # kubectl aligns the events table on its own
    w.write(0, "Events:\n  Type\tReason\tAge\tFrom\tMessage\n")
    w.write(1, "----\t------\t----\t----\t-------\n")
    for event in sorted(events, key=lambda e: _seconds(e.get("lastTimestamp")) or float("-inf")):
        source = (event.get("source") or {}).get("component") or event.get("reportingController") or ""
        message = (event.get("message") or "").strip()
        field_path = (event.get("involvedObject") or {}).get("fieldPath")
        if field_path:
            message = f"{field_path}: {message}"
        w.write(1, f"{event.get('type', '')}\t{event.get('reason', '')}\t{event_age(event, now)}\t{source}\t"
                   f"{message}\n")


# -- containers ---------------------------------------------------------------------------------

def _containers(w: _Writer, label: str, containers: list, statuses: list | None, pod: dict | None,
                space: str) -> None:
    """describeContainers; POD resolves fieldRef values (None for a pod template), SPACE indents."""
    by_name = {s.get("name"): s for s in statuses or []}
    w.write(0, f"{space}{label}:{'' if containers else ' <none>'}\n")
    for container in containers:
        status = by_name.get(container.get("name"))
        w.write(1, f"{' ' if space else ''}{container.get('name', '')}:\n")
        if status is not None:
            w.write(2, f"Container ID:\t{status.get('containerID') or ''}\n")
        w.write(2, f"Image:\t{container.get('image', '')}\n")
        if status is not None:
            w.write(2, f"Image ID:\t{status.get('imageID') or ''}\n")
        ports = _ports_text(container.get("ports"), "containerPort")
        w.write(2, f"Ports:\t{ports}\n" if "," in ports else f"Port:\t{ports or '<none>'}\n")
        host_ports = _ports_text(container.get("ports"), "hostPort")
        w.write(2, f"Host Ports:\t{host_ports}\n" if "," in host_ports else f"Host Port:\t{host_ports or '<none>'}\n")
        _command(w, container)
        if status is not None:
            _state(w, "State", status.get("state") or {})
            last = status.get("lastState") or {}
            if last.get("terminated") is not None:
                _state(w, "Last State", last)
            w.write(2, f"Ready:\t{_bool(status.get('ready'))}\n")
            w.write(2, f"Restart Count:\t{status.get('restartCount', 0)}\n")
        _resources(w, container.get("resources") or {}, 2)
        for field, title in (("livenessProbe", "Liveness"), ("readinessProbe", "Readiness"),
                             ("startupProbe", "Startup")):
            if container.get(field) is not None:
                w.write(2, f"{title}:\t{describe_probe(container[field])}\n")
        if container.get("envFrom"):
            _env_from(w, container["envFrom"])
        _env(w, container, pod)
        _mounts(w, container)


def _ports_text(ports: list | None, field: str) -> str:
    parts = []
    for port in ports or []:
        text = f"{port.get(field) or 0}/{port.get('protocol') or 'TCP'}"
        parts.append(f"{text} ({port['name']})" if port.get("name") else text)
    return ", ".join(parts)


def _bool(value) -> str:
    return "True" if value else "False"


def _command(w: _Writer, container: dict) -> None:
    for field, title in (("command", "Command"), ("args", "Args")):
        if container.get(field):
            w.write(2, f"{title}:\n")
            for item in container[field]:
                for part in str(item).split("\n"):
                    w.write(3, f"{part}\n")


def _state(w: _Writer, title: str, state: dict) -> None:
    """describeStatus: Running, Waiting (with its reason) or Terminated (reason, code, times)."""
    if state.get("running") is not None:
        w.write(2, f"{title}:\tRunning\n")
        w.write(3, f"Started:\t{rfc1123z(state['running'].get('startedAt'))}\n")
    elif state.get("waiting") is not None:
        w.write(2, f"{title}:\tWaiting\n")
        if state["waiting"].get("reason"):
            w.write(3, f"Reason:\t{state['waiting']['reason']}\n")
    elif state.get("terminated") is not None:
        done = state["terminated"]
        w.write(2, f"{title}:\tTerminated\n")
        if done.get("reason"):
            w.write(3, f"Reason:\t{done['reason']}\n")
        if done.get("message"):
            w.write(3, f"Message:\t{done['message']}\n")
        w.write(3, f"Exit Code:\t{done.get('exitCode') or 0}\n")
        if (done.get("signal") or 0) > 0:
            w.write(3, f"Signal:\t{done['signal']}\n")
        w.write(3, f"Started:\t{rfc1123z(done.get('startedAt'))}\n")
        w.write(3, f"Finished:\t{rfc1123z(done.get('finishedAt'))}\n")
    else:
        w.write(2, f"{title}:\tWaiting\n")


def _resources(w: _Writer, resources: dict, level: int) -> None:
    for field, title in (("limits", "Limits"), ("requests", "Requests")):
        values = resources.get(field) or {}
        if values:
            w.write(level, f"{title}:\n")
        for name in sorted(values):
            w.write(level + 1, f"{name}:\t{values[name]}\n")


def describe_probe(probe: dict) -> str:
    """DescribeProbe: `http-get http://:8080/healthz delay=0s timeout=1s period=10s #success=1 #failure=3`."""
    timing = {**_PROBE_DEFAULTS, **{k: v for k, v in probe.items() if k in _PROBE_DEFAULTS and v is not None}}
    attrs = ("delay={initialDelaySeconds}s timeout={timeoutSeconds}s period={periodSeconds}s "
             "#success={successThreshold} #failure={failureThreshold}").format(**timing)
    if probe.get("exec") is not None:
        return f"exec [{' '.join(map(str, probe['exec'].get('command') or []))}] {attrs}"
    if probe.get("httpGet") is not None:
        get = probe["httpGet"]
        host, port = get.get("host") or "", str(get.get("port", ""))
        if port:
            host = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        path = get.get("path") or ""
        if path and not path.startswith("/") and host:
            path = "/" + path       # url.URL.String() puts a slash between host and a relative path
        scheme = (get.get("scheme") or "HTTP").lower()
        return f"http-get {scheme}://{host}{quote(path, safe='/$&+,:;=@')} {attrs}"
    if probe.get("tcpSocket") is not None:
        socket = probe["tcpSocket"]
        return f"tcp-socket {socket.get('host') or ''}:{socket.get('port', '')} {attrs}"
    if probe.get("grpc") is not None:
        grpc = probe["grpc"]
        return f"grpc <pod>:{grpc.get('port')} {grpc.get('service') or ''} {attrs}"
    return f"unknown {attrs}"


def _env_from(w: _Writer, sources: list) -> None:
    w.write(2, "Environment Variables from:\n")
    for source in sources:
        if source.get("configMapRef") is not None:
            kind, ref = "ConfigMap", source["configMapRef"]
        elif source.get("secretRef") is not None:
            kind, ref = "Secret", source["secretRef"]
        else:
            kind, ref = "", {}
        optional = "true" if ref.get("optional") else "false"
        if source.get("prefix"):
            w.write(3, f"{ref.get('name', '')}\t{kind} with prefix '{source['prefix']}'\tOptional: {optional}\n")
        else:
            w.write(3, f"{ref.get('name', '')}\t{kind}\tOptional: {optional}\n")


def _env(w: _Writer, container: dict, pod: dict | None) -> None:
    """describeContainerEnvVars: values, `(v1:status.podIP)` for fieldRefs, secret and config map keys."""
    env = container.get("env") or []
    none = "" if env else "\t<none>"
    w.write(2, f"Environment:{none}\n")
    for var in env:
        name, source = var.get("name", ""), var.get("valueFrom")
        if source is None:
            for i, part in enumerate(str(var.get("value") or "").split("\n")):
                w.write(3, f"{name}:\t{part}\n" if i == 0 else f"\t{part}\n")
            continue
        if source.get("fieldRef") is not None:
            ref = source["fieldRef"]
            api, path = ref.get("apiVersion") or "v1", ref.get("fieldPath", "")
            value = field_value(pod, path) if pod is not None else ""
            w.write(3, f"{name}:\t{value} ({api}:{path})\n")
        elif source.get("resourceFieldRef") is not None:
            ref = source["resourceFieldRef"]
            w.write(3, f"{name}:\t{_resource_value(ref, container)} ({ref.get('resource', '')})\n")
        elif source.get("secretKeyRef") is not None:
            ref = source["secretKeyRef"]
            w.write(3, f"{name}:\t<set to the key '{ref.get('key', '')}' in secret '{ref.get('name', '')}'>\t"
                       f"Optional: {'true' if ref.get('optional') else 'false'}\n")
        elif source.get("configMapKeyRef") is not None:
            ref = source["configMapKeyRef"]
            w.write(3, f"{name}:\t<set to the key '{ref.get('key', '')}' of config map '{ref.get('name', '')}'>\t"
                       f"Optional: {'true' if ref.get('optional') else 'false'}\n")
        # kubectl prints nothing at all for other sources (fileKeyRef)


def field_value(pod: dict, path: str) -> str:
    """fieldpath.ExtractFieldPathAsString: what kubectl resolves of a fieldRef (metadata only)."""
    meta = pod.get("metadata") or {}
    match = re.fullmatch(r"(metadata\.(?:labels|annotations))\['(.+)'\]", path)
    if match:
        field = match.group(1).split(".")[1]
        return str((meta.get(field) or {}).get(match.group(2), ""))
    if path in ("metadata.labels", "metadata.annotations"):
        values = meta.get(path.split(".")[1]) or {}
        return "\n".join(f"{k}={json.dumps(str(values[k]), ensure_ascii=False)}" for k in sorted(values))
    if path in ("metadata.name", "metadata.namespace", "metadata.uid"):
        return str(meta.get(path.split(".")[1]) or "")
    return ""       # status.podIP, spec.nodeName, ...: kubectl leaves these to the kubelet


def _resource_value(ref: dict, container: dict) -> str:
    """resourcehelper.ExtractContainerResourceValue, then kubectl's `node allocatable` for no limit."""
    resource = ref.get("resource", "")
    field, _, name = resource.partition(".")
    amount = _quantity(((container.get("resources") or {}).get(field) or {}).get(name, 0))
    divisor = _quantity(ref.get("divisor") or 1) or Decimal(1)
    value = str(math.ceil(amount / divisor))
    if value == "0" and resource in ("limits.cpu", "limits.memory"):
        return "node allocatable"
    return value


def _mounts(w: _Writer, container: dict) -> None:
    mounts = sorted(container.get("volumeMounts") or [], key=lambda m: m.get("mountPath", ""))
    none = "" if mounts else "\t<none>"
    w.write(2, f"Mounts:{none}\n")
    for mount in mounts:
        flags = ["ro" if mount.get("readOnly") else "rw"]
        if mount.get("subPath"):
            flags.append(f"path={json.dumps(mount['subPath'], ensure_ascii=False)}")
        w.write(3, f"{mount.get('mountPath', '')} from {mount.get('name', '')} ({','.join(flags)})\n")
    devices = sorted(container.get("volumeDevices") or [], key=lambda d: d.get("devicePath", ""))
    if devices:
        w.write(2, f"Devices:{none}\n")     # sic: kubectl reuses the mounts' `<none>`
        for device in devices:
            w.write(3, f"{device.get('devicePath', '')} from {device.get('name', '')}\n")


# -- pod-level sections -------------------------------------------------------------------------

def _volumes(w: _Writer, volumes: list | None, space: str) -> None:
    """describeVolumes for the volume types a lab's manifests use; `<unknown>` for the rest."""
    if not volumes:
        w.write(0, f"{space}Volumes:\t<none>\n")
        return
    w.write(0, f"{space}Volumes:\n")
    for volume in volumes:
        w.write(1, f"{' ' if space else ''}{volume.get('name', '')}:\n")
        if volume.get("hostPath") is not None:
            source = volume["hostPath"]
            w.write(2, "Type:\tHostPath (bare host directory volume)\n"
                       f"    Path:\t{source.get('path', '')}\n    HostPathType:\t{source.get('type') or '<none>'}\n")
        elif volume.get("emptyDir") is not None:
            source = volume["emptyDir"]
            limit = source.get("sizeLimit")
            limit = limit if limit and _quantity(limit) > 0 else "<unset>"
            w.write(2, "Type:\tEmptyDir (a temporary directory that shares a pod's lifetime)\n"
                       f"    Medium:\t{source.get('medium') or ''}\n    SizeLimit:\t{limit}\n")
        elif volume.get("secret") is not None:
            source = volume["secret"]
            w.write(2, "Type:\tSecret (a volume populated by a Secret)\n"
                       f"    SecretName:\t{source.get('secretName', '')}\n"
                       f"    Optional:\t{'true' if source.get('optional') else 'false'}\n")
        elif volume.get("configMap") is not None:
            source = volume["configMap"]
            w.write(2, "Type:\tConfigMap (a volume populated by a ConfigMap)\n"
                       f"    Name:\t{source.get('name', '')}\n"
                       f"    Optional:\t{'true' if source.get('optional') else 'false'}\n")
        elif volume.get("persistentVolumeClaim") is not None:
            source = volume["persistentVolumeClaim"]
            w.write(2, "Type:\tPersistentVolumeClaim (a reference to a PersistentVolumeClaim in the same namespace)\n"
                       f"    ClaimName:\t{source.get('claimName', '')}\n"
                       f"    ReadOnly:\t{'true' if source.get('readOnly') else 'false'}\n")
        elif volume.get("downwardAPI") is not None:
            w.write(2, "Type:\tDownwardAPI (a volume populated by information about the pod)\n    Items:\n")
            for item in volume["downwardAPI"].get("items") or []:
                if item.get("fieldRef") is not None:
                    w.write(3, f"{item['fieldRef'].get('fieldPath', '')} -> {item.get('path', '')}\n")
                if item.get("resourceFieldRef") is not None:
                    w.write(3, f"{item['resourceFieldRef'].get('resource', '')} -> {item.get('path', '')}\n")
        else:
            w.write(1, "<unknown>\n")


def pod_tolerations(spec: dict) -> list:
    """The pod's tolerations plus the DefaultTolerationSeconds admission plugin's two."""
    tolerations = list(spec.get("tolerations") or [])
    for default in _DEFAULT_TOLERATIONS:
        tolerated = any(t.get("key") in (None, "", default["key"]) and t.get("effect") in (None, "", "NoExecute")
                        for t in tolerations)
        if not tolerated:
            tolerations.append(dict(default))
    return tolerations


def _tolerations(w: _Writer, title: str, tolerations: list | None) -> None:
    """printTolerationsMultilineWithIndent: key[=value][:effect][ op=Exists][ for Ns], in key order."""
    w.write(0, f"{title}:\t")
    if not tolerations:
        w.line("<none>")
        return
    for i, toleration in enumerate(sorted(tolerations, key=lambda t: t.get("key") or "")):
        if i:
            w.write(0, "\t")
        text = toleration.get("key") or ""
        if toleration.get("value"):
            text += f"={toleration['value']}"
        if toleration.get("effect"):
            text += f":{toleration['effect']}"
        if toleration.get("operator") == "Exists" and not toleration.get("value"):
            text += " op=Exists" if toleration.get("key") or toleration.get("effect") else "op=Exists"
        if toleration.get("tolerationSeconds") is not None:
            text += f" for {toleration['tolerationSeconds']}s"
        w.write(0, text + "\n")


def _topology_spread(w: _Writer, constraints: list | None, space: str) -> None:
    if not constraints:
        return
    w.write(0, f"{space}Topology Spread Constraints:\t")
    for i, c in enumerate(sorted(constraints, key=lambda c: c.get("topologyKey", ""))):
        if i:
            w.write(0, f"{space}\t")
        text = (f"{c.get('topologyKey', '')}:{c.get('whenUnsatisfiable', '')} "
                f"when max skew {c.get('maxSkew')} is exceeded")
        if c.get("labelSelector") is not None:
            text += f" for selector {selector_text(c['labelSelector']) or '<none>'}"
        w.write(0, text + "\n")


_QUANTITY = re.compile(r"([+-]?(?:\d+\.?\d*|\.\d+))([eE][+-]?\d+|[KMGTPE]i|[numkMGTPE]|)")
_DECIMAL_EXPONENTS = {"n": -9, "u": -6, "m": -3, "": 0, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18}
_DECIMAL_SUFFIXES = {exponent: suffix for suffix, exponent in _DECIMAL_EXPONENTS.items()}
_BINARY_EXPONENTS = {"Ki": 10, "Mi": 20, "Gi": 30, "Ti": 40, "Pi": 50, "Ei": 60}
_BINARY_SUFFIXES = {exponent // 10: suffix for suffix, exponent in _BINARY_EXPONENTS.items()}
_NANO = Decimal("1e-9")


class Quantity(NamedTuple):
    """A resource.Quantity: its value and the Format its text had (DecimalSI, BinarySI,
    DecimalExponent; "" for the zero Quantity{} kubectl gets for a resource not in a list)."""

    value: Decimal
    format: str

    def milli(self) -> int:
        """MilliValue: the value in thousandths, rounded up."""
        return int((self.value * 1000).to_integral_value(rounding=ROUND_CEILING))

    def whole(self) -> int:
        """Value: the value rounded up to an integer."""
        return int(self.value.to_integral_value(rounding=ROUND_CEILING))


def parse_quantity(text) -> Quantity:
    """resource.ParseQuantity: 500m, 128Mi, 1e3; rounded up to a nano; zero for what does not parse."""
    match = _QUANTITY.fullmatch(str(text).strip())
    if not match:
        return Quantity(Decimal(0), "")
    number, suffix = match.groups()
    with localcontext() as context:
        context.prec = 60
        try:
            if suffix in _BINARY_EXPONENTS:
                value, form = Decimal(number) * 2 ** _BINARY_EXPONENTS[suffix], "BinarySI"
            elif suffix[:1] in ("e", "E"):
                value, form = Decimal(number) * Decimal(10) ** int(suffix[1:]), "DecimalExponent"
            elif suffix in _DECIMAL_EXPONENTS:
                value, form = Decimal(number).scaleb(_DECIMAL_EXPONENTS[suffix]), "DecimalSI"
            else:
                return Quantity(Decimal(0), "")
            value = value.quantize(_NANO, rounding=ROUND_UP)
        except (InvalidOperation, ValueError):
            return Quantity(Decimal(0), "")
    if form == "BinarySI" and 0 < abs(value) < 1:
        form = "DecimalSI"
    return Quantity(value, form)


def quantity_string(q: Quantity) -> str:
    """Quantity.String(): canonical form -- no fractions, the largest suffix of its format that is exact."""
    value, form = q
    if value == 0:
        return "0"
    if form == "BinarySI":
        if -1024 < value < 1024 or value != value.to_integral_value():
            form = "DecimalSI"      # below 1Ki, or not a whole number of bytes: decimal, not rounded
        else:
            amount, exponent = int(value), 0
            while amount % 1024 == 0 and exponent < 6:
                amount, exponent = amount // 1024, exponent + 1
            return f"{amount}{_BINARY_SUFFIXES.get(exponent, '')}"
    if form not in ("DecimalSI", "DecimalExponent"):
        form = "DecimalExponent"
    sign, digits, exponent = _normalized(value)
    amount = int("".join(map(str, digits))) * (-1 if sign else 1)
    while exponent % 3:
        amount, exponent = amount * 10, exponent - 1
    if form == "DecimalSI":
        return f"{amount}{_DECIMAL_SUFFIXES.get(exponent, '')}"
    return f"{amount}e{exponent}" if exponent else str(amount)


def _normalized(value: Decimal) -> tuple:
    with localcontext() as context:
        context.prec = 60
        return value.normalize().as_tuple()


def _quantity(text) -> Decimal:
    """A resource.Quantity's value (500m, 128Mi, 1e3); 0 for what does not parse."""
    return parse_quantity(text).value


def _add_resources(into: dict, more: dict) -> None:
    """addResourceList: sums per resource; a sum keeps the format of its first non-zero term."""
    for name, q in more.items():
        held = into.get(name)
        if held is None:
            into[name] = q
        else:
            into[name] = Quantity(held.value + q.value, held.format if held.value != 0 else q.format)


def _max_resources(into: dict, more: dict) -> None:
    """maxResourceList: the larger per resource."""
    for name, q in more.items():
        if name not in into or q.value > into[name].value:
            into[name] = q


def _pod_level(name: str) -> bool:
    # IsSupportedPodLevelResource
    return name in ("cpu", "memory") or name.startswith("hugepages-")


def _container_resources(resources: dict | None, field: str) -> dict:
    resources = resources or {}
    values = dict(resources.get(field) or {})
    if field == "requests":
        # API defaulting (SetDefaults_Pod): a resource with a limit and no request requests its limit
        for name, amount in (resources.get("limits") or {}).items():
            values.setdefault(name, amount)
    return {name: parse_quantity(amount) for name, amount in values.items()}


def _pod_resources(pod: dict, field: str) -> dict:
    """resourcehelper.PodRequests / PodLimits from the spec: containers summed, init containers as
    a floor (sidecars -- restartPolicy Always -- added to both), pod-level resources over them,
    then the pod overhead."""
    spec = pod.get("spec") or {}
    total: dict = {}
    for container in spec.get("containers") or []:
        _add_resources(total, _container_resources(container.get("resources"), field))
    sidecars: dict = {}
    floor: dict = {}
    for container in spec.get("initContainers") or []:
        resources = _container_resources(container.get("resources"), field)
        if container.get("restartPolicy") == "Always":
            _add_resources(total, resources)
            _add_resources(sidecars, resources)
            resources = sidecars
        else:
            combined: dict = {}
            _add_resources(combined, resources)
            _add_resources(combined, sidecars)
            resources = combined
        _max_resources(floor, resources)
    _max_resources(total, floor)
    raw = spec.get("resources") or {}
    pod_level = _container_resources(raw, field)
    if field == "requests":     # IsPodLevelRequestsSet
        applies = any(_pod_level(n) for n in pod_level)
    else:                       # IsPodLevelResourcesSet: requests or limits
        applies = any(_pod_level(n) for n in [*(raw.get("requests") or {}), *(raw.get("limits") or {})])
    if applies:
        total.update({name: q for name, q in pod_level.items() if _pod_level(name)})
    overhead = {name: parse_quantity(amount) for name, amount in (spec.get("overhead") or {}).items()}
    if field == "requests":
        _add_resources(total, overhead)
    else:
        # PodLimits adds the overhead only to the limits that are set
        _add_resources(total, {name: q for name, q in overhead.items() if name in total})
    return total


def pod_requests(pod: dict) -> dict:
    """The pod's effective requests by resource name, as Quantity values (resourcehelper.PodRequests)."""
    return _pod_resources(pod, "requests")


def pod_limits(pod: dict) -> dict:
    """The pod's effective limits by resource name, as Quantity values (resourcehelper.PodLimits)."""
    return _pod_resources(pod, "limits")


def qos_class(spec: dict) -> str:
    """qos.ComputePodQOS: BestEffort, Burstable or Guaranteed from cpu and memory requests and limits."""
    requests: dict = {}
    limits: dict = {}
    guaranteed = True
    if spec.get("resources") is not None:
        holders = [spec["resources"]]
    else:
        containers = (spec.get("containers") or []) + (spec.get("initContainers") or [])
        holders = [c.get("resources") or {} for c in containers]
    for resources in holders:
        for into, field in ((requests, "requests"), (limits, "limits")):
            for name, amount in (resources.get(field) or {}).items():
                value = _quantity(amount)
                if name in ("cpu", "memory") and value > 0:
                    into[name] = into.get(name, Decimal(0)) + value
        limited = {n for n, a in (resources.get("limits") or {}).items() if n in ("cpu", "memory") and _quantity(a) > 0}
        if spec.get("resources") is None or resources.get("limits") is not None:
            if not {"cpu", "memory"} <= limited:
                guaranteed = False
    if not requests and not limits:
        return "BestEffort"
    if guaranteed and all(limits.get(n) == v for n, v in requests.items()) and len(requests) == len(limits):
        return "Guaranteed"
    return "Burstable"


# -- workloads ----------------------------------------------------------------------------------

def _pod_template(w: _Writer, template: dict) -> None:
    """DescribePodTemplate: the template's labels, containers (no status), volumes, scheduling."""
    meta, spec = template.get("metadata") or {}, template.get("spec") or {}
    w.write(0, "Pod Template:\n")
    _labels(w, "  Labels", meta.get("labels"))
    if meta.get("annotations"):
        _annotations(w, "  Annotations", meta["annotations"])
    if spec.get("serviceAccountName"):
        w.write(1, f"Service Account:\t{spec['serviceAccountName']}\n")
    if spec.get("initContainers"):
        _containers(w, "Init Containers", spec["initContainers"], None, None, "  ")
    _containers(w, "Containers", spec.get("containers") or [], None, None, "  ")
    _volumes(w, spec.get("volumes"), "  ")
    _topology_spread(w, spec.get("topologySpreadConstraints"), "  ")
    if spec.get("priorityClassName"):
        w.write(1, f"Priority Class Name:\t{spec['priorityClassName']}\n")
    _labels(w, "  Node-Selectors", spec.get("nodeSelector"))
    _tolerations(w, "  Tolerations", spec.get("tolerations"))


def _workload_conditions(w: _Writer, conditions: list | None) -> None:
    if not conditions:
        return
    w.write(0, "Conditions:\n  Type\tStatus\tReason\n")
    w.write(1, "----\t------\t------\n")
    for c in conditions:
        w.write(1, f"{c.get('type', '')} \t{c.get('status', '')}\t{c.get('reason', '')}\n")


def _template_key(template: dict) -> dict:
    """A pod template for EqualIgnoreHash: without pod-template-hash, unset and empty fields alike."""
    def prune(value):
        if isinstance(value, dict):
            pruned = {k: prune(v) for k, v in value.items()}
            return {k: v for k, v in pruned.items() if v not in (None, {}, [])}
        if isinstance(value, list):
            return [prune(v) for v in value]
        return value
    copied = copy.deepcopy(template or {})
    ((copied.get("metadata") or {}).get("labels") or {}).pop(HASH_LABEL, None)
    return prune(copied)


def deployment_replicasets(deploy: dict, replicasets: list) -> tuple:
    """(old, new) as deploymentutil.GetAllReplicaSets finds them: the ReplicaSets the Deployment controls
    and its selector matches, oldest first; new is the oldest whose template equals the Deployment's
    (ignoring pod-template-hash), or None; old is all the others, scaled-down ones included."""
    meta, spec, _ = _parts(deploy)
    owned = [rs for rs in replicasets or []
             if _namespace(rs.get("metadata") or {}) == _namespace(meta)
             and _controlled_by(rs, "Deployment", meta)
             and _selects(spec.get("selector"), (rs.get("metadata") or {}).get("labels"))]
    owned.sort(key=lambda rs: (_seconds((rs.get("metadata") or {}).get("creationTimestamp")) or 0.0,
                               (rs.get("metadata") or {}).get("name", "")))
    wanted = _template_key(spec.get("template"))
    new = next((rs for rs in owned if _template_key((rs.get("spec") or {}).get("template")) == wanted), None)
    return [rs for rs in owned if rs is not new], new


def _selects(selector: dict | None, labels: dict | None) -> bool:
    """LabelSelectorAsSelector(...).Matches: no selector matches nothing, an empty one everything."""
    return selector is not None and LabelSelector.from_dict(selector).matches(labels)


def _revision(replicasets: list) -> int:
    revisions = []
    for rs in replicasets:
        text = str(((rs.get("metadata") or {}).get("annotations") or {}).get(REVISION_ANNOTATION, ""))
        if text.isdigit():
            revisions.append(int(text))
    return max(revisions, default=0)


def _replicasets_line(replicasets: list) -> str:
    """printReplicaSetsByLabels: `web-589ccc5944 (4/4 replicas created)`, comma-separated."""
    parts = [f"{rs['metadata'].get('name', '')} ({(rs.get('status') or {}).get('replicas', 0)}/"
             f"{(rs.get('spec') or {}).get('replicas', 1)} replicas created)" for rs in replicasets]
    return ", ".join(parts) or "<none>"


def pods_status(rs: dict, pods: list) -> dict:
    """Phase counts of the pods the ReplicaSet's selector matches and it controls (getPodStatusForController)."""
    meta, spec, _ = _parts(rs)
    counts = {"Running": 0, "Pending": 0, "Succeeded": 0, "Failed": 0}
    for pod in pods or []:
        pod_meta = pod.get("metadata") or {}
        if _namespace(pod_meta) != _namespace(meta) or not _controlled_by(pod, "ReplicaSet", meta):
            continue
        if not _selects(spec.get("selector"), pod_meta.get("labels")):
            continue
        phase = (pod.get("status") or {}).get("phase")
        if phase in counts:
            counts[phase] += 1
    return counts


# -- services -----------------------------------------------------------------------------------

def service_slices(svc: dict, slices: list) -> list:
    """The EndpointSlices labelled kubernetes.io/service-name=NAME in its namespace, by name as listed."""
    meta = svc.get("metadata") or {}
    mine = [s for s in slices or []
            if _namespace(s.get("metadata") or {}) == _namespace(meta)
            and ((s.get("metadata") or {}).get("labels") or {}).get(SERVICE_NAME_LABEL) == meta.get("name")]
    return sorted(mine, key=lambda s: (s.get("metadata") or {}).get("name", ""))


def _ingress_text(ingress: list) -> str:
    parts = []
    for entry in ingress:
        if entry.get("ip"):
            parts.append(f"{entry['ip']} ({entry['ipMode']})" if entry.get("ipMode") else entry["ip"])
        else:
            parts.append(entry.get("hostname") or "")
    return ", ".join(parts)


def _host_port(address: str, port) -> str:
    return f"[{address}]:{port}" if ":" in address else f"{address}:{port}"


def format_endpoint_slices(slices: list, port_name: str | None) -> str:
    """formatEndpointSlices: ready ip:port for the ports named PORT_NAME (None: every port), three at most.

    Past three it says `+ N more...`; like kubectl, it decides there are "more" on reaching a fourth
    endpoint before checking that endpoint is ready, so it can say `+ 0 more...`.
    """
    if not slices:
        return "<none>"
    shown: list = []
    more, count, limit = False, 0, 3
    for slice_ in slices:
        endpoints = slice_.get("endpoints") or []
        if not slice_.get("ports"):
            targets = [(e, None) for e in endpoints]        # a headless Service with no ports
        else:
            targets = [(e, p.get("port")) for p in slice_["ports"]
                       if port_name is None or (p.get("name") or "") == port_name for e in endpoints]
        for endpoint, port in targets:
            if len(shown) == limit:
                more = True
            if (endpoint.get("conditions") or {}).get("ready") is False:
                continue        # ready unset means ready
            if not more:
                address = (endpoint.get("addresses") or [""])[0]
                shown.append(address if port is None else _host_port(address, port))
            count += 1
    text = ",".join(shown)
    return f"{text} + {count - limit} more..." if more else text
