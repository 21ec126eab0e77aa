"""Turn validated manifest maps into the typed objects of model.py, filling the API's defaults."""

from __future__ import annotations

from typing import Any, Dict, Optional

from netlab.manifest.model import (
    ConfigMap, Container, ContainerPort, Deployment, EndpointSlice, EnvVar, LabelSelector, Namespace,
    ObjectMeta, Pod, PodSpec, PodTemplate, ReplicaSet, Secret, Service, Source,
)

_ENV_SOURCES = ("configMapKeyRef", "secretKeyRef", "resourceFieldRef", "fileKeyRef")


def _map(value: Any) -> Dict[str, Any]:
    return value if isinstance(value, dict) else {}


def meta(raw: Any, namespace: Optional[str]) -> ObjectMeta:
    """ObjectMeta with `namespace` as the default (None for cluster-scoped kinds)."""
    raw = _map(raw)
    if namespace is not None:
        namespace = raw.get("namespace") or namespace
    return ObjectMeta(
        name=raw["name"],
        namespace=namespace,
        labels=dict(raw.get("labels") or {}),
        annotations=dict(raw.get("annotations") or {}),
    )


def env_var(raw: Dict[str, Any]) -> EnvVar:
    source = _map(raw.get("valueFrom"))
    if not source:
        return EnvVar(raw["name"], value=raw.get("value") or "")
    field_ref = source.get("fieldRef")
    if field_ref:
        return EnvVar(raw["name"], field_path=field_ref["fieldPath"])
    for ref, kind in (("configMapKeyRef", "ConfigMap"), ("secretKeyRef", "Secret")):
        if source.get(ref):
            key = _map(source[ref])
            return EnvVar(raw["name"], key_ref=(kind, key.get("name") or "", key.get("key") or "",
                                                bool(key.get("optional"))))
    kind = next((k for k in _ENV_SOURCES if source.get(k)), next(iter(source)))
    return EnvVar(raw["name"], unsupported=kind)


def container(raw: Dict[str, Any], pod_security: Dict[str, Any]) -> Container:
    """A container; runAsUser comes from its securityContext, else from the pod's."""
    security = _map(raw.get("securityContext"))
    run_as_user = security.get("runAsUser")
    if run_as_user is None:
        run_as_user = pod_security.get("runAsUser")
    return Container(
        name=raw["name"],
        image=raw["image"],
        command=list(raw["command"]) if raw.get("command") is not None else None,
        args=list(raw["args"]) if raw.get("args") is not None else None,
        env=[env_var(e) for e in raw.get("env") or ()],
        ports=[
            ContainerPort(p.get("name"), p["containerPort"], p.get("protocol") or "TCP")
            for p in raw.get("ports") or ()
        ],
        working_dir=raw.get("workingDir") or None,
        run_as_user=run_as_user,
        readiness_probe=raw.get("readinessProbe"),
        liveness_probe=raw.get("livenessProbe"),
        image_pull_policy=raw.get("imagePullPolicy"),
        raw=raw,
    )


def pod_spec(raw: Any) -> PodSpec:
    raw = _map(raw)
    security = _map(raw.get("securityContext"))
    grace = raw.get("terminationGracePeriodSeconds")
    return PodSpec(
        containers=[container(c, security) for c in raw.get("containers") or ()],
        init_containers=[container(c, security) for c in raw.get("initContainers") or ()],
        node_name=raw.get("nodeName") or None,
        node_selector=dict(raw.get("nodeSelector") or {}),
        restart_policy=raw.get("restartPolicy") or "Always",
        termination_grace_period_seconds=30 if grace is None else grace,
        hostname=raw.get("hostname") or None,
        subdomain=raw.get("subdomain") or None,
        dns_policy=raw.get("dnsPolicy") or "ClusterFirst",
        host_network=bool(raw.get("hostNetwork")),
        raw=raw,
    )


def template(raw: Any) -> PodTemplate:
    raw = _map(raw)
    template_meta = _map(raw.get("metadata"))
    return PodTemplate(
        labels=dict(template_meta.get("labels") or {}),
        annotations=dict(template_meta.get("annotations") or {}),
        spec=pod_spec(raw.get("spec")),
        raw=raw,
    )


def _replicas(spec: Dict[str, Any]) -> int:
    replicas = spec.get("replicas")
    return 1 if replicas is None else replicas


def _strategy(raw: Any) -> Dict[str, Any]:
    """The strategy as the API server defaults it: RollingUpdate with 25% surge and unavailable."""
    strategy = dict(_map(raw))
    strategy.setdefault("type", "RollingUpdate")
    if strategy["type"] == "RollingUpdate":
        rolling = {"maxSurge": "25%", "maxUnavailable": "25%"}
        rolling.update({k: v for k, v in _map(strategy.get("rollingUpdate")).items() if v is not None})
        strategy["rollingUpdate"] = rolling
    return strategy


def obj(kind: str, raw: Dict[str, Any], source: Source, namespace: str):
    """The typed object for a validated document of a kind netlab models."""
    if kind == "Pod":
        return Pod(meta(raw["metadata"], namespace), pod_spec(raw.get("spec")), raw, source)
    if kind in ("ReplicaSet", "Deployment"):
        spec = _map(raw.get("spec"))
        common = dict(
            meta=meta(raw["metadata"], namespace),
            selector=LabelSelector.from_dict(spec.get("selector")),
            template=template(spec.get("template")),
            replicas=_replicas(spec),
            raw=raw,
            source=source,
        )
        if kind == "ReplicaSet":
            return ReplicaSet(**common)
        return Deployment(strategy=_strategy(spec.get("strategy")), **common)
    if kind == "Service":
        return Service(meta(raw["metadata"], namespace), raw, source)
    if kind == "Namespace":
        return Namespace(meta(raw["metadata"], None), raw, source)
    if kind == "EndpointSlice":
        return EndpointSlice(meta(raw["metadata"], namespace), raw, source)
    if kind == "ConfigMap":
        return ConfigMap(meta(raw["metadata"], namespace), raw, source)
    if kind == "Secret":
        return Secret(meta(raw["metadata"], namespace), raw, source)
    raise ValueError(f"netlab does not model {kind}")


MODELED = ("Pod", "ReplicaSet", "Deployment", "Service", "Namespace", "EndpointSlice", "ConfigMap", "Secret")
