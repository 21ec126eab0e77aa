"""ConfigMaps and Secrets: modelled objects whose keys become file names, refused as the API server
refuses them (bad keys, bad base64, more than 1 MiB)."""

import base64
from textwrap import dedent

import pytest

from netlab.manifest import ConfigMap, ManifestError, Secret, loads


def test_configmaps_and_secrets_load_as_objects_of_their_own():
    loaded = loads(dedent("""\
        apiVersion: v1
        kind: ConfigMap
        metadata: {name: web}
        data: {index.html: hi}
        ---
        apiVersion: v1
        kind: Secret
        metadata: {name: creds}
        stringData: {password: s3cret}
        """))
    assert [type(o) for o in loaded.objects] == [ConfigMap, Secret]
    assert loaded.objects[1].key == ("Secret", "default", "creds")


@pytest.mark.parametrize("doc, line, words", [
    ("kind: ConfigMap\nmetadata: {name: c}\ndata:\n  bad key: x\n", 5, 'invalid key "bad key"'),
    ("kind: ConfigMap\nmetadata: {name: c}\ndata:\n  ..hidden: x\n", 5, 'invalid key "..hidden"'),
    ("kind: ConfigMap\nmetadata: {name: c}\ndata: {a: x}\nbinaryData:\n  a: eA==\n", 6, "only one of them"),
    ("kind: ConfigMap\nmetadata: {name: c}\nbinaryData:\n  a: not-base64!\n", 5, "invalid base64 in binaryData"),
    ("kind: Secret\nmetadata: {name: s}\ndata:\n  password: s3cret!\n", 5, "put the text in stringData"),
    ("kind: ConfigMap\nmetadata: {name: Bad_Name}\n", 3, 'invalid name "Bad_Name"'),
])
def test_a_bad_configmap_or_secret_names_its_line_and_field(doc, line, words):
    with pytest.raises(ManifestError) as err:
        loads("apiVersion: v1\n" + doc, file="cm.yaml")
    assert f"cm.yaml:{line}:" in str(err.value) and words in str(err.value)


def test_more_than_one_mebibyte_of_data_is_refused():
    big = base64.b64encode(b"x" * (1024 * 1024 + 1)).decode()
    with pytest.raises(ManifestError, match="at most 1048576 bytes"):
        loads(f"apiVersion: v1\nkind: Secret\nmetadata: {{name: s}}\ndata:\n  blob: {big}\n")


@pytest.mark.parametrize("mount, volume, words", [
    ("{name: v, mountPath: /x, subPath: ../../etc}", "{name: v, emptyDir: {}}", 'must not contain ".."'),
    ("{name: v, mountPath: /x, subPath: /etc}", "{name: v, emptyDir: {}}", "must be a relative path"),
    ("{name: v, mountPath: /x}", "{name: v, configMap: {name: c, items: [{key: a, path: ../a}]}}", 'must not contain ".."'),
])
def test_a_path_that_would_leave_its_volume_is_refused(mount, volume, words):
    doc = ("apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n"
           f"  volumes: [{volume}]\n"
           f"  containers: [{{name: c, image: debian, volumeMounts: [{mount}]}}]\n")
    with pytest.raises(ManifestError, match=words):
        loads(doc, file="pod.yaml")
