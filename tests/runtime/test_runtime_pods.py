"""Root tests: real pods (a pause and container processes under the pod runtime) in throwaway network namespaces."""

from __future__ import annotations

import os
import pathlib
import secrets
import select
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from netlab.runtime import (
    ContainerSpec,
    PodRuntimeSpec,
    parse_builtin_reply,
    pids_in_netns,
    pod_status,
    read_logs,
    start_pod,
    stop_pod,
)

pytestmark = pytest.mark.root


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, text=True)


def _in_ns(ns: str, *cmd: str, timeout: float = 20) -> subprocess.CompletedProcess:
    return subprocess.run(["ip", "netns", "exec", ns, *cmd], capture_output=True, text=True, timeout=timeout)


def _curl(ns: str, url: str) -> str:
    r = _in_ns(ns, "curl", "-sS", "--max-time", "3", url)
    assert r.returncode == 0, r.stderr
    return r.stdout


def _wait(what: str, check, timeout: float = 5.0):
    deadline = time.monotonic() + timeout
    while True:
        got = check()
        if got:
            return got
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def _kill_all(ns: str) -> None:
    for _ in range(50):
        pids = pids_in_netns(ns)
        if not pids:
            return
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        time.sleep(0.05)


class Lab:
    """Throwaway namespaces and pods, all removed at the end whatever happened."""

    def __init__(self, tmp: pathlib.Path):
        self.tmp = tmp
        self.tag = secrets.token_hex(3)
        self.namespaces: list[str] = []
        self.state_dirs: list[pathlib.Path] = []

    def netns(self, suffix: str) -> str:
        name = f"nltest-rt-{self.tag}-{suffix}"
        _ip("netns", "add", name)
        self.namespaces.append(name)
        _ip("-n", name, "link", "set", "lo", "up")
        return name

    def pair(self) -> tuple[str, str, str, str]:
        """A pod namespace and a client namespace joined by a veth pair: (pod, pod_ip, client, client_ip)."""
        pod, client = self.netns("pod"), self.netns("cli")
        # Both ends are created inside the test namespaces: the root namespace never sees them.
        _ip("-n", pod, "link", "add", "eth0", "type", "veth", "peer", "name", "eth0", "netns", client)
        _ip("-n", pod, "addr", "add", "10.250.7.2/24", "dev", "eth0")
        _ip("-n", client, "addr", "add", "10.250.7.9/24", "dev", "eth0")
        _ip("-n", pod, "link", "set", "eth0", "up")
        _ip("-n", client, "link", "set", "eth0", "up")
        return pod, "10.250.7.2", client, "10.250.7.9"

    def spec(self, ns: str, containers: list[ContainerSpec], name: str = "web-1", pod_ip: str = "10.250.7.2") -> PodRuntimeSpec:
        state = self.tmp / f"{name}-{len(self.state_dirs)}"
        self.state_dirs.append(state)
        return PodRuntimeSpec(
            lab="nltest", namespace="default", name=name, node="node1", pod_ip=pod_ip, host_ip="10.250.0.1",
            netns=ns, state_dir=state, containers=containers,
        )

    def start(self, ns: str, containers: list[ContainerSpec], **kw) -> tuple[int, pathlib.Path]:
        spec = self.spec(ns, containers, **kw)
        return start_pod(spec), spec.state_dir

    def cleanup(self) -> None:
        for state in self.state_dirs:
            try:
                stop_pod(state, grace=0.5)
            except Exception:
                pass
        for ns in self.namespaces:
            _kill_all(ns)
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)


@pytest.fixture
def lab(tmp_path):
    lab = Lab(tmp_path)
    try:
        yield lab
    finally:
        lab.cleanup()


def _status(state, name):
    return next(c for c in pod_status(state).containers if c.name == name)


def _terminated(state, name):
    return _wait(f"{name} to terminate", lambda: (c := _status(state, name)).state == "terminated" and c)


def _web(name="web", ports=((80, "TCP"),), **kw):
    return ContainerSpec(name=name, image="nginx", ports=list(ports), **kw)


def _run(name, command, **kw):
    return ContainerSpec(name=name, image="busybox", command=command, **kw)


def test_two_containers_share_localhost(lab):
    ns = lab.netns("pod")
    owner, state = lab.start(ns, [_web(), _run("helper", ["tail", "-f", "/dev/null"])])
    helper = _status(state, "helper")
    assert helper.state == "running" and helper.mode == "exec"
    # "running" is recorded as the process execs (as runc's start returns): its argv shows once
    # the kernel has loaded the program
    _wait("the helper's exec", lambda: pathlib.Path(f"/proc/{helper.pid}/cmdline").read_bytes()
          == b"tail\0-f\0/dev/null\0")
    assert {owner, helper.pid, _status(state, "web").pid} <= set(pids_in_netns(ns))
    # From inside the helper container's own namespaces, as `kubectl exec helper -- curl localhost`.
    r = subprocess.run(
        ["nsenter", "-t", str(helper.pid), "-n", "-m", "-u", "-p", "--", "curl", "-sS", "--max-time", "3", "localhost"],
        capture_output=True, text=True, timeout=10,
    )
    assert r.returncode == 0, r.stderr
    reply = parse_builtin_reply(r.stdout)
    assert reply["pod"] == "web-1" and reply["namespace"] == "default" and reply["container"] == "web"
    assert reply["pod_ip"] == "10.250.7.2" and reply["node"] == "node1"
    assert reply["client"].rsplit(":", 1)[0] in ("127.0.0.1", "[::1]")
    assert parse_builtin_reply(_curl(ns, "http://127.0.0.1:80/"))["container"] == "web"


def test_builtin_server_reports_the_client_it_saw(lab):
    pod, pod_ip, client, client_ip = lab.pair()
    _, state = lab.start(pod, [_web(ports=[(8080, "TCP")]), _run("ls", ["sh", "-c", "ls /sys/class/net; sleep 300"])])
    reply = parse_builtin_reply(_curl(client, f"http://{pod_ip}:8080/hello"))
    assert reply["client"].rsplit(":", 1)[0] == client_ip
    assert reply["server"] == f"{pod_ip}:8080"
    assert reply["request"] == "GET /hello HTTP/1.1" and reply["host"] == f"{pod_ip}:8080"
    assert f'TCP {reply["client"]} "GET /hello HTTP/1.1" 200' in read_logs(state, "web")
    # /sys was remounted in the container's netns: it lists the pod's own devices.
    assert _wait("ls output", lambda: read_logs(state, "ls")).split() == ["eth0", "lo"]


def test_python2_simple_http_server_serves(lab):
    ns = lab.netns("pod")
    _, state = lab.start(ns, [ContainerSpec(name="py", image="python:2.7", command=["python", "-m", "SimpleHTTPServer", "8080"], ports=[(8080, "TCP")])])
    st = _status(state, "py")
    assert st.mode == "exec" and st.argv == ["python3", "-m", "http.server", "8080"]

    def answer():
        r = _in_ns(ns, "curl", "-sS", "--max-time", "3", "-o", "/dev/null", "-w", "%{http_code}", "http://127.0.0.1:8080/")
        return r.stdout == "200"

    _wait("http.server to answer", answer)


def test_env_and_downward_api_values_reach_the_process(lab):
    ns = lab.netns("pod")
    env = {"MY_POD_IP": "10.250.7.2", "MY_POD_NAME": "web-1", "MY_NODE_NAME": "node1", "GREETING": "hello world"}
    _, state = lab.start(ns, [_run("env", ["sh", "-c", 'echo "ip=$MY_POD_IP node=$MY_NODE_NAME host=$HOSTNAME"; echo "$(GREETING) $(MY_POD_NAME)"'], env=env)])
    st = _terminated(state, "env")
    assert (st.exit_code, st.reason) == (0, "Completed")
    assert read_logs(state, "env") == "ip=10.250.7.2 node=node1 host=web-1\nhello world web-1\n"


def test_exiting_container_is_reported_with_its_code_and_output(lab):
    ns = lab.netns("pod")
    _, state = lab.start(ns, [_run("fail", ["sh", "-c", "echo to-stdout; echo to-stderr >&2; exit 3"]), _run("stay", ["sleep", "300"])])
    st = _terminated(state, "fail")
    assert (st.exit_code, st.reason, st.signal) == (3, "Error", None)
    assert st.started_at <= st.finished_at
    assert read_logs(state, "fail") == "to-stdout\nto-stderr\n"
    status = pod_status(state)
    assert status.owner_alive and _status(state, "stay").state == "running" and status.phase == "Running"


def test_a_command_the_container_does_not_have_exits_127_and_says_so(lab, tmp_path):
    ns = lab.netns("pod")
    # Executable on the host, but under /tmp, which the container sees as its own empty tmpfs.
    script = tmp_path / "entrypoint"
    script.write_text("#!/bin/sh\necho hi\n")
    script.chmod(0o755)
    _, state = lab.start(ns, [_run("bad", [str(script)]), _run("gone", ["no-such-command-nltest", "--flag"])])
    st = _terminated(state, "bad")
    assert (st.reason, st.exit_code) == ("Error", 127)
    assert "no such file or directory" in st.message and "no such file or directory" in read_logs(state, "bad")
    gone = _terminated(state, "gone")
    assert (gone.reason, gone.exit_code) == ("Error", 127)
    assert read_logs(state, "gone") == 'netlab: exec: "no-such-command-nltest": executable file not found in $PATH\n'


def test_each_pod_has_one_pause_process_and_titled_processes(lab):
    ns = lab.netns("pod")
    _, state = lab.start(ns, [_web(), _run("side", ["sleep", "300"])], name="titled")
    titles = sorted(pathlib.Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
                    for pid in pids_in_netns(f"/run/netns/{ns}"))
    # catatonit in pause mode, the exec'd container under its init, the built-in server as what the
    # image would run: no interpreter of netlab's own per pod
    assert titles == ["netlab-init default/titled/side", "nginx: master process nginx -g daemon off;", "pause -P",
                      "sleep 300"]
    pause = next(pid for pid in pids_in_netns(f"/run/netns/{ns}")
                 if pathlib.Path(f"/proc/{pid}/cmdline").read_bytes().startswith(b"pause\0"))
    assert b"NETLAB_POD=default/titled" in pathlib.Path(f"/proc/{pause}/environ").read_bytes()
    # PID 1 of the sandbox's own PID namespace, as a runtime's pause is
    nspid = next(line for line in pathlib.Path(f"/proc/{pause}/status").read_text().splitlines()
                 if line.startswith("NSpid:"))
    assert nspid.split()[-1] == "1"
    stop_pod(state, grace=1)
    assert pids_in_netns(f"/run/netns/{ns}") == []


def test_busybox_applets_serve_http_and_tcp(lab):
    pod, ip, client, _ = lab.pair()
    _, state = lab.start(pod, [
        _run("httpd", ["sh", "-c", "echo from-busybox > /tmp/index.html; exec httpd -f -p 8080 -h /tmp"]),
        _run("nc", ["sh", "-c", "echo from-nc | nc -l -p 9090"])])
    assert _wait("busybox httpd", lambda: _in_ns(client, "curl", "-s", "-m", "2", f"http://{ip}:8080/").stdout) \
        == "from-busybox\n"
    read = "import socket; s = socket.create_connection(('%s', 9090), 3); print(s.recv(100).decode(), end='')" % ip
    assert _wait("busybox nc", lambda: _in_ns(client, "python3", "-c", read).stdout) == "from-nc\n"
    link = os.readlink(f"/proc/{_status(state, 'httpd').pid}/exe")
    assert link == "/usr/bin/busybox"                               # Debian's busybox, a real one


def test_an_nginx_image_serves_its_document_root(lab):
    pod, ip, client, _ = lab.pair()
    html = ("html", "/usr/share/nginx/html", False, "")
    _, state = lab.start(pod, [
        ContainerSpec(name="web", image="nginx:1.27", ports=[(80, "TCP")], mounts=[html]),
        _run("writer", ["sh", "-c", "echo '<h1>hi</h1>' > /usr/share/nginx/html/index.html; sleep 300"], mounts=[html])])
    got = _wait("index.html", lambda: "hi" in (r := _in_ns(client, "curl", "-s", "-i", f"http://{ip}/")).stdout and r)
    assert "Content-Type: text/html" in got.stdout and got.stdout.endswith("<h1>hi</h1>\n")
    missing = _in_ns(client, "curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", f"http://{ip}/nope.txt").stdout
    assert missing == "404"
    assert _status(state, "web").mode == "builtin"


def test_run_as_user_is_honoured(lab):
    ns = lab.netns("pod")
    _, state = lab.start(ns, [_run("sleeper", ["sleep", "300"], run_as_user=1234), _web(run_as_user=1234)])
    pid = _status(state, "sleeper").pid
    fields = dict(line.split(":", 1) for line in pathlib.Path(f"/proc/{pid}/status").read_text().splitlines())
    assert fields["Uid"].split() == ["1234"] * 4
    assert fields["Gid"].split() == ["0"] * 4
    assert fields["Groups"].strip() == ""
    # The built-in server binds port 80 as uid 1234: ip_unprivileged_port_start=0 in the pod netns.
    assert _status(state, "web").state == "running"
    assert parse_builtin_reply(_curl(ns, "http://127.0.0.1/"))["container"] == "web"
    with open(f"/proc/{_status(state, 'web').pid}/status") as f:
        assert "Uid:\t1234\t" in f.read()


def test_private_tmp_own_hostname_and_pid_namespace(lab):
    ns = lab.netns("pod")
    marker = f"nltest-rt-marker-{secrets.token_hex(4)}"
    script = f"hostname; stat -f -c %T /tmp; touch /tmp/{marker}; ls /tmp; cat /proc/1/comm; pwd; sleep 300"
    _, state = lab.start(ns, [_run("probe", ["sh", "-c", script])], name="probe-pod")
    out = _wait("probe output", lambda: len(read_logs(state, "probe").split()) >= 5 and read_logs(state, "probe"))
    assert out.split() == ["probe-pod", "tmpfs", marker, "netlab-init", "/"]
    assert not os.path.exists(f"/tmp/{marker}")
    assert os.uname().nodename != "probe-pod"


def test_working_dir(lab):
    ns = lab.netns("pod")
    _, state = lab.start(
        ns,
        [
            _run("usr", ["pwd"], working_dir="/usr"),
            _run("tmpapp", ["pwd"], working_dir="/tmp/app", run_as_user=1000),
            _run("missing", ["pwd"], working_dir="/nonexistent-nltest/app"),
        ],
    )
    # a missing workingDir is made, in the container's own filesystem
    for name, want in (("usr", "/usr"), ("tmpapp", "/tmp/app"), ("missing", "/nonexistent-nltest/app")):
        assert _terminated(state, name).exit_code == 0
        assert read_logs(state, name) == want + "\n"
    assert not os.path.exists("/nonexistent-nltest")


def test_udp_echo(lab):
    pod, pod_ip, client, client_ip = lab.pair()
    _, state = lab.start(pod, [_web(ports=[(80, "TCP"), (5353, "UDP"), (9999, "SCTP")])])
    code = textwrap.dedent(
        f"""
        import socket
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.settimeout(3)
        s.bind(("{client_ip}", 40053))
        s.sendto(b"ping\\nline two", ("{pod_ip}", 5353))
        print(s.recv(65535).decode(), end="")
        """
    )
    r = _in_ns(client, sys.executable, "-c", code)
    assert r.returncode == 0, r.stderr
    reply = parse_builtin_reply(r.stdout)
    assert reply["protocol"] == "UDP" and reply["port"] == "5353" and reply["pod"] == "web-1"
    assert reply["client"] == f"{client_ip}:40053"
    assert reply["payload"] == "ping\nline two"
    assert "SCTP port 9999: not served" in read_logs(state, "web")


def test_builtin_server_handles_many_and_concurrent_connections(lab):
    ns = lab.netns("pod")
    lab.start(ns, [_web(ports=[(80, "TCP")])])
    code = textwrap.dedent(
        """
        import socket, threading, time
        def get():
            s = socket.create_connection(("127.0.0.1", 80), timeout=5)
            s.sendall(b"GET / HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n")
            data = b""
            while chunk := s.recv(65536):
                data += chunk
            s.close()
            assert data.startswith(b"HTTP/1.1 200 OK") and b"container: web" in data, data
        t = time.monotonic()
        for _ in range(1000):
            get()
        sequential = time.monotonic() - t
        errors = []
        def worker():
            try:
                for _ in range(50):
                    get()
            except Exception as e:
                errors.append(e)
        threads = [threading.Thread(target=worker) for _ in range(20)]
        t = time.monotonic()
        [th.start() for th in threads]
        [th.join() for th in threads]
        print(f"{sequential:.3f} {time.monotonic() - t:.3f} {len(errors)}")
        """
    )
    r = _in_ns(ns, sys.executable, "-c", code, timeout=60)
    assert r.returncode == 0, r.stderr
    sequential, concurrent, errors = r.stdout.split()
    assert errors == "0"
    assert float(sequential) < 5.0, f"1000 sequential requests took {sequential}s"


def test_stop_pod_leaves_nothing_and_is_idempotent(lab):
    ns = lab.netns("pod")
    spec = lab.spec(
        ns,
        [
            _web(),
            _run("tail", ["tail", "-f", "/dev/null"]),
            # A shell that ignores SIGTERM and leaves a background child: only SIGKILL ends it.
            _run("stubborn", ["sh", "-c", "trap '' TERM; sleep 300 & echo ready; wait"]),
            ContainerSpec(name="idle", image="busybox"),
        ],
    )
    owner, state = start_pod(spec), spec.state_dir
    _wait("the trap to be set", lambda: read_logs(state, "stubborn") == "ready\n")
    assert len(pids_in_netns(ns)) >= 8
    assert start_pod(spec) == owner  # already running: left alone
    t = time.monotonic()
    stop_pod(state, grace=0.5)
    assert time.monotonic() - t < 3
    assert pids_in_netns(ns) == []
    status = pod_status(state)
    assert not status.owner_alive
    by_name = {c.name: c for c in status.containers}
    assert (by_name["web"].exit_code, by_name["web"].reason) == (0, "Completed")
    assert (by_name["idle"].exit_code, by_name["idle"].mode) == (0, "sleep")
    assert (by_name["tail"].exit_code, by_name["tail"].signal) == (143, 15)
    assert by_name["stubborn"].exit_code == 137
    stop_pod(state)  # again: nothing to do
    stop_pod(lab.tmp / "never-started")
    assert pids_in_netns(ns) == []
    # The same state directory starts afresh: new owner, new logs.
    again = start_pod(spec)
    assert again != owner and pod_status(state).owner_alive
    assert [c.state for c in pod_status(state).containers] == ["running"] * 4
    _wait("the trap to be set", lambda: read_logs(state, "stubborn") == "ready\n")
    assert read_logs(state, "web").count("serving HTTP on TCP port 80") == 1
    stop_pod(state, grace=0.2)
    assert pids_in_netns(ns) == []


def _starter(ns: str, state_dir: pathlib.Path) -> int:
    """Start the pod from another Python process that then exits; the pause's pid."""
    starter = textwrap.dedent(
        f"""
        import pathlib
        from netlab.runtime import ContainerSpec, PodRuntimeSpec, start_pod
        spec = PodRuntimeSpec(lab="nltest", namespace="default", name="web-1", node="node1", pod_ip="10.250.7.2",
            host_ip="10.250.0.1", netns={ns!r}, state_dir=pathlib.Path({str(state_dir)!r}), containers=[
            ContainerSpec(name="web", image="nginx", ports=[(80, "TCP")]),
            ContainerSpec(name="tail", image="busybox", command=["tail", "-f", "/dev/null"])])
        print(start_pod(spec))
        """
    )
    r = subprocess.run([sys.executable, "-c", starter], capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    return int(r.stdout)


def _parent(pid: int) -> int:
    return int(pathlib.Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])


def test_a_pod_outlives_its_starter_and_ends_with_its_pause(lab):
    ns = lab.netns("pod")
    spec = lab.spec(ns, [_web(), _run("tail", ["tail", "-f", "/dev/null"])])
    pause = _starter(ns, spec.state_dir)
    status = pod_status(spec.state_dir)
    assert status.owner_pid == pause and status.owner_alive
    assert pathlib.Path(f"/proc/{pause}/cmdline").read_bytes() == b"pause\0-P\0"
    assert [c.state for c in status.containers] == ["running", "running"]
    assert parse_builtin_reply(_curl(ns, "http://127.0.0.1/"))["pod"] == "web-1"
    # SIGKILL the pause: the sandbox is gone, and the runtime takes the containers down with it
    # and records how they ended, as kubelet then reports them.
    os.kill(pause, signal.SIGKILL)
    _wait("the pod's processes to die", lambda: pids_in_netns(ns) == [])
    status = _wait("every container to be reported gone", lambda: (
        (st := pod_status(spec.state_dir)) and all(c.state == "terminated" for c in st.containers) and st))
    assert not status.owner_alive
    assert {(c.exit_code, c.reason) for c in status.containers} == {(137, "Error")}
    assert "the pause process ended" in (spec.state_dir / "runtime.log").read_text()
    stop_pod(spec.state_dir)


def test_killing_the_runtime_takes_its_pods_with_it_and_the_next_start_brings_a_new_one(lab):
    ns = lab.netns("pod")
    spec = lab.spec(ns, [_web(), _run("tail", ["tail", "-f", "/dev/null"])])
    pause = _starter(ns, spec.state_dir)
    runtime = _parent(pause)
    assert pathlib.Path(f"/proc/{runtime}/cmdline").read_bytes().startswith(b"netlab-runtime ")
    os.kill(runtime, signal.SIGKILL)
    # PR_SET_PDEATHSIG: nothing of the pod outlives its runtime, and nobody is left to record the ends
    _wait("the pod's processes to die", lambda: pids_in_netns(ns) == [])
    status = _wait("every container to be reported gone", lambda: (
        (st := pod_status(spec.state_dir)) and all(c.state == "terminated" for c in st.containers) and st))
    assert not status.owner_alive
    assert {c.reason for c in status.containers} == {"ContainerStatusUnknown"}
    again = start_pod(spec)
    assert _parent(again) != runtime and pod_status(spec.state_dir).owner_alive
    assert parse_builtin_reply(_curl(ns, "http://127.0.0.1/"))["pod"] == "web-1"
    stop_pod(spec.state_dir, grace=1)
    assert pids_in_netns(ns) == []


def test_without_setpriv_the_pause_is_forked_and_still_dies_with_its_runtime(lab, monkeypatch):
    from netlab.runtime import daemon

    monkeypatch.setenv(daemon.FORK_PAUSE, "1")   # this test's own runtime starts with it
    ns = lab.netns("pod")
    spec = lab.spec(ns, [_web()])
    pause = _starter(ns, spec.state_dir)
    assert pathlib.Path(f"/proc/{pause}/cmdline").read_bytes() == b"/pause\0-P\0"      # catatonit, forked
    nspid = next(line for line in pathlib.Path(f"/proc/{pause}/status").read_text().splitlines()
                 if line.startswith("NSpid:"))
    assert nspid.split()[-1] == "1"
    runtime = _parent(pause)
    assert pathlib.Path(f"/proc/{runtime}/cmdline").read_bytes().startswith(b"netlab-runtime ")
    os.kill(runtime, signal.SIGKILL)
    _wait("the pod's processes to die", lambda: pids_in_netns(ns) == [])


def test_start_pod_names_a_missing_netns(lab):
    spec = lab.spec("nltest-rt-does-not-exist", [_web()])
    with pytest.raises(FileNotFoundError, match="nltest-rt-does-not-exist"):
        start_pod(spec)


def test_without_a_pid_namespace_the_init_still_cleans_up(lab, monkeypatch):
    """Where unshare(CLONE_NEWPID) is refused, containers share the runtime's PID namespace."""
    from netlab.runtime import daemon

    monkeypatch.setenv(daemon.NO_PID_NAMESPACES, "1")   # this test's own runtime starts with it
    ns = lab.netns("pod")
    _, state = lab.start(ns, [_web(), _run("bg", ["sh", "-c", "sleep 300 & wait"])])
    assert parse_builtin_reply(_curl(ns, "http://127.0.0.1/"))["container"] == "web"
    bg = _status(state, "bg")
    assert bg.state == "running"
    assert pathlib.Path(f"/proc/{bg.pid}/comm").read_text() == "sh\n"  # a host pid, no namespace of its own
    assert "no PID namespace" in (state / "runtime.log").read_text()
    stop_pod(state, grace=1)
    assert pids_in_netns(ns) == []  # the orphaned `sleep` went with its process group


def test_each_log_line_has_the_time_it_was_written(lab):
    from netlab.runtime import read_timed_logs
    from netlab.runtime.logtimes import select_lines
    ns = lab.netns("pod")
    before = time.time_ns()
    # the built-in server is the container's PID 1 and stamps its own lines; the shell's output
    # goes through its init's relay
    _, state = lab.start(ns, [_web(), _run("talk", ["sh", "-c", "echo first; sleep 0.3; echo second >&2"])])
    _terminated(state, "talk")
    after = time.time_ns()
    first, second = read_timed_logs(state, "talk")
    assert (first.text, second.text) == ("first\n", "second\n")
    assert before <= first.time_ns and first.time_ns + 300_000_000 <= second.time_ns <= after
    assert select_lines([first, second], since_ns=first.time_ns + 1) == "second\n"
    served = read_timed_logs(state, "web")
    assert served and all(before <= line.time_ns <= after for line in served)


def test_read_logs_names_the_known_containers(lab):
    ns = lab.netns("pod")
    _, state = lab.start(ns, [_web()])
    with pytest.raises(LookupError, match=r"'nope' is not in pod default/web-1 \(web\)"):
        read_logs(state, "nope")


def test_the_pods_of_a_folder_share_one_runtime_that_goes_with_the_last_of_them(lab):
    from netlab.runtime import start_pods
    # an exec'd container among them: the start-up pipe must not stay open in it
    specs = [lab.spec(lab.netns(f"b{i}"), [_web(), _run("side", ["sleep", "300"])], name=f"batch-{i}")
             for i in range(3)]
    pauses = start_pods(specs)
    runtimes = {_parent(pause) for pause in pauses}
    assert len(runtimes) == 1
    runtime = runtimes.pop()
    assert runtime != os.getpid()
    assert pathlib.Path(f"/proc/{runtime}/cmdline").read_bytes().startswith(f"netlab-runtime {lab.tmp}".encode())
    # in a mount namespace of its own, without the namespaces' pins, so containers copy a table
    # that does not grow with the lab
    assert os.readlink(f"/proc/{runtime}/ns/mnt") != os.readlink("/proc/self/ns/mnt")
    assert "/run/netns" not in pathlib.Path(f"/proc/{runtime}/mountinfo").read_text()
    for spec in specs:
        assert pod_status(spec.state_dir).owner_alive and _status(spec.state_dir, "web").state == "running"
        assert parse_builtin_reply(_curl(spec.netns, "http://127.0.0.1/"))["pod"] == spec.name
    runtime_fd = os.pidfd_open(runtime)
    try:
        for spec in specs:
            stop_pod(spec.state_dir, grace=1)
            assert pids_in_netns(f"/run/netns/{spec.netns}") == []
        assert select.select([runtime_fd], [], [], 5)[0], "the runtime is still there without pods"
    finally:
        os.close(runtime_fd)


def _children(pid: int) -> list[int]:
    return [int(p) for p in pathlib.Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


def test_container_inits_come_from_the_forker_yet_are_the_runtimes_children(lab):
    ns = lab.netns("pod")
    pause, state = lab.start(ns, [_web(), _run("tail", ["tail", "-f", "/dev/null"])])
    runtime = _parent(pause)
    forkers = [p for p in _children(runtime) if pathlib.Path(f"/proc/{p}/comm").read_text() == "netlab-forker\n"]
    assert len(forkers) == 1
    for name in ("web", "tail"):
        init = _status(state, name).pid if name == "web" else _parent(_status(state, name).pid)
        assert _parent(init) == runtime           # reaped by the runtime (CLONE_PARENT)...
        assert init not in _children(forkers[0])  # ...though the forker forked it
    # the runtime records a container's end as before: its init is the runtime's child
    os.kill(_status(state, "web").pid, signal.SIGKILL)
    assert _wait("web to be reported ended", lambda: _status(state, "web").state == "terminated")


def test_a_killed_forker_is_replaced_at_the_next_container_start(lab):
    from netlab.runtime import restart_container
    ns = lab.netns("pod")
    pause, state = lab.start(ns, [_web(), _run("once", ["true"])])
    runtime = _parent(pause)

    def forker() -> int | None:
        return next((p for p in _children(runtime)
                     if pathlib.Path(f"/proc/{p}/comm").read_text() == "netlab-forker\n"), None)
    first = forker()
    os.kill(first, signal.SIGKILL)
    _wait("the forker to be reaped", lambda: forker() is None)
    ended = _wait("once to end", lambda: (st := _status(state, "once")).state == "terminated" and st)
    assert restart_container(state, "once")        # a new forker forks the new run
    _wait("once to run again and end", lambda: (st := _status(state, "once")).state == "terminated"
          and st.started_at != ended.started_at)
    assert forker() not in (None, first)
    assert parse_builtin_reply(_curl(ns, "http://127.0.0.1/"))["container"] == "web"


def test_a_pod_starter_hands_over_more_pods_than_its_window_and_waits_for_all(lab):
    from netlab.runtime import PodStarter
    from netlab.runtime.daemon import Client
    count = Client.WINDOW + 4         # past the window: the starter reads answers as it goes
    specs = [lab.spec(lab.netns(f"w{i}"), [_web()], name=f"wide-{i}", pod_ip=f"10.250.7.{i + 2}")
             for i in range(count)]
    starter = PodStarter()
    for spec in specs:
        starter.launch(spec)
    pauses = starter.finish()
    assert len(set(pauses)) == count and all(pod_status(s.state_dir).owner_alive for s in specs)
    for spec in specs:
        assert parse_builtin_reply(_curl(spec.netns, "http://127.0.0.1/"))["pod"] == spec.name
