"""`netlab trace` against the kernel: for every data-plane scenario one real connection is traced and
its path equals explain's (`matchesExplain`), the endpoint the kernel chose is one of explain's (none
for a REJECT or a DROP), and nothing of the trace stays behind: no `table ip netlab-trace` in any of
the lab's namespaces, no `nft monitor` in them, no record file.

One lab (restore backend, kube-proxy's iptables mode) for the module; LAB is a copy of
tests/lab/test_lab_explain.py's scenarios, with single-endpoint Services where a scenario needs the
kernel to have no choice (same node, across nodes, hairpin, traffic policies). Two small labs check
the refusals (python-iptables backend, nftables mode).
"""

import json
import os
import subprocess
import sys
import textwrap

import pytest

from netlab import names
from tests.conftest import lab_namespaces, lab_up, netlab_cli, until

pytestmark = pytest.mark.root

LAB = textwrap.dedent("""\
    apiVersion: netlab.io/v1alpha1
    kind: Cluster
    spec:
      clients:
      - {name: client, ip: 172.18.0.100}
      - {name: outsider, ip: 172.18.0.101}
      loadBalancerPool: 172.18.255.200-172.18.255.210
    ---
    apiVersion: apps/v1
    kind: Deployment
    metadata: {name: web}
    spec:
      replicas: 3
      selector: {matchLabels: {app: web}}
      template:
        metadata: {labels: {app: web}}
        spec:
          containers: [{name: web, image: nginx, ports: [{name: http, containerPort: 8080}]}]
    ---
    apiVersion: v1
    kind: Pod
    metadata: {name: solo, labels: {app: solo}}
    spec:
      nodeName: node2
      containers: [{name: web, image: nginx, ports: [{containerPort: 80}]}]
    ---
    apiVersion: v1
    kind: Pod
    metadata: {name: client-a}
    spec:
      nodeName: node1
      containers: [{name: c, image: curlimages/curl, command: [sleep, infinity]}]
    ---
    apiVersion: v1
    kind: Pod
    metadata: {name: client-b}
    spec:
      nodeName: node2
      containers: [{name: c, image: curlimages/curl, command: [sleep, infinity]}]
    ---
    apiVersion: v1
    kind: Service
    metadata: {name: web}
    spec:
      selector: {app: web}
      ports: [{name: http, port: 80, targetPort: http}]
    ---
    apiVersion: v1
    kind: Service
    metadata: {name: solo}
    spec:
      selector: {app: solo}
      ports: [{port: 80}]
    ---
    apiVersion: v1
    kind: Service
    metadata: {name: solo-np}
    spec:
      type: NodePort
      selector: {app: solo}
      ports: [{port: 80, nodePort: 30082}]
    ---
    apiVersion: v1
    kind: Service
    metadata: {name: solo-local}
    spec:
      type: NodePort
      externalTrafficPolicy: Local
      selector: {app: solo}
      ports: [{port: 80, nodePort: 30081}]
    ---
    apiVersion: v1
    kind: Service
    metadata: {name: sticky}
    spec:
      selector: {app: web}
      sessionAffinity: ClientIP
      ports: [{port: 80, targetPort: 8080}]
    ---
    apiVersion: v1
    kind: Service
    metadata: {name: nobody}
    spec:
      selector: {app: nothing-has-this-label}
      ports: [{port: 80}]
    ---
    apiVersion: v1
    kind: Service
    metadata: {name: a-web-lb}
    spec:
      type: LoadBalancer
      selector: {app: web}
      ports: [{port: 80, targetPort: 8080}]
    ---
    apiVersion: v1
    kind: Service
    metadata: {name: c-ranged-lb}
    spec:
      type: LoadBalancer
      loadBalancerSourceRanges: [172.18.0.100/32]
      selector: {app: web}
      ports: [{port: 80, targetPort: 8080}]
    ---
    apiVersion: v1
    kind: Service
    metadata: {name: web-ext}
    spec:
      selector: {app: web}
      externalIPs: [172.18.254.10]
      ports: [{port: 8081, targetPort: 8080}]
    """)


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    path = tmp_path_factory.mktemp("trace") / "lab.yaml"
    path.write_text(LAB)
    with lab_up("nltr", "-f", str(path), "--iptables-backend", "restore") as name:
        # the cluster DNS pods join kube-proxy's rules once their readiness probes pass: a trace during
        # that rewrite would read rules the connection did not meet
        assert until(lambda: all(_dns_endpoints_in_rules(name, node) for node in ("node1", "node2"))), \
            "the cluster DNS pods never reached kube-proxy's rules"
        yield name
        assert _leftovers(name) == []


def _dns_endpoints_in_rules(lab, node):
    text = netlab_cli("rules", node, "--name", lab).stdout
    return sum(1 for line in text.splitlines() if line.startswith("-A KUBE-SEP-")
               and '"kube-system/kube-dns:dns"' in line and "-j DNAT" in line) == 2


def _pods(lab):
    from netlab.inspect import get_objects
    return {p["metadata"]["name"]: p for p in get_objects(lab, "Pod", "default", [])}


def _lb_ip(lab, name):
    from netlab.inspect import get_objects
    (service,) = get_objects(lab, "Service", "default", [name])
    return service["status"]["loadBalancer"]["ingress"][0]["ip"]


def _net_inode(path):
    try:
        return os.stat(path).st_ino
    except OSError:
        return None


def _monitors_in(lab):
    """`nft ... monitor` processes running in any of LAB's network namespaces (pid, argv)."""
    ours = {_net_inode(f"/run/netns/{ns}") for ns in lab_namespaces(lab)} - {None}
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as handle:
                argv = handle.read().split(b"\0")
        except OSError:
            continue
        words = [w.decode(errors="replace") for w in argv if w]
        if "monitor" in words and any(os.path.basename(w) == "nft" for w in words) \
                and _net_inode(f"/proc/{pid}/ns/net") in ours:
            found.append((int(pid), words))
    return found


def _trace_tables(lab):
    """The namespaces of LAB that hold a `netlab-trace` table (`ip netns exec NS nft list tables`)."""
    found = []
    for ns in lab_namespaces(lab):
        listing = subprocess.run(["ip", "netns", "exec", ns, "nft", "list", "tables"], capture_output=True,
                                 text=True, check=True).stdout
        if "netlab-trace" in listing:
            found.append(ns)
    return found


def _record(lab):
    return names.lab_dir(lab) / "trace-tables.json"


def _leftovers(lab):
    """Whatever a trace of LAB left: tables, monitors, the record."""
    return ([f"table in {ns}" for ns in _trace_tables(lab)] + [f"monitor {m}" for m in _monitors_in(lab)]
            + ([str(_record(lab))] if _record(lab).exists() else []))


def _trace(lab, source, dest, *extra):
    """`netlab trace SOURCE DEST -o json` (which must leave nothing behind) as data."""
    done = netlab_cli("trace", source, dest, "--name", lab, "-o", "json", *extra, check=False)
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert _leftovers(lab) == []
    return data


def _agrees(data, verdict="delivered"):
    """The kernel's path is explain's; CHOSEN is one of explain's endpoints (none when not delivered)."""
    why = json.dumps({k: data[k] for k in ("firstDifference", "traceWarnings", "outcome", "chosen")}, indent=1)
    assert data["matchesExplain"] is True and data["firstDifference"] is None, why
    assert data["verdict"] == verdict, why
    endpoints = {e["address"] for e in data["endpoints"]}
    if verdict == "delivered":
        assert data["chosen"] in endpoints and data["outcome"] == "established", why
    else:
        assert data["chosen"] is None and endpoints == set(), why
        assert data["outcome"] == ("refused" if verdict == "rejected" else "dropped"), why
    assert [h["step"] for h in data["kernel"]] == list(range(1, len(data["kernel"]) + 1))
    return data["chosen"]


def _where(data):
    """The places the traced packet was seen in, in order (pod/..., node/...)."""
    return [h["where"] for h in data["kernel"] if h["kind"] == "packet"]


def test_pod_to_cluster_ip_on_the_same_node_and_across_nodes(lab):
    solo = _pods(lab)["solo"]["status"]["podIP"] + ":80"
    same = _trace(lab, "client-b", "svc/solo")           # client-b and solo both on node2
    assert _agrees(same) == solo
    assert _where(same) == ["pod/client-b", "node/node2", "pod/solo"]
    across = _trace(lab, "client-a", "svc/solo")         # node1 -> underlay -> node2
    assert _agrees(across) == solo
    assert _where(across) == ["pod/client-a", "node/node1", "underlay", "node/node2", "pod/solo"]
    assert not across["masquerade"]


def test_hairpin_a_pod_to_its_own_service_lands_on_itself_masqueraded(lab):
    data = _trace(lab, "solo", "svc/solo")
    assert _agrees(data) == _pods(lab)["solo"]["status"]["podIP"] + ":80"
    assert data["masquerade"] is True
    assert any(h["rule"] and "-j MASQUERADE" in h["rule"] for h in data["kernel"])


def test_node_port_cluster_policy_through_a_node_with_and_without_a_local_endpoint(lab):
    solo = _pods(lab)["solo"]["status"]["podIP"] + ":80"
    remote = _trace(lab, "client/client", "node/node1:30082")          # solo runs on node2 only
    assert _agrees(remote) == solo and remote["masquerade"] is True
    assert "node/node2" in _where(remote)
    local = _trace(lab, "client/client", "node/node2:30082")
    assert _agrees(local) == solo and "node/node1" not in _where(local)


def test_node_port_local_policy_serves_locally_and_drops_without_a_local_endpoint(lab):
    served = _trace(lab, "client/client", "node/node2:30081")
    assert _agrees(served) == _pods(lab)["solo"]["status"]["podIP"] + ":80"
    assert served["masquerade"] is False
    dropped = _trace(lab, "client/client", "node/node1:30081")
    _agrees(dropped, "dropped")
    assert any(h["verdict"] == "drop" for h in dropped["kernel"])


def _recent(data):
    """The `-m recent --rcheck` rules the kernel matched (session affinity)."""
    return [h["rule"] for h in data["kernel"] if h["rule"] and "--rcheck" in h["rule"]]


def test_session_affinity_two_traces_from_one_client_choose_the_same_endpoint(lab):
    first = _trace(lab, "client-b", "svc/sticky")
    chosen = _agrees(first)
    second = _trace(lab, "client-b", "svc/sticky")
    assert _agrees(second) == chosen
    assert second["affinity"]["pinned"] == chosen
    # not a lucky draw: the first connection was chosen at random, the second by the affinity rule
    assert _recent(first) == [] and len(_recent(second)) == 1 and chosen in _recent(second)[0]


def test_no_endpoints_is_rejected_and_no_endpoint_chosen(lab):
    data = _trace(lab, "client-a", "svc/nobody")
    _agrees(data, "rejected")
    assert any(h["rule"] and "-j REJECT" in h["rule"] for h in data["kernel"])


def test_load_balancer_without_source_ranges(lab):
    data = _trace(lab, "client/client", _lb_ip(lab, "a-web-lb"))
    _agrees(data)
    assert data["masquerade"] is True


def test_load_balancer_source_ranges_serve_an_allowed_client_and_drop_another(lab):
    lb = _lb_ip(lab, "c-ranged-lb")
    _agrees(_trace(lab, "client/client", lb))
    refused = _trace(lab, "client/outsider", lb)
    _agrees(refused, "dropped")
    assert any(h["chain"].startswith("KUBE-FW-") for h in refused["kernel"] if h["chain"])


def test_external_ip(lab):
    data = _trace(lab, "client/client", "172.18.254.10:8081")
    assert _agrees(data).endswith(":8080")


def test_text_output_names_the_verdict_and_the_chosen_endpoint(lab):
    done = netlab_cli("trace", "client-a", "svc/solo", "--name", lab)
    lines = done.stdout.splitlines()
    assert lines[0] == "trace: client-a -> svc/solo = Service default/solo:80 (clusterIP)"
    assert "verdict: the same path as explain" in done.stdout
    assert f"the kernel chose {_pods(lab)['solo']['status']['podIP']}:80 (pod solo, node2)" in done.stdout
    assert _leftovers(lab) == []


def _steps(lab, *args, **env):
    """Run `netlab trace ARGS` with the crashpoint variables ENV; (completed process, steps listed)."""
    log = names.lab_dir(lab) / "steps.log"
    log.unlink(missing_ok=True)
    done = subprocess.run([sys.executable, "-m", "netlab", "trace", *args, "--name", lab],
                          capture_output=True, text=True, timeout=60,
                          env=dict(os.environ, NETLAB_STEPS_LOG=str(log), **env))
    steps = log.read_text().splitlines() if log.exists() else []
    log.unlink(missing_ok=True)
    return done, steps


def test_a_trace_killed_after_adding_its_tables_is_cleaned_up_by_the_next(lab):
    done, steps = _steps(lab, "client-a", "svc/solo")
    assert done.returncode == 0, done.stderr
    at = next(int(s.split()[0]) for s in steps if s.split(None, 1)[1] == "trace tables added")
    killed, _ = _steps(lab, "client-a", "svc/solo", NETLAB_CRASH_AT=str(at))
    assert killed.returncode == -9, (killed.returncode, killed.stderr)
    try:
        left = _trace_tables(lab)
        # the record lists exactly the tables the dead trace left; its monitors died with it
        assert left and sorted(json.loads(_record(lab).read_text())) == left
        assert until(lambda: not _monitors_in(lab), timeout=5) is True
    finally:
        after = _trace(lab, "client-a", "svc/solo")        # asserts that nothing is left
    _agrees(after)


def test_trace_refuses_a_python_iptables_lab_and_an_nftables_mode_lab_in_one_line(tmp_path):
    tiny = "apiVersion: netlab.io/v1alpha1\nkind: Cluster\nspec: {nodes: 1%s}\n"
    cases = (("python-iptables", "", "iptables-legacy (the python-iptables backend)"),
             ("restore", ", proxyMode: nftables", "kube-proxy's nftables mode"))
    for backend, extra, words in cases:
        path = tmp_path / f"{backend}.yaml"
        path.write_text(tiny % extra)
        with lab_up("nltrx", "-f", str(path), "--iptables-backend", backend) as name:
            done = netlab_cli("trace", "node/node1", "svc/kubernetes", "--name", name, check=False)
            assert done.returncode == 1 and done.stdout == ""
            assert done.stderr.count("\n") == 1 and done.stderr.startswith(f"error: lab {name!r} "), done.stderr
            assert words in done.stderr and "Traceback" not in done.stderr
            assert _leftovers(name) == []
