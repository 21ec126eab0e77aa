"""Container environments as the kubelet builds them: `env` values and downward-API fieldRefs."""

from __future__ import annotations

import re

_LABEL_REF = re.compile(r"^metadata\.(labels|annotations)\['([^']+)'\]$")


def field_value(field_path: str, pod, node, service_account: str = "default", annotations=None) -> str | None:
    """The value of a downward-API fieldPath for POD on NODE, or None when netlab does not know it."""
    simple = {
        "metadata.name": pod.name,
        "metadata.namespace": pod.namespace,
        "metadata.uid": pod.uid,
        "spec.nodeName": pod.node or "",
        "spec.serviceAccountName": service_account,
        "status.podIP": pod.ip or "",
        "status.podIPs": pod.ip or "",
        "status.hostIP": node.ip if node else "",
        "status.hostIPs": node.ip if node else "",
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


def container_env(container, pod, node, warnings: list, service_account: str = "default",
                  annotations=None) -> dict:
    """Resolve a container's env in order; `$(VAR)` in values refers to variables defined before it."""
    env: dict = {}
    for var in container.env or ():
        if var.field_path is not None:
            value = field_value(var.field_path, pod, node, service_account, annotations)
            if value is None:
                warnings.append(f"pod {pod.namespace}/{pod.name}: env {var.name}: fieldRef "
                                f"{var.field_path!r} is not supported by netlab; left unset")
                continue
        elif var.value is not None:
            value = expand(var.value, env)
        elif getattr(var, "unsupported", None):
            warnings.append(f"pod {pod.namespace}/{pod.name}: env {var.name}: {var.unsupported} "
                            "is not supported by netlab; left unset")
            continue
        else:
            value = ""
        env[var.name] = value
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
