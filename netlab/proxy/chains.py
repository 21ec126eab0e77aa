"""kube-proxy's chain names, computed in one place (notes §1, §3; proxier.go).

Fixed chains keep kube-proxy's names. Per-service chains are a fixed prefix plus 16
characters of base32(sha256(...)) (RFC 4648 alphabet, no separators in the hashed text):

    KUBE-SVC-{h}  KUBE-SVL-{h}  KUBE-EXT-{h}  KUBE-FW-{h}   h = hash(svcPortName + protocol)
    KUBE-SEP-{e}                                            e = hash(svcPortName + protocol + endpoint)

svcPortName is ``ns/name:port`` (``ns/name`` for an unnamed port), protocol is lower case
(``tcp``), endpoint is ``ip:port`` (``[ip]:port`` for IPv6). Names stay within iptables'
28-character limit (at most 9 + 16).
"""

from __future__ import annotations

import base64
import hashlib
from functools import lru_cache
from typing import NamedTuple, Tuple

# Chains kube-proxy owns (proxier.go constants).
KUBE_SERVICES = "KUBE-SERVICES"
KUBE_EXTERNAL_SERVICES = "KUBE-EXTERNAL-SERVICES"
KUBE_NODEPORTS = "KUBE-NODEPORTS"
KUBE_POSTROUTING = "KUBE-POSTROUTING"
KUBE_MARK_MASQ = "KUBE-MARK-MASQ"
KUBE_FORWARD = "KUBE-FORWARD"
KUBE_PROXY_FIREWALL = "KUBE-PROXY-FIREWALL"
KUBE_PROXY_CANARY = "KUBE-PROXY-CANARY"
# Shared with kubelet (it writes the identical anti-martian rule); kube-proxy never deletes it.
KUBE_FIREWALL = "KUBE-FIREWALL"

SVC_PREFIX = "KUBE-SVC-"
SVL_PREFIX = "KUBE-SVL-"
EXT_PREFIX = "KUBE-EXT-"
FW_PREFIX = "KUBE-FW-"
SEP_PREFIX = "KUBE-SEP-"
SERVICE_CHAIN_PREFIXES = (SVC_PREFIX, SVL_PREFIX, SEP_PREFIX, FW_PREFIX, EXT_PREFIX)

# The chains declared at the top of each restore section, in kube-proxy's order (§2).
FILTER_CHAINS = (KUBE_SERVICES, KUBE_EXTERNAL_SERVICES, KUBE_FORWARD, KUBE_NODEPORTS,
                 KUBE_PROXY_FIREWALL)
NAT_CHAINS = (KUBE_SERVICES, KUBE_NODEPORTS, KUBE_POSTROUTING, KUBE_MARK_MASQ)

# Built-in chains per table in the order iptables-save lists them.
BUILTIN_CHAINS = {
    "filter": ("INPUT", "FORWARD", "OUTPUT"),
    "nat": ("PREROUTING", "INPUT", "OUTPUT", "POSTROUTING"),
    "mangle": ("PREROUTING", "INPUT", "FORWARD", "OUTPUT", "POSTROUTING"),
}

_sha256 = hashlib.sha256
_B32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"  # RFC 4648, as Go's base32.StdEncoding
# Two base32 digits per 10-bit value: 16 digits are the first 80 bits (10 bytes) of the
# digest, so the prefix can be computed without encoding all 32 bytes (base64.b32encode is
# pure Python and dominated render time at 10,000 Services).
_PAIRS = [_B32[i >> 5] + _B32[i & 31] for i in range(1024)]


def _hash16(text: str) -> str:
    """base32(sha256(text))[:16]."""
    n = int.from_bytes(_sha256(text.encode()).digest()[:10], "big")
    p = _PAIRS
    return (p[n >> 70] + p[(n >> 60) & 1023] + p[(n >> 50) & 1023] + p[(n >> 40) & 1023]
            + p[(n >> 30) & 1023] + p[(n >> 20) & 1023] + p[(n >> 10) & 1023] + p[n & 1023])


def _hash16_reference(text: str) -> str:
    """The same with the standard library, for tests."""
    return base64.b32encode(_sha256(text.encode()).digest())[:16].decode()


@lru_cache(maxsize=65536)  # the same names are asked for on every node of a lab
def port_proto_hash(svc_port_name: str, protocol: str) -> str:
    """portProtoHash: the 16 characters shared by a service port's SVC/SVL/EXT/FW chains."""
    return _hash16(svc_port_name + protocol)


@lru_cache(maxsize=262144)
def endpoint_chain(svc_port_name: str, protocol: str, endpoint: str) -> str:
    """servicePortEndpointChainName: KUBE-SEP-… for one endpoint (``ip:port``) of a service port."""
    return SEP_PREFIX + _hash16(svc_port_name + protocol + endpoint)


class ServiceChainNames(NamedTuple):
    """The four per-service-port chain names (whether each exists depends on the service)."""

    svc: str
    svl: str
    ext: str
    fw: str


def service_chains(svc_port_name: str, protocol: str) -> ServiceChainNames:
    """KUBE-SVC/SVL/EXT/FW names of a service port (protocol lower case)."""
    h = port_proto_hash(svc_port_name, protocol)
    return ServiceChainNames(SVC_PREFIX + h, SVL_PREFIX + h, EXT_PREFIX + h, FW_PREFIX + h)


def is_service_chain(name: str) -> bool:
    """isServiceChainName: a per-service chain that a sync may delete when stale."""
    return name.startswith(SERVICE_CHAIN_PREFIXES)


class JumpChain(NamedTuple):
    """One entry of iptablesJumpChains / iptablesKubeletJumpChains (proxier.go)."""

    table: str
    dst: str
    src: str
    comment: str
    extra_args: Tuple[str, ...]


_NEW = ("-m", "conntrack", "--ctstate", "NEW")

# Hook rules are a literal table, in kube-proxy's order (§1.2). kube-proxy ensures each with
# `iptables -I SRC ...` (insert at position 1), so a chain ends up with them in reverse.
JUMP_CHAINS = (
    JumpChain("filter", KUBE_EXTERNAL_SERVICES, "INPUT", "kubernetes externally-visible service portals", _NEW),
    JumpChain("filter", KUBE_EXTERNAL_SERVICES, "FORWARD", "kubernetes externally-visible service portals", _NEW),
    JumpChain("filter", KUBE_NODEPORTS, "INPUT", "kubernetes health check service ports", ()),
    JumpChain("filter", KUBE_SERVICES, "FORWARD", "kubernetes service portals", _NEW),
    JumpChain("filter", KUBE_SERVICES, "OUTPUT", "kubernetes service portals", _NEW),
    JumpChain("filter", KUBE_FORWARD, "FORWARD", "kubernetes forwarding rules", ()),
    JumpChain("filter", KUBE_PROXY_FIREWALL, "INPUT", "kubernetes load balancer firewall", _NEW),
    JumpChain("filter", KUBE_PROXY_FIREWALL, "OUTPUT", "kubernetes load balancer firewall", _NEW),
    JumpChain("filter", KUBE_PROXY_FIREWALL, "FORWARD", "kubernetes load balancer firewall", _NEW),
    JumpChain("nat", KUBE_SERVICES, "OUTPUT", "kubernetes service portals", ()),
    JumpChain("nat", KUBE_SERVICES, "PREROUTING", "kubernetes service portals", ()),
    JumpChain("nat", KUBE_POSTROUTING, "POSTROUTING", "kubernetes postrouting rules", ()),
    # iptablesKubeletJumpChains: duplicates of kubelet's, no comment.
    JumpChain("filter", KUBE_FIREWALL, "INPUT", "", ()),
    JumpChain("filter", KUBE_FIREWALL, "OUTPUT", "", ()),
)


def jump_rule_args(jump: JumpChain) -> str:
    """The rule text kube-proxy passes to `iptables -C/-I` for one jump (extra args, comment, -j)."""
    words = list(jump.extra_args)
    if jump.comment:
        words += ["-m", "comment", "--comment", f'"{jump.comment}"']
    words += ["-j", jump.dst]
    return " ".join(words)


def builtin_jump_rules(table: str) -> Tuple[Tuple[str, str], ...]:
    """(chain, rule args) of kube-proxy's jumps in TABLE, in the order a node shows them.

    Each jump is inserted at the top of its chain in JUMP_CHAINS order, so within a chain the
    last inserted comes first; chains are listed in iptables-save's built-in order.
    """
    out = []
    for chain in BUILTIN_CHAINS.get(table, ()):
        inserted = [jump_rule_args(j) for j in JUMP_CHAINS if j.table == table and j.src == chain]
        out.extend((chain, args) for args in reversed(inserted))
    return tuple(out)
