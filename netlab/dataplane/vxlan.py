"""flannel's vxlan backend: what each node gets, as a pure plan (network.py carries it out).

What flanneld writes on a node, and where in flannel-io/flannel it does so:

- ``flannel.1``: a VXLAN device, VNI 1, UDP 8472 (the kernel's default, which flannel leaves in
  place), ``nolearning``, local = the node IP, on eth0, MTU = eth0's - 50, a MAC of its own
  (pkg/backend/vxlan/device.go newVXLANDevice; vxlan.go), holding the node's subnet address as a
  /32 (``10.244.K.0/32``, vxlan.go ``dev.Configure(ip.IP4Net{IP: lease.Subnet.IP, PrefixLen: 32}``).
- per remote node, in this order (vxlan_network.go handleSubnetEvents, "the kernel would ARP for
  the Gw IP address if it hadn't already been set above so make sure this is done last"):
  a permanent neighbour ``10.244.J.0 lladdr <J's VTEP MAC>`` (AddARP), a permanent FDB entry
  ``<J's VTEP MAC> dst <J's node IP>`` (AddFDB: AF_BRIDGE, NTF_SELF), then the route
  ``10.244.J.0/24 via 10.244.J.0 dev flannel.1 onlink`` (RouteReplace, RTNH_F_ONLINK).

On a lab with IPv6 (flanneld's EnableIPv6), ``flannel-v6.1`` beside it (vxlan.go RegisterNetwork):
the same VNI and port, local = the node's IPv6 address, a MAC of its own, the node's IPv6 subnet
address as a /128 (``fd00:10:244:K::/128``, ``ConfigureIPv6``), and per remote node the same three
entries of the IPv6 kind (AddV6ARP, AddV6FDB with the remote node's IPv6 address, the onlink route
``fd00:10:244:J::/64 via fd00:10:244:J:: dev flannel-v6.1``). flanneld does not set its MTU
(newVXLANDevice's MTU is its unset attribute less 50, which netlink leaves out), so the kernel
gives it eth0's less the 70 bytes of a VXLAN header over IPv6. An IPv6-only lab has flannel-v6.1
alone (no EnableIPv4: no flannel.1).

flanneld learns the other nodes' VTEP MACs from their Node annotations
(``flannel.alpha.coreos.com/backend-data: {"VNI":1,"VtepMAC":...}``); netlab computes them instead
(stable_mac of the lab and the node), so every node's entries follow from the topology alone.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass

DEVICE = "flannel.1"
DEVICE6 = "flannel-v6.1"
VNI = 1
PORT = 8472                 # the Linux default (IANA's 4789 came later); flannel's Port 0 keeps it


@dataclass(frozen=True)
class Peer:
    """What one node needs to reach another node's pods over VXLAN."""
    node: str
    subnet: str             # the remote pod CIDR, routed via its VTEP address
    vtep_ip: str            # the remote flannel.1's address: the pod CIDR's network address
    vtep_mac: str           # the remote flannel.1's MAC (neighbour entry, FDB entry)
    node_ip: str            # the remote node's underlay IP (FDB dst: the outer destination)


@dataclass(frozen=True)
class Overlay:
    """flannel.1 on one node and its entries for every other node."""
    device: str
    vni: int
    port: int
    local: str              # this node's IP: the outer source
    mtu: int | None         # None: the kernel's (flannel-v6.1)
    mac: str
    address: str            # 10.244.K.0 (fd00:10:244:K::)
    prefixlen: int          # 32 (128)
    peers: tuple


def vtep_mac(topology, node, device: str = DEVICE) -> str:
    """NODE's flannel.1 (DEVICE: flannel-v6.1) MAC: fixed by the lab and the node, so peers need not
    read it back."""
    from netlab.dataplane.network import stable_mac
    return stable_mac(f"{topology.lab}/{node.name}/{device}")


def overlay(topology, node) -> Overlay:
    """flannel.1 as flanneld's vxlan backend writes it on NODE of TOPOLOGY (an IPv4 lab's)."""
    peers = tuple(
        Peer(node=other.name, subnet=str(other.pod_cidr), vtep_ip=str(other.pod_cidr.network_address),
             vtep_mac=vtep_mac(topology, other), node_ip=other.ip)
        for other in topology.nodes if other.name != node.name)
    return Overlay(device=DEVICE, vni=VNI, port=PORT, local=node.ip, mtu=topology.pod_mtu,
                   mac=vtep_mac(topology, node), address=str(node.pod_cidr.network_address), prefixlen=32,
                   peers=peers)


def overlay6(topology, node) -> Overlay:
    """flannel-v6.1 as flanneld's vxlan backend writes it on NODE of a TOPOLOGY with IPv6."""
    peers = tuple(
        Peer(node=other.name, subnet=str(other.pod_cidr6), vtep_ip=str(other.pod_cidr6.network_address),
             vtep_mac=vtep_mac(topology, other, DEVICE6), node_ip=other.ip6)
        for other in topology.nodes if other.name != node.name)
    return Overlay(device=DEVICE6, vni=VNI, port=PORT, local=node.ip6, mtu=None,
                   mac=vtep_mac(topology, node, DEVICE6), address=str(node.pod_cidr6.network_address),
                   prefixlen=128, peers=peers)


def overlays(topology, node) -> tuple:
    """NODE's VXLAN devices, one per family of the lab: flannel.1 (IPv4), flannel-v6.1 (IPv6)."""
    made = []
    if getattr(topology, "ipv4", True):
        made.append(overlay(topology, node))
    if getattr(topology, "dual_stack", False):
        made.append(overlay6(topology, node))
    return tuple(made)


def plan(topology) -> dict:
    """Node name -> its Overlays, for every node of TOPOLOGY."""
    return {node.name: overlays(topology, node) for node in topology.nodes}


# -- the kernel --------------------------------------------------------------------------------

CHECK_COMMAND = ["unshare", "--net", "ip", "link", "add", "netlab-vxcheck", "type", "vxlan",
                 "id", str(VNI), "dstport", str(PORT), "nolearning"]


def kernel_problem(run=subprocess.run) -> str | None:
    """Why this kernel cannot make VXLAN devices, or None when it can.

    The probe runs in a throwaway network namespace of its own (`unshare --net`), which dies with
    the probe: nothing is left behind and the root namespace is never touched."""
    try:
        result = run(CHECK_COMMAND, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError) as err:
        return f"could not probe for VXLAN support: {err}"
    if result.returncode != 0:
        reason = (result.stderr or result.stdout or "").strip().splitlines()
        return ("spec.podNetwork vxlan needs the kernel's VXLAN driver (CONFIG_VXLAN), and a test "
                f"device could not be made: {reason[-1] if reason else 'exit ' + str(result.returncode)}")
    return None
