"""The API server's and the EndpointSlice controller's parts for Services, as pure functions.

allocate() gives each Service what the API server would: defaults, a ClusterIP from the service
CIDR, nodePorts from the nodePort range, a healthCheckNodePort for LoadBalancer + Local; it rejects
a taken or out-of-range address or port with the API server's message. endpoint_slices() builds the
EndpointSlices the controller keeps in step with the pods a Service selects. Both return plain
Kubernetes-shaped dicts, so the kube-proxy renderer reads them exactly as it reads objects taken
from a real cluster.

On a dual-stack lab (an IPv6 service CIDR beside the IPv4 one) ipFamilyPolicy and ipFamilies are
settled as the API server's initIPFamilyFields does (pkg/registry/core/service/storage/alloc.go),
each family gets its clusterIPs entry from its own range, and a Service gets one set of
EndpointSlices per family in its ipFamilies (addressType IPv4 or IPv6), as the EndpointSlice
controller reconciles each address type apart.
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
IPV4, IPV6 = "IPv4", "IPv6"
SINGLE_STACK, REQUIRE_DUAL_STACK = "SingleStack", "RequireDualStack"


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


def family_of(ip: str) -> str:
    """IPv4 or IPv6: the family of an address."""
    return IPV6 if ipaddress.ip_address(ip).version == 6 else IPV4


def _other_family(family: str) -> str:
    return IPV6 if family == IPV4 else IPV4


def _go_strings(values: list) -> str:
    """A []string as the API server's field errors print it (%#v)."""
    return "[]string{" + ", ".join(f'"{v}"' for v in values) + "}"


def _requested_ips(spec: dict) -> list:
    """The cluster IPs the Service asks for, one per family in order: clusterIPs, else clusterIP
    (the API server makes clusterIP clusterIPs[0] and the other way round)."""
    given = [ip for ip in spec.get("clusterIPs") or [] if ip]
    return given or ([spec["clusterIP"]] if spec.get("clusterIP") else [])


def ip_family_fields(spec: dict, cluster_families: tuple) -> tuple:
    """(ipFamilyPolicy, ipFamilies, field errors) the API server settles for a new Service on a
    cluster of CLUSTER_FAMILIES (its primary first): initIPFamilyFields in
    pkg/registry/core/service/storage/alloc.go. The policy defaults to SingleStack; families come
    from the given clusterIPs, then the given ipFamilies, else the cluster's primary, and the other
    family is added for PreferDualStack and RequireDualStack where the cluster has both."""
    policy = spec.get("ipFamilyPolicy")
    families = list(spec.get("ipFamilies") or [])
    requested = _requested_ips(spec)
    dual_cluster = len(cluster_families) > 1
    # The API server's one exception: a headless Service without selector (its endpoints are the
    # user's, of any family) defaults to RequireDualStack and takes both families, even on a
    # single-stack cluster. A single-stack lab leaves it SingleStack, the output it always had.
    takes_any_family = dual_cluster and spec.get("clusterIP") == "None" and not spec.get("selector")
    if policy is None:
        policy = REQUIRE_DUAL_STACK if takes_any_family else SINGLE_STACK
    errors = []
    try:
        addresses = [(i, ip, family_of(ip)) for i, ip in enumerate(requested) if ip != "None"]
    except ValueError:
        return policy, families or [cluster_families[0]], errors   # allocate reports the address
    for i, ip, family in addresses:        # ValidateServiceClusterIPsRelatedFields
        if i < len(families) and families[i] != family:
            errors.append(f'spec.clusterIPs[{i}]: Invalid value: "{ip}": expected an {families[i]} value as '
                          f"indicated by `ipFamilies[{i}]`")
    if len({family for _, _, family in addresses}) < len(addresses):
        errors.append(f"spec.clusterIPs: Invalid value: {_go_strings(requested)}: may specify no more than one "
                      "IP for each IP family")
    if policy == SINGLE_STACK:
        for what, count in (("cluster IPs", len(requested)), ("IP families", len(families))):
            if count == 2:
                errors.append(f'spec.ipFamilyPolicy: Invalid value: "{policy}": must be \'RequireDualStack\' or '
                              f"'PreferDualStack' when multiple {what} are specified")
    for i, ip, family in addresses:        # infer the families the given clusterIPs name
        if i < len(families):
            continue
        if family not in cluster_families:
            errors.append(f"spec.clusterIPs[{i}]: Invalid value: {_go_strings(requested)}: {family} is not "
                          "configured on this cluster")
        else:
            families.append(family)
    if errors:
        return policy, families or [cluster_families[0]], errors
    if takes_any_family:
        families = families or [cluster_families[0]]
        if len(families) < 2 and policy != SINGLE_STACK:
            families.append(_other_family(families[0]))
        return policy, families, errors
    if policy == REQUIRE_DUAL_STACK and not dual_cluster:
        errors.append(f'spec.ipFamilyPolicy: Invalid value: "{policy}": this cluster is not configured for '
                      "dual-stack services")
    for i, family in enumerate(families):
        if family not in cluster_families:
            errors.append(f'spec.ipFamilies[{i}]: Invalid value: "{family}": not configured on this cluster')
    families = families or [cluster_families[0]]
    if not errors and policy != SINGLE_STACK and len(families) == 1 and dual_cluster:
        families.append(_other_family(families[0]))
    return policy, families, errors


def apply_defaults(raw: dict, cluster_families: tuple = (IPV4,)) -> dict:
    """The API server's defaulting for the fields kube-proxy reads (ip_family_fields's errors are
    allocate's to report)."""
    return _defaulted(raw, cluster_families)[0]


def _defaulted(raw: dict, cluster_families: tuple) -> tuple:
    """(the defaulted Service, the field errors its IP family fields have)."""
    service = copy.deepcopy(raw)
    meta = service.setdefault("metadata", {})
    meta.setdefault("namespace", "default")
    spec = service.setdefault("spec", {})
    kind = spec.setdefault("type", "ClusterIP")
    errors: list = []
    if kind != "ExternalName":
        spec.setdefault("sessionAffinity", "None")
        spec.setdefault("internalTrafficPolicy", "Cluster")
        policy, families, errors = ip_family_fields(spec, cluster_families)
        spec["ipFamilies"] = families         # before ipFamilyPolicy: the order the keys always had
        spec["ipFamilyPolicy"] = policy
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
    return service, errors


def _needs_node_ports(spec: dict) -> bool:
    return spec.get("type") == "NodePort" or (
        spec.get("type") == "LoadBalancer" and spec.get("allocateLoadBalancerNodePorts", True))


def _pool_addresses(pool) -> list:
    if not pool:
        return []
    first, last = (int(ipaddress.ip_address(str(end))) for end in pool)
    return [str(ipaddress.ip_address(value)) for value in range(first, last + 1)]


def _usable_range(cidr) -> tuple:
    """(first, last) address the API server hands out from a service CIDR: never the network
    address, nor an IPv4 range's broadcast address (IPv6 has none: its last address is used)."""
    return int(cidr.network_address) + 1, int(cidr.broadcast_address) - (1 if cidr.version == 4 else 0)


def _held_ips(before: dict) -> dict:
    """family -> cluster IP of what the previous allocation recorded for a Service (a record from
    before dual-stack has its clusterIP only)."""
    ips = before.get("clusterIPs") or ([before["clusterIP"]] if before.get("clusterIP") else [])
    return {family_of(ip): ip for ip in ips if ip != "None"}


def _cluster_ip_path(index: int) -> str:
    return "spec.clusterIP" if index == 0 else f"spec.clusterIPs[{index}]"


def allocate(services: list, previous: dict, service_cidr, node_port_range, lb_pool=None,
             service_cidr6=None, families=None) -> tuple:
    """Defaults and allocations for SERVICES (raw dicts), keeping what PREVIOUS allocated.

    SERVICE_CIDR6 (a dual-stack cluster's IPv6 Service range) gives IPv6 and dual-stack Services
    their IPv6 clusterIPs entry; without it the cluster is IPv4 only. FAMILIES, the cluster's IP
    families with its primary first, defaults to IPv4 then IPv6 where each has a range; on an
    IPv6-only cluster SERVICE_CIDR is None.
    Returns (services with spec.clusterIP(s)/nodePorts filled in, the allocation record to keep).
    Raises ServiceError naming the Service and field when an address or port is taken or out of
    range, or an IP family the cluster does not have is asked for.
    """
    ranges = {IPV4: service_cidr, IPV6: service_cidr6}
    cidrs = {family: ipaddress.ip_network(str(ranges[family])) for family in families or (IPV4, IPV6)
             if ranges[family] is not None}
    primary = next(iter(cidrs))
    low, high = node_port_range
    ready, errors, refused = [], [], set()
    for raw in services:
        service, problems = _defaulted(raw, tuple(cidrs))
        ready.append(service)
        if problems:
            refused.add(_key(service))
            errors += [f'Service "{_key(service)}": {problem}' for problem in problems]
    taken_ips: dict = {}
    taken_ports: dict = {}

    def claim_ip(key, ip, path):
        try:
            address = ipaddress.ip_address(ip)
        except ValueError:
            errors.append(f'Service "{key}": {path}: Invalid value: "{ip}": must be a valid IP address')
            return False
        cidr = cidrs.get(family_of(ip), cidrs[primary])
        first, last = _usable_range(cidr)
        if not first <= int(address) <= last:
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
        if spec["type"] == "ExternalName" or key in refused:
            continue
        requested = dict(zip(spec["ipFamilies"], _requested_ips(spec)))
        for family, ip in _held_ips(before).items():
            if family in spec["ipFamilies"] and requested.get(family) in (None, "", ip):
                taken_ips[ip] = key
        if _needs_node_ports(spec):
            for value in (before.get("nodePorts") or {}).values():
                taken_ports.setdefault(value, key)

    # 1. what the manifests ask for explicitly comes next, as in the API server
    for service in ready:
        key, spec = _key(service), service["spec"]
        if spec["type"] == "ExternalName" or key in refused:
            continue
        for index, wanted in enumerate(_requested_ips(spec)):
            if wanted != "None":
                claim_ip(key, wanted, _cluster_ip_path(index))
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
        if not _requested_ips(spec) and before.get("clusterIP") == "None":
            spec["clusterIP"] = "None"        # an update that leaves clusterIP out keeps it (headless too)
        ips = _cluster_ips(key, spec, before, cidrs, taken_ips, _uid(service))
        spec["clusterIP"] = ips[0]
        mine["clusterIP"] = ips[0]
        if len(ips) > 1 or (ips[0] != "None" and family_of(ips[0]) != IPV4):
            mine["clusterIPs"] = ips          # a record from a single-stack lab keeps its one field
        spec["clusterIPs"] = ips
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


def _cluster_ips(key: str, spec: dict, before: dict, cidrs: dict, taken_ips: dict, uid: str) -> list:
    """A Service's clusterIPs, one per family in its ipFamilies (["None"] for a headless one): the
    address asked for, else the one PREVIOUS allocated while it is still free and in range, else a
    fresh one from that family's range."""
    requested = _requested_ips(spec)
    if requested[:1] == ["None"]:
        return ["None"]
    held = _held_ips(before)
    ips = []
    for index, family in enumerate(spec["ipFamilies"]):
        ip = requested[index] if index < len(requested) else None
        if not ip:
            cidr = cidrs[family]
            ip = held.get(family)
            if not ip or taken_ips.get(ip, key) != key or ipaddress.ip_address(ip) not in cidr:
                # the IPv4 seed is the one single-stack labs always used, so their addresses stay put
                ip = _free_ip(cidr, taken_ips, _stable_rng(key, uid, "ip" if family == IPV4 else "ip/IPv6"))
            taken_ips[ip] = key
        ips.append(ip)
    return ips


def _assign_load_balancer_ips(ready: list, previous: dict, record: dict, pool: list) -> None:
    """status.loadBalancer.ingress from the lab's pool, as MetalLB does for a kind cluster.

    A Service with a loadBalancerClass belongs to another controller and is left alone; one
    asking for spec.loadBalancerIP gets it when free; an exhausted pool leaves it <pending>, and so
    does a pool of a family the Service does not have (an IPv6 Service and the lab's IPv4 pool, as
    MetalLB gives a Service addresses of its own families only).
    """
    pool_family = family_of(pool[0]) if pool else IPV4
    lbs = [s for s in ready if s["spec"]["type"] == "LoadBalancer" and not s["spec"].get("loadBalancerClass")
           and pool_family in (s["spec"].get("ipFamilies") or [IPV4])]
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
    first, last = _usable_range(cidr)
    address = type(cidr.network_address)
    size = last - first + 1
    if size <= 0:
        raise ServiceError(f"the service CIDR {cidr} has no address to allocate")
    band = min(max(16, size // 16), 256)
    static_top = first + band - 1
    for _ in range(64):
        candidate = str(address(rng.randint(static_top + 1, last) if last > static_top else rng.randint(first, last)))
        if candidate not in taken:
            return candidate
    for value in range(last, first - 1, -1):
        if str(address(value)) not in taken:
            return str(address(value))
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


def address_types(spec: dict) -> list:
    """The EndpointSlice address types a Service gets (the EndpointSlice controller's
    getAddressTypesForService): its ipFamilies; a Service from before IP families, its clusterIP's
    family, or both when it is headless."""
    if spec.get("ipFamilies"):
        return list(spec["ipFamilies"])
    if spec.get("clusterIP") and spec["clusterIP"] != "None":
        return [family_of(spec["clusterIP"])]
    return [IPV4, IPV6]


_POD_ADDRESS = {IPV4: "ip", IPV6: "ip6"}      # the pod dict's key for its address of each family


def endpoint_slices(service: dict, pods: list) -> list:
    """The EndpointSlices for one Service (with a selector) from PODS.

    PODS are dicts: name, namespace, labels, ip, ip6 (a dual-stack pod's IPv6 address), node, ready,
    container_ports [(name, port, protocol)], hostname and subdomain (spec.hostname, spec.subdomain:
    the endpoint's hostname under the Service its subdomain names),
    and for a pod being deleted terminating=True (its endpoint stays, not ready, serving while its
    containers still pass readiness, as the EndpointSlice controller publishes it).
    Each address type of the Service gets its own slices, of the pods that have an address of it.
    Pods whose resolved target ports differ land in different slices, as the controller does.
    """
    spec = service["spec"]
    if not spec.get("selector") or spec.get("type") == "ExternalName":
        return []
    return [slice_ for family in address_types(spec) for slice_ in _family_slices(service, pods, family)]


def _family_slices(service: dict, pods: list, family: str) -> list:
    """The slices of one address type: each endpoint the pod's address of that family."""
    meta, spec = service["metadata"], service["spec"]
    selector = spec["selector"]
    address = _POD_ADDRESS[family]
    groups: dict = {}
    for pod in pods:
        if pod["namespace"] != meta["namespace"] or not pod.get(address):
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
        # the IPv4 slices keep the names they had before dual-stack; the IPv6 ones add the family
        named = f"{meta['namespace']}/{meta['name']}/{ports}" + ("" if family == IPV4 else f"/{family}")
        digest = hashlib.sha256(named.encode()).hexdigest()
        endpoints = []
        for pod in sorted(members, key=lambda p: p["name"]):
            endpoints.append({
                "addresses": [pod[address]],
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
            "addressType": family,
            "endpoints": endpoints,
            "ports": slice_ports,
        })
    return slices


def endpoints_view(service: dict, slices: list) -> dict:
    """The legacy v1 Endpoints object (what `kubectl get endpoints` lists) from a Service's slices.

    An Endpoints object holds one family: the Endpoints controller takes each pod's address of the
    Service's primary family (ipFamilies[0]), so the other family's slices are left out."""
    meta = service["metadata"]
    primary = address_types(service.get("spec") or {})[0]
    subsets = []
    for slice_ in slices:
        if slice_.get("addressType") in (IPV4, IPV6) and slice_["addressType"] != primary:
            continue
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
