"""Check a manifest's fields and types against the Kubernetes API schema, as strict decoding does.

The field table (`k8s_schema.json`) is generated from the kubernetes Python client's models by
scripts/gen_k8s_schema.py, so netlab knows every field of every version-1 kind without importing
the client (half a second) on each run. The lab's own Cluster document adds its types at run time
(`register`). Type strings are explained in that script's docstring.
"""

from __future__ import annotations

import difflib
import json
import re
from pathlib import Path as FilePath
from typing import Any, Dict, List, Optional, Tuple

from netlab.manifest.source import MapKey, Path

SCHEMA_FILE = FilePath(__file__).with_name("k8s_schema.json")

# Severities of a finding: an error, a strict-decoding error (unknown or duplicate field: an error,
# a warning or nothing depending on the validate mode), or a warning.
ERROR, STRICT, WARNING = "error", "strict", "warning"

_table: Optional[dict] = None
_extra: Dict[str, dict] = {}
_compiled: Dict[str, tuple] = {}

_QUANTITY = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+|[KMGTPE]i|[numkMGTPE])?$")


class Findings:
    """What validating one document found: (severity, path, message), in discovery order."""

    def __init__(self):
        self.items: List[Tuple[str, Path, str]] = []

    def error(self, path: Path, message: str) -> None:
        self.items.append((ERROR, tuple(path), message))

    def strict(self, path: Path, message: str) -> None:
        self.items.append((STRICT, tuple(path), message))

    def warn(self, path: Path, message: str) -> None:
        self.items.append((WARNING, tuple(path), message))

    def has_errors_of(self, severity: str) -> bool:
        return any(sev == severity for sev, _, _ in self.items)


def table() -> dict:
    """The generated schema table, read once."""
    global _table
    if _table is None:
        with open(SCHEMA_FILE, encoding="utf-8") as f:
            _table = json.load(f)
    return _table


def kinds() -> Dict[str, dict]:
    """kind -> {"apiVersion": ..., "type": ...} for every kind the table knows."""
    return table()["kinds"]


def register(types: Dict[str, dict]) -> None:
    """Add model types (the lab's own document) to the ones the walker knows."""
    _extra.update(types)


def _model(name: str) -> dict:
    return _extra.get(name) or table()["types"][name]


def fields_of(type_name: str) -> Dict[str, str]:
    """The JSON fields of a model type and their type strings."""
    return _model(type_name)["f"]


def _compile(spec: str) -> tuple:
    """Parse a type string ('[V1Container]', '{str}', 'int|[X]') into a tuple, memoized."""
    done = _compiled.get(spec)
    if done is not None:
        return done
    if "|" in spec and not spec.startswith(("[", "{")):
        out: tuple = ("union",) + tuple(_compile(s) for s in spec.split("|"))
    elif spec.startswith("["):
        out = ("list", _compile(spec[1:-1]))
    elif spec.startswith("{"):
        out = ("map", _compile(spec[1:-1]))
    elif spec in ("str", "int", "bool", "float", "time", "intorstr", "quantity", "any"):
        out = (spec,)
    else:
        out = ("model", spec)
    _compiled[spec] = out
    return out


def describe(value: Any) -> str:
    """Name a value's JSON type the way an error message should: 'a string ("80")'."""
    if isinstance(value, bool):
        return f"a boolean ({'true' if value else 'false'})"
    if isinstance(value, int):
        return f"an integer ({value})"
    if isinstance(value, float):
        return f"a number ({value})"
    if isinstance(value, str):
        shown = value if len(value) <= 40 else value[:37] + "..."
        return f'a string ("{shown}")'
    if isinstance(value, dict):
        return "a map"
    if isinstance(value, list):
        return "a list"
    return type(value).__name__


def _shown_number(value: int) -> str:
    """A number as written, its middle cut when it has more than 20 digits."""
    text = str(value)
    return text if len(text) <= 20 else f"{text[:10]}...{text[-5:]} ({len(text)} digits)"


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _scalar_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


_EXPECTED = {
    "str": "a string",
    "int": "an integer",
    "bool": "a boolean (true or false)",
    "float": "a number",
    "time": "a timestamp string",
    "intorstr": "an integer or a string",
    "quantity": "a quantity (a string such as 500m or 128Mi, or a number)",
    "list": "a list",
    "map": "a map",
    "model": "a map",
}


def _type_error(findings: Findings, path: Path, kind: str, value: Any) -> None:
    """Report a value of the wrong JSON type, saying how to write it instead."""
    message = f"expected {_EXPECTED[kind]}, got {describe(value)}"
    if kind == "str" and isinstance(value, (bool, int, float)):
        message += f': quote it ("{_scalar_text(value)}")'
    elif kind == "str" and isinstance(value, dict) and len(value) == 1:
        message += ': YAML reads an unquoted value with ": " in it as a map; quote the value'
    elif kind in ("int", "float") and isinstance(value, str) and re.fullmatch(r"[+-]?\d+(\.\d+)?", value):
        message += ": remove the quotes"
    elif kind == "bool" and isinstance(value, str) and value.lower() in ("true", "false"):
        message += ": remove the quotes"
    elif kind == "list" and isinstance(value, dict):
        message += ': write each item on its own line starting with "- "'
    elif kind in ("map", "model") and isinstance(value, list):
        message += ': remove the "- " in front of the fields'
    findings.error(path, message)


def suggest(key: str, known) -> str:
    """A ' (did you mean "x"?)' hint for a misspelled field, or ''."""
    known = list(known)
    lower = {k.lower(): k for k in known}
    match = lower.get(key.lower())
    if match is None:
        close = difflib.get_close_matches(key, known, n=1, cutoff=0.7)
        if not close:
            close = difflib.get_close_matches(key.lower(), list(lower), n=1, cutoff=0.7)
            close = [lower[c] for c in close]
        match = close[0] if close else None
    return f'; did you mean "{match}"?' if match else ""


def check(value: Any, spec: str, path: Path, findings: Findings) -> None:
    """Walk `value` against the type string `spec`, adding what is wrong to `findings`."""
    _check(value, _compile(spec), list(path), findings)


def _check(value: Any, t: tuple, path: list, findings: Findings) -> None:
    if value is None:  # JSON null decodes to the zero value; required fields are checked apart
        return
    kind = t[0]
    if kind == "model":
        if not isinstance(value, dict):
            _type_error(findings, path, kind, value)
            return
        _check_model(value, t[1], path, findings)
    elif kind == "list":
        if not isinstance(value, list):
            _type_error(findings, path, kind, value)
            return
        item = t[1]
        for index, element in enumerate(value):
            path.append(index)
            if element is None and item[0] == "model":
                # a lone "- " decodes to an empty object, whose required fields then fail to validate
                findings.error(path, 'an empty list item (a "- " with nothing after it): fill it in or '
                                     "remove it")
            else:
                _check(element, item, path, findings)
            path.pop()
    elif kind == "map":
        if not isinstance(value, dict):
            _type_error(findings, path, kind, value)
            return
        item = t[1]
        for key, element in value.items():
            path.append(MapKey(key))
            _check(element, item, path, findings)
            path.pop()
    elif kind == "str" or kind == "time":
        if not isinstance(value, str):
            _type_error(findings, path, kind, value)
    elif kind == "int":
        if not _is_int(value):
            _type_error(findings, path, kind, value)
        elif not -2**63 <= value < 2**63:
            findings.error(path, f"invalid value {_shown_number(value)}: out of range for an integer field "
                                 "(an int64 at most)")
    elif kind == "bool":
        if not isinstance(value, bool):
            _type_error(findings, path, kind, value)
    elif kind == "float":
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            _type_error(findings, path, kind, value)
    elif kind == "intorstr":
        if not (_is_int(value) or isinstance(value, str)):
            _type_error(findings, path, kind, value)
    elif kind == "quantity":
        _check_quantity(value, path, findings)
    elif kind == "union":  # the option of the value's own shape reports what is wrong inside it
        for option in t[1:]:
            if _shape_fits(value, option[0]):
                _check(value, option, path, findings)
                return
        names = " or ".join(_EXPECTED[o[0]] for o in t[1:])
        findings.error(path, f"expected {names}, got {describe(value)}")
    # "any": free-form, nothing to check


def _shape_fits(value: Any, kind: str) -> bool:
    """Whether a value has the JSON shape of a type kind (list, map, string, number...)."""
    if kind == "list":
        return isinstance(value, list)
    if kind in ("map", "model"):
        return isinstance(value, dict)
    if kind in ("str", "time"):
        return isinstance(value, str)
    if kind == "int":
        return _is_int(value)
    if kind == "bool":
        return isinstance(value, bool)
    probe = Findings()
    _check(value, (kind,), [], probe)
    return not probe.items


def _check_model(value: dict, name: str, path: list, findings: Findings) -> None:
    model = _model(name)
    fields = model["f"]
    for key, element in value.items():
        sub = fields.get(key)
        path.append(key)
        if sub is None:
            findings.strict(path, f'unknown field "{key}"{suggest(key, fields)}')
        else:
            _check(element, _compile(sub), path, findings)
        path.pop()
    for key in model.get("r", ()):
        if value.get(key) is None:
            path.append(key)
            hint = _REQUIRED_HINTS.get((name, key), "")
            findings.error(path, "required field is missing" + (f": {hint}" if hint else ""))
            path.pop()


_REQUIRED_HINTS = {
    ("V1PodSpec", "containers"): "a pod needs at least one container (name and image)",
    ("V1Container", "name"): "give the container a name such as web",
    ("V1ContainerPort", "containerPort"): "the port number the container listens on",
    ("V1ServicePort", "port"): "the port number the Service exposes",
    ("V1DeploymentSpec", "selector"): "apps/v1 needs a selector, e.g. matchLabels: {app: web}, "
                                      "matching the template's labels",
    ("V1ReplicaSetSpec", "selector"): "apps/v1 needs a selector, e.g. matchLabels: {app: web}, "
                                      "matching the template's labels",
    ("V1DeploymentSpec", "template"): "the pod template (metadata.labels and spec.containers)",
    ("V1EnvVar", "name"): "the environment variable's name",
    ("V1HTTPGetAction", "port"): "the port to probe, a number or a container port's name",
    ("V1TCPSocketAction", "port"): "the port to probe, a number or a container port's name",
}


def _check_quantity(value: Any, path: list, findings: Findings) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        _type_error(findings, path, "quantity", value)
    elif isinstance(value, str) and not _QUANTITY.match(value):
        findings.error(path, f'invalid quantity "{value}": write a number with an optional suffix, '
                             "such as 250m, 0.5, 64Mi or 1Gi")
