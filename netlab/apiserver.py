"""The API server's endpoint in the lab: what `kubernetes.default` (10.96.0.1:443) leads to.

A cluster's `default/kubernetes` Service sends port 443 to each API server's IP:6443. In a lab
the API server is the supervisor, and this is its listener: a socket opened inside the
control-plane node's network namespace (the lab's first node) on the node's IP:6443, served by
a thread of the supervisor process. It answers what kube-apiserver answers an anonymous caller:

    GET /version                  200, the version JSON (system:public-info-viewer allows it)
    GET /healthz /livez /readyz   200 "ok"
    anything else                 403, the Status an anonymous user gets

It speaks plain HTTP, not TLS: `curl http://kubernetes.default:443/version` from a pod shows
the whole path (ClusterIP -> DNAT -> node:6443) working, while `curl -k https://kubernetes`
fails at the TLS handshake. netlab's own clients read the store directly; nothing here serves
the Kubernetes API. While the supervisor is down, connections are refused.
"""

from __future__ import annotations

import json
import os
import socket
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

from netlab import __version__
from netlab.cluster.addons import API_SERVER_PORT
from netlab.runtime import linux

KUBERNETES_VERSION = {"major": "1", "minor": "35", "emulationMajor": "1", "emulationMinor": "35",
                      "minCompatibilityMajor": "1", "minCompatibilityMinor": "34",
                      "gitVersion": "v1.35.0", "gitCommit": f"netlab-{__version__}", "gitTreeState": "clean",
                      "buildDate": "2025-12-17T00:00:00Z", "goVersion": "go1.25.5", "compiler": "gc",
                      "platform": "linux/amd64"}
HEALTH_PATHS = ("/healthz", "/livez", "/readyz")


def answer(method: str, path: str) -> tuple:
    """(status, content type, body) kube-apiserver gives an anonymous METHOD on PATH."""
    bare = path.split("?", 1)[0].rstrip("/") or "/"
    if method == "GET" and bare == "/version":
        return 200, "application/json", json.dumps(KUBERNETES_VERSION, indent=2) + "\n"
    if method == "GET" and bare in HEALTH_PATHS:
        return 200, "text/plain; charset=utf-8", "ok"
    verb = {"GET": "get", "POST": "post", "PUT": "put", "DELETE": "delete", "PATCH": "patch"}.get(method, method.lower())
    status = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
              "message": f'forbidden: User "system:anonymous" cannot {verb} path "{bare}"',
              "reason": "Forbidden", "details": {}, "code": 403}
    return 403, "application/json", json.dumps(status, indent=2) + "\n"


class _Handler(BaseHTTPRequestHandler):
    server_version = "netlab-apiserver"
    sys_version = ""

    def _reply(self) -> None:
        code, content_type, body = answer(self.command, self.path)
        data = body.encode()
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = _reply

    def log_message(self, format, *args):      # noqa: A002 (the base class's name)
        pass


class _Server(HTTPServer):
    def server_bind(self):
        # HTTPServer.server_bind looks the host's name up (getfqdn): needless, and slow without DNS
        socket.socket.bind(self.socket, self.server_address)
        self.server_name, self.server_port = self.server_address[:2]


class _Server6(_Server):
    address_family = socket.AF_INET6      # an IPv6-first or IPv6-only lab's API server address


def listen(netns_path: str, ip: str, port: int = API_SERVER_PORT) -> HTTPServer:
    """A server bound to IP:PORT inside the network namespace at NETNS_PATH.

    setns() moves only the calling thread, so a short-lived thread enters the namespace, opens
    the socket (it stays in the namespace it was made in) and ends; the caller's thread never moves."""
    made: dict = {}

    def in_namespace():
        try:
            fd = os.open(netns_path, os.O_RDONLY)
            try:
                linux.setns(fd, linux.CLONE_NEWNET)
            finally:
                os.close(fd)
            made["server"] = (_Server6 if ":" in ip else _Server)((ip, port), _Handler)
        except Exception as err:          # handed to the caller's thread
            made["error"] = err
    thread = threading.Thread(target=in_namespace, name="apiserver-bind")
    thread.start()
    thread.join()
    if "error" in made:
        raise made["error"]
    return made["server"]


def serve(netns_path: str, ip: str, port: int = API_SERVER_PORT) -> HTTPServer:
    """listen(), then answer on a daemon thread until the server's shutdown()."""
    server = listen(netns_path, ip, port)
    threading.Thread(target=server.serve_forever, name="apiserver", daemon=True).start()
    return server
