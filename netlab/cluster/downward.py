"""Container environments as the kubelet builds them: `env` values and downward-API fieldRefs."""

from __future__ import annotations

import re

_LABEL_REF = re.compile(r"^metadata\.(labels|annotations)\['([^']+)'\]$")


def field_value(field_path: str, pod, node, service_account: str = "default", annotations=None,
                families: tuple = ("IPv4", "IPv6")) -> str | None:
    """The value of a downward-API fieldPath for POD on NODE, or None when netlab does not know it.

    status.podIPs and status.hostIPs list a dual-stack pod's and node's addresses, the primary
    family (FAMILIES[0], the lab's) first, joined with a comma (kubelet's
    podFieldSelectorRuntimeValue); status.podIP and status.hostIP are the first of them."""
    from netlab.cluster.topology import pod_ips
    pod_addresses = pod_ips(pod, families)
    host_addresses = node.internal_ips(families) if node else []
    simple = {
        "metadata.name": pod.name,
        "metadata.namespace": pod.namespace,
        "metadata.uid": pod.uid,
        "spec.nodeName": pod.node or "",
        "spec.serviceAccountName": service_account,
        "status.podIP": (pod_addresses or [""])[0],
        "status.podIPs": ",".join(pod_addresses),
        "status.hostIP": (host_addresses or [""])[0],
        "status.hostIPs": ",".join(host_addresses),
    }
    if field_path in simple:
        return simple[field_path]
    match = _LABEL_REF.match(field_path)
    if match:
        source = pod.labels if match.group(1) == "labels" else (annotations or {})
        return source.get(match.group(2), "")
    if field_path == "metadata.labels":
        return "\n".join(f'{k}="{v}"' for k, v in sorted(pod.labels.items()))
    return None


_ENV_NAME = re.compile(r"^[-._a-zA-Z][-._a-zA-Z0-9]*$")


def _object_values(lookup, kind: str, namespace: str, name: str) -> dict | None:
    from netlab.kubelet.volumes import object_data
    obj = lookup(kind, namespace, name) if lookup else None
    return None if obj is None else {k: v.decode("utf-8", "replace") for k, v in object_data(obj).items()}


def container_env(container, pod, node, warnings: list, service_account: str = "default",
                  annotations=None, lookup=None, config_errors: list | None = None,
                  service_env: dict | None = None, families: tuple = ("IPv4", "IPv6")) -> dict:
    """Resolve a container's env in order: `envFrom` first, then `env`; `$(VAR)` in values refers to
    variables defined before it or to SERVICE_ENV (kubelet/envvars.py), which comes last and never
    replaces the container's own. LOOKUP finds ConfigMaps and Secrets; a missing one (not
    optional) goes to CONFIG_ERRORS as kubelet's CreateContainerConfigError message."""
    service_env = service_env or {}
    env: dict = {}
    errors = config_errors if config_errors is not None else []
    for source in (getattr(container, "raw", None) or {}).get("envFrom") or ():
        ref_kind, ref = ("ConfigMap", source.get("configMapRef")) if source.get("configMapRef") is not None \
            else ("Secret", source.get("secretRef"))
        ref = ref or {}
        values = _object_values(lookup, ref_kind, pod.namespace, ref.get("name") or "")
        if values is None:
            if not ref.get("optional"):
                errors.append(f'{ref_kind.lower()} "{ref.get("name")}" not found')
            continue
        skipped = []
        for key, value in values.items():
            name = (source.get("prefix") or "") + key
            if _ENV_NAME.match(name):
                env[name] = value
            else:
                skipped.append(name)
        if skipped:       # kubelet's InvalidEnvironmentVariableNames
            warnings.append(f"pod {pod.namespace}/{pod.name}: keys [{', '.join(sorted(skipped))}] from the "
                            f"EnvFrom {ref_kind.lower()} {pod.namespace}/{ref.get('name')} were skipped since "
                            "they are invalid environment variable names")
    for var in container.env or ():
        if getattr(var, "key_ref", None) is not None:
            ref_kind, name, key, optional = var.key_ref
            values = _object_values(lookup, ref_kind, pod.namespace, name)
            if values is None or key not in values:
                if not optional:
                    errors.append(f'{ref_kind.lower()} "{name}" not found' if values is None
                                  else f"couldn't find key {key} in {ref_kind} {pod.namespace}/{name}")
                continue
            env[var.name] = values[key]
            continue
        if var.field_path is not None:
            value = field_value(var.field_path, pod, node, service_account, annotations, families)
            if value is None:
                warnings.append(f"pod {pod.namespace}/{pod.name}: env {var.name}: fieldRef "
                                f"{var.field_path!r} is not supported by netlab; left unset")
                continue
        elif var.value is not None:
            value = expand(var.value, {**service_env, **env})
        elif getattr(var, "unsupported", None):
            warnings.append(f"pod {pod.namespace}/{pod.name}: env {var.name}: {var.unsupported} "
                            "is not supported by netlab; left unset")
            continue
        else:
            value = ""
        env[var.name] = value
    for name, value in service_env.items():
        env.setdefault(name, value)
    return env


_REF = re.compile(r"\$\$|\$\(([-._a-zA-Z][-._a-zA-Z0-9]*)\)")


def expand(text: str, env: dict) -> str:
    """Kubernetes `$(VAR)` expansion: known names are replaced, `$$` escapes, unknown stay as written."""
    def substitute(match):
        if match.group(0) == "$$":
            return "$"
        name = match.group(1)
        return env[name] if name in env else match.group(0)
    return _REF.sub(substitute, text)
