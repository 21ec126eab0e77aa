"""spec.podNetwork: vxlan for real: flannel.1 as flanneld makes it, pod traffic encapsulated on the
underlay (and not under host-gw), no NAT between pods, Services unchanged, MTU 1450 end to end. The
vxlan lab is dual-stack, so flannel-v6.1 carries the pods' IPv6 traffic beside it, in IPv6 UDP."""

import json
import os
import re
import select
import subprocess
import textwrap
import time

import pytest

from tests.conftest import lab_up, netlab_cli

pytestmark = pytest.mark.root

NODE1_IP, NODE2_IP = "172.18.0.2", "172.18.0.3"
NODE1_IP6, NODE2_IP6 = "fc00:f853:ccd:e793::2", "fc00:f853:ccd:e793::3"

WORKLOADS = textwrap.dedent("""\
    apiVersion: apps/v1
    kind: Deployment
    metadata: {name: web}
    spec:
      replicas: 2
      selector: {matchLabels: {app: web}}
      template:
        metadata: {labels: {app: web}}
        spec:
          nodeSelector: {kubernetes.io/hostname: node2}
          containers:
          - {name: whoami, image: traefik/whoami, ports: [{containerPort: 80}]}
    ---
    apiVersion: v1
    kind: Pod
    metadata: {name: client}
    spec:
      nodeName: node1
      containers: [{name: c, image: curlimages/curl, command: [sleep, infinity]}]
    ---
    apiVersion: v1
    kind: Service
    metadata: {name: web}
    spec:
      type: NodePort
      selector: {app: web}
      ports: [{port: 80, nodePort: 30080}]
    """)


def _lab_file(folder, pod_network, families="IPv4"):
    path = folder / "lab.yaml"
    path.write_text("apiVersion: netlab.io/v1alpha1\nkind: Cluster\n"
                    f"spec: {{nodes: 2, podNetwork: {pod_network}, ipFamilies: [{families}]}}\n---\n" + WORKLOADS)
    return path


@pytest.fixture(scope="module")
def vxlan_lab(tmp_path_factory):
    folder = tmp_path_factory.mktemp("vxlan")
    with lab_up("nvx", "-f", str(_lab_file(folder, "vxlan", "IPv4, IPv6"))) as name:
        yield name


@pytest.fixture(scope="module")
def hostgw_lab(tmp_path_factory):
    with lab_up("nhg", "-f", str(_lab_file(tmp_path_factory.mktemp("hostgw"), "host-gw"))) as name:
        yield name


def _get(lab, kind):
    data = json.loads(netlab_cli("get", kind, "-o", "json", "--name", lab).stdout)
    return {item["metadata"]["name"]: item for item in data["items"]}


def _netns(pod):
    return pod["metadata"]["annotations"]["netlab.io/netns"]


def _in(namespace, *command):
    return subprocess.run(["ip", "netns", "exec", namespace, *command], capture_output=True, text=True,
                          timeout=30)


def _curl(namespace, url):
    return _in(namespace, "curl", "-s", "--max-time", "5", url)


def _client_and_server(lab):
    pods = _get(lab, "pods")
    server = next(p for n, p in pods.items() if n.startswith("web-"))
    assert server["spec"]["nodeName"] == "node2" and pods["client"]["spec"]["nodeName"] == "node1"
    return pods["client"], server


def _capture(namespace, expression, send, count=None, timeout=5.0):
    """The lines `tcpdump -i eth0 -n` prints in NAMESPACE while SEND runs (once it is listening)."""
    command = ["ip", "netns", "exec", namespace, "tcpdump", "-i", "eth0", "-n", "-l"]
    command += ["-c", str(count)] if count else []
    proc = subprocess.Popen(command + expression.split(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    try:
        deadline, heard = time.monotonic() + timeout, ""
        while "listening on" not in heard and time.monotonic() < deadline:
            if select.select([proc.stderr], [], [], 0.1)[0]:    # raw reads: no buffer hides a line
                heard += os.read(proc.stderr.fileno(), 4096).decode(errors="replace")
        assert "listening on" in heard, heard
        send()
        try:
            out, _ = proc.communicate(timeout=timeout if count else 1.0)
        except subprocess.TimeoutExpired:
            proc.terminate()                # tcpdump prints what it has and exits on SIGTERM
            out, _ = proc.communicate(timeout=timeout)
        return out.splitlines()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def _is_flanneld_s_device(lab, device, mtu, locals_, address):
    """DEVICE on each node as flanneld's newVXLANDevice makes it: MTU, VNI 1 on eth0 from the node's
    address in LOCALS_, port 8472, nolearning, up, holding ADDRESS (formatted with the node's
    number), router advertisements off."""
    for node, local in zip(("node1", "node2"), locals_):
        text = _in(f"{lab}-{node}", "ip", "-d", "link", "show", device).stdout
        assert f"mtu {mtu}" in text and ",UP" in text, text
        assert re.search(rf"vxlan id 1 local {local} dev eth0 .*dstport 8472 .*nolearning", text), text
        assert address.format(k=node[-1]) in _in(f"{lab}-{node}", "ip", "addr", "show", device).stdout
        assert _in(f"{lab}-{node}", "cat", f"/proc/sys/net/ipv6/conf/{device}/accept_ra").stdout.strip() == "0"


def test_flannel_1_is_a_vxlan_device_as_flanneld_makes_it(vxlan_lab):
    _is_flanneld_s_device(vxlan_lab, "flannel.1", 1450, (NODE1_IP, NODE2_IP), "inet 10.244.{k}.0/32")


def test_routes_neighbours_and_fdb_point_at_the_other_node(vxlan_lab):
    node1 = f"{vxlan_lab}-node1"
    routes = _in(node1, "ip", "route").stdout
    assert "10.244.2.0/24 via 10.244.2.0 dev flannel.1 onlink" in routes
    assert "172.18.0.3" not in routes               # no host-gw route left beside it
    neigh = _in(node1, "ip", "neigh", "show", "dev", "flannel.1").stdout
    match = re.search(r"10\.244\.2\.0 lladdr ([0-9a-f:]{17}) PERMANENT", neigh)
    assert match, neigh
    fdb = _in(node1, "bridge", "fdb", "show", "dev", "flannel.1").stdout
    assert f"{match.group(1)} dst {NODE2_IP} self permanent" in fdb, fdb
    # the MAC node1 was told is the one node2's flannel.1 really has
    assert f"link/ether {match.group(1)}" in _in(f"{vxlan_lab}-node2", "ip", "link", "show", "flannel.1").stdout


def test_flannel_v6_1_is_flanneld_s_ipv6_vxlan_device_with_its_entries_for_the_other_node(vxlan_lab):
    # flanneld leaves its MTU to the kernel: eth0's less 70 for VXLAN over IPv6
    _is_flanneld_s_device(vxlan_lab, "flannel-v6.1", 1430, (NODE1_IP6, NODE2_IP6),
                          "inet6 fd00:10:244:{k}::/128 scope global")
    node1 = f"{vxlan_lab}-node1"
    assert "fd00:10:244:2::/64 via fd00:10:244:2:: dev flannel-v6.1 metric 1024 onlink" in _in(
        node1, "ip", "-6", "route").stdout
    neigh = _in(node1, "ip", "-6", "neigh", "show", "dev", "flannel-v6.1").stdout
    match = re.search(r"fd00:10:244:2:: lladdr ([0-9a-f:]{17}) PERMANENT", neigh)
    assert match, neigh
    assert f"{match.group(1)} dst {NODE2_IP6} self permanent" in _in(node1, "bridge", "fdb", "show", "dev",
                                                                      "flannel-v6.1").stdout
    annotations = _get(vxlan_lab, "nodes")["node2"]["metadata"]["annotations"]
    assert json.loads(annotations["flannel.alpha.coreos.com/backend-v6-data"]) == {"VNI": 1,
                                                                                    "VtepMAC": match.group(1)}
    assert annotations["flannel.alpha.coreos.com/public-ipv6"] == NODE2_IP6


def test_ipv6_pod_to_pod_across_nodes_goes_inside_ipv6_udp_and_big_bodies_cross(vxlan_lab):
    client, server = _client_and_server(vxlan_lab)
    client6, server6 = client["status"]["podIPs"][1]["ip"], server["status"]["podIPs"][1]["ip"]
    replies = []
    lines = _capture(f"{vxlan_lab}-node2", "udp port 8472", count=4,
                     send=lambda: replies.append(_curl(_netns(client), f"http://[{server6}]/")))
    assert replies[0].returncode == 0, replies[0].stderr
    assert f"RemoteAddr: [{client6}]:" in replies[0].stdout                     # no NAT between pods
    outer = [line for line in lines if f"IP6 {NODE1_IP6}." in line and f"> {NODE2_IP6}.8472" in line]
    assert outer and all("instance 1" in line for line in outer), lines
    assert any(f"{client6}." in line and f"> {server6}.80:" in line for line in lines), lines
    for size in (1400, 100_000):       # past flannel-v6.1's MTU: path MTU discovery, as on a real node
        reply = _curl(_netns(client), f"http://[{server6}]/data?size={size}")
        assert reply.returncode == 0 and len(reply.stdout) == size, reply.stderr
    from netlab import explain as ex
    text = ex.format_text(ex.explain(vxlan_lab, "pod/client", f"[{server6}]:80"))
    assert f"UDP {NODE1_IP6} -> {NODE2_IP6}:8472 (VXLAN, VNI 1)" in text and "verdict: delivered" in text, text
    assert f"inside VXLAN (UDP 8472) to {NODE1_IP6}" in text          # the reply goes back the same way


def test_cni0_and_both_ends_of_every_pod_veth_have_mtu_1450(vxlan_lab):
    client, server = _client_and_server(vxlan_lab)
    for pod in (client, server):
        assert "mtu 1450" in _in(_netns(pod), "ip", "link", "show", "eth0").stdout
    for node in ("node1", "node2"):
        links = _in(f"{vxlan_lab}-{node}", "ip", "-o", "link", "show").stdout.splitlines()
        ours = [line for line in links if ": cni0:" in line or "master cni0" in line]
        assert len(ours) >= 2 and all("mtu 1450" in line for line in ours), ours


def test_pod_to_pod_across_nodes_is_encapsulated_and_not_nated(vxlan_lab):
    client, server = _client_and_server(vxlan_lab)
    replies = []
    lines = _capture(f"{vxlan_lab}-node2", "udp port 8472", count=4,
                     send=lambda: replies.append(_curl(_netns(client), f"http://{server['status']['podIP']}/")))
    reply = replies[0]
    assert reply.returncode == 0, reply.stderr
    assert f"RemoteAddr: {client['status']['podIP']}:" in reply.stdout        # the server sees the pod
    outer = [line for line in lines if f"{NODE1_IP}." in line and f"> {NODE2_IP}.8472" in line]
    assert outer and all("instance 1" in line for line in outer), lines      # tcpdump calls 8472 "OTV"
    assert any(f"{client['status']['podIP']}." in line and f"> {server['status']['podIP']}.80:" in line
               for line in lines), lines                                      # the inner packet, as sent


def test_host_gw_sends_pod_packets_bare_with_no_vxlan_on_the_underlay(hostgw_lab):
    client, server = _client_and_server(hostgw_lab)
    replies = []
    lines = _capture(f"{hostgw_lab}-node2", "udp port 8472 or tcp port 80",
                     send=lambda: replies.append(_curl(_netns(client), f"http://{server['status']['podIP']}/")))
    assert replies[0].returncode == 0, replies[0].stderr
    assert not any("8472" in line for line in lines), lines
    assert any(f"{client['status']['podIP']}." in line and f"> {server['status']['podIP']}.80:" in line
               for line in lines), lines
    assert "flannel.1" not in _in(f"{hostgw_lab}-node1", "ip", "link").stdout


def test_cluster_ip_from_a_pod_crosses_the_overlay(vxlan_lab):
    client, _ = _client_and_server(vxlan_lab)
    ip = _get(vxlan_lab, "svc")["web"]["spec"]["clusterIP"]
    replies = []
    lines = _capture(f"{vxlan_lab}-node2", "udp port 8472", count=2,
                     send=lambda: replies.append(_curl(_netns(client), f"http://{ip}/")))
    assert replies[0].returncode == 0, replies[0].stderr
    assert "Hostname: web-" in replies[0].stdout
    assert f"RemoteAddr: {client['status']['podIP']}:" in replies[0].stdout
    assert any(f"> {NODE2_IP}.8472" in line for line in lines), lines


def test_node_port_from_the_external_client_over_the_node_without_endpoints(vxlan_lab):
    replies = []
    lines = _capture(f"{vxlan_lab}-node2", "udp port 8472", count=2,
                     send=lambda: replies.append(_curl(f"{vxlan_lab}-client", f"http://{NODE1_IP}:30080/")))
    assert replies[0].returncode == 0, replies[0].stderr
    assert "Hostname: web-" in replies[0].stdout
    # externalTrafficPolicy Cluster: node1 masquerades to its flannel.1 address before encapsulating
    assert "RemoteAddr: 10.244.1.0:" in replies[0].stdout
    assert any(f"{NODE1_IP}." in line and f"> {NODE2_IP}.8472" in line for line in lines), lines


def test_a_1400_byte_body_crosses_nodes_under_vxlan(vxlan_lab):
    client, server = _client_and_server(vxlan_lab)
    for size in (1400, 100_000):
        reply = _curl(_netns(client), f"http://{server['status']['podIP']}/data?size={size}")
        assert reply.returncode == 0, reply.stderr
        assert len(reply.stdout) == size and reply.stdout.startswith("|") and reply.stdout.endswith("|")


def _explain(lab, source, dest):
    from netlab import explain as ex
    expl = ex.explain(lab, source, dest)
    assert expl.verdict == "delivered", ex.format_text(expl)
    return expl, ex.format_text(expl)


def test_explain_follows_the_overlay_pod_to_pod_cluster_ip_and_node_port(vxlan_lab):
    client, server = _client_and_server(vxlan_lab)
    expl, text = _explain(vxlan_lab, "pod/client", f"{server['status']['podIP']}:80")
    assert f"UDP {NODE1_IP} -> {NODE2_IP}:8472 (VXLAN, VNI 1)" in text, text
    (cand,) = expl.candidates
    crossed = [h.namespace for h in cand.hops if h.kind == "link"]
    assert crossed == [_netns(client), f"{vxlan_lab}-node1", f"{vxlan_lab}-node2", f"{vxlan_lab}-node2"], text
    assert cand.seen_source == client["status"]["podIP"]                     # no NAT between pods
    # a ClusterIP: every endpoint is on node2, reached through flannel.1, the pod's own address kept
    expl, text = _explain(vxlan_lab, "pod/client", "svc/web")
    assert {c.node for c in expl.endpoints} == {"node2"} and "VTEP" in text
    assert {c.seen_source for c in expl.endpoints} == {client["status"]["podIP"]}
    # a NodePort through node1 (no endpoint there): masqueraded to flannel.1's address, as the real reply shows
    expl, text = _explain(vxlan_lab, "client/client", "node/node1:30080")
    assert {c.seen_source for c in expl.endpoints} == {"10.244.1.0"}, text
    reply = _curl(f"{vxlan_lab}-client", f"http://{NODE1_IP}:30080/")
    assert "RemoteAddr: 10.244.1.0:" in reply.stdout


def test_up_refused_for_want_of_the_vxlan_driver_leaves_no_state_lock_or_namespace(tmp_path, monkeypatch):
    from netlab import lab as lab_mod
    from netlab import manifest
    from netlab import state as lab_state
    from netlab.dataplane import netns, vxlan
    monkeypatch.setattr(vxlan, "kernel_problem", lambda: "spec.podNetwork vxlan needs the kernel's VXLAN driver")
    name = f"nvr{os.getpid() % 10000}"
    loaded = manifest.load([str(_lab_file(tmp_path, "vxlan"))])
    with pytest.raises(lab_mod.LabError, match="VXLAN driver"):
        lab_mod.apply(name, loaded, create=True)
    assert not lab_state.state_path(name).exists() and not lab_state.lock_file(name).exists()
    folder = lab_state.state_path(name).parent
    assert not folder.exists() or not any(folder.iterdir())
    assert netns.list_names(f"{name}-") == []


def test_nodes_carry_flannels_annotations_with_the_vtep_mac_the_peers_use(vxlan_lab, hostgw_lab):
    for node in ("node1", "node2"):
        annotations = _get(vxlan_lab, "nodes")[node]["metadata"]["annotations"]
        (link,) = json.loads(_in(f"{vxlan_lab}-{node}", "ip", "-j", "link", "show", "flannel.1").stdout)
        assert json.loads(annotations["flannel.alpha.coreos.com/backend-data"]) == {"VNI": 1,
                                                                                     "VtepMAC": link["address"]}
        assert annotations["flannel.alpha.coreos.com/backend-type"] == "vxlan"
        assert annotations["flannel.alpha.coreos.com/public-ip"] == {"node1": NODE1_IP, "node2": NODE2_IP}[node]
        assert annotations["flannel.alpha.coreos.com/kube-subnet-manager"] == "true"
    # the other node's neighbour entry for this node's VTEP is that MAC
    mac = json.loads(_get(vxlan_lab, "nodes")["node2"]["metadata"]["annotations"][
        "flannel.alpha.coreos.com/backend-data"])["VtepMAC"]
    assert mac in _in(f"{vxlan_lab}-node1", "ip", "neigh", "show", "dev", "flannel.1").stdout
    hostgw = _get(hostgw_lab, "nodes")["node1"]["metadata"]["annotations"]
    assert hostgw["flannel.alpha.coreos.com/backend-type"] == "host-gw"
    assert hostgw["flannel.alpha.coreos.com/backend-data"] == "null"


def test_switching_the_pod_network_of_a_live_lab_is_refused_and_changes_nothing(vxlan_lab, tmp_path):
    done = netlab_cli("up", "-f", str(_lab_file(tmp_path, "host-gw")), "--name", vxlan_lab, check=False)
    assert done.returncode != 0
    assert f"lab {vxlan_lab!r} is up with other cluster settings; run `netlab down --name {vxlan_lab}`" \
        in done.stderr and "Traceback" not in done.stderr
    assert "vxlan id 1" in _in(f"{vxlan_lab}-node1", "ip", "-d", "link", "show", "flannel.1").stdout
    client, server = _client_and_server(vxlan_lab)
    assert _curl(_netns(client), f"http://{server['status']['podIP']}/").returncode == 0
