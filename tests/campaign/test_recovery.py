"""Nothing lost, nothing shared by mistake: labs whose names extend each other, a damaged state file,
a pin file a crash left unmounted, and errors that stay one line."""

import os
import subprocess
import textwrap

import pytest

from netlab import state
from tests.conftest import lab_namespaces, netlab_cli, unique_lab

pytestmark = pytest.mark.root

ONE_POD = textwrap.dedent("""\
    apiVersion: v1
    kind: Pod
    metadata: {name: solo}
    spec:
      containers:
      - {name: c, image: busybox, command: [sleep, infinity]}
    """)


def _pids_in(netns):
    out = subprocess.run(["ip", "netns", "pids", netns], capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]


@pytest.fixture
def manifest(tmp_path):
    path = tmp_path / "solo.yaml"
    path.write_text(ONE_POD)
    return str(path)


def test_down_of_a_lab_never_touches_a_lab_whose_name_extends_it_even_with_its_state_lost(manifest):
    short = unique_lab("nlx")
    longer = f"{short}-b"
    try:
        netlab_cli("up", "-f", manifest, "--name", short)
        netlab_cli("up", "-f", manifest, "--name", longer)
        theirs = lab_namespaces(longer)
        pod_netns = f"{longer}-default.solo"
        assert pod_netns in theirs and _pids_in(pod_netns)
        os.unlink(f"/run/netlab/{longer}/state.json")           # the longer lab's state is lost
        netlab_cli("down", "--name", short)
        assert [n for n in lab_namespaces(short) if not n.startswith(longer + "-")] == []
        assert lab_namespaces(longer) == theirs and _pids_in(pod_netns)
        netlab_cli("down", "--name", longer)                      # and it is still cleaned by its own name
        assert lab_namespaces(longer) == []
    finally:
        netlab_cli("down", "--name", short, check=False)
        netlab_cli("down", "--name", longer, check=False)
    assert lab_namespaces(short) == []


@pytest.mark.parametrize("damage", ['{"foo": 1}', '{"lab": "x", "pods": ', "\x00garbage"])
def test_a_damaged_state_file_is_moved_aside_in_one_line_and_down_still_removes_everything(manifest, damage):
    name = unique_lab("nld")
    try:
        netlab_cli("up", "-f", manifest, "--name", name)
        with state.locked(name):            # not while the supervisor is writing it
            with open(f"/run/netlab/{name}/state.json", "w") as handle:
                handle.write(damage)
        status = netlab_cli("status", check=False)
        assert status.returncode == 0 and "Traceback" not in status.stdout + status.stderr
        line = next(l for l in status.stdout.splitlines() if l.startswith(f"lab '{name}'"))
        assert "damaged" in line and "state.json.corrupt-" in line and f"netlab down --name {name}" in line
        again = netlab_cli("get", "pods", "--name", name, check=False)
        assert again.returncode != 0 and len(again.stderr.strip().splitlines()) == 1
        netlab_cli("down", "--name", name)
        assert lab_namespaces(name) == [] and not os.path.exists(f"/run/netlab/{name}")
        assert not os.path.exists(f"/run/netlab/{name}.lock")
    finally:
        netlab_cli("down", "--name", name, check=False)


def test_a_pin_file_a_crash_left_unmounted_is_made_a_namespace_again(manifest):
    name = unique_lab("nlp")
    os.makedirs("/run/netns", exist_ok=True)
    plain = f"/run/netns/{name}-node2"
    open(plain, "w").close()                                   # created, never mounted
    try:
        netlab_cli("up", "-f", manifest, "--name", name)
        assert f"{name}-node2" in lab_namespaces(name)
        route = subprocess.run(["ip", "netns", "exec", f"{name}-node2", "ip", "route"], capture_output=True,
                               text=True)
        assert route.returncode == 0 and "10.244.1.0/24" in route.stdout
    finally:
        netlab_cli("down", "--name", name, check=False)
        if os.path.exists(plain):
            os.unlink(plain)
    assert lab_namespaces(name) == []


def test_a_refused_new_lab_leaves_no_lock_behind(tmp_path):
    name = unique_lab("nlr")
    bad = tmp_path / "bad.yaml"
    bad.write_text(textwrap.dedent("""\
        apiVersion: v1
        kind: Service
        metadata: {name: s}
        spec:
          type: NodePort
          ports: [{port: 80, nodePort: 29999}]
        """))
    result = netlab_cli("up", "-f", str(bad), "--name", name, check=False)
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert not os.path.exists(f"/run/netlab/{name}.lock") and lab_namespaces(name) == []


def test_an_unexpected_failure_is_still_one_line(manifest):
    name = unique_lab("nlo")
    try:
        netlab_cli("up", "-f", manifest, "--name", name)
        result = netlab_cli("probe", "--from", "node/node9", "10.96.0.1:443", "--name", name, check=False)
        assert result.returncode != 0 and "Traceback" not in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    finally:
        netlab_cli("down", "--name", name, check=False)


def test_more_replicas_than_the_lab_has_addresses_is_refused_at_once(tmp_path):
    name = unique_lab("nlc")
    big = tmp_path / "big.yaml"
    big.write_text(textwrap.dedent("""\
        apiVersion: apps/v1
        kind: Deployment
        metadata: {name: web}
        spec:
          replicas: 2147483647
          selector: {matchLabels: {app: web}}
          template:
            metadata: {labels: {app: web}}
            spec:
              containers: [{name: web, image: nginx}]
        """))
    result = netlab_cli("up", "-f", str(big), "--name", name, check=False, timeout=30)
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert f"{big}:5: spec.replicas: 2147483647 pods do not fit this lab" in result.stderr
    assert lab_namespaces(name) == [] and not os.path.exists(f"/run/netlab/{name}.lock")


def test_an_apply_the_api_server_would_refuse_changes_nothing_and_names_file_line_and_field(tmp_path):
    name = unique_lab("nli")
    first = tmp_path / "svc.yaml"
    first.write_text(ONE_POD + "---\n" + textwrap.dedent("""\
        apiVersion: v1
        kind: Service
        metadata: {name: web}
        spec:
          clusterIP: 10.96.0.50
          ports: [{port: 80}]
        """))
    changed = tmp_path / "changed.yaml"
    changed.write_text(first.read_text().replace("10.96.0.50", "10.96.0.51") + "---\n" + textwrap.dedent("""\
        apiVersion: v1
        kind: Pod
        metadata: {name: lost, namespace: nowhere}
        spec:
          containers: [{name: c, image: busybox, command: [sleep, infinity]}]
        """))
    try:
        netlab_cli("up", "-f", str(first), "--name", name)
        before = state.load(name)
        result = netlab_cli("apply", "-f", str(changed), "--name", name, check=False)
        assert result.returncode != 0 and "Traceback" not in result.stderr
        assert f'{changed}:12: spec.clusterIP: invalid value "10.96.0.51": field is immutable' in result.stderr
        assert f'{changed}:17: metadata.namespace: namespaces "nowhere" not found' in result.stderr
        after = state.load(name)                 # the supervisor may have written status meanwhile
        assert (after.objects, after.resource_version, after.allocations["services"]) == \
            (before.objects, before.resource_version, before.allocations["services"])
    finally:
        netlab_cli("down", "--name", name, check=False)
    assert lab_namespaces(name) == []


def _ip(*args):
    return subprocess.run(["ip", *args], capture_output=True, text=True, check=True).stdout


def test_a_veth_whose_peer_is_not_in_the_pod_and_a_bridge_without_its_address_are_redone(manifest):
    from netlab import lab as lab_mod, names
    from netlab.dataplane import network
    name = unique_lab("nlw")
    try:
        netlab_cli("up", "-f", manifest, "--name", name)
        st = state.load(name)
        record = st.pods["default/solo"]
        node_ns, pod_ns = f"{name}-{record['node']}", f"{name}-default.solo"
        host_veth = names.pod_host_veth("default", "solo", record["uid"])
        # what a crash can leave: the host end of the pod's veth with its peer somewhere else
        _ip("-n", node_ns, "link", "del", host_veth)
        _ip("-n", node_ns, "link", "add", host_veth, "type", "veth", "peer", "name", "stray0")
        topology = lab_mod.topology_of(name, st.config)
        network.ensure_pod_network(topology, topology.node(record["node"]), pod_ns, host_veth, record["ip"])
        assert f"inet {record['ip']}/" in _ip("-n", pod_ns, "addr", "show", "eth0")
        assert "stray0" not in _ip("-n", node_ns, "link", "show")
        assert f"master {names.POD_BRIDGE}" in _ip("-n", node_ns, "link", "show", host_veth)
        # and a bridge that lost its address gets it back from the next `up`
        _ip("-n", node_ns, "addr", "flush", "dev", names.POD_BRIDGE)
        netlab_cli("up", "--name", name)
        gateway = topology.node(record["node"]).gateway
        assert f"inet {gateway}/" in _ip("-n", node_ns, "addr", "show", names.POD_BRIDGE)
        assert subprocess.run(["ip", "netns", "exec", node_ns, "curl", "-s", "-m", "2", f"http://{record['ip']}/"],
                              capture_output=True).returncode in (0, 7)   # reachable (7: nothing listens)
    finally:
        netlab_cli("down", "--name", name, check=False)
    assert lab_namespaces(name) == []
