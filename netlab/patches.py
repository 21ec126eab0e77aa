"""The three patch formats `kubectl patch --type` takes, applied to an object as a map.

    merge       JSON merge patch (RFC 7386): maps merge, null removes a key, lists are replaced
    json        JSON patch (RFC 6902): add, remove, replace, move, copy, test at JSON pointers
    strategic   strategic merge patch (k8s.io/apimachinery/pkg/util/strategicpatch): a merge
                patch whose lists of named things merge by their key (containers by name, a
                Service's ports by port, ...), with the `$patch: delete|replace` directives

The merge keys are the Kubernetes types' `patchMergeKey` tags for the fields netlab keeps.
Pure functions: the caller validates the result as it would a manifest.
"""

from __future__ import annotations

import copy
import json

import yaml


class PatchError(Exception):
    """A patch that cannot be read or applied (kubectl's message)."""


# patchMergeKey of the lists that merge (k8s.io/api/core/v1/types.go); any other list is replaced
_MERGE_KEYS = {"containers": "name", "initContainers": "name", "ephemeralContainers": "name", "env": "name",
               "volumes": "name", "volumeMounts": "mountPath", "imagePullSecrets": "name", "hostAliases": "ip",
               "conditions": "type", "ownerReferences": "uid", "topologySpreadConstraints": "topologyKey"}


def _merge_key(path: tuple, kind: str) -> str | None:
    field = path[-1] if path else None
    if field == "ports":
        # a container's ports merge by containerPort, a Service's by port
        return "containerPort" if any(p in ("containers", "initContainers") for p in path) else \
            ("port" if kind == "Service" else None)
    return _MERGE_KEYS.get(field)


def parse(text: str) -> object:
    """The patch as data: JSON, or YAML as kubectl also accepts."""
    try:
        return json.loads(text)
    except ValueError:
        pass
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise PatchError(f'unable to parse "{text}": {" ".join(str(err).split())}') from None


def apply(obj: dict, patch_text: str, patch_type: str = "strategic") -> dict:
    """OBJ with the patch applied (a new map; OBJ is unchanged)."""
    patch = parse(patch_text)
    if patch_type == "json":
        if not isinstance(patch, list):
            raise PatchError("unable to parse patch: a json patch is a list of operations")
        return json_patch(obj, patch)
    if not isinstance(patch, dict):
        raise PatchError(f'unable to parse "{patch_text}": a {patch_type} patch is a map')
    if patch_type == "merge":
        return merge_patch(obj, patch)
    if patch_type == "strategic":
        return strategic_merge_patch(obj, patch, obj.get("kind", ""))
    raise PatchError(f'--type must be one of [json merge strategic], not "{patch_type}"')


def merge_patch(target, patch):
    """RFC 7386."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def strategic_merge_patch(target, patch, kind: str, path: tuple = ()):
    """A merge patch whose keyed lists merge item by item (see the module's docstring)."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    if patch.get("$patch") == "replace":
        return {k: copy.deepcopy(v) for k, v in patch.items() if k != "$patch"}
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if key.startswith("$"):
            continue
        if value is None:
            result.pop(key, None)
        elif isinstance(value, list) and isinstance(result.get(key), list) and _merge_key(path + (key,), kind):
            result[key] = _merge_list(result[key], value, _merge_key(path + (key,), kind), kind, path + (key,))
        elif isinstance(value, dict):
            result[key] = strategic_merge_patch(result.get(key), value, kind, path + (key,))
        else:
            result[key] = copy.deepcopy(value)
    return result


def _merge_list(current: list, patch: list, merge_key: str, kind: str, path: tuple) -> list:
    result = copy.deepcopy(current)
    for item in patch:
        if not isinstance(item, dict) or merge_key not in item:
            raise PatchError(f"map: {item} does not contain declared merge key: {merge_key}")
        at = next((i for i, old in enumerate(result) if isinstance(old, dict) and old.get(merge_key) == item[merge_key]),
                  None)
        if item.get("$patch") == "delete":
            if at is not None:
                del result[at]
        elif at is None:
            result.append({k: v for k, v in copy.deepcopy(item).items() if k != "$patch"})
        else:
            result[at] = strategic_merge_patch(result[at], item, kind, path)
    return result


def _pointer(text: str) -> list:
    if text == "":
        return []
    if not text.startswith("/"):
        raise PatchError(f'invalid JSON pointer "{text}"')
    return [part.replace("~1", "/").replace("~0", "~") for part in text[1:].split("/")]


def _walk(doc, parts: list, op: str, path: str):
    node = doc
    for part in parts:
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            raise PatchError(f'the server rejected our request due to an error in our request: {op} operation '
                             f'does not apply: doc is missing path: "{path}"')
    return node


def json_patch(obj: dict, operations: list) -> dict:
    """RFC 6902, each operation in turn; a failing one leaves nothing changed."""
    doc = copy.deepcopy(obj)
    for operation in operations:
        if not isinstance(operation, dict) or "op" not in operation or "path" not in operation:
            raise PatchError(f"unable to parse patch operation {json.dumps(operation)}: op and path are required")
        op, path = operation["op"], operation["path"]
        parts = _pointer(path)
        if op == "test":
            if _walk(doc, parts, op, path) != operation.get("value"):
                raise PatchError(f'the server rejected our request due to an error in our request: testing value '
                                 f'{path} failed')
            continue
        if op in ("move", "copy"):
            source = _pointer(operation.get("from", ""))
            value = copy.deepcopy(_walk(doc, source, op, operation.get("from", "")))
            if op == "move":
                _remove(doc, source, op, operation.get("from", ""))
            _add(doc, parts, value, op, path)
        elif op == "add":
            _add(doc, parts, copy.deepcopy(operation.get("value")), op, path)
        elif op == "remove":
            _remove(doc, parts, op, path)
        elif op == "replace":
            _remove(doc, parts, op, path)
            _add(doc, parts, copy.deepcopy(operation.get("value")), op, path)
        else:
            raise PatchError(f'unexpected kind of operation "{op}" in a json patch')
    return doc


def _add(doc, parts: list, value, op: str, path: str) -> None:
    if not parts:
        raise PatchError("a json patch cannot replace the whole object")
    parent = _walk(doc, parts[:-1], op, path)
    last = parts[-1]
    if isinstance(parent, list):
        if last == "-":
            parent.append(value)
        elif last.isdigit() and int(last) <= len(parent):
            parent.insert(int(last), value)
        else:
            raise PatchError(f'the server rejected our request due to an error in our request: {op} operation '
                             f'does not apply: doc is missing path: "{path}"')
    elif isinstance(parent, dict):
        parent[last] = value
    else:
        raise PatchError(f'{op} operation does not apply: "{path}" is not in a map or list')


def _remove(doc, parts: list, op: str, path: str) -> None:
    parent = _walk(doc, parts[:-1], op, path)
    last = parts[-1]
    _walk(parent, [last], op, path)             # it must be there
    if isinstance(parent, list):
        del parent[int(last)]
    else:
        del parent[last]
