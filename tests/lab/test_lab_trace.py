"""`netlab trace` against the kernel: for every data-plane scenario one real connection is traced and
its path equals explain's (`matchesExplain`), the endpoint the kernel chose is one of explain's (none
for a REJECT or a DROP), and nothing of the trace stays behind: no `table ip netlab-trace` in any of
the lab's namespaces, no `nft monitor` in them, no record file.

Two labs of LAB for the module, both with the restore backend: `lab` in kube-proxy's iptables mode
(every scenario), `nft_lab` in its nftables mode (`netlab up --proxy-mode nftables`: the rules are
the nft table `ip kube-proxy`, and the kernel's path must be explain's rule for rule in nft's own
text: ClusterIP across nodes, NodePort with masquerade, session affinity, no endpoints, Local policy).
LAB is a copy of tests/lab/test_lab_explain.py's scenarios, with single-endpoint Services where a
scenario needs the kernel to have no choice (same node, across nodes, hairpin, traffic policies). A
small lab checks the refusal of the python-iptables backend.
"""

import json
import os
import re
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


@pytest.fixture(scope="module")
def nft_lab(tmp_path_factory):
    path = tmp_path_factory.mktemp("trace-nft") / "lab.yaml"
    path.write_text(LAB)
    with lab_up("nltrn", "-f", str(path), "--iptables-backend", "restore", "--proxy-mode", "nftables") as name:
        assert until(lambda: all(_dns_endpoints_in_rules(name, node) for node in ("node1", "node2"))), \
            "the cluster DNS pods never reached kube-proxy's rules"
        yield name
        assert _leftovers(name) == []


_NFT_DNS_ENDPOINT = re.compile(r"^\s*chain endpoint-\S+-kube-system/kube-dns/udp/dns__\S+ \{")


def _dns_endpoints_in_rules(lab, node):
    """Both cluster DNS pods are endpoints in NODE's rules (iptables: KUBE-SEP DNATs; nftables mode:
    endpoint chains of `ip kube-proxy`)."""
    text = netlab_cli("rules", node, "--name", lab).stdout
    lines = text.splitlines()
    iptables = sum(1 for line in lines if line.startswith("-A KUBE-SEP-")
                   and '"kube-system/kube-dns:dns"' in line and "-j DNAT" in line)
    nft = sum(1 for line in lines if _NFT_DNS_ENDPOINT.match(line))
    return iptables + nft == 2


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


def test_trace_refuses_a_python_iptables_lab_in_one_line(tmp_path):
    # (kube-proxy's nftables mode is traced: the nft_lab tests below)
    path = tmp_path / "python-iptables.yaml"
    path.write_text("apiVersion: netlab.io/v1alpha1\nkind: Cluster\nspec: {nodes: 1}\n")
    with lab_up("nltrx", "-f", str(path), "--iptables-backend", "python-iptables") as name:
        done = netlab_cli("trace", "node/node1", "svc/kubernetes", "--name", name, check=False)
        assert done.returncode == 1 and done.stdout == ""
        assert done.stderr.count("\n") == 1 and done.stderr.startswith(f"error: lab {name!r} "), done.stderr
        assert "iptables-legacy (the python-iptables backend)" in done.stderr and "Traceback" not in done.stderr
        assert _leftovers(name) == []


# -- kube-proxy's nftables mode -----------------------------------------------------------------

KP = "ip kube-proxy"


def _nft_rules(data):
    """The kernel's rule hops; in nftables mode every one is a rule of `ip kube-proxy` in nft's text."""
    rules = [h for h in data["kernel"] if h["kind"] == "rule"]
    assert rules and all(h["table"] == KP and h["rule"] and "KUBE-" not in h["rule"] for h in rules), rules
    return rules


def _nft_dnat(data):
    """(chain, rule) of the DNATs the kernel matched: `dnat to IP:PORT` in an endpoint-... chain."""
    return [(h["chain"], h["rule"]) for h in _nft_rules(data) if " dnat to " in f" {h['rule']}"]


def test_nft_mode_pod_to_cluster_ip_across_nodes(nft_lab):
    solo = _pods(nft_lab)["solo"]["status"]["podIP"] + ":80"
    data = _trace(nft_lab, "client-a", "svc/solo")
    assert _agrees(data) == solo and not data["masquerade"]
    assert _where(data) == ["pod/client-a", "node/node1", "underlay", "node/node2", "pod/solo"]
    ((chain, rule),) = _nft_dnat(data)
    assert chain.startswith("endpoint-") and rule.endswith(f"dnat to {solo}")
    lookup = next(h for h in _nft_rules(data) if h["chain"] == "services")          # the vmap found its element
    assert lookup["rule"] == "ip daddr . meta l4proto . th dport vmap @service-ips"
    assert lookup["verdict"].startswith("goto service-") and lookup["verdict"].endswith("default/solo/tcp/")


def test_nft_mode_node_port_through_a_node_without_the_endpoint_is_masqueraded(nft_lab):
    solo = _pods(nft_lab)["solo"]["status"]["podIP"] + ":80"
    data = _trace(nft_lab, "client/client", "node/node1:30082")
    assert _agrees(data) == solo and data["masquerade"] is True
    assert "node/node2" in _where(data)
    assert [h["verdict"] for h in _nft_rules(data) if h["rule"].startswith("masquerade")] == ["accept"]
    there = [h["packet"] for h in data["kernel"] if h["kind"] == "packet" and h["where"] == "node/node2"]
    assert there and not there[0].startswith("arrives: tcp 172.18.0.100:")           # masqueraded by node1


def _affinity_rules(data):
    """The `ip saddr @affinity-... goto endpoint-...` rules the kernel matched (a pinned client)."""
    return [h["rule"] for h in _nft_rules(data) if h["rule"].startswith("ip saddr @affinity-")]


def test_nft_mode_session_affinity_pins_the_second_connection_through_the_affinity_set(nft_lab):
    first = _trace(nft_lab, "client-b", "svc/sticky")
    chosen = _agrees(first)
    assert _affinity_rules(first) == []              # chosen by numgen
    assert any(h["rule"].startswith("numgen random mod 3 vmap") for h in _nft_rules(first))
    second = _trace(nft_lab, "client-b", "svc/sticky")
    assert _agrees(second) == chosen and second["affinity"]["pinned"] == chosen
    (pinned,) = _affinity_rules(second)
    assert pinned.endswith("__" + chosen.replace(":", "/"))
    assert not any(h["rule"].startswith("numgen ") for h in _nft_rules(second))


def test_nft_mode_no_endpoints_is_rejected(nft_lab):
    data = _trace(nft_lab, "client-a", "svc/nobody")
    _agrees(data, "rejected")
    rules = _nft_rules(data)
    assert [(h["chain"], h["rule"]) for h in rules[-2:]] == [
        ("service-endpoints-check", "ip daddr . meta l4proto . th dport vmap @no-endpoint-services"),
        ("reject-chain", "reject")]
    assert rules[-2]["verdict"] == "goto reject-chain"


def test_nft_mode_node_port_local_policy_serves_locally_and_drops_without_a_local_endpoint(nft_lab):
    served = _trace(nft_lab, "client/client", "node/node2:30081")
    assert _agrees(served) == _pods(nft_lab)["solo"]["status"]["podIP"] + ":80"
    assert served["masquerade"] is False
    dropped = _trace(nft_lab, "client/client", "node/node1:30081")
    _agrees(dropped, "dropped")
    last = _nft_rules(dropped)[-1]
    assert (last["chain"], last["verdict"]) == ("nodeport-endpoints-check", "drop")
    assert last["rule"].endswith("vmap @no-endpoint-nodeports")


def test_nft_mode_text_output_shows_the_rules_in_nfts_text(nft_lab):
    done = netlab_cli("trace", "client-a", "svc/solo", "--name", nft_lab)
    assert "verdict: the same path as explain" in done.stdout
    assert "kernel path (nft monitor trace; each rule of ip kube-proxy as `nft list table` prints it):" \
        in done.stdout
    assert "[node/node1] ip kube-proxy services: ip daddr . meta l4proto . th dport vmap @service-ips\n" \
        in done.stdout
    assert "warnings:" not in done.stdout and _leftovers(nft_lab) == []
