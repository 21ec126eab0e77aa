"""Looking at a lab: its objects as the API shows them, a summary, exec, logs, a node's live rules.

Everything here reads the lab's store and the machine; nothing changes either (netlab.lab does).
"""

from __future__ import annotations

from netlab import names, runtime
from netlab import state as lab_state
from netlab.cluster import controllers
from netlab.cluster.controllers import PodInstance
from netlab.cluster.topology import pod_ips
from netlab.kubelet.probes import join_host_port
from netlab.lab import (LabError, NotFound, _instance, _loaded_lab, _sources, manifest_lab_config, object_key,
                        owned_namespaces, pod_status_of, topology_of)


def get_objects(lab: str, kind: str, namespace: str | None, wanted: list) -> list:
    """Kubernetes-shaped objects of KIND in a lab (namespace None: all namespaces)."""
    from netlab import views
    st, topology = _loaded_lab(lab)
    if kind == "Event":
        from netlab import controlplane
        items = views.event_objects(controlplane.read_events(lab), namespace)
    elif kind in ("Deployment", "ReplicaSet"):
        items = _workload_objects(st, kind, namespace)
    elif kind == "Node":
        items = [views.node_object(lab, node, st.created, topology) for node in topology.nodes]
    elif kind in ("Service", "Endpoints", "EndpointSlice"):
        items = _service_objects(st, kind, namespace)
    elif kind == "Namespace":
        items = sorted((dict(views.stored_object(raw), status={"phase": "Active"}) for raw in st.objects
                        if raw.get("kind") == "Namespace"), key=lambda o: o["metadata"]["name"])
    elif kind in ("ConfigMap", "Secret"):
        items = sorted((views.stored_object(raw) for raw in st.objects if object_key(raw)[0] == kind
                        and (namespace is None or object_key(raw)[1] == namespace)),
                       key=lambda o: (o["metadata"]["namespace"], o["metadata"]["name"]))
    else:
        sources = _sources(st)
        items = []
        for record in st.pods.values():
            pod = _instance(record)
            if namespace is not None and pod.namespace != namespace:
                continue
            source = sources.get(pod.source)
            if source is None:
                continue
            status = pod_status_of(lab, topology, record) if pod.node else None
            node = topology.node(pod.node) if pod.node else None
            items.append(views.pod_object(lab, pod, source, node.ip if node else None, status, record,
                                          host_ip6=node.ip6 if node else None, families=topology.ip_families))
        items.sort(key=lambda o: (o["metadata"]["namespace"], o["metadata"]["name"]))
    if wanted:
        found = {o["metadata"]["name"]: o for o in items}
        missing = [n for n in wanted if n not in found]
        if missing:
            raise NotFound(kind, missing[0])
        items = [found[n] for n in wanted]
    return items


def _workload_objects(st, kind: str, namespace: str | None) -> list:
    """Deployments (the applied object with its controller's status) or the lab's ReplicaSets."""
    from netlab import views
    items = []
    if kind == "Deployment":
        for raw in st.objects:
            key = object_key(raw)
            if key[0] != "Deployment" or (namespace is not None and key[1] != namespace):
                continue
            record = st.deployments.get(f"{key[1]}/{key[2]}") or {}
            items.append(views.deployment_object(raw, key[1], record))
    else:
        for data in st.replicasets.values():
            record = controllers.ReplicaSetRecord.from_dict(data)
            if namespace is None or record.namespace == namespace:
                items.append(views.with_meta(record.document(), record.created))
    return sorted(items, key=lambda o: (o["metadata"]["namespace"], o["metadata"]["name"]))


def _service_objects(st, kind: str, namespace: str | None) -> list:
    from netlab import views
    from netlab.cluster import services as service_ctl
    view = st.allocations.get("view") or {"services": [], "slices": []}
    services_ = [s for s in view["services"] if namespace is None or s["metadata"]["namespace"] == namespace]
    slices = [s for s in view["slices"] if namespace is None or s["metadata"]["namespace"] == namespace]
    if kind == "Service":
        items = services_
    elif kind == "EndpointSlice":
        items = slices
    else:
        items = []
        for service in services_:
            if service["spec"].get("type") == "ExternalName":
                continue
            mine = [s for s in slices if s["metadata"]["namespace"] == service["metadata"]["namespace"] and
                    (s["metadata"].get("labels") or {}).get(service_ctl.SERVICE_NAME_LABEL) ==
                    service["metadata"]["name"]]
            items.append(service_ctl.endpoints_view(service, mine))
    items = [views.with_meta(item, st.created) for item in items]
    return sorted(items, key=lambda o: (o["metadata"]["namespace"], o["metadata"]["name"]))


def summary(lab: str) -> str:
    """A short summary of one lab: nodes with their namespaces, pods per node, clients."""
    try:
        st = lab_state.load(lab)
    except lab_state.StateDamaged as err:
        return str(err)
    if st is None:
        kept = sorted(names.lab_dir(lab).glob("state.json.corrupt-*")) if names.lab_dir(lab).is_dir() else []
        if kept:
            return (f"lab {lab!r}: its state file was damaged and is kept as {kept[-1]}; "
                    f"`netlab down --name {lab}` removes what the lab made")
        spaces = owned_namespaces(lab, None)
        return f"lab {lab}: no state, {len(spaces)} leftover namespaces (remove with `netlab down --name {lab}`)"
    topology = topology_of(lab, st.config)
    from netlab import supervisor
    boss = supervisor.info(lab)
    families = topology.ip_families
    underlay = ",".join(str(n) for n in (topology.underlay, topology.underlay6) if n is not None)
    lines = [f"lab {lab}: {len(topology.nodes)} nodes, {len(st.pods)} pods, underlay {underlay} "
             f"(netns {topology.underlay_netns})",
             f"  supervisor {boss['state']}" + (f" (pid {boss['pid']})" if boss["pid"] else
                                                f": pods keep running; `netlab up --name {lab}` restarts it")]
    for node in topology.nodes:
        # every address of each, the primary family's first (status.podIPs, spec.podCIDRs)
        pods = sorted(f"{r['name']} {','.join(pod_ips(r, families))}" for r in st.pods.values()
                      if r.get("node") == node.name)
        cidrs = ",".join(str(c) for c in (node.pod_cidr6 if f == "IPv6" else node.pod_cidr for f in families))
        lines.append(f"  node {node.name:<8} {','.join(node.internal_ips(families)):<14} pods {cidrs:<15} "
                     f"netns {node.netns}")
        for pod in pods:
            lines.append(f"      {pod}")
    for client in topology.clients:
        shown = ",".join(ip for ip in (client.ip, client.ip6) if ip)
        lines.append(f"  client {client.name:<6} {shown:<14} netns {client.netns}")
    pending = [f"{r['namespace']}/{r['name']}" for r in st.pods.values() if not r.get("node")]
    if pending:
        lines.append(f"  pending: {', '.join(sorted(pending))}")
    return "\n".join(lines)


def status_data(lab: str) -> dict:
    """`netlab status -o json`: the lab, its supervisor, nodes and pods."""
    from netlab import supervisor
    try:
        st = lab_state.load(lab)
    except lab_state.StateDamaged as err:
        return {"name": lab, "supervisor": supervisor.info(lab), "state": "damaged", "message": str(err),
                "leftoverNamespaces": owned_namespaces(lab, None)}
    data = {"name": lab, "supervisor": supervisor.info(lab), "state": "up" if st else "absent"}
    if st is None:
        data["leftoverNamespaces"] = owned_namespaces(lab, None)
        return data
    topology = topology_of(lab, st.config)
    families = topology.ip_families
    # each node's and pod's primary address and range (spec.podCIDR, status.podIP)
    data["nodes"] = [{"name": n.name, "ip": n.internal_ips(families)[0],
                      "podCIDR": str(n.pod_cidr6 if families[0] == "IPv6" else n.pod_cidr), "netns": n.netns}
                     for n in topology.nodes]
    data["pods"] = sorted(({"namespace": r["namespace"], "name": r["name"], "node": r.get("node"),
                            "ip": (pod_ips(r, families) or [None])[0],
                            "terminating": bool(r.get("deletionTimestamp"))} for r in st.pods.values()),
                          key=lambda p: (p["namespace"], p["name"]))
    return data


def next_steps(lab: str) -> list:
    """A few commands worth trying on this lab, with its real names, addresses and ports in them."""
    st, topology = _loaded_lab(lab)
    flag = "" if lab == names.DEFAULT_LAB else f" --name {lab}"
    sources = _sources(st)
    # the user's pods and Services: the cluster's own (kube-system) are not what a lab is about
    running = sorted((r for r in st.pods.values() if r.get("node") and r["namespace"] != "kube-system"),
                     key=lambda r: r["name"])
    steps = [f"netlab get pods -o wide{flag}", f"netlab get svc,endpoints{flag}".replace(",endpoints", "")]

    def first_port(record):
        source = sources.get(tuple(record["source"]))
        spec = None if source is None else source.pod_spec
        for container in (spec.containers if spec else ()):
            for port in container.ports or ():
                if port.protocol == "TCP":
                    return port.container_port
        return None

    servers = [r for r in running if first_port(r)]
    if running and servers:
        src = running[0]
        dst = next((r for r in servers if r["node"] != src["node"]), servers[-1])
        steps.append(f"netlab exec{flag} {src['name']} -- curl -s "
                     f"{join_host_port(pod_ips(dst, topology.ip_families)[0], first_port(dst))}"
                     f"   # pod on {src['node']} -> pod on {dst['node']}, no NAT")
    view = st.allocations.get("view") or {"services": []}
    # the user's Services with pods behind them (not the API server's default/kubernetes)
    services_ = [s for s in view["services"] if s["spec"].get("clusterIP") not in (None, "None")
                 and s["metadata"].get("namespace") != "kube-system" and s["spec"].get("selector")]
    if services_ and running:
        svc = services_[0]
        steps.append(f"netlab probe{flag} --from {running[0]['name']} {svc['metadata']['name']} --count 1000"
                     "   # spread over the endpoints")
        dns = any((s["metadata"].get("namespace"), s["metadata"]["name"]) == ("kube-system", "kube-dns")
                  for s in view["services"])
        ports = svc["spec"].get("ports") or []
        if dns and ports and svc["metadata"].get("namespace") == running[0]["namespace"]:
            steps.append(f"netlab exec{flag} {running[0]['name']} -- curl -s {svc['metadata']['name']}:{ports[0]['port']}"
                         "   # by name, through the cluster DNS")
    node_ports = [(s, p["nodePort"]) for s in services_ for p in s["spec"].get("ports") or [] if p.get("nodePort")]
    if node_ports and topology.clients:
        svc, port = node_ports[0]
        node_ip = topology.nodes[-1].internal_ips(topology.ip_families)[0]
        steps.append(f"netlab exec{flag} client/{topology.clients[0].name} -- curl -s {join_host_port(node_ip, port)}"
                     f"   # NodePort {svc['metadata']['name']} from outside")
    node = topology.nodes[0]
    v6 = topology.primary_family == "IPv6"
    if manifest_lab_config(st.config).proxy_mode == "nftables":
        steps.append(f"ip netns exec {node.netns} nft list table {'ip6' if v6 else 'ip'} kube-proxy"
                     f"     # kube-proxy's rules on {node.name}")
    else:
        steps.append(f"ip netns exec {node.netns} {'ip6tables' if v6 else 'iptables'} -t nat -S"
                     f"     # kube-proxy's rules on {node.name}")
    steps.append(f"ip netns exec {node.netns} ip {'-6 ' if v6 else ''}route")
    steps.append(f"netlab down{flag}")
    return steps


def _find_pod(st, namespace: str, name: str) -> PodInstance:
    record = st.pods.get(f"{namespace}/{name}")
    if record is None:
        raise NotFound("Pod", name)
    return _instance(record)


def exec_argv(lab: str, target: str, namespace: str, container: str | None, command: list) -> list:
    """The argv that runs COMMAND in a pod's container (its namespaces), a node or a client."""
    st, topology = _loaded_lab(lab)
    kind, _, name = target.rpartition("/")
    kind = kind or "pod"
    if kind in ("node", "no"):
        try:
            return ["ip", "netns", "exec", topology.node(name).netns] + command
        except KeyError:
            raise LabError(f'node "{name}" not found (nodes: {", ".join(n.name for n in topology.nodes)})') from None
    if kind == "client":
        for client in topology.clients:
            if client.name == name:
                return ["ip", "netns", "exec", client.netns] + command
        raise LabError(f'client "{name}" not found (clients: {", ".join(c.name for c in topology.clients)})')
    if kind not in ("pod", "po", "pods"):
        raise LabError(f"cannot exec into {target!r}: use a pod name, pod/NAME, node/NAME or client/NAME")
    pod = _find_pod(st, namespace, name)
    if not pod.node:
        raise LabError(f'pod "{name}" is Pending: {pod.reason}')
    status = runtime.pod_status(names.pod_dir(lab, pod.namespace, pod.name, pod.uid))
    chosen = _choose_container(status, container, name)
    if chosen is None or chosen.state != "running" or not chosen.pid:
        what = f'container "{chosen.name}"' if chosen else "the pod's container"
        raise LabError(f"{what} of pod {name!r} is not running (see `netlab logs {name}`)")
    uid, gid = _process_ids(chosen.pid)
    env = runtime.container_environment(names.pod_dir(lab, pod.namespace, pod.name, pod.uid), chosen.name)
    # kubectl exec runs as the container's user (runAsUser), in its namespaces and working
    # directory, with the container's environment (not the caller's)
    argv = ["nsenter", "--target", str(chosen.pid), "--net", "--mount", "--uts", "--pid", "--wd",
            f"--setuid={uid}", f"--setgid={gid}"]
    if env is not None:
        argv += ["env", "-i"] + [f"{k}={v}" for k, v in env.items()]
    return argv + command


def _process_ids(pid: int) -> tuple:
    """(uid, gid) a process runs as, from /proc/PID/status."""
    uid = gid = 0
    try:
        with open(f"/proc/{pid}/status") as handle:
            for line in handle:
                if line.startswith("Uid:"):
                    uid = int(line.split()[1])
                elif line.startswith("Gid:"):
                    gid = int(line.split()[1])
    except FileNotFoundError:
        pass
    return uid, gid


def _choose_container(status, container: str | None, pod_name: str):
    containers = list(status.containers) if status else []
    if container is None:
        return containers[0] if containers else None
    for entry in containers:
        if entry.name == container:
            return entry
    raise LabError(f'container "{container}" is not in pod "{pod_name}" '
                   f"(containers: {', '.join(c.name for c in containers)})")


def logs(lab: str, name: str, namespace: str, container: str | None, previous: bool = False, *, tail: int = -1,
         since_ns: int | None = None, timestamps: bool = False, limit_bytes: int | None = None) -> tuple[str, int, str]:
    """What `kubectl logs` prints of a container's output (logtimes.select_lines), the log's size
    in bytes when it was read (where `-f` goes on from), and the container's name."""
    from netlab.runtime import logtimes
    st, _ = _loaded_lab(lab)
    pod = _find_pod(st, namespace, name.split("/", 1)[-1])
    pod_dir = names.pod_dir(lab, pod.namespace, pod.name, pod.uid)
    status = runtime.pod_status(pod_dir)
    chosen = _choose_container(status, container, pod.name)
    if chosen is None:
        raise LabError(f'pod "{pod.name}" has no containers running yet')
    try:
        lines = runtime.read_timed_logs(pod_dir, chosen.name, previous=previous)
    except LookupError as err:
        raise LabError(str(err)) from None
    size = sum(line.length for line in lines)
    return logtimes.select_lines(lines, tail, since_ns, timestamps, limit_bytes), size, chosen.name


def attach(lab: str, name: str, namespace: str, container: str | None, send_stdin: bool = True,
           stdout=None) -> bool:
    """Attach this terminal to a container started with stdin or tty (kubectl attach): False when it
    cannot be (no stdin/tty, or not running), True once the container has ended or stdin was detached."""
    st, _ = _loaded_lab(lab)
    pod = _find_pod(st, namespace, name)
    pod_dir = names.pod_dir(lab, pod.namespace, pod.name, pod.uid)
    chosen = _choose_container(runtime.pod_status(pod_dir), container, pod.name)
    if chosen is None or not runtime.attachable(pod_dir, chosen.name):
        return False
    try:
        runtime.attach(pod_dir, chosen.name, send_stdin=send_stdin, stdout=stdout)
    except LookupError:
        return False
    return True


def follow_logs(lab: str, name: str, namespace: str, container: str | None, offset: int | None,
                timestamps: bool = False):
    """What the container writes after byte OFFSET of its log (None: from now), as it comes,
    until the container ends (kubectl logs -f); each line stamped with TIMESTAMPS."""
    import time
    from netlab.runtime import logtimes
    from netlab.runtime import pod as pod_runtime
    st, _ = _loaded_lab(lab)
    pod = _find_pod(st, namespace, name.split("/", 1)[-1])
    pod_dir = names.pod_dir(lab, pod.namespace, pod.name, pod.uid)
    chosen = _choose_container(runtime.pod_status(pod_dir), container, pod.name)
    if chosen is None:
        return
    path = pod_dir / pod_runtime.CONTAINERS_DIR / f"{chosen.name}.log"
    with open(path, "rb") as handle:
        handle.seek(0, 2) if offset is None else handle.seek(offset)
        follower = logtimes.Follower(path, handle.tell(), timestamps)
        while True:
            data = handle.read()
            if data:
                if text := follower.feed(data):
                    yield text
                continue
            now = _choose_container(runtime.pod_status(pod_dir), chosen.name, pod.name)
            if now is None or now.state != "running" or now.pid != chosen.pid:
                if text := follower.feed(handle.read(), final=True):
                    yield text
                return
            time.sleep(0.1)


def service_in_all_modes(lab: str, node_name: str, namespace: str, service: str) -> str:
    """One Service's objects as kube-proxy writes them on NODE in iptables, nftables and IPVS mode
    (proxy/compare.py), rendered from the lab's Services, EndpointSlices and Nodes."""
    from netlab.proxy.compare import UnknownService, compare_service
    from netlab.proxy.model import IPV4, IPV6
    from netlab.proxy.objects import Inventory, render_input_from_inventory
    st, topology = _loaded_lab(lab)
    node = node_name.split("/", 1)[-1]
    try:
        topology.node(node)
    except KeyError:
        raise LabError(f'node "{node}" not found (nodes: {", ".join(n.name for n in topology.nodes)})') from None
    get_objects(lab, "Service", namespace, [service])                 # NotFound, as kubectl says it
    documents = [obj for kind in ("Service", "EndpointSlice", "Node") for obj in get_objects(lab, kind, None, [])]
    # the lab's primary family's proxier
    family = IPV6 if topology.primary_family == "IPv6" else IPV4
    cluster_cidr, service_cidr = ((topology.cluster_cidr6, topology.service_cidr6) if family == IPV6
                                  else (topology.cluster_cidr, topology.service_cidr))
    data = render_input_from_inventory(Inventory().add(documents, f"lab {lab}"), node, family,
                                       cluster_cidr=str(cluster_cidr))
    try:
        return compare_service(data, namespace, service, service_cidrs=(str(service_cidr),)).to_text()
    except UnknownService as err:
        raise LabError(f"{err} (kube-proxy writes nothing for it on {node})") from None


def rules(lab: str, node_name: str, table: str | None, family: str | None = "IPv4") -> str:
    """A node's live rules: iptables-save's (of the variant the lab writes), or in nftables mode
    `nft list table ip kube-proxy`'s (TABLE is an iptables table, so it does not apply there).
    FAMILY IPv6: the IPv6 proxier's, ip6tables-save's or `ip6 kube-proxy`'s, on a lab with IPv6;
    None: the lab's primary family's."""
    from netlab.dataplane import iptables
    st, topology = _loaded_lab(lab)
    backend = st.iptables_backend or manifest_lab_config(st.config).iptables_backend
    try:
        node = topology.node(node_name.split("/", 1)[-1])
    except KeyError:
        raise LabError(f'node "{node_name}" not found (nodes: {", ".join(n.name for n in topology.nodes)})') from None
    families = getattr(topology, "ip_families", None) or ("IPv4",)
    family = family or families[0]
    ip6 = family == "IPv6"
    if ip6 and "IPv6" not in families:
        raise LabError(f"lab {lab!r} is IPv4 only: it has no IPv6 rules (spec.ipFamilies: [IPv4, IPv6] makes "
                       "a dual-stack lab)")
    if not ip6 and "IPv4" not in families:
        raise LabError(f"lab {lab!r} is IPv6 only: kube-proxy writes no IPv4 rules there (see --family IPv6)")
    if getattr(manifest_lab_config(st.config), "proxy_mode", "iptables") == "nftables":
        # nftables mode: kube-proxy's whole table, as `nft list table ip kube-proxy` prints it
        from netlab.dataplane import nftables
        return nftables.list_table(node.netns, "ip6" if ip6 else "ip")
    if backend == "python-iptables":
        from netlab.dataplane import iptc_backend
        return iptc_backend.save(node.netns, table)
    return iptables.save(node.netns, table, ip6=ip6)
