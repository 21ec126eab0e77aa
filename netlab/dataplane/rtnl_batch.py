"""The few rtnetlink requests that wire each pod, encoded here and sent as one batch a namespace.

A thousand-pod lab wires a thousand pods, and pyroute2 spends about a millisecond of Python on each
request it sends (its requests run through an asyncio loop), a dozen a pod. The requests wiring a
pod are always the same seven kinds, so they are encoded here with `struct` (the layouts of
include/uapi/linux/rtnetlink.h, if_link.h, if_addr.h, neighbour.h, veth.h) and sent in one
`send` per namespace; the kernel answers each with an acknowledgement, read back in order.
tests/dataplane/test_rtnl_batch.py checks what each request makes, read back with pyroute2.
Everything else (the careful, idempotent paths, lookups, dumps) stays with pyroute2.
"""

from __future__ import annotations

import ipaddress
import os
import socket
import struct
from contextlib import contextmanager

from netlab.dataplane import netns

RTM_NEWLINK, RTM_NEWADDR, RTM_NEWROUTE, RTM_NEWNEIGH = 16, 20, 24, 28
NLMSG_ERROR = 2
NLM_F_REQUEST, NLM_F_ACK, NLM_F_EXCL, NLM_F_CREATE, NLM_F_REPLACE = 0x1, 0x4, 0x200, 0x400, 0x100
IFF_UP = 0x1
IFLA_ADDRESS, IFLA_IFNAME, IFLA_MTU, IFLA_MASTER, IFLA_LINKINFO, IFLA_NET_NS_FD, IFLA_IFALIAS = 1, 3, 4, 10, 18, 28, 20
IFLA_INFO_KIND, IFLA_INFO_DATA, IFLA_INFO_SLAVE_KIND, IFLA_INFO_SLAVE_DATA = 1, 2, 4, 5
VETH_INFO_PEER = 1
IFLA_BRPORT_MODE = 4
IFA_ADDRESS, IFA_LOCAL, IFA_FLAGS = 1, 2, 8
NDA_DST, NDA_LLADDR = 1, 2
RTA_DST, RTA_GATEWAY = 1, 5
RT_TABLE_MAIN, RTPROT_STATIC, RTN_UNICAST = 254, 4, 1
NLA_F_NESTED = 0x8000
EEXIST = 17


class BatchError(Exception):
    """A request of a batch was refused: the error number and which request."""

    def __init__(self, code: int, what: str):
        super().__init__(f"{os.strerror(code)} ({what})")
        self.code = code
        self.what = what


def _attr(kind: int, payload: bytes) -> bytes:
    length = 4 + len(payload)
    return struct.pack("=HH", length, kind) + payload + b"\0" * (-length % 4)


def _nested(kind: int, *attrs: bytes) -> bytes:
    return _attr(kind | NLA_F_NESTED, b"".join(attrs))


def _string(text: str) -> bytes:
    return text.encode() + b"\0"


def _u32(value: int) -> bytes:
    return struct.pack("=I", value)


def _mac(text: str) -> bytes:
    return bytes(int(part, 16) for part in text.split(":"))


def _family(address: str) -> int:
    return socket.AF_INET6 if ":" in address else socket.AF_INET


def _ifinfo(index: int = 0, up: bool = False) -> bytes:
    # struct ifinfomsg: family, pad, type, index, flags, change
    return struct.pack("=BxHiII", socket.AF_UNSPEC, 0, index, IFF_UP if up else 0, IFF_UP if up else 0)


class Batch:
    """Requests to send together: each `add_*`/`set_*` appends one; `send` sends them all."""

    def __init__(self):
        self._messages = []          # (kind, flags, body, what, tolerated error)

    def _request(self, kind: int, flags: int, body: bytes, what: str, tolerate: int | None = None) -> None:
        self._messages.append((kind, NLM_F_REQUEST | NLM_F_ACK | flags, body, what, tolerate))

    def set_link(self, index: int, up: bool = True, alias: str | None = None, mac: str | None = None,
                 mtu: int | None = None, name: str | None = None) -> None:
        """`ip link set` of INDEX (or of NAME when INDEX is 0): up, ifalias, address, mtu."""
        attrs = b""
        if name is not None:
            attrs += _attr(IFLA_IFNAME, _string(name))
        if mac is not None:
            attrs += _attr(IFLA_ADDRESS, _mac(mac))
        if mtu is not None:
            attrs += _attr(IFLA_MTU, _u32(mtu))
        if alias is not None:
            attrs += _attr(IFLA_IFALIAS, _string(alias))
        self._request(RTM_NEWLINK, 0, _ifinfo(index, up) + attrs, f"link set {name or index}")

    def set_hairpin(self, name: str) -> None:
        """Bridge port NAME in hairpin mode (IFLA_BRPORT_MODE: BRIDGE_MODE_HAIRPIN)."""
        attrs = _attr(IFLA_IFNAME, _string(name)) + _nested(
            IFLA_LINKINFO, _attr(IFLA_INFO_SLAVE_KIND, _string("bridge")),
            _nested(IFLA_INFO_SLAVE_DATA, _attr(IFLA_BRPORT_MODE, b"\x01")))
        self._request(RTM_NEWLINK, 0, _ifinfo() + attrs, f"hairpin on {name}")

    def add_veth(self, name: str, master: int, mtu: int, peer_name: str, peer_netns_fd: int, peer_index: int,
                 peer_mac: str) -> None:
        """A veth NAME, up in bridge MASTER with MTU, whose peer PEER_NAME (MTU, PEER_MAC) is made at
        PEER_INDEX in the namespace of PEER_NETNS_FD."""
        peer = _ifinfo(peer_index) + _attr(IFLA_IFNAME, _string(peer_name)) + _attr(IFLA_MTU, _u32(mtu)) + \
            _attr(IFLA_ADDRESS, _mac(peer_mac)) + _attr(IFLA_NET_NS_FD, _u32(peer_netns_fd))
        attrs = _attr(IFLA_IFNAME, _string(name)) + _attr(IFLA_MTU, _u32(mtu)) + _attr(IFLA_MASTER, _u32(master)) + \
            _nested(IFLA_LINKINFO, _attr(IFLA_INFO_KIND, _string("veth")),
                    _nested(IFLA_INFO_DATA, _nested(VETH_INFO_PEER, peer)))
        self._request(RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, _ifinfo(0, up=True) + attrs, f"veth {name}")

    def add_address(self, index: int, address: str, prefixlen: int, flags: int = 0) -> None:
        """ADDRESS/PREFIXLEN on INDEX (IFA_FLAGS FLAGS, e.g. IFA_F_NODAD); "already there" is success."""
        family = _family(address)
        packed = ipaddress.ip_address(address).packed
        # struct ifaddrmsg: family, prefixlen, flags, scope, index
        body = struct.pack("=BBBBI", family, prefixlen, 0, 0, index) + _attr(IFA_LOCAL, packed) + \
            _attr(IFA_ADDRESS, packed) + (_attr(IFA_FLAGS, _u32(flags)) if flags else b"")
        self._request(RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL, body, f"address {address}/{prefixlen}", EEXIST)

    def replace_neighbour(self, index: int, address: str, mac: str, state: int) -> None:
        """`ip neigh replace ADDRESS lladdr MAC dev INDEX nud STATE`."""
        # struct ndmsg: family, pad1, pad2, ifindex, state, flags, type
        body = struct.pack("=BxHiHBB", _family(address), 0, index, state, 0, 0) + \
            _attr(NDA_DST, ipaddress.ip_address(address).packed) + _attr(NDA_LLADDR, _mac(mac))
        self._request(RTM_NEWNEIGH, NLM_F_CREATE | NLM_F_REPLACE, body, f"neighbour {address}")

    def add_route(self, destination: str, gateway: str) -> None:
        """A static route to DESTINATION (a CIDR; 0.0.0.0/0, ::/0 for the default) via GATEWAY in the
        main table; "already there" is success."""
        network = ipaddress.ip_network(destination)
        # struct rtmsg: family, dst_len, src_len, tos, table, protocol, scope, type, flags
        body = struct.pack("=BBBBBBBBI", _family(gateway), network.prefixlen, 0, 0, RT_TABLE_MAIN, RTPROT_STATIC,
                           0, RTN_UNICAST, 0)
        if network.prefixlen:
            body += _attr(RTA_DST, network.network_address.packed)
        body += _attr(RTA_GATEWAY, ipaddress.ip_address(gateway).packed)
        self._request(RTM_NEWROUTE, NLM_F_CREATE | NLM_F_EXCL, body, f"route {destination} via {gateway}", EEXIST)

    def encoded(self, first_seq: int = 1) -> bytes:
        """The batch as one buffer, sequence numbers counting from FIRST_SEQ."""
        out = []
        for seq, (kind, flags, body, _, _) in enumerate(self._messages, start=first_seq):
            out.append(struct.pack("=LHHLL", 16 + len(body), kind, flags, seq, 0) + body)
        return b"".join(out)

    def send(self, sock: socket.socket) -> list:
        """Send the batch on SOCK (an rtnetlink socket) and read every answer; the error numbers in
        order (0: done). A refusal other than a request's tolerated one raises BatchError; the
        requests after it were carried out or refused on their own, as the kernel takes each."""
        data = self.encoded()
        sock.send(data)
        answers: dict = {}
        while len(answers) < len(self._messages):
            chunk = sock.recv(65536)
            offset = 0
            while offset < len(chunk):
                length, kind, _, seq, _ = struct.unpack_from("=LHHLL", chunk, offset)
                if kind == NLMSG_ERROR:
                    answers[seq] = -struct.unpack_from("=i", chunk, offset + 16)[0]
                offset += (length + 3) & ~3
        codes = [answers.get(seq, 0) for seq in range(1, len(self._messages) + 1)]
        for (_, _, _, what, tolerate), code in zip(self._messages, codes):
            if code and code != tolerate:
                raise BatchError(code, what)
        return codes


@contextmanager
def socket_in(namespace: str):
    """A plain rtnetlink socket of NAMESPACE (a socket keeps the namespace it was made in)."""
    with netns.entered(namespace):
        sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, socket.NETLINK_ROUTE)
    try:
        sock.bind((0, 0))
        yield sock
    finally:
        sock.close()
