"""Pod IPs the way CNI host-local hands them out: round-robin from .2, skipping the gateway.

host-local remembers the last reserved address per range and continues after it, wrapping at the
end, so a re-created pod gets the *next* address rather than the one just freed
(plugins/ipam/host-local/backend/allocator/allocator.go).
"""

from __future__ import annotations

import ipaddress


class RangeFull(Exception):
    """No free address is left in a node's pod CIDR."""


def allocate(cidr: ipaddress.IPv4Network, used: set, last_reserved: str | None) -> str:
    """Return the next free address of CIDR after LAST_RESERVED (host-local's iterator)."""
    first = int(cidr.network_address) + 2          # .1 is the gateway on cni0
    last = int(cidr.broadcast_address) - 1          # the broadcast address is never handed out
    size = last - first + 1
    if size <= 0:
        raise RangeFull(f"pod CIDR {cidr} is too small to allocate from")
    start = first
    if last_reserved is not None:
        value = int(ipaddress.ip_address(last_reserved))
        if first <= value <= last:
            start = value + 1 if value < last else first
    for step in range(size):
        candidate = str(ipaddress.ip_address(first + (start - first + step) % size))
        if candidate not in used:
            return candidate
    raise RangeFull(f"pod CIDR {cidr} has no free address left ({size} in use)")
