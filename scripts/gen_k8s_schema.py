#!/usr/bin/env python3
"""Generate netlab/manifest/k8s_schema.json from the kubernetes Python client's models.

Importing the kubernetes client costs about half a second, too slow for every `netlab up`, so the
field table netlab validates manifests against is extracted once and shipped as a small JSON file.

    .venv/bin/python scripts/gen_k8s_schema.py          # rewrite the file
    .venv/bin/python scripts/gen_k8s_schema.py --check  # exit 1 if the file is stale

Type strings in the output:
  str int bool float time   scalars (time: an RFC 3339 string as the API serves it)
  intorstr                  IntOrString (targetPort, maxSurge, ...): an integer or a string
  quantity                  resource.Quantity (cpu, memory, ...): a string or a number
  any                       free-form JSON (managedFields' fieldsV1, empty marker structs)
  [T]  {T}                  a list of T, a map from string to T
  V1Foo                     a model: {"f": {jsonField: type}, "r": [required jsonFields]}
"""

from __future__ import annotations

import argparse
import importlib
import json
import re
import sys
from pathlib import Path

OUT = Path(__file__).resolve().parent.parent / "netlab" / "manifest" / "k8s_schema.json"

# (apiVersion, kind, model class). The kinds netlab models plus the ones tutorials commonly ship
# beside them, so that a typo in those is reported like kubectl does even though netlab skips them.
KINDS = [
    ("v1", "Pod", "V1Pod"),
    ("v1", "Service", "V1Service"),
    ("v1", "Namespace", "V1Namespace"),
    ("v1", "Node", "V1Node"),
    ("v1", "ConfigMap", "V1ConfigMap"),
    ("v1", "Secret", "V1Secret"),
    ("v1", "Endpoints", "V1Endpoints"),
    ("v1", "ServiceAccount", "V1ServiceAccount"),
    ("v1", "ReplicationController", "V1ReplicationController"),
    ("v1", "PersistentVolumeClaim", "V1PersistentVolumeClaim"),
    ("apps/v1", "Deployment", "V1Deployment"),
    ("apps/v1", "ReplicaSet", "V1ReplicaSet"),
    ("apps/v1", "StatefulSet", "V1StatefulSet"),
    ("apps/v1", "DaemonSet", "V1DaemonSet"),
    ("batch/v1", "Job", "V1Job"),
    ("batch/v1", "CronJob", "V1CronJob"),
    ("discovery.k8s.io/v1", "EndpointSlice", "V1EndpointSlice"),
    ("networking.k8s.io/v1", "Ingress", "V1Ingress"),
    ("networking.k8s.io/v1", "IngressClass", "V1IngressClass"),
    ("networking.k8s.io/v1", "NetworkPolicy", "V1NetworkPolicy"),
    ("policy/v1", "PodDisruptionBudget", "V1PodDisruptionBudget"),
    ("autoscaling/v2", "HorizontalPodAutoscaler", "V2HorizontalPodAutoscaler"),
    ("rbac.authorization.k8s.io/v1", "Role", "V1Role"),
    ("rbac.authorization.k8s.io/v1", "ClusterRole", "V1ClusterRole"),
    ("rbac.authorization.k8s.io/v1", "RoleBinding", "V1RoleBinding"),
    ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding", "V1ClusterRoleBinding"),
]

# The client types IntOrString and free-form JSON alike as `object`; these are the IntOrString ones.
INT_OR_STRING = {
    ("V1HTTPGetAction", "port"),
    ("V1TCPSocketAction", "port"),
    ("V1ServicePort", "targetPort"),
    ("V1RollingUpdateDeployment", "maxSurge"),
    ("V1RollingUpdateDeployment", "maxUnavailable"),
    ("V1RollingUpdateStatefulSetStrategy", "maxUnavailable"),
    ("V1RollingUpdateDaemonSet", "maxSurge"),
    ("V1RollingUpdateDaemonSet", "maxUnavailable"),
    ("V1NetworkPolicyPort", "port"),
    ("V1PodDisruptionBudgetSpec", "maxUnavailable"),
    ("V1PodDisruptionBudgetSpec", "minAvailable"),
}

# The client types resource.Quantity as a plain string, but the API server also takes a number.
QUANTITY = {
    ("V1ResourceRequirements", "limits"),
    ("V1ResourceRequirements", "requests"),
    ("V1VolumeResourceRequirements", "limits"),
    ("V1VolumeResourceRequirements", "requests"),
    ("V1PodSpec", "overhead"),
    ("V1ResourceFieldSelector", "divisor"),
    ("V1EmptyDirVolumeSource", "sizeLimit"),
    ("V2MetricTarget", "averageValue"),
    ("V2MetricTarget", "value"),
}

SCALARS = {"str": "str", "int": "int", "bool": "bool", "float": "float", "datetime": "time",
           "date": "time", "bytes": "str", "bytearray": "str", "object": "any"}


def convert(models, owner: str, field: str, spec: str, todo: list[str]) -> str:
    """Turn a client type string (List[V1Container], Dict[str, str], ...) into the compact form."""
    m = re.fullmatch(r"List\[(.+)\]", spec)
    if m:
        return "[" + convert(models, owner, field, m.group(1), todo) + "]"
    m = re.fullmatch(r"Dict\[str, (.+)\]", spec)
    if m:
        return "{" + convert(models, owner, field, m.group(1), todo) + "}"
    if (owner, field) in QUANTITY:
        assert spec == "str", (owner, field, spec)
        return "quantity"
    if (owner, field) in INT_OR_STRING:
        assert spec == "object", (owner, field, spec)
        return "intorstr"
    if spec in SCALARS:
        return SCALARS[spec]
    if not hasattr(models, spec):
        raise SystemExit(f"{owner}.{field}: unknown client type {spec!r}")
    todo.append(spec)
    return spec


def generate() -> dict:
    """Walk the client models reachable from KINDS and return the schema table."""
    import kubernetes

    models = importlib.import_module("kubernetes.client.models")
    top = {cls for _, _, cls in KINDS}
    types: dict[str, dict] = {}
    todo = list(top)
    while todo:
        name = todo.pop()
        if name in types:
            continue
        cls = getattr(models, name)
        fields = {}
        for py_name, spec in sorted(cls.openapi_types.items(), key=lambda kv: cls.attribute_map[kv[0]]):
            json_name = cls.attribute_map[py_name]
            if name in top and json_name == "status":
                fields[json_name] = "any"  # status is written by the cluster; ignored on input
                continue
            fields[json_name] = convert(models, name, json_name, spec, todo)
        required = sorted(cls.attribute_map[n] for n, f in cls.model_fields.items() if f.is_required())
        types[name] = {"f": fields, "r": required} if required else {"f": fields}
    for owner, field in INT_OR_STRING | QUANTITY:
        if owner in types:
            assert field in types[owner]["f"], (owner, field)
    return {
        "generator": "scripts/gen_k8s_schema.py",
        "kubernetes_client": kubernetes.__version__,
        "kinds": {kind: {"apiVersion": api, "type": cls} for api, kind, cls in KINDS},
        "types": dict(sorted(types.items())),
    }


def main() -> int:
    """Write (or with --check, compare) the schema file."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if the shipped file differs")
    args = parser.parse_args()
    text = json.dumps(generate(), separators=(",", ":"), sort_keys=False) + "\n"
    if args.check:
        current = OUT.read_text() if OUT.exists() else ""
        if current != text:
            print(f"{OUT} is stale: run {sys.argv[0]}", file=sys.stderr)
            return 1
        return 0
    OUT.write_text(text)
    count = text.count('"f":')
    print(f"wrote {OUT} ({len(text) // 1024} KiB, {count} types)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
