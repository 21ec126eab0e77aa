"""netlab port-forward as kubectl's: what it reads from its arguments and the lab's objects (pure),
its listeners and relays (over 127.0.0.1, no root), then real pods reached through their own network
namespaces' localhost from 127.0.0.1 on the host (root), leaving the host's root namespace as it was."""

import datetime
import queue
import select
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import urllib.request
from contextlib import contextmanager

import pytest

from netlab import names
from netlab.lab import LabError
from netlab.portforward import (DialError, ForwardedPort, ListenAddress, Plan, choose_pod, convert_named_ports,
                                klog_error, listen_addresses, parse_ports, parse_target, plan_for, port_forward,
                                relay, serve, translate_service_ports)
from netlab.runtime import parse_builtin_reply
from tests import rootns
from tests.conftest import lab_namespaces, netlab_cli, unique_lab

WAIT = 30       # seconds any one wait below may take before the test fails (none is a guess at timing)


# -- arguments (pure) ---------------------------------------------------------------------------

@pytest.mark.parametrize("target, expected", [
    ("web", ("Pod", "web")), ("pod/web", ("Pod", "web")), ("po/web", ("Pod", "web")),
    ("svc/web", ("Service", "web")), ("service/web", ("Service", "web")),
    ("deploy/web", ("Deployment", "web")), ("deployment/web", ("Deployment", "web")),
    ("deployments.apps/web", ("Deployment", "web")), ("rs/web", ("ReplicaSet", "web")),
    ("Deployment/web", ("Deployment", "web")),
])
def test_targets_are_read_as_kubectl_reads_them(target, expected):
    assert parse_target(target) == expected


@pytest.mark.parametrize("target, message", [
    ("node/node1", 'the server doesn\'t have a resource type "node"'),
    ("pod/", "must have a single resource and name"),
    ("pod/a/b", "may not have more than one slash"),
])
def test_targets_it_cannot_forward_to_are_refused(target, message):
    with pytest.raises(LabError, match=message):
        parse_target(target)


def test_port_specs_as_client_go_parses_them():
    assert parse_ports(["8080:80", "80", ":443", "0:53"]) == (
        ForwardedPort(8080, 80), ForwardedPort(80, 80), ForwardedPort(0, 443), ForwardedPort(0, 53))


@pytest.mark.parametrize("spec, message", [
    ("1:2:3", "invalid port format '1:2:3'"),
    ("abc", "error parsing local port 'abc': strconv.ParseUint: parsing \"abc\": invalid syntax"),
    ("80:70000", "error parsing remote port '70000': strconv.ParseUint: parsing \"70000\": value out of range"),
    ("8080:0", "remote port must be > 0"),
    ("-1:80", "error parsing local port '-1': strconv.ParseUint: parsing \"-1\": invalid syntax"),
])
def test_port_specs_client_go_refuses(spec, message):
    with pytest.raises(LabError) as err:
        parse_ports([spec])
    assert str(err.value) == message


def test_localhost_is_127_0_0_1_and_only_loopback_addresses_are_taken():
    assert listen_addresses("localhost") == (ListenAddress("127.0.0.1", "tcp4", "all"),)
    # explicit addresses are kubectl's "any" failure mode and win over what localhost stands for
    assert listen_addresses("localhost,127.0.0.1,::1,127.0.0.2") == (
        ListenAddress("127.0.0.1", "tcp4", "any"), ListenAddress("127.0.0.2", "tcp4", "any"),
        ListenAddress("::1", "tcp6", "any"))
    for outside in ("0.0.0.0", "10.0.0.1", "::"):
        with pytest.raises(LabError, match="loopback addresses only"):
            listen_addresses(outside)
    with pytest.raises(LabError, match="^nowhere is not a valid IP$"):
        listen_addresses("nowhere")


# -- which pod and which port (pure, over kubectl-shaped objects) -------------------------------

def _pod(name, phase="Running", node="node1", ready_since="2025-01-01T00:00:10Z", restarts=0,
         created="2025-01-01T00:00:00Z", ports=(("http", 8080, "TCP"),)):
    conditions = [{"type": "Ready", "status": "True" if ready_since else "False",
                   "lastTransitionTime": ready_since or created}]
    return {"metadata": {"name": name, "namespace": "default", "uid": f"uid-{name}", "creationTimestamp": created},
            "spec": {"nodeName": node,
                     "containers": [{"name": "c", "ports": [{"name": n, "containerPort": p, "protocol": proto}
                                                            for n, p, proto in ports]}]},
            "status": {"phase": phase, "conditions": conditions,
                       "containerStatuses": [{"name": "c", "restartCount": restarts}]}}


def _service(ports, cluster_ip="10.96.0.10"):
    return {"metadata": {"name": "web", "namespace": "default"},
            "spec": {"clusterIP": cluster_ip, "selector": {"app": "web"}, "ports": ports}}


def test_a_service_port_becomes_its_target_port_in_the_chosen_pod():
    pod = _pod("web-1", ports=(("http", 8080, "TCP"), ("metrics", 9100, "TCP")))
    service = _service([{"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"},
                        {"name": "metrics", "port": 9000, "targetPort": 9100, "protocol": "TCP"},
                        {"name": "plain", "port": 7000, "protocol": "TCP"}])
    assert translate_service_ports(["8080:80", "80", ":80", "9000", "7000", "5000:metrics", "http"],
                                   service, pod) == [
        "8080", "80:8080", ":8080", "9000:9100", "7000", "5000:9100", "80:8080"]


def test_service_ports_kubectl_cannot_translate():
    pod = _pod("web-1")
    with pytest.raises(LabError, match="^Service web does not have a service port 81$"):
        translate_service_ports(["81"], _service([{"port": 80, "targetPort": 8080}]), pod)
    with pytest.raises(LabError, match="^Service 'web' does not have a named port 'https'$"):
        translate_service_ports(["https"], _service([{"name": "http", "port": 80}]), pod)
    with pytest.raises(LabError, match="^Pod 'web-1' does not have a named port 'admin'$"):
        translate_service_ports(["80"], _service([{"port": 80, "targetPort": "admin"}]), pod)


def test_a_headless_service_forwards_the_port_as_given():
    service = _service([{"port": 80, "targetPort": 8080}], cluster_ip="None")
    assert translate_service_ports(["80"], service, _pod("web-1")) == ["80"]


def test_a_pods_named_ports_become_numbers():
    pod = _pod("web-1")
    assert convert_named_ports(["http", "9000:http", "8080:80", ":http"], pod) == [
        "8080", "9000:8080", "8080:80", ":8080"]        # a bare name listens on its number
    with pytest.raises(LabError, match="^remote port cannot be empty$"):
        convert_named_ports(["8080:"], pod)


def test_a_udp_only_port_is_refused_as_kubectl_does():
    pod = _pod("dns-1", ports=(("dns", 53, "UDP"), ("dns-tcp", 5353, "TCP")))
    with pytest.raises(LabError, match="^UDP protocol is not supported for dns$"):
        plan_for("Pod", None, pod, ["dns"], "localhost", "lab-default.dns-1")
    assert plan_for("Pod", None, pod, ["5353"], "localhost", "n").ports == (ForwardedPort(5353, 5353),)


def test_the_most_active_pod_is_chosen_as_kubectl_chooses():
    pending = _pod("a-pending", phase="Pending", node=None, ready_since=None)
    not_ready = _pod("b-not-ready", ready_since=None)
    ready_late = _pod("c-ready-late", ready_since="2025-01-01T00:05:00Z")
    ready_early = _pod("d-ready-early", ready_since="2025-01-01T00:01:00Z")
    assert choose_pod([pending, not_ready, ready_late, ready_early])["metadata"]["name"] == "d-ready-early"
    assert choose_pod([pending, not_ready])["metadata"]["name"] == "b-not-ready"
    restarted = _pod("e-restarted", ready_since="2025-01-01T00:01:00Z", restarts=3)
    assert choose_pod([restarted, ready_early])["metadata"]["name"] == "d-ready-early"
    older = _pod("f-older", created="2024-12-31T00:00:00Z", ready_since="2025-01-01T00:01:00Z")
    assert choose_pod([ready_early, older])["metadata"]["name"] == "f-older"
    assert choose_pod([]) is None


def test_a_pod_that_is_not_running_is_refused_with_kubectls_words():
    with pytest.raises(LabError) as err:
        plan_for("Pod", None, _pod("p", phase="Pending", node=None, ready_since=None), ["80"], "localhost", "n")
    assert str(err.value) == "unable to forward port because pod is not running. Current status=Pending"


def test_the_error_line_has_klogs_shape():
    line = klog_error("An error occurred forwarding", 'error forwarding port 80 to pod "x"',
                      now=datetime.datetime(2025, 1, 7, 12, 0, 0, 123456), pid=4242, localPort=8080, remotePort=80)
    assert line == ('E0107 12:00:00.123456    4242 portforward.go] "An error occurred forwarding" '
                    'err="error forwarding port 80 to pod \\"x\\"" localPort=8080 remotePort=80')


# -- listeners and relays over 127.0.0.1 (no root: the pod side is a server of the test's own) ---

@contextmanager
def _upper_server():
    """A server on 127.0.0.1 answering each connection with its bytes upper-cased once the client
    has half-closed: what it answers proves the half-close went through."""
    listener = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()
    received = threading.Event()                # set once any bytes arrived

    def serve_one(conn):
        with conn:
            data = b""
            while chunk := conn.recv(4096):
                data += chunk
                received.set()
            conn.sendall(data.upper())

    def run():
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            threading.Thread(target=serve_one, args=(conn,), daemon=True).start()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1], received
    finally:
        stop.set()
        listener.shutdown(socket.SHUT_RDWR)
        listener.close()
        thread.join(WAIT)


class _Session:
    def __init__(self):
        self.lines, self.errors = [], []
        self.pairs = None
        self.error = None


@contextmanager
def _running(start, **kwargs):
    """Run START(echo=, echo_err=, ready=, stop=, **KWARGS) in a thread until the body is done;
    the body gets the session once READY has been called (or start's error, raised)."""
    session, stop, got = _Session(), threading.Event(), queue.Queue()

    def run():
        try:
            start(echo=session.lines.append, echo_err=session.errors.append, ready=got.put, stop=stop, **kwargs)
        except BaseException as err:        # noqa: BLE001 - handed to the test below
            session.error = err
        finally:
            got.put(None)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        session.pairs = got.get(timeout=WAIT)
        if session.pairs is None:
            raise session.error or AssertionError("the forwarder ended before listening")
        yield session
    finally:
        stop.set()
        thread.join(WAIT)
        assert not thread.is_alive(), "the forwarder did not stop"


def _exchange(port, payload=b"hello"):
    with socket.create_connection(("127.0.0.1", port), timeout=WAIT) as conn:
        conn.sendall(payload)
        conn.shutdown(socket.SHUT_WR)
        answer = b""
        while chunk := conn.recv(4096):
            answer += chunk
        return answer


def _closed_at_once(port):
    """True when the forwarder closes a connection it accepted without relaying anything (nothing
    is sent on it: a close with unread bytes would be a reset)."""
    with socket.create_connection(("127.0.0.1", port), timeout=WAIT) as conn:
        conn.shutdown(socket.SHUT_WR)
        return conn.recv(4096) == b""


def _plan(remote_port, local=0):
    return Plan(pod="default/fake", uid="uid-fake", netns="unused", ports=(ForwardedPort(local, remote_port),),
                addresses=listen_addresses("localhost"))


def _local_dial(port):
    return socket.create_connection(("127.0.0.1", port), timeout=WAIT)


def test_relay_passes_bytes_both_ways_and_the_half_close():
    a_outer, a_inner = socket.socketpair()
    b_inner, b_outer = socket.socketpair()
    thread = threading.Thread(target=relay, args=(a_inner, b_inner))
    thread.start()
    a_outer.sendall(b"ping")
    a_outer.shutdown(socket.SHUT_WR)
    assert b_outer.recv(10) == b"ping"
    assert b_outer.recv(10) == b""              # the half-close arrived
    b_outer.sendall(b"pong")                    # ... and the other way still flows
    b_outer.shutdown(socket.SHUT_WR)
    assert a_outer.recv(10) == b"pong"
    assert a_outer.recv(10) == b""
    thread.join(WAIT)
    assert not thread.is_alive()
    for sock in (a_outer, a_inner, b_inner, b_outer):
        sock.close()


def test_serve_listens_prints_as_kubectl_and_relays_each_connection():
    with _upper_server() as (server_port, _), _running(serve, plan=_plan(server_port), dial=_local_dial) as session:
        [(local, remote)] = session.pairs
        assert remote == server_port and local != 0
        assert _exchange(local, b"first") == b"FIRST"
        assert _exchange(local, b"second") == b"SECOND"
    assert session.lines == [f"Forwarding from 127.0.0.1:{local} -> {server_port}",
                             f"Handling connection for {local}", f"Handling connection for {local}"]
    assert session.errors == [] and session.error is None


def test_a_refused_connection_is_logged_and_the_next_one_served():
    calls = []

    def refusing_once(port):
        calls.append(port)
        if len(calls) == 1:
            raise DialError("failed to connect to localhost:80 inside namespace \"n\", IPv4: dial tcp4 "
                            "127.0.0.1:80: connect: connection refused")
        return _local_dial(port)

    with _upper_server() as (server_port, _), _running(serve, plan=_plan(server_port), dial=refusing_once) as session:
        [(local, _)] = session.pairs
        assert _closed_at_once(local)               # accepted, then closed: nothing to relay to
        assert _exchange(local, b"again") == b"AGAIN"
    [error] = session.errors
    assert error.startswith("E") and '"An error occurred forwarding"' in error
    assert (f'err="error forwarding port {server_port} to pod default/fake, uid uid-fake: failed to connect'
            in error and error.endswith(f"localPort={local} remotePort={server_port}"))
    assert session.error is None


def test_a_pod_whose_namespace_is_gone_ends_the_session_as_kubectl_does():
    def gone(port):
        raise DialError('network namespace for sandbox "lab-default.fake" is closed', ends_session=True)

    with _upper_server() as (server_port, _), _running(serve, plan=_plan(server_port), dial=gone) as session:
        [(local, _)] = session.pairs
        assert _closed_at_once(local)
    assert str(session.error) == "lost connection to pod"
    assert "is closed" in session.errors[0]


def test_a_local_port_in_use_is_reported_as_client_go_does():
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        errors = []
        with pytest.raises(LabError) as err:
            serve(_plan(80, local=port), echo=lambda line: None, echo_err=errors.append)
    assert str(err.value) == f"unable to listen on any of the requested ports: [{{{port} 80}}]"
    assert errors == [f"Unable to listen on port {port}: Listeners failed to create with the following errors: "
                      f"[unable to create listener: Error listen tcp4 127.0.0.1:{port}: bind: address already in use]"]


def test_open_connections_end_when_the_forwarder_stops():
    with _upper_server() as (server_port, received):
        with _running(serve, plan=_plan(server_port), dial=_local_dial) as session:
            [(local, _)] = session.pairs
            conn = socket.create_connection(("127.0.0.1", local), timeout=WAIT)
            conn.sendall(b"half")       # the server waits for the half-close that never comes
            assert received.wait(WAIT)    # relayed: the forwarder holds the connection
        with conn:
            assert conn.recv(10) == b""
        assert session.lines[-1] == f"Handling connection for {local}"


# -- real pods (root) ---------------------------------------------------------------------------

LAB = textwrap.dedent("""\
    apiVersion: v1
    kind: Pod
    metadata: {name: web, labels: {app: web}}
    spec:
      containers:
      - {name: nginx, image: nginx, ports: [{name: http, containerPort: 80}]}
    ---
    apiVersion: v1
    kind: Pod
    metadata: {name: py, labels: {app: py}}
    spec:
      containers:
      - name: server
        image: python:3.12
        command: [python3, -m, http.server, "8000"]
        ports: [{name: alt-http, containerPort: 8000}]
    ---
    apiVersion: apps/v1
    kind: Deployment
    metadata: {name: dep}
    spec:
      replicas: 2
      selector: {matchLabels: {app: dep}}
      template:
        metadata: {labels: {app: dep}}
        spec:
          containers:
          - {name: nginx, image: nginx, ports: [{containerPort: 80}]}
    ---
    apiVersion: v1
    kind: Service
    metadata: {name: front}
    spec:
      selector: {app: py}
      ports: [{name: http, port: 80, targetPort: alt-http}]
    ---
    apiVersion: v1
    kind: Service
    metadata: {name: web-num}
    spec:
      selector: {app: web}
      ports: [{port: 8080, targetPort: 80}]
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
    metadata: {name: victim}
    spec:
      containers:
      - {name: nginx, image: nginx, ports: [{containerPort: 80}]}
    """)


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    name = unique_lab("nlpf")
    path = tmp_path_factory.mktemp("pf") / "lab.yaml"
    path.write_text(LAB)
    try:
        netlab_cli("up", "-f", str(path), "--name", name)
        yield name
    finally:
        netlab_cli("down", "--name", name, check=False)
        assert lab_namespaces(name) == []


def _forwarding(lab, target, ports, **kwargs):
    return _running(port_forward, lab=lab, target=target, namespace="default", ports=ports, **kwargs)


def _http(port):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=WAIT) as reply:
        return reply.status, reply.read().decode()


def _netns_view(netns):
    run = lambda *argv: subprocess.run(["ip", "-n", netns, *argv], capture_output=True, text=True, check=True).stdout
    return run("-o", "link"), run("-o", "addr"), run("route", "show", "table", "all")


def _listening(port):
    return [line.split()[3] for line in subprocess.run(["ss", "-Hltn"], capture_output=True, text=True).stdout
            .splitlines() if line.split()[3].endswith(f":{port}")]


@pytest.mark.root
def test_a_pod_is_reached_on_its_own_localhost_through_127_0_0_1(lab):
    with _forwarding(lab, "web", [":80"]) as session:
        [(local, remote)] = session.pairs
        assert remote == 80
        status, body = _http(local)
        assert _listening(local) == [f"127.0.0.1:{local}"]
    assert status == 200
    reply = parse_builtin_reply(body)
    assert reply["pod"] == "web"
    assert reply["client"].startswith("127.0.0.1:")     # dialled on the pod's loopback, as the CRI does
    assert session.lines == [f"Forwarding from 127.0.0.1:{local} -> 80", f"Handling connection for {local}"]
    assert session.errors == [] and session.error is None
    assert _listening(local) == []


@pytest.mark.root
def test_a_service_port_is_forwarded_to_its_named_target_port(lab):
    with _forwarding(lab, "svc/front", [":80"]) as session:
        [(local, remote)] = session.pairs
        status, body = _http(local)
    assert (remote, status) == (8000, 200)
    assert "Directory listing" in body                  # python -m http.server answered
    assert session.lines[0] == f"Forwarding from 127.0.0.1:{local} -> 8000"


@pytest.mark.root
def test_a_services_numeric_target_port_and_a_deployments_pod(lab):
    with _forwarding(lab, "service/web-num", [":8080"]) as session:
        [(local, remote)] = session.pairs
        status, body = _http(local)
    assert (remote, status, parse_builtin_reply(body)["pod"]) == (80, 200, "web")
    with _forwarding(lab, "deploy/dep", [":80"]) as session:
        [(local, _)] = session.pairs
        status, body = _http(local)
    assert status == 200 and parse_builtin_reply(body)["pod"].startswith("dep-")


@pytest.mark.root
def test_a_refused_remote_port_leaves_the_forwarder_serving(lab):
    netns = names.pod_netns(lab, "default", "web")
    with _forwarding(lab, "pod/web", [":9", ":80"]) as session:
        [(closed, _), (open_, _)] = session.pairs
        assert _closed_at_once(closed)
        assert _http(open_)[0] == 200
        assert _closed_at_once(closed)                  # still listening after the refusal
        assert _http(open_)[0] == 200
    assert len(session.errors) == 2 and session.error is None
    assert (f'failed to execute portforward in network namespace \\"/run/netns/{netns}\\": failed to connect to '
            f'localhost:9 inside namespace \\"{netns}\\", IPv4: dial tcp4 127.0.0.1:9: connect: connection refused'
            in session.errors[0])
    assert session.errors[0].endswith(f"localPort={closed} remotePort=9")


@pytest.mark.root
def test_the_host_and_the_pod_namespaces_are_left_as_they_were(lab):
    netns = names.pod_netns(lab, "default", "web")
    host_before, pod_before = rootns.snapshot(), _netns_view(netns)
    with _forwarding(lab, "web", ["0:80", ":9"]) as session:
        [(local, _), (refused, _)] = session.pairs
        assert _http(local)[0] == 200
        assert _closed_at_once(refused)
    assert rootns.differences(host_before, rootns.snapshot()) == []
    assert _netns_view(netns) == pod_before


@pytest.mark.root
def test_a_pod_that_is_not_running_and_objects_that_are_not_there(lab):
    with pytest.raises(LabError) as err:
        port_forward(lab, "nowhere", "default", ["80"])
    assert str(err.value) == "unable to forward port because pod is not running. Current status=Pending"
    with pytest.raises(LabError, match='^Error from server \\(NotFound\\): pods "ghost" not found$'):
        port_forward(lab, "ghost", "default", ["80"])
    with pytest.raises(LabError, match='^Error from server \\(NotFound\\): services "ghost" not found$'):
        port_forward(lab, "svc/ghost", "default", ["80"])
    with pytest.raises(LabError, match="loopback addresses only"):
        port_forward(lab, "web", "default", ["80"], address="0.0.0.0")


@pytest.mark.root
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_ctrl_c_or_sigterm_ends_it_cleanly(lab, sig):
    code = (f"from netlab.portforward import port_forward; "
            f"port_forward({lab!r}, 'web', 'default', [':80'])")
    proc = subprocess.Popen([sys.executable, "-u", "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    try:
        ready, _, _ = select.select([proc.stdout], [], [], WAIT)
        assert ready, "no Forwarding line"
        first = proc.stdout.readline()
        assert first.startswith("Forwarding from 127.0.0.1:"), first + proc.stderr.read()
        local = int(first.split()[2].rsplit(":", 1)[1])
        assert _http(local)[0] == 200
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=WAIT)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert (proc.returncode, err) == (0, "")
    assert out == f"Handling connection for {local}\n"
    assert _listening(local) == []


@pytest.mark.root
def test_a_deleted_pod_ends_the_session_with_lost_connection(lab):
    netns = names.pod_netns(lab, "default", "victim")
    with _forwarding(lab, "victim", [":80"]) as session:
        [(local, _)] = session.pairs
        assert _http(local)[0] == 200
        netlab_cli("delete", "pod", "victim", "--name", lab)
        assert _closed_at_once(local)
    # _running's join waited for the forwarder to end by itself, as kubectl does then
    assert str(session.error) == "lost connection to pod"
    assert f'network namespace for sandbox \\"{netns}\\" is closed' in session.errors[-1]
    assert session.lines[-1] == f"Handling connection for {local}"
