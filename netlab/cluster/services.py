"""The API server's and the EndpointSlice controller's parts for Services, as pure functions.

allocate() gives each Service what the API server would: defaults, a ClusterIP from the service
CIDR, nodePorts from the nodePort range, a healthCheckNodePort for LoadBalancer + Local; it rejects
a taken or out-of-range address or port with the API server's message. endpoint_slices() builds the
EndpointSlices the controller keeps in step with the pods a Service selects. Both return plain
Kubernetes-shaped dicts, so the kube-proxy renderer reads them exactly as it reads objects taken
from a real cluster.
"""

from __future__ import annotations

import copy
import hashlib
import ipaddress
import random

from netlab.cluster.controllers import safe_encode

SERVICE_NAME_LABEL = "kubernetes.io/service-name"
MANAGED_BY_LABEL = "endpointslice.kubernetes.io/managed-by"
CONTROLLER_NAME = "endpointslice-controller.k8s.io"
DEFAULT_AFFINITY_TIMEOUT = 10800


class ServiceError(Exception):
    """A Service the API server would refuse; the message names it and the field."""


def _key(service: dict) -> str:
    meta = service.get("metadata") or {}
    return f"{meta.get('namespace') or 'default'}/{meta.get('name')}"


def _created_with(meta: dict) -> dict:
    """The Service's creationTimestamp for what its controllers write for it (its Endpoints and
    EndpointSlices come a moment after it, so AGE counts from the Service, not the lab)."""
    return {"creationTimestamp": meta["creationTimestamp"]} if meta.get("creationTimestamp") else {}


def _stable_rng(*parts) -> random.Random:
    """Allocation is random in the API server; seed it from the Service (its name and uid) so a
    re-created Service gets fresh addresses, and a store seeded for tests gives repeatable ones."""
    return random.Random(hashlib.sha256("/".join(map(str, parts)).encode()).digest())


def _uid(service: dict) -> str:
    return (service.get("metadata") or {}).get("uid") or ""


def _held(previous: dict, service: dict) -> dict:
    """What PREVIOUS allocated to this very Service: nothing if it is a new one of the same name."""
    before = previous.get(_key(service)) or {}
    if before.get("uid") and _uid(service) and before["uid"] != _uid(service):
        return {}
    return before


def apply_defaults(raw: dict) -> dict:
    """The API server's defaulting for the fields kube-proxy reads."""
    service = copy.deepcopy(raw)
    meta = service.setdefault("metadata", {})
    meta.setdefault("namespace", "default")
    spec = service.setdefault("spec", {})
    kind = spec.setdefault("type", "ClusterIP")
    if kind != "ExternalName":
        spec.setdefault("sessionAffinity", "None")
        spec.setdefault("internalTrafficPolicy", "Cluster")
        spec.setdefault("ipFamilies", ["IPv4"])
        spec.setdefault("ipFamilyPolicy", "SingleStack")
    if kind in ("NodePort", "LoadBalancer"):
        spec.setdefault("externalTrafficPolicy", "Cluster")
    if kind == "LoadBalancer":
        spec.setdefault("allocateLoadBalancerNodePorts", True)
    if spec.get("sessionAffinity") == "ClientIP":
        config = spec.setdefault("sessionAffinityConfig", {}).setdefault("clientIP", {})
        config.setdefault("timeoutSeconds", DEFAULT_AFFINITY_TIMEOUT)
    for port in spec.get("ports") or []:
        port.setdefault("protocol", "TCP")
        if port.get("targetPort") in (None, 0, ""):          # SetDefaults_Service: targetPort = port
            port["targetPort"] = port.get("port")
    return service


def _needs_node_ports(spec: dict) -> bool:
    return spec.get("type") == "NodePort" or (
        spec.get("type") == "LoadBalancer" and spec.get("allocateLoadBalancerNodePorts", True))


def _pool_addresses(pool) -> list:
    if not pool:
        return []
    first, last = (int(ipaddress.ip_address(str(end))) for end in pool)
    return [str(ipaddress.ip_address(value)) for value in range(first, last + 1)]


def allocate(services: list, previous: dict, service_cidr, node_port_range, lb_pool=None) -> tuple:
    """Defaults and allocations for SERVICES (raw dicts), keeping what PREVIOUS allocated.

    Returns (services with spec.clusterIP/nodePorts filled in, the allocation record to keep).
    Raises ServiceError naming the Service and field when an address or port is taken or out of range.
    """
    cidr = ipaddress.ip_network(str(service_cidr))
    low, high = node_port_range
    ready = [apply_defaults(raw) for raw in services]
    taken_ips: dict = {}
    taken_ports: dict = {}
    errors = []

    def claim_ip(key, ip, path):
        try:
            address = ipaddress.ip_address(ip)
        except ValueError:
            errors.append(f'Service "{key}": {path}: Invalid value: "{ip}": must be a valid IP address')
            return False
        if address not in cidr or address in (cidr.network_address, cidr.broadcast_address):
            errors.append(f'Service "{key}": {path}: Invalid value: "{ip}": provided IP is not in the valid '
                          f"range. The range of valid IPs is {cidr}")
            return False
        if taken_ips.get(ip, key) != key:
            errors.append(f'Service "{key}": {path}: Invalid value: "{ip}": provided IP is already allocated '
                          f"(to {taken_ips[ip]})")
            return False
        taken_ips[ip] = key
        return True

    def claim_port(key, port, path):
        if not isinstance(port, int) or not low <= port <= high:
            errors.append(f'Service "{key}": {path}: Invalid value: {port}: provided port is not in the valid '
                          f"range. The range of valid ports is {low}-{high}")
            return False
        owner = taken_ports.get(port)
        if owner is not None and owner != key:
            errors.append(f'Service "{key}": {path}: Invalid value: {port}: provided port is already allocated '
                          f"(to {owner})")
            return False
        taken_ports[port] = key
        return True

    # 0. what running Services hold stays theirs: the API server's allocator keeps it, so a new
    # Service asking for the same IP or port is refused instead of re-addressing the running one
    for service in ready:
        key, spec = _key(service), service["spec"]
        before = _held(previous, service)
        if spec["type"] == "ExternalName":
            continue
        if before.get("clusterIP") and spec.get("clusterIP") in (None, "", before["clusterIP"]):
            taken_ips[before["clusterIP"]] = key
        if _needs_node_ports(spec):
            for value in (before.get("nodePorts") or {}).values():
                taken_ports.setdefault(value, key)

    # 1. what the manifests ask for explicitly comes next, as in the API server
    for service in ready:
        key, spec = _key(service), service["spec"]
        if spec["type"] == "ExternalName":
            continue
        wanted = spec.get("clusterIP")
        if wanted not in (None, "", "None"):
            claim_ip(key, wanted, "spec.clusterIP")
        own_ports: dict = {}
        for index, port in enumerate(spec.get("ports") or []):
            if port.get("nodePort") and _needs_node_ports(spec):
                protocol = port.get("protocol", "TCP")
                if (port["nodePort"], protocol) in own_ports:
                    errors.append(f'Service "{key}": spec.ports[{index}].nodePort: Duplicate value: '
                                  f'{port["nodePort"]} (also spec.ports[{own_ports[(port["nodePort"], protocol)]}])')
                    continue
                own_ports[(port["nodePort"], protocol)] = index
                claim_port(key, port["nodePort"], f"spec.ports[{index}].nodePort")
        if spec.get("healthCheckNodePort"):
            claim_port(key, spec["healthCheckNodePort"], "spec.healthCheckNodePort")
    if errors:
        raise ServiceError("\n".join(errors))

    # 2. then what this lab allocated before (stable across re-applies), then fresh allocations
    record = {}
    for service in ready:
        key, spec = _key(service), service["spec"]
        before = _held(previous, service)
        mine = {"nodePorts": {}, "uid": _uid(service)} if _uid(service) else {"nodePorts": {}}
        if spec["type"] == "ExternalName":
            spec.pop("clusterIP", None)
            record[key] = mine
            continue
        if spec.get("clusterIP") in (None, "") and before.get("clusterIP") == "None":
            spec["clusterIP"] = "None"        # an update that leaves clusterIP out keeps it (headless too)
        if spec.get("clusterIP") in (None, ""):
            ip = before.get("clusterIP")
            if not ip or taken_ips.get(ip, key) != key or ipaddress.ip_address(ip) not in cidr:
                ip = _free_ip(cidr, taken_ips, _stable_rng(key, _uid(service), "ip"))
            taken_ips[ip] = key
            spec["clusterIP"] = ip
        mine["clusterIP"] = spec["clusterIP"]
        spec["clusterIPs"] = [spec["clusterIP"]]
        if _needs_node_ports(spec):
            for index, port in enumerate(spec.get("ports") or []):
                if not port.get("nodePort"):
                    slot = f"{port.get('name') or ''}/{port.get('protocol')}/{port.get('port')}"
                    value = (before.get("nodePorts") or {}).get(slot)
                    if value is None or taken_ports.get(value, key) != key or not low <= value <= high:
                        value = _free_port(low, high, taken_ports, _stable_rng(key, _uid(service), "port", index))
                    taken_ports[value] = key
                    port["nodePort"] = value
                mine["nodePorts"][f"{port.get('name') or ''}/{port.get('protocol')}/{port.get('port')}"] = \
                    port["nodePort"]
        else:
            for port in spec.get("ports") or []:
                port.pop("nodePort", None)
        if spec["type"] == "LoadBalancer" and spec.get("externalTrafficPolicy") == "Local":
            if not spec.get("healthCheckNodePort"):
                value = before.get("healthCheckNodePort")
                if value is None or taken_ports.get(value, key) != key:
                    value = _free_port(low, high, taken_ports, _stable_rng(key, _uid(service), "hc"))
                taken_ports[value] = key
                spec["healthCheckNodePort"] = value
            mine["healthCheckNodePort"] = spec["healthCheckNodePort"]
        record[key] = mine
    _assign_load_balancer_ips(ready, previous, record, _pool_addresses(lb_pool))
    return ready, record


def _assign_load_balancer_ips(ready: list, previous: dict, record: dict, pool: list) -> None:
    """status.loadBalancer.ingress from the lab's pool, as MetalLB does for a kind cluster.

    A Service with a loadBalancerClass belongs to another controller and is left alone; one
    asking for spec.loadBalancerIP gets it when free; an exhausted pool leaves it <pending>.
    """
    lbs = [s for s in ready if s["spec"]["type"] == "LoadBalancer" and not s["spec"].get("loadBalancerClass")]
    taken = {}
    for service in lbs:
        wanted = service["spec"].get("loadBalancerIP")
        if wanted and wanted not in taken:
            taken[wanted] = _key(service)
    for service in lbs:
        key = _key(service)
        if taken.get(service["spec"].get("loadBalancerIP")) == key:
            continue
        before = (previous.get(key) or {}).get("loadBalancerIP")
        if before and before not in taken and before in pool:
            taken[before] = key
    for service in lbs:
        key = _key(service)
        ip = next((address for address, owner in taken.items() if owner == key), None)
        if ip is None:
            ip = next((address for address in pool if address not in taken), None)
            if ip is not None:
                taken[ip] = key
        if ip is None:
            continue
        record[key]["loadBalancerIP"] = ip
        service.setdefault("status", {})["loadBalancer"] = {"ingress": [{"ip": ip, "ipMode": "VIP"}]}


def _free_ip(cidr, taken: dict, rng: random.Random) -> str:
    """A free address, preferring the upper band as the API server's dynamic allocations do (KEP-3070)."""
    first, last = int(cidr.network_address) + 1, int(cidr.broadcast_address) - 1
    size = last - first + 1
    band = min(max(16, size // 16), 256)
    static_top = first + band - 1
    for _ in range(64):
        candidate = str(ipaddress.ip_address(rng.randint(static_top + 1, last) if last > static_top else
                                             rng.randint(first, last)))
        if candidate not in taken:
            return candidate
    for value in range(last, first - 1, -1):
        if str(ipaddress.ip_address(value)) not in taken:
            return str(ipaddress.ip_address(value))
    raise ServiceError(f"the service CIDR {cidr} has no free address left")


def _free_port(low: int, high: int, taken: dict, rng: random.Random) -> int:
    for _ in range(64):
        candidate = rng.randint(low, high)
        if candidate not in taken:
            return candidate
    for value in range(high, low - 1, -1):
        if value not in taken:
            return value
    raise ServiceError(f"the nodePort range {low}-{high} has no free port left")


# -- EndpointSlices ----------------------------------------------------------------------------

def _resolve_target(port: dict, container_ports: list):
    """A Service port's targetPort for one pod: a number as given, a name via the pod's ports."""
    target = port.get("targetPort") or port.get("port")
    if isinstance(target, int):
        return target
    if isinstance(target, str) and target.isdigit():
        return int(target)
    for name, number, protocol in container_ports:
        if name == target and protocol == port.get("protocol", "TCP"):
            return number
    return None


def endpoint_slices(service: dict, pods: list) -> list:
    """The EndpointSlices for one Service (with a selector) from PODS.

    PODS are dicts: name, namespace, labels, ip, node, ready, container_ports [(name, port, protocol)],
    hostname and subdomain (spec.hostname, spec.subdomain: the endpoint's hostname under the Service
    its subdomain names),
    and for a pod being deleted terminating=True (its endpoint stays, not ready, serving while its
    containers still pass readiness, as the EndpointSlice controller publishes it).
    Pods whose resolved target ports differ land in different slices, as the controller does.
    """
    meta, spec = service["metadata"], service["spec"]
    selector = spec.get("selector")
    if not selector or spec.get("type") == "ExternalName":
        return []
    groups: dict = {}
    for pod in pods:
        if pod["namespace"] != meta["namespace"] or not pod.get("ip"):
            continue
        if any(pod["labels"].get(k) != v for k, v in selector.items()):
            continue
        resolved = []
        for port in spec.get("ports") or []:
            number = _resolve_target(port, pod["container_ports"])
            if number is None:
                break
            resolved.append((port.get("name"), number, port.get("protocol", "TCP")))
        else:
            groups.setdefault(tuple(resolved), []).append(pod)
    slices = []
    for ports, members in sorted(groups.items(), key=lambda item: item[0]):
        digest = hashlib.sha256(f"{meta['namespace']}/{meta['name']}/{ports}".encode()).hexdigest()
        endpoints = []
        for pod in sorted(members, key=lambda p: p["name"]):
            endpoints.append({
                "addresses": [pod["ip"]],
                "conditions": {"ready": pod["ready"] and not pod.get("terminating", False),
                               "serving": pod["ready"], "terminating": pod.get("terminating", False)},
                "nodeName": pod["node"],
                "targetRef": {"kind": "Pod", "namespace": pod["namespace"], "name": pod["name"]},
            })
            if pod.get("hostname") and pod.get("subdomain") == meta["name"]:
                # the pod's own DNS name under this Service: HOSTNAME.SVC.NS.svc.cluster.local
                endpoints[-1]["hostname"] = pod["hostname"]
        slice_ports = []
        for name, number, protocol in ports:
            entry = {"port": number, "protocol": protocol}
            entry["name"] = name or ""
            slice_ports.append(entry)
        slices.append({
            "apiVersion": "discovery.k8s.io/v1",
            "kind": "EndpointSlice",
            "metadata": {
                "name": f"{meta['name']}-{safe_encode(digest)[:5]}",
                "namespace": meta["namespace"],
                **_created_with(meta),
                "labels": {SERVICE_NAME_LABEL: meta["name"], MANAGED_BY_LABEL: CONTROLLER_NAME},
                "ownerReferences": [{"apiVersion": "v1", "kind": "Service", "name": meta["name"],
                                     "controller": True, "blockOwnerDeletion": True}],
            },
            "addressType": "IPv4",
            "endpoints": endpoints,
            "ports": slice_ports,
        })
    return slices


def endpoints_view(service: dict, slices: list) -> dict:
    """The legacy v1 Endpoints object (what `kubectl get endpoints` lists) from a Service's slices."""
    meta = service["metadata"]
    subsets = []
    for slice_ in slices:
        ready = [{"ip": e["addresses"][0], "nodeName": e.get("nodeName"), "targetRef": e.get("targetRef")}
                 for e in slice_["endpoints"] if e["conditions"].get("ready")]
        not_ready = [{"ip": e["addresses"][0], "nodeName": e.get("nodeName"), "targetRef": e.get("targetRef")}
                     for e in slice_["endpoints"] if not e["conditions"].get("ready")]
        # the Endpoints controller's RepackSubsets: each subset's addresses in address order
        ready.sort(key=lambda a: ipaddress.ip_address(a["ip"]))
        not_ready.sort(key=lambda a: ipaddress.ip_address(a["ip"]))
        subset = {"ports": [{k: v for k, v in p.items() if not (k == "name" and v == "")}
                            for p in slice_["ports"]]}
        if ready:
            subset["addresses"] = ready
        if not_ready:
            subset["notReadyAddresses"] = not_ready
        if ready or not_ready:
            subsets.append(subset)
    result = {"apiVersion": "v1", "kind": "Endpoints",
              "metadata": {"name": meta["name"], "namespace": meta["namespace"], **_created_with(meta)}}
    if subsets:
        result["subsets"] = subsets
    return result
