"""Kubernetes-shaped views of what a lab has, for `get` (tables, -o json|yaml) and `status`."""

from __future__ import annotations

import copy
import datetime
import platform

from netlab import names

NETNS_ANNOTATION = "netlab.io/netns"


def _timestamp(seconds: float) -> str:
    return datetime.datetime.fromtimestamp(seconds, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def node_object(lab: str, node, created: float) -> dict:
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": node.name,
            "labels": dict(node.labels),
            "annotations": {NETNS_ANNOTATION: node.netns},
            "creationTimestamp": _timestamp(created),
        },
        "spec": {"podCIDR": str(node.pod_cidr), "podCIDRs": [str(node.pod_cidr)]},
        "status": {
            "addresses": [{"type": "InternalIP", "address": node.ip}, {"type": "Hostname", "address": node.name}],
            "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady"}],
            "nodeInfo": {"kernelVersion": platform.release(), "operatingSystem": "linux",
                         "architecture": platform.machine(), "osImage": "netlab namespace",
                         "containerRuntimeVersion": "netlab://processes", "kubeletVersion": "netlab"},
        },
    }


def container_statuses(status, spec_containers) -> list:
    """containerStatuses from the runtime's view, in the pod spec's container order."""
    by_name = {c.name: c for c in (status.containers if status else ())}
    result = []
    for container in spec_containers:
        seen = by_name.get(container.name)
        entry = {"name": container.name, "image": container.image, "restartCount": 0,
                 "ready": False, "started": False, "state": {"waiting": {"reason": "ContainerCreating"}}}
        if seen is not None:
            if seen.state == "running":
                entry.update(ready=True, started=True,
                             state={"running": {"startedAt": _timestamp(seen.started_at or 0)}})
            elif seen.state == "terminated":
                entry["state"] = {"terminated": {
                    "exitCode": seen.exit_code, "reason": seen.reason or ("Completed" if seen.exit_code == 0 else "Error"),
                    "startedAt": _timestamp(seen.started_at or 0), "finishedAt": _timestamp(seen.finished_at or 0)}}
        result.append(entry)
    return result


def pod_phase(pod, statuses: list, owner_alive: bool) -> tuple:
    """(phase, STATUS column) as kubectl shows them."""
    if pod.node is None:
        return "Pending", "Pending"
    if not owner_alive and statuses and not any("terminated" in s["state"] for s in statuses):
        return "Unknown", "Unknown"
    states = [s["state"] for s in statuses]
    if states and all("running" in s for s in states):
        return "Running", "Running"
    terminated = [s["terminated"] for s in states if "terminated" in s]
    if terminated and len(terminated) == len(states):
        failed = any(t["exitCode"] != 0 for t in terminated)
        return ("Failed", "Error") if failed else ("Succeeded", "Completed")
    for state in states:
        if "terminated" in state:
            return "Running", "NotReady" if state["terminated"]["exitCode"] == 0 else "Error"
    return "Pending", "ContainerCreating"


def pod_object(lab: str, pod, source_obj, host_ip: str | None, status) -> dict:
    """A Pod as `kubectl get pod -o yaml` shows it: the manifest's spec plus placement and status."""
    template = source_obj.raw if type(source_obj).__name__ == "Pod" else \
        ((source_obj.raw.get("spec") or {}).get("template") or {})
    spec = copy.deepcopy(template.get("spec") or {})
    if pod.node:
        spec["nodeName"] = pod.node
    metadata = {
        "name": pod.name,
        "namespace": pod.namespace,
        "uid": pod.uid,
        "labels": dict(pod.labels),
        "annotations": dict((template.get("metadata") or {}).get("annotations") or {}),
        "creationTimestamp": _timestamp(pod.created),
    }
    if pod.node:        # a Pending pod has no sandbox, so no namespace yet
        metadata["annotations"][NETNS_ANNOTATION] = names.pod_netns(lab, pod.namespace, pod.name)
    if pod.owner:
        metadata["ownerReferences"] = [{"apiVersion": "apps/v1", "kind": pod.owner[0], "name": pod.owner[1],
                                        "controller": True, "blockOwnerDeletion": True}]
    statuses = container_statuses(status, source_container_list(source_obj))
    phase, _ = pod_phase(pod, statuses, bool(status and status.owner_alive))
    pod_status = {"phase": phase}
    if pod.node is None:
        pod_status["conditions"] = [{"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
                                     "message": pod.reason or ""}]
    else:
        ready = all(s["ready"] for s in statuses) and bool(statuses)
        pod_status.update({
            "conditions": [{"type": "PodScheduled", "status": "True"},
                           {"type": "Ready", "status": "True" if ready else "False"}],
            "hostIP": host_ip, "hostIPs": [{"ip": host_ip}],
            "podIP": pod.ip, "podIPs": [{"ip": pod.ip}],
            "startTime": _timestamp(pod.created),
            "containerStatuses": statuses,
        })
    return {"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": spec, "status": pod_status}


def source_container_list(source_obj) -> list:
    spec = source_obj.spec if type(source_obj).__name__ == "Pod" else source_obj.template.spec
    return list(spec.containers)


# -- Services -----------------------------------------------------------------------------------

def service_ports_column(spec: dict) -> str:
    """kubectl's PORT(S): 80/TCP, or 80:30080/TCP for a port with a nodePort."""
    parts = []
    for port in spec.get("ports") or []:
        text = f"{port['port']}:{port['nodePort']}" if port.get("nodePort") else f"{port['port']}"
        parts.append(f"{text}/{port.get('protocol', 'TCP')}")
    return ",".join(parts) or "<none>"


def external_ip_column(service: dict) -> str:
    spec = service["spec"]
    if spec.get("type") == "ExternalName":
        return spec.get("externalName") or "<none>"
    ips = list(spec.get("externalIPs") or [])
    ingress = ((service.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
    ips = [i.get("ip") or i.get("hostname") for i in ingress] + ips
    if ips:
        return ",".join(ips)
    return "<pending>" if spec.get("type") == "LoadBalancer" else "<none>"


def _first_three(items: list) -> str:
    if not items:
        return "<none>"
    shown = ",".join(items[:3])
    return shown + (f" + {len(items) - 3} more..." if len(items) > 3 else "")


def endpoints_column(endpoints: dict) -> str:
    """kubectl's ENDPOINTS: ip:port of ready addresses, the first three and a count of the rest."""
    items = []
    for subset in endpoints.get("subsets") or []:
        for address in subset.get("addresses") or []:
            for port in subset.get("ports") or []:
                items.append(f"{address['ip']}:{port['port']}")
    return _first_three(items)


def slice_columns(slice_: dict) -> tuple:
    ports = ",".join(str(p["port"]) for p in slice_.get("ports") or []) or "<unset>"
    addresses = [e["addresses"][0] for e in slice_.get("endpoints") or []]
    return ports, _first_three(addresses)


def with_meta(obj: dict, created: float) -> dict:
    """A copy of OBJ with the creationTimestamp every listed object carries."""
    result = copy.deepcopy(obj)
    result.setdefault("metadata", {}).setdefault("creationTimestamp", _timestamp(created))
    return result
