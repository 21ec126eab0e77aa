"""Pod IPs the way CNI host-local hands them out: round-robin from .2, skipping the gateway.

host-local remembers the last reserved address per range and continues after it, wrapping at the
end, so a re-created pod gets the *next* address rather than the one just freed
(plugins/ipam/host-local/backend/allocator/allocator.go). A dual-stack pod gets one address from
each of its node's ranges, each range with its own memory (host-local's last_reserved_ip.0 and
last_reserved_ip.1).
"""

from __future__ import annotations

import ipaddress


class RangeFull(Exception):
    """No free address is left in a node's pod CIDR."""


def last_reserved_key(node: str, cidr) -> str:
    """Where a node's last reserved address of CIDR's family is kept in the lab's last_reserved map:
    the node's name for IPv4 (as before dual-stack, so older labs' records still read), NAME/IPv6
    for IPv6 (node names are DNS labels, so the two never clash)."""
    return node if cidr.version == 4 else f"{node}/IPv6"


def allocate(cidr, used: set, last_reserved: str | None) -> str:
    """Return the next free address of CIDR after LAST_RESERVED (host-local's iterator)."""
    first = int(cidr.network_address) + 2          # .1 (::1) is the gateway on cni0
    # host-local's lastIP: the broadcast address is never handed out; IPv6 has none to skip
    last = int(cidr.broadcast_address) - (1 if cidr.version == 4 else 0)
    size = last - first + 1
    if size <= 0:
        raise RangeFull(f"pod CIDR {cidr} is too small to allocate from")
    address = type(cidr.network_address)          # an IPv6 range's low addresses are not IPv4 ones
    start = first
    if last_reserved is not None:
        value = int(ipaddress.ip_address(last_reserved))
        if first <= value <= last:
            start = value + 1 if value < last else first
    for step in range(size):
        candidate = str(address(first + (start - first + step) % size))
        if candidate not in used:
            return candidate
    raise RangeFull(f"pod CIDR {cidr} has no free address left ({size} in use)")
