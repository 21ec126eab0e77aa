"""kubectl's verbs that change objects: label, annotate, patch, edit, and the generators behind
expose, create deployment, create service and run.

The decisions are pure: a verb takes the object as stored (or a pod as the API shows it) and
returns the object it becomes, or the object a generator writes, as kubectl builds them
(k8s.io/kubectl/pkg/cmd/{label,annotate,patch,edit,expose,run,create}). `commit` is the one
action: the new objects go through the same validation, admission and reconcile as
`netlab apply`, so a change kubectl would have refused is refused here and nothing changes.

A pod a ReplicaSet made is not an object users applied; its labels and annotations live on the
lab's pod record, and a label change there is what the ReplicaSet controller then sees (a pod
whose labels stop matching is released, and the ReplicaSet makes a new one).
"""

from __future__ import annotations

import copy
import re
import time
from types import SimpleNamespace

from netlab import state as lab_state
from netlab import store


class EditError(Exception):
    """A verb's arguments kubectl would refuse (its message, without the `error: ` kubectl adds)."""


# -- label and annotate ------------------------------------------------------------------------

def split_changes(args: list) -> tuple:
    """(resource args, {key: value} to set, [keys] to remove) from `label`'s arguments, as
    kubectl tells them apart: KEY=VALUE and KEY- are changes, the rest name objects."""
    targets, sets, removes = [], {}, []
    for arg in args:
        if "=" in arg:
            key, _, value = arg.partition("=")
            if not key:
                raise EditError(f"invalid label spec: {arg}")
            sets[key] = value
        elif arg.endswith("-") and len(arg) > 1:
            removes.append(arg[:-1])
        else:
            targets.append(arg)
    both = set(sets) & set(removes)
    if both:
        raise EditError(f"can not both modify and remove the following label(s) in the same command: "
                        f"{', '.join(sorted(both))}")
    return targets, sets, removes


def relabel(current: dict | None, sets: dict, removes: list, overwrite: bool, what: str = "label") -> tuple:
    """(the new map, notes) for a labels or annotations map: kubectl label's rules (a key that
    has a value needs --overwrite; removing a key that is not there is a note, not an error)."""
    result = dict(current or {})
    notes = []
    for key, value in sets.items():
        if not overwrite and key in result and result[key] != value:
            raise EditError(f"'{key}' already has a value ({result[key]}), and --overwrite is false")
        result[key] = value
    for key in removes:
        if key in result:
            del result[key]
        else:
            notes.append(f'{what} "{key}" not found.')
    return result, notes


def label_message(before: dict, after: dict, overwrite: bool) -> str:
    """kubectl label's word for one object: labeled, unlabeled (only removals) or not labeled."""
    if before == after:
        return "not labeled"
    if not overwrite and len(after) < len(before):
        return "unlabeled"
    return "labeled"


# -- generators --------------------------------------------------------------------------------

def container_name(image: str) -> str:
    """The container name kubectl create deployment derives from an image
    (registry.k8s.io/e2e-test-images/agnhost:2.39 -> agnhost)."""
    name = image.rsplit("/", 1)[-1].split("@", 1)[0].split(":", 1)[0]
    return re.sub(r"[^a-z0-9-]", "-", name.lower()).strip("-") or "container"


def deployment(name: str, image: str, replicas: int = 1, port: int | None = None, command: list | None = None,
               namespace: str = "default") -> dict:
    """`kubectl create deployment NAME --image IMAGE [--replicas N] [--port P] [-- COMMAND]`."""
    container: dict = {"name": container_name(image), "image": image, "resources": {}}
    if command:
        container["command"] = list(command)
    if port:
        container["ports"] = [{"containerPort": port}]
    labels = {"app": name}
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": name, "namespace": namespace, "labels": dict(labels)},
            "spec": {"replicas": replicas, "selector": {"matchLabels": dict(labels)}, "strategy": {},
                     "template": {"metadata": {"labels": dict(labels)},
                                  "spec": {"containers": [container]}}}}


def parse_port_pair(text: str) -> tuple:
    """`80:8080` -> (80, 8080); `80` -> (80, 80): kubectl create service's --tcp."""
    port, _, target = text.partition(":")
    try:
        return int(port), int(target) if target else int(port)
    except ValueError:
        raise EditError(f"invalid port pair {text!r}: want PORT[:TARGET_PORT], e.g. 80:8080") from None


def service(kind: str, name: str, tcp: list, node_port: int | None = None, namespace: str = "default") -> dict:
    """`kubectl create service clusterip|nodeport|loadbalancer NAME --tcp=PORT:TARGET`: selector app=NAME,
    ports named PORT-TARGET, as kubectl's generator names them."""
    types = {"clusterip": "ClusterIP", "nodeport": "NodePort", "loadbalancer": "LoadBalancer"}
    if kind not in types:
        raise EditError(f"netlab creates clusterip, nodeport and loadbalancer services (not {kind!r})")
    if not tcp:
        raise EditError("at least one --tcp=PORT:TARGET_PORT is required")
    ports = []
    for pair in tcp:
        port, target = parse_port_pair(pair)
        entry = {"name": f"{port}-{target}", "port": port, "protocol": "TCP", "targetPort": target}
        if node_port and types[kind] == "NodePort":
            entry["nodePort"] = node_port
        ports.append(entry)
    return {"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": name, "namespace": namespace, "labels": {"app": name}},
            "spec": {"ports": ports, "selector": {"app": name}, "type": types[kind]}}


def _port_value(text):
    return int(text) if isinstance(text, str) and text.isdigit() else text


def expose(source: dict, port: str | None, target_port: str | None, service_type: str | None,
           name: str | None, protocol: str | None, selector: str | None = None) -> dict:
    """`kubectl expose KIND NAME`: a Service selecting what the object selects (a Pod's labels, a
    workload's matchLabels, a Service's selector), on --port or the first container port."""
    kind, meta = source.get("kind"), source.get("metadata") or {}
    if selector:
        chosen = dict(item.split("=", 1) for item in selector.split(","))
    elif kind == "Pod":
        chosen = dict(meta.get("labels") or {})
    elif kind == "Service":
        chosen = dict((source.get("spec") or {}).get("selector") or {})
    else:
        match = ((source.get("spec") or {}).get("selector") or {})
        if match.get("matchExpressions"):
            raise EditError(f"couldn't retrieve selectors via --selector flag or introspection: the "
                            f"{kind} has matchExpressions, which a Service selector cannot express")
        chosen = dict(match.get("matchLabels") or {})
    if not chosen:
        raise EditError(f"couldn't retrieve selectors via --selector flag or introspection: the {kind} "
                        f"{meta.get('name')} has no labels to select")
    pod_spec = source.get("spec") if kind == "Pod" else ((source.get("spec") or {}).get("template") or {}).get("spec")
    container_ports = [p for c in (pod_spec or {}).get("containers") or [] for p in c.get("ports") or []]
    if port is None:
        if kind == "Service":
            ports = [dict(p) for p in (source.get("spec") or {}).get("ports") or []]
        elif container_ports:
            ports = [{"port": p["containerPort"], "protocol": p.get("protocol", protocol or "TCP"),
                      "targetPort": p["containerPort"]} for p in container_ports]
        else:
            raise EditError("couldn't find port via --port flag or introspection")
        if len(ports) > 1:
            for index, entry in enumerate(ports):      # kubectl names them when there are several
                entry.setdefault("name", f"port-{index + 1}")
    else:
        ports = [{"port": int(port), "protocol": protocol or "TCP",
                  "targetPort": _port_value(target_port) if target_port else int(port)}]
    for entry in ports:
        entry.pop("nodePort", None)
    service_name = name or meta.get("name")
    spec = {"ports": ports, "selector": chosen}
    if service_type:
        spec["type"] = service_type
    labels = dict(meta.get("labels") or {}) if kind != "Service" else {}
    result = {"apiVersion": "v1", "kind": "Service",
              "metadata": {"name": service_name, "namespace": meta.get("namespace") or "default"},
              "spec": spec}
    if labels:
        result["metadata"]["labels"] = labels
    return result


def run_pod(name: str, image: str, args: list, command: bool = False, port: int | None = None,
            labels: str | None = None, env: list | None = None, restart: str = "Always",
            stdin: bool = False, tty: bool = False, namespace: str = "default") -> dict:
    """`kubectl run NAME --image IMAGE [-- ARGS]`: a bare Pod labelled run=NAME (or --labels),
    its ARGS the container's args, or its command with --command."""
    container: dict = {"name": name, "image": image, "resources": {}}
    if args:
        container["command" if command else "args"] = list(args)
    if port:
        container["ports"] = [{"containerPort": port}]
    if env:
        container["env"] = [{"name": k, "value": v} for k, _, v in (item.partition("=") for item in env)]
    if stdin:
        container["stdin"] = True
        container["stdinOnce"] = True
    if tty:
        container["tty"] = True
    chosen = dict(item.split("=", 1) for item in labels.split(",")) if labels else {"run": name}
    restarts = {"always": "Always", "onfailure": "OnFailure", "never": "Never"}
    if restart.lower() not in restarts:
        raise EditError(f'invalid restart policy: {restart} (one of Always, OnFailure, Never)')
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": namespace, "labels": chosen},
            "spec": {"containers": [container], "dnsPolicy": "ClusterFirst",
                     "restartPolicy": restarts[restart.lower()]}}


# -- edit --------------------------------------------------------------------------------------

def editable(obj: dict) -> dict:
    """What `kubectl edit` opens: the object as `get -o yaml` shows it, status included."""
    result = copy.deepcopy(obj)
    (result.get("metadata") or {}).pop("managedFields", None)
    return result


def as_submitted(obj: dict) -> dict:
    """An edited or patched object as it is written back: without what the server keeps for itself."""
    result = store.as_applied(obj)
    for field in ("selfLink", "deletionTimestamp", "deletionGracePeriodSeconds", "ownerReferences"):
        result["metadata"].pop(field, None)
    annotations = result["metadata"].get("annotations")
    if annotations is not None:
        from netlab import views
        annotations.pop(views.NETNS_ANNOTATION, None)
        if not annotations:
            result["metadata"].pop("annotations")
    return result


# -- the action --------------------------------------------------------------------------------

def commit(lab: str, objects: list, verb: str, source: str, dry_run: str | None = None) -> list:
    """Write OBJECTS (full objects, as applied) to the lab as `netlab apply` would, and return
    kubectl's line for each: `service/web patched`, `deployment.apps/web created (dry run)`.
    Validation errors name SOURCE; an object that did not change says `(no change)` where
    kubectl does."""
    from netlab import lab as lab_mod
    from netlab import manifest
    parsed = manifest.parse_objects(objects, source=source, validate="strict")
    loaded = SimpleNamespace(objects=parsed, lab=None, warnings=[])
    report = lab_mod.apply(lab, loaded, create=False, dry_run=dry_run)
    suffix = {None: "", "client": " (dry run)", "server": " (server dry run)"}[dry_run]
    lines = []
    for raw, line in zip(objects, report.objects_changed + report.objects_unchanged):
        resource = f"{lab_mod.resource_name(raw['kind'])}/{raw['metadata']['name']}"
        unchanged = line in report.objects_unchanged
        if verb == "patched" and unchanged:
            lines.append(f"{resource} patched (no change){suffix}")
        elif verb == "edited" and unchanged:
            lines.append(f"{resource} unchanged{suffix}")       # (edit says "Edit cancelled" before this)
        else:
            lines.append(f"{resource} {verb}{suffix}")
    return lines


def change_pod_record(lab: str, namespace: str, name: str, labels: dict | None = None,
                      annotations: dict | None = None) -> None:
    """Set a controller's pod's labels and/or annotations, then let the controllers look (a pod whose
    labels stop matching its ReplicaSet is released, and the ReplicaSet replaces it)."""
    from netlab import lab as lab_mod
    with lab_state.locked(lab):
        st = lab_state.load(lab)
        record = st.pods.get(f"{namespace}/{name}") if st else None
        if record is None:
            raise lab_mod.NotFound("Pod", name)
        if labels is not None:
            record["labels"] = dict(labels)
        if annotations is not None:
            record["annotations"] = dict(annotations)
        report = lab_mod.Report(lab=lab, topology=lab_mod.topology_of(lab, st.config))
        lab_mod.reconcile(lab, st, report, wait_ready=0, ensure_network=False)
        lab_state.save(st)
    lab_mod._wake_supervisor(lab)


def stored(lab: str, kind: str, namespace: str | None, name: str) -> dict | None:
    """The object as applied (with its server fields), or None when it is not a stored object."""
    st = lab_state.load(lab)
    if st is None:
        from netlab.lab import LabError
        raise LabError(f"lab {lab!r} is not up")
    return copy.deepcopy(store.EmbeddedStore(st, time.time()).get(kind, namespace, name))
