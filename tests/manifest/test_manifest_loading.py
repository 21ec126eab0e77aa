"""Loading: files, folders, stdin, multi-document YAML, v1 List, JSON, and where objects came from."""

import io
import json
from textwrap import dedent

import pytest

from netlab.manifest import LabConfig, ManifestError, Source, load, loads

POD = "apiVersion: v1\nkind: Pod\nmetadata: {name: %s}\nspec: {containers: [{name: c, image: nginx}]}\n"


def test_multi_document_file_keeps_order_and_lines(tmp_path):
    path = tmp_path / "m.yaml"
    path.write_text("---\n" + POD % "a" + "---\n# a comment\n" + POD % "b" + "---\n---\n")
    manifests = load(str(path))
    assert [p.name for p in manifests.objects] == ["a", "b"]
    assert [p.source for p in manifests.objects] == [Source(str(path), 2), Source(str(path), 8)]
    assert str(manifests.pods[1].source) == f"{path}:8"


def test_folder_takes_yaml_yml_json_sorted_and_not_recursive(tmp_path):
    (tmp_path / "b.yml").write_text(POD % "b")
    (tmp_path / "a.yaml").write_text(POD % "a")
    (tmp_path / "c.json").write_text(json.dumps({
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "c"},
        "spec": {"containers": [{"name": "c", "image": "nginx"}]},
    }))
    (tmp_path / "notes.txt").write_text("not a manifest")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "d.yaml").write_text(POD % "d")
    manifests = load(tmp_path)
    assert [p.name for p in manifests.pods] == ["a", "b", "c"]


def test_several_paths_and_an_explicit_file_with_any_suffix(tmp_path):
    (tmp_path / "one.yaml").write_text(POD % "one")
    (tmp_path / "two.manifest").write_text(POD % "two")
    manifests = load([tmp_path / "one.yaml", str(tmp_path / "two.manifest")])
    assert [p.name for p in manifests.pods] == ["one", "two"]


def test_stdin(monkeypatch):
    monkeypatch.setattr("sys.stdin", io.StringIO(POD % "from-stdin"))
    manifests = load("-")
    assert manifests.pods[0].name == "from-stdin"
    assert manifests.pods[0].source == Source("<stdin>", 1)


def test_missing_file_and_empty_folder_are_errors(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(ManifestError) as info:
        load([tmp_path / "nope.yaml", tmp_path / "empty"])
    assert str(info.value).splitlines() == [
        f"{tmp_path}/nope.yaml: cannot read: No such file or directory",
        f"{tmp_path}/empty: no .yaml, .yml or .json files in this folder",
    ]


def test_v1_list_items_keep_their_own_lines_and_paths():
    text = dedent("""\
        apiVersion: v1
        kind: List
        metadata: {resourceVersion: ""}
        items:
        - apiVersion: v1
          kind: Pod
          metadata: {name: a}
          spec: {containers: [{name: c, image: i}]}
        - apiVersion: v1
          kind: Pod
          metadata: {name: b}
          spec:
            containers:
            - name: c
              image: i
              portz: []
        """)
    with pytest.raises(ManifestError) as info:
        loads(text, "list.yaml")
    assert str(info.value) == 'list.yaml:16: spec.containers[0].portz: unknown field "portz"; did you mean "ports"?'
    manifests = loads(text.replace("portz", "ports"), "list.yaml")
    assert [(p.name, p.source.line) for p in manifests.pods] == [("a", 5), ("b", 9)]


def test_typed_lists_and_nested_lists_are_flattened():
    text = dedent("""\
        apiVersion: v1
        kind: PodList
        items:
        - apiVersion: v1
          kind: List
          items:
          - {apiVersion: v1, kind: Namespace, metadata: {name: inner}}
        - {apiVersion: v1, kind: Namespace, metadata: {name: outer}}
        """)
    assert [n.name for n in loads(text).namespaces] == ["inner", "outer"]


def test_list_fields_are_validated_too():
    text = "apiVersion: v1\nkind: List\nitem: []\n"
    with pytest.raises(ManifestError) as info:
        loads(text, "l.yaml")
    assert str(info.value) == 'l.yaml:3: item: unknown field "item"; did you mean "items"?'


def test_json_files_get_lines_too(tmp_path):
    path = tmp_path / "pod.json"
    path.write_text(dedent("""\
        {
          "apiVersion": "v1",
          "kind": "Pod",
          "metadata": {"name": "p"},
          "spec": {
            "containers": [
              {"name": "c", "image": "nginx", "imagePulPolicy": "Always"}
            ]
          }
        }
        """))
    with pytest.raises(ManifestError) as info:
        load(path)
    (problem,) = info.value.errors
    assert (problem.line, problem.path) == (7, "spec.containers[0].imagePulPolicy")


def test_yaml_syntax_errors_have_a_line_and_a_hint():
    with pytest.raises(ManifestError) as info:
        loads(POD % "ok" + "---\napiVersion: v1\nkind: Pod\nmetadata:\n\tname: x\n", "t.yaml")
    assert str(info.value) == ("t.yaml:9: YAML syntax error: found character that cannot start any token "
                               "(while scanning for the next token at line 9); indent with spaces, not tabs")


def test_yaml_values_are_read_as_kubectl_reads_them():
    text = dedent("""\
        apiVersion: v1
        kind: Pod
        metadata:
          name: p
          creationTimestamp: 2024-05-02T09:14:27Z
          annotations: {when: "1:30"}
        spec:
          containers:
          - &web {name: web, image: nginx, args: [1:30]}
          - <<: *web
            name: copy
        """)
    pod = loads(text).pods[0]
    assert pod.spec.containers[0].args == ["1:30"]  # PyYAML's YAML 1.1 would read the integer 90
    assert pod.raw["metadata"]["creationTimestamp"] == "2024-05-02T09:14:27Z"
    assert [c.name for c in pod.spec.containers] == ["web", "copy"]
    assert pod.spec.containers[1].image == "nginx"


def test_empty_input_gives_the_default_lab_and_no_objects():
    manifests = loads("# nothing here\n---\n")
    assert manifests.objects == [] and manifests.warnings == []
    assert manifests.lab.source is None and [n.name for n in manifests.lab.nodes] == ["node1", "node2"]


def test_parse_objects_and_lab_config_rebuild_from_stored_raw_maps():
    from netlab.manifest import lab_config, parse_objects
    loaded = loads(POD % "a" + "---\napiVersion: netlab.io/v1alpha1\nkind: Cluster\nspec: {nodes: 3}\n")
    again = parse_objects([o.raw for o in loaded.objects], source="<lab state>")
    assert again == loaded.objects and again[0].source == Source("<lab state>", None)
    assert lab_config(loaded.lab.raw) == loaded.lab
    assert lab_config({"spec": {"nodes": 1}}).nodes[0].name == "node1"
    assert lab_config(None) == LabConfig()
    with pytest.raises(ManifestError) as info:
        parse_objects([{"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": {"containers": []}}],
                      source="<lab state>")
    assert str(info.value) == "<lab state>: spec.containers: a pod needs at least one container (name and image)"
