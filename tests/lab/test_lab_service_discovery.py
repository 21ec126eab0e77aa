"""Service discovery as a pod sees it: kubelet's Service environment variables and the resolv.conf
of each dnsPolicy, in the containers, under `netlab exec` and under `ip netns exec`."""

import hashlib
import pathlib
import subprocess
import textwrap

import pytest

from netlab import names, state
from netlab.kubelet import envvars
from tests.conftest import lab_up, netlab_cli, unique_lab

pytestmark = pytest.mark.root

LAB = textwrap.dedent("""\
    apiVersion: v1
    kind: Namespace
    metadata: {name: shop}
    ---
    apiVersion: v1
    kind: Service
    metadata: {name: web-front}
    spec:
      selector: {app: web}
      ports:
      - {name: http, port: 80, targetPort: 8080}
      - {name: dns, port: 53, protocol: UDP}
    ---
    apiVersion: v1
    kind: Service
    metadata: {name: headless}
    spec:
      clusterIP: None
      selector: {app: web}
      ports: [{port: 80}]
    ---
    apiVersion: v1
    kind: Service
    metadata: {name: cart, namespace: shop}
    spec:
      selector: {app: cart}
      ports: [{port: 9000}]
    ---
    apiVersion: v1
    kind: Pod
    metadata: {name: web, labels: {app: web}}
    spec:
      containers:
      - {name: web, image: nginx, ports: [{containerPort: 8080}]}
    ---
    apiVersion: v1
    kind: Pod
    metadata: {name: client}
    spec:
      containers:
      - name: curl
        image: curlimages/curl
        command: [sleep, infinity]
        env: [{name: FRONT, value: "http://$(WEB_FRONT_SERVICE_HOST):$(WEB_FRONT_SERVICE_PORT_HTTP)"}]
    ---
    apiVersion: v1
    kind: Pod
    metadata: {name: nolinks}
    spec:
      enableServiceLinks: false
      containers: [{name: curl, image: curlimages/curl, command: [sleep, infinity]}]
    ---
    apiVersion: v1
    kind: Pod
    metadata: {name: buyer, namespace: shop}
    spec:
      containers: [{name: curl, image: curlimages/curl, command: [sleep, infinity]}]
    ---
    apiVersion: v1
    kind: Pod
    metadata: {name: custom}
    spec:
      dnsPolicy: None
      dnsConfig:
        nameservers: [192.0.2.53]
        searches: [corp.example]
        options: [{name: ndots, value: "2"}, {name: edns0}]
      containers: [{name: curl, image: curlimages/curl, command: [sleep, infinity]}]
    """)


def _digest(path: str) -> str:
    return hashlib.sha256(pathlib.Path(path).read_bytes()).hexdigest()


def test_pods_get_kubelets_service_variables_and_resolv_conf(tmp_path):
    lab = unique_lab("nld")
    manifest = tmp_path / "lab.yaml"
    manifest.write_text(LAB)
    host_resolv = _digest("/etc/resolv.conf")
    try:
        netlab_cli("up", "-f", str(manifest), "--name", lab)

        def env(pod, namespace="default"):
            out = netlab_cli("exec", "--name", lab, "-n", namespace, pod, "--", "env").stdout
            return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)

        services = state.load(lab).allocations["view"]["services"]
        front = next(s for s in services if s["metadata"]["name"] == "web-front")["spec"]["clusterIP"]
        client = env("client")
        expected = envvars.service_env(services, "default")
        assert {k: v for k, v in client.items() if k.startswith("WEB_FRONT_")} == {
            k: v for k, v in expected.items() if k.startswith("WEB_FRONT_")}
        assert client["WEB_FRONT_SERVICE_HOST"] == front
        assert client["WEB_FRONT_SERVICE_PORT"] == "80" and client["WEB_FRONT_SERVICE_PORT_HTTP"] == "80"
        assert client["WEB_FRONT_PORT_53_UDP"] == f"udp://{front}:53"
        assert client["FRONT"] == f"http://{front}:80"          # $(VAR) may name a Service variable
        assert not any(k.startswith(("HEADLESS_", "CART_")) for k in client)
        assert not any(k.startswith("WEB_FRONT_") for k in env("nolinks"))
        buyer = env("buyer", "shop")
        assert "CART_SERVICE_HOST" in buyer and not any(k.startswith("WEB_FRONT_") for k in buyer)

        cluster = ("search default.svc.cluster.local svc.cluster.local cluster.local\n"
                   "nameserver 10.96.0.10\noptions ndots:5\n")
        assert netlab_cli("exec", "--name", lab, "client", "--", "cat", "/etc/resolv.conf").stdout == cluster
        netns = names.pod_netns(lab, "default", "client")
        seen = subprocess.run(["ip", "netns", "exec", netns, "cat", "/etc/resolv.conf"], capture_output=True,
                              text=True, check=True).stdout
        assert seen == cluster
        assert netlab_cli("exec", "--name", lab, "-n", "shop", "buyer", "--", "cat", "/etc/resolv.conf").stdout \
            .startswith("search shop.svc.cluster.local svc.cluster.local cluster.local\n")
        assert netlab_cli("exec", "--name", lab, "custom", "--", "cat", "/etc/resolv.conf").stdout == (
            "search corp.example\nnameserver 192.0.2.53\noptions ndots:2 edns0\n")
        # the kube-system Service the lab started with is the one pods resolve through
        kube_dns = next(s for s in services if s["metadata"]["name"] == "kube-dns")
        assert kube_dns["metadata"]["namespace"] == "kube-system" and kube_dns["spec"]["clusterIP"] == "10.96.0.10"
    finally:
        netlab_cli("down", "--name", lab, check=False)
    assert _digest("/etc/resolv.conf") == host_resolv


def test_a_lab_without_cluster_dns_has_no_dns_pods_and_its_pods_see_the_hosts_resolver(tmp_path):
    lab = unique_lab("nld")
    manifest = tmp_path / "lab.yaml"
    manifest.write_text("apiVersion: netlab.io/v1alpha1\nkind: Cluster\nspec:\n  clusterDNS: {enabled: false}\n---\n"
                        "apiVersion: v1\nkind: Pod\nmetadata: {name: client}\nspec:\n"
                        "  containers: [{name: curl, image: curlimages/curl, command: [sleep, infinity]}]\n")
    try:
        netlab_cli("up", "-f", str(manifest), "--name", lab)
        assert "No resources found" in netlab_cli("get", "pods", "-n", "kube-system", "--name", lab).stdout + \
            netlab_cli("get", "pods", "-n", "kube-system", "--name", lab).stderr
        seen = netlab_cli("exec", "--name", lab, "client", "--", "cat", "/etc/resolv.conf").stdout
        assert seen == pathlib.Path("/etc/resolv.conf").read_text()
    finally:
        netlab_cli("down", "--name", lab, check=False)


def test_a_pod_starts_with_the_variables_of_a_thousand_services(tmp_path):
    # 7 variables a Service port, for each of three containers: the pod's plan is over 1 MB, more
    # than a socket's default buffer
    docs = [f"apiVersion: v1\nkind: Service\nmetadata: {{name: s{i}}}\nspec:\n  selector: {{app: x{i}}}\n"
            "  ports: [{port: 80}]\n" for i in range(1000)]
    docs.append("apiVersion: v1\nkind: Pod\nmetadata: {name: p, labels: {app: x1}}\nspec:\n"
                "  containers:\n  - {name: c, image: nginx, ports: [{containerPort: 80}]}\n"
                "  - {name: d, image: busybox, command: [sleep, '3600']}\n"
                "  - {name: e, image: busybox, command: [sleep, '3600']}\n")
    (tmp_path / "many.yaml").write_text("---\n".join(docs))
    with lab_up("nlsd", "-f", str(tmp_path / "many.yaml")) as lab:
        env = netlab_cli("exec", "p", "--name", lab, "--", "env").stdout
        assert "S999_SERVICE_HOST=" in env and "S0_PORT_80_TCP_PORT=80" in env
