"""netlab's built-in container server: HTTP on TCP ports, echo on UDP ports, saying who answered whom.

The reply body is `key: value` lines a curl user can read (pod, namespace, pod_ip, node, host_ip,
container, protocol, server, client, request, host); a UDP reply ends with `payload: ` and the
datagram it answers. One process serves every port of a container with a single selector loop,
so it needs no threads and answers concurrent clients.
"""

from __future__ import annotations

import errno
import mimetypes
import os
import selectors
import socket
import time
import urllib.parse
from typing import Callable

_HEADER_LIMIT = 64 * 1024
_READ_TIMEOUT = 10.0  # a client that never finishes its request
_DRAIN_TIMEOUT = 2.0  # a client that never closes after the response
_UDP_MAX = 65507
_BODY_LIMIT = 1024 * 1024  # a request body read before answering (echoserver echoes it)


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


class ParsedRequest:
    """One HTTP request as read off the wire (the shape replies.Request has)."""

    __slots__ = ("method", "target", "version", "headers", "body", "client", "server")

    def __init__(self, method, target, version, headers, body, client, server):
        self.method, self.target, self.version = method, target, version
        self.headers, self.body, self.client, self.server = headers, body, client, server


def parse_head(head: bytes) -> tuple[str, str, str, tuple[tuple[str, str], ...]] | None:
    """(method, target, version, headers) of a request head, or None when it is not HTTP."""
    lines = head.decode("latin-1").split("\n")
    parts = lines[0].strip().split()
    if len(parts) != 3 or not parts[2].startswith("HTTP/"):
        return None
    headers = []
    for raw in lines[1:]:
        name, sep, value = raw.partition(":")
        if sep and name.strip():
            headers.append((name.strip(), value.strip()))
    return parts[0], parts[1], parts[2], tuple(headers)


def header(headers, name: str) -> str | None:
    name = name.lower()
    return next((v for k, v in headers if k.lower() == name), None)


def identity_response(info: dict[str, str], request: ParsedRequest) -> tuple[int, str, list, bytes]:
    """netlab's own answer: who answered whom, as `key: value` lines."""
    line = f"{request.method} {request.target} {request.version}"
    body = render_reply(info, protocol="TCP", server=request.server, client=request.client, request=line,
                        host=header(request.headers, "host")).encode()
    return 200, "OK", [("Content-Type", "text/plain; charset=utf-8"), ("Server", "netlab")], body


def serialize(request_method: str, status: int, reason: str, headers: list, body: bytes) -> bytes:
    """The response on the wire: status line, headers (Content-Length and Connection: close added), body."""
    names = {k.lower() for k, _ in headers}
    lines = [f"HTTP/1.1 {status} {reason}"] + [f"{k}: {v}" for k, v in headers]
    if "content-length" not in names:
        lines.append(f"Content-Length: {len(body)}")
    if "connection" not in names:
        lines.append("Connection: close")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1", "replace") + (b"" if request_method == "HEAD" else body)


def _bad_request() -> bytes:
    body = b"bad request\n"
    return serialize("GET", 400, "Bad Request", [("Content-Type", "text/plain; charset=utf-8"), ("Server", "netlab")],
                     body)


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


Responder = Callable[[ParsedRequest], "tuple[int, str, list, bytes] | tuple[int, str, list, bytes, int]"]


def serve(
    info: dict[str, str],
    ports: list[tuple[int, str]],
    log: Callable[[str], None],
    ready: Callable[[], None] = lambda: None,
    stop_fd: int | None = None,
    stopping: Callable[[], bool] = lambda: False,
    respond: Responder | None = None,
    answer_udp: Callable[[bytes, str, int], bytes | None] | None = None,
    greeting: bytes | None = None,
) -> int:
    """Serve every port until STOPPING() turns true (STOP_FD becomes readable then), then drain;
    returns the exit code (0, or what a response asked for: agnhost's /exit).

    RESPOND(request) gives (status, reason, headers, body[, exit code]) for each HTTP request
    (netlab's identity page by default); ANSWER_UDP(payload, client, port) the reply to a
    datagram, or None for none (netlab's echo by default). With GREETING, a TCP port is a raw
    server: it writes GREETING to each connection and closes it (agnhost serve-hostname --tcp).
    A response whose status is None closes the connection without a word.

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
    exit_code = None

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
        if draining_until is None and (stopping() or (exit_code is not None and not any(c.out for c in conns.values()))):
            draining_until = time.monotonic() + _DRAIN_TIMEOUT
            for s in listeners:
                if s.type == socket.SOCK_STREAM:
                    _accept_all(s, sel, conns)     # closing it with these queued would reset them
                sel.unregister(s)
                s.close()
            log(f"stopping: {len(conns)} connection(s) to finish")
        if draining_until is not None and (not conns or time.monotonic() > draining_until):
            return exit_code or 0
        for key, _ in sel.select(timeout=1.0 if draining_until is None else 0.1):
            kind, data = key.data
            if kind == "stop":
                try:
                    os.read(key.fd, 512)
                except OSError:
                    pass
                continue
            if kind == "accept" and greeting is not None:
                for _ in range(64):
                    try:
                        sock, _peer = key.fileobj.accept()
                    except OSError:
                        break
                    try:
                        sock.sendall(greeting)
                    except OSError:
                        pass
                    sock.close()
            elif kind == "accept":
                _accept_all(key.fileobj, sel, conns, limit=64)
            elif kind == "udp":
                for _ in range(64):
                    try:
                        payload, peer = key.fileobj.recvfrom(65535)
                    except (BlockingIOError, InterruptedError):
                        break
                    except OSError:
                        break
                    if answer_udp is not None:
                        reply = answer_udp(payload, _addr(peer), data)
                    else:
                        text = render_reply(info, protocol="UDP", port=str(data), client=_addr(peer)) + "payload: "
                        reply = text.encode()
                        reply += payload[: max(0, _UDP_MAX - len(reply))]
                    try:
                        if reply is not None:
                            key.fileobj.sendto(reply[:_UDP_MAX], peer)
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
                end, gap = c.buf.find(b"\r\n\r\n"), 4
                if end < 0:
                    end, gap = c.buf.find(b"\n\n"), 2
                if end < 0 and chunk and len(c.buf) < _HEADER_LIMIT:
                    continue
                if not c.buf.strip():
                    close(c)
                    continue
                head = c.buf if end < 0 else c.buf[:end]
                parsed = parse_head(head)
                if parsed is None:
                    c.out = _bad_request()
                    log(f'TCP {c.peer} "{head.splitlines()[0].decode("latin-1", "replace") if head else "-"}" 400')
                    flush(c)
                    continue
                body = c.buf[end + gap:] if end >= 0 else b""
                try:
                    length = int(header(parsed[3], "content-length") or 0)
                except ValueError:
                    length = 0
                if len(body) < min(length, _BODY_LIMIT) and chunk:
                    continue                        # the rest of the body is on its way
                request = ParsedRequest(*parsed, body[:length], c.peer, c.local)
                answer = respond(request) if respond is not None else identity_response(info, request)
                if len(answer) > 4 and answer[4] is not None:
                    exit_code = answer[4]
                if answer[0] is None:
                    close(c)
                    continue
                c.out = serialize(request.method, *answer[:4])
                log(f'TCP {c.peer} "{request.method} {request.target} {request.version}" {answer[0]}')
                flush(c)
        now = time.monotonic()
        if now - last_sweep >= 1.0:
            last_sweep = now
            for c in [c for c in conns.values() if c.deadline < now]:
                close(c)


_NOT_FOUND = {
    "nginx": ("<html>\r\n<head><title>404 Not Found</title></head>\r\n<body>\r\n<center><h1>404 Not Found</h1>"
              "</center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"),
    "Apache": ('<!DOCTYPE HTML PUBLIC "-//IETF//DTD HTML 2.0//EN">\n<html><head>\n<title>404 Not Found</title>\n'
               "</head><body>\n<h1>Not Found</h1>\n<p>The requested URL was not found on this server.</p>\n"
               "</body></html>\n"),
}


def doc_root_responder(info: dict[str, str], root: str, server: str = "nginx") -> Responder:
    """Serve ROOT's files as nginx (or Apache) serves a document root. While the root has no
    index.html (the image's welcome page, which netlab does not ship), netlab's identity page
    stands in for it: every path that is not a file answers it, so pods behind a Service still say
    which one answered; once something put an index.html there, a missing file is a 404."""
    def respond(request: ParsedRequest):
        path = urllib.parse.unquote(request.target.split("?", 1)[0].split("#", 1)[0]) or "/"
        clean = os.path.normpath("/" + path.lstrip("/"))
        target = root + ("" if clean == "/" else clean)
        headers = [("Server", server)]
        if not os.path.isfile(os.path.join(root, "index.html")) and not os.path.isfile(target):
            return identity_response(info, request)
        if request.method not in ("GET", "HEAD"):
            return 405, "Not Allowed", headers + [("Content-Type", "text/html")], b"405 Not Allowed\n"
        if os.path.isdir(target):
            if not path.endswith("/"):
                return 301, "Moved Permanently", headers + [("Location", path + "/")], b""
            index = os.path.join(target, "index.html")
            if os.path.isfile(index):
                target = index
            elif clean == "/":
                return identity_response(info, request)
            else:
                return 403, "Forbidden", headers + [("Content-Type", "text/html")], b"403 Forbidden\n"
        try:
            with open(target, "rb") as handle:
                body = handle.read()
        except OSError:
            return 404, "Not Found", headers + [("Content-Type", "text/html")], _NOT_FOUND[server].encode()
        kind = mimetypes.guess_type(target)[0] or "application/octet-stream"
        if kind.startswith("text/"):
            kind += "; charset=utf-8" if server == "Apache" else ""
        return 200, "OK", headers + [("Content-Type", kind)], body

    return respond
