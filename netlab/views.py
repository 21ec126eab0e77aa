"""Kubernetes-shaped views of what a lab has, for `get` (tables, -o json|yaml) and `status`."""

from __future__ import annotations

import copy
import datetime
import os
import platform
import time

from netlab import names
from netlab.cluster.topology import pod_ips

NETNS_ANNOTATION = "netlab.io/netns"


def _timestamp(seconds: float) -> str:
    return datetime.datetime.fromtimestamp(seconds, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


GO_ARCH = {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm", "ppc64le": "ppc64le", "s390x": "s390x"}
MAX_PODS = "110"        # kubelet's --max-pods default


def machine_capacity() -> dict:
    """status.capacity as kubelet reports it, of this machine: cpu, memory (Ki), pods."""
    memory = "0"
    try:
        with open("/proc/meminfo") as handle:
            for line in handle:
                if line.startswith("MemTotal:"):
                    memory = line.split()[1] + "Ki"
                    break
    except OSError:
        pass
    return {"cpu": str(os.cpu_count() or 1), "memory": memory, "pods": MAX_PODS}


FLANNEL_ANNOTATIONS = "flannel.alpha.coreos.com/"


def flannel_annotations(topology, node) -> dict:
    """What flanneld's kube subnet manager writes on its Node (pkg/subnet/kube/kube.go AcquireLease):
    the backend, its data (vxlan: the VNI and this node's VTEP MAC, which the other nodes' neighbour
    and FDB entries point at; host-gw: none), the public IP and that the kube subnet manager owns it.
    A node with an IPv6 address also gets the IPv6 pair (backend-v6-data, public-ipv6), and an
    IPv6-only one no public-ip."""
    import json
    from netlab.dataplane import vxlan

    def backend_data(device: str) -> str:
        """The lease's backend data for DEVICE: vxlan's VNI and VTEP MAC, host-gw's none."""
        if topology.pod_network != "vxlan":
            return "null"
        return json.dumps({"VNI": vxlan.VNI, "VtepMAC": vxlan.vtep_mac(topology, node, device)}, separators=(",", ":"))
    # newSubnetAttrs: no IPv4 device (an IPv6-only lab), no IPv4 backend data
    data = backend_data(vxlan.DEVICE) if getattr(topology, "ipv4", True) else "null"
    annotations = {FLANNEL_ANNOTATIONS + "backend-data": data,
                   FLANNEL_ANNOTATIONS + "backend-type": topology.pod_network,
                   FLANNEL_ANNOTATIONS + "kube-subnet-manager": "true"}
    if getattr(topology, "ipv4", True):        # flanneld with EnableIPv4 (all but an IPv6-only lab)
        annotations[FLANNEL_ANNOTATIONS + "public-ip"] = node.ip
    # AcquireLease writes the IPv6 pair whenever the node has an IPv6 address: vxlan's data names
    # flannel-v6.1's VTEP MAC
    if getattr(node, "ip6", None):
        annotations[FLANNEL_ANNOTATIONS + "backend-v6-data"] = backend_data(vxlan.DEVICE6)
        annotations[FLANNEL_ANNOTATIONS + "public-ipv6"] = node.ip6
    return dict(sorted(annotations.items()))


def node_object(lab: str, node, created: float, topology=None) -> dict:
    """The Node as `kubectl get node -o yaml` shows it; with TOPOLOGY, flannel's annotations too."""
    annotations = {**(flannel_annotations(topology, node) if topology is not None else {}),
                   NETNS_ANNOTATION: node.netns}
    families = topology.ip_families if topology is not None else ("IPv4", "IPv6")
    # the node IPAM controller's podCIDRs, one per family, the primary first
    cidrs = [str(cidr) for cidr in (node.pod_cidr6 if family == "IPv6" else node.pod_cidr for family in families)
             if cidr is not None]
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": node.name,
            "labels": dict(node.labels),
            "annotations": annotations,
            "creationTimestamp": _timestamp(created),
        },
        "spec": {"podCIDR": cidrs[0], "podCIDRs": cidrs},
        "status": {
            # kubelet reports each of a dual-stack node's IPs as an InternalIP, the primary first
            "addresses": [{"type": "InternalIP", "address": ip} for ip in node.internal_ips(families)]
            + [{"type": "Hostname", "address": node.name}],
            # every node is this machine: its CPUs and memory, and kubelet's default of 110 pods
            "capacity": machine_capacity(),
            "allocatable": machine_capacity(),
            "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady",
                            "message": "kubelet is posting ready status",
                            "lastHeartbeatTime": _timestamp(created), "lastTransitionTime": _timestamp(created)}],
            "nodeInfo": {"kernelVersion": platform.release(), "operatingSystem": "linux",
                         "architecture": GO_ARCH.get(platform.machine(), platform.machine()),
                         "osImage": "netlab namespace",
                         "containerRuntimeVersion": "netlab://processes", "kubeletVersion": "netlab"},
        },
    }


def container_statuses(status, spec_containers, record: dict | None = None, now: float | None = None) -> list:
    """containerStatuses from the runtime's view and kubelet's memory, in the pod spec's container order."""
    from netlab.kubelet import kubelet, lifecycle
    record = record or {}
    now = time.time() if now is None else now
    by_name = {c.name: c for c in (status.containers if status else ())}
    ready_pod = kubelet.pod_ready(record, _SpecView(spec_containers), status) if status else False
    result = []
    for container in spec_containers:
        seen = by_name.get(container.name)
        memory = kubelet.container_record(record, container.name)
        entry = {"name": container.name, "image": container.image, "restartCount": memory.restart_count,
                 "ready": False, "started": False, "state": {"waiting": {"reason": "ContainerCreating"}}}
        if memory.last_state:
            entry["lastState"] = {"terminated": _terminated(memory.last_state)}
        if seen is not None:
            observed = kubelet.observed_of(seen)
            waiting = lifecycle.waiting_reason(memory, observed, now)
            if seen.state == "running":
                entry.update(started=True, state={"running": {"startedAt": _timestamp(seen.started_at or 0)}})
                entry["ready"] = ready_pod or _container_ready(record, container, seen)
            elif waiting is not None:
                entry["state"] = {"waiting": {"reason": waiting[0],
                                              "message": f"{waiting[1]}={container.name}_{record.get('namespace')}"
                                                         f"({record.get('uid')})"}}
            elif seen.state == "terminated":
                entry["state"] = {"terminated": _terminated({
                    "exitCode": seen.exit_code, "reason": seen.reason, "signal": seen.signal,
                    "startedAt": seen.started_at, "finishedAt": seen.finished_at})}
        result.append(entry)
    return result


class _SpecView:
    """Just enough of a PodSpec for kubelet.pod_ready."""

    def __init__(self, containers):
        self.containers = list(containers)


def _container_ready(record: dict, container, seen) -> bool:
    from netlab.kubelet import kubelet
    return kubelet.pod_ready(record, _SpecView([container]), _OneStatus(seen))


class _OneStatus:
    def __init__(self, seen):
        self.owner_alive = True
        self.containers = [seen]


def _terminated(state: dict) -> dict:
    code = state.get("exitCode")
    return {"exitCode": code, "reason": state.get("reason") or ("Completed" if code == 0 else "Error"),
            "startedAt": _timestamp(state.get("startedAt") or 0), "finishedAt": _timestamp(state.get("finishedAt") or 0)}


def pod_phase(pod, statuses: list, owner_alive: bool, restart_policy: str = "Always",
              deleting: bool = False) -> tuple:
    """(phase, STATUS column): kubelet's getPhase and kubectl's printPod."""
    if pod.node is None:
        return "Pending", "Pending"
    if not owner_alive and statuses and not any("terminated" in s["state"] for s in statuses):
        return "Unknown", "Terminating" if deleting else "Unknown"
    states = [s["state"] for s in statuses]
    running = sum(1 for s in states if "running" in s)
    waiting = [s for s in states if "waiting" in s]
    terminated = [s["terminated"] for s in states if "terminated" in s]
    ever_started = any(s.get("restartCount") or "running" in s["state"] or "terminated" in s["state"]
                       for s in statuses)
    if waiting and not ever_started:
        phase = "Pending"
    elif running or waiting:
        phase = "Running"
    elif terminated and len(terminated) == len(states):
        failed = any(t["exitCode"] != 0 for t in terminated)
        if restart_policy == "Always" or (restart_policy == "OnFailure" and failed):
            phase = "Running"           # kubelet is about to start them again
        else:
            phase = "Failed" if failed else "Succeeded"
    else:
        phase = "Pending"
    # kubectl: the reason of the first container that is waiting or terminated, else the phase
    shown = phase
    has_running = False
    for status in reversed(statuses):
        state = status["state"]
        if "waiting" in state and state["waiting"].get("reason"):
            shown = state["waiting"]["reason"]
        elif "terminated" in state:
            term = state["terminated"]
            shown = term.get("reason") or (f"Signal:{term['signal']}" if term.get("signal")
                                           else f"ExitCode:{term['exitCode']}")
        elif status["ready"] and "running" in state:
            has_running = True
    if shown == "Completed" and has_running:
        shown = "Running" if all(s["ready"] for s in statuses) else "NotReady"
    if deleting:
        shown = "Terminating"
    return phase, shown


def restarts_column(statuses: list, now: float | None = None) -> str:
    """kubectl's RESTARTS: the sum, and how long ago the last one ended, e.g. `2 (15s ago)`."""
    from netlab import output
    restarts = sum(s.get("restartCount", 0) for s in statuses)
    last = [s["lastState"]["terminated"]["finishedAt"] for s in statuses if "lastState" in s]
    if restarts and last:
        stamp = max(last)
        when = datetime.datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.timezone.utc)
        return f"{restarts} ({output.age(when.timestamp(), now)} ago)"
    return str(restarts)


SYSTEM_PRIORITIES = {"system-cluster-critical": 2000000000, "system-node-critical": 2000001000}


def pod_object(lab: str, pod, source_obj, host_ip: str | None, status, record: dict | None = None,
               host_ip6: str | None = None, families: tuple = ("IPv4", "IPv6")) -> dict:
    """A Pod as `kubectl get pod -o yaml` shows it: the manifest's spec plus placement and status
    (on a dual-stack lab both pod IPs, and with HOST_IP6 both host IPs, in the order of FAMILIES,
    the lab's IP families; an IPv6-only lab's pod and host IPs are IPv6 only)."""
    record = record or {}
    template = source_obj.pod_template_raw
    spec = copy.deepcopy(template.get("spec") or {})
    if pod.node:
        spec["nodeName"] = pod.node
    # the Priority admission plugin: the class's value (the two built-in classes; any other is 0 here)
    spec.setdefault("priority", SYSTEM_PRIORITIES.get(spec.get("priorityClassName"), 0))
    metadata = {
        "name": pod.name,
        "namespace": pod.namespace,
        "uid": pod.uid,
        "labels": dict(pod.labels),
        # a controller's pod starts with its template's annotations; `annotate` changes its own
        "annotations": dict(record["annotations"] if "annotations" in record
                            else (template.get("metadata") or {}).get("annotations") or {}),
        "creationTimestamp": _timestamp(pod.created),
    }
    if record.get("deletionTimestamp"):
        metadata["deletionTimestamp"] = _timestamp(record["deletionTimestamp"])
        metadata["deletionGracePeriodSeconds"] = int(record["deletionGracePeriodSeconds"]) \
            if record.get("deletionGracePeriodSeconds") is not None \
            else int(source_obj.pod_spec.termination_grace_period_seconds)
    if pod.node:        # a Pending pod has no sandbox, so no namespace yet
        metadata["annotations"][NETNS_ANNOTATION] = names.pod_netns(lab, pod.namespace, pod.name)
    if pod.owner:
        metadata["ownerReferences"] = [{"apiVersion": "apps/v1", "kind": pod.owner[0], "name": pod.owner[1],
                                        "uid": record.get("owner_uid") or "",
                                        "controller": True, "blockOwnerDeletion": True}]
    pod_spec = source_obj.pod_spec
    statuses = container_statuses(status, source_container_list(source_obj), record)
    if record.get("waiting") and record.get("phase") == "building":
        for entry in statuses:          # kubelet's reason for not starting them yet
            if "waiting" in entry["state"]:
                entry["state"] = {"waiting": dict(record["waiting"])}
    # a pod still being built (its volumes waiting for their ConfigMap, say) has no sandbox yet:
    # ContainerCreating, not Unknown
    building = record.get("phase") == "building" and not (status and status.containers)
    phase, _ = pod_phase(pod, statuses, building or bool(status and status.owner_alive), pod_spec.restart_policy,
                         bool(record.get("deletionTimestamp")))
    pod_status = {"phase": phase}
    if pod.node is None:
        pod_status["conditions"] = [{"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
                                     "message": pod.reason or ""}]
    else:
        ready = all(s["ready"] for s in statuses) and bool(statuses)
        started = _timestamp(pod.created)
        pod_addresses = pod_ips(pod, families)
        host_ips = [ip for ip in (host_ip6 if family == "IPv6" else host_ip for family in families) if ip]
        ready_since = (record.get("kubelet") or {}).get("readySince")
        pod_status.update({
            "conditions": [
                {"type": "PodReadyToStartContainers", "status": "True", "lastTransitionTime": started},
                {"type": "Initialized", "status": "True", "lastTransitionTime": started},
                {"type": "Ready", "status": "True" if ready else "False",
                 "lastTransitionTime": _timestamp(ready_since) if ready and ready_since else started},
                {"type": "ContainersReady", "status": "True" if ready else "False",
                 "lastTransitionTime": _timestamp(ready_since) if ready and ready_since else started},
                {"type": "PodScheduled", "status": "True", "lastTransitionTime": started},
            ],
            # the primary family's address first, then a dual-stack pod's and node's other one
            "hostIP": host_ips[0] if host_ips else None, "hostIPs": [{"ip": ip} for ip in host_ips],
            "podIP": pod_addresses[0] if pod_addresses else None, "podIPs": [{"ip": ip} for ip in pod_addresses],
            "startTime": started,
            "containerStatuses": statuses,
        })
        if not ready:
            for condition in pod_status["conditions"][2:4]:
                condition["reason"] = "ContainersNotReady"
                condition["message"] = "containers with unready status: [" + " ".join(
                    s["name"] for s in statuses if not s["ready"]) + "]"
    return {"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": spec, "status": pod_status}


def source_container_list(source_obj) -> list:
    spec = source_obj.pod_spec
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
        addresses = subset.get("addresses") or []
        if not subset.get("ports"):          # a headless Service without ports: the addresses alone
            items += [address["ip"] for address in addresses]
        for port in subset.get("ports") or []:      # kubectl's formatEndpoints: each port, its addresses
            items += [f"{address['ip']}:{port['port']}" for address in addresses]
    return _first_three(items)


def slice_columns(slice_: dict) -> tuple:
    ports = ",".join(str(p["port"]) for p in slice_.get("ports") or []) or "<unset>"
    addresses = [e["addresses"][0] for e in slice_.get("endpoints") or []]
    return ports, _first_three(addresses)


def stored_object(raw: dict) -> dict:
    """A stored object as the API returns it: a Secret's stringData is merged into data (base64)
    and its type defaults to Opaque, as the API server writes them."""
    result = copy.deepcopy(raw)
    if result.get("kind") == "Secret":
        import base64
        data = dict(result.get("data") or {})
        for key, value in (result.pop("stringData", None) or {}).items():
            data[key] = base64.b64encode((value or "").encode()).decode()
        if data:
            result["data"] = data
        result.setdefault("type", "Opaque")
    return result


def with_meta(obj: dict, created: float) -> dict:
    """A copy of OBJ with the creationTimestamp every listed object carries."""
    result = copy.deepcopy(obj)
    result.setdefault("metadata", {}).setdefault("creationTimestamp", _timestamp(created))
    return result


# -- Events -------------------------------------------------------------------------------------

def event_objects(records: list, namespace: str | None) -> list:
    """core/v1 Events from the lab's event log, identical ones folded into one with a count."""
    folded: dict = {}
    for rec in records:
        where = rec.get("namespace") or "default"      # a Node's events live in "default"
        if namespace is not None and where != namespace:
            continue
        key = (where, rec["kind"], rec["name"], rec["type"], rec["reason"], rec["message"])
        if key in folded:
            event = folded[key]
            event["count"] += 1
            event["lastTimestamp"] = _timestamp(rec["time"])
            continue
        folded[key] = {
            "apiVersion": "v1", "kind": "Event",
            "metadata": {"name": f"{rec['name']}.{int(rec['time'] * 1e9):x}", "namespace": where,
                         "creationTimestamp": _timestamp(rec["time"])},
            "involvedObject": {"kind": rec["kind"], "name": rec["name"],
                               **({"namespace": where} if rec["kind"] != "Node" else {})},
            "type": rec["type"], "reason": rec["reason"], "message": rec["message"],
            "source": {"component": _event_source(rec)},
            "count": 1, "firstTimestamp": _timestamp(rec["time"]), "lastTimestamp": _timestamp(rec["time"]),
        }
    return sorted(folded.values(), key=lambda e: e["lastTimestamp"])


def _seconds(stamp: str) -> float:
    return datetime.datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.timezone.utc).timestamp()


_SOURCES = {"Deployment": "deployment-controller", "ReplicaSet": "replicaset-controller", "Node": "kube-proxy"}


def _event_source(rec: dict) -> str:
    """The component that reports such an event in a cluster."""
    if rec["kind"] == "Pod":
        return "default-scheduler" if rec["reason"] == "Scheduled" else "kubelet"
    return _SOURCES.get(rec["kind"], "netlab")


def event_row(event: dict, now: float | None = None) -> list:
    """kubectl get events: LAST SEEN (with "(x5 over 2m)"), TYPE, REASON, OBJECT, MESSAGE."""
    from netlab import output
    first, last = _seconds(event["firstTimestamp"]), _seconds(event["lastTimestamp"])
    seen = output.age(last, now)
    if event["count"] > 1:
        seen = f"{seen} (x{event['count']} over {output.age(first, now)})"
    involved = event["involvedObject"]
    return [seen, event["type"], event["reason"], f"{involved['kind'].lower()}/{involved['name']}",
            event["message"]]


# -- workloads ----------------------------------------------------------------------------------

def deployment_object(raw: dict, namespace: str, record: dict) -> dict:
    """An apps/v1 Deployment as applied, with uid, creation time, revision and its controller's status."""
    obj = copy.deepcopy(raw)
    meta = obj.setdefault("metadata", {})
    meta["namespace"] = namespace
    if record:
        meta.setdefault("uid", record.get("uid"))
        meta.setdefault("creationTimestamp", _timestamp(record.get("created") or 0))
    status = copy.deepcopy(record.get("status") or {})
    status["observedGeneration"] = record.get("generation", 1)
    for condition in status.get("conditions") or []:
        for name in ("lastUpdateTime", "lastTransitionTime"):
            if isinstance(condition.get(name), (int, float)):
                condition[name] = _timestamp(condition[name])
    obj["status"] = status
    return obj


def selector_text(selector: dict) -> str:
    """kubectl's SELECTOR column for a LabelSelector map."""
    from netlab.manifest.model import LabelSelector
    return str(LabelSelector.from_dict(selector)) or "<none>"
