"""The lab's API server: uid, creationTimestamp, generation and resourceVersion as kube-apiserver sets
them, kubectl apply's created/configured/unchanged, conflicts, and a watch of every write."""

import random

import pytest

from netlab import state, store


def deployment(image="nginx", replicas=2, labels=None):
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", **({"labels": labels} if labels else {})},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "web"}},
                     "template": {"metadata": {"labels": {"app": "web"}},
                                  "spec": {"containers": [{"name": "c", "image": image}]}}}}


@pytest.fixture
def api():
    return store.EmbeddedStore(state.LabState(lab="t"), now=1_800_000_000.0, rng=random.Random(1))


def test_a_created_object_gets_uid_creation_time_generation_one_and_a_resource_version(api):
    stored, verb = api.apply(deployment())
    meta = stored["metadata"]
    assert verb == "created" and meta["namespace"] == "default" and meta["generation"] == 1
    assert len(meta["uid"]) == 36 and meta["creationTimestamp"] == "2027-01-15T08:00:00Z"
    assert meta["resourceVersion"] == "1"


def test_apply_says_unchanged_configured_and_only_a_spec_change_bumps_generation(api):
    first, _ = api.apply(deployment())
    uid = first["metadata"]["uid"]
    assert api.apply(deployment())[1] == "unchanged"
    relabelled, verb = api.apply(deployment(labels={"tier": "x"}))
    assert verb == "configured" and relabelled["metadata"]["generation"] == 1
    rolled, verb = api.apply(deployment(image="nginx:2"))
    assert verb == "configured" and rolled["metadata"]["generation"] == 2
    assert rolled["metadata"]["uid"] == uid and rolled["metadata"]["resourceVersion"] == "3"


def test_an_update_with_a_stale_resource_version_is_a_conflict(api):
    stored, _ = api.apply(deployment())
    stale = dict(stored, metadata=dict(stored["metadata"]))
    api.apply(deployment(replicas=3))
    with pytest.raises(store.StoreError, match="has been modified"):
        api.update(stale)


def test_create_refuses_an_existing_name_and_delete_a_missing_one(api):
    api.create(deployment())
    with pytest.raises(store.StoreError, match="already exists"):
        api.create(deployment())
    with pytest.raises(store.StoreError, match='deployment "nope" not found in namespace "default"'):
        api.delete("Deployment", "default", "nope")


def test_watch_lists_every_write_after_a_resource_version(api):
    api.apply(deployment())
    api.apply(deployment(replicas=5))
    api.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team"}})
    api.delete("Deployment", "default", "web")
    assert api.watch(1) == [("MODIFIED", 2, ("Deployment", "default", "web")), ("ADDED", 3, ("Namespace", None, "team")),
                            ("DELETED", 4, ("Deployment", "default", "web"))]
    assert [o["kind"] for o in api.list()] == ["Namespace"]
    assert api.get("Namespace", None, "team")["metadata"]["generation"] == 1


def test_what_a_user_wrote_is_the_object_without_server_fields(api):
    stored, _ = api.apply(deployment())
    assert store.as_applied(stored) == dict(deployment(), metadata={"name": "web", "namespace": "default"})
