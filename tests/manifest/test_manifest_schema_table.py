"""The shipped schema table is whole, and matches the kubernetes client it was generated from."""

import importlib.util
import re
from pathlib import Path

import pytest

from netlab.manifest import schema

ROOT = Path(__file__).resolve().parents[2]


def test_every_referenced_type_is_in_the_table():
    table = schema.table()
    types = table["types"]
    for kind, entry in table["kinds"].items():
        assert entry["type"] in types, kind
    for name, model in types.items():
        for field, spec in model["f"].items():
            for ref in re.findall(r"[A-Za-z0-9]+", spec):
                if ref not in ("str", "int", "bool", "float", "time", "intorstr", "quantity", "any"):
                    assert ref in types, f"{name}.{field}: {spec}"
        assert set(model.get("r", ())) <= set(model["f"]), name


def test_the_kinds_netlab_models_are_there():
    kinds = schema.kinds()
    assert {k: kinds[k]["apiVersion"] for k in ("Pod", "ReplicaSet", "Deployment", "Service", "Namespace",
                                                 "EndpointSlice")} == {
        "Pod": "v1", "ReplicaSet": "apps/v1", "Deployment": "apps/v1", "Service": "v1", "Namespace": "v1",
        "EndpointSlice": "discovery.k8s.io/v1"}
    assert schema.fields_of("V1ServicePort")["targetPort"] == "intorstr"
    assert schema.fields_of("V1ResourceRequirements")["limits"] == "{quantity}"
    assert schema.fields_of("V1Pod")["status"] == "any"


def test_table_is_what_the_generator_makes_from_the_installed_client():
    if importlib.util.find_spec("kubernetes") is None:
        pytest.skip("the kubernetes client is not installed")
    import kubernetes
    if kubernetes.__version__ != schema.table()["kubernetes_client"]:
        pytest.skip(f"table made from kubernetes {schema.table()['kubernetes_client']}, "
                    f"installed {kubernetes.__version__}")
    spec = importlib.util.spec_from_file_location("gen_k8s_schema", ROOT / "scripts" / "gen_k8s_schema.py")
    gen = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gen)
    assert gen.generate() == schema.table()
