"""What a container of the CoreDNS image runs: Debian's unbound with the cluster's records, and
CoreDNS's health, readiness and metrics endpoints (Debian 12 has no CoreDNS).

    unbound -d -p -c /run/coredns/unbound.conf   answers on port 53 (UDP and TCP): the cluster's
                                                 zone from local data, NXDOMAIN at once for any
                                                 other name (a lab has no upstream resolver)
    :8080/health    200 while unbound runs (CoreDNS's health plugin, the liveness probe)
    :8181/ready     200 once the cluster's records are loaded (ready plugin, the readiness probe)
    :9153/metrics   unbound's counters (`unbound-control stats_noreset`) in Prometheus' format

The records are the file the DNS records controller writes for this pod (POD/dns/records,
bound read-only at /run/netlab-dns/records; netlab/cluster/dnsrecords.py makes it). This process
watches it and changes unbound's local data with unbound-control (`local_datas`,
`local_datas_remove`) as it changes: no restart per change. Inside the pod,
`unbound-control -c /run/coredns/unbound.conf list_local_data` shows what unbound serves.
When unbound ends, the container ends with its status, and the kubelet restarts it.
"""

from __future__ import annotations

import os
import signal
import socket
import socketserver
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from netlab.cluster import dnsrecords
from netlab.runtime.records import DNS_RECORDS_FILE

CONFIG = "/run/coredns/unbound.conf"
CONTROL_SOCKET = "/run/coredns/unbound.ctl"
RECORDS_MOUNT = "/run/netlab-dns"       # where the container sees the pod's DNS_RECORDS_DIR
HEALTH_PORT, READY_PORT, METRICS_PORT = 8080, 8181, 9153
WATCH_PERIOD = 0.05                     # how often the records file is looked at (seconds)


def unbound_config(domain: str = "cluster.local", ipv6: bool = False) -> str:
    """unbound.conf for a cluster DNS pod: every address of the pod on port 53 (its IPv6 ones too
    with IPV6, as CoreDNS listens on both), the cluster zone and everything else answered from
    local data (the records arrive through unbound-control), small caches, its log on stderr,
    control on a Unix socket."""
    family = ("    interface: ::\n    do-ip6: yes\n    access-control: ::/0 allow\n" if ipv6 else
              "    do-ip6: no\n")
    return f"""server:
    interface: 0.0.0.0
    port: 53
{family}    access-control: 0.0.0.0/0 allow
    username: ""
    chroot: ""
    directory: "/run/coredns"
    pidfile: ""
    use-syslog: no
    logfile: ""
    verbosity: 1
    num-threads: 1
    so-reuseport: no
    outgoing-range: 32
    num-queries-per-thread: 512
    msg-cache-size: 1m
    rrset-cache-size: 1m
    module-config: "iterator"
    extended-statistics: yes
    statistics-cumulative: yes
    # a lab has no upstream: a name outside the cluster is NXDOMAIN at once
    local-zone: "." static
    local-zone: "{domain.rstrip('.')}." static
remote-control:
    control-enable: yes
    control-interface: {CONTROL_SOCKET}
"""


def control(*args: str, lines: list[str] | None = None, timeout: float = 10.0) -> tuple[bool, str]:
    """Run unbound-control with ARGS (LINES on its stdin); (it succeeded, what it printed)."""
    text = "".join(line + "\n" for line in lines) if lines is not None else None
    try:
        done = subprocess.run(["unbound-control", "-c", CONFIG, *args], input=text, capture_output=True,
                              text=True, timeout=timeout)
    except (OSError, subprocess.SubprocessError) as err:
        return False, str(err)
    said = done.stdout + done.stderr
    return done.returncode == 0 and not said.startswith("error"), said


class Records:
    """The records unbound holds, and the file they should follow."""

    def __init__(self, path: str, log):
        self.path = path
        self.log = log
        self.loaded: list[str] = []
        self.seen: tuple | None = None      # (inode, mtime, size) of the file last loaded
        self.ready = False

    def follow(self) -> None:
        """Load the file if it changed since the last load (nothing happens if unbound refuses:
        the next look tries again)."""
        try:
            info = os.stat(self.path)
        except FileNotFoundError:
            return
        stamp = (info.st_ino, info.st_mtime_ns, info.st_size)
        if stamp == self.seen:
            return
        try:
            with open(self.path) as handle:
                wanted = [line for line in handle.read().splitlines() if line.strip()]
        except OSError:
            return
        remove, add = dnsrecords.changes(self.loaded, wanted)
        if remove:
            ok, said = control("local_datas_remove", lines=remove)
            if not ok:
                self.log(f"unbound-control local_datas_remove: {said.strip()}")
                return
        if add:
            ok, said = control("local_datas", lines=add)
            if not ok:
                self.log(f"unbound-control local_datas: {said.strip()}")
                self.loaded = [line for line in self.loaded
                               if line.split(" ", 1)[0] not in set(remove)]
                return
        if not self.ready:
            self.log(f"loaded {len(wanted)} records of the cluster")
        self.loaded, self.seen, self.ready = wanted, stamp, True


def metrics_text(stats: str) -> str:
    """unbound's `name.part=value` counters as Prometheus samples: unbound_name_part value."""
    lines = []
    for line in stats.splitlines():
        key, sep, value = line.partition("=")
        if not sep:
            continue
        name = "unbound_" + "".join(ch if ch.isalnum() else "_" for ch in key)
        lines.append(f"{name} {value}")
    return "".join(line + "\n" for line in lines)


def _http_servers(records: Records, unbound: list) -> list:
    """The three HTTP endpoints, each a ThreadingHTTPServer bound now (served from threads)."""

    def alive() -> bool:
        return bool(unbound) and unbound[0].poll() is None

    def answer(path: str) -> tuple[int, str]:
        if path == "/health":
            return (200, "OK") if alive() else (503, "unbound is not running")
        if path == "/ready":
            return (200, "OK") if alive() and records.ready else (503, "records not loaded yet")
        if path == "/metrics":
            ok, said = control("stats_noreset", timeout=5.0)
            return (200, metrics_text(said)) if ok else (503, said)
        return 404, "404 page not found"

    def handler_for(allowed: str):
        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                path = self.path.split("?", 1)[0]
                status, body = answer(path) if path == allowed else (404, "404 page not found")
                data = (body if body.endswith("\n") else body + "\n").encode()
                self.send_response(status)
                self.send_header("Content-Type", "text/plain; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *_):         # probes every 10 s would fill the log
                pass
        return Handler

    class Server(ThreadingHTTPServer):
        daemon_threads = True

        def server_bind(self):
            # HTTPServer's own asks the resolver for 0.0.0.0's name (getfqdn): this pod has none
            if self.address_family == socket.AF_INET6:
                self.socket.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
            socketserver.TCPServer.server_bind(self)
            self.server_name, self.server_port = "coredns", self.server_address[1]

    class Server6(Server):
        address_family = socket.AF_INET6      # both families, as CoreDNS's ":8080"

    ipv6 = _has_ipv6_address()
    servers = []
    for port, path in ((HEALTH_PORT, "/health"), (READY_PORT, "/ready"), (METRICS_PORT, "/metrics")):
        server = Server6(("::", port), handler_for(path)) if ipv6 else Server(("0.0.0.0", port), handler_for(path))
        servers.append(server)
    return servers


def _has_ipv6_address() -> bool:
    """Whether this network namespace has a global IPv6 address (a pod of a lab with IPv6)."""
    try:
        with open("/proc/net/if_inet6") as handle:
            return any(line.split()[3] == "00" for line in handle if len(line.split()) > 3)
    except OSError:
        return False


def serve(log, ready) -> int:
    """Run unbound and the endpoints until unbound ends (its exit status) or SIGTERM (0). READY
    is called once its HTTP ports are bound (the pod's start waits for no more: unbound, started
    next, is waited for by the readiness probe)."""
    stopping = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stopping.set())
    os.makedirs(os.path.dirname(CONFIG), exist_ok=True)
    with open(CONFIG, "w") as handle:
        # the pod's IPv6 addresses, on a lab with IPv6 (a kernel without IPv6 has no such file)
        handle.write(unbound_config(ipv6=_has_ipv6_address()))
    records = Records(os.path.join(RECORDS_MOUNT, DNS_RECORDS_FILE), log)
    unbound: list = []
    servers = _http_servers(records, unbound)
    ready()
    for server in servers:
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.5}, daemon=True).start()
    try:
        unbound.append(subprocess.Popen(["unbound", "-d", "-p", "-c", CONFIG], stdin=subprocess.DEVNULL))
    except FileNotFoundError:
        log("unbound is not installed on this machine (Debian's unbound package): run scripts/setup.sh")
        return 127
    log(f"unbound started (pid {unbound[0].pid}); health :{HEALTH_PORT}, ready :{READY_PORT}, "
        f"metrics :{METRICS_PORT}")
    while not stopping.is_set():
        code = unbound[0].poll()
        if code is not None:
            log(f"unbound exited with {'signal ' + str(-code) if code < 0 else 'code ' + str(code)}")
            return 128 - code if code < 0 else code
        if os.path.exists(CONTROL_SOCKET):
            records.follow()
        stopping.wait(WATCH_PERIOD)
    unbound[0].terminate()
    try:
        unbound[0].wait(5.0)
    except subprocess.TimeoutExpired:
        unbound[0].kill()
    return 0
