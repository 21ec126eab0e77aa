"""Tutorial images run as written: the test images answer as their images do, busybox applets are
Debian's busybox, nginx serves its document root, a missing command exits 127 and says so, and
every pod has one pause process."""

import pathlib
import textwrap
import time

import pytest

from netlab import names, state
from netlab.runtime import pids_in_netns
from tests.conftest import lab_namespaces, netlab_cli, unique_lab

pytestmark = pytest.mark.root

IMAGES = textwrap.dedent("""\
    apiVersion: apps/v1
    kind: Deployment
    metadata: {name: netexec}
    spec:
      replicas: 2
      selector: {matchLabels: {app: netexec}}
      template:
        metadata: {labels: {app: netexec}}
        spec:
          containers:
          - name: agnhost
            image: registry.k8s.io/e2e-test-images/agnhost:2.39
            args: ["netexec", "--http-port=8080", "--udp-port=8081"]
            ports: [{containerPort: 8080}]
    ---
    apiVersion: v1
    kind: Service
    metadata: {name: netexec}
    spec:
      selector: {app: netexec}
      ports: [{port: 80, targetPort: 8080}]
    ---
    apiVersion: v1
    kind: Pod
    metadata: {name: echo}
    spec:
      containers:
      - {name: echo, image: hashicorp/http-echo, args: ["-text=hello from http-echo"], ports: [{containerPort: 5678}]}
      - {name: hello, image: "gcr.io/google-samples/hello-app:2.0", ports: [{containerPort: 8080}]}
    ---
    apiVersion: v1
    kind: ConfigMap
    metadata: {name: site}
    data: {index.html: "<h1>served by nginx</h1>\\n"}
    ---
    apiVersion: v1
    kind: Pod
    metadata: {name: nginx}
    spec:
      volumes: [{name: site, configMap: {name: site}}]
      containers:
      - name: nginx
        image: nginx:1.27
        ports: [{containerPort: 80}]
        volumeMounts: [{name: site, mountPath: /usr/share/nginx/html}]
    ---
    apiVersion: v1
    kind: Pod
    metadata: {name: box}
    spec:
      containers:
      - name: httpd
        image: busybox:1.36
        command: ["sh", "-c", "echo from busybox httpd > /tmp/index.html; httpd -f -p 8080 -h /tmp"]
      - name: nc
        image: busybox
        command: ["sh", "-c", "while true; do echo from busybox nc | nc -l -p 9090; done"]
    ---
    apiVersion: v1
    kind: Pod
    metadata: {name: broken}
    spec:
      restartPolicy: Never
      containers:
      - {name: app, image: debian, command: ["no-such-program", "--serve"]}
    ---
    apiVersion: v1
    kind: Pod
    metadata: {name: client}
    spec:
      containers:
      - {name: curl, image: curlimages/curl, command: ["sleep", "infinity"]}
    """)


def _wait(what, check, timeout=15.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = check()
        if got:
            return got
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def test_tutorial_images_answer_as_their_images_do(tmp_path):
    lab = unique_lab("nli")
    manifest = tmp_path / "images.yaml"
    manifest.write_text(IMAGES)
    try:
        netlab_cli("up", "-f", str(manifest), "--name", lab)
        st = state.load(lab)
        ip = {key.split("/", 1)[1]: record["ip"] for key, record in st.pods.items()}
        me = ip["client"]

        def curl(*args):
            return netlab_cli("exec", "--name", lab, "client", "--", "curl", "-s", "-m", "3", *args, check=False).stdout

        netexec = sorted(name for name in ip if name.startswith("netexec-"))
        # agnhost netexec: /hostname is the pod's name, /clientip the caller's address as it saw it
        for name in netexec:
            assert curl(f"http://{ip[name]}:8080/hostname") == name
            assert curl(f"http://{ip[name]}:8080/clientip").rsplit(":", 1)[0] == me
        assert curl(f"http://{ip[netexec[0]]}:8080/echo?msg=hi") == "hi"
        # through the Service, both pods answer
        cluster_ip = st.allocations["services"]["default/netexec"]["clusterIP"]
        seen = {curl(f"http://{cluster_ip}/hostname") for _ in range(30)}
        assert seen == set(netexec)

        assert curl(f"http://{ip['echo']}:5678/") == "hello from http-echo\n"
        assert curl(f"http://{ip['echo']}:8080/") == "Hello, world!\nVersion: 2.0.0\nHostname: echo\n"
        assert curl(f"http://{ip['nginx']}/") == "<h1>served by nginx</h1>\n"
        assert curl("-o", "/dev/null", "-w", "%{http_code}", f"http://{ip['nginx']}/missing.html") == "404"
        assert _wait("busybox httpd", lambda: curl(f"http://{ip['box']}:8080/")) == "from busybox httpd\n"
        assert _wait("busybox nc", lambda: curl("--http0.9", f"http://{ip['box']}:9090/")) == "from busybox nc\n"

        # a command the container does not have: exit code 127, said in its status and its log
        def broken_state():
            pod = netlab_cli("get", "pod", "broken", "-o", "json", "--name", lab, check=False).stdout
            return "terminated" in pod and pod
        status = _wait("broken to end", broken_state)
        assert '"exitCode": 127' in status
        logs = netlab_cli("logs", "broken", "--name", lab).stdout
        assert 'exec: "no-such-program": executable file not found in $PATH' in logs

        # one pause process per pod, catatonit named pause, in the pod's network namespace
        for key, record in st.pods.items():
            netns = f"/run/netns/{names.pod_netns(lab, *key.split('/', 1))}"
            titles = [pathlib.Path(f"/proc/{pid}/cmdline").read_bytes() for pid in pids_in_netns(netns)]
            assert sum(t.startswith(b"pause\0") for t in titles) == 1, (key, titles)
    finally:
        netlab_cli("down", "--name", lab, check=False)
    assert lab_namespaces(lab) == []
