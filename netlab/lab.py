"""A lab's life: up, apply, delete, down, and reconcile, the controllers' and kube-proxy's pass.

`up`, `apply` and `delete` write the store (netlab.store) under the lab's lock and end in
reconcile(): the workload controllers decide (netlab.cluster.controllers), then what is missing
is built and what is no longer wanted is marked for deletion, each step recorded in the state
first, so that an interrupted run is finished by the next one and `down` can always remove
everything; kube-proxy's rules follow (netlab.proxier). The supervisor (netlab.supervisor) runs
the same pass, with the kubelet's, whenever something happens. Reading a lab is netlab.inspect.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import time
from dataclasses import dataclass, field

from netlab import crashpoints, names, state as lab_state, store
from netlab.cluster import addons, controllers, dnsrecords, downward
from netlab.cluster.controllers import PodInstance
from netlab.cluster.topology import Topology, build_topology, pod_ips
from netlab.kubelet import dns, envvars, volumes
from netlab.manifest import admission
from netlab.dataplane import etc, netns
from netlab import runtime

BUILDING, RUNNING = "building", "running"


class LabError(Exception):
    """A lab-level problem the user can act on; the message says what to do."""


class NotFound(LabError):
    """An object that is not there, said as the API server says it through kubectl:
    `Error from server (NotFound): pods "x" not found`, `deployments.apps "x"`."""

    def __init__(self, kind: str, name: str):
        super().__init__(f'Error from server (NotFound): {plural_resource(kind)} "{name}" not found')


def plural_resource(kind: str) -> str:
    """The API's resource name kubectl's errors use: `pods`, `deployments.apps`, `endpoints`."""
    plural = kind.lower() if kind == "Endpoints" else kind.lower() + "s"
    return plural + (f".{API_GROUPS[kind]}" if kind in API_GROUPS else "")


@dataclass
class Report:
    lab: str
    topology: Topology
    created: list = field(default_factory=list)
    deleted: list = field(default_factory=list)
    pending: list = field(default_factory=list)
    not_ready: list = field(default_factory=list)
    warnings: list = field(default_factory=list)
    changed: bool = False
    seconds: float = 0.0
    objects_changed: list = field(default_factory=list)
    rules_synced: list = field(default_factory=list)
    not_gone: list = field(default_factory=list)
    objects_unchanged: list = field(default_factory=list)
    rule_stats: dict = field(default_factory=dict)      # node -> (rule lines restored, seconds)
    rules_deferred_until: float | None = None         # kube-proxy's rate limit held a sync back
    events: list = field(default_factory=list)


KIND_ALIASES = {
    "node": "Node", "nodes": "Node", "no": "Node",
    "pod": "Pod", "pods": "Pod", "po": "Pod",
    "deployment": "Deployment", "deployments": "Deployment", "deploy": "Deployment",
    "replicaset": "ReplicaSet", "replicasets": "ReplicaSet", "rs": "ReplicaSet",
    "service": "Service", "services": "Service", "svc": "Service",
    "namespace": "Namespace", "namespaces": "Namespace", "ns": "Namespace",
    "endpoints": "Endpoints", "ep": "Endpoints",
    "endpointslice": "EndpointSlice", "endpointslices": "EndpointSlice",
    "event": "Event", "events": "Event", "ev": "Event",
    "configmap": "ConfigMap", "configmaps": "ConfigMap", "cm": "ConfigMap",
    "secret": "Secret", "secrets": "Secret",
}

# -- objects ------------------------------------------------------------------------------------

def object_key(raw: dict) -> tuple:
    """(kind, namespace, name) of an object as the store keys it."""
    return store.key_of(raw)


def replicaset_objects(st) -> list:
    """Typed ReplicaSets for those the lab's Deployments made (applied ones are among the objects)."""
    docs = []
    for record in st.replicasets.values():
        if not record.get("owner"):
            continue
        doc = controllers.ReplicaSetRecord.from_dict(record).document()
        doc["metadata"] = {k: doc["metadata"][k] for k in ("name", "namespace", "labels")}
        doc.pop("status")
        docs.append(doc)
    return parse_stored(docs) if docs else []


def observe_pods(lab: str, st, objects, pod_status=None, topology=None) -> dict:
    """What kubelet reports of each pod, as the controllers read it: (ns, name) -> Observed."""
    pod_status = pod_status or runtime.pod_status
    topology = topology or topology_of(lab, st.config)
    from netlab.kubelet import kubelet
    sources = {o.key: o for o in objects + replicaset_objects(st)}
    seen = {}
    for record in st.pods.values():
        if not record.get("node") or record.get("phase") != RUNNING:
            continue
        source = sources.get(tuple(record["source"]))
        if source is None:
            continue
        status = pod_status_of(lab, topology, record, pod_status)
        ready = kubelet.pod_ready(record, source.pod_spec, status)
        memory = record.get("kubelet") or {}
        restarts = sum((c or {}).get("restart_count", 0) for c in (memory.get("containers") or {}).values())
        seen[(record["namespace"], record["name"])] = controllers.Observed(
            phase="Running" if status.owner_alive else "Unknown", ready=ready,
            ready_since=memory.get("readySince") or (record.get("created") if ready else None),
            restart_count=restarts)
    return seen


_PARSED: dict = {}       # the object's JSON -> the typed object: the same content is parsed once
_PARSED_KEPT = 20000


def parse_stored(objects: list):
    """Typed objects from the raw ones recorded in the state (validated when first applied).

    Parsing is cached by content, so a long-lived supervisor does not re-validate every manifest on
    every pass (writing an object's JSON costs a fraction of checking it).
    """
    import json
    from netlab import manifest
    keys = [json.dumps(raw, sort_keys=True, separators=(",", ":")) for raw in objects]
    todo = {key: raw for raw, key in zip(objects, keys) if key not in _PARSED}
    if todo and len(_PARSED) + len(todo) > _PARSED_KEPT:
        _PARSED.clear()
        todo = dict(zip(keys, objects))
    if todo:
        # validated when applied (perhaps with --validate=warn): unknown fields are not news any more
        parsed = manifest.parse_objects(list(todo.values()), source="<lab state>", validate="ignore")
        _PARSED.update(zip(todo, parsed))
    return [_PARSED[key] for key in keys]


# -- pods ---------------------------------------------------------------------------------------

def stored_lookup(objects) -> volumes.Lookup:
    """(kind, namespace, name) -> the stored ConfigMap or Secret map, for volumes and env."""
    held = {o.key: o.raw for o in objects if getattr(o, "kind", None) in ("ConfigMap", "Secret")}
    return lambda kind, namespace, name: held.get((kind, namespace, name))


def pod_volumes(pod: PodInstance, source_obj, lookup: volumes.Lookup) -> volumes.PodVolumes:
    """What kubelet puts in each of the pod's volumes (or why it cannot yet)."""
    template_meta = (source_obj.pod_template_raw or {}).get("metadata") or {}
    meta = {"name": pod.name, "namespace": pod.namespace, "uid": pod.uid, "labels": dict(pod.labels),
            "annotations": dict(template_meta.get("annotations") or {})}
    return volumes.pod_volumes(source_obj.pod_spec.raw, pod.namespace, lookup, meta)


def runtime_spec(lab: str, pod: PodInstance, source_obj, topology: Topology, warnings: list,
                 pod_vols: volumes.PodVolumes | None = None, lookup: volumes.Lookup | None = None,
                 config_errors: list | None = None, services: list | None = None):
    """The runtime's view of one pod: its namespace, addresses, resolved containers and volumes
    (env from ConfigMaps and Secrets through LOOKUP; what is missing goes to CONFIG_ERRORS; the
    Service variables of SERVICES, the lab's Services with their cluster IPs, as kubelet sets them)."""
    spec = source_obj.pod_spec
    node = topology.node(pod.node)
    pod_vols = pod_vols or volumes.PodVolumes()
    service_env = envvars.service_env(services or [], pod.namespace, spec.raw.get("enableServiceLinks") is not False)
    containers = []
    for container in spec.containers:
        env = downward.container_env(container, pod, node, warnings, lookup=lookup, config_errors=config_errors,
                                     service_env=service_env, families=topology.ip_families)
        mounts = []
        for m in container.raw.get("volumeMounts") or ():
            volume = pod_vols.volumes.get(m.get("name"))
            if volume is not None:
                mounts.append((m["name"], m["mountPath"], bool(m.get("readOnly")) or volume.read_only,
                               m.get("subPath") or ""))
        containers.append(runtime.ContainerSpec(
            name=container.name, image=container.image, command=container.command, args=container.args,
            env=env, ports=[(p.container_port, p.protocol) for p in container.ports or ()],
            working_dir=container.working_dir, run_as_user=container.run_as_user, mounts=mounts,
            stdin=container.raw.get("stdin") is True, stdin_once=container.raw.get("stdinOnce") is True,
            tty=container.raw.get("tty") is True))
    grace = spec.termination_grace_period_seconds
    return runtime.PodRuntimeSpec(
        # pod_ip: the IPv4 address, the IPv6 one on an IPv6-only lab; host_ip: status.hostIP
        lab=lab, namespace=pod.namespace, name=pod.name, node=pod.node, pod_ip=pod.ip or pod.ip6,
        host_ip=node.internal_ips(topology.ip_families)[0], pod_ip6=getattr(pod, "ip6", None),
        netns=names.pod_netns(lab, pod.namespace, pod.name),
        hostname=dns.pod_hostname_and_domain(pod.name, pod.namespace, spec.raw)[0],
        state_dir=names.pod_dir(lab, pod.namespace, pod.name, pod.uid), containers=containers,
        termination_grace_seconds=min(float(grace if grace is not None else 30), 2.0),
        volume_files={v.name: v.files for v in pod_vols.volumes.values() if v.files is not None})


def _services_now(st: lab_state.LabState, objects, topology: Topology) -> list:
    """The lab's Services with their cluster IPs, as the kubelet's informer holds them when a
    container starts (the allocations are kube-proxy's sync's too, so both agree)."""
    from netlab import proxier
    from netlab.cluster.services import ServiceError
    try:
        return proxier.allocate(objects, st, topology)
    except ServiceError:          # refused at apply; a stored clash gives no variables, not a failed pass
        return []


def _cluster_dns(services: list) -> str | None:
    """The cluster DNS address pods are pointed at: the kube-system/kube-dns Service's (a new lab
    starts with it, netlab/cluster/addons.py). A lab without it (clusterDNS disabled, or the
    Service deleted) gives None, and its pods see the host's resolv.conf through: a lookup sent to
    an address no rule serves would wait out every search path (20 s)."""
    for service in services:
        meta = service.get("metadata") or {}
        if (meta.get("namespace"), meta.get("name")) == ("kube-system", "kube-dns"):
            ip = (service.get("spec") or {}).get("clusterIP")
            return ip if ip not in (None, "", "None") else None
    return None


# --------------------------------------------------------------------- a lab across hosts

HOST_FILE = "host"     # in the lab's folder: which of spec.hosts this machine is (written by `up`)


def local_host(lab: str, config) -> str | None:
    """Which of CONFIG's hosts this machine is, for a lab across hosts (None for one that is not):
    NETLAB_HOST, else what `up` recorded, else the host whose address this machine has."""
    hosts = getattr(config, "hosts", None) or ()
    if not hosts:
        return None
    names_of = [h.name for h in hosts]
    chosen = os.environ.get("NETLAB_HOST")
    if not chosen:
        try:
            chosen = (names.lab_dir(lab) / HOST_FILE).read_text().strip()
        except OSError:
            chosen = None
    if not chosen:
        mine = _own_addresses()
        chosen = next((h.name for h in hosts if str(h.address) in mine), None)
    if chosen not in names_of:
        raise LabError(f"this machine is none of lab {lab!r}'s hosts ({', '.join(f'{h.name} {h.address}' for h in hosts)}): "
                       "run netlab on one of them, or name it with NETLAB_HOST")
    return chosen


def _own_addresses() -> set:
    """The IPv4 addresses of this machine (of the network namespace netlab runs in)."""
    from pyroute2 import IPRoute
    with IPRoute() as ipr:
        return {a.get_attr("IFA_ADDRESS") for a in ipr.get_addr(family=2)}


def join_hosts(lab: str, config) -> str:
    """Make this machine one of the hosts of lab LAB (CONFIG's spec.hosts): record which one it is
    and point its state at the lab's etcd, before the lab is locked or loaded. Returns the host."""
    host = local_host(lab, config)
    folder = lab_state.ensure_lab_dir(lab)
    (folder / HOST_FILE).write_text(host + "\n")
    lab_state.use_etcd(lab, config.store_etcd)
    return host


def leave_hosts(lab: str, st) -> list:
    """This host leaves lab LAB (`down` on one host of a lab across hosts): its pods are marked to
    be built again when it comes back (so no other host sends them traffic meanwhile) and it is
    struck from the hosts that are up. Returns the hosts still up; saves ST."""
    topology = topology_of(lab, st.config)
    up = [h for h in st.allocations.get("hosts_up") or [] if h != topology.host]
    for record in st.pods.values():
        if topology.is_local(record.get("node")):
            record["phase"] = BUILDING
            record.pop("status", None)
    st.allocations["hosts_up"] = up
    lab_state.save(st)
    return up


def status_from_record(record: dict):
    """The pod status its host's kubelet published in RECORD (a pod on another host of the lab),
    or a dead one when it has published none yet."""
    from netlab.runtime.spec import ContainerStatus, PodStatus
    data = record.get("status") or {}
    return PodStatus(owner_pid=data.get("owner_pid"), owner_alive=bool(data.get("owner_alive")),
                     containers=[ContainerStatus(**c) for c in data.get("containers") or ()])


def publish_status(record: dict, status) -> bool:
    """Put STATUS in RECORD for the lab's other hosts to read; True if it changed."""
    import dataclasses
    data = dataclasses.asdict(status)
    if record.get("status") == data:
        return False
    record["status"] = data
    return True


def pod_status_of(lab: str, topology: Topology, record: dict, local_status=None):
    """What kubelet knows of the pod of RECORD: from its state directory when its node runs on this
    machine, else what the kubelet of its host published (a lab across hosts)."""
    if topology.is_local(record.get("node")):
        return (local_status or runtime.pod_status)(names.pod_dir(lab, record["namespace"], record["name"],
                                                                  record["uid"]))
    return status_from_record(record)


def _record_of(pod: PodInstance, phase: str) -> dict:
    record = pod.to_dict()
    record["phase"] = phase
    return record


def _instance(record: dict) -> PodInstance:
    data = {k: v for k, v in record.items() if k not in ("phase",)}
    return PodInstance.from_dict(data)


def _network():
    """netlab.dataplane.network, imported when first needed (pyroute2 costs a read-only command 0.1 s)."""
    from netlab.dataplane import network
    return network


def _teardown_pod(lab: str, topology: Topology, pod: PodInstance) -> None:
    pod_dir = names.pod_dir(lab, pod.namespace, pod.name, pod.uid)
    runtime.stop_pod(pod_dir)
    crashpoints.reached("pod stopped")
    pod_ns = names.pod_netns(lab, pod.namespace, pod.name)
    if netns.exists(pod_ns):
        _kill_all(runtime.pids_in_netns(netns.path(pod_ns)))
    etc.remove(pod_ns)          # before the namespace: a crash in between leaves a namespace to find
    if pod.node:
        node_ns = names.node_netns(lab, pod.node)
        _network().remove_pod_network(node_ns, pod_ns, names.pod_host_veth(pod.namespace, pod.name, pod.uid),
                                      [ip for ip in (pod.ip, getattr(pod, "ip6", None)) if ip])
    shutil.rmtree(pod_dir, ignore_errors=True)


def _kill_all(pids: list, timeout: float = 2.0) -> None:
    """SIGKILL every pid and wait until each has exited, so that nothing of it is left when we return
    (a killed process lives on for a moment; `down` promises that nothing does)."""
    from netlab.runtime import linux
    fds = []
    for pid in pids:
        try:
            fd = os.pidfd_open(pid)
        except OSError:             # already gone
            continue
        linux.pidfd_kill(fd, signal.SIGKILL)
        fds.append(fd)
    try:
        linux.wait_pidfds(fds, timeout)
    finally:
        for fd in fds:
            os.close(fd)


def _pod_alive(lab: str, pod: PodInstance) -> bool:
    if not netns.exists(names.pod_netns(lab, pod.namespace, pod.name)):
        return False
    status = runtime.pod_status(names.pod_dir(lab, pod.namespace, pod.name, pod.uid))
    return bool(status.owner_alive)


class Machine:
    """What reconcile does to the machine: namespaces and links, pod sandboxes, processes, and
    kube-proxy's rules (`proxy`). The real one acts for real; unit tests use an in-memory one."""

    def __init__(self):
        from netlab import proxier
        self.proxy = proxier.NodeDataplane()

    def namespaces_exist(self, spaces: list) -> bool:
        return all(netns.exists(name) for name in spaces)

    def ensure_network(self, topology: Topology) -> None:
        """The underlay, every node and every client (idempotent: it repairs a half-built lab)."""
        network = _network()
        network.ensure_underlay(topology)
        for node in topology.local_nodes:
            network.ensure_node(topology, node)
        for client in topology.local_clients:
            network.ensure_client(topology, client)

    def pod_alive(self, lab: str, pod: PodInstance) -> bool:
        return _pod_alive(lab, pod)

    def teardown_pod(self, lab: str, topology: Topology, pod: PodInstance) -> None:
        _teardown_pod(lab, topology, pod)

    def wire_pod(self, lab: str, topology: Topology, pod: PodInstance, resolv_conf: str | None = None,
                 hostname: str | None = None, domain: str | None = None) -> None:
        """The pod's network namespace, its eth0 on the node's cni0, its address, /etc/hosts (with
        HOSTNAME, the pod's name unless its spec names one, and DOMAIN for a subdomain) and
        /etc/resolv.conf (RESOLV_CONF; None: the host's, seen through)."""
        node = topology.node(pod.node)
        pod_ns = names.pod_netns(lab, pod.namespace, pod.name)
        ip6 = getattr(pod, "ip6", None)
        _network().ensure_pod_network(topology, node, pod_ns, names.pod_host_veth(pod.namespace, pod.name, pod.uid),
                                      pod.ip, ip6)
        etc.write_pod_hosts(pod_ns, pod_ips(pod, topology.ip_families), hostname or pod.name, domain)
        if resolv_conf is not None:
            etc.write_pod_resolv_conf(pod_ns, resolv_conf)

    def wiring_batch(self):
        """A context in which wire_pod shares one rtnetlink socket per node."""
        return _network().pods_batch()

    def pod_starter(self):
        """start_pods in two halves: .launch(spec) for each pod as it is ready, then .finish()."""
        return runtime.PodStarter()

    def pod_status(self, state_dir):
        return runtime.pod_status(state_dir)

    def update_volumes(self, state_dir, volume_files: dict) -> list:
        """Swap in the new files of a running pod's configMap/secret volumes; the names changed."""
        return runtime.write_pod_volumes(state_dir, volume_files)

    def wait_answering(self, specs: list, timeout: float) -> list:
        return wait_until_answering(specs, timeout)

    def write_dns_records(self, state_dir, text: str) -> None:
        """A DNS pod's records file (what its unbound follows), replaced whole when it changed."""
        runtime.write_dns_records(state_dir, text)


# -- the lab ------------------------------------------------------------------------------------

def topology_of(lab: str, config_raw: dict | None) -> Topology:
    from netlab import manifest
    config = manifest.lab_config(config_raw)
    return build_topology(lab, config, local_host(lab, config))


def reconcile(lab: str, st: lab_state.LabState, report: Report, rng=None, wait_ready: float = 3.0,
              ensure_network: bool = True, machine: Machine | None = None) -> None:
    """Make the machine match ST: network, nodes, clients, pods. Saves ST as it goes."""
    machine = machine or Machine()
    topology = report.topology
    objects = parse_stored(st.objects)
    # 1. the fixed network: idempotent, and it repairs a half-built lab. `apply` on a lab that is
    # up skips it unless a node's namespace is missing (netlink round trips add up on big labs).
    lab_state.save(st)
    spaces = [topology.underlay_netns] + [n.netns for n in topology.local_nodes] + \
        [c.netns for c in topology.local_clients]
    if ensure_network or not machine.namespaces_exist(spaces):
        machine.ensure_network(topology)

    # 2. pods: half-built or dead sandboxes are rebuilt, then the controllers decide the rest. A pod
    # being deleted (deletionTimestamp) is left to the kubelet, which stops it within its grace period.
    existing, terminating = [], []
    for key, record in list(st.pods.items()):
        pod = _instance(record)
        if record.get("deletionTimestamp"):
            terminating.append(pod)
            continue
        # (a pod of another host's node is that host's to rebuild)
        if pod.node and topology.is_local(pod.node) and (record.get("phase") != RUNNING
                                                         or not machine.pod_alive(lab, pod)):
            machine.teardown_pod(lab, topology, pod)
            record["phase"] = BUILDING
            record.pop("kubelet", None)      # a new sandbox: kubelet's memory of the old one is void
            report.changed = True
        existing.append(pod)
    now = time.time()
    replicasets = {k: controllers.ReplicaSetRecord.from_dict(v) for k, v in st.replicasets.items()}
    pods_plan = controllers.plan_created(objects, existing, topology, st.last_reserved, rng=rng, now=now,
                                         reserved=terminating, replicasets=replicasets, deployments=st.deployments,
                                         observed=observe_pods(lab, st, objects, machine.pod_status, topology))
    report.warnings.extend(pods_plan.warnings)
    report.events.extend(pods_plan.events)
    st.replicasets = {k: v.to_dict() for k, v in pods_plan.replicasets.items()}
    st.deployments = pods_plan.deployments
    if pods_plan.deleted_objects:
        # a bare Pod a ReplicaSet adopted and then scaled away is gone, as in the API
        api = store.EmbeddedStore(st, now)
        for key in pods_plan.deleted_objects:
            if api.get(*key) is not None:
                api.delete(*key)

    for pod in pods_plan.delete:
        record = st.pods[f"{pod.namespace}/{pod.name}"]
        if pod.node:
            record["deletionTimestamp"] = now     # Terminating: out of the endpoints, then stopped
        else:
            st.pods.pop(f"{pod.namespace}/{pod.name}", None)   # a Pending pod has nothing to stop
        report.deleted.append(f"{pod.namespace}/{pod.name}")
        report.changed = True
    if pods_plan.delete:
        lab_state.save(st)

    for pod in pods_plan.keep:       # labels, adoption and release change a pod in place
        record = st.pods[f"{pod.namespace}/{pod.name}"]
        record["labels"], record["owner"] = dict(pod.labels), list(pod.owner) if pod.owner else None
        record["owner_uid"] = pod.owner_uid
    rebuild = [p for p in pods_plan.keep if st.pods[f"{p.namespace}/{p.name}"].get("phase") != RUNNING]
    # this machine builds the pods of its own nodes; another host's are recorded for it to build
    to_build = [p for p in pods_plan.create + rebuild if p.node and topology.is_local(p.node)]
    st.last_reserved = pods_plan.last_reserved
    for pod in pods_plan.create:
        st.pods[f"{pod.namespace}/{pod.name}"] = _record_of(pod, BUILDING)
        if not pod.node:
            report.pending.append(f"{pod.namespace}/{pod.name}: {pod.reason}")
    if to_build:
        lab_state.save(st)          # record intent before touching the machine

    objects = objects + replicaset_objects(st)
    source_of = {o.key: o for o in objects}
    started = []
    lookup = stored_lookup(objects)
    services = _services_now(st, objects, topology) if to_build else []
    cluster_dns = _cluster_dns(services)
    for pod in to_build:
        pod_vols = pod_volumes(pod, source_of[pod.source], lookup)
        config_errors: list = []
        spec = runtime_spec(lab, pod, source_of[pod.source], topology, report.warnings, pod_vols, lookup,
                            config_errors, services)
        # kubelet keeps such a pod waiting, retrying, until the ConfigMap or Secret is there
        waiting = [("ContainerCreating", "FailedMount", p.message) for p in pod_vols.problems] or \
            [("CreateContainerConfigError", "Failed", f"Error: {e}") for e in config_errors]
        if waiting:
            st.pods[f"{pod.namespace}/{pod.name}"]["waiting"] = {
                "reason": waiting[0][0], "message": waiting[0][2].removeprefix("Error: ")}
            for reason, event, message in waiting:
                report.pending.append(f"{pod.namespace}/{pod.name}: {reason}: {message.removeprefix('Error: ')}")
                report.events.append(controllers.ControllerEvent(
                    "Pod", pod.namespace, pod.name, event, message, type="Warning"))
            continue
        st.pods[f"{pod.namespace}/{pod.name}"].pop("waiting", None)
        resolv_conf = None
        pod_spec = source_of[pod.source].pod_spec
        if cluster_dns:
            resolv_conf = dns.pod_resolv_conf(pod_spec.raw, pod.namespace, cluster_dns).render()
        hostname, domain = dns.pod_hostname_and_domain(pod.name, pod.namespace, pod_spec.raw)
        started.append((pod, spec, resolv_conf, hostname, domain))
    if started:
        # each pod is handed to the runtime as soon as its network is there, so the runtime forks it
        # while the next one is wired; every pod's processes are forked before any is waited for
        starter = machine.pod_starter()
        try:
            with machine.wiring_batch():
                for pod, spec, resolv_conf, hostname, domain in started:
                    machine.wire_pod(lab, topology, pod, resolv_conf, hostname, domain)
                    starter.launch(spec)
        except BaseException:
            starter.abandon()
            raise
        starter.finish()
    started = [(pod, spec) for pod, spec, *_ in started]
    for pod, _ in started:
        report.created.append(f"{pod.namespace}/{pod.name}")
        report.changed = True
    for pod, _ in started:
        st.pods[f"{pod.namespace}/{pod.name}"]["phase"] = RUNNING
    if started:
        lab_state.save(st)
    _refresh_volumes(lab, st, source_of, lookup, {(p.namespace, p.name) for p, _ in started}, machine)
    if wait_ready and started:
        report.not_ready = machine.wait_answering([spec for _, spec in started], wait_ready)

    # 3. the kube-proxy role: Services and endpoints -> every node's rules
    from netlab import controlplane, manifest, proxier
    proxier.sync(lab, st, topology, manifest.lab_config(st.config), objects, report, machine.proxy)
    lab_state.save(st)
    # 4. the DNS records controller: every cluster DNS pod's records follow Services and pods
    sync_dns_records(lab, st, source_of, machine)
    for pod, spec in started:
        report.events.append(controllers.ControllerEvent(
            "Pod", pod.namespace, pod.name, "Scheduled", f"Successfully assigned {pod.namespace}/{pod.name} to {pod.node}"))
        for container in spec.containers:
            report.events += container_start_events(pod.namespace, pod.name, container.name, container.image)
    for node in report.rules_synced:
        count, took = report.rule_stats.get(node, (0, 0.0))
        report.events.append(controllers.ControllerEvent(
            "Node", "default", node, "RulesSynced",
            f"kube-proxy rules synced on {node}: {count} rules restored in {took * 1000:.0f} ms"))
    controlplane.record_events(lab, report.events, time.time())


def serves_cluster_dns(source_obj) -> bool:
    """Whether pods of SOURCE_OBJ run the cluster DNS (a container of the CoreDNS image)."""
    from netlab.runtime import images
    return source_obj is not None and any(images.traits(c.image).program == "coredns"
                                          for c in source_obj.pod_spec.containers)


def sync_dns_records(lab: str, st: lab_state.LabState, source_of: dict, machine: Machine) -> None:
    """Write the cluster's DNS records (netlab.cluster.dnsrecords, from the Services and
    EndpointSlices kube-proxy's pass just saw, and the pods) for every running DNS pod."""
    targets = [record for record in st.pods.values()
               if record.get("node") and record.get("phase") == RUNNING and not record.get("deletionTimestamp")
               and serves_cluster_dns(source_of.get(tuple(record["source"])))]
    if not targets:
        return
    view = st.allocations.get("view") or {}
    services = view.get("services") or []
    dns_ip = _cluster_dns(services)
    families = topology_of(lab, st.config).ip_families
    pods = [{"namespace": r["namespace"], "name": r["name"], "ip": pod_ips(r, families)[0]}
            for r in st.pods.values() if r.get("node") and pod_ips(r, families)]
    text = "".join(line + "\n" for line in
                   dnsrecords.records(services, view.get("slices") or [], pods, dns_ip, dns.CLUSTER_DOMAIN))
    for record in targets:
        machine.write_dns_records(names.pod_dir(lab, record["namespace"], record["name"], record["uid"]), text)


_FILE_VOLUMES = ("configMap", "secret", "projected", "downwardAPI")


def _refresh_volumes(lab: str, st, source_of: dict, lookup, just_started: set, machine: Machine) -> None:
    """kubelet's volume sync: a running pod's configMap/secret volumes follow their objects."""
    for record in st.pods.values():
        if record.get("phase") != RUNNING or record.get("deletionTimestamp") or not record.get("node"):
            continue
        pod = _instance(record)
        source_obj = source_of.get(pod.source)
        if source_obj is None or (pod.namespace, pod.name) in just_started:
            continue
        raw_volumes = source_obj.pod_spec.raw.get("volumes") or ()
        if not any(isinstance(v, dict) and any(k in v for k in _FILE_VOLUMES) for v in raw_volumes):
            continue
        pod_vols = pod_volumes(pod, source_obj, lookup)     # a volume whose object went keeps its files
        machine.update_volumes(names.pod_dir(lab, pod.namespace, pod.name, pod.uid),
                               {v.name: v.files for v in pod_vols.volumes.values() if v.files is not None})


def container_start_events(namespace: str, pod: str, container: str, image: str) -> list:
    """kubelet's events for a container it starts: Pulled, Created, Started."""
    return [controllers.ControllerEvent("Pod", namespace, pod, reason, message) for reason, message in (
        ("Pulled", f'Container image "{image}" already present on machine'),
        ("Created", f"Created container: {container}"), ("Started", f"Started container {container}"))]


def wait_until_answering(specs, timeout: float) -> list:
    """Wait until every TCP containerPort of the started pods accepts a connection; say what did not.

    A container that has already ended is not waited for: its line says how it ended and the last
    line it wrote (`/bin/bash: line 1: python: command not found`), as `kubectl logs` would show."""
    deadline = time.monotonic() + timeout
    # built-in servers have bound their ports when start_pods returns; a command of the manifest's
    # (python -m http.server, ...) binds when it gets there
    waiting = [(spec, c, port) for spec in specs for c in spec.containers for port, proto in c.ports
               if proto == "TCP" and runtime.resolve_command(c) is not None]
    ended: dict = {}
    while waiting and time.monotonic() < deadline:
        still = []
        for spec, container, port in waiting:
            if _accepts(spec.netns, spec.pod_ip, port):
                continue
            why = _ended(spec, container.name)
            if why:
                ended[f"{spec.namespace}/{spec.name}"] = why
            else:
                still.append((spec, container, port))
        waiting = still
        if waiting:
            time.sleep(0.01)
    # a container with no port to wait for may have ended all the same (a command it lacks): say so
    for spec in specs:
        for container in spec.containers:
            key = f"{spec.namespace}/{spec.name}"
            if key not in ended and not any(proto == "TCP" for _, proto in container.ports):
                why = _ended(spec, container.name)
                if why and not why.split(" exited with code ")[1].startswith("0 "):
                    ended[key] = why
    return list(ended.values()) + [f"{spec.namespace}/{spec.name}:{port} is not answering yet"
                                   for spec, _, port in waiting]


def _ended(spec, container: str) -> str | None:
    """How CONTAINER of the pod ended, with its last line of output; None while it runs."""
    for status in runtime.pod_status(spec.state_dir).containers:
        if status.name == container and status.state == "terminated":
            try:
                lines = runtime.read_logs(spec.state_dir, container).strip().splitlines()
            except LookupError:
                lines = []
            said = f": {lines[-1]}" if lines else ""
            return (f"{spec.namespace}/{spec.name}: container {container} exited with code {status.exit_code} "
                    f"({status.reason or 'Error'}){said} (netlab logs {spec.name} -c {container})")
    return None


def _accepts(pod_netns: str, ip: str, port: int) -> bool:
    with netns.entered(pod_netns):
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.settimeout(0.2)
        return sock.connect_ex((ip, port)) == 0
    finally:
        sock.close()


def owned_namespaces(lab: str, st: lab_state.LabState | None) -> list:
    """The network namespaces that belong to LAB: those tagged as its own, and untagged ones it
    recorded or that no other lab can claim.

    A name prefix alone is ambiguous between labs "x" and "x-b": each namespace carries its lab's
    tag (network.ensure_namespace), and an untagged one (a crash before tagging) counts as LAB's
    only if LAB recorded it or no other lab, known by its state or by its tags, extends the name.
    """
    prefix = names.lab_prefix(lab)
    candidates = netns.list_names(prefix)
    network = _network()
    tags = {name: network.namespace_owner(name) for name in candidates}
    recorded = set(_namespaces_of(lab, st)) if st else set()
    owner = _owner_tag(lab, st)
    others = {tag for tag in tags.values() if tag and tag != owner}
    others |= {other for other in lab_state.known_labs() if other != lab and other.startswith(prefix)}
    mine = []
    for name in candidates:
        if tags[name] is not None:
            if tags[name] == owner:
                mine.append(name)
        elif name in recorded or not any(name.startswith(names.lab_prefix(o)) for o in others):
            mine.append(name)
    return sorted(mine)


def _owner_tag(lab: str, st) -> str:
    """The tag this machine's namespaces of LAB carry: LAB, or LAB@HOST on a lab across hosts (with
    the state lost, NETLAB_HOST says which host this is)."""
    try:
        if st:
            return topology_of(lab, st.config).owner
        host = os.environ.get("NETLAB_HOST") or (names.lab_dir(lab) / HOST_FILE).read_text().strip()
        return f"{lab}@{host}" if host else lab
    except Exception:
        return lab


def _namespaces_of(lab: str, st: lab_state.LabState) -> list:
    """The namespaces ST says this machine made: on a lab across hosts, this host's alone."""
    try:
        topology = topology_of(lab, st.config)
    except Exception:
        return []
    result = [topology.underlay_netns] + [n.netns for n in topology.local_nodes] + \
        [c.netns for c in topology.local_clients]
    for record in st.pods.values():
        if topology.is_local(record.get("node")):
            result.append(names.pod_netns(lab, record["namespace"], record["name"]))
    return result


def down(lab: str) -> list:
    """Stop every process of LAB and remove every namespace and file it made. Returns what went."""
    from netlab import supervisor
    supervisor.stop(lab)                # first: nothing may rebuild what is being removed
    try:
        return _down_locked(lab, supervisor)
    except lab_state.StoreError as err:
        # a lab across hosts whose etcd cannot be reached: this machine's part still goes (its
        # namespaces carry its tag), and the one line says what was left in the store
        owner = _owner_tag(lab, None)
        removed = down_unlocked(lab, None)
        raise LabError(f"{err}; this machine's part of lab {lab!r} ({owner}) is down all the same "
                       f"({len(removed)} network namespaces removed), and the lab's state in etcd is as it was")
    


def _down_locked(lab: str, supervisor) -> list:
    with lab_state.locked(lab):
        # one that a racing command started meanwhile waits on this lock, holding nothing: kill it
        supervisor.stop(lab, timeout=0.5)
        try:
            st = lab_state.load(lab)
        except lab_state.StateDamaged:
            st = None                     # down works from the lab's name alone
        still_up = leave_hosts(lab, st) if st is not None and _spans_hosts(st) else []
        if st is not None and _spans_hosts(st) and not still_up:
            lab_state.forget(lab)         # the last host out takes the lab's state with it
        removed = down_unlocked(lab, st)
        if not still_up:
            lab_state.remove_lock(lab)    # while holding it: a waiter then locks a fresh file
    return removed


def labs_up() -> list:
    """Labs that have state or namespaces on this machine."""
    labs = set(lab_state.known_labs())
    for name in netns.list_names():
        if name.endswith("-underlay"):
            labs.add(name[: -len("-underlay")])
    return sorted(labs)


# -- commands -----------------------------------------------------------------------------------

def _resolve_lab_name(lab_name: str | None, loaded) -> str:
    if lab_name:
        name = lab_name
    elif names.current_lab():
        name = names.current_lab()
    elif loaded.lab is not None and getattr(loaded.lab, "name", None):
        name = loaded.lab.name
    else:
        up_now = labs_up()
        name = up_now[0] if len(up_now) == 1 else names.DEFAULT_LAB
    problem = names.check_lab_name(name)
    if problem:
        raise LabError(problem)
    return name


API_GROUPS = {"Deployment": "apps", "ReplicaSet": "apps", "EndpointSlice": "discovery.k8s.io"}


def resource_name(kind: str) -> str:
    """kubectl's name for a kind: `deployment.apps`, `service`."""
    return kind.lower() + (f".{API_GROUPS[kind]}" if kind in API_GROUPS else "")


def _describe_change(verb: str, raw: dict) -> str:
    """kubectl's line: `deployment.apps/web created`, `service/web configured`, `pod "curl" deleted`."""
    resource = resource_name(raw.get("kind", "?"))
    name = (raw.get("metadata") or {}).get("name")
    return f'{resource} "{name}" {verb}' if verb == "deleted" else f"{resource}/{name} {verb}"


def apply(lab_name: str | None, loaded, create: bool, rng=None, wait_ready: float = 5.0,
          iptables_backend: str | None = None, dry_run: str | None = None, verb: str = "apply") -> Report:
    """Apply loaded manifests to a lab, creating the lab first when CREATE (netlab up).

    VERB "create" refuses objects that exist and "replace" ones that do not, as kubectl create
    and replace do; DRY_RUN ("client" or "server") checks and reports everything and changes nothing."""
    started = time.monotonic()
    lab = _resolve_lab_name(lab_name, loaded)
    if create and loaded.lab is not None and getattr(loaded.lab, "hosts", ()):
        join_hosts(lab, loaded.lab)
    with lab_state.locked(lab):
        try:
            report = _apply_locked(lab, loaded, create, rng, wait_ready, iptables_backend, dry_run, verb)
        except BaseException:
            if not lab_state.has_state(lab):
                lab_state.remove_lock(lab)          # a new lab that was refused leaves nothing behind
            raise
    if dry_run:
        report.seconds = time.monotonic() - started
        return report
    _wake_supervisor(lab)
    report.seconds = time.monotonic() - started
    return report


def _apply_locked(lab: str, loaded, create: bool, rng, wait_ready: float, iptables_backend, dry_run=None,
                  verb: str = "apply") -> Report:
    """apply() under the lab's lock."""
    st = lab_state.load(lab)
    config_raw = (loaded.lab.raw or None) if loaded.lab is not None else None
    new_lab = st is None
    if st is None:
        if dry_run:
            raise LabError(f"lab {lab!r} is not up: a dry run needs a lab to check against")
        wanted = manifest_lab_config(config_raw)
        if wanted.proxy_mode == "nftables" and (iptables_backend or wanted.iptables_backend) == "python-iptables":
            # refused before anything is built (the proxier would refuse it only once the nodes exist)
            raise LabError("proxy mode nftables writes its table with `nft -f -`; the python-iptables backend only "
                           "writes iptables rules (use the restore backend)")
        if getattr(wanted, "dual_stack", False) and (iptables_backend or wanted.iptables_backend) == "python-iptables":
            raise LabError("a lab with IPv6 writes its IPv6 rules with ip6tables-restore; the python-iptables "
                           "backend writes IPv4 rules only (use the restore backend)")
        if create and wanted.pod_network == "vxlan":
            from netlab.dataplane import vxlan
            problem = vxlan.kernel_problem()      # said before the lab's state or lock is written
            if problem:
                raise LabError(problem)
        if not create:
            raise LabError(f"lab {lab!r} is not up; start it with `netlab up --name {lab}`")
        if netns.list_names(names.lab_prefix(lab)) and owned_namespaces(lab, None):
            # namespaces without state: a lab whose state was lost; start from a clean slate
            down_unlocked(lab, None)
        st = lab_state.LabState(lab=lab, config=config_raw, iptables_backend=iptables_backend)
    elif iptables_backend and iptables_backend != (st.iptables_backend or
                                                   manifest_lab_config(st.config).iptables_backend):
        raise LabError(f"lab {lab!r} is up with the {st.iptables_backend or 'restore'} backend; run "
                       f"`netlab down --name {lab}` first to switch backends")
    elif config_raw is not None and config_raw != st.config:
        raise LabError(f"lab {lab!r} is up with other cluster settings; run `netlab down --name {lab}` "
                       "first to rebuild it with the new ones")
    topology = topology_of(lab, st.config)
    check_capacity(loaded.objects, topology)
    if create and topology.hosts and topology.host not in (st.allocations.get("hosts_up") or []):
        st.allocations["hosts_up"] = list(st.allocations.get("hosts_up") or []) + [topology.host]
    api = store.EmbeddedStore(st, time.time(), rng)
    if new_lab:
        # a new lab starts with what kube-apiserver creates (the system namespaces, the kubernetes
        # Service) and its cluster DNS, as kubeadm's addon phase creates it
        primary = topology.primary_family
        for raw in addons.control_plane_objects(topology.service_cidrs()[primary],
                                                topology.nodes[0].internal_ips((primary,))[0]):
            api.create(raw)
        config = manifest_lab_config(st.config)
        if config.cluster_dns.enabled:
            for raw in addons.cluster_dns_objects(str(config.cluster_dns_ip), config.cluster_dns.replicas):
                api.create(raw)
    held = {key: record.get("clusterIP") for key, record in st.allocations.get("services", {}).items()
            if record.get("clusterIP")}
    admission.admit([o for o in loaded.objects if getattr(o, "kind", None)], lambda key: api.get(*key),
                    [o["metadata"]["name"] for o in api.list("Namespace")], held)
    with_kind = [obj for obj in loaded.objects if getattr(obj, "kind", None)]     # not the lab file
    incoming = [obj.raw for obj in with_kind]
    if verb in ("create", "replace"):
        for obj in with_kind:
            there = api.get(*object_key(obj.raw)) is not None
            if there != (verb == "replace"):
                plural = plural_resource(obj.kind)
                where = obj.source.file if getattr(obj.source, "file", None) else str(obj.source)
                what = "AlreadyExists" if there else "NotFound"
                raise LabError(f'Error from server ({what}): error when {verb[:-1]}ing "{where}": {plural} '
                               f'"{obj.name}" {"already exists" if there else "not found"}')
    report = Report(lab=lab, topology=topology)
    for raw in incoming:
        if verb == "replace":
            api.update(store.as_applied(raw))
            report.objects_changed.append(_describe_change("replaced", raw))
            continue
        _, done = api.apply(raw)
        (report.objects_changed if done != "unchanged" else report.objects_unchanged).append(
            _describe_change(done, raw))
    check_services(st, topology, {f"{o.namespace}/{o.name}": o.source for o in loaded.objects
                                  if getattr(o, "kind", None) == "Service"})   # nothing is saved yet
    if dry_run:
        return report                 # checked as a write would be; the state was never saved
    reconcile(lab, st, report, rng=rng, wait_ready=wait_ready, ensure_network=create)
    warning = neighbour_warning(topology)
    if warning:
        report.warnings.append(warning)
    return report


def _wake_supervisor(lab: str) -> None:
    """Tell the lab's supervisor the store changed, starting it first if it is not running."""
    from netlab import supervisor
    if not supervisor.running(lab):
        supervisor.start(lab)
    supervisor.poke(lab)


def resume(lab: str) -> Report:
    """`netlab up` on a lab that exists: repair its network, finish interrupted work, restart its supervisor."""
    started = time.monotonic()
    with lab_state.locked(lab):
        st = lab_state.load(lab)
        if st is None:
            raise LabError(f"lab {lab!r} is not up")
        report = Report(lab=lab, topology=topology_of(lab, st.config))
        reconcile(lab, st, report, wait_ready=5.0, ensure_network=True)
    _wake_supervisor(lab)
    report.seconds = time.monotonic() - started
    return report


def wait_pods_gone(lab: str, keys: list, timeout: float) -> list:
    """Wait until the pods "ns/name" in KEYS have left the store (kubectl delete --wait); the rest."""
    deadline = time.monotonic() + timeout
    left = list(keys)
    while left and time.monotonic() < deadline:
        st = lab_state.load(lab)
        pods = st.pods if st else {}
        left = [k for k in left if k in pods and pods[k].get("deletionTimestamp")]
        if left:
            time.sleep(0.05)
    return left


NEIGHBOUR_LIMIT = "/proc/sys/net/ipv4/neigh/default/gc_thresh3"


def neighbour_warning(topology, limit_path: str = NEIGHBOUR_LIMIT) -> str | None:
    """A warning when a lab needs more ARP entries than the kernel keeps.

    The kernel's ARP table is one for all network namespaces, capped at gc_thresh3 (1024 by
    default). A pod's own entries are pinned (network.ensure_pod_network) and do not count; what
    does is every node's entry for each other node and client on the underlay, so a lab of a few
    dozen nodes goes past it: new entries fail ("neighbor table overflow!" in dmesg) and
    connections lose their first SYN (a 1 s retransmit) or time out. The limit is host-wide:
    netlab names it and leaves it alone."""
    try:
        with open(limit_path) as handle:
            limit = int(handle.read())
    except (OSError, ValueError):
        return None
    nodes = len(topology.nodes)
    needed = nodes * nodes + nodes * len(topology.clients) + 16
    if needed <= limit:
        return None
    return (f"this lab may need about {needed} ARP entries and the kernel keeps {limit} for every namespace "
            f"together (net.ipv4.neigh.default.gc_thresh3): connections will lose packets. On a machine of "
            f"your own, raise it: sysctl -w net.ipv4.neigh.default.gc_thresh1={needed} "
            f"net.ipv4.neigh.default.gc_thresh2={2 * needed} net.ipv4.neigh.default.gc_thresh3={4 * needed}")


def check_capacity(objects, topology) -> None:
    """Refuse a workload with more replicas than the lab has pod addresses (say where it is written).

    Kubernetes would keep the ones that do not fit Pending; a lab would spend minutes and gigabytes
    on millions of Pending pods it can never run, so it says so instead."""
    # each family's node range less its network, gateway and (IPv4) broadcast addresses; a pod
    # takes one address of each
    room = min(sum(cidr.num_addresses - (3 if cidr.version == 4 else 2) for cidr in cidrs)
               for cidrs in ([n.pod_cidr for n in topology.nodes], [n.pod_cidr6 for n in topology.nodes])
               if None not in cidrs)
    for obj in objects:
        if getattr(obj, "kind", None) in ("Deployment", "ReplicaSet") and obj.replicas > room:
            line = obj.source.line_of(("spec", "replicas")) if obj.source else None
            where = (f"{obj.source.file}:{line}: " if line else f"{obj.source}: ") if obj.source \
                else f"{obj.kind.lower()}/{obj.name}: "
            raise LabError(f"{where}spec.replicas: {obj.replicas} pods do not fit this lab: its "
                           f"{len(topology.nodes)} nodes have {room} pod addresses (more nodes or a larger "
                           "nodeCIDRMaskSize in the lab file make room)")


def check_services(st, topology, sources: dict | None = None) -> None:
    """Allocate the Services on a copy of the state: a taken or out-of-range IP/port is an error now.

    SOURCES maps "ns/name" to where a Service was written, so each error names its file, the line
    of the field and the field (a ManifestError, as any other refused input).
    """
    import re
    from types import SimpleNamespace
    from netlab import proxier
    from netlab.cluster.services import ServiceError
    from netlab.manifest.errors import ManifestError, Problem
    scratch = SimpleNamespace(allocations={"services": st.allocations.get("services", {})})
    try:
        proxier.allocate(parse_stored(st.objects), scratch, topology)
    except ServiceError as err:
        problems = []
        for line in str(err).splitlines():
            found = re.match(r'^Service "([^"]+)": ([\w.\[\]]+): (.*)$', line)
            source = (sources or {}).get(found.group(1)) if found else None
            if source is None:
                problems.append(Problem(f"service/{found.group(1)}" if found else "<lab>", None, "",
                                        found.group(3) if found else line))
                continue
            path = tuple(int(part[1:-1]) if part.startswith("[") else part
                         for part in re.findall(r"\[\d+\]|[^.\[\]]+", found.group(2)))
            problems.append(Problem(source.file, source.line_of(path), found.group(2), found.group(3)))
        raise ManifestError(problems) from None


def delete(lab: str, keys: set, rng=None, wait: bool = True, grace: float | None = None,
           missing_ok: bool = False) -> Report:
    """Remove objects (by kind, namespace, name) from a lab and reconcile.

    GRACE (kubectl delete --grace-period) replaces the deleted pods' terminationGracePeriodSeconds;
    MISSING_OK (--ignore-not-found) passes over objects that are not there."""
    with lab_state.locked(lab):
        st = lab_state.load(lab)
        if st is None:
            raise LabError(f"lab {lab!r} is not up")
        topology = topology_of(lab, st.config)
        report = Report(lab=lab, topology=topology)
        api = store.EmbeddedStore(st, time.time(), rng)
        for key in sorted(keys, key=str):
            stored = api.get(*key)
            if key[0] == "Namespace" and key[2] in IMMORTAL_NAMESPACES:
                raise LabError(f'Error from server (Forbidden): namespaces "{key[2]}" is forbidden: this namespace '
                               "may not be deleted")
            if stored is not None:
                report.objects_changed.append(_describe_change("deleted", stored))
            elif key[0] == "Pod" and f"{key[1]}/{key[2]}" in st.pods:
                # a controller's pod: delete it and let its ReplicaSet replace it, as in a cluster
                record = st.pods[f"{key[1]}/{key[2]}"]
                report.objects_changed.append(f'pod "{key[2]}" deleted')
                if record.get("node"):
                    record.setdefault("deletionTimestamp", time.time())
                else:
                    st.pods.pop(f"{key[1]}/{key[2]}")
                report.deleted.append(f"{key[1]}/{key[2]}")
                report.changed = True
            elif missing_ok:
                continue
            else:
                raise NotFound(key[0], key[2])
        # deleting a Namespace deletes everything in it, as the namespace controller does
        doomed = {key[2] for key in keys if key[0] == "Namespace"}
        for raw in st.objects:
            key = object_key(raw)
            if key[1] in doomed and key not in keys:
                keys.add(key)
                report.objects_changed.append(_describe_change("deleted", raw))
        for key in keys:
            if api.get(*key) is not None:
                api.delete(*key)
        reconcile(lab, st, report, rng=rng, ensure_network=False)
        if grace is not None:
            for pod_key in report.deleted:
                if pod_key in st.pods:
                    st.pods[pod_key]["deletionGracePeriodSeconds"] = grace
            lab_state.save(st)
        graces = [30.0 if grace is None else grace] + [float(o.pod_spec.termination_grace_period_seconds)
                           for o in parse_stored(st.objects) if o.kind in ("Pod", "ReplicaSet", "Deployment")]
    _wake_supervisor(lab)
    if wait:
        report.not_gone = wait_pods_gone(lab, report.deleted, max(graces) + 5.0)
    return report


# the NamespaceLifecycle admission plugin's immortal namespaces
IMMORTAL_NAMESPACES = ("default", "kube-system", "kube-public")


def _spans_hosts(st) -> bool:
    return bool(manifest_lab_config(st.config).hosts)


def down_unlocked(lab: str, st) -> list:
    removed = []
    if st:
        for record in st.pods.values():
            runtime.stop_pod(names.pod_dir(lab, record["namespace"], record["name"], record["uid"]))
            crashpoints.reached("pod stopped")
    spaces = owned_namespaces(lab, st)
    _kill_all([pid for name in spaces for pid in runtime.pids_in_netns(netns.path(name))])
    crashpoints.reached("lab processes killed")
    for name in spaces:
        etc.remove(name)        # before the namespace: a crash in between leaves a namespace to find
        netns.delete(name)
        removed.append(name)
    for name in _namespaces_of(lab, st) if st else ():
        etc.remove(name)        # what a crash between the two left behind
    lab_state.unmount_lab_dir(lab)                            # its tmpfs, with every file in it
    shutil.rmtree(names.lab_dir(lab), ignore_errors=True)     # (a lab's folder from before it had one)
    crashpoints.reached("lab directory removed")
    return removed


def _loaded_lab(lab: str):
    st = lab_state.load(lab)
    if st is None:
        raise LabError(f"lab {lab!r} has no state (is it up? `netlab status` lists the labs)")
    return st, topology_of(lab, st.config)


def _sources(st) -> dict:
    return {o.key: o
            for o in parse_stored(st.objects) + replicaset_objects(st)}


def manifest_lab_config(config_raw):
    from netlab import manifest
    return manifest.lab_config(config_raw)
