"""A container's own filesystem: a copy-on-write view of the host's root in its own mount namespace.
What it writes stays in the container (across its restarts) and never reaches the host; `down`
removes it."""

import hashlib
import os
import subprocess
import textwrap
import time

import pytest

from netlab import state
from tests.conftest import lab_namespaces, netlab_cli, unique_lab

pytestmark = pytest.mark.root

WRITER = textwrap.dedent("""\
    apiVersion: v1
    kind: Pod
    metadata: {name: writer}
    spec:
      containers:
      - name: shell
        image: debian
        workingDir: /srv/site
        command: [sh, -c]
        args:
        - >-
          echo run >> /var/tmp/runs; pwd > here; echo x > /etc/netlab-x;
          mkdir -p /usr/local/bin && echo y > /usr/local/bin/netlab-y;
          apt-get install -y --no-download cowsay > /tmp/apt.log 2>&1;
          if [ "$(wc -l < /var/tmp/runs)" -lt 2 ]; then exit 3; fi; sleep infinity
      - name: web
        image: nginx
        ports: [{containerPort: 80}]
    """)

WATCHED = ("/etc", "/usr/local/bin", "/var/lib/dpkg")


def _tree_digest(top: str) -> str:
    """A digest of every file name and content under TOP (the host's side of the story), but for
    /etc/netns, where netlab keeps each lab namespace's hosts file (other labs may come and go)."""
    digest = hashlib.sha256()
    for folder, dirs, files in os.walk(top):
        dirs[:] = sorted(d for d in dirs if os.path.join(folder, d) != "/etc/netns")
        for name in sorted(files):
            path = os.path.join(folder, name)
            digest.update(path.encode())
            try:
                if os.path.isfile(path) and not os.path.islink(path):
                    with open(path, "rb") as handle:
                        digest.update(handle.read())
            except OSError:
                pass
    return digest.hexdigest()


def _exec(lab, *argv):
    return netlab_cli("exec", "--name", lab, "writer", "-c", "shell", "--", *argv, check=False)


def test_a_containers_writes_stay_in_it_across_a_restart_and_never_touch_the_host(tmp_path):
    lab = unique_lab("nlf")
    manifest = tmp_path / "writer.yaml"
    manifest.write_text(WRITER)
    before = {top: _tree_digest(top) for top in WATCHED}
    try:
        netlab_cli("up", "-f", str(manifest), "--name", lab)
        # the first run exits 3 after one line; the kubelet restarts it, and the second run finds
        # the first run's line: its writable layer outlived the process, as a container's does
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and _exec(lab, "cat", "/var/tmp/runs").stdout.count("run") < 2:
            time.sleep(0.2)
        assert _exec(lab, "cat", "/var/tmp/runs").stdout.split() == ["run", "run"]
        assert _exec(lab, "cat", "/etc/netlab-x").stdout == "x\n"
        assert _exec(lab, "cat", "/srv/site/here").stdout == "/srv/site\n"        # workingDir, made
        assert _exec(lab, "cat", "/etc/hostname").stdout == "writer\n"
        assert "10.244." in _exec(lab, "cat", "/etc/hosts").stdout                 # the pod's hosts file
        assert not os.path.exists("/etc/netlab-x") and not os.path.exists("/usr/local/bin/netlab-y")
        assert not os.path.exists("/srv/site/here")
        # the host's tree is not reachable from inside: / is the container's own
        mounts = [line.split() for line in _exec(lab, "cat", "/proc/self/mountinfo").stdout.splitlines()]
        root = next(m for m in mounts if m[4] == "/")
        assert root[root.index("-") + 1] == "overlay"
        assert sorted(m[4] for m in mounts) == ["/", "/dev", "/dev/full", "/dev/null", "/dev/pts", "/dev/random",
                                               "/dev/shm", "/dev/tty", "/dev/urandom", "/dev/zero", "/proc", "/run",
                                               "/sys", "/tmp"]
        # the other container of the pod has its own layer and still serves
        st = state.load(lab)
        ip = st.pods["default/writer"]["ip"]
        served = subprocess.run(["ip", "netns", "exec", f"{lab}-node1", "curl", "-s", "-m", "2", f"http://{ip}/"],
                                capture_output=True, text=True)
        served2 = subprocess.run(["ip", "netns", "exec", f"{lab}-node2", "curl", "-s", "-m", "2", f"http://{ip}/"],
                                 capture_output=True, text=True)
        assert "pod: writer" in served.stdout + served2.stdout
    finally:
        netlab_cli("down", "--name", lab, check=False)
    assert lab_namespaces(lab) == [] and not os.path.exists(f"/run/netlab/{lab}")
    assert {top: _tree_digest(top) for top in WATCHED} == before


SHARED = textwrap.dedent("""\
    apiVersion: v1
    kind: Pod
    metadata: {name: shared}
    spec:
      volumes:
      - {name: data, emptyDir: {}}
      containers:
      - name: writer
        image: debian
        command: [sh, -c, "echo from-writer > /data/note; sleep infinity"]
        volumeMounts: [{name: data, mountPath: /data}]
      - name: reader
        image: debian
        command: [sleep, infinity]
        volumeMounts: [{name: data, mountPath: /srv/shared, readOnly: true}]
    """)


def test_two_containers_of_a_pod_share_an_empty_dir_and_a_read_only_mount_refuses_writes(tmp_path):
    lab = unique_lab("nle")
    manifest = tmp_path / "shared.yaml"
    manifest.write_text(SHARED)
    try:
        netlab_cli("up", "-f", str(manifest), "--name", lab)

        def read(container, *argv):
            return netlab_cli("exec", "--name", lab, "shared", "-c", container, "--", *argv, check=False)

        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and read("reader", "cat", "/srv/shared/note").stdout != "from-writer\n":
            time.sleep(0.1)
        assert read("reader", "cat", "/srv/shared/note").stdout == "from-writer\n"
        refused = read("reader", "sh", "-c", "echo x > /srv/shared/other")
        assert refused.returncode != 0 and "Read-only file system" in refused.stderr + refused.stdout
        assert read("writer", "sh", "-c", "echo more >> /data/note").returncode == 0
        assert read("reader", "cat", "/srv/shared/note").stdout == "from-writer\nmore\n"
    finally:
        netlab_cli("down", "--name", lab, check=False)
    assert lab_namespaces(lab) == [] and not os.path.exists(f"/run/netlab/{lab}")


TUTORIAL = textwrap.dedent("""\
    apiVersion: apps/v1
    kind: Deployment
    metadata: {name: py}
    spec:
      replicas: 2
      selector: {matchLabels: {app: py}}
      template:
        metadata: {labels: {app: py}}
        spec:
          containers:
          - name: py
            image: python:2.7
            command: ["/bin/bash"]
            args: ["-c", "echo \\"Hello from $(hostname)\\" > index.html; python -m SimpleHTTPServer 8080"]
            ports: [{containerPort: 8080}]
    ---
    apiVersion: v1
    kind: Service
    metadata: {name: py}
    spec:
      type: NodePort
      selector: {app: py}
      ports: [{port: 80, targetPort: 8080, nodePort: 30090}]
    """)


def test_the_python2_tutorial_runs_as_written_and_each_pod_serves_its_own_index_through_every_node(tmp_path):
    lab = unique_lab("nlt")
    manifest = tmp_path / "tutorial.yaml"
    manifest.write_text(TUTORIAL)
    try:
        result = netlab_cli("up", "-f", str(manifest), "--name", lab)
        assert "Warning" not in result.stderr, result.stderr
        pods = {r["name"] for r in state.load(lab).pods.values() if r["namespace"] == "default"}
        assert len(pods) == 2
        seen = set()
        for node_ip in ("172.18.0.2", "172.18.0.3"):
            for _ in range(20):
                answer = subprocess.run(["ip", "netns", "exec", f"{lab}-client", "curl", "-s", "-m", "2",
                                         f"http://{node_ip}:30090/"], capture_output=True, text=True).stdout
                assert answer.startswith("Hello from "), answer
                seen.add(answer.split()[-1])
        assert seen == pods            # each pod wrote, and serves, its own index.html
        assert not os.path.exists("/index.html")
    finally:
        netlab_cli("down", "--name", lab, check=False)
    assert lab_namespaces(lab) == []


CONFIGURED = textwrap.dedent("""\
    apiVersion: v1
    kind: ConfigMap
    metadata: {name: site}
    data:
      index.html: "hello from a configmap\\n"
      app.conf: "color=blue\\n"
    ---
    apiVersion: v1
    kind: Secret
    metadata: {name: creds}
    data: {user: YWRtaW4=}
    stringData: {password: s3cret}
    ---
    apiVersion: v1
    kind: Pod
    metadata: {name: configured}
    spec:
      volumes:
      - {name: site, configMap: {name: site}}
      - {name: creds, secret: {secretName: creds, defaultMode: 0400}}
      containers:
      - name: web
        image: python:3.12
        command: [python, -m, http.server, "8080"]
        workingDir: /usr/share/site
        ports: [{containerPort: 8080}]
        envFrom: [{secretRef: {name: creds}, prefix: CREDS_}]
        env: [{name: APP_CONF, valueFrom: {configMapKeyRef: {name: site, key: app.conf}}}]
        volumeMounts:
        - {name: site, mountPath: /usr/share/site}
        - {name: creds, mountPath: /etc/creds}
        - {name: site, mountPath: /etc/app.conf, subPath: app.conf}
    """)

LATER = textwrap.dedent("""\
    apiVersion: v1
    kind: Pod
    metadata: {name: waiting}
    spec:
      volumes: [{name: v, configMap: {name: not-yet}}]
      containers:
      - {name: c, image: debian, command: [sleep, infinity], volumeMounts: [{name: v, mountPath: /v}]}
    """)


def test_configmap_and_secret_volumes_show_their_keys_as_files_and_follow_updates(tmp_path):
    lab = unique_lab("nlv")
    manifest = tmp_path / "configured.yaml"
    manifest.write_text(CONFIGURED)
    try:
        netlab_cli("up", "-f", str(manifest), "--name", lab)

        def run(pod, *argv):
            return netlab_cli("exec", "--name", lab, pod, "--", *argv, check=False)

        assert run("configured", "cat", "/usr/share/site/index.html").stdout == "hello from a configmap\n"
        assert run("configured", "cat", "/etc/creds/user", "/etc/creds/password").stdout == "admins3cret"
        assert run("configured", "stat", "-L", "-c", "%a", "/etc/creds/user").stdout.strip() == "400"
        assert run("configured", "cat", "/etc/app.conf").stdout == "color=blue\n"     # a subPath: one file
        env = run("configured", "env").stdout.splitlines()       # exec sees the container's env
        assert {"APP_CONF=color=blue", "CREDS_user=admin", "CREDS_password=s3cret", "HOSTNAME=configured"} <= set(env)
        assert run("configured", "pwd").stdout == "/usr/share/site\n"                 # and its workingDir
        refused = run("configured", "sh", "-c", "echo x > /usr/share/site/new")
        assert "Read-only file system" in refused.stderr                            # always read-only
        ip = state.load(lab).pods["default/configured"]["ip"]
        served = subprocess.run(["ip", "netns", "exec", f"{lab}-node1", "curl", "-s", "-m", "3",
                                 f"http://{ip}:8080/index.html"], capture_output=True, text=True)
        assert served.stdout == "hello from a configmap\n"
        assert netlab_cli("get", "cm", "--name", lab).stdout.split()[3:5] == ["site", "2"]
        assert netlab_cli("get", "secrets", "--name", lab).stdout.split()[4:7] == ["creds", "Opaque", "2"]

        # an update of the ConfigMap reaches the mounted folder (not the subPath file), as with kubelet
        manifest.write_text(CONFIGURED.replace("hello from a configmap", "hello again").replace("blue", "red"))
        netlab_cli("apply", "-f", str(manifest), "--name", lab)
        assert run("configured", "cat", "/usr/share/site/index.html").stdout == "hello again\n"
        assert run("configured", "cat", "/etc/app.conf").stdout == "color=blue\n"

        # a pod whose ConfigMap does not exist waits in ContainerCreating, then starts once it does
        later = tmp_path / "later.yaml"
        later.write_text(LATER)
        said = netlab_cli("apply", "-f", str(later), "--name", lab)
        assert 'configmap "not-yet" not found' in said.stderr
        pods = netlab_cli("get", "pods", "--name", lab).stdout
        assert any(line.split()[:3] == ["waiting", "0/1", "ContainerCreating"] for line in pods.splitlines())
        events = netlab_cli("get", "events", "--name", lab).stdout
        assert "FailedMount" in events and 'configmap "not-yet" not found' in events
        later.write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: not-yet}\ndata: {a: b}\n")
        netlab_cli("apply", "-f", str(later), "--name", lab)
        assert run("waiting", "cat", "/v/a").stdout == "b"
    finally:
        netlab_cli("down", "--name", lab, check=False)
    assert lab_namespaces(lab) == [] and not os.path.exists(f"/run/netlab/{lab}")
