"""kubelet's container probes: the pure spec and worker bookkeeping, then real probes as root."""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
import textwrap
import time

import pytest

from netlab.dataplane import netns
from netlab.kubelet.probes import (
    ProbeError,
    ProbeOutcome,
    ProbeSpec,
    ProbeState,
    container_probes,
    gate,
    http_request,
    initial_state,
    join_host_port,
    next_tick,
    probe_spec,
    record,
    request_target,
    run_probe,
)

PORTS = [("http", 8080, "TCP"), (None, 9090, "TCP"), ("metrics", 9100, "TCP")]


def spec(kind="readiness", **raw) -> ProbeSpec:
    return probe_spec(kind, {"httpGet": {"port": 8080}, **raw}, PORTS)


# --- the spec -----------------------------------------------------------------------------------

def test_an_empty_probe_gets_the_kubernetes_api_defaults():
    s = probe_spec("readiness", {"httpGet": {"port": 8080}}, PORTS)
    assert (s.kind, s.handler, s.port, s.path, s.scheme, s.host, s.headers) == \
           ("readiness", "httpGet", 8080, "/", "HTTP", None, ())
    assert (s.initial_delay, s.period, s.timeout, s.success_threshold, s.failure_threshold) == (0, 10, 1, 1, 3)


def test_zero_fields_read_as_unset_and_take_the_defaults():
    s = spec(periodSeconds=0, timeoutSeconds=0, successThreshold=0, failureThreshold=0)
    assert (s.period, s.timeout, s.success_threshold, s.failure_threshold) == (10, 1, 1, 3)


def test_every_field_of_the_manifest_is_read():
    raw = {"httpGet": {"path": "/healthz", "port": "http", "host": "10.0.0.9", "scheme": "HTTPS",
                       "httpHeaders": [{"name": "X-Probe", "value": "yes"}]},
           "initialDelaySeconds": 5, "periodSeconds": 2, "timeoutSeconds": 3,
           "successThreshold": 2, "failureThreshold": 4}
    assert probe_spec("readiness", raw, PORTS) == ProbeSpec(
        "readiness", "httpGet", path="/healthz", port=8080, host="10.0.0.9", scheme="HTTPS",
        headers=(("X-Probe", "yes"),), initial_delay=5, period=2, timeout=3,
        success_threshold=2, failure_threshold=4)


def test_exec_tcp_and_grpc_handlers_are_read():
    assert probe_spec("liveness", {"exec": {"command": ["cat", "/tmp/healthy"]}}, PORTS).command == \
           ("cat", "/tmp/healthy")
    tcp = probe_spec("startup", {"tcpSocket": {"port": "metrics", "host": "1.2.3.4"}}, PORTS)
    assert (tcp.handler, tcp.port, tcp.host) == ("tcpSocket", 9100, "1.2.3.4")
    grpc = probe_spec("liveness", {"grpc": {"port": 2379, "service": "etcd"}}, PORTS)
    assert (grpc.handler, grpc.port, grpc.grpc_service) == ("grpc", 2379, "etcd")


def test_a_named_port_resolves_to_the_container_port_with_that_name():
    assert probe_spec("liveness", {"tcpSocket": {"port": "metrics"}}, PORTS).port == 9100


def test_a_number_written_as_a_string_is_a_port_number_as_in_kubelet():
    assert probe_spec("liveness", {"tcpSocket": {"port": "9090"}}, PORTS).port == 9090


def test_an_unknown_port_name_is_an_error_naming_the_field_and_the_known_names():
    with pytest.raises(ProbeError, match=r'readinessProbe\.httpGet\.port: port "web" not found.*http \(8080/TCP\)'):
        probe_spec("readiness", {"httpGet": {"port": "web"}}, PORTS)
    with pytest.raises(ProbeError, match="no ports"):
        probe_spec("readiness", {"httpGet": {"port": "web"}}, [])


@pytest.mark.parametrize("raw, message", [
    ({}, "must specify a handler type"),
    ({"exec": {"command": ["true"]}, "tcpSocket": {"port": 1}}, "may not specify more than 1 handler type"),
    ({"tcpSocket": {"port": 0}}, "invalid port number 0"),
    ({"tcpSocket": {"port": 70000}}, "invalid port number 70000"),
    ({"tcpSocket": {}}, r"tcpSocket\.port: required"),
    ({"exec": {"command": []}}, r"exec\.command: required"),
    ({"grpc": {"port": "grpc"}}, "not a port name"),
    ({"httpGet": {"port": 80, "scheme": "FTP"}}, "scheme: unsupported"),
    ({"httpGet": {"port": 80}, "periodSeconds": -1}, r"readinessProbe\.periodSeconds: invalid value -1"),
])
def test_a_probe_kubelet_cannot_run_is_a_probe_error(raw, message):
    with pytest.raises(ProbeError, match=message):
        probe_spec("readiness", raw, PORTS)


@pytest.mark.parametrize("kind", ["liveness", "startup"])
def test_liveness_and_startup_need_success_threshold_1(kind):
    with pytest.raises(ProbeError, match=f"{kind}Probe.successThreshold: must be 1"):
        spec(kind, successThreshold=2)
    assert spec("readiness", successThreshold=2).success_threshold == 2


def test_container_probes_reads_the_three_probe_keys_and_names_the_container_on_error():
    container = {"name": "web", "readinessProbe": {"httpGet": {"port": "http"}},
                 "livenessProbe": {"tcpSocket": {"port": 8080}}, "startupProbe": {"exec": {"command": ["true"]}}}
    assert [(p.kind, p.handler) for p in container_probes(container, PORTS)] == \
           [("readiness", "httpGet"), ("liveness", "tcpSocket"), ("startup", "exec")]
    assert container_probes({"name": "plain"}, PORTS) == []
    with pytest.raises(ProbeError, match=r'container "web": livenessProbe\.httpGet\.port: port "nope"'):
        container_probes({"name": "web", "livenessProbe": {"httpGet": {"port": "nope"}}}, PORTS)


# --- the worker ---------------------------------------------------------------------------------

def test_readiness_starts_failed_liveness_passed_and_startup_not_started():
    assert initial_state(spec("readiness"), 100.0).result is False
    assert initial_state(spec("liveness"), 100.0).result is True
    assert initial_state(spec("startup"), 100.0).result is False


def test_the_first_probe_is_due_after_the_initial_delay_then_every_period():
    s = spec(initialDelaySeconds=5, periodSeconds=3)
    state = initial_state(s, 100.0)
    assert state.next_due == 105.0
    state = record(s, state, True, 105.2)
    assert state.next_due == 108.0
    assert record(s, state, True, 108.0).next_due == 111.0


def test_ticks_missed_while_the_caller_was_late_are_dropped_as_a_go_ticker_does():
    assert next_tick(100.0, 10.0, 100.0) == 110.0
    assert next_tick(100.0, 10.0, 125.0) == 130.0
    assert next_tick(100.0, 10.0, 130.0) == 140.0
    assert next_tick(100.0, 10.0, 90.0) == 110.0     # probed early: the next tick of the ticker


def _run(s: ProbeSpec, state: ProbeState, outcomes) -> list:
    results = []
    for i, ok in enumerate(outcomes):
        state = record(s, state, ok, float(i))
        results.append(state.result)
    return results


def test_readiness_fails_after_exactly_failure_threshold_consecutive_failures():
    s = spec(failureThreshold=3)
    ready = ProbeState(result=True)
    assert _run(s, ready, [False, False, False]) == [True, True, False]


def test_a_success_restarts_the_failure_count():
    s = spec(failureThreshold=3)
    assert _run(s, ProbeState(result=True), [False, False, True, False, False, False]) == \
           [True, True, True, True, True, False]


def test_readiness_recovers_after_success_threshold_consecutive_successes():
    s = spec(successThreshold=2, failureThreshold=1)
    assert _run(s, initial_state(s, 0.0), [True, True]) == [False, True]
    assert _run(s, ProbeState(result=False), [True, False, True, True]) == [False, False, False, True]


def test_liveness_flips_to_failure_after_failure_threshold_and_counts_runs():
    s = spec("liveness", failureThreshold=2)
    state = initial_state(s, 0.0)
    state = record(s, state, False, 0.0, "Liveness probe failed: x")
    assert (state.result, state.failures, state.successes, state.last_message) == \
           (True, 1, 0, "Liveness probe failed: x")
    state = record(s, state, False, 10.0)
    assert (state.result, state.failures) == (False, 2)


def test_startup_passes_on_its_first_success():
    s = spec("startup", failureThreshold=30)
    assert record(s, initial_state(s, 0.0), True, 0.0).result is True


def test_readiness_and_liveness_wait_for_startup_which_stops_once_passed():
    assert [gate(k, False) for k in ("startup", "readiness", "liveness")] == [True, False, False]
    assert [gate(k, True) for k in ("startup", "readiness", "liveness")] == [False, True, True]


# --- the request --------------------------------------------------------------------------------

def _headers(request: bytes) -> list:
    return request.decode().split("\r\n")


def test_the_request_is_kubelets_get_with_host_user_agent_and_accept():
    s = probe_spec("readiness", {"httpGet": {"path": "/healthz", "port": 8080}}, PORTS)
    assert _headers(http_request(s, "10.244.1.2", 8080)) == [
        "GET /healthz HTTP/1.1", "Host: 10.244.1.2:8080", "User-Agent: kube-probe/1.35", "Accept: */*",
        "Connection: close", "", ""]


def test_manifest_headers_are_sent_and_may_override_host_user_agent_and_accept():
    s = probe_spec("readiness", {"httpGet": {"port": 80, "httpHeaders": [
        {"name": "host", "value": "example.com"}, {"name": "x-custom-header", "value": "a"},
        {"name": "X-Custom-Header", "value": "b"}, {"name": "User-Agent", "value": "me"},
        {"name": "Accept", "value": ""}]}}, PORTS)
    lines = _headers(http_request(s, "10.0.0.1", 80))
    assert lines[:2] == ["GET / HTTP/1.1", "Host: example.com"]
    assert "X-Custom-Header: a" in lines and "X-Custom-Header: b" in lines and "User-Agent: me" in lines
    assert not [line for line in lines if line.startswith(("Accept", "host"))]


def test_a_path_without_leading_slash_and_ipv6_hosts_are_written_as_go_does():
    assert request_target("healthz?x=1") == "/healthz?x=1"
    assert request_target("/a b") == "/a%20b"
    assert join_host_port("fd00::1", 80) == "[fd00::1]:80"


def test_grpc_probes_fail_saying_netlab_does_not_support_them():
    s = probe_spec("liveness", {"grpc": {"port": 2379}}, PORTS)
    outcome = run_probe(s, "10.0.0.1", "no-such-netns", 1)
    assert (outcome.success, outcome.message) == (False, "gRPC probes are not supported by netlab")


# --- real probes (root) -------------------------------------------------------------------------

SERVER = textwrap.dedent("""
    import http.server, ssl, sys, time

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            if self.path == "/slow":
                time.sleep(5)
            status = {"/ok": 200, "/fail": 503, "/moved": 302}.get(self.path, 404)
            if self.path == "/headers":
                good = (self.headers["User-Agent"] == "kube-probe/1.35" and self.headers["Accept"] == "*/*"
                        and self.headers["X-Probe"] == "yes" and self.headers["Host"] == sys.argv[2])
                status = 200 if good else 400
            self.send_response(status)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Handler)
    if len(sys.argv) > 3:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(sys.argv[3], sys.argv[4])
        server.socket = context.wrap_socket(server.socket, server_side=True)
    server.serve_forever()
""")


def _kill(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    proc.wait(timeout=10)


def _listening(ns: str, port: int) -> bool:
    with netns.entered(ns):
        probe = socket.socket()
    with probe:
        probe.settimeout(0.5)
        return probe.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture
def node_ns():
    """A throwaway network namespace with lo up, standing in for a node."""
    name = f"pt-{secrets.token_hex(4)}"
    subprocess.run(["ip", "netns", "add", name], check=True, capture_output=True)
    try:
        subprocess.run(["ip", "-n", name, "link", "set", "lo", "up"], check=True, capture_output=True)
        yield name
    finally:
        subprocess.run(["ip", "netns", "del", name], capture_output=True)


def _serve(ns: str, port: int, *tls: str) -> subprocess.Popen:
    proc = subprocess.Popen(["ip", "netns", "exec", ns, sys.executable, "-c", SERVER, str(port),
                             f"127.0.0.1:{port}", *tls], start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 15
    while not _listening(ns, port):
        if proc.poll() is not None or time.monotonic() > deadline:
            _kill(proc)
            raise AssertionError(f"test server did not listen on {port} in {ns}: {proc.stderr.read()!r}")
        time.sleep(0.05)
    return proc


@pytest.fixture
def server(node_ns):
    """(namespace, port) of an HTTP server on 127.0.0.1 inside the node namespace."""
    proc = _serve(node_ns, 8080)
    try:
        yield node_ns, 8080
    finally:
        _kill(proc)


def _http(path: str, kind="readiness", **raw) -> ProbeSpec:
    return probe_spec(kind, {"httpGet": {"path": path, "port": 8080, **raw.pop("get", {})}, **raw}, PORTS)


@pytest.mark.root
def test_http_probe_from_the_node_namespace_succeeds_on_200(server):
    ns, _ = server
    home = os.readlink("/proc/thread-self/ns/net")
    assert run_probe(_http("/ok"), "127.0.0.1", ns, 0) == ProbeOutcome(True, "")
    assert os.readlink("/proc/thread-self/ns/net") == home, "the probe left the thread in the node's netns"


@pytest.mark.root
def test_http_probe_fails_with_kubelets_statuscode_message(server):
    outcome = run_probe(_http("/fail"), "127.0.0.1", server[0], 0)
    assert (outcome.success, outcome.message) == (False, "Readiness probe failed: HTTP probe failed with statuscode: 503")


@pytest.mark.root
def test_http_redirect_is_a_success_with_kubelets_warning(server):
    outcome = run_probe(_http("/moved", "liveness"), "127.0.0.1", server[0], 0)
    assert (outcome.success, outcome.message) == (True, "Liveness probe warning: Probe terminated redirects")


@pytest.mark.root
def test_http_probe_sends_kubelets_headers_and_the_manifests(server):
    s = _http("/headers", get={"httpHeaders": [{"name": "X-Probe", "value": "yes"}]})
    assert run_probe(s, "127.0.0.1", server[0], 0).success


@pytest.mark.root
def test_http_probe_fails_when_the_answer_takes_longer_than_the_timeout(server):
    outcome = run_probe(_http("/slow", timeoutSeconds=1), "127.0.0.1", server[0], 0)
    assert not outcome.success
    assert outcome.message == ('Readiness probe failed: Get "http://127.0.0.1:8080/slow": context deadline '
                               "exceeded (Client.Timeout exceeded while awaiting headers)")


@pytest.mark.root
def test_http_probe_to_a_closed_port_reports_the_refused_dial(node_ns):
    outcome = run_probe(_http("/ok", "liveness"), "127.0.0.1", node_ns, 0)
    assert outcome.message == ('Liveness probe failed: Get "http://127.0.0.1:8080/ok": '
                               "dial tcp 127.0.0.1:8080: connect: connection refused")


RAW_SERVER = textwrap.dedent("""
    import socket, sys
    listener = socket.create_server(("127.0.0.1", int(sys.argv[1])))
    while True:
        conn, _ = listener.accept()
        conn.recv(4096)
        conn.sendall(sys.argv[2].encode())
        conn.close()
""")


@pytest.mark.root
@pytest.mark.parametrize("banner, reason", [
    ("SSH-2.0-OpenSSH_9.2\r\n", 'net/http: HTTP/1.x transport connection broken: malformed HTTP response '
                                  '"SSH-2.0-OpenSSH_9.2"'),
    ("", "EOF"),
])
def test_http_probe_of_a_server_that_does_not_speak_http_fails_as_go_words_it(node_ns, banner, reason):
    proc = subprocess.Popen(["ip", "netns", "exec", node_ns, sys.executable, "-c", RAW_SERVER, "8080", banner],
                            start_new_session=True)
    try:
        deadline = time.monotonic() + 15
        while not _listening(node_ns, 8080):
            assert proc.poll() is None and time.monotonic() < deadline, "the raw server did not listen"
            time.sleep(0.05)
        outcome = run_probe(_http("/ok"), "127.0.0.1", node_ns, 0)
        assert outcome == ProbeOutcome(False, f'Readiness probe failed: Get "http://127.0.0.1:8080/ok": {reason}')
    finally:
        _kill(proc)


@pytest.mark.root
def test_https_probe_does_not_verify_the_certificate(node_ns, tmp_path):
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=pod",
                    "-days", "1", "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    proc = _serve(node_ns, 8443, str(cert), str(key))
    try:
        s = probe_spec("readiness", {"httpGet": {"path": "/ok", "port": 8443, "scheme": "HTTPS"}}, PORTS)
        assert run_probe(s, "127.0.0.1", node_ns, 0).success
    finally:
        _kill(proc)


@pytest.mark.root
def test_tcp_probe_succeeds_on_a_listening_port_and_fails_on_a_closed_one(server):
    ns, port = server
    tcp = probe_spec("liveness", {"tcpSocket": {"port": "http"}}, PORTS)
    assert run_probe(tcp, "127.0.0.1", ns, 0).success
    closed = probe_spec("liveness", {"tcpSocket": {"port": 8081}}, PORTS)
    outcome = run_probe(closed, "127.0.0.1", ns, 0)
    assert (outcome.success, outcome.message) == \
           (False, "Liveness probe failed: dial tcp 127.0.0.1:8081: connect: connection refused")


@pytest.mark.root
def test_tcp_probe_connects_from_the_node_namespace_not_the_hosts(server):
    ns, port = server
    with socket.socket() as host_side:      # the same port on the host's loopback has no listener
        host_side.settimeout(0.5)
        if host_side.connect_ex(("127.0.0.1", port)) == 0:
            pytest.skip(f"something listens on 127.0.0.1:{port} on the host")
    other = f"pt-{secrets.token_hex(4)}"
    subprocess.run(["ip", "netns", "add", other], check=True, capture_output=True)
    try:
        subprocess.run(["ip", "-n", other, "link", "set", "lo", "up"], check=True, capture_output=True)
        tcp = probe_spec("liveness", {"tcpSocket": {"port": port}}, PORTS)
        assert run_probe(tcp, "127.0.0.1", ns, 0).success
        assert not run_probe(tcp, "127.0.0.1", other, 0).success
    finally:
        subprocess.run(["ip", "netns", "del", other], capture_output=True)


@pytest.fixture
def target(node_ns):
    """PID of a `sleep` in its own PID and mount namespaces inside the node namespace."""
    proc = subprocess.Popen(["ip", "netns", "exec", node_ns, "unshare", "--fork", "--pid", "--mount-proc",
                             "sleep", "60"], start_new_session=True)
    try:
        deadline = time.monotonic() + 10
        while (pid := _sleep_below(proc.pid)) is None:
            assert time.monotonic() < deadline, "the target sleep did not start"
            time.sleep(0.02)
        yield pid
    finally:
        _kill(proc)


def _sleep_below(pid: int) -> int | None:
    """The `sleep` among PID's descendants, if it has exec'd yet."""
    try:
        children = open(f"/proc/{pid}/task/{pid}/children").read().split()
        comm = open(f"/proc/{pid}/comm").read().strip()
    except OSError:
        return None
    if comm == "sleep":
        return pid
    return next((found for child in children if (found := _sleep_below(int(child)))), None)


def _exec(*command: str, kind="liveness", **raw) -> ProbeSpec:
    return probe_spec(kind, {"exec": {"command": list(command)}, **raw}, PORTS)


@pytest.mark.root
def test_exec_probe_runs_in_the_containers_namespaces(target):
    checks = " && ".join(f'[ "$(readlink /proc/self/ns/{ns})" = "{os.readlink(f"/proc/{target}/ns/{ns}")}" ]'
                         for ns in ("net", "mnt", "uts", "pid"))
    assert os.readlink(f"/proc/{target}/ns/pid") != os.readlink("/proc/self/ns/pid")
    outcome = run_probe(_exec("sh", "-c", checks), "", "", target)
    assert (outcome.success, outcome.message) == (True, "")


@pytest.mark.root
def test_exec_probe_fails_on_a_nonzero_exit_with_the_commands_output(target):
    outcome = run_probe(_exec("sh", "-c", "echo cat: /tmp/healthy: No such file or directory >&2; exit 1"),
                        "", "", target)
    assert (outcome.success, outcome.message) == \
           (False, "Liveness probe failed: cat: /tmp/healthy: No such file or directory")


@pytest.mark.root
def test_exec_probe_that_outlives_its_timeout_fails_and_is_killed_with_its_children(target, tmp_path):
    pids = tmp_path / "pids"
    # The target's mount namespace only has its own /proc, so the file written inside shows here.
    command = f"sleep 30 & echo $! > {pids}; wait"
    outcome = run_probe(_exec("sh", "-c", command, kind="readiness", timeoutSeconds=1), "", "", target)
    assert (outcome.success, outcome.message) == \
           (False, f'Readiness probe failed: command "sh -c {command}" timed out')
    assert pids.read_text().strip(), "the command did not start"
    left = _others_in_pid_ns(target)
    assert left == [], f"probe processes left running: {left}"


def _others_in_pid_ns(target: int) -> list:
    """Host PIDs of live processes other than TARGET in its PID namespace, once they settle (5 s bound)."""
    pid_ns = os.readlink(f"/proc/{target}/ns/pid")
    deadline, found = time.monotonic() + 5, []
    while time.monotonic() < deadline:
        found = []
        for entry in os.listdir("/proc"):
            if not entry.isdigit() or int(entry) == target:
                continue
            try:
                same_ns = os.readlink(f"/proc/{entry}/ns/pid") == pid_ns
                state = open(f"/proc/{entry}/stat").read().rsplit(")", 1)[1].split()[0]
            except OSError:
                continue
            if same_ns and state != "Z":
                found.append(int(entry))
        if not found:
            break
        time.sleep(0.05)
    return found
