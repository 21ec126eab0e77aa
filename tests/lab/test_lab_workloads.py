"""Workloads in a real lab: controllers keep their pods, scheduling constraints, containers' commands,
env, exit codes and users, namespaces, and the CLI's get/apply/delete/exec as kubectl users expect."""

import json
import os
import re
import subprocess
import textwrap
import time

import pytest
import yaml

from tests.conftest import lab_namespaces, netlab_cli, unique_lab

pytestmark = pytest.mark.root

# One lab shared by the tests that only look: nothing below mutates it.
WORKLOADS = textwrap.dedent("""\
    apiVersion: v1
    kind: Namespace
    metadata: {name: team}
    ---
    apiVersion: apps/v1
    kind: ReplicaSet
    metadata: {name: frontend, namespace: team}
    spec:
      replicas: 2
      selector:
        matchExpressions:
        - {key: tier, operator: In, values: [frontend]}
      template:
        metadata: {labels: {tier: frontend}}
        spec:
          containers:
          - {name: php, image: nginx, ports: [{containerPort: 80}]}
    ---
    apiVersion: v1
    kind: Pod
    metadata: {name: pinned}
    spec:
      nodeName: node2
      containers:
      - name: env
        image: busybox
        command: [sh, -c]
        args:
        - >-
          echo ip=$MY_POD_IP name=$MY_POD_NAME node=$MY_NODE host=$MY_HOST
          plain=$PLAIN greeting=$GREETING arg=$(MY_POD_NAME); sleep 3600
        env:
        - name: MY_POD_IP
          valueFrom: {fieldRef: {fieldPath: status.podIP}}
        - name: MY_POD_NAME
          valueFrom: {fieldRef: {fieldPath: metadata.name}}
        - name: MY_NODE
          valueFrom: {fieldRef: {fieldPath: spec.nodeName}}
        - name: MY_HOST
          valueFrom: {fieldRef: {fieldPath: status.hostIP}}
        - {name: PLAIN, value: hello world}
        - {name: GREETING, value: "hi $(MY_POD_NAME)"}
    ---
    apiVersion: v1
    kind: Pod
    metadata: {name: selected}
    spec:
      nodeSelector: {kubernetes.io/hostname: node1}
      containers:
      - {name: c, image: busybox, command: [sleep, "3600"]}
    ---
    apiVersion: v1
    kind: Pod
    metadata: {name: nowhere}
    spec:
      nodeSelector: {disktype: ssd}
      containers:
      - {name: c, image: busybox, command: [sleep, "3600"]}
    ---
    apiVersion: v1
    kind: Pod
    metadata: {name: py2}
    spec:
      nodeName: node1
      containers:
      - name: web
        image: python:2.7
        command: [python, -m, SimpleHTTPServer, "8080"]
        ports: [{containerPort: 8080}]
    ---
    apiVersion: v1
    kind: Pod
    metadata: {name: failer}
    spec:
      restartPolicy: Never
      containers:
      - {name: c, image: busybox, command: [sh, -c, 'echo bye-from-failer; exit 3']}
    ---
    apiVersion: v1
    kind: Pod
    metadata: {name: doner}
    spec:
      restartPolicy: Never
      containers:
      - {name: c, image: busybox, command: [sh, -c, 'echo done-ok']}
    ---
    apiVersion: v1
    kind: Pod
    metadata: {name: runas}
    spec:
      securityContext: {runAsUser: 1000}
      containers:
      - name: own
        image: busybox
        command: [sleep, "3601"]
        securityContext: {runAsUser: 1234}
      - name: inherits
        image: busybox
        command: [sleep, "3602"]
    ---
    apiVersion: v1
    kind: ServiceAccount
    metadata: {name: game-config}
    """)

DEPLOYMENT = textwrap.dedent("""\
    apiVersion: apps/v1
    kind: Deployment
    metadata: {name: web}
    spec:
      replicas: 3
      selector:
        matchLabels: {app: web}
        matchExpressions:
        - {key: tier, operator: NotIn, values: [db]}
      template:
        metadata: {labels: {app: web, tier: front}}
        spec:
          containers:
          - {name: web, image: nginx, ports: [{containerPort: 80}]}
    """)

BASE = textwrap.dedent("""\
    apiVersion: v1
    kind: Pod
    metadata: {name: base}
    spec:
      containers:
      - {name: c, image: busybox, command: [sleep, "3600"]}
    """)

SHOP = textwrap.dedent("""\
    apiVersion: v1
    kind: Namespace
    metadata: {name: shop}
    ---
    apiVersion: v1
    kind: Pod
    metadata: {name: cart, namespace: shop}
    spec:
      containers:
      - {name: c, image: nginx, ports: [{containerPort: 80}]}
    ---
    apiVersion: apps/v1
    kind: Deployment
    metadata: {name: pay, namespace: shop}
    spec:
      replicas: 2
      selector: {matchLabels: {app: pay}}
      template:
        metadata: {labels: {app: pay}}
        spec:
          containers:
          - {name: c, image: nginx, ports: [{containerPort: 80}]}
    """)

DEPLOYMENT_POD = re.compile(r"^web-[a-z0-9]{6,10}-[a-z0-9]{5}$")
REPLICASET_POD = re.compile(r"^frontend-[a-z0-9]{5}$")


def _pods(lab, *options):
    data = json.loads(netlab_cli("get", "pods", "-o", "json", "--name", lab, *options).stdout)
    return {item["metadata"]["name"]: item for item in data["items"]}


def _exec(lab, target, *command, container=None, namespace=None):
    options = (["-c", container] if container else []) + (["-n", namespace] if namespace else [])
    return netlab_cli("exec", "--name", lab, target, *options, "--", *command, check=False)


def _in_netns(netns, *command):
    return subprocess.run(["ip", "netns", "exec", netns, *command], capture_output=True, text=True, timeout=30)


def _eventually(probe, seconds=3.0):
    """probe() until it returns something truthy or SECONDS pass; the last value either way."""
    deadline = time.monotonic() + seconds
    while True:
        value = probe()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.1)


def _write(folder, name, text):
    path = folder / name
    path.write_text(text)
    return str(path)


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    name = unique_lab()
    folder = tmp_path_factory.mktemp("workloads")
    manifest = _write(folder, "workloads.yaml", WORKLOADS)
    try:
        result = netlab_cli("up", "-f", manifest, "--name", name, check=False)
        up_done = time.monotonic()
        assert result.returncode == 0, result.stdout + result.stderr
        yield name, manifest, result, up_done
    finally:
        netlab_cli("down", "--name", name, check=False)
        assert lab_namespaces(name) == []


@pytest.fixture
def fresh_lab(tmp_path):
    """A lab of its own for a test that changes what runs."""
    name = unique_lab()
    try:
        yield name, tmp_path
    finally:
        netlab_cli("down", "--name", name, check=False)
        assert lab_namespaces(name) == []


# -- manifests: kinds netlab does not model, controllers' pods -----------------------------------

def test_an_unknown_kind_is_skipped_with_a_warning_that_names_it(lab):
    name, manifest, result, _ = lab
    warning = next((line for line in result.stderr.splitlines() if "ServiceAccount" in line), None)
    assert warning is not None, result.stderr
    assert "game-config" in warning and "warning" in warning.lower()
    assert not any(line.lower().startswith("error") for line in result.stderr.splitlines())


def test_replicaset_pods_are_named_after_it_and_match_expressions_select_them(lab):
    name, _, _, _ = lab
    pods = _pods(name, "-n", "team")
    assert len(pods) == 2, sorted(pods)
    for pod_name, pod in pods.items():
        assert REPLICASET_POD.match(pod_name), pod_name
        assert pod["metadata"]["namespace"] == "team"
        assert pod["metadata"]["labels"] == {"tier": "frontend"}
        owner = pod["metadata"]["ownerReferences"][0]
        assert (owner["kind"], owner["name"]) == ("ReplicaSet", "frontend")
        assert pod["status"]["phase"] == "Running"
        assert pod["metadata"]["annotations"]["netlab.io/netns"] == f"{name}-team.{pod_name}"
        assert f"{name}-team.{pod_name}" in lab_namespaces(name)


# -- scheduling ----------------------------------------------------------------------------------

def test_node_name_and_a_node_selector_are_honoured(lab):
    name, _, _, _ = lab
    pods = _pods(name)
    assert pods["pinned"]["spec"]["nodeName"] == "node2"
    assert pods["pinned"]["status"]["podIP"].startswith("10.244.2.")
    assert pods["pinned"]["status"]["hostIP"] == "172.18.0.3"
    assert pods["selected"]["spec"]["nodeName"] == "node1"
    assert pods["selected"]["status"]["podIP"].startswith("10.244.1.")
    assert pods["py2"]["spec"]["nodeName"] == "node1"


def test_an_impossible_node_selector_leaves_the_pod_pending_without_failing_the_apply(lab):
    name, _, result, _ = lab
    assert result.returncode == 0
    row = next(line for line in netlab_cli("get", "pods", "--name", name).stdout.splitlines()
               if line.startswith("nowhere "))
    assert row.split()[1:3] == ["0/1", "Pending"]
    pod = _pods(name)["nowhere"]
    assert pod["status"]["phase"] == "Pending"
    assert "nodeName" not in pod["spec"] and "podIP" not in pod["status"]
    scheduled = next(c for c in pod["status"]["conditions"] if c["type"] == "PodScheduled")
    assert (scheduled["status"], scheduled["reason"]) == ("False", "Unschedulable")
    assert f"{name}-default.nowhere" not in lab_namespaces(name)


def test_a_pending_pod_does_not_point_at_a_network_namespace(lab):
    # it has none; -o wide shows <none>, and `ip netns exec` on the annotation's value would fail
    name, _, _, _ = lab
    pod = _pods(name)["nowhere"]
    assert pod["metadata"].get("annotations", {}).get("netlab.io/netns") is None
    row = next(line for line in netlab_cli("get", "pods", "-o", "wide", "--name", name).stdout.splitlines()
               if line.startswith("nowhere "))
    assert row.split()[-1] == "<none>"


# -- containers: commands, env, exits, users ------------------------------------------------------

def test_a_python2_simple_http_server_serves_on_8080_to_another_pod(lab):
    name, _, result, up_done = lab
    pods = _pods(name)
    server_ip = pods["py2"]["status"]["podIP"]
    caller_ns = pods["pinned"]["metadata"]["annotations"]["netlab.io/netns"]     # on the other node

    def get():
        reply = _in_netns(caller_ns, "curl", "-s", "--max-time", "2", "-w", "\n%{http_code}",
                          f"http://{server_ip}:8080/")
        return reply if reply.stdout.endswith("200") else None

    reply = _eventually(get, seconds=15)
    waited = time.monotonic() - up_done
    assert reply is not None, f"python -m SimpleHTTPServer 8080 never answered on {server_ip}:8080"
    assert "Directory listing for /" in reply.stdout
    # a real pod answers at once; `up` waits for containerPorts, so it must not have given up on this one
    assert "py2:8080 is not answering" not in result.stderr, (
        f"the server only answered {waited:.1f}s after `up` returned:\n{result.stderr}")


def test_downward_api_and_plain_env_reach_the_process(lab):
    name, _, _, _ = lab
    pod = _pods(name)["pinned"]
    text = _eventually(lambda: netlab_cli("logs", "pinned", "--name", name).stdout)
    expected = (f"ip={pod['status']['podIP']} name=pinned node=node2 host=172.18.0.3 plain=hello world "
                f"greeting=hi pinned arg=pinned")
    assert text.strip() == expected


def test_a_container_that_exits_shows_its_exit_code_and_keeps_its_output(lab):
    name, _, _, _ = lab

    def terminated():
        pods = _pods(name)
        states = [pods[p]["status"]["containerStatuses"][0]["state"] for p in ("failer", "doner")]
        return pods if all("terminated" in s for s in states) else None

    pods = _eventually(terminated)
    assert pods is not None, "the containers never showed as terminated"
    failed = pods["failer"]["status"]["containerStatuses"][0]
    assert failed["state"]["terminated"]["exitCode"] == 3 and failed["ready"] is False
    assert failed["state"]["terminated"]["reason"] == "Error"
    assert pods["failer"]["status"]["phase"] == "Failed"
    done = pods["doner"]["status"]["containerStatuses"][0]
    assert done["state"]["terminated"]["exitCode"] == 0 and done["state"]["terminated"]["reason"] == "Completed"
    assert pods["doner"]["status"]["phase"] == "Succeeded"
    rows = {line.split()[0]: line.split() for line in netlab_cli("get", "pods", "--name", name).stdout.splitlines()}
    assert rows["failer"][1:3] == ["0/1", "Error"]
    assert rows["doner"][1:3] == ["0/1", "Completed"]
    assert netlab_cli("logs", "failer", "--name", name).stdout == "bye-from-failer\n"
    assert netlab_cli("logs", "pod/doner", "--name", name).stdout == "done-ok\n"


def _uids_of(netns, argv):
    """(real, effective) uid of each process in NETNS running exactly ARGV."""
    inode = os.stat(f"/run/netns/{netns}").st_ino
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            if os.stat(f"/proc/{entry}/ns/net").st_ino != inode:
                continue
            with open(f"/proc/{entry}/cmdline", "rb") as handle:
                if handle.read().split(b"\0")[:-1] != [a.encode() for a in argv]:
                    continue
            with open(f"/proc/{entry}/status") as handle:
                uid_line = next(line for line in handle if line.startswith("Uid:"))
            found.append(tuple(int(v) for v in uid_line.split()[1:3]))
        except (OSError, StopIteration):
            pass
    return found


def test_run_as_user_is_honoured_for_the_pod_and_overridden_per_container(lab):
    name, _, _, _ = lab
    netns = f"{name}-default.runas"
    assert _uids_of(netns, ["sleep", "3601"]) == [(1234, 1234)]      # the container's own securityContext
    assert _uids_of(netns, ["sleep", "3602"]) == [(1000, 1000)]      # the pod's


def test_exec_runs_as_the_containers_user(lab):
    # kubectl exec runs the command with the container's user, as the runtime's exec does
    name, _, _, _ = lab
    own = _exec(name, "runas", "id", "-u")
    inherits = _exec(name, "runas", "id", "-u", container="inherits")
    assert (own.returncode, inherits.returncode) == (0, 0), own.stderr + inherits.stderr
    assert (own.stdout.strip(), inherits.stdout.strip()) == ("1234", "1000")


# -- get -----------------------------------------------------------------------------------------

def test_get_pods_by_namespace_and_across_all_namespaces(lab):
    name, _, _, _ = lab
    team = netlab_cli("get", "pods", "-n", "team", "--name", name).stdout.splitlines()
    assert team[0].split()[0] == "NAME"
    assert len(team) == 3 and all(REPLICASET_POD.match(line.split()[0]) for line in team[1:])
    default = [line.split()[0] for line in netlab_cli("get", "pods", "--name", name).stdout.splitlines()[1:]]
    assert sorted(default) == ["doner", "failer", "nowhere", "pinned", "py2", "runas", "selected"]
    everything = netlab_cli("get", "pods", "-A", "--name", name).stdout.splitlines()
    assert everything[0].split()[:2] == ["NAMESPACE", "NAME"]
    pairs = sorted((line.split()[0], line.split()[1]) for line in everything[1:])
    assert [p for p in pairs if p[0] == "team"] == [("team", n) for n in sorted(_pods(name, "-n", "team"))]
    assert [p[1] for p in pairs if p[0] == "default"] == sorted(default)
    # and the cluster's own DNS pods, as a kubeadm cluster lists them
    assert set(p[0] for p in pairs) == {"default", "kube-system", "team"}
    assert [p[1].rsplit("-", 2)[0] for p in pairs if p[0] == "kube-system"] == ["coredns", "coredns"]


def test_get_pods_yaml_prints_a_kubernetes_list(lab):
    name, _, _, _ = lab
    data = yaml.safe_load(netlab_cli("get", "pods", "-A", "-o", "yaml", "--name", name).stdout)
    assert (data["apiVersion"], data["kind"]) == ("v1", "List")
    assert len(data["items"]) == 9 + 2         # and the two coredns pods
    for item in data["items"]:
        assert (item["apiVersion"], item["kind"]) == ("v1", "Pod")
        assert item["metadata"]["name"] and item["metadata"]["namespace"] in ("default", "kube-system", "team")
        assert item["spec"]["containers"][0]["name"] and item["spec"]["containers"][0]["image"]
        assert item["status"]["phase"] in ("Pending", "Running", "Succeeded", "Failed")
    as_json = _pods(name, "-A")
    by_name = {item["metadata"]["name"]: item for item in data["items"]}
    assert {n: p["status"].get("podIP") for n, p in by_name.items()} == \
        {n: p["status"].get("podIP") for n, p in as_json.items()}


# -- exec ----------------------------------------------------------------------------------------

def test_exec_runs_in_a_node_and_in_the_client(lab):
    name, _, _, _ = lab
    node = _exec(name, "node/node1", "ip", "-4", "-o", "addr", "show", "cni0")
    assert node.returncode == 0 and "10.244.1.1/24" in node.stdout, node.stderr
    routes = _exec(name, "node/node2", "ip", "route")
    assert "10.244.1.0/24 via 172.18.0.2" in routes.stdout
    client = _exec(name, "client/client", "ip", "-4", "-o", "addr", "show", "eth0")
    assert client.returncode == 0 and "172.18.0.100/16" in client.stdout, client.stderr
    pod = _exec(name, "pod/frontend-xxxxx", "true", namespace="team")
    assert pod.returncode != 0                                       # a name that is not there


@pytest.mark.parametrize("target, container, words", [
    ("nosuch", None, ["nosuch"]),
    ("pod/nosuch", None, ["nosuch"]),
    ("pinned", "nosuch", ["nosuch", "pinned"]),
    ("node/node9", None, ["node9"]),
    ("client/nope", None, ["nope"]),
    ("nowhere", None, ["nowhere", "Pending"]),
    ("failer", None, ["failer"]),
])
def test_exec_errors_are_one_clear_line(lab, target, container, words):
    name, _, _, _ = lab
    result = _exec(name, target, "true", container=container)
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and all(word in lines[0] for word in words), result.stderr


STAMP = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z"


def test_logs_print_each_lines_time_and_select_by_it_as_kubectl_does(lab):
    name, _, _, _ = lab
    plain = netlab_cli("logs", "--name", name, "pinned").stdout
    assert plain.startswith("ip=10.244.2.")
    stamped = netlab_cli("logs", "--name", name, "pinned", "--timestamps").stdout
    stamp, line = stamped.split(" ", 1)
    assert re.fullmatch(STAMP, stamp) and line == plain
    prefixed = netlab_cli("logs", "--name", name, "pinned", "--prefix").stdout
    assert prefixed == f"[pod/pinned/env] {plain}"
    assert netlab_cli("logs", "--name", name, "pinned", "--since", "1h").stdout == plain
    assert netlab_cli("logs", "--name", name, "pinned", "--since-time", stamp).stdout == plain
    later = stamp[:-10] + "999999999Z"    # the same second's last nanosecond: after the line
    assert netlab_cli("logs", "--name", name, "pinned", "--since-time", later).stdout == ""
    assert netlab_cli("logs", "--name", name, "pinned", "--limit-bytes", "3").stdout == "ip="


@pytest.mark.parametrize("args, said", [
    (["--since", "1s", "--since-time", "2026-01-01T00:00:00Z"], "at most one of `sinceTime` or `sinceSeconds`"),
    (["--since", "yesterday"], 'invalid argument "yesterday" for "--since" flag'),
    (["--since-time", "noon"], 'parsing time "noon"'),
])
def test_logs_since_errors_are_kubectls(lab, args, said):
    name, _, _, _ = lab
    result = netlab_cli("logs", "--name", name, "pinned", *args, check=False)
    assert result.returncode == 1 and result.stderr == f"error: {result.stderr[7:]}" and said in result.stderr


@pytest.mark.parametrize("args", [["nosuch"], ["pinned", "-c", "nosuch"]])
def test_logs_errors_are_one_clear_line(lab, args):
    name, _, _, _ = lab
    result = netlab_cli("logs", "--name", name, *args, check=False)
    assert result.returncode != 0 and "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "nosuch" in lines[0], result.stderr


# -- controllers: a Deployment keeps, replaces and scales its pods (its own lab) ------------------

def test_a_deployment_replaces_a_deleted_pod_and_follows_its_replica_count(lab, fresh_lab):
    name, folder = fresh_lab
    manifest = _write(folder, "web.yaml", DEPLOYMENT)
    netlab_cli("up", "-f", manifest, "--name", name)
    first = _pods(name)
    assert len(first) == 3 and all(DEPLOYMENT_POD.match(n) for n in first), sorted(first)
    assert {p["spec"]["nodeName"] for p in first.values()} == {"node1", "node2"}

    # with this lab and the shared one up, a command without --name must say which labs there are
    unnamed = netlab_cli("get", "pods", check=False)
    assert unnamed.returncode != 0 and "Traceback" not in unnamed.stderr
    assert name in unnamed.stderr and lab[0] in unnamed.stderr and "--name" in unnamed.stderr

    victim = sorted(first)[0]
    netlab_cli("delete", "pod", victim, "--name", name)
    second = _pods(name)
    assert len(second) == 3 and victim not in second
    (replacement,) = set(second) - set(first)
    assert DEPLOYMENT_POD.match(replacement) and replacement.rsplit("-", 1)[0] == victim.rsplit("-", 1)[0]
    assert second[replacement]["status"]["podIP"] not in {p["status"]["podIP"] for p in first.values()}
    assert second[replacement]["status"]["phase"] == "Running"
    assert f"{name}-default.{victim}" not in lab_namespaces(name)
    assert f"{name}-default.{replacement}" in lab_namespaces(name)

    _write(folder, "web.yaml", DEPLOYMENT.replace("replicas: 3", "replicas: 5"))
    netlab_cli("apply", "-f", manifest, "--name", name)
    third = _pods(name)
    assert len(third) == 5 and set(second) <= set(third)
    assert {n: p["metadata"]["uid"] for n, p in second.items()} == \
        {n: third[n]["metadata"]["uid"] for n in second}              # the old ones are untouched
    assert all(p["status"]["phase"] == "Running" for p in third.values())
    assert len({p["status"]["podIP"] for p in third.values()}) == 5

    _write(folder, "web.yaml", DEPLOYMENT.replace("replicas: 3", "replicas: 2"))
    netlab_cli("apply", "-f", manifest, "--name", name)
    # the three taken away are Terminating until their kubelet has stopped them
    fourth = _eventually(lambda: (lambda pods: pods if len(pods) == 2 else None)(_pods(name)), 10)
    assert fourth and set(fourth) <= set(third)
    pod_spaces = [n for n in lab_namespaces(name) if n.startswith(f"{name}-default.")]
    assert sorted(pod_spaces) == sorted(f"{name}-default.{n}" for n in fourth)


# -- apply --validate=warn, delete -f (their own labs) ---------------------------------------------

def test_validate_warn_turns_an_unknown_field_into_a_warning_and_applies(fresh_lab):
    name, folder = fresh_lab
    netlab_cli("up", "-f", _write(folder, "base.yaml", BASE), "--name", name)
    typo = _write(folder, "shop.yaml",
                  SHOP.replace("image: nginx, ports", "image: nginx, imagePullPolicyy: Always, ports"))
    strict = netlab_cli("apply", "-f", typo, "--name", name, check=False)
    assert strict.returncode != 0 and "imagePullPolicyy" in strict.stderr
    assert sorted(_pods(name, "-n", "shop")) == []
    result = netlab_cli("apply", "--validate=warn", "-f", typo, "--name", name, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert any("imagePullPolicyy" in line and "warning" in line.lower() for line in result.stderr.splitlines())
    pods = _pods(name, "-n", "shop")
    assert len(pods) == 3 and all(p["status"]["phase"] == "Running" for p in pods.values())


def test_delete_f_removes_the_files_objects_their_pods_and_namespaces(fresh_lab):
    name, folder = fresh_lab
    netlab_cli("up", "-f", _write(folder, "base.yaml", BASE), "--name", name)
    shop = _write(folder, "shop.yaml", SHOP)
    netlab_cli("apply", "-f", shop, "--name", name)
    assert len(_pods(name, "-n", "shop")) == 3
    assert len([n for n in lab_namespaces(name) if n.startswith(f"{name}-shop.")]) == 3
    netlab_cli("delete", "-f", shop, "--name", name)
    assert sorted(_pods(name)) == ["base"] and _pods(name, "-n", "shop") == {}
    assert [n for n in lab_namespaces(name) if n.startswith(f"{name}-shop.")] == []
    assert f"{name}-default.base" in lab_namespaces(name)
    again = netlab_cli("delete", "-f", shop, "--name", name, check=False)
    assert again.returncode != 0 and "Traceback" not in again.stderr      # kubectl: NotFound


def test_deleting_a_namespace_deletes_what_is_in_it(fresh_lab):
    # as in Kubernetes: objects applied into a namespace from another file go with the namespace
    name, folder = fresh_lab
    shop = _write(folder, "shop.yaml", SHOP)
    netlab_cli("up", "-f", shop, "--name", name)
    stray = _write(folder, "stray.yaml", BASE.replace("name: base}", "name: stray, namespace: shop}"))
    netlab_cli("apply", "-f", stray, "--name", name)
    assert "stray" in _pods(name, "-n", "shop")
    netlab_cli("delete", "-f", shop, "--name", name)
    assert [n for n in _pods(name, "-A") if not n.startswith("coredns-")] == []
    assert [n for n in lab_namespaces(name) if n.startswith(f"{name}-shop.")] == []


def test_up_says_at_once_why_a_container_that_cannot_run_here_ended(fresh_lab):
    name, folder = fresh_lab
    manifest = _write(folder, "py2.yaml", textwrap.dedent("""\
        apiVersion: v1
        kind: Pod
        metadata: {name: py2}
        spec:
          restartPolicy: Never
          containers:
          - name: py
            image: python:2.7
            command: ["/bin/bash"]
            args: ["-c", "echo starting; no-such-program-here -m SimpleHTTPServer 8080"]
            ports: [{containerPort: 8080}]
        """))
    result = netlab_cli("up", "-f", manifest, "--name", name)
    assert ("Warning: default/py2: container py exited with code 127 (Error): /bin/bash: line 1: "
            "no-such-program-here: command not found (netlab logs py2 -c py)") in result.stderr + result.stdout
    # said as soon as it ended, not after the wait for a port that will never open
    assert "not answering yet" not in result.stderr + result.stdout
    logs = netlab_cli("logs", "py2", "-c", "py", "--name", name).stdout
    assert logs.splitlines() == ["starting", "/bin/bash: line 1: no-such-program-here: command not found"]


def test_missing_objects_and_kinds_are_refused_in_kubectls_words(lab):
    name = lab[0]
    for args, said in ((("get", "pods", "nope"), 'Error from server (NotFound): pods "nope" not found'),
                       (("describe", "pod", "nope"), 'Error from server (NotFound): pods "nope" not found'),
                       (("get", "deploy", "nope"), 'Error from server (NotFound): deployments.apps "nope" not found'),
                       (("delete", "svc", "nope"), 'Error from server (NotFound): services "nope" not found'),
                       (("get", "foo"), 'error: the server doesn\'t have a resource type "foo"')):
        result = netlab_cli(*args, "--name", name, check=False)
        assert (result.returncode, result.stderr) == (1, said + "\n"), args


def test_get_takes_kind_lists_type_name_selectors_and_shows_labels_as_kubectl(lab):
    name = lab[0]

    def get(*args):
        return netlab_cli("get", *args, "--name", name).stdout

    # several kinds: one table each, a blank line between, every name with its kind
    tables = get("rs,pods", "-n", "team").split("\n\n")
    assert len(tables) == 2 and tables[0].startswith("NAME ") and tables[1].startswith("NAME ")
    assert [line.split()[0] for line in tables[0].splitlines()[1:]] == ["replicaset.apps/frontend"]
    assert all(line.startswith("pod/frontend-") for line in tables[1].splitlines()[1:])
    # TYPE/NAME of one kind: no kind in the names
    assert [line.split()[0] for line in get("pods/pinned", "pod/doner").splitlines()] == ["NAME", "pinned", "doner"]
    # -l with a set-based expression, --show-labels, --no-headers
    shown = get("pods", "-n", "team", "-l", "tier in (frontend,backend)", "--show-labels", "--no-headers").splitlines()
    assert len(shown) == 2 and not any(line.startswith("NAME") for line in shown)
    assert all(line.split()[-1] == "tier=frontend" for line in shown)
    assert netlab_cli("get", "pods", "-n", "team", "-l", "tier!=frontend", "--name", name).stderr == \
        "No resources found in team namespace.\n"
    assert get("rs", "-n", "team", "-o", "name") == "replicaset.apps/frontend\n"
