"""kubelet's volume plugins as pure decisions: which files a configMap, secret, projected or
downwardAPI volume holds, and when a pod must wait for its objects."""

import base64

from netlab.kubelet import volumes

CONFIG = {"kind": "ConfigMap", "metadata": {"name": "web"}, "data": {"index.html": "hi\n", "a.conf": "x=1"},
          "binaryData": {"logo": base64.b64encode(b"\x00\x01").decode()}}
SECRET = {"kind": "Secret", "metadata": {"name": "creds"}, "data": {"user": base64.b64encode(b"admin").decode()},
          "stringData": {"password": "s3cret"}}


def _lookup(*objects):
    held = {(o["kind"], "default", o["metadata"]["name"]): o for o in objects}
    return lambda kind, namespace, name: held.get((kind, namespace, name))


def _spec(*vols):
    return {"volumes": list(vols)}


def test_a_configmap_volume_holds_every_key_as_a_file_with_binary_data_decoded():
    got = volumes.pod_volumes(_spec({"name": "site", "configMap": {"name": "web"}}), "default", _lookup(CONFIG))
    assert got.problems == []
    site = got.volumes["site"]
    assert site.read_only
    assert site.files == {"index.html": (b"hi\n", 0o644), "a.conf": (b"x=1", 0o644), "logo": (b"\x00\x01", 0o644)}


def test_items_pick_keys_put_them_at_their_paths_with_their_modes():
    spec = _spec({"name": "site", "configMap": {"name": "web", "defaultMode": 0o600,
                                               "items": [{"key": "a.conf", "path": "conf/app.conf"},
                                                         {"key": "index.html", "path": "i.html", "mode": 0o444}]}})
    got = volumes.pod_volumes(spec, "default", _lookup(CONFIG))
    assert got.volumes["site"].files == {"conf/app.conf": (b"x=1", 0o600), "i.html": (b"hi\n", 0o444)}


def test_a_secret_volume_decodes_data_and_lays_string_data_over_it():
    got = volumes.pod_volumes(_spec({"name": "c", "secret": {"secretName": "creds", "defaultMode": 0o400}}),
                              "default", _lookup(SECRET))
    assert got.volumes["c"].files == {"user": (b"admin", 0o400), "password": (b"s3cret", 0o400)}


def test_a_missing_configmap_is_kubelets_failed_mount_unless_optional():
    spec = _spec({"name": "site", "configMap": {"name": "nope"}})
    got = volumes.pod_volumes(spec, "default", _lookup())
    assert "site" not in got.volumes
    assert [p.message for p in got.problems] == [
        'MountVolume.SetUp failed for volume "site" : configmap "nope" not found']
    optional = volumes.pod_volumes(_spec({"name": "site", "configMap": {"name": "nope", "optional": True}}),
                                   "default", _lookup())
    assert optional.problems == [] and optional.volumes["site"].files == {}


def test_a_missing_key_named_in_items_waits_like_kubelet():
    spec = _spec({"name": "site", "configMap": {"name": "web", "items": [{"key": "gone", "path": "g"}]}})
    got = volumes.pod_volumes(spec, "default", _lookup(CONFIG))
    assert got.problems[0].message.endswith("configmap references non-existent config key: gone")


def test_objects_of_another_namespace_are_not_seen():
    got = volumes.pod_volumes(_spec({"name": "site", "configMap": {"name": "web"}}), "other", _lookup(CONFIG))
    assert got.problems and not got.volumes


def test_empty_dir_volumes_have_no_files_and_are_writable():
    got = volumes.pod_volumes(_spec({"name": "scratch", "emptyDir": {}}), "default", _lookup())
    assert got.volumes["scratch"].files is None and not got.volumes["scratch"].read_only


def test_downward_api_files_are_formatted_as_kubelet_writes_them():
    spec = _spec({"name": "info", "downwardAPI": {"items": [
        {"path": "labels", "fieldRef": {"fieldPath": "metadata.labels"}},
        {"path": "name", "fieldRef": {"fieldPath": "metadata.name"}}]}})
    got = volumes.pod_volumes(spec, "default", _lookup(), {"name": "web-1", "labels": {"tier": "a", "app": "web"}})
    assert got.volumes["info"].files == {"labels": (b'app="web"\ntier="a"', 0o644), "name": (b"web-1", 0o644)}


def test_a_projected_volume_joins_its_sources_in_one_folder():
    spec = _spec({"name": "all", "projected": {"sources": [
        {"configMap": {"name": "web", "items": [{"key": "a.conf", "path": "a.conf"}]}},
        {"secret": {"name": "creds"}}]}})
    got = volumes.pod_volumes(spec, "default", _lookup(CONFIG, SECRET))
    assert sorted(got.volumes["all"].files) == ["a.conf", "password", "user"]
