"""kubectl's printers: the columns `netlab get` shows for each kind (pkg/printers/internalversion)."""

from __future__ import annotations

import datetime

from netlab import output, views


def _created(obj: dict) -> float:
    """An object's creationTimestamp in epoch seconds (AGE counts from it)."""
    stamp = obj["metadata"].get("creationTimestamp")
    return datetime.datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.timezone.utc).timestamp()


def table_rows(kind: str, objects: list, wide: bool, all_namespaces: bool) -> tuple:
    """(headers, rows) of `kubectl get KIND` for OBJECTS (plus NETNS for nodes and pods with -o wide)."""
    created = _created
    rows = []
    namespace_col = (lambda obj: [obj["metadata"]["namespace"]]) if all_namespaces else (lambda obj: [])
    if kind == "Service":
        headers = (["NAMESPACE"] if all_namespaces else []) + ["NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP",
                                                                "PORT(S)", "AGE"]
        if wide:
            headers.append("SELECTOR")
        for obj in objects:
            spec = obj["spec"]
            row = namespace_col(obj) + [obj["metadata"]["name"], spec.get("type", "ClusterIP"),
                                        spec.get("clusterIP") or "<none>", views.external_ip_column(obj),
                                        views.service_ports_column(spec), output.age(created(obj))]
            if wide:
                selector = spec.get("selector") or {}
                row.append(",".join(f"{k}={v}" for k, v in sorted(selector.items())) or "<none>")
            rows.append(row)
        return headers, rows
    if kind == "Endpoints":
        headers = (["NAMESPACE"] if all_namespaces else []) + ["NAME", "ENDPOINTS", "AGE"]
        for obj in objects:
            rows.append(namespace_col(obj) + [obj["metadata"]["name"], views.endpoints_column(obj),
                                              output.age(created(obj))])
        return headers, rows
    if kind == "EndpointSlice":
        headers = (["NAMESPACE"] if all_namespaces else []) + ["NAME", "ADDRESSTYPE", "PORTS", "ENDPOINTS", "AGE"]
        for obj in objects:
            ports, addresses = views.slice_columns(obj)
            rows.append(namespace_col(obj) + [obj["metadata"]["name"], obj.get("addressType", "IPv4"), ports,
                                              addresses, output.age(created(obj))])
        return headers, rows
    if kind in ("Deployment", "ReplicaSet"):
        if kind == "Deployment":
            headers = ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"]
        else:
            headers = ["NAME", "DESIRED", "CURRENT", "READY", "AGE"]
        headers = (["NAMESPACE"] if all_namespaces else []) + headers
        if wide:
            headers += ["CONTAINERS", "IMAGES", "SELECTOR"]
        for obj in objects:
            spec, status = obj["spec"], obj.get("status") or {}
            desired = spec.get("replicas", 1)
            if kind == "Deployment":
                row = [obj["metadata"]["name"], f"{status.get('readyReplicas', 0)}/{desired}",
                       status.get("updatedReplicas", 0), status.get("availableReplicas", 0)]
            else:
                row = [obj["metadata"]["name"], desired, status.get("replicas", 0), status.get("readyReplicas", 0)]
            row = namespace_col(obj) + row + [output.age(created(obj))]
            if wide:
                containers = (spec.get("template") or {}).get("spec", {}).get("containers") or []
                row += [",".join(c["name"] for c in containers), ",".join(c["image"] for c in containers),
                        views.selector_text(spec.get("selector") or {})]
            rows.append(row)
        return headers, rows
    if kind in ("ConfigMap", "Secret"):
        headers = (["NAMESPACE"] if all_namespaces else []) + (
            ["NAME", "DATA", "AGE"] if kind == "ConfigMap" else ["NAME", "TYPE", "DATA", "AGE"])
        for obj in objects:
            count = len(obj.get("data") or {}) + len(obj.get("binaryData") or {})
            middle = [obj.get("type", "Opaque")] if kind == "Secret" else []
            rows.append(namespace_col(obj) + [obj["metadata"]["name"]] + middle + [count, output.age(created(obj))])
        return headers, rows
    if kind == "Namespace":
        # printNamespace: NAME STATUS AGE
        headers = ["NAME", "STATUS", "AGE"]
        for obj in objects:
            rows.append([obj["metadata"]["name"], (obj.get("status") or {}).get("phase", "Active"),
                         output.age(created(obj))])
        return headers, rows
    if kind == "Event":
        headers = (["NAMESPACE"] if all_namespaces else []) + ["LAST SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"]
        for obj in objects:
            rows.append(namespace_col(obj) + views.event_row(obj))
        return headers, rows
    if kind == "Node":
        # printNode; -o wide adds nodeInfo's columns, then netlab's NETNS
        headers = ["NAME", "STATUS", "ROLES", "AGE", "VERSION"]
        if wide:
            headers += ["INTERNAL-IP", "EXTERNAL-IP", "OS-IMAGE", "KERNEL-VERSION", "CONTAINER-RUNTIME", "NETNS"]
        for obj in objects:
            info = obj["status"]["nodeInfo"]
            roles = sorted(k.split("/", 1)[1] for k in obj["metadata"].get("labels") or {}
                           if k.startswith("node-role.kubernetes.io/") and k.split("/", 1)[1])
            row = [obj["metadata"]["name"], "Ready", ",".join(roles) or "<none>", output.age(created(obj)),
                   info["kubeletVersion"]]
            if wide:
                row += [obj["status"]["addresses"][0]["address"], "<none>", info["osImage"], info["kernelVersion"],
                        info["containerRuntimeVersion"], obj["metadata"]["annotations"][views.NETNS_ANNOTATION]]
            rows.append(row)
        return headers, rows
    headers = (["NAMESPACE"] if all_namespaces else []) + ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]
    if wide:
        headers += ["IP", "NODE", "NOMINATED NODE", "READINESS GATES", "NETNS"]
    for obj in objects:
        statuses = obj["status"].get("containerStatuses") or []
        total = len(obj["spec"].get("containers") or [])
        ready = sum(1 for s in statuses if s["ready"])
        _, shown = views.pod_phase(_PodView(obj), statuses, obj["status"]["phase"] != "Unknown",
                                   obj["spec"].get("restartPolicy", "Always"),
                                   bool(obj["metadata"].get("deletionTimestamp")))
        row = ([obj["metadata"]["namespace"]] if all_namespaces else []) + [
            obj["metadata"]["name"], f"{ready}/{total}", shown, views.restarts_column(statuses),
            output.age(created(obj))]
        if wide:
            row += [obj["status"].get("podIP") or "<none>", obj["spec"].get("nodeName") or "<none>", "<none>", "<none>",
                    obj["metadata"]["annotations"].get(views.NETNS_ANNOTATION) if obj["spec"].get("nodeName") else "<none>"]
        rows.append(row)
    return headers, rows


class _PodView:
    """Just enough of a PodInstance to reuse views.pod_phase on a rendered Pod object."""

    def __init__(self, obj):
        self.node = obj["spec"].get("nodeName")
