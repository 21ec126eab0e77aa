"""kube-proxy's nftables mode in a lab: spec.proxyMode, the `ip kube-proxy` table written with one
`nft -f -` per sync, partial syncs, a refused transaction, and switching a lab's mode.

(The data-plane scenarios - spread, NodePort, traffic policies, affinity, no endpoints, UDP - run
in both modes in test_lab_services.py.)
"""

import pathlib
import re
import subprocess
import sys
import textwrap

import pytest

from netlab import state
from netlab.dataplane import iptables, nftables
from netlab.manifest import ManifestError, loads
from netlab.proxy.nft_listing import canonical_rule
from netlab.proxy.nft_ruleset import NftTable
from tests.conftest import lab_namespaces, lab_up, netlab_cli, unique_lab, until

CLUSTER = "apiVersion: netlab.io/v1alpha1\nkind: Cluster\nspec: {{proxyMode: {mode}}}\n---\n"
APPS = textwrap.dedent("""\
    apiVersion: apps/v1
    kind: Deployment
    metadata: {name: web}
    spec:
      replicas: 2
      selector: {matchLabels: {app: web}}
      template:
        metadata: {labels: {app: web}}
        spec:
          containers: [{name: web, image: nginx, ports: [{containerPort: 80}]}]
    ---
    apiVersion: v1
    kind: Service
    metadata: {name: web}
    spec:
      type: NodePort
      selector: {app: web}
      ports: [{port: 80, nodePort: 30080}]
    """)
EXTRA = textwrap.dedent("""\
    apiVersion: v1
    kind: Service
    metadata: {name: other}
    spec:
      selector: {app: web}
      ports: [{port: 81, targetPort: 80}]
    """)


def _nft(lab, *args, node="node1", check=True):
    return subprocess.run(["ip", "netns", "exec", f"{lab}-{node}", "nft", *args],
                          capture_output=True, text=True, check=check)


def _rule_handles(lab):
    """chain name -> its rules' handles, from `nft -a list table ip kube-proxy`: a chain that a sync
    flushes and refills gets new rule handles, one it leaves alone keeps them."""
    listing = _nft(lab, "-a", "list", "table", "ip", "kube-proxy").stdout
    handles, chain = {}, None
    for line in listing.splitlines():
        m = re.match(r"\s*chain (\S+) \{", line)
        if m:
            chain = handles.setdefault(m.group(1), [])
        elif chain is not None and re.search(r" # handle \d+$", line):
            chain.append(line.rsplit(" ", 1)[1])
    return handles


def _kube_chains(lab, node="node1"):
    saved = subprocess.run(["ip", "netns", "exec", f"{lab}-{node}", "iptables-save"],
                           capture_output=True, text=True, check=True).stdout
    return [line for line in saved.splitlines() if "KUBE-" in line]


@pytest.fixture
def lab_files(tmp_path):
    def write(mode, extra=""):
        path = tmp_path / f"{mode}{'-extra' if extra else ''}.yaml"
        path.write_text(CLUSTER.format(mode=mode) + APPS + ("---\n" + extra if extra else ""))
        return str(path)
    return write


@pytest.fixture
def lab_name():
    name = unique_lab("nlnft")
    try:
        yield name
    finally:
        netlab_cli("down", "--name", name, check=False)
        assert lab_namespaces(name) == []


# --- the lab file (no root) -----------------------------------------------------------------

HEAD = "apiVersion: netlab.io/v1alpha1\nkind: Cluster\n"


def test_proxy_mode_defaults_to_iptables_and_takes_nftables():
    assert loads(HEAD + "spec: {}\n", "lab.yaml").lab.proxy_mode == "iptables"
    assert loads(HEAD + "spec: {proxyMode: nftables}\n", "lab.yaml").lab.proxy_mode == "nftables"


def test_a_bad_proxy_mode_names_its_file_line_and_field():
    with pytest.raises(ManifestError) as info:
        loads(HEAD + "spec:\n  proxyMode: nft\n", "lab.yaml")
    assert str(info.value).splitlines() == [
        'lab.yaml:4: spec.proxyMode: unsupported value "nft" (supported: "iptables", "nftables")']


def test_nftables_mode_refuses_the_python_iptables_backend():
    with pytest.raises(ManifestError) as info:
        loads(HEAD + "spec:\n  iptablesBackend: python-iptables\n  proxyMode: nftables\n", "lab.yaml")
    assert "lab.yaml:5: spec.proxyMode: nftables mode writes its table with `nft -f -`" in str(info.value)


def test_the_live_table_reads_back_as_the_renderers_objects():
    document = {"nftables": [
        {"table": {"family": "ip", "name": "kube-proxy", "comment": "rules for kube-proxy"}},
        {"set": {"name": "cluster-ips", "type": "ipv4_addr", "elem": ["10.96.0.1"]}},
        {"map": {"name": "service-ips", "type": ["ipv4_addr", "inet_proto", "inet_service"], "map": "verdict",
                 "elem": [[{"elem": {"val": {"concat": ["10.96.0.1", "tcp", 443]}, "comment": "x"}},
                           {"goto": {"target": "service-A-default/kubernetes/tcp/https"}}]]}},
        {"map": {"name": "no-endpoint-nodeports", "type": ["inet_proto", "inet_service"], "map": "verdict",
                 "elem": [[{"concat": ["tcp", 30081]}, {"drop": None}]]}},
        {"chain": {"name": "service-A-default/kubernetes/tcp/https"}},
        {"chain": {"name": "nat-output", "type": "nat", "hook": "output", "prio": -100}},
    ]}
    table = nftables.table_from_json(document)
    assert isinstance(table, NftTable) and table.exists
    assert sorted(table.chain_names()) == ["nat-output", "service-A-default/kubernetes/tcp/https"]
    assert table.find_element("service-ips", "10.96.0.1", "tcp", "443").value == \
        ("goto service-A-default/kubernetes/tcp/https",)
    assert table.find_element("no-endpoint-nodeports", "tcp", "30081").value == ("drop",)
    assert [e.key for e in table.elements("cluster-ips")] == [("10.96.0.1",)]


def test_iptables_cleanup_removes_kube_chains_and_the_jumps_to_them_only():
    saved = textwrap.dedent("""\
        *nat
        :PREROUTING ACCEPT [0:0]
        :POSTROUTING ACCEPT [0:0]
        :KUBE-SERVICES - [0:0]
        :FLANNEL - [0:0]
        -A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
        -A POSTROUTING -s 10.244.0.0/16 -j MASQUERADE
        -A KUBE-SERVICES -j RETURN
        COMMIT
        *filter
        :INPUT ACCEPT [0:0]
        COMMIT
        """)
    assert iptables.kube_cleanup_text(saved) == textwrap.dedent("""\
        *nat
        :KUBE-SERVICES - [0:0]
        -D PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
        -X KUBE-SERVICES
        COMMIT
        """)


def test_a_refused_transaction_shows_the_failing_line_in_context():
    text = "add table ip kube-proxy\nadd chain ip kube-proxy a\nadd rule ip kube-proxy a bogus\nadd chain ip kube-proxy b\n"
    err = nftables.failure("ns1", text, "/dev/stdin:3:26-30: Error: syntax error, unexpected string\n"
                                        "add rule ip kube-proxy a bogus\n                         ^^^^^")
    message = str(err)
    assert "nft -f in network namespace 'ns1' failed: /dev/stdin:3:26-30: Error: syntax error" in message
    assert ">     3  add rule ip kube-proxy a bogus" in message
    assert "      2  add chain ip kube-proxy a" in message
    assert message.endswith("the previous rules are still in place")


# --- a live lab (root) ------------------------------------------------------------------------

@pytest.mark.root
def test_a_lab_in_nftables_mode_writes_the_kube_proxy_table_and_no_iptables_rules(lab_files, lab_name):
    netlab_cli("up", "-f", lab_files("nftables"), "--name", lab_name)
    for node in ("node1", "node2"):
        table = _nft(lab_name, "list", "table", "ip", "kube-proxy", node=node).stdout
        assert re.search(r"chain service-\w+-default/web/tcp/ \{", table)
        assert re.search(r"chain external-\w+-default/web/tcp/ \{", table)
        assert len(re.findall(r"chain endpoint-\w+-default/web/tcp/__10\.244\.", table)) == 2
        assert "numgen random mod 2 vmap" in table
        assert re.search(r"tcp \. 30080 : goto external-\w+-default/web/tcp/", table)
        assert _kube_chains(lab_name, node) == []
    # the supervisor's kube-proxy may sync in between (kube-dns's endpoints turn ready after up):
    # compare within a window where the live table stayed the same
    for _ in range(20):
        before = _nft(lab_name, "list", "table", "ip", "kube-proxy").stdout
        shown = netlab_cli("rules", "node1", "--name", lab_name).stdout
        if _nft(lab_name, "list", "table", "ip", "kube-proxy").stdout == before:
            break
    assert shown == before
    answer = netlab_cli("exec", "--name", lab_name, "client/client", "--", "curl", "-s", "-m", "3",
                        "172.18.0.3:30080").stdout
    assert "pod: web-" in answer


@pytest.mark.root
def test_a_service_change_is_a_partial_sync_and_a_refused_transaction_keeps_the_table(lab_files, lab_name):
    netlab_cli("up", "-f", lab_files("nftables"), "--name", lab_name)
    before = _rule_handles(lab_name)
    netlab_cli("apply", "-f", lab_files("nftables", EXTRA), "--name", lab_name)
    # (the change may wait for minSyncPeriod, then the supervisor's sync runner writes it)
    after = until(lambda: (lambda now: now if any(re.match(r"service-\w+-default/other/tcp/$", name)
                                                  for name in now) else None)(_rule_handles(lab_name)))
    assert after, "the new Service's chain never appeared"
    # a partial sync: the web Service's chains were not rewritten (same rules, same handles), while
    # a full sync would have flushed and refilled every service chain
    web = {name: handles for name, handles in before.items() if "-default/web/" in name}
    assert web and all(handles and after.get(name) == handles for name, handles in web.items()), (web, after)

    table = _nft(lab_name, "list", "table", "ip", "kube-proxy").stdout
    broken = ("add chain ip kube-proxy netlab-test\n"
              "add rule ip kube-proxy netlab-test ip daddr 10.0.0.1 this-is-not-nft\n"
              "flush table ip kube-proxy\n")
    with pytest.raises(nftables.NftError) as info:
        nftables.apply(f"{lab_name}-node1", broken)
    message = str(info.value)
    assert ">     2  add rule ip kube-proxy netlab-test ip daddr 10.0.0.1 this-is-not-nft" in message
    assert "the previous rules are still in place" in message
    assert _nft(lab_name, "list", "table", "ip", "kube-proxy").stdout == table


@pytest.mark.root
def test_switching_a_labs_mode_leaves_nothing_of_the_old_one(lab_files, lab_name):
    netlab_cli("up", "-f", lab_files("iptables"), "--name", lab_name)
    assert _kube_chains(lab_name)
    assert _nft(lab_name, "list", "table", "ip", "kube-proxy", check=False).returncode != 0
    netlab_cli("down", "--name", lab_name)
    netlab_cli("up", "-f", lab_files("nftables"), "--name", lab_name)
    assert _kube_chains(lab_name) == [] and _kube_chains(lab_name, "node2") == []
    assert _nft(lab_name, "list", "table", "ip", "kube-proxy").returncode == 0
    netlab_cli("down", "--name", lab_name)
    netlab_cli("up", "-f", lab_files("iptables"), "--name", lab_name)
    assert _kube_chains(lab_name)
    for node in ("node1", "node2"):
        assert _nft(lab_name, "list", "table", "ip", "kube-proxy", node=node, check=False).returncode != 0


# --- the sync runner in nftables mode, with an in-memory node (no root) ----------------------------

class _NftPlane:
    """FakeDataplane plus an in-memory `ip kube-proxy` table per namespace."""

    def __init__(self):
        from tests.fakes import FakeDataplane
        self.base = FakeDataplane()
        self.tables, self.transactions, self.removed = {}, [], []

    def __getattr__(self, name):
        return getattr(self.base, name)

    def nft_apply(self, jobs):
        self.transactions.append(list(jobs))
        for namespace, cleanup, transaction in jobs:
            table = self.tables.get(namespace, NftTable())
            for text in (cleanup, transaction):
                table = table.apply_text(text) if text else table
            self.tables[namespace] = table
        return []

    def nft_read(self, node, family="IPv4"):
        return self.tables.get(node.netns)

    def remove_mode(self, node, mode, family="IPv4"):
        self.removed.append((node.name, mode))


@pytest.fixture
def nft_world(tmp_path, monkeypatch):
    from netlab import names, proxier, state
    from netlab.cluster.topology import build_topology
    from netlab.manifest.model import LabConfig
    monkeypatch.setattr(names, "RUN_DIR", tmp_path)
    monkeypatch.setattr(proxier, "_NFT_MEMORY", {})
    objects = [
        {"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": {"name": "web", "namespace": "default"},
         "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}},
                  "template": {"metadata": {"labels": {"app": "web"}},
                               "spec": {"containers": [{"name": "web", "image": "nginx",
                                                        "ports": [{"containerPort": 80}]}]}}}},
        {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web", "namespace": "default"},
         "spec": {"selector": {"app": "web"}, "ports": [{"port": 80}]}},
    ]
    st = state.LabState(lab="t", objects=objects)
    topology = build_topology("t", LabConfig())
    for k, (node, ip) in enumerate([("node1", "10.244.1.2"), ("node2", "10.244.2.2")]):
        st.pods[f"default/web-{k}"] = {"namespace": "default", "name": f"web-{k}", "uid": f"u{k}",
                                       "source": ["ReplicaSet", "default", "web"], "spec_hash": "x",
                                       "labels": {"app": "web"}, "owner": ["ReplicaSet", "web"], "node": node,
                                       "ip": ip, "phase": "running"}
    return st, topology, _NftPlane()


def _nft_sync(world, mode="nftables", backend="restore"):
    from netlab import manifest, proxier
    from netlab.lab import Report
    from netlab.manifest.model import KubeProxyConfig, LabConfig
    st, topology, plane = world
    config = LabConfig(proxy_mode=mode, iptables_backend=backend, kube_proxy=KubeProxyConfig(min_sync_period=0))
    report = Report(lab="t", topology=topology)
    proxier.sync("t", st, topology, config, manifest.parse_objects(st.objects, validate="ignore"), report, plane)
    return report


def test_nftables_mode_first_sync_is_whole_then_partial_and_a_new_process_stays_partial(nft_world, monkeypatch):
    from netlab import names, proxier
    st, _, plane = nft_world
    report = _nft_sync(nft_world)
    (jobs,) = plane.transactions
    assert [ns for ns, _, _ in jobs] == ["t-node1", "t-node2"]
    assert jobs[0][2].startswith("add table ip kube-proxy")
    assert "numgen random mod 2 vmap" in jobs[0][2] and report.rules_synced == ["node1", "node2"]
    _nft_sync(nft_world)
    assert len(plane.transactions) == 1                       # nothing new: nothing written
    monkeypatch.setattr(proxier, "_NFT_MEMORY", {})           # a new `netlab` process
    _nft_sync(nft_world)
    assert len(plane.transactions) == 1
    plane.base.stopped.add(str(names.pod_dir("t", "default", "web-1", "u1")))
    _nft_sync(nft_world)
    text = plane.transactions[-1][0][2]
    assert "add table" not in text and "services" not in text.replace("/", " ").split()   # partial
    assert "numgen random mod 1 vmap" in text
    assert "numgen random mod 1 vmap" in plane.tables["t-node1"].chain_text(
        next(c for c in plane.tables["t-node1"].chain_names() if c.endswith("-default/web/tcp/")))


def test_switching_modes_on_live_namespaces_removes_the_old_modes_rules(nft_world):
    st, _, plane = nft_world
    _nft_sync(nft_world, mode="iptables")
    _nft_sync(nft_world)
    assert plane.removed == [("node1", "iptables"), ("node2", "iptables")]
    _nft_sync(nft_world, mode="iptables")
    assert plane.removed[2:] == [("node1", "nftables"), ("node2", "nftables")]


def test_nftables_mode_refuses_the_python_iptables_backend_at_sync(nft_world):
    from netlab import proxier
    with pytest.raises(proxier.ProxyModeError, match="python-iptables backend only writes iptables rules"):
        _nft_sync(nft_world, backend="python-iptables")


MANIFESTS = pathlib.Path(__file__).resolve().parents[2] / "manifests"


def test_up_proxy_mode_sets_the_lab_files_mode_and_ipvs_is_refused_in_one_line():
    cli = netlab_cli
    with lab_up("nlpm", "-f", str(MANIFESTS), "--proxy-mode", "nftables") as lab:
        assert cli("rules", "node1", "--name", lab).stdout.startswith("table ip kube-proxy {")
        owned = cli("rules", "node1", "--service", "web", "--name", lab).stdout
        assert "map service-ips {" in owned and "chain service-" in owned and "dnat to 10.244." in owned
        assert "web-nodeport" not in owned and owned.index("chain service-") < owned.index("chain endpoint-")
        # probe's expected shares come from the live table, walked by the nft tracer
        probed = cli("probe", "--from", "curl", "svc/web", "--count", "40", "--name", lab).stdout
        expected = [line.split()[-1] for line in probed.splitlines() if line.startswith("10.244.")]
        assert expected == ["25.0%"] * 4 and "consistent with kube-proxy's shares" in probed
        # the table read back from the node is the renderer's for the lab's objects, object for object
        def canonical(table):
            return sorted(canonical_rule(line) for line in table.dump().splitlines())

        def live_and_rendered():
            objects = cli("get", "svc,endpointslices,nodes", "-A", "-o", "yaml", "--name", lab).stdout
            rendered = subprocess.run(
                [sys.executable, "-m", "netlab", "proxy", "render", "-f", "-", "--node", "node1", "--mode",
                 "nftables", "--cluster-cidr", "10.244.0.0/16", "--service-cidr", "10.96.0.0/12"],
                input=objects, capture_output=True, text=True, check=True).stdout
            return canonical(nftables.read_whole_table(f"{lab}-node1")), canonical(NftTable.from_text(rendered))

        # (the two reads agree once the supervisor has synced what the objects say)
        live, rendered = until(lambda: (pair := live_and_rendered())[0] == pair[1] and pair) or live_and_rendered()
        assert live == rendered
    ipvs = cli("up", "--name", "nlpm-ipvs", "--proxy-mode", "ipvs", check=False)
    assert ipvs.returncode == 1 and ipvs.stderr.startswith("error: kube-proxy's IPVS mode needs a kernel with IP_VS")


def test_nftables_mode_with_the_python_iptables_backend_is_refused_before_anything_is_built():
    name = unique_lab("nlnfr")
    refused = netlab_cli("up", "-f", str(MANIFESTS), "--name", name, "--proxy-mode", "nftables",
                         "--iptables-backend", "python-iptables", check=False)
    assert refused.returncode == 1 and refused.stderr.startswith("error: proxy mode nftables writes its table")
    assert lab_namespaces(name) == [] and not state.state_path(name).exists()
