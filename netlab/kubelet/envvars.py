"""The Service environment variables kubelet gives every container (pkg/kubelet/envvars/envvars.go
FromServices, and kubelet_pods.go getServiceEnvVarMap / makeEnvironmentVariables).

For each Service with a cluster IP in the pod's namespace (when the pod's `enableServiceLinks` is
not false), and always for the `kubernetes` Service of the `default` namespace:

    WEB_SERVICE_HOST=10.96.0.20          WEB_SERVICE_PORT=80         WEB_SERVICE_PORT_HTTP=80
    WEB_PORT=tcp://10.96.0.20:80         WEB_PORT_80_TCP=tcp://10.96.0.20:80
    WEB_PORT_80_TCP_PROTO=tcp            WEB_PORT_80_TCP_PORT=80     WEB_PORT_80_TCP_ADDR=10.96.0.20

Names are upper-cased with `-` as `_` (a Service `my-web` gives MY_WEB_...). Headless and
ExternalName Services have none. The container's own env wins over these, and `$(VAR)` in its
values may name them.
"""

from __future__ import annotations

MASTER_SERVICES = ("kubernetes",)   # set for every pod, from the default namespace


def variable_name(name: str) -> str:
    """envvars.go makeEnvVariableName: upper case, `-` as `_`."""
    return name.replace("-", "_").upper()


def _cluster_ip_set(service: dict) -> bool:
    ip = (service.get("spec") or {}).get("clusterIP") or ""
    return ip not in ("", "None")


def from_services(services: list[dict]) -> dict[str, str]:
    """envvars.FromServices for SERVICES (API objects with their cluster IPs), in their order."""
    result: dict[str, str] = {}
    for service in services:
        if not _cluster_ip_set(service):
            continue
        spec = service["spec"]
        ports = spec.get("ports") or []
        if not ports:
            continue
        prefix = variable_name(service["metadata"]["name"])
        ip = spec["clusterIP"]
        result[f"{prefix}_SERVICE_HOST"] = ip
        first = f"{prefix}_SERVICE_PORT"
        result[first] = str(ports[0]["port"])
        for port in ports:                  # only the first port may be unnamed
            if port.get("name"):
                result[f"{first}_{variable_name(port['name'])}"] = str(port["port"])
        result.update(_link_variables(prefix, ip, ports))
    return result


def _link_variables(prefix: str, ip: str, ports: list[dict]) -> dict[str, str]:
    """The Docker-links variables (envvars.go makeLinkVariables)."""
    out: dict[str, str] = {}
    host = f"[{ip}]" if ":" in ip else ip       # net.JoinHostPort
    for i, port in enumerate(ports):
        protocol = port.get("protocol") or "TCP"
        url = f"{protocol.lower()}://{host}:{port['port']}"
        if i == 0:
            out[f"{prefix}_PORT"] = url           # Docker special-cases the first port
        port_prefix = f"{prefix}_PORT_{port['port']}_{protocol.upper()}"
        out[port_prefix] = url
        out[f"{port_prefix}_PROTO"] = protocol.lower()
        out[f"{port_prefix}_PORT"] = str(port["port"])
        out[f"{port_prefix}_ADDR"] = ip
    return out


def service_env(services: list[dict], namespace: str, enable_service_links: bool = True) -> dict[str, str]:
    """What kubelet's getServiceEnvVarMap gives a container of a pod in NAMESPACE: the master
    Services of `default` always, the namespace's own Services when ENABLE_SERVICE_LINKS (a Service
    of the pod's namespace shadows a master Service of the same name)."""
    chosen: dict[str, dict] = {}
    for service in services:
        if not _cluster_ip_set(service):
            continue
        meta = service.get("metadata") or {}
        name, service_namespace = meta.get("name"), meta.get("namespace") or "default"
        if service_namespace == "default" and name in MASTER_SERVICES:
            chosen.setdefault(name, service)
        elif service_namespace == namespace and enable_service_links:
            chosen[name] = service
    # kubelet walks a map (no order); by name reads best and is as faithful
    return from_services([chosen[name] for name in sorted(chosen)])
