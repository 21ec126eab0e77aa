"""kubelet's volume plugins, as pure decisions: what each volume of a pod holds.

`pod_volumes(spec, namespace, lookup)` reads a pod's `spec.volumes` and answers, per volume, what
kubelet would put there:

- `emptyDir`: an empty folder the pod's containers share (made by the runtime);
- `configMap` / `secret`: one file per key (or per `items` entry, at its `path`, with its `mode`),
  the ConfigMap's `data` as text and `binaryData` decoded, the Secret's `data` decoded and its
  `stringData` over it (as the API server merges them), file mode `defaultMode` (0644 unless
  given), always mounted read-only;
- `projected`: the files of its configMap, secret and downwardAPI sources in one folder;
- `downwardAPI`: `metadata.name`, `metadata.namespace`, `metadata.uid`, `metadata.labels`,
  `metadata.annotations` as kubelet formats them.

A ConfigMap or Secret that is not there (and not `optional: true`), or a key `items` names that it
lacks, is a `MountProblem`: kubelet keeps such a pod in ContainerCreating with a FailedMount event
until the object appears, and so does netlab.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass, field
from typing import Callable, Optional

DEFAULT_MODE = 0o644
# (kind, namespace, name) -> the stored object, or None
Lookup = Callable[[str, str, str], Optional[dict]]


@dataclass
class Volume:
    """One pod volume: an emptyDir (FILES None) or files kubelet writes (path -> (bytes, mode))."""

    name: str
    files: dict[str, tuple[bytes, int]] | None = None
    read_only: bool = False


@dataclass
class MountProblem:
    """Why a volume cannot be set up yet (kubelet's FailedMount)."""

    volume: str
    message: str


@dataclass
class PodVolumes:
    volumes: dict[str, Volume] = field(default_factory=dict)
    problems: list[MountProblem] = field(default_factory=list)


def _decoded(value: str) -> bytes:
    try:
        return base64.b64decode(value, validate=True)
    except (ValueError, binascii.Error):
        return value.encode()       # refused at apply; a stored oddity is shown as written


def object_data(obj: dict) -> dict[str, bytes]:
    """The keys of a ConfigMap or Secret and their bytes, as a volume or an env var shows them."""
    out: dict[str, bytes] = {}
    if obj.get("kind") == "Secret":
        for key, value in (obj.get("data") or {}).items():
            out[key] = _decoded(value or "")
        for key, value in (obj.get("stringData") or {}).items():
            out[key] = (value or "").encode()
    else:
        for key, value in (obj.get("data") or {}).items():
            out[key] = (value or "").encode()
        for key, value in (obj.get("binaryData") or {}).items():
            out[key] = _decoded(value or "")
    return out


def _mode(value, default: int) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 0o777 else default


def _keyed_files(kind: str, name: str, source: dict, namespace: str, lookup: Lookup,
                 default_mode: int) -> tuple[dict[str, tuple[bytes, int]] | None, str | None]:
    """The files of a configMap/secret source, or (None, why it cannot be mounted yet)."""
    obj = lookup(kind, namespace, name) if name else None
    optional = bool(source.get("optional"))
    what = "configmap" if kind == "ConfigMap" else "secret"
    if obj is None:
        return ({}, None) if optional else (None, f'{what} "{name}" not found')
    data = object_data(obj)
    items = source.get("items")
    if not items:
        return {key: (value, default_mode) for key, value in data.items()}, None
    files = {}
    for item in items:
        key, path = item.get("key"), item.get("path") or item.get("key")
        if key not in data:
            if optional:
                continue
            return None, f'configmap references non-existent config key: {key}' if kind == "ConfigMap" \
                else f'references non-existent secret key: {key}'
        files[path] = (data[key], _mode(item.get("mode"), default_mode))
    return files, None


def _labels_text(values: dict) -> bytes:
    """kubelet's downward API format: key="value" lines, sorted, values quoted as Go's %q."""
    import json
    return "\n".join(f"{k}={json.dumps(v)}" for k, v in sorted((values or {}).items())).encode()


def _downward_files(source: dict, meta: dict, default_mode: int) -> dict[str, tuple[bytes, int]]:
    files = {}
    for item in source.get("items") or ():
        field_path = (item.get("fieldRef") or {}).get("fieldPath")
        if field_path in ("metadata.labels", "metadata.annotations"):
            value = _labels_text(meta.get(field_path.split(".")[1]) or {})
        elif field_path in ("metadata.name", "metadata.namespace", "metadata.uid"):
            value = str(meta.get(field_path.split(".")[1]) or "").encode()
        else:
            continue                 # resourceFieldRef and others: not modelled
        files[item["path"]] = (value, _mode(item.get("mode"), default_mode))
    return files


def pod_volumes(spec: dict, namespace: str, lookup: Lookup, meta: dict | None = None) -> PodVolumes:
    """What each volume of a pod SPEC (its raw map) holds; META is the pod's metadata (downward API)."""
    out = PodVolumes()
    for volume in spec.get("volumes") or ():
        name = volume.get("name")
        if not isinstance(name, str):
            continue
        if "emptyDir" in volume:
            out.volumes[name] = Volume(name)
            continue
        files: dict[str, tuple[bytes, int]] | None = None
        why = None
        if volume.get("configMap") is not None:
            source = volume["configMap"]
            files, why = _keyed_files("ConfigMap", source.get("name"), source, namespace, lookup,
                                      _mode(source.get("defaultMode"), DEFAULT_MODE))
        elif volume.get("secret") is not None:
            source = volume["secret"]
            files, why = _keyed_files("Secret", source.get("secretName"), source, namespace, lookup,
                                      _mode(source.get("defaultMode"), DEFAULT_MODE))
        elif volume.get("downwardAPI") is not None:
            source = volume["downwardAPI"]
            files = _downward_files(source, meta or {}, _mode(source.get("defaultMode"), DEFAULT_MODE))
        elif volume.get("projected") is not None:
            projected = volume["projected"]
            default_mode = _mode(projected.get("defaultMode"), DEFAULT_MODE)
            files = {}
            for part in projected.get("sources") or ():
                got, why = {}, None
                if part.get("configMap") is not None:
                    got, why = _keyed_files("ConfigMap", part["configMap"].get("name"), part["configMap"],
                                            namespace, lookup, default_mode)
                elif part.get("secret") is not None:
                    got, why = _keyed_files("Secret", part["secret"].get("name"), part["secret"],
                                            namespace, lookup, default_mode)
                elif part.get("downwardAPI") is not None:
                    got = _downward_files(part["downwardAPI"], meta or {}, default_mode)
                if why:
                    files = None
                    break
                files.update(got or {})
        else:
            continue                 # hostPath, persistentVolumeClaim, ...: not modelled
        if why:
            out.problems.append(MountProblem(name, f'MountVolume.SetUp failed for volume "{name}" : {why}'))
        else:
            out.volumes[name] = Volume(name, files or {}, read_only=True)
    return out
