"""The lab's kube-proxy: Services and their endpoints become each node's iptables rules.

On every reconcile: allocate the Services (netlab.cluster.services), build the EndpointSlices from
the pods that are running, render kube-proxy's full ruleset for each node (netlab.proxy) and load it
with one iptables-restore per node whose rules changed; then clear UDP conntrack entries that
point at endpoints which are gone, as kube-proxy's CleanStaleEntries does.

In nftables mode (lab file spec.proxyMode: nftables) each node's `ip kube-proxy` table is rendered
by netlab.proxy.nft_render and written with one transaction per sync (the stale-chain cleanup
transaction first, when there is one): `nft -f -` for a full sync, the same batch straight over
netlink for a partial one (dataplane/nftables.py says why). The renderer's sync state is
kube-proxy's memory of what it wrote: it is kept per node in this process (the supervisor's sync
runner), so later syncs are partial and plan only the Services that changed since; a process that
does not have it (a new `netlab` command) reads the node's live table and syncs in full from it,
as a restarted kube-proxy does.
"""

from __future__ import annotations

import contextlib
import gc
import hashlib
import json
import os
import subprocess
import time

from netlab import crashpoints, runtime
from netlab.cluster import services as service_ctl
from netlab.kubelet import kubelet

FULL_SYNC_PERIOD = 3600.0   # pkg/proxy/util FullSyncPeriod: whole tables at least this often
from netlab.dataplane import iptables, netns, nfnetlink

PROXY_MODES = ("iptables", "nftables")
# (lab, node, family) -> (namespace id, table digest, NftSyncState, the Services' ports and endpoints
# it was rendered from, or None): what this process last wrote to each node
_NFT_MEMORY: dict = {}


class ProxyModeError(Exception):
    """A proxy mode this lab cannot run (e.g. nftables with the python-iptables backend)."""


def service_objects(objects) -> list:
    return [o.raw for o in objects if o.kind == "Service"]


def user_slices(objects) -> list:
    """EndpointSlices applied by hand (for Services without a selector), passed through as written."""
    result = []
    for obj in objects:
        if obj.kind == "EndpointSlice":
            raw = dict(obj.raw)
            raw.setdefault("metadata", {}).setdefault("namespace", obj.meta.namespace or "default")
            result.append(raw)
    return result


def allocate(objects, st, topology) -> list:
    """Services with the API server's defaults and allocations; raises ServiceError on a clash."""
    allocated, record = service_ctl.allocate(service_objects(objects), st.allocations.get("services", {}),
                                             topology.service_cidr, topology.node_port_range,
                                             lb_pool=topology.load_balancer_pool,
                                             service_cidr6=getattr(topology, "service_cidr6", None),
                                             families=families(topology))
    st.allocations["services"] = record
    return allocated


def pod_endpoint_inputs(lab: str, st, objects, pod_status=None, topology=None) -> list:
    """What the EndpointSlice controller needs to know of each placed pod (of a pod on another
    host of the lab, what its kubelet published)."""
    from netlab import lab as lab_mod
    from netlab.cluster.controllers import PodInstance
    topology = topology or lab_mod.topology_of(lab, st.config)
    sources = {o.key: o for o in objects}
    result = []
    for record in st.pods.values():
        if not record.get("node") or not (record.get("ip") or record.get("ip6")):
            continue
        pod = PodInstance.from_dict({k: v for k, v in record.items() if k != "phase"})
        source = sources.get(pod.source)
        if source is None:
            continue
        spec = source.pod_spec
        status = lab_mod.pod_status_of(lab, topology, record, pod_status)
        terminating = bool(record.get("deletionTimestamp"))
        if terminating:
            # its containers still run until kubelet stops them; "serving" is what they last showed
            ready = bool((record.get("kubelet") or {}).get("ready", True)) and status.owner_alive
        else:
            ready = record.get("phase") == "running" and kubelet.pod_ready(record, spec, status)
        ports = [(p.name, p.container_port, p.protocol) for c in spec.containers for p in c.ports or ()]
        result.append({"name": pod.name, "namespace": pod.namespace, "labels": dict(pod.labels),
                       "ip": pod.ip, "ip6": pod.ip6, "node": pod.node, "ready": ready, "terminating": terminating,
                       "container_ports": ports, "hostname": spec.hostname, "subdomain": spec.subdomain})
    return result


def endpoint_slices(allocated: list, pods: list, objects) -> list:
    slices = []
    for service in allocated:
        slices.extend(service_ctl.endpoint_slices(service, pods))
    return slices + user_slices(objects)


IPV4, IPV6 = "IPv4", "IPv6"


def families(topology) -> tuple:
    """The lab's IP families, its primary first: kube-proxy runs one proxier for each."""
    return tuple(getattr(topology, "ip_families", None) or (IPV4,))


def _local_nodes(topology) -> tuple:
    """The nodes whose kube-proxy runs here: every node, but only this host's on a lab across hosts
    (the rules are rendered from the whole cluster's Services and endpoints all the same)."""
    return getattr(topology, "local_nodes", topology.nodes)


def _local_clients(topology) -> tuple:
    return getattr(topology, "local_clients", topology.clients)


def _proxy_overrides(lab_config, topology, node, family: str = IPV4) -> dict:
    kube_proxy = lab_config.kube_proxy
    common = {
        "masquerade_all": kube_proxy.masquerade_all,
        "masquerade_bit": kube_proxy.masquerade_bit,
        "detect_local_mode": kube_proxy.detect_local_mode,
        "bridge_interface": "cni0",
    }
    if family == IPV6:
        return dict(common, node_ips=(node.ip6,), cluster_cidr=str(topology.cluster_cidr6),
                    node_pod_cidrs=(str(node.pod_cidr6),), interface_addresses=("::1", node.ip6, node.gateway6))
    return dict(common, node_ips=(node.ip,), cluster_cidr=str(topology.cluster_cidr),
                node_pod_cidrs=(str(node.pod_cidr),), interface_addresses=("127.0.0.1", node.ip, node.gateway))


class NodeRenderer:
    """Renders kube-proxy's rules node by node from one conversion of the Kubernetes objects.

    Converting Services and EndpointSlices to the renderer's model does not depend on the node
    (whether an endpoint is local is decided while rendering), so it is done once per sync.
    """

    def __init__(self, docs: list, topology, lab_config, family: str = IPV4):
        from netlab.proxy.objects import Inventory
        self.inventory = Inventory().add(docs, "lab")
        self.topology = topology
        self.lab_config = lab_config
        self.family = family          # the one proxier's: a dual-stack lab has a renderer per family
        self.base = None
        self._groups = None
        self._changes: dict = {}

    def _config(self, node, nfacct: bool):
        """(config, warnings) for NODE; the family's service ports and endpoints, once, in self.base."""
        from netlab.proxy.objects import proxy_config_from_inventory, render_input_from_inventory
        overrides = dict(_proxy_overrides(self.lab_config, self.topology, node, self.family), nfacct=nfacct)
        if self.base is None:
            self.base = render_input_from_inventory(self.inventory, node.name, self.family, **overrides)
            if self.family != IPV4:
                # a single-stack IPv4 Service is none of the IPv6 proxier's business (upstream's
                # meta-proxier never hands it over): no word about it
                self.base.warnings = [w for w in self.base.warnings if not w.endswith(f"no {self.family} rules for it")]
            return self.base.config, self.base.warnings
        return proxy_config_from_inventory(self.inventory, node.name, self.family, **overrides)

    def render(self, node, nfacct: bool):
        """(Ruleset, warnings) kube-proxy would write on NODE."""
        from netlab.proxy import render
        config, warnings = self._config(node, nfacct)
        return render(config, self.base.service_ports, self.base.endpoints), warnings

    def render_nft(self, node, before=None, before_groups=None):
        """(NftRuleset, warnings) kube-proxy's nftables mode would hold on NODE.

        BEFORE: the node's ruleset of an earlier sync, rendered from BEFORE_GROUPS (that sync's
        service_groups()); then only the Services that changed since are planned again, as
        kube-proxy's change trackers hand its sync only those."""
        from netlab.proxy.nft_render import render_nft
        config, warnings = self._config(node, False)
        cidr = self.topology.service_cidr6 if self.family == IPV6 else self.topology.service_cidr
        cidrs = (str(cidr),)
        if before is not None and before_groups is not None and before.renders_with(config, cidrs):
            return before.updated_from(self._changed_since(before_groups), self.service_groups()), warnings
        ruleset = render_nft(config, self.base.service_ports, self.base.endpoints, service_cidrs=cidrs)
        return ruleset, warnings

    def service_groups(self) -> dict:
        """(namespace, name) -> (its service ports, its endpoints), of this family (once per sync)."""
        from netlab.proxy.nft_render import service_groups
        if self._groups is None:
            if self.base is None:
                raise RuntimeError("service_groups() before the first render")
            self._groups = service_groups(self.base.service_ports, self.base.endpoints)
        return self._groups

    def _changed_since(self, before_groups: dict) -> frozenset:
        """The Services whose ports or endpoints differ from BEFORE_GROUPS (once per earlier sync:
        every node usually comes from the same one)."""
        from netlab.proxy.nft_render import changed_services
        key = id(before_groups)
        if key not in self._changes:
            self._changes[key] = (before_groups, changed_services(before_groups, self.service_groups()))
        return self._changes[key][1]


def chain_digests(ruleset) -> dict:
    """table -> chain -> a short digest of its rules: what a later sync compares against."""
    digests = {}
    for name, table in ruleset.tables.items():
        by_chain = table.rules_by_chain()
        digests[name] = {chain: hashlib.sha1("\n".join(rules).encode()).hexdigest()[:12]
                         for chain, rules in by_chain.items() if chain not in table.policies}
    return digests


def partial_text(ruleset, now: dict, before: dict) -> str:
    """iptables-restore --noflush input rewriting only the chains whose rules changed.

    kube-proxy's partial sync (KEP-3453) does the same: declaring a chain flushes it, so only
    changed chains are declared and refilled, and chains no longer needed are flushed and deleted.
    The built-in chains and their jump rules never change after the first, whole-tables restore.
    """
    out = []
    for name, table in ruleset.tables.items():
        old = before.get(name, {})
        new = now.get(name, {})
        changed = [chain for chain in new if old.get(chain) != new[chain]]
        removed = [chain for chain in old if chain not in new]
        if not changed and not removed:
            continue
        wanted = set(changed)
        out.append(f"*{name}")
        out.extend(f":{chain} - [0:0]" for chain in changed + removed)
        out.extend(f"-A {chain} {args}" for chain, args in table.rules if chain in wanted)
        out.extend(f"-X {chain}" for chain in removed)
        out.append("COMMIT")
    return "\n".join(out) + "\n" if out else ""


def _netns_id(name: str) -> int:
    return os.stat(netns.path(name)).st_ino


def prepare_node(node) -> bool:
    """What kube-proxy sets up at start: route_localnet for localhost NodePorts, nfacct counters."""
    netns.write_sysctl(node.netns, "net.ipv4.conf.all.route_localnet", 1)
    return nfnetlink.ensure_counters(node.netns)


class NodeDataplane:
    """What the lab's kube-proxy does to the machine, node by node; the real one acts in each node's
    namespace. Unit tests give sync() an in-memory one."""

    def netns_id(self, node) -> int:
        """Identifies the node's namespace: a new one (re-created) gets whole tables."""
        return _netns_id(node.netns)

    def prepare(self, node) -> bool:
        """kube-proxy's start-up on a node; True if nfacct counters are available."""
        return prepare_node(node)

    def restore(self, backend: str, jobs: list, family: str = IPV4) -> None:
        """Load (namespace, text, noflush) jobs: iptables-restore (ip6tables-restore for FAMILY
        IPv6) in parallel, or python-iptables."""
        if backend == "python-iptables":
            from netlab.dataplane import iptc_backend
            for namespace, text, _ in jobs:
                iptc_backend.apply_text(namespace, text)
        else:
            iptables.restore_many(jobs, ip6=family == IPV6)

    def nft_apply(self, jobs: list) -> list:
        """Run (namespace, cleanup, transaction) jobs with `nft -f -`; the namespaces whose cleanup failed."""
        from netlab.dataplane import nftables
        return nftables.apply_many(jobs)

    def nft_read(self, node, family: str = IPV4):
        """The node's live `ip kube-proxy` table (`ip6 kube-proxy` for FAMILY IPv6) as an NftTable,
        None if it has none."""
        from netlab.dataplane import nftables
        return nftables.read_table(node.netns, _nft_family(family))

    def remove_mode(self, node, mode: str, family: str = IPV4) -> None:
        """Remove what kube-proxy's MODE wrote on the node for FAMILY (its cleanup of the other
        mode's rules)."""
        if mode == "nftables":
            from netlab.dataplane import nftables
            nftables.delete_table(node.netns, _nft_family(family))
        else:
            iptables.remove_kube_chains(node.netns, ip6=family == IPV6)

    def delete_udp_conntrack(self, node, filters: list) -> None:
        """conntrack -D -p udp FILTER... in the node's namespace."""
        subprocess.run(["nsenter", f"--net={netns.path(node.netns)}", "conntrack", "-D", "-p", "udp"] + filters,
                       capture_output=True)

    def route_client(self, client, routes: dict) -> None:
        """The client's routes to LoadBalancer and external IPs (address -> node IPs)."""
        from netlab.dataplane import network
        network.set_host_routes(client.netns, routes)

    def serve_health(self, lab: str, node, table: dict) -> None:
        """Keep the node's health check server answering from TABLE (none needed while empty)."""
        from netlab import names
        from netlab.dataplane import healthcheck
        folder = names.lab_dir(lab) / "healthcheck"
        table_path = folder / f"{node.name}.json"
        if not table and not table_path.exists():
            return
        healthcheck.write_table(table_path, table)
        healthcheck.ensure_server(node.netns, table_path, folder / f"{node.name}.pid")

    def pod_status(self, state_dir):
        """What the runtime reports of a pod (EndpointSlices follow readiness)."""
        return runtime.pod_status(state_dir)


def _nft_family(family: str) -> str:
    return "ip6" if family == IPV6 else "ip"


def _digest_path(lab: str, node_name: str, family: str = IPV4):
    from netlab import names
    return names.lab_dir(lab) / "rules" / (f"{node_name}.json" if family == IPV4 else f"{node_name}.{family}.json")


def _load_digests(lab: str, node_name: str, family: str = IPV4) -> dict:
    try:
        return json.loads(_digest_path(lab, node_name, family).read_text())
    except (FileNotFoundError, ValueError):
        return {}


def _save_digests(lab: str, node_name: str, digests: dict, family: str = IPV4) -> None:
    path = _digest_path(lab, node_name, family)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(digests))
    os.replace(tmp, path)


def sync(lab: str, st, topology, lab_config, objects, report, dataplane: NodeDataplane | None = None) -> None:
    """Bring every node's rules in line with the Services and the running pods.

    A node seen for the first time (or whose namespace was re-created) gets whole tables; after
    that only the chains that changed are restored (--noflush). All nodes restore in parallel.
    """
    dataplane = dataplane or NodeDataplane()
    now = time.time()
    mode = getattr(lab_config, "proxy_mode", "iptables")
    backend = st.iptables_backend or lab_config.iptables_backend
    if mode not in PROXY_MODES:
        raise ProxyModeError(f"proxy mode {mode!r} is not one netlab runs (supported: {', '.join(PROXY_MODES)})")
    if mode == "nftables" and backend == "python-iptables":
        raise ProxyModeError("proxy mode nftables writes its table with `nft -f -`; the python-iptables "
                             "backend only writes iptables rules (use the restore backend)")
    allocated = allocate(objects, st, topology)
    pods = pod_endpoint_inputs(lab, st, objects, dataplane.pod_status, topology)
    slices = endpoint_slices(allocated, pods, objects)
    previous_view = st.allocations.get("view") or {}
    st.allocations["view"] = {"services": allocated, "slices": slices}
    docs = allocated + slices
    proxiers = [FamilyProxier(family, NodeRenderer(docs, topology, lab_config, family), applied_rules(st, family))
                for family in families(topology)]
    for proxier in proxiers:
        for node in _local_nodes(topology):
            record = proxier.applied.get(node.name)
            # the lab switched modes on a live namespace: kube-proxy's cleanup of the other mode
            if (record and record.get("mode", "iptables") != mode
                    and record.get("netns") == dataplane.netns_id(node)):
                dataplane.remove_mode(node, record.get("mode", "iptables"), proxier.family)
                proxier.applied.pop(node.name, None)
                _NFT_MEMORY.pop(_memory_key(lab, node.name, proxier.family), None)
    if mode == "nftables":
        previous_docs = list(previous_view.get("services") or []) + list(previous_view.get("slices") or [])
        synced = _sync_nftables(lab, topology, proxiers, st, lab_config, report, dataplane, now, previous_docs)
    else:
        synced = _sync_iptables(lab, topology, proxiers, st, lab_config, backend, report, dataplane, now)
    if not synced:
        return
    clear_stale_udp(st, topology, allocated, slices, dataplane)
    route_external_addresses(topology, allocated, slices, dataplane)
    serve_health_checks(lab, topology, allocated, slices, dataplane)


def _report_warnings(warnings, warned: set, report) -> None:
    for warning in warnings:
        if warning not in warned:
            warned.add(warning)
            report.warnings.append(warning)


class FamilyProxier:
    """One IP family's kube-proxy (a dual-stack node runs two): its renderer and its record of
    what was written to each node (node name -> {netns, mode, full, ...})."""

    def __init__(self, family: str, renderer: "NodeRenderer", applied: dict):
        self.family = family
        self.renderer = renderer
        self.applied = applied


def applied_rules(st, family: str = IPV4) -> dict:
    """The lab record of what FAMILY's kube-proxy last wrote to each node."""
    return st.allocations.setdefault("rules" if family == IPV4 else f"rules-{family}", {})


def _memory_key(lab: str, node_name: str, family: str) -> tuple:
    return (lab, node_name, family)


def _sync_iptables(lab, topology, proxiers, st, lab_config, backend, report, dataplane, now) -> bool:
    """iptables mode: one iptables-restore (and ip6tables-restore) per node whose rules changed;
    False if the sync waits."""
    warned = set()
    planned = []                # (proxier, jobs, done) per family
    for proxier in proxiers:
        jobs, done = [], []
        planned.append((proxier, jobs, done))
        for node in _local_nodes(topology):
            record = proxier.applied.get(node.name) or {}
            netns_id = dataplane.netns_id(node)
            # a new namespace, or an hour since the last whole-tables sync (kube-proxy's FullSyncPeriod,
            # which repairs rules someone changed by hand): whole tables; otherwise the changed chains
            fresh = record.get("netns") != netns_id or now - record.get("full", 0) > FULL_SYNC_PERIOD
            nfacct = dataplane.prepare(node) if fresh else record.get("nfacct", False)
            ruleset, warnings = proxier.renderer.render(node, nfacct)
            _report_warnings(warnings, warned, report)
            digests = chain_digests(ruleset)
            before = _load_digests(lab, node.name, proxier.family)
            if backend == "python-iptables":
                # libiptc rewrites whole tables (one commit per table), so there is no partial sync
                if fresh or digests != before:
                    jobs.append((node.netns, ruleset.to_restore_text(include_builtin_jumps=True), None))
                    done.append((node, digests, {"netns": netns_id, "nfacct": nfacct, "full": now}))
                continue
            if fresh:
                jobs.append((node.netns, ruleset.to_restore_text(include_builtin_jumps=True), False))
            else:
                text = partial_text(ruleset, digests, before)
                if not text:
                    continue
                jobs.append((node.netns, text, True))
            done.append((node, digests, {"netns": netns_id, "nfacct": nfacct,
                                         "full": now if fresh else record.get("full", now)}))
    if any(jobs for _, jobs, _ in planned) and not take_sync_token(st, lab_config.kube_proxy.min_sync_period,
                                                                   now, report):
        return False                # kube-proxy's syncRunner: this change waits for its turn
    for proxier, jobs, done in planned:
        started = time.perf_counter()
        if jobs:
            try:
                dataplane.restore(backend, jobs, proxier.family)
            except Exception:
                for node, _, _ in done:   # unknown which went in: the next sync writes whole tables
                    proxier.applied.pop(node.name, None)
                raise
            crashpoints.reached("node rules restored")
        took = time.perf_counter() - started
        rules_in = {namespace: sum(1 for line in text.splitlines() if line.startswith("-A "))
                    for namespace, text, _ in jobs}
        for node, digests, record in done:
            _save_digests(lab, node.name, digests, proxier.family)
            proxier.applied[node.name] = record
            if node.name not in report.rules_synced:
                report.rules_synced.append(node.name)
            written, _ = report.rule_stats.get(node.name, (0, 0.0))
            report.rule_stats[node.name] = (written + rules_in.get(node.netns, 0), took)
    return True


@contextlib.contextmanager
def collector_paused():
    """Python's cyclic garbage collector held off while every node's rules are rendered and diffed.

    A sync allocates ~10^5 short-lived objects a node, and each burst set off collections over
    the process's whole heap (the plan cache and the last tables it keeps): about half of a
    3,000-Service partial sync's time, node after node. Nothing the sync makes is cyclic garbage;
    the collector catches up once afterwards."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _table_digest(ruleset) -> str:
    """A short digest of the whole table RULESET describes (what the lab's record keeps per node)."""
    return ruleset.digest()


def _sync_nftables(lab, topology, proxiers, st, lab_config, report, dataplane, now, previous_docs=()) -> bool:
    """nftables mode: per node and family, the renderer's sync from what was last written there (a
    partial sync) or from the live table (a full one); one `nft -f -` each. False if it waits.

    What was last written is this process's memory, or else the previous sync's Services and
    EndpointSlices (the lab state keeps them) rendered again, when that gives the very table the
    lab's record says was written."""
    jobs, done = [], []
    # the memory of each node may be changed in place (no copy of a big table model) only if this
    # sync will write: one that waits for minSyncPeriod must find the memory as it was
    consume = sync_token_ready(st, lab_config.kube_proxy.min_sync_period, now)
    with collector_paused():
        for proxier in proxiers:
            got_jobs, got_done = _plan_nftables(lab, topology, proxier, lab_config, report, dataplane, now,
                                                previous_docs, consume)
            jobs += got_jobs
            done += [(proxier, *entry) for entry in got_done]
    return _apply_nftables(lab, st, lab_config, report, dataplane, now, jobs, done)


def _plan_nftables(lab, topology, proxier, lab_config, report, dataplane, now, previous_docs, consume=False):
    """Each node's sync for PROXIER's family, decided: (jobs, done) for the nodes whose table must
    change; its record and the memory are brought up to date for the others."""
    warned = set()
    jobs, done = [], []
    previous_renderer = None
    family, renderer, applied = proxier.family, proxier.renderer, proxier.applied
    for node in _local_nodes(topology):
        record = applied.get(node.name) or {}
        netns_id = dataplane.netns_id(node)
        key = _memory_key(lab, node.name, family)
        memory = _NFT_MEMORY.get(key)
        # the memory holds only if no other process (a `netlab` command beside the supervisor)
        # wrote the table since: the lab's record names the table last written
        # (a memory a sync took over and never wrote, when that sync failed half-way, is no memory)
        known = (memory is not None and memory[:2] == (netns_id, record.get("table"))
                 and record.get("netns") == netns_id and record.get("mode") == "nftables"
                 and not memory[2].consumed)
        periodic = now - record.get("full", 0) > FULL_SYNC_PERIOD
        if record.get("netns") != netns_id:
            dataplane.prepare(node)
        if known and len(memory) > 3:
            ruleset, warnings = renderer.render_nft(node, memory[2].ruleset, memory[3])
        else:
            ruleset, warnings = renderer.render_nft(node)
        _report_warnings(warnings, warned, report)
        digest = _table_digest(ruleset)
        if not known and previous_docs and record.get("netns") == netns_id and record.get("mode") == "nftables":
            # a new process: what the previous sync wrote, rendered again, is its memory if it is
            # the table the record names (kube-proxy keeps it in memory; netlab's CLI is many processes)
            if previous_renderer is None:
                previous_renderer = NodeRenderer(previous_docs, topology, lab_config, family)
            old, _ = previous_renderer.render_nft(node)
            if _table_digest(old) == record.get("table"):
                memory, known = (netns_id, record["table"], old.sync(None).state), True
        if known:
            result = ruleset.sync(memory[2], now=now, full=periodic, consume=consume)
        else:
            # no memory of this node (a new namespace, or a new process): start from the live table,
            # as a restarted kube-proxy does
            result = ruleset.sync(dataplane.nft_read(node, family), now=now)
        full_at = now if result.full else record.get("full", now)
        entry = {"netns": netns_id, "mode": "nftables", "full": full_at, "table": digest}
        if not result.transaction and not result.cleanup:
            _NFT_MEMORY[key] = (netns_id, digest, result.state, renderer.service_groups())
            applied[node.name] = entry
            continue
        jobs.append((node.netns, result.cleanup, result.transaction))
        done.append((node, result, entry))
    return jobs, done


def _apply_nftables(lab, st, lab_config, report, dataplane, now, jobs, done) -> bool:
    """One `nft -f -` a node and family for JOBS, all at once, and what they wrote remembered;
    False if the sync must wait (minSyncPeriod). DONE holds (proxier, node, result, record)."""
    if jobs and not take_sync_token(st, lab_config.kube_proxy.min_sync_period, now, report):
        return False
    started = time.perf_counter()
    cleanup_failed = []
    if jobs:
        try:
            cleanup_failed = dataplane.nft_apply(jobs)
        except Exception:
            for proxier, node, _, _ in done:   # unknown which went in: the next sync starts from the live table
                if node.name in proxier.applied:
                    proxier.applied[node.name]["table"] = None     # (the mode stays known, for a mode switch)
                _NFT_MEMORY.pop(_memory_key(lab, node.name, proxier.family), None)
            raise
        crashpoints.reached("node rules restored")
    took = time.perf_counter() - started
    for proxier, node, result, record in done:
        proxier.applied[node.name] = record
        key = _memory_key(lab, node.name, proxier.family)
        if node.netns in cleanup_failed:   # kube-proxy forces a full sync after a failed cleanup
            _NFT_MEMORY.pop(key, None)
        else:
            _NFT_MEMORY[key] = (record["netns"], record["table"], result.state, proxier.renderer.service_groups())
        if node.name not in report.rules_synced:
            report.rules_synced.append(node.name)
        operations, _ = report.rule_stats.get(node.name, (0, 0.0))
        report.rule_stats[node.name] = (operations + result.operations, took)
    return True


SYNC_BURST = 2     # proxier.go: NewBoundedFrequencyRunner(..., minSyncPeriod, time.Hour, burstSyncs=2)


def _tokens(st, min_sync_period: float, now: float) -> float:
    bucket = st.allocations.get("sync_runner") or {"tokens": float(SYNC_BURST), "at": now}
    return min(float(SYNC_BURST), bucket["tokens"] + max(0.0, now - bucket["at"]) / min_sync_period)


def sync_token_ready(st, min_sync_period: float, now: float) -> bool:
    """Whether take_sync_token() would let a sync at NOW write (without taking the token)."""
    return min_sync_period <= 0 or _tokens(st, min_sync_period, now) >= 1.0


def take_sync_token(st, min_sync_period: float, now: float, report) -> bool:
    """kube-proxy's BoundedFrequencyRunner: a burst of 2 syncs, then one per minSyncPeriod.

    False when this sync must wait; REPORT.rules_deferred_until then says until when.
    """
    if min_sync_period <= 0:
        return True
    tokens = _tokens(st, min_sync_period, now)
    if tokens < 1.0:
        st.allocations["sync_runner"] = {"tokens": tokens, "at": now}
        report.rules_deferred_until = now + (1.0 - tokens) * min_sync_period
        return False
    st.allocations["sync_runner"] = {"tokens": tokens - 1.0, "at": now}
    return True


def health_check_tables(topology, allocated: list, slices: list) -> dict:
    """node -> {healthCheckNodePort: {namespace, name, localEndpoints}} (LocalReadyEndpoints)."""
    tables = {node.name: {} for node in topology.nodes}
    for service in allocated:
        meta, spec = service["metadata"], service["spec"]
        port = spec.get("healthCheckNodePort")
        if not port or spec.get("type") != "LoadBalancer" or spec.get("externalTrafficPolicy") != "Local":
            continue
        # one family's endpoints, as each proxier counts its own: a dual-stack pod has two addresses
        family = (spec.get("ipFamilies") or [IPV4])[0]
        for node in topology.nodes:
            ready_here = {e["addresses"][0] for s in slices
                          if (s["metadata"].get("labels") or {}).get(service_ctl.SERVICE_NAME_LABEL) == meta["name"]
                          and s["metadata"].get("namespace") == meta["namespace"]
                          and s.get("addressType", IPV4) == family
                          for e in s["endpoints"]
                          if e["conditions"].get("ready") and e.get("nodeName") == node.name}
            tables[node.name][port] = {"namespace": meta["namespace"], "name": meta["name"],
                                       "localEndpoints": len(ready_here)}
    return tables


def serve_health_checks(lab: str, topology, allocated: list, slices: list, dataplane: NodeDataplane) -> None:
    """Keep each node's health server answering for its LoadBalancer + Local Services."""
    tables = health_check_tables(topology, allocated, slices)
    for node in _local_nodes(topology):
        dataplane.serve_health(lab, node, tables[node.name])


def external_routes(topology, allocated: list, slices: list) -> dict:
    """LoadBalancer and external IPs -> the node IPs a load balancer would send their traffic to.

    With externalTrafficPolicy Local only nodes with a ready local endpoint (those whose
    healthCheckNodePort answers 200) receive traffic; otherwise every node does.
    """
    routes = {}
    for service in allocated:
        meta, spec = service["metadata"], service["spec"]
        addresses = list(spec.get("externalIPs") or [])
        addresses += [i["ip"] for i in ((service.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
                      if i.get("ip")]
        if not addresses:
            continue
        nodes = [n for n in topology.nodes]
        if spec.get("externalTrafficPolicy") == "Local" and spec.get("type") in ("NodePort", "LoadBalancer"):
            local = {e.get("nodeName") for s in slices
                     if (s["metadata"].get("labels") or {}).get(service_ctl.SERVICE_NAME_LABEL) == meta["name"]
                     and s["metadata"].get("namespace") == meta["namespace"]
                     for e in s["endpoints"] if e["conditions"].get("ready")}
            nodes = [n for n in nodes if n.name in local]
        for address in addresses:
            routes.setdefault(address, [])
            routes[address] += [n.ip for n in nodes if n.ip not in routes[address]]
    return routes


def route_external_addresses(topology, allocated: list, slices: list, dataplane: NodeDataplane) -> None:
    """Each client's routes to the LoadBalancer and external IPs, towards the nodes that take them."""
    routes = external_routes(topology, allocated, slices)
    for client in _local_clients(topology):
        dataplane.route_client(client, routes)


def _udp_targets(allocated: list, slices: list) -> dict:
    """For each UDP service port: the addresses it is reached at and its serving endpoint IPs."""
    targets = {}
    for service in allocated:
        meta, spec = service["metadata"], service["spec"]
        for port in spec.get("ports") or []:
            if port.get("protocol") != "UDP":
                continue
            key = f"{meta['namespace']}/{meta['name']}:{port.get('name') or ''}/{port['port']}"
            cluster_ips = list(spec.get("clusterIPs") or [spec.get("clusterIP")])
            ips = [ip for ip in cluster_ips + list(spec.get("externalIPs") or []) if ip and ip != "None"]
            ips += [i.get("ip") for i in ((service.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
                    if i.get("ip")]
            serving = sorted({e["addresses"][0] for s in slices
                              if (s["metadata"].get("labels") or {}).get(service_ctl.SERVICE_NAME_LABEL) == meta["name"]
                              and s["metadata"].get("namespace") == meta["namespace"]
                              for e in s["endpoints"] if e["conditions"].get("serving", True)})
            targets[key] = {"ips": ips, "port": port["port"], "nodePort": port.get("nodePort"), "serving": serving}
    return targets


def _conntrack_family(ip: str) -> list:
    """conntrack's family option for IP: its default is IPv4, an IPv6 address needs `-f ipv6`."""
    return ["-f", "ipv6"] if ":" in ip else []


def clear_stale_udp(st, topology, allocated: list, slices: list, dataplane: NodeDataplane) -> None:
    """Delete UDP conntrack entries whose backend is gone (pkg/proxy/conntrack/cleanup.go).

    A UDP "connection" is refreshed by every packet, so a client that keeps its source port would
    stay pinned to a dead endpoint, or to the un-DNATed entry made while there was none.
    """
    previous = st.allocations.get("udp", {})
    current = _udp_targets(allocated, slices)
    for key, target in current.items():
        before = previous.get(key)
        if before is None or not target["serving"] or before["serving"] == target["serving"]:
            continue
        gone = sorted(set(before["serving"]) - set(target["serving"]))
        filters = []
        for ip in target["ips"]:
            if not before["serving"]:
                filters.append(_conntrack_family(ip) + ["--orig-dst", ip])   # entries made with no endpoint
            filters += [_conntrack_family(ip) + ["--orig-dst", ip, "--reply-src", old] for old in gone
                        if (":" in old) == (":" in ip)]
        if target["nodePort"]:
            filters += [_conntrack_family(old) + ["--dport", str(target["nodePort"]), "--reply-src", old]
                        for old in gone]
        for node in _local_nodes(topology):
            for extra in filters:
                dataplane.delete_udp_conntrack(node, extra)
    st.allocations["udp"] = current
