"""Field selectors (`kubectl get --field-selector`), decided as the API server decides them.

    the grammar    k8s.io/apimachinery/pkg/fields/selector.go: terms split at unescaped commas, sorted, each
                   `field=value`, `field==value` or `field!=value`; in a value `\\\\`, `\\,` and `\\=` are escapes
    which fields   the kind's field label conversion in the API scheme (pkg/apis/core/v1/conversion.go); a kind
                   without one gets runtime.DefaultMetaV1FieldSelectorConversion: metadata.name, metadata.namespace
    their values   the kind's ToSelectableFields (pkg/registry/core/pod/strategy.go and its siblings), read here
                   from the object as `kubectl get -o json` shows it; a field the object lacks is ""

A refused selector raises FieldSelectorError with the line kubectl prints for the API server's BadRequest, with
the context k8s.io/cli-runtime's EnhanceListError adds to it:

    Error from server (BadRequest): Unable to find "/v1, Resource=pods" that match label selector "",
    field selector "foo=bar": field label not supported: foo
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from netlab.jsonpath import go_quote


class FieldSelectorError(Exception):
    """A field selector the API server refuses; the message is the line kubectl prints for it."""


def _lookup(obj: dict, path: str):
    for key in path.split("."):
        obj = obj.get(key) if isinstance(obj, dict) else None
    return obj


def _text(path: str) -> Callable[[dict], str]:
    """A reader of the string at the dotted PATH of an object ("" when it is missing)."""
    def read(obj: dict) -> str:
        value = _lookup(obj, path)
        return value if isinstance(value, str) else ""
    return read


def _flag(path: str) -> Callable[[dict], str]:
    """A reader of the boolean at PATH as strconv.FormatBool writes it; a missing one is false."""
    return lambda obj: "true" if _lookup(obj, path) is True else "false"


def _first_text(*paths: str) -> Callable[[dict], str]:
    """A reader of the first non-empty string among PATHS."""
    readers = [_text(path) for path in paths]
    return lambda obj: next((value for value in (read(obj) for read in readers) if value), "")


def _pod_ip(pod: dict) -> str:
    # the API server keeps podIPs; Convert_v1_PodStatus_To_core_PodStatus puts a v1 podIP first in them
    ips = _lookup(pod, "status.podIPs") or []
    first = ips[0].get("ip", "") if ips and isinstance(ips[0], dict) else ""
    return _text("status.podIP")(pod) or first


_NAME = {"metadata.name": _text("metadata.name")}
_NAMESPACED = {**_NAME, "metadata.namespace": _text("metadata.namespace")}

_POD = {
    **_NAMESPACED,
    "spec.nodeName": _text("spec.nodeName"),
    "spec.host": _text("spec.nodeName"),            # old v1 clients' name, which the conversion renames
    "spec.restartPolicy": _text("spec.restartPolicy"),
    "spec.schedulerName": _text("spec.schedulerName"),
    # v1's deprecated spec.serviceAccount converts into the same field when serviceAccountName is empty
    "spec.serviceAccountName": _first_text("spec.serviceAccountName", "spec.serviceAccount"),
    "spec.hostNetwork": _flag("spec.hostNetwork"),
    "status.phase": _text("status.phase"),
    "status.podIP": _pod_ip,
    # accepted by the conversion but missing from ToSelectableFields, so it only ever equals ""
    "status.podIPs": lambda pod: "",
    "status.nominatedNodeName": _text("status.nominatedNodeName"),
}

_EVENT = {
    **_NAMESPACED,
    **{f"involvedObject.{name}": _text(f"involvedObject.{name}")
       for name in ("kind", "namespace", "name", "uid", "apiVersion", "resourceVersion", "fieldPath")},
    "reason": _text("reason"),
    "reportingComponent": _text("reportingComponent"),
    "source": _first_text("source.component", "reportingComponent"),
    "type": _text("type"),
}


@dataclass(frozen=True)
class _Kind:
    resource: str               # as schema.GroupVersionResource's String() writes it
    fields: dict                # field label -> reader of the object's value for it
    converted: bool = True      # has a field label conversion of its own, whose refusal reads differently


# ReplicaSet's ToSelectableFields has status.replicas, but apps/v1 registers no conversion that lets it through
# (kubernetes/kubernetes#135136), so the API server refuses it as it does for any kind without one.
_KINDS = {
    "Pod": _Kind("/v1, Resource=pods", _POD),
    "Service": _Kind("/v1, Resource=services",
                     {**_NAMESPACED, "spec.clusterIP": _text("spec.clusterIP"), "spec.type": _text("spec.type")}),
    "Endpoints": _Kind("/v1, Resource=endpoints", _NAMESPACED, converted=False),
    "Node": _Kind("/v1, Resource=nodes", {**_NAME, "spec.unschedulable": _flag("spec.unschedulable")}),
    "Namespace": _Kind("/v1, Resource=namespaces", {**_NAME, "status.phase": _text("status.phase")}),
    "Event": _Kind("/v1, Resource=events", _EVENT),
    "ConfigMap": _Kind("/v1, Resource=configmaps", _NAMESPACED, converted=False),
    "Secret": _Kind("/v1, Resource=secrets", {**_NAMESPACED, "type": _text("type")}),
    "ReplicaSet": _Kind("apps/v1, Resource=replicasets", _NAMESPACED, converted=False),
    "Deployment": _Kind("apps/v1, Resource=deployments", _NAMESPACED, converted=False),
    "EndpointSlice": _Kind("discovery.k8s.io/v1, Resource=endpointslices", _NAMESPACED, converted=False),
}

_OPERATORS = ("!=", "==", "=")      # == before = so that no = is left at the start of the value


class _Refused(Exception):
    """The API server's own reason for refusing a selector, before kubectl's context is added."""


def _split_terms(text: str) -> list[str]:
    """splitTerms: TEXT cut at the commas no backslash escapes (the backslashes stay for the value's unescaping)."""
    if not text:
        return []
    terms, start, escaped = [], 0, False
    for i, char in enumerate(text):
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == ",":
            terms.append(text[start:i])
            start = i + 1
    terms.append(text[start:])
    return terms


def _split_term(term: str):
    """splitTerm: (field, operator, raw value) split at the first operator, or None when there is none."""
    for i in range(len(term)):
        for operator in _OPERATORS:
            if term.startswith(operator, i):
                return term[:i], operator, term[i + len(operator):]
    return None


def _unescape(value: str) -> str:
    """UnescapeValue: VALUE with `\\\\`, `\\,` and `\\=` resolved; any other escape, or a bare , or =, is refused."""
    out, escaped = [], False
    for char in value:
        if escaped:
            if char not in "\\,=":
                raise _Refused(f"invalid field selector: invalid escape sequence: \\{char}")
            out.append(char)
            escaped = False
        elif char == "\\":
            escaped = True
        elif char in ",=":
            # Go formats the rune with %v, which writes its code point: 61 for =
            raise _Refused(f"invalid field selector: unescaped character in value: {ord(char)}")
        else:
            out.append(char)
    if escaped:
        raise _Refused("invalid field selector: invalid escape sequence: \\")
    return "".join(out)


def _terms(text: str, kind: _Kind) -> list:
    """TEXT's terms as (reader, value, negated), parsed and converted as the API server does; _Refused if not."""
    parsed = []
    for part in sorted(_split_terms(text)):
        if not part:
            continue
        split = _split_term(part)
        if split is None:
            raise _Refused(f"invalid selector: '{text}'; can't understand '{part}'")
        field, operator, value = split
        parsed.append((field, _unescape(value), operator == "!="))
    terms = []
    for field, value, negated in parsed:
        if field not in kind.fields:
            raise _Refused(f"field label not supported: {field}" if kind.converted else
                           f'{go_quote(field)} is not a known field selector: only "metadata.name", '
                           f'"metadata.namespace"')
        terms.append((kind.fields[field], value, negated))
    return terms


def parse(text: str, kind: str, *, label_selector: str = "") -> Callable[[dict], bool]:
    """A predicate over KIND's objects for `--field-selector TEXT`; FieldSelectorError as kubectl reports a refusal."""
    if kind not in _KINDS:
        raise ValueError(f"no field selectors are known for kind {kind!r}")
    try:
        terms = _terms(text or "", _KINDS[kind])
    except _Refused as refused:
        # LABEL_SELECTOR, kubectl's -l given alongside, only appears in this message
        raise FieldSelectorError(
            f"Error from server (BadRequest): Unable to find {go_quote(_KINDS[kind].resource)} that match label "
            f"selector {go_quote(label_selector)}, field selector {go_quote(text)}: {refused}") from None
    return lambda obj: all((read(obj) == value) != negated for read, value, negated in terms)
