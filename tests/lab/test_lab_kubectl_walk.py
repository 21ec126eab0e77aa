"""A networking tutorial's command lines, run with `netlab` where it says `kubectl`: pods and
labels, a ReplicaSet edited to 4 replicas and re-applied, a label removed to orphan a pod, a
Deployment's image changed and rolled back, a Service deleted and re-created with a new
ClusterIP, described at each step; and the thin client's answers equal the in-process ones."""

import json
import os
import re
import subprocess
import sys
import textwrap
import time

import pytest

from tests.conftest import lab_namespaces, netlab_cli, unique_lab, until

pytestmark = pytest.mark.root

TUTORIAL = textwrap.dedent("""\
    apiVersion: apps/v1
    kind: ReplicaSet
    metadata: {name: frontend, labels: {app: guestbook, tier: frontend}}
    spec:
      replicas: 3
      selector: {matchLabels: {tier: frontend}}
      template:
        metadata: {labels: {tier: frontend}}
        spec:
          containers: [{name: php-redis, image: nginx, ports: [{containerPort: 80}]}]
    ---
    apiVersion: apps/v1
    kind: Deployment
    metadata: {name: nginx-deployment, labels: {app: nginx}}
    spec:
      replicas: 2
      selector: {matchLabels: {app: nginx}}
      template:
        metadata: {labels: {app: nginx}}
        spec:
          containers: [{name: nginx, image: "nginx:1.14.2", ports: [{containerPort: 80}]}]
    ---
    apiVersion: v1
    kind: Service
    metadata: {name: my-service}
    spec:
      selector: {app: nginx}
      ports: [{protocol: TCP, port: 80, targetPort: 80}]
    """)


class Tutorial:
    def __init__(self, lab, folder):
        self.lab, self.folder = lab, folder

    def netlab(self, *args, check=True, env=None):
        if env is None:
            return netlab_cli(*args, "--name", self.lab, check=check)
        return subprocess.run([sys.executable, "-m", "netlab", *args, "--name", self.lab], capture_output=True,
                              text=True, env=dict(os.environ, **env), check=check)

    def objects(self, *what):
        data = json.loads(self.netlab("get", *what, "-o", "json").stdout)
        return data["items"] if data.get("kind") == "List" else [data]

    def pods(self, **labels):
        return [p for p in self.objects("pods") if all(p["metadata"]["labels"].get(k) == v for k, v in labels.items())
                and not p["metadata"].get("deletionTimestamp")]


@pytest.fixture(scope="module")
def tutorial(tmp_path_factory):
    lab = unique_lab("nlkw")
    folder = tmp_path_factory.mktemp("walk")
    (folder / "tutorial.yaml").write_text(TUTORIAL)
    try:
        netlab_cli("up", "-f", str(folder / "tutorial.yaml"), "--name", lab)
        yield Tutorial(lab, folder)
    finally:
        netlab_cli("down", "--name", lab, check=False)
        assert lab_namespaces(lab) == []


def test_get_pods_with_labels_and_a_selector(tutorial):
    shown = tutorial.netlab("get", "pods", "-l", "tier=frontend", "--show-labels").stdout.splitlines()
    assert shown[0].split() == ["NAME", "READY", "STATUS", "RESTARTS", "AGE", "LABELS"]
    assert len(shown) == 4 and all(line.startswith("frontend-") and line.endswith("tier=frontend")
                                   for line in shown[1:])
    # the ReplicaSet's status follows its pods' readiness on the controller's next pass
    assert until(lambda: tutorial.netlab("get", "rs", "frontend", "--no-headers").stdout.split()[:4] ==
                  ["frontend", "3", "3", "3"])


def test_the_replicaset_edited_to_4_replicas_then_the_file_applied_again_goes_back_to_3(tutorial):
    edited = tutorial.netlab("edit", "rs/frontend", env={"EDITOR": "sed -i 's/^  replicas: 3$/  replicas: 4/'"})
    assert edited.stdout.strip() == "replicaset.apps/frontend edited"
    assert until(lambda: len(tutorial.pods(tier="frontend")) == 4)
    applied = tutorial.netlab("apply", "-f", str(tutorial.folder / "tutorial.yaml")).stdout
    assert "replicaset.apps/frontend configured" in applied and "service/my-service unchanged" in applied
    assert until(lambda: len(tutorial.pods(tier="frontend")) == 3)


def test_removing_the_selected_label_orphans_the_pod_and_the_replicaset_makes_another(tutorial):
    victim = sorted(p["metadata"]["name"] for p in tutorial.pods(tier="frontend"))[0]
    assert tutorial.netlab("label", "pod", victim, "tier-").stdout.strip() == f"pod/{victim} unlabeled"
    (orphan,) = tutorial.objects("pod", victim)
    assert "ownerReferences" not in orphan["metadata"] and orphan["status"]["phase"] == "Running"
    owned = until(lambda: [p for p in tutorial.pods(tier="frontend") if p["status"]["phase"] == "Running"]
                   if len(tutorial.pods(tier="frontend")) == 3 else None)
    assert owned and len(owned) == 3 and victim not in {p["metadata"]["name"] for p in owned}
    assert all(p["metadata"]["ownerReferences"][0]["name"] == "frontend" for p in owned)
    # and the orphan answers on its own until it is deleted by hand
    assert tutorial.netlab("delete", "pod", victim).stdout.splitlines()[0] == f'pod "{victim}" deleted'


def test_a_deployments_image_changed_then_rolled_back(tutorial):
    changed = tutorial.netlab("set", "image", "deployment/nginx-deployment", "nginx=nginx:1.16.1", "--record")
    assert changed.stdout.strip() == "deployment.apps/nginx-deployment image updated"
    assert changed.stderr == "Flag --record has been deprecated, --record will be removed in the future\n"
    tutorial.netlab("rollout", "status", "deployment/nginx-deployment", "--timeout", "60")
    assert {c["image"] for p in tutorial.pods(app="nginx") for c in p["spec"]["containers"]} == {"nginx:1.16.1"}
    # the tutorial's --record: the command in the Deployment's change-cause, copied to its new ReplicaSet
    history = tutorial.netlab("rollout", "history", "deployment/nginx-deployment").stdout.splitlines()
    assert history[1].split() == ["REVISION", "CHANGE-CAUSE"]
    assert history[2].split() == ["1", "<none>"]
    assert history[3].split(None, 1) == [
        "2", "netlab set image deployment/nginx-deployment nginx=nginx:1.16.1 --name=" + tutorial.lab + " --record=true"]
    tutorial.netlab("rollout", "undo", "deployment/nginx-deployment")
    tutorial.netlab("rollout", "status", "deployment/nginx-deployment", "--timeout", "60")
    assert {c["image"] for p in tutorial.pods(app="nginx") for c in p["spec"]["containers"]} == {"nginx:1.14.2"}
    described = tutorial.netlab("describe", "deployment", "nginx-deployment").stdout
    assert re.search(r"Image:\s+nginx:1.14.2$", described, re.M) and "NewReplicaSet:   nginx-deployment-" in described


def test_a_service_deleted_and_created_again_gets_a_new_cluster_ip(tutorial):
    (before,) = tutorial.objects("svc", "my-service")
    assert tutorial.netlab("delete", "svc", "my-service").stdout.splitlines()[0] == 'service "my-service" deleted'
    assert "service/my-service created" in tutorial.netlab("apply", "-f", str(tutorial.folder / "tutorial.yaml")).stdout
    (after,) = tutorial.objects("svc", "my-service")
    assert after["spec"]["clusterIP"] != before["spec"]["clusterIP"]
    assert after["metadata"]["uid"] != before["metadata"]["uid"]
    described = tutorial.netlab("describe", "svc", "my-service").stdout
    assert re.search(rf"^IP:\s+{re.escape(after['spec']['clusterIP'])}$", described, re.M), described


def test_expose_patch_and_a_one_shot_pod_reach_the_deployment(tutorial):
    # expose's --name is the Service's (kubectl's), so the lab is given with --lab
    exposed = subprocess.run([sys.executable, "-m", "netlab", "expose", "deployment", "nginx-deployment", "--port",
                              "8080", "--target-port", "80", "--name", "nginx-np", "--lab", tutorial.lab],
                             capture_output=True, text=True, check=True)
    assert exposed.stdout.strip() == "service/nginx-np exposed"
    patched = tutorial.netlab("patch", "svc", "nginx-np", "-p", '{"spec":{"type":"NodePort"}}').stdout
    assert patched.strip() == "service/nginx-np patched"
    (svc,) = tutorial.objects("svc", "nginx-np")
    assert svc["spec"]["type"] == "NodePort" and 30000 <= svc["spec"]["ports"][0]["nodePort"] <= 32767
    def one_shot():
        # the new Service's name and rules reach the nodes a moment after it is patched
        answer = netlab_cli("run", "probe", "--rm", "-i", "--restart=Never", "--image", "curlimages/curl", "--name",
                            tutorial.lab, "--", "curl", "-s", "-m", "5", "nginx-np:8080").stdout
        assert answer.endswith('pod "probe" deleted\n'), answer
        return answer if "pod: nginx-deployment-" in answer else None
    assert until(one_shot)
    assert tutorial.netlab("get", "pod", "probe", check=False).stderr.strip() == \
        'Error from server (NotFound): pods "probe" not found'


def test_every_kind_is_described(tutorial):
    assert until(lambda: tutorial.netlab("get", "rs", "frontend", "--no-headers").stdout.split()[:4] ==
                 ["frontend", "3", "3", "3"])
    for kind, name, expected in (("pod", tutorial.pods(tier="frontend")[0]["metadata"]["name"], "Controlled By: ReplicaSet/frontend"),
                                 ("rs", "frontend", "Replicas: 3 current / 3 desired"),
                                 ("deploy", "nginx-deployment", "StrategyType: RollingUpdate"),
                                 ("svc", "kubernetes", "TargetPort: 6443/TCP"),
                                 ("endpoints", "kubernetes", "Addresses: 172.18.0.2"),
                                 ("endpointslice", "kubernetes", "AddressType: IPv4"),
                                 ("node", "node1", "PodCIDR: 10.244.1.0/24"),
                                 ("ns", "kube-system", "Status: Active\n\nNo resource quota."),
                                 ("ns/default", None, "Labels: kubernetes.io/metadata.name=default")):
        described = tutorial.netlab("describe", kind, *([name] if name else [])).stdout
        assert expected in re.sub(r"(?<=:) +", " ", described), (kind, described)


def test_the_thin_clients_answers_are_the_in_process_ones(tutorial):
    for args in (("get", "pods", "-o", "wide"), ("get", "all"), ("describe", "svc", "my-service"),
                 ("get", "pod", "nothing-here")):
        quick = tutorial.netlab(*args, check=False, env={})
        local = tutorial.netlab(*args, check=False, env={"NETLAB_LOCAL": "1"})
        # (AGE may tick over between the two)
        assert (quick.returncode, quick.stderr) == (local.returncode, local.stderr), args
        assert quick.stdout.split()[:8] == local.stdout.split()[:8], args


def test_names_complete_from_the_lab(tutorial):
    env = dict(os.environ, COMP_WORDS=f"netlab get --name {tutorial.lab} rs fro", COMP_CWORD="5",
               _NETLAB_COMPLETE="bash_complete")
    out = subprocess.run([os.path.join(os.path.dirname(sys.executable), "netlab")], env=env, capture_output=True,
                         text=True).stdout
    assert out.splitlines() == ["plain,frontend"]


def test_get_prints_jsonpath_custom_columns_sorted_and_field_selected(tutorial):
    pods = sorted(tutorial.pods(tier="frontend"), key=lambda p: p["metadata"]["name"])
    listed = tutorial.netlab("get", "pods", "-l", "tier=frontend", "--sort-by", ".metadata.name", "-o",
                             'jsonpath={range .items[*]}{.metadata.name}{" "}{.status.podIP}{"\\n"}{end}').stdout
    assert listed.splitlines() == [f"{p['metadata']['name']} {p['status']['podIP']}" for p in pods]
    table = tutorial.netlab("get", "pods", "-l", "tier=frontend", "--sort-by", "{.metadata.name}", "-o",
                            "custom-columns=NAME:.metadata.name,NODE:.spec.nodeName").stdout.splitlines()
    assert table[0].split() == ["NAME", "NODE"]
    assert [line.split() for line in table[1:]] == [[p["metadata"]["name"], p["spec"]["nodeName"]] for p in pods]
    on_node1 = tutorial.netlab("get", "pods", "-A", "--field-selector", "spec.nodeName=node1,status.phase=Running",
                               "-o", "name").stdout.split()
    assert on_node1 and all(f"pod/{p['metadata']['name']}" in on_node1 for p in tutorial.objects("pods", "-A")
                            if p["spec"].get("nodeName") == "node1" and p["status"]["phase"] == "Running")
    refused = tutorial.netlab("get", "pods", "--field-selector", "spec.image=nginx", check=False)
    assert refused.returncode == 1 and refused.stderr.strip() == (
        'Error from server (BadRequest): Unable to find "/v1, Resource=pods" that match label selector "", field '
        'selector "spec.image=nginx": field label not supported: spec.image')
    assert tutorial.netlab("get", "svc", "kubernetes", "-o", "jsonpath={.spec.clusterIP}").stdout == "10.96.0.1"


def _read_until(fd, wanted: bytes, timeout=30.0) -> bytes:
    """What FD gives until WANTED has come (or the deadline)."""
    import select
    deadline = time.monotonic() + timeout
    seen = b""
    while wanted not in seen and time.monotonic() < deadline:
        if select.select([fd], [], [], 0.2)[0]:
            try:
                chunk = os.read(fd, 4096)
            except OSError:
                break
            if not chunk:
                break
            seen += chunk
    return seen


def test_run_it_rm_is_a_shell_on_a_terminal_in_a_new_pod_that_is_deleted_after(tutorial):
    import pty
    master, slave = pty.openpty()
    shell = subprocess.Popen([sys.executable, "-m", "netlab", "run", "shell", "-it", "--rm", "--restart=Never",
                              "--image", "busybox", "--name", tutorial.lab, "--", "sh"],
                             stdin=slave, stdout=slave, stderr=slave, start_new_session=True)
    os.close(slave)
    try:
        assert b"If you don't see a command prompt, try pressing enter." in _read_until(master, b"try pressing enter.")
        os.write(master, b"\n")
        os.write(master, b"echo answer-$((40+2)); tty\n")
        seen = _read_until(master, b"/dev/pts/")
        assert b"answer-42" in seen and b"/dev/pts/" in seen, seen
        os.write(master, b"exit\n")
        assert b'pod "shell" deleted' in _read_until(master, b'pod "shell" deleted')
        assert shell.wait(timeout=30) == 0
    finally:
        if shell.poll() is None:
            shell.kill()
        os.close(master)
    assert tutorial.netlab("get", "pod", "shell", check=False).returncode == 1


def test_run_i_passes_stdin_to_the_container(tutorial):
    done = subprocess.run([sys.executable, "-m", "netlab", "run", "counter", "-i", "--rm", "--restart=Never",
                           "--image", "busybox", "--name", tutorial.lab, "--", "wc", "-c"],
                          input="twelve bytes", capture_output=True, text=True, timeout=60, check=True)
    assert done.stdout.split("\n")[0].strip() == "12" and 'pod "counter" deleted' in done.stdout
