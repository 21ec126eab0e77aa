"""kube-proxy's partial syncs sent to nf_tables over netlink, as the batch `nft -f -` would send.

Why: nft 1.0.6 (the one Debian 12 has) fetches every chain and set of the ruleset before it adds
a rule or an element (cache.c, evaluate_cache_add). With 10,000 Services x 5 endpoints a node
holds 60,000 chains, and a one-endpoint change then costs ~0.5 s of listing before nft writes
its few messages. knftables on such a node pays the same; the kernel itself commits the change
in about a millisecond.

What: `encode()` turns the operations a partial sync holds into nf_tables messages, the very
bytes nft writes for them (tests/dataplane/test_nft_netlink.py compares them with
`nft --check --debug=mnl` for every shape): chains added, flushed and deleted; map and set
elements added and deleted; and the rules kube-proxy writes in its per-service chains:

    ip saddr 10.180.0.1 jump mark-for-masquerade             (payload, cmp, immediate)
    ip daddr 172.30.0.41 ip saddr != 10.0.0.0/8 jump ...      (prefixes: shorter load or bitwise)
    iifname != "cni0" jump ...   fib saddr type local goto ...  goto service-...   drop
    numgen random mod 2 vmap { 0 : goto endpoint-A , 1 : goto endpoint-B }  (anonymous map)
    meta l4proto tcp dnat to 10.180.0.1:80                    (nat, IPv6: [addr]:port)

Anything else (tables, base chains, chain comments, sets, affinity rules, firewall rules with an
anonymous set) raises Unsupported: the caller sends that transaction with `nft -f -` instead.
`commit()` sends one batch in a namespace (one sendmsg; the kernel checks and commits it as
one transaction, all or nothing) and names the operation the kernel refused.
"""

from __future__ import annotations

import errno
import ipaddress
import os
import socket
import struct
from typing import List, Optional, Sequence, Tuple

from netlab.dataplane import netns
from netlab.dataplane.nfnetlink import NETLINK_NETFILTER, NLMSG_DONE, NLMSG_ERROR, nla
from netlab.proxy.nft_ruleset import Chain, Element, Op, Rule

NFNL_SUBSYS_NFTABLES = 10
NFNL_MSG_BATCH_BEGIN, NFNL_MSG_BATCH_END = 16, 17
NFT_MSG_NEWCHAIN, NFT_MSG_DELCHAIN = 3, 5
NFT_MSG_NEWRULE, NFT_MSG_DELRULE = 6, 8
NFT_MSG_NEWSET = 9
NFT_MSG_NEWSETELEM, NFT_MSG_DELSETELEM = 12, 14
NLM_F_REQUEST, NLM_F_CREATE, NLM_F_APPEND = 0x1, 0x400, 0x800
NLA_F_NESTED = 0x8000
FAMILIES = {"ip": socket.AF_INET, "ip6": socket.AF_INET6}

NFT_JUMP, NFT_GOTO, NF_DROP = -3, -4, 0
NFT_REG_VERDICT, NFT_REG_1, NFT_REG_2 = 0, 1, 2
NETWORK_HEADER = 1
CMP_EQ, CMP_NEQ = 0, 1
META_IIFNAME, META_L4PROTO = 6, 16
PROTOCOLS = {"tcp": 6, "udp": 17, "sctp": 132}
IFNAMSIZ = 16
RTN_LOCAL = 2
NFT_SET_ANONYMOUS, NFT_SET_CONSTANT, NFT_SET_MAP = 0x1, 0x2, 0x8
NFT_DATA_VERDICT = 0xFFFFFF00
TYPE_INTEGER = 4                                     # nft's datatype of numgen's value
# NFTA_SET_USERDATA nft writes for `numgen ... vmap { ... }`'s anonymous map: key byte order
# host, data byte order unset, the key's typeof (numgen), no merging (the same for every modulus)
NUMGEN_MAP_USERDATA = bytes.fromhex("00040100000001040000000004080004010000000100060400000000")

# kube-proxy's maps and sets: the key's parts (addr, proto, port) each padded to 4 bytes
_ADDR, _PROTO, _PORT = "addr", "proto", "port"
KEYS = {
    "cluster-ips": (_ADDR,), "nodeport-ips": (_ADDR,),
    "service-ips": (_ADDR, _PROTO, _PORT), "no-endpoint-services": (_ADDR, _PROTO, _PORT),
    "firewall-ips": (_ADDR, _PROTO, _PORT),
    "service-nodeports": (_PROTO, _PORT), "no-endpoint-nodeports": (_PROTO, _PORT),
}


class Unsupported(Exception):
    """An operation this encoder does not write; the transaction goes through `nft -f -`."""


class KernelRefused(Exception):
    """The kernel refused operation INDEX (0-based) with ERRNO; nothing of the batch was committed."""

    def __init__(self, index: int, code: int):
        super().__init__(f"operation {index + 1}: {os.strerror(code)}")
        self.index, self.errno = index, code


# --- attributes -----------------------------------------------------------------------------

def _str(kind: int, text: str) -> bytes:
    return nla(kind, text.encode() + b"\0")


def _u32(kind: int, value: int) -> bytes:
    return nla(kind, struct.pack(">I", value & 0xFFFFFFFF))


def _nest(kind: int, *parts: bytes) -> bytes:
    return nla(kind | NLA_F_NESTED, b"".join(parts))


def _value(kind: int, data: bytes) -> bytes:
    return _nest(kind, nla(1, data))                 # NFTA_DATA_VALUE


def _verdict_data(kind: int, code: int, chain: Optional[str] = None) -> bytes:
    inner = _u32(1, code) + (_str(2, chain) if chain else b"")   # NFTA_VERDICT_CODE, _CHAIN
    return _nest(kind, _nest(2, inner))              # NFTA_DATA_VERDICT


def _expr(name: str, *attrs: bytes) -> bytes:
    return _nest(1, _str(1, name), _nest(2, *attrs))  # NFTA_LIST_ELEM { NAME, DATA }


def _payload(offset: int, length: int) -> bytes:
    return _expr("payload", _u32(1, NFT_REG_1), _u32(2, NETWORK_HEADER), _u32(3, offset), _u32(4, length))


def _cmp(op: int, data: bytes, reg: int = NFT_REG_1) -> bytes:
    return _expr("cmp", _u32(1, reg), _u32(2, op), _value(3, data))


def _immediate(reg: int, data: bytes) -> bytes:
    return _expr("immediate", _u32(1, reg), _value(2, data))


def _verdict(code: int, chain: Optional[str] = None) -> bytes:
    return _expr("immediate", _u32(1, NFT_REG_VERDICT), _verdict_data(2, code, chain))


# --- rules ----------------------------------------------------------------------------------

class _Rule:
    """One rule's expressions, compiled from kube-proxy's text (a small subset of nft's grammar)."""

    def __init__(self, family: str, text: str):
        self.v6 = family == "ip6"
        self.words = text.split(" ")
        self.pos = 0
        self.exprs: List[bytes] = []
        self.anon_map: Optional[List[Tuple[int, int, str]]] = None   # (key, verdict, chain)
        self.text = text

    def fail(self) -> Unsupported:
        return Unsupported(f"rule {self.text!r}")

    def take(self, n: int = 1) -> List[str]:
        if self.pos + n > len(self.words):
            raise self.fail()
        got = self.words[self.pos:self.pos + n]
        self.pos += n
        return got

    def negation(self) -> int:
        if self.pos < len(self.words) and self.words[self.pos] == "!=":
            self.pos += 1
            return CMP_NEQ
        return CMP_EQ

    def compile(self) -> None:
        ip = "ip6" if self.v6 else "ip"
        while self.pos < len(self.words):
            word = self.take()[0]
            if word == ip:
                self.address()
            elif word == "iifname":
                self.interface()
            elif word == "fib" and self.take(3) == ["saddr", "type", "local"]:
                self.exprs.append(_expr("fib", _u32(3, 1), _u32(2, 3), _u32(1, NFT_REG_1)))  # F_SADDR, ADDRTYPE
                self.exprs.append(_cmp(CMP_EQ, struct.pack("=I", RTN_LOCAL)))
            elif word == "meta" and self.take()[0] == "l4proto":
                proto = PROTOCOLS.get(self.take()[0])
                if proto is None:
                    raise self.fail()
                self.exprs.append(_expr("meta", _u32(2, META_L4PROTO), _u32(1, NFT_REG_1)))
                self.exprs.append(_cmp(CMP_EQ, bytes([proto])))
            elif word in ("jump", "goto"):
                self.exprs.append(_verdict(NFT_JUMP if word == "jump" else NFT_GOTO, self.take()[0]))
                self.end()
            elif word == "drop":
                self.exprs.append(_verdict(NF_DROP))
                self.end()
            elif word == "dnat" and self.take()[0] == "to":
                self.dnat(self.take()[0])
                self.end()
            elif word == "numgen" and self.take(2) == ["random", "mod"]:
                self.numgen()
                self.end()
            else:
                raise self.fail()

    def end(self) -> None:
        if self.pos != len(self.words):
            raise self.fail()

    def address(self) -> None:
        field = self.take()[0]
        if field not in ("saddr", "daddr"):
            raise self.fail()
        op = self.negation()
        try:
            net = ipaddress.ip_network(self.take()[0], strict=True)
        except ValueError:
            raise self.fail() from None
        if (net.version == 6) != self.v6:
            raise self.fail()
        size = 16 if self.v6 else 4
        offset = (8 if field == "saddr" else 24) if self.v6 else (12 if field == "saddr" else 16)
        bits = net.prefixlen
        if bits == 0:
            raise self.fail()
        if bits % 8 == 0:
            # nft loads and compares only the prefix's bytes
            self.exprs.append(_payload(offset, bits // 8))
            self.exprs.append(_cmp(op, net.network_address.packed[:bits // 8]))
            return
        self.exprs.append(_payload(offset, size))
        self.exprs.append(_expr("bitwise", _u32(1, NFT_REG_1), _u32(2, NFT_REG_1), _u32(3, size),
                                _value(4, net.netmask.packed), _value(5, bytes(size))))
        self.exprs.append(_cmp(op, net.network_address.packed))

    def interface(self) -> None:
        op = self.negation()
        name = self.take()[0]
        if name.startswith('"') and name.endswith('"') and len(name) > 1:
            name = name[1:-1]
        raw = name.encode()
        if not raw or "*" in name or "\\" in name or '"' in name or len(raw) >= IFNAMSIZ:
            raise self.fail()
        self.exprs.append(_expr("meta", _u32(2, META_IIFNAME), _u32(1, NFT_REG_1)))
        self.exprs.append(_cmp(op, raw + bytes(IFNAMSIZ - len(raw))))

    def dnat(self, target: str) -> None:
        if self.v6:
            if not target.startswith("["):
                raise self.fail()
            addr, _, port = target[1:].partition("]:")
        else:
            addr, _, port = target.rpartition(":")
        try:
            packed = ipaddress.ip_address(addr).packed
            number = int(port)
        except ValueError:
            raise self.fail() from None
        if len(packed) != (16 if self.v6 else 4) or not 0 < number < 65536:
            raise self.fail()
        self.exprs.append(_immediate(NFT_REG_1, packed))
        self.exprs.append(_immediate(NFT_REG_2, struct.pack(">H", number)))
        family = socket.AF_INET6 if self.v6 else socket.AF_INET
        # NF_NAT_RANGE_PROTO_SPECIFIED: the port is given
        self.exprs.append(_expr("nat", _u32(1, 1), _u32(2, family), _u32(3, NFT_REG_1), _u32(5, NFT_REG_2),
                                _u32(7, 2)))

    def numgen(self) -> None:
        try:
            modulus = int(self.take()[0])
        except ValueError:
            raise self.fail() from None
        if self.take(2) != ["vmap", "{"] or modulus < 1:
            raise self.fail()
        entries = []
        while True:
            key, colon, verdict, chain = self.take(4)
            if colon != ":" or verdict not in ("jump", "goto"):
                raise self.fail()
            entries.append((int(key), NFT_JUMP if verdict == "jump" else NFT_GOTO, chain))
            sep = self.take()[0]
            if sep == "}":
                break
            if sep != ",":
                raise self.fail()
        self.anon_map = entries
        self.exprs.append(_expr("numgen", _u32(1, NFT_REG_1), _u32(2, modulus), _u32(3, 1), _u32(4, 0)))


# --- messages -------------------------------------------------------------------------------

class Batch:
    """The messages of one transaction, each remembered with the operation it came from."""

    def __init__(self, family: str, table: str):
        if family not in FAMILIES:
            raise Unsupported(f"family {family}")
        self.family, self.table = family, table
        self.messages: List[Tuple[int, int, bytes, int]] = []   # (type, flags, attributes, op index)
        self.set_id = 0

    def add(self, kind: int, flags: int, attrs: bytes, index: int) -> None:
        self.messages.append((kind, flags, attrs, index))

    def to_bytes(self) -> bytes:
        """BATCH_BEGIN, the messages (sequence numbers 1..n), BATCH_END."""
        fam = FAMILIES[self.family]
        out = [_header(NFNL_MSG_BATCH_BEGIN, NLM_F_REQUEST, 0, socket.AF_UNSPEC, NFNL_SUBSYS_NFTABLES, b"")]
        for seq, (kind, flags, attrs, _) in enumerate(self.messages, 1):
            out.append(_header((NFNL_SUBSYS_NFTABLES << 8) | kind, NLM_F_REQUEST | flags, seq, fam, 0, attrs))
        out.append(_header(NFNL_MSG_BATCH_END, NLM_F_REQUEST, len(self.messages) + 1, socket.AF_UNSPEC,
                           NFNL_SUBSYS_NFTABLES, b""))
        return b"".join(out)

    def op_index(self, seq: int) -> int:
        """The operation a message (by sequence number) came from; -1 for the batch's frame."""
        return self.messages[seq - 1][3] if 1 <= seq <= len(self.messages) else -1


def _header(kind: int, flags: int, seq: int, family: int, res_id: int, attrs: bytes) -> bytes:
    body = struct.pack("=BBH", family, 0, socket.htons(res_id)) + attrs     # struct nfgenmsg
    return struct.pack("=IHHII", 16 + len(body), kind, flags, seq, 0) + body


def _key(container: str, key: Sequence[str], v6: bool) -> bytes:
    parts = KEYS.get(container)
    if parts is None or len(parts) != len(key):
        raise Unsupported(f"elements of {container}")
    out = b""
    for part, text in zip(parts, key):
        if part == _ADDR:
            try:
                packed = ipaddress.ip_address(text).packed
            except ValueError:
                raise Unsupported(f"element key {text!r}") from None
            if len(packed) != (16 if v6 else 4):
                raise Unsupported(f"element key {text!r}")
            out += packed
        elif part == _PROTO:
            if text not in PROTOCOLS:
                raise Unsupported(f"element key {text!r}")
            out += struct.pack("=I", PROTOCOLS[text])
        else:
            if not text.isdigit() or not 0 < int(text) < 65536:
                raise Unsupported(f"element key {text!r}")
            out += struct.pack(">H", int(text)) + b"\0\0"
    return out


def _element_value(value: Tuple[str, ...]) -> bytes:
    words = " ".join(value).split(" ")
    if words == ["drop"]:
        return _verdict_data(2, NF_DROP)
    if len(words) == 2 and words[0] in ("jump", "goto"):
        return _verdict_data(2, NFT_JUMP if words[0] == "jump" else NFT_GOTO, words[1])
    raise Unsupported(f"element value {' '.join(value)!r}")


def _comment(text: str) -> bytes:
    raw = text.encode() + b"\0"
    if len(raw) > 255:
        raise Unsupported("a comment over 255 bytes")
    return bytes([0, len(raw)]) + raw                # NFTNL_UDATA_*_COMMENT


def encode(ops: Sequence[Op], family: str, table: str) -> Batch:
    """The netlink batch for OPS on TABLE (pure); raises Unsupported for what it does not write."""
    b = Batch(family, table)
    for i, op in enumerate(ops):
        obj = op.obj
        if isinstance(obj, Chain):
            _chain(b, op.verb, obj, i)
        elif isinstance(obj, Rule) and op.verb == "add":
            _rule(b, obj, i)
        elif isinstance(obj, Element) and op.verb in ("add", "delete"):
            _element(b, op.verb, obj, i)
        else:
            raise Unsupported(f"{op.verb} {type(obj).__name__.lower()}")
    return b


def writes(op: Op, family: str, table: str) -> bool:
    """Whether encode() writes OP (else it goes through `nft -f`)."""
    try:
        encode([op], family, table)
        return True
    except Unsupported:
        return False


def _chain(b: Batch, verb: str, chain: Chain, i: int) -> None:
    if chain.type is not None or chain.comment is not None:
        raise Unsupported(f"chain {chain.name} with a hook or a comment")
    table = _str(1, b.table)
    if verb == "add":
        b.add(NFT_MSG_NEWCHAIN, NLM_F_CREATE, table + _str(3, chain.name), i)
    elif verb == "flush":                             # nft flushes a chain by deleting its rules
        b.add(NFT_MSG_DELRULE, 0, table + _str(2, chain.name), i)
    else:
        b.add(NFT_MSG_DELCHAIN, 0, table + _str(3, chain.name), i)


def _rule(b: Batch, obj: Rule, i: int) -> None:
    table = _str(1, b.table)
    rule = _Rule(b.family, obj.rule)
    rule.compile()
    if rule.anon_map is not None:
        # `vmap { ... }`: an anonymous constant map made in the same batch, found by its id
        b.set_id += 1
        sid = b.set_id
        b.add(NFT_MSG_NEWSET, NLM_F_CREATE,
              table + _str(2, "__map%d") + _u32(3, NFT_SET_ANONYMOUS | NFT_SET_CONSTANT | NFT_SET_MAP)
              + _u32(4, TYPE_INTEGER) + _u32(5, 4) + _u32(6, NFT_DATA_VERDICT) + _u32(7, 0) + _u32(10, sid)
              + _nest(9, _u32(1, len(rule.anon_map))) + nla(13, NUMGEN_MAP_USERDATA), i)
        # libnftnl numbers the list's entries 1, 2, 3... (the attribute type is the index)
        elems = b"".join(_nest(n, _value(1, struct.pack("=I", key)), _verdict_data(2, code, chain))
                         for n, (key, code, chain) in enumerate(rule.anon_map, 1))
        b.add(NFT_MSG_NEWSETELEM, NLM_F_CREATE, table + _str(2, "__map%d") + _u32(4, sid) + _nest(3, elems), i)
        rule.exprs.append(_expr("lookup", _u32(2, NFT_REG_1), _u32(3, NFT_REG_VERDICT),
                                _str(1, "__map%d"), _u32(4, sid)))
    attrs = table + _str(2, obj.chain) + _nest(4, *rule.exprs)
    if obj.comment is not None:
        attrs += nla(7, _comment(obj.comment))
    b.add(NFT_MSG_NEWRULE, NLM_F_CREATE | NLM_F_APPEND, attrs, i)


def _element(b: Batch, verb: str, obj: Element, i: int) -> None:
    elem = _value(1, _key(obj.container, obj.key, b.family == "ip6"))      # NFTA_SET_ELEM_KEY
    if verb == "add":
        if obj.value:
            elem += _element_value(obj.value)
        if obj.comment is not None:
            elem += nla(6, _comment(obj.comment))
    message = NFT_MSG_NEWSETELEM if verb == "add" else NFT_MSG_DELSETELEM
    b.add(message, NLM_F_CREATE if verb == "add" else 0,
          _str(1, b.table) + _str(2, obj.container) + _nest(3, _nest(1, elem)), i)


# --- sending --------------------------------------------------------------------------------

def commit(namespace: str, batch: Batch) -> None:
    """Send BATCH in NAMESPACE as one transaction; raise KernelRefused for the operation refused."""
    if not batch.messages:
        return
    data = batch.to_bytes()
    with netns.entered(namespace):
        # a netlink socket acts in the namespace it was created in
        sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_NETFILTER)
    try:
        sock.bind((0, 0))
        if len(data) > 200_000:
            sock.setsockopt(socket.SOL_SOCKET, 32, len(data) * 2)   # SO_SNDBUFFORCE
        # the kernel checks and commits the batch inside sendmsg: any error is queued on return
        sock.send(data)
        refused = _errors(sock, batch)
    finally:
        sock.close()
    if refused is not None:
        raise refused


def _errors(sock: socket.socket, batch: Batch) -> Optional[KernelRefused]:
    first: Optional[KernelRefused] = None
    while True:
        try:
            data = sock.recv(65536, socket.MSG_DONTWAIT)
        except BlockingIOError:
            return first
        off = 0
        while off + 16 <= len(data):
            length, kind, _, seq = struct.unpack_from("=IHHI", data, off)
            if kind == NLMSG_ERROR:
                code = -struct.unpack_from("=i", data, off + 16)[0]
                if code and first is None:
                    first = KernelRefused(batch.op_index(seq), code)
            elif kind == NLMSG_DONE:
                return first
            if length < 16:
                return first or KernelRefused(-1, errno.EPROTO)
            off += (length + 3) & ~3
