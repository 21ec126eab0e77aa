"""kubectl's workload verbs on a lab: scale, set image, rollout status|history|undo|restart.

Each change edits the stored object as kubectl's patch would (spec.replicas, a container's image,
the template taken back from an older ReplicaSet, a restartedAt annotation), checks it with the
manifest validator, and runs a reconcile pass; the supervisor then carries the rollout on.
"""

from __future__ import annotations

import copy
import datetime
import time

from netlab import state as lab_state, store
from netlab.cluster import controllers, workloads
from netlab.lab import resource_name

RESTARTED_AT = "kubectl.kubernetes.io/restartedAt"
CHANGE_CAUSE = "kubernetes.io/change-cause"
KINDS = {"deployment": "Deployment", "deployments": "Deployment", "deploy": "Deployment",
         "replicaset": "ReplicaSet", "replicasets": "ReplicaSet", "rs": "ReplicaSet"}


def parse_target(target: str, allowed=("Deployment", "ReplicaSet")) -> tuple:
    """("Deployment", "web") from "deployment/web" or "deploy/web" (kubectl's TYPE/NAME)."""
    from netlab.lab import LabError
    kind, _, name = target.partition("/")
    resolved = KINDS.get(kind.lower())
    if not name or resolved not in allowed:
        spelled = " or ".join(f"{k.lower()}/NAME" for k in allowed)
        raise LabError(f"say which workload as {spelled} (not {target!r})")
    return resolved, name


def _find(st, kind: str, namespace: str, name: str) -> dict:
    from netlab.lab import LabError, object_key
    for raw in st.objects:
        if object_key(raw) == (kind, namespace, name):
            return raw
    raise LabError(f'{resource_name(kind)} "{name}" not found in namespace "{namespace}"')


def _change(lab: str, kind: str, namespace: str, name: str, edit, cause: str | None = None) -> str:
    """Apply EDIT(raw) to the stored object (recording CAUSE in its change-cause annotation),
    validate it, reconcile; "changed" or "unchanged"."""
    from netlab import lab as lab_mod
    from netlab import manifest
    with lab_state.locked(lab):
        st = lab_state.load(lab)
        if st is None:
            raise lab_mod.LabError(f"lab {lab!r} is not up")
        raw = _find(st, kind, namespace, name)
        changed = copy.deepcopy(raw)
        edit(changed)
        if cause is not None:
            changed.setdefault("metadata", {}).setdefault("annotations", {})[CHANGE_CAUSE] = cause
        lab_mod.check_capacity(manifest.parse_objects([changed], source=f"{resource_name(kind)}/{name}", validate="ignore"),
                               lab_mod.topology_of(lab, st.config))
        unchanged = changed == raw
        if not unchanged:
            store.EmbeddedStore(st, time.time()).update(changed)
            report = lab_mod.Report(lab=lab, topology=lab_mod.topology_of(lab, st.config))
            lab_mod.reconcile(lab, st, report, wait_ready=0, ensure_network=False)
    lab_mod._wake_supervisor(lab)
    return "unchanged" if unchanged else "changed"


def scale(lab: str, target: str, namespace: str, replicas: int, cause: str | None = None) -> str:
    """kubectl scale: spec.replicas of a Deployment or ReplicaSet."""
    from netlab.lab import LabError
    kind, name = parse_target(target)
    if replicas < 0:
        raise LabError("--replicas must be 0 or more")

    def edit(raw):
        raw.setdefault("spec", {})["replicas"] = replicas
    _change(lab, kind, namespace, name, edit, cause)
    return f"{resource_name(kind)}/{name} scaled"


def set_image(lab: str, target: str, namespace: str, assignments: list, cause: str | None = None) -> str:
    """kubectl set image: CONTAINER=IMAGE (or *=IMAGE) in the pod template."""
    from netlab.lab import LabError
    kind, name = parse_target(target)
    wanted = {}
    for item in assignments:
        container, sep, image = item.partition("=")
        if not sep or not container or not image:
            raise LabError(f"set image takes CONTAINER=IMAGE, not {item!r}")
        wanted[container] = image

    def edit(raw):
        containers = (((raw.get("spec") or {}).get("template") or {}).get("spec") or {}).get("containers") or []
        known = {c.get("name") for c in containers}
        missing = [c for c in wanted if c != "*" and c not in known]
        if missing:
            raise LabError(f'unable to find container named "{missing[0]}"')
        for container in containers:
            image = wanted.get(container.get("name"), wanted.get("*"))
            if image:
                container["image"] = image
    result = _change(lab, kind, namespace, name, edit, cause)
    return f"{resource_name(kind)}/{name} image updated" if result == "changed" else f"{resource_name(kind)}/{name} unchanged"


def restart(lab: str, target: str, namespace: str) -> str:
    """kubectl rollout restart: a restartedAt annotation on the template starts a new rollout."""
    kind, name = parse_target(target, ("Deployment",))
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")

    def edit(raw):
        meta = raw["spec"]["template"].setdefault("metadata", {})
        meta.setdefault("annotations", {})[RESTARTED_AT] = stamp
    _change(lab, kind, namespace, name, edit)
    return f"{resource_name(kind)}/{name} restarted"


def _owned(st, namespace: str, name: str) -> list:
    uid = (st.deployments.get(f"{namespace}/{name}") or {}).get("uid")
    records = [controllers.ReplicaSetRecord.from_dict(r) for r in st.replicasets.values()]
    return sorted((r for r in records if uid and r.owner_uid == uid), key=lambda r: r.revision)


def history(lab: str, target: str, namespace: str) -> list:
    """kubectl rollout history: (revision, change-cause) of each ReplicaSet the Deployment kept."""
    from netlab.lab import _loaded_lab
    kind, name = parse_target(target, ("Deployment",))
    st, _ = _loaded_lab(lab)
    _find(st, kind, namespace, name)
    # the ReplicaSet's own annotations, copied from the Deployment's when it was the new one
    return [(r.revision, (r.annotations or {}).get(CHANGE_CAUSE)) for r in _owned(st, namespace, name)]


def undo(lab: str, target: str, namespace: str, to_revision: int = 0) -> str:
    """kubectl rollout undo: the template of the previous (or given) revision becomes the Deployment's."""
    from netlab.lab import LabError, _loaded_lab
    kind, name = parse_target(target, ("Deployment",))
    st, _ = _loaded_lab(lab)
    owned = _owned(st, namespace, name)
    if to_revision:
        chosen = next((r for r in owned if r.revision == to_revision), None)
        if chosen is None:
            raise LabError(f"unable to find specified revision {to_revision} in history")
    else:
        if len(owned) < 2:
            raise LabError("no rollout history found for deployment \"%s\"" % name)
        chosen = owned[-2]
    template = copy.deepcopy(chosen.template)
    labels = dict((template.get("metadata") or {}).get("labels") or {})
    labels.pop(controllers.HASH_LABEL, None)
    template.setdefault("metadata", {})["labels"] = labels

    def edit(raw):
        raw["spec"]["template"] = template
    result = _change(lab, kind, namespace, name, edit)
    if result == "unchanged":
        return f"{resource_name(kind)}/{name} skipped rollback (current template already matches revision {chosen.revision})"
    return f"{resource_name(kind)}/{name} rolled back"


def status_lines(lab: str, target: str, namespace: str, watch: bool = True, timeout: float = 600.0):
    """kubectl rollout status: each new status line until the rollout is done (or just one, unwatched)."""
    from netlab.lab import LabError, _loaded_lab
    kind, name = parse_target(target, ("Deployment",))
    deadline = time.monotonic() + timeout
    last = None
    while True:
        st, _ = _loaded_lab(lab)
        raw = _find(st, kind, namespace, name)
        record = st.deployments.get(f"{namespace}/{name}") or {}
        replicas = int((raw.get("spec") or {}).get("replicas", 1))
        status = dict(record.get("status") or {})
        # the controller has not seen the latest spec until its observedGeneration reaches it
        status["observedGeneration"] = record.get("generation", 0)
        generation = (raw.get("metadata") or {}).get("generation", 1)
        try:
            line = workloads.rollout_status_message(name, replicas, status, generation)
        except workloads.ProgressDeadlineExceeded as err:
            raise LabError(str(err)) from None
        if line != last:
            yield line
            last = line
        if line.endswith("successfully rolled out") or not watch:
            return
        if time.monotonic() > deadline:
            raise LabError("timed out waiting for the condition")
        time.sleep(0.1)
