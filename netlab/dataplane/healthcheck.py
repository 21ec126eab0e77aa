"""kube-proxy's service health server, one per node namespace (pkg/proxy/healthcheck/service_health.go).

For every LoadBalancer Service with externalTrafficPolicy Local, kube-proxy answers HTTP on the
Service's healthCheckNodePort on each node: 200 when the node has ready local endpoints, else 503,
with a small JSON body; cloud load balancers (and this lab's client routes) send traffic only to
nodes that answer 200. Any path gets the same answer.

The server is a process in the node's namespace that re-reads its table (a JSON file written by
netlab.proxier) when the file changes, opening and closing listening ports to match.
"""

from __future__ import annotations

import json
import os
import selectors
import signal
import socket
import sys
import time
from email.utils import formatdate
from pathlib import Path

from netlab.dataplane import netns

POLL_SECONDS = 0.2


def body(namespace: str, name: str, local_endpoints: int, healthy: bool = True) -> str:
    """The JSON body, byte for byte: tab-indented, no trailing newline."""
    return ("{\n"
            "\t\"service\": {\n"
            f"\t\t\"namespace\": \"{namespace}\",\n"
            f"\t\t\"name\": \"{name}\"\n"
            "\t},\n"
            f"\t\"localEndpoints\": {local_endpoints},\n"
            f"\t\"serviceProxyHealthy\": {'true' if healthy else 'false'}\n"
            "}")


def response(namespace: str, name: str, local_endpoints: int) -> bytes:
    """The whole HTTP response kube-proxy's Go server sends for one Service."""
    text = body(namespace, name, local_endpoints)
    status = "200 OK" if local_endpoints > 0 else "503 Service Unavailable"
    head = (f"HTTP/1.1 {status}\r\n"
            "Content-Type: application/json\r\n"
            "X-Content-Type-Options: nosniff\r\n"
            f"X-Load-Balancing-Endpoint-Weight: {local_endpoints}\r\n"
            f"Date: {formatdate(usegmt=True)}\r\n"
            f"Content-Length: {len(text.encode())}\r\n"
            "Connection: close\r\n\r\n")
    return head.encode() + text.encode()


def write_table(path: Path, entries: dict) -> None:
    """The server's table: port -> {namespace, name, localEndpoints}. Written atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({str(port): entry for port, entry in entries.items()}, sort_keys=True))
    os.replace(tmp, path)


def _serve(table_path: Path) -> None:
    """The server loop (runs inside the node namespace)."""
    selector = selectors.DefaultSelector()
    listeners: dict = {}
    table: dict = {}
    seen_mtime = None
    while True:
        try:
            mtime = table_path.stat().st_mtime_ns
        except FileNotFoundError:
            return                              # the lab is gone: so is its kube-proxy
        if mtime != seen_mtime:
            seen_mtime = mtime
            try:
                table = {int(port): entry for port, entry in json.loads(table_path.read_text()).items()}
            except (OSError, ValueError):
                pass                            # half-written by hand: keep serving the last good table
            for port in [p for p in listeners if p not in table]:
                selector.unregister(listeners[port])
                listeners.pop(port).close()
            for port in table:
                if port not in listeners:
                    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                    try:
                        sock.bind(("0.0.0.0", port))
                        sock.listen(64)
                    except OSError:
                        sock.close()
                        continue
                    sock.setblocking(False)
                    selector.register(sock, selectors.EVENT_READ, port)
                    listeners[port] = sock
        for key, _ in selector.select(timeout=POLL_SECONDS):
            port = key.data
            try:
                conn, _ = key.fileobj.accept()
            except OSError:
                continue
            with conn:
                conn.settimeout(1.0)
                try:
                    conn.recv(4096)
                    entry = table.get(port) or {}
                    conn.sendall(response(entry.get("namespace", ""), entry.get("name", ""),
                                          int(entry.get("localEndpoints", 0))))
                except OSError:
                    pass


def _pid_alive(pid_path: Path) -> bool:
    try:
        pid, start = pid_path.read_text().split()
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().rsplit(")", 1)[1].split()[19] == start
    except (FileNotFoundError, ValueError, IndexError, ProcessLookupError):
        return False


def ensure_server(node_netns: str, table_path: Path, pid_path: Path) -> None:
    """Start the node's health server unless it runs (detached, inside NODE_NETNS)."""
    if _pid_alive(pid_path):
        return
    pid = os.fork()
    if pid:
        os.waitpid(pid, 0)
        for _ in range(100):                    # the grandchild records itself
            if pid_path.exists():
                return
            time.sleep(0.005)
        return
    try:
        os.setsid()
        if os.fork():
            os._exit(0)
        # drop every inherited descriptor: above all the lab's lock, which must not outlive the command
        os.closerange(3, os.sysconf("SC_OPEN_MAX"))
        fd = os.open(netns.path(node_netns), os.O_RDONLY)
        netns._libc.setns(fd, netns.CLONE_NEWNET)
        os.close(fd)
        devnull = os.open(os.devnull, os.O_RDWR)
        for std in (0, 1, 2):
            os.dup2(devnull, std)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        with open(f"/proc/{os.getpid()}/stat") as handle:
            start = handle.read().rsplit(")", 1)[1].split()[19]
        tmp = pid_path.with_suffix(".tmp")
        tmp.write_text(f"{os.getpid()} {start}")
        os.replace(tmp, pid_path)
        _serve(table_path)
    except BaseException:
        # no terminal is left to tell: the reason goes next to the pid file, and the exit code says it
        import traceback
        try:
            pid_path.with_suffix(".log").write_text(traceback.format_exc())
        except OSError:
            pass
        os._exit(1)
    finally:
        os._exit(0)


if __name__ == "__main__":  # pragma: no cover - manual use: python -m netlab.dataplane.healthcheck TABLE
    _serve(Path(sys.argv[1]))
