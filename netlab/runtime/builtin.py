"""netlab's built-in container server: HTTP on TCP ports, echo on UDP ports, saying who answered whom.

The reply body is `key: value` lines a curl user can read (pod, namespace, pod_ip, node, host_ip,
container, protocol, server, client, request, host); a UDP reply ends with `payload: ` and the
datagram it answers. One process serves every port of a container with a single selector loop,
so it needs no threads and answers concurrent clients.
"""

from __future__ import annotations

import errno
import os
import selectors
import socket
import time
from typing import Callable

_HEADER_LIMIT = 64 * 1024
_READ_TIMEOUT = 10.0  # a client that never finishes its request
_DRAIN_TIMEOUT = 2.0  # a client that never closes after the response
_UDP_MAX = 65507


def _clean(value: str) -> str:
    return "".join(ch if ch.isprintable() else "?" for ch in value)


def render_reply(info: dict[str, str], **fields: str | None) -> str:
    """The reply body: the pod's identity then the per-request fields, one `key: value` per line."""
    lines = [f"{k}: {_clean(str(v))}" for k, v in info.items()]
    lines += [f"{k}: {_clean(str(v))}" for k, v in fields.items() if v is not None]
    return "\n".join(lines) + "\n"


def parse_builtin_reply(text: str) -> dict[str, str]:
    """Read a built-in server reply (an HTTP response with headers, its body, or a UDP reply) into a dict."""
    if text.startswith("HTTP/"):
        for sep in ("\r\n\r\n", "\n\n"):
            head, found, body = text.partition(sep)
            if found:
                text = body
                break
        else:
            text = ""
    out: dict[str, str] = {}
    while text:
        line, _, rest = text.partition("\n")
        key, sep, value = line.partition(": ")
        if key == "payload" and sep:
            out[key] = value + ("\n" + rest if rest else "")
            break
        if sep:
            out[key] = value.rstrip("\r")
        elif line.endswith(":"):
            out[line[:-1]] = ""
        text = rest
    return out


def _addr(sockaddr) -> str:
    host, port = sockaddr[0], sockaddr[1]
    if host.startswith("::ffff:") and "." in host:
        host = host[7:]  # an IPv4 client of a dual-stack socket
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _bind(port: int, kind: int) -> socket.socket:
    """A dual-stack socket on the port when IPv6 is usable in this netns, else IPv4 only."""
    try:
        s = socket.socket(socket.AF_INET6, kind)
        try:
            s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind(("::", port))
            return s
        except OSError:
            s.close()
            raise
    except OSError as e:
        if e.errno == errno.EADDRINUSE:
            raise
    s = socket.socket(socket.AF_INET, kind)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("0.0.0.0", port))
    return s


class _Conn:
    __slots__ = ("sock", "buf", "out", "peer", "local", "deadline", "draining")

    def __init__(self, sock: socket.socket, peer: str, local: str):
        self.sock = sock
        self.buf = b""
        self.out = b""
        self.peer = peer
        self.local = local
        self.deadline = time.monotonic() + _READ_TIMEOUT
        self.draining = False


def _http_response(info: dict[str, str], conn: _Conn, head: bytes) -> tuple[bytes, str, int]:
    """The whole response to a request head, plus its request line and status code for the log."""
    lines = head.split(b"\n")
    request = lines[0].decode("latin-1").strip()
    host = None
    for raw in lines[1:]:
        name, sep, value = raw.decode("latin-1").partition(":")
        if sep and name.strip().lower() == "host":
            host = value.strip()
            break
    parts = request.split()
    ok = len(parts) == 3 and parts[2].startswith("HTTP/")
    body = render_reply(
        info, protocol="TCP", server=conn.local, client=conn.peer, request=request or None, host=host
    ).encode()
    code, status = (200, "OK") if ok else (400, "Bad Request")
    headers = (
        f"HTTP/1.1 {code} {status}\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n"
        f"Content-Length: {len(body)}\r\n"
        "Connection: close\r\n"
        "Server: netlab\r\n\r\n"
    ).encode()
    if ok and parts[0] == "HEAD":
        body = b""
    return headers + body, request or "-", code


def _accept_all(listener: socket.socket, sel, conns: dict, limit: int | None = None) -> None:
    """Take the connections queued on LISTENER (at most LIMIT), each as an open _Conn."""
    taken = 0
    while limit is None or taken < limit:
        taken += 1
        try:
            sock, peer = listener.accept()
        except OSError:
            return
        sock.setblocking(False)
        c = _Conn(sock, _addr(peer), _addr(sock.getsockname()))
        conns[sock.fileno()] = c
        sel.register(sock, selectors.EVENT_READ, ("conn", c))


def serve(
    info: dict[str, str],
    ports: list[tuple[int, str]],
    log: Callable[[str], None],
    ready: Callable[[], None] = lambda: None,
    stop_fd: int | None = None,
    stopping: Callable[[], bool] = lambda: False,
) -> None:
    """Serve every port until STOPPING() turns true (STOP_FD becomes readable then), then drain.

    Draining is a graceful shutdown: connections already queued are accepted, the ports close,
    and the server returns once every open connection has had its answer. kubelet sends SIGTERM
    only after kube-proxy took the pod out of every node's rules, so nothing new arrives by then;
    a connection that was on its way still gets its answer. Raises OSError if a port cannot be bound.
    """
    sel = selectors.DefaultSelector()
    listeners = []
    for port, proto in ports:
        if proto == "TCP":
            s = _bind(port, socket.SOCK_STREAM)
            s.listen(socket.SOMAXCONN)
            s.setblocking(False)
            sel.register(s, selectors.EVENT_READ, ("accept", port))
            listeners.append(s)
            log(f"serving HTTP on TCP port {port}")
        elif proto == "UDP":
            s = _bind(port, socket.SOCK_DGRAM)
            s.setblocking(False)
            sel.register(s, selectors.EVENT_READ, ("udp", port))
            listeners.append(s)
            log(f"serving echo on UDP port {port}")
        else:
            log(f"{proto} port {port}: not served (the built-in server speaks TCP and UDP only)")
    if stop_fd is not None:
        sel.register(stop_fd, selectors.EVENT_READ, ("stop", None))
    ready()
    conns: dict[int, _Conn] = {}
    last_sweep = time.monotonic()
    draining_until = None

    def close(c: _Conn) -> None:
        conns.pop(c.sock.fileno(), None)
        try:
            sel.unregister(c.sock)
        except (KeyError, ValueError):
            pass
        c.sock.close()

    def flush(c: _Conn) -> None:
        try:
            sent = c.sock.send(c.out)
        except BlockingIOError:
            sent = 0
        except OSError:
            close(c)
            return
        c.out = c.out[sent:]
        if c.out:
            sel.modify(c.sock, selectors.EVENT_WRITE, ("conn", c))
            return
        # Half-close and wait for the client's FIN: closing with unread input would send a RST
        # that can destroy the response before the client reads it.
        try:
            c.sock.shutdown(socket.SHUT_WR)
        except OSError:
            close(c)
            return
        c.draining = True
        c.deadline = time.monotonic() + _DRAIN_TIMEOUT
        sel.modify(c.sock, selectors.EVENT_READ, ("conn", c))

    while True:
        if draining_until is None and stopping():
            draining_until = time.monotonic() + _DRAIN_TIMEOUT
            for s in listeners:
                if s.type == socket.SOCK_STREAM:
                    _accept_all(s, sel, conns)     # closing it with these queued would reset them
                sel.unregister(s)
                s.close()
            log(f"stopping: {len(conns)} connection(s) to finish")
        if draining_until is not None and (not conns or time.monotonic() > draining_until):
            return
        for key, _ in sel.select(timeout=1.0 if draining_until is None else 0.1):
            kind, data = key.data
            if kind == "stop":
                try:
                    os.read(key.fd, 512)
                except OSError:
                    pass
                continue
            if kind == "accept":
                _accept_all(key.fileobj, sel, conns, limit=64)
            elif kind == "udp":
                for _ in range(64):
                    try:
                        payload, peer = key.fileobj.recvfrom(65535)
                    except (BlockingIOError, InterruptedError):
                        break
                    except OSError:
                        break
                    text = render_reply(info, protocol="UDP", port=str(data), client=_addr(peer)) + "payload: "
                    reply = text.encode()
                    reply += payload[: max(0, _UDP_MAX - len(reply))]
                    try:
                        key.fileobj.sendto(reply, peer)
                    except OSError:
                        pass
                    log(f"UDP {_addr(peer)} {len(payload)} bytes")
            else:
                c = data
                if c.out:
                    flush(c)
                    continue
                try:
                    chunk = c.sock.recv(65536)
                except (BlockingIOError, InterruptedError):
                    continue
                except OSError:
                    close(c)
                    continue
                if c.draining:
                    if not chunk:
                        close(c)
                    continue
                c.buf += chunk
                end = c.buf.find(b"\r\n\r\n")
                if end < 0:
                    end = c.buf.find(b"\n\n")
                if end < 0 and chunk and len(c.buf) < _HEADER_LIMIT:
                    continue
                if not c.buf.strip():
                    close(c)
                    continue
                c.out, request, code = _http_response(info, c, c.buf if end < 0 else c.buf[:end])
                log(f'TCP {c.peer} "{request}" {code}')
                flush(c)
        now = time.monotonic()
        if now - last_sweep >= 1.0:
            last_sweep = now
            for c in [c for c in conns.values() if c.deadline < now]:
                close(c)
