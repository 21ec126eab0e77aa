"""Requests sent from inside a lab namespace, for `netlab probe` and the tests' traffic checks.

Each request is a fresh connection (TCP) or a fresh socket (UDP), so each gets its own conntrack
entry and kube-proxy's statistic rules choose an endpoint for it anew, as separate curl runs would.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass

from netlab.dataplane import netns


@dataclass
class Reply:
    ok: bool
    text: str = ""
    error: str = ""


def _family(ip: str) -> int:
    return socket.AF_INET6 if ":" in ip else socket.AF_INET


def _tcp(ip: str, port: int, timeout: float) -> Reply:
    sock = socket.socket(_family(ip), socket.SOCK_STREAM)
    sock.settimeout(timeout)
    host = f"[{ip}]" if ":" in ip else ip
    try:
        sock.connect((ip, port))
        sock.sendall(f"GET / HTTP/1.1\r\nHost: {host}:{port}\r\nConnection: close\r\n\r\n".encode())
        chunks = []
        while True:
            data = sock.recv(65536)
            if not data:
                break
            chunks.append(data)
        raw = b"".join(chunks).decode(errors="replace")
        body = raw.split("\r\n\r\n", 1)[-1]
        return Reply(True, body)
    except OSError as err:
        return Reply(False, error=err.strerror or str(err))
    finally:
        sock.close()


def _udp(ip: str, port: int, timeout: float) -> Reply:
    sock = socket.socket(_family(ip), socket.SOCK_DGRAM)
    sock.settimeout(timeout)
    try:
        sock.sendto(b"netlab probe", (ip, port))
        data, _ = sock.recvfrom(65536)
        return Reply(True, data.decode(errors="replace"))
    except OSError as err:
        return Reply(False, error=err.strerror or str(err) or "timed out")
    finally:
        sock.close()


def send(namespace: str, ip: str, port: int, protocol: str = "TCP", count: int = 1, timeout: float = 2.0) -> list:
    """COUNT requests to IP:PORT (an IPv4 or IPv6 address) from inside NAMESPACE; one Reply each."""
    one = _udp if protocol.upper() == "UDP" else _tcp
    replies = []
    with netns.entered(namespace):
        for _ in range(count):
            replies.append(one(ip, port, timeout))
    return replies
