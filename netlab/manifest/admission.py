"""What the API server checks against the objects it already holds, before it stores a write.

Validation of a document on its own lives in checks.py; these checks need the lab's store:
- NamespaceLifecycle admission: a namespaced object needs its Namespace (one of the cluster's
  own, one already applied, or one in the same apply);
- Validate*Update: fields that may not change once set (a Service's clusterIP, a Deployment's or
  ReplicaSet's selector, a Pod's spec other than its images).

An apply walks its objects in order against a view of the store that each object updates, so an
object given twice is checked the way kubectl's two writes would be.
"""

from __future__ import annotations

from typing import Any, Callable, Dict, Iterable, List, Optional, Sequence, Tuple

from netlab.manifest.errors import ManifestError, Problem
from netlab.manifest.source import format_path

# the namespaces a kubeadm cluster starts with
BUILTIN_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")

POD_MUTABLE = ("spec.containers[*].image, spec.initContainers[*].image, spec.activeDeadlineSeconds, "
               "spec.tolerations (only additions to existing tolerations) or "
               "spec.terminationGracePeriodSeconds")

Key = Tuple[str, Optional[str], str]


def admit(objects: Sequence[Any], stored: Callable[[Key], Optional[dict]], namespaces: Iterable[str],
          cluster_ips: Dict[str, str]) -> None:
    """Refuse OBJECTS (typed manifest objects, in apply order) that the API server would refuse.

    STORED gives the stored object for a key (or None); NAMESPACES are the Namespaces already in the
    lab; CLUSTER_IPS maps "ns/name" to the clusterIP each running Service holds. Raises
    ManifestError naming file, line and field of every refusal; returns when all are admitted.
    """
    known = set(BUILTIN_NAMESPACES) | set(namespaces) | {o.name for o in objects if o.kind == "Namespace"}
    view: Dict[Key, dict] = {}
    problems: List[Problem] = []
    for obj in objects:
        def refuse(path: Tuple[Any, ...], message: str, obj=obj) -> None:
            source = obj.source
            problems.append(Problem(source.file if source else f"{obj.kind.lower()}/{obj.name}",
                                    source.line_of(path) if source else None, format_path(path), message))

        if obj.namespace is not None and obj.namespace not in known:
            refuse(("metadata", "namespace"), f'namespaces "{obj.namespace}" not found: apply a Namespace '
                                              f"named {obj.namespace} first (kind: Namespace), or use an "
                                              "existing namespace")
        old = view.get(obj.key)
        if old is None:
            old = stored(obj.key)
        if old is not None:
            check = UPDATES.get(obj.kind)
            if check is not None:
                check(old, obj.raw, refuse, cluster_ips.get(f"{obj.namespace}/{obj.name}"))
        view[obj.key] = obj.raw
    if problems:
        raise ManifestError(problems)


# -- updates ------------------------------------------------------------------------------------

def _spec(raw: dict) -> dict:
    spec = raw.get("spec")
    return spec if isinstance(spec, dict) else {}


def service_update(old: dict, new: dict, refuse, held_ip: Optional[str]) -> None:
    """ValidateServiceUpdate: the clusterIP of a Service that has one may not change."""
    old_spec, spec = _spec(old), _spec(new)
    if "ExternalName" in (old_spec.get("type"), spec.get("type")):
        return
    held = held_ip or old_spec.get("clusterIP")
    wanted = spec.get("clusterIP")
    if held and wanted not in (None, "") and wanted != held:
        refuse(("spec", "clusterIP"), f'invalid value "{wanted}": field is immutable: the Service holds '
                                      f"{held}; remove the field, or delete the Service and apply it again")
        return
    given = spec.get("clusterIPs")
    if held and isinstance(given, list) and given and given[0] != held:
        refuse(("spec", "clusterIPs", 0), f'invalid value "{given[0]}": may not change once set (the '
                                          f"Service holds {held})")


def selector_update(old: dict, new: dict, refuse, _held=None) -> None:
    """apps/v1 ValidateDeploymentUpdate / ValidateReplicaSetUpdate: spec.selector is immutable."""
    before, after = _spec(old).get("selector"), _spec(new).get("selector")
    if _canonical_selector(before) != _canonical_selector(after):
        refuse(("spec", "selector"), "field is immutable: a selector cannot change once created; delete "
                                     f"the {new.get('kind')} and apply it again to change it")


def _canonical_selector(raw: Any) -> Any:
    if not isinstance(raw, dict):
        return raw
    expressions = sorted(
        (e.get("key"), e.get("operator"), tuple(sorted(e.get("values") or ())))
        for e in raw.get("matchExpressions") or () if isinstance(e, dict))
    return (dict(raw.get("matchLabels") or {}), expressions)


def pod_update(old: dict, new: dict, refuse, _held=None) -> None:
    """ValidatePodUpdate: a Pod's spec may change only in its containers' images (and a few fields)."""
    before, after = _pod_spec_without_mutables(_spec(old)), _pod_spec_without_mutables(_spec(new))
    changed = _first_difference(before, after, ("spec",))
    if changed is not None:
        refuse(changed, f"Forbidden: pod updates may not change fields other than {POD_MUTABLE}; delete "
                        "the pod and apply it again (or let a Deployment replace its pods)")


def _pod_spec_without_mutables(spec: dict) -> dict:
    result = {k: v for k, v in spec.items()
              if k not in ("activeDeadlineSeconds", "tolerations", "terminationGracePeriodSeconds")
              and v is not None}
    for group in ("containers", "initContainers"):
        if isinstance(result.get(group), list):
            result[group] = [{k: v for k, v in c.items() if k != "image"} if isinstance(c, dict) else c
                             for c in result[group]]
    return result


def _first_difference(a: Any, b: Any, path: Tuple[Any, ...]) -> Optional[Tuple[Any, ...]]:
    """The path of the first place A and B differ, or None when they are equal."""
    if isinstance(a, dict) and isinstance(b, dict):
        for key in list(a) + [k for k in b if k not in a]:
            found = _first_difference(a.get(key), b.get(key), path + (key,))
            if found is not None:
                return found
        return None
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        for i, (x, y) in enumerate(zip(a, b)):
            found = _first_difference(x, y, path + (i,))
            if found is not None:
                return found
        return None
    return None if a == b else path


UPDATES = {
    "Service": service_update,
    "Deployment": selector_update,
    "ReplicaSet": selector_update,
    "Pod": pod_update,
}

