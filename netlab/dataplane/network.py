"""The lab's wiring over netlink: underlay switch, nodes, clients and pod interfaces.

Each step is an idempotent ``ensure_*`` that accepts what already exists (CNI plugins' habit), so a
re-run finishes what an interrupted run started. Every netlink socket is opened inside the
namespace it acts on and closed before returning; nothing here ever acts on the root namespace.
"""

from __future__ import annotations

import hashlib
import os
import ipaddress
from contextlib import contextmanager

from pyroute2 import IPRoute
from pyroute2.netlink.exceptions import NetlinkError

from netlab import crashpoints, names
from netlab.dataplane import netns, rtnl_batch, vxlan

EEXIST = 17
ENOENT = 2
ESRCH = 3
NUD_PERMANENT = 0x80      # include/uapi/linux/neighbour.h
NTF_SELF = 0x02           # an FDB entry of the VXLAN device itself, not of a bridge above it
IFA_F_NODAD = 0x02        # include/uapi/linux/if_addr.h
RTNH_F_ONLINK = 0x04      # the gateway is on the link even though no address says so
RTPROT_BOOT = 3           # what the kernel records when, as in flannel's netlink calls, none is given
BRIDGE_PORT_HAIRPIN = 1  # IFLA_BRPORT_MODE: BRIDGE_MODE_HAIRPIN (the CNI bridge plugin's hairpinMode)


class WiringError(Exception):
    """A netlink step failed; the message names the namespace and the object."""


@contextmanager
def rtnl(namespace: str):
    """An rtnetlink socket bound to NAMESPACE (a socket keeps the namespace it was made in)."""
    with netns.entered(namespace):
        ipr = IPRoute()
    try:
        yield ipr
    except NetlinkError as err:
        raise WiringError(f"in network namespace {namespace!r}: {err}") from err
    finally:
        ipr.close()


OWNER_TAG = "netlab-lab="


def ensure_namespace(name: str, lab: str) -> None:
    """Namespace NAME, tagged as LAB's: its `lo` carries the alias `netlab-lab=LAB`.

    The tag is what clean-up trusts when a lab's state is lost: a name prefix cannot tell lab `x`'s
    `x-b-node1` from lab `x-b`'s `x-b-node1`, the tag can (`ip -n NAME link show lo` shows it).
    """
    netns.create(name)
    with rtnl(name) as ipr:
        index = _index(ipr, "lo")
        if index is not None:
            ipr.link("set", index=index, ifalias=OWNER_TAG + lab)
    crashpoints.reached("namespace tagged")


def namespace_owner(name: str) -> str | None:
    """The lab that tagged namespace NAME (ensure_namespace), None when untagged or unreadable."""
    if not netns.exists(name):
        return None
    try:
        with rtnl(name) as ipr:
            for link in ipr.get_links(_index(ipr, "lo") or 1):
                alias = link.get_attr("IFLA_IFALIAS") or ""
                if alias.startswith(OWNER_TAG):
                    return alias[len(OWNER_TAG):]
    except (OSError, WiringError):
        return None
    return None


def _index(ipr, ifname: str) -> int | None:
    found = ipr.link_lookup(ifname=ifname)
    return found[0] if found else None


def _ensure_addr(ipr, index: int, address: str, prefixlen: int) -> None:
    """ADDRESS/PREFIXLEN on link INDEX. An IPv6 one skips duplicate address detection: the lab
    hands out every address itself, and DAD would keep it unusable ("tentative") for a second."""
    flags = IFA_F_NODAD if ":" in address else 0
    try:
        ipr.addr("add", index=index, address=address, prefixlen=prefixlen, flags=flags)
    except NetlinkError as err:
        if err.code != EEXIST:
            raise
    else:
        crashpoints.reached("address added")


def _ensure_route(ipr, dst: str, gateway: str) -> None:
    try:
        ipr.route("add", dst=dst, gateway=gateway)
    except NetlinkError as err:
        if err.code != EEXIST:
            raise
    else:
        crashpoints.reached("route added")


def _up(ipr, ifname: str) -> int:
    index = _index(ipr, ifname)
    ipr.link("set", index=index, state="up")
    return index


def _ensure_bridge(ipr, name: str, owner: str = "") -> int:
    """A bridge with a fixed MAC address (derived from OWNER and its name).

    A bridge whose MAC was never set takes the lowest MAC of its ports, so it changes whenever a
    pod's veth comes or goes; every pod's ARP entry for the gateway is then stale and their replies
    go nowhere for seconds (br_stp_recalculate_bridge_id). Setting it once pins it, as kubenet
    does for cbr0.
    """
    mac = stable_mac(f"{owner}/{name}")
    index = _index(ipr, name)
    if index is None:
        try:
            ipr.link("add", ifname=name, kind="bridge", address=mac)
        except NetlinkError as err:
            if err.code != EEXIST:
                raise
        else:
            crashpoints.reached("bridge added")
        index = _index(ipr, name)
    else:
        ipr.link("set", index=index, address=mac)
    return index


def stable_mac(seed: str) -> str:
    """A locally administered unicast MAC address, the same for the same SEED."""
    digest = hashlib.sha256(seed.encode()).digest()
    return ":".join(f"{b:02x}" for b in (0x02,) + tuple(digest[:5]))


def ensure_underlay(topology) -> None:
    """The lab's L2 segment: a bridge in the lab's own namespace, holding the nodes' gateway."""
    if topology.pod_network == "vxlan":      # said before anything of the lab is built
        problem = vxlan.kernel_problem()
        if problem:
            raise WiringError(problem)
    name = topology.underlay_netns
    ensure_namespace(name, _owner(topology))
    with rtnl(name) as ipr:
        _up(ipr, "lo")
        bridge = _ensure_bridge(ipr, names.UNDERLAY_BRIDGE, topology.underlay_netns)
        if getattr(topology, "gateway_host", True):
            _ensure_addr(ipr, bridge, topology.underlay_gateway, topology.prefixlen)
            if _dual_stack(topology):
                _ensure_addr(ipr, bridge, topology.underlay_gateway6, topology.underlay6.prefixlen)
        ipr.link("set", index=bridge, state="up")
        if getattr(topology, "hosts", ()):
            _ensure_host_tunnel(topology, ipr, bridge)


def _owner(topology) -> str:
    return getattr(topology, "owner", None) or topology.lab


HOST_TUNNEL = "hosts0"      # in each host's underlay namespace: the VXLAN port to the other hosts
HOST_TUNNEL_VNI = 4242      # the lab's own segment; flannel's vxlan inside the nodes uses VNI 1
HOST_TUNNEL_PORT = 4789     # IANA's VXLAN port (flannel's nodes use 8472: the two never meet)
ZERO_MAC = "00:00:00:00:00:00"


def _ensure_host_tunnel(topology, ipr, bridge: int) -> None:
    """This host's underlay joined to the other hosts' by a VXLAN tunnel between the machines'
    own addresses: a port of br0 whose frames go out as UDP 4789 to each other host (an all-zero
    FDB entry per host: flooding by head-end replication, learning the rest), so the hosts'
    underlays are one L2 segment and a node reaches every other node's IP as on one machine.

    The device is made in the namespace netlab runs in (the machine's own, where its address
    is) and moved into the underlay namespace: a VXLAN device keeps its UDP socket in the
    namespace it was made in, which is how its packets leave by the machine's own network."""
    index = _index(ipr, HOST_TUNNEL)
    here = dict(topology.hosts)[topology.host]
    if index is None:
        temporary = "nlt" + hashlib.sha256(topology.underlay_netns.encode()).hexdigest()[:10]
        with IPRoute() as machine:
            found = machine.link_lookup(ifname=temporary)
            if found:
                machine.link("del", index=found[0])      # left by a run that died before the move
            machine.link("add", ifname=temporary, kind="vxlan", vxlan_id=HOST_TUNNEL_VNI, vxlan_local=here,
                         vxlan_port=HOST_TUNNEL_PORT, vxlan_learning=1, mtu=topology.underlay_mtu)
            moving = machine.link_lookup(ifname=temporary)[0]
            with open(netns.path(topology.underlay_netns)) as handle:
                machine.link("set", index=moving, net_ns_fd=handle.fileno())
        crashpoints.reached("host tunnel added")
        ipr.link("set", index=_index(ipr, temporary), ifname=HOST_TUNNEL)
        index = _index(ipr, HOST_TUNNEL)
    for name, address in topology.hosts:
        if name != topology.host:
            try:
                ipr.fdb("append", ifindex=index, lladdr=ZERO_MAC, dst=address, state=NUD_PERMANENT, flags=NTF_SELF)
            except NetlinkError as err:
                if err.code != EEXIST:
                    raise
    ipr.link("set", index=index, master=bridge, mtu=topology.underlay_mtu, state="up")


def _plug_into_underlay(topology, attached_netns: str) -> None:
    """A veth from the underlay bridge to ``eth0`` of ATTACHED_NETNS (created from the underlay side)."""
    port = names.underlay_port(attached_netns[len(names.lab_prefix(topology.lab)):])
    with rtnl(topology.underlay_netns) as ipr:
        index = _ensure_veth(ipr, port, topology.underlay_netns, attached_netns, names.NODE_UPLINK)
        ipr.link("set", index=index, master=_index(ipr, names.UNDERLAY_BRIDGE), mtu=topology.underlay_mtu,
                 state="up")


def _ensure_veth(ipr, name: str, here: str, peer_netns: str, peer_name: str) -> int:
    """A veth NAME in namespace HERE (IPR) whose peer PEER_NAME is in PEER_NETNS; its index.

    One whose peer is not there (the other namespace was made anew after a crash, while a process
    still held the old one) is replaced, so the wiring always ends with both ends in place."""
    index = _index(ipr, name)
    if index is not None:
        with rtnl(peer_netns) as other:
            if _index(other, peer_name) is None:
                ipr.link("del", index=index)
                index = None
    if index is None:
        with open(netns.path(peer_netns)) as handle:
            try:
                ipr.link("add", ifname=name, kind="veth", peer={"ifname": peer_name, "net_ns_fd": handle.fileno()})
            except NetlinkError as err:
                if err.code != EEXIST:
                    raise WiringError(f"could not add {name!r} in {here!r}: {err}")
            else:
                crashpoints.reached("veth added")
        index = _index(ipr, name)
    return index


def _dual_stack(topology) -> bool:
    return bool(getattr(topology, "dual_stack", False))


def _ensure_on_underlay(topology, namespace: str, ip: str, ip6: str | None = None) -> None:
    """NAMESPACE exists, with lo up and eth0 on the underlay bridge holding IP (and IP6 on a
    dual-stack lab)."""
    ensure_namespace(namespace, _owner(topology))
    _plug_into_underlay(topology, namespace)
    with rtnl(namespace) as ipr:
        _up(ipr, "lo")
        uplink = _index(ipr, names.NODE_UPLINK)
        ipr.link("set", index=uplink, mtu=topology.underlay_mtu, state="up")
        _ensure_addr(ipr, uplink, ip, topology.prefixlen)
        if ip6 and _dual_stack(topology):
            _ensure_addr(ipr, uplink, ip6, topology.underlay6.prefixlen)


def ensure_node(topology, node) -> None:
    """A node: eth0 on the underlay, cni0 with the pod gateway, the pod network backend's routes
    (host-gw: via each node's IP; vxlan: flannel.1 and its entries), forwarding on."""
    dual = _dual_stack(topology)
    _ensure_on_underlay(topology, node.netns, node.ip, node.ip6 if dual else None)
    with rtnl(node.netns) as ipr:
        bridge = _ensure_bridge(ipr, names.POD_BRIDGE, node.netns)
        if node.pod_cidr is not None:         # an IPv6-only lab's cni0 has no IPv4 gateway
            _ensure_addr(ipr, bridge, node.gateway, node.pod_cidr.prefixlen)
        if dual:
            _ensure_addr(ipr, bridge, node.gateway6, node.pod_cidr6.prefixlen)
        # the CNI bridge plugin's `mtu` (flannel-cni passes FLANNEL_MTU): set, so the bridge keeps
        # it rather than following its ports
        ipr.link("set", index=bridge, mtu=topology.pod_mtu, state="up")
        # Real nodes have a default route; without one, node -> ClusterIP fails with ENETUNREACH
        # because the route lookup happens before OUTPUT DNAT (pod-network.md §6.2).
        _ensure_route(ipr, "0.0.0.0/0", topology.underlay_gateway)
        if dual:
            _ensure_route(ipr, "::/0", topology.underlay_gateway6)
        if topology.pod_network == "vxlan":
            for plan in vxlan.overlays(topology, node):       # flannel.1, flannel-v6.1
                _ensure_peers(ipr, plan, _ensure_vxlan_device(ipr, plan, _index(ipr, names.NODE_UPLINK)))
                # flannel's newVXLANDevice: no router advertisements taken on the VXLAN device
                netns.write_sysctl(node.netns, f"net.ipv6.conf.{plan.device.replace('.', '/')}.accept_ra", 0)
        else:
            for other in topology.nodes:
                if other.name != node.name:
                    if other.pod_cidr is not None:
                        _ensure_route(ipr, str(other.pod_cidr), other.ip)
                    if dual:
                        _ensure_route(ipr, str(other.pod_cidr6), other.ip6)
    netns.write_sysctl(node.netns, "net.ipv4.ip_forward", 1)
    # Per namespace since Linux 5.3; needed so a reply between two pods of one bridge passes
    # conntrack and is un-DNATed (pod-network.md §4).
    netns.write_sysctl(node.netns, "net.bridge.bridge-nf-call-iptables", 1)
    if dual:
        netns.write_sysctl(node.netns, "net.ipv6.conf.all.forwarding", 1)
        netns.write_sysctl(node.netns, "net.bridge.bridge-nf-call-ip6tables", 1)
    crashpoints.reached("node sysctls set")


def _ensure_vxlan_device(ipr, plan, uplink_index: int) -> int:
    """flannel.1 as PLAN (vxlan.Overlay) says, up, with its /32; its index. One of another kind, VNI,
    port or local address is replaced, as flannel's ensureLink replaces an incompatible one."""
    index = _index(ipr, plan.device)
    if index is not None and not _vxlan_matches(ipr.get_links(index)[0], plan):
        ipr.link("del", index=index)
        index = None
    ipv6 = ":" in plan.local
    # the outer source of each family; an MTU of None is the kernel's (eth0's less 70 over IPv6)
    local = {"vxlan_local6": plan.local} if ipv6 else {"vxlan_local": plan.local}
    mtu = {} if plan.mtu is None else {"mtu": plan.mtu}
    if index is None:
        try:
            ipr.link("add", ifname=plan.device, kind="vxlan", vxlan_id=plan.vni, vxlan_port=plan.port,
                     vxlan_learning=0, vxlan_link=uplink_index, address=plan.mac, **local, **mtu)
        except NetlinkError as err:
            if err.code != EEXIST:
                raise WiringError(f"could not add {plan.device!r}: {err}")
        else:
            crashpoints.reached("vxlan device added")
        index = _index(ipr, plan.device)
    ipr.link("set", index=index, address=plan.mac, state="up", **mtu)
    _ensure_addr(ipr, index, plan.address, plan.prefixlen)
    return index


def _vxlan_matches(link, plan) -> bool:
    info = link.get_attr("IFLA_LINKINFO")
    if info is None or info.get_attr("IFLA_INFO_KIND") != "vxlan":
        return False
    data = info.get_attr("IFLA_INFO_DATA")
    local = data.get_attr("IFLA_VXLAN_LOCAL6" if ":" in plan.local else "IFLA_VXLAN_LOCAL")
    return (data.get_attr("IFLA_VXLAN_ID") == plan.vni and data.get_attr("IFLA_VXLAN_PORT") == plan.port
            and local is not None and ipaddress.ip_address(local) == ipaddress.ip_address(plan.local)
            and not data.get_attr("IFLA_VXLAN_LEARNING"))


def _ensure_peers(ipr, plan, index: int) -> None:
    """Per peer, in flannel's order (vxlan_network.go): neighbour, FDB entry, then the onlink route,
    each a `replace` as flannel's NeighSet and RouteReplace are, so a re-run rewrites, never fails."""
    for peer in plan.peers:
        ipr.neigh("replace", ifindex=index, dst=peer.vtep_ip, lladdr=peer.vtep_mac, state=NUD_PERMANENT)
        ipr.fdb("replace", ifindex=index, lladdr=peer.vtep_mac, dst=peer.node_ip, state=NUD_PERMANENT,
                flags=NTF_SELF)
        ipr.route("replace", dst=peer.subnet, gateway=peer.vtep_ip, oif=index, flags=RTNH_F_ONLINK,
                  proto=RTPROT_BOOT)


def ensure_client(topology, client) -> None:
    """An external client: a namespace on the underlay with its own address and nothing else."""
    _ensure_on_underlay(topology, client.netns, client.ip, getattr(client, "ip6", None))


LOOPBACK_INDEX = 1          # the kernel gives `lo` ifindex 1 in every network namespace
_batch_sockets: dict | None = None   # inside pods_batch(): node netns -> its open rtnetlink socket


@contextmanager
def pods_batch():
    """Wire many pods with one rtnetlink socket per node, not one per pod (opening one costs
    about a millisecond). The sockets close when the batch ends: an open one would keep its
    namespace alive after `ip netns del`."""
    global _batch_sockets
    if _batch_sockets is not None:          # nested: the outer batch owns the sockets
        yield
        return
    _batch_sockets = {}
    try:
        yield
    finally:
        sockets, _batch_sockets = _batch_sockets, None
        for ipr in sockets.values():
            ipr.close()


@contextmanager
def _node_socket(node_netns: str):
    """NODE_NETNS's rtnetlink socket: the batch's (see pods_batch), or one of its own."""
    if _batch_sockets is None:
        with rtnl(node_netns) as ipr:
            yield ipr
        return
    key = (node_netns, os.stat(netns.path(node_netns)).st_ino)
    ipr = _batch_sockets.get(key)
    if ipr is None:
        with netns.entered(node_netns):
            ipr = _batch_sockets[key] = IPRoute()
    try:
        yield ipr
    except NetlinkError as err:
        raise WiringError(f"in network namespace {node_netns!r}: {err}") from err
_bridges: dict = {}         # (node netns, its inode) -> cni0's ifindex: one lookup per node, not per pod


def _bridge_index(ipr, node_netns: str) -> int:
    """cni0's index in NODE_NETNS, remembered for as long as that namespace is the same one."""
    key = (node_netns, os.stat(netns.path(node_netns)).st_ino)
    index = _bridges.get(key)
    if index is None:
        index = _bridges[key] = _index(ipr, names.POD_BRIDGE)
    return index


def ensure_pod_network(topology, node, pod_netns: str, host_veth: str, ip: str, ip6: str | None = None) -> None:
    """A pod's eth0: a veth whose peer is a hairpinning port of the node's cni0 (CNI bridge + host-local).

    This runs once per pod, and a thousand-pod lab spends most of its wiring time here: a new pod
    takes four batches of requests (rtnl_batch: encoded here, one send each), the lo tag, the veth
    pair, its port and neighbours on cni0, and eth0's addresses, neighbours and routes. A re-run
    that finds some of it there goes the careful way, with pyroute2.

    The two ARP entries the pod's traffic needs are pinned (permanent): the pod's on the node's
    cni0, and the gateway's in the pod. Every node of a lab shares one kernel, whose ARP table holds
    1,024 dynamic entries for all namespaces together (gc_thresh3 is host-wide); a lab of 1,000 pods
    needs about twice that, and past the limit connections lose their first packets ("neighbour
    table overflow"). Permanent entries do not count against the limit. The pod's MAC comes from
    its IP (pod_mac), so an entry is right for whichever pod holds that address.

    IP6 is a dual-stack pod's IPv6 address, wired the same way beside IP (its neighbour entries
    are pinned too: the kernel's IPv6 neighbour table has the same shared limit)."""
    netns.create(pod_netns)
    mtu = topology.pod_mtu
    mac = pod_mac(ip or ip6)
    addresses = tuple(a for a in (ip, ip6) if a)
    with rtnl_batch.socket_in(pod_netns) as pod:
        # the tag ensure_namespace writes, and lo up, in one message
        tag = rtnl_batch.Batch()
        tag.set_link(LOOPBACK_INDEX, alias=OWNER_TAG + _owner(topology))
        _sent(tag, pod, pod_netns)
        crashpoints.reached("namespace tagged")
        with _node_socket(node.netns) as ipr:
            bridge = _bridge_index(ipr, node.netns)
            eth0 = _add_pod_veth(node, bridge, host_veth, pod_netns, mtu, mac, addresses)
            if eth0 is None:
                # something of it is there already (a re-run after a crash), or cni0 is not the one
                # remembered: the careful way, with pyroute2
                _bridges.clear()
                index = _ensure_veth(ipr, host_veth, node.netns, pod_netns, names.POD_IFNAME)
                bridge = _bridge_index(ipr, node.netns)
                # both veth ends get FLANNEL_MTU, as the CNI bridge plugin's `mtu` does (makeVethPair)
                ipr.link("set", index=index, master=bridge, mtu=mtu, state="up")
                ipr.link("set", index=index, kind="bridge_slave", mode=BRIDGE_PORT_HAIRPIN)
                for address in addresses:
                    ipr.neigh("replace", ifindex=bridge, dst=address, lladdr=mac, state=NUD_PERMANENT)
                with rtnl(pod_netns) as lookup:
                    eth0 = _index(lookup, names.POD_IFNAME)
        gateway, gateway_mac = node.gateway, bridge_mac(node)
        inside = rtnl_batch.Batch()
        inside.set_link(eth0, mac=mac, mtu=mtu)
        if ip:                             # an IPv6-only lab's pod has IP None
            inside.add_address(eth0, ip, node.pod_cidr.prefixlen)
            inside.replace_neighbour(eth0, gateway, gateway_mac, NUD_PERMANENT)
            # flannel's host-local result: the cluster CIDR and the default route via the gateway.
            inside.add_route(str(topology.cluster_cidr), gateway)
            inside.add_route("0.0.0.0/0", gateway)
        if ip6:
            inside.add_address(eth0, ip6, node.pod_cidr6.prefixlen, flags=IFA_F_NODAD)
            inside.replace_neighbour(eth0, node.gateway6, gateway_mac, NUD_PERMANENT)
            inside.add_route(str(topology.cluster_cidr6), node.gateway6)
            inside.add_route("::/0", node.gateway6)
        _sent(inside, pod, pod_netns)
        crashpoints.reached("pod wired")


def _sent(batch, sock, namespace: str) -> list:
    """BATCH sent on SOCK, NAMESPACE's; a refusal is a WiringError naming the namespace."""
    try:
        return batch.send(sock)
    except rtnl_batch.BatchError as err:
        raise WiringError(f"in network namespace {namespace!r}: {err}") from err


POD_ETH0_INDEX = 2      # a new pod namespace holds lo (1) alone: its eth0 is asked to be the next


def _add_pod_veth(node, bridge: int, host_veth: str, pod_netns: str, mtu: int, mac: str, addresses) -> int | None:
    """A new pod's veth pair in one request, then its port's hairpin and the pod's pinned neighbour
    entries on cni0 in a second: the host end up in cni0 (BRIDGE) with MTU, the pod end eth0 with
    its MAC and MTU at a known index in the pod's namespace. The pod end's index; None, with
    nothing made, when the pair cannot be made so (anything of it there already, or BRIDGE not
    cni0 any more): the caller then goes the careful way."""
    with open(netns.path(pod_netns)) as handle, rtnl_batch.socket_in(node.netns) as sock:
        pair = rtnl_batch.Batch()
        pair.add_veth(host_veth, bridge, mtu, names.POD_IFNAME, handle.fileno(), POD_ETH0_INDEX, mac)
        try:
            pair.send(sock)
        except rtnl_batch.BatchError:
            return None
        crashpoints.reached("veth added")
        port = rtnl_batch.Batch()
        port.set_hairpin(host_veth)
        for address in addresses:
            port.replace_neighbour(bridge, address, mac, NUD_PERMANENT)
        _sent(port, sock, node.netns)
    return POD_ETH0_INDEX


def pod_mac(ip: str) -> str:
    """A pod's eth0 MAC: 0a:58 and the four bytes of its IPv4 address, as the CNI bridge plugin
    made them (hwaddr.GenerateHardwareAddr4) so that an ARP entry outlives the pod that held it.
    An IPv6-only pod's comes the same way from its address's last four bytes (the plugin leaves
    such a pod the kernel's random MAC; a pinned neighbour entry needs one it can know)."""
    return "0a:58:" + ":".join(f"{b:02x}" for b in ipaddress.ip_address(ip).packed[-4:])


def bridge_mac(node) -> str:
    """cni0's MAC on NODE: the one _ensure_bridge gives it."""
    return stable_mac(f"{node.netns}/{names.POD_BRIDGE}")


def remove_pod_network(node_netns: str, pod_netns: str, host_veth: str, ips=()) -> None:
    """Delete a pod's namespace (its veth pair goes with it), any leftover host-side port, and the
    pinned neighbour entries for its addresses IPS on the node's cni0."""
    netns.delete(pod_netns)
    if netns.exists(node_netns):
        with rtnl(node_netns) as ipr:
            bridge = _index(ipr, names.POD_BRIDGE)
            for ip in ips if bridge is not None else ():
                try:
                    ipr.neigh("del", ifindex=bridge, dst=ip)
                except NetlinkError as err:
                    if err.code != ENOENT:
                        raise
            index = _index(ipr, host_veth)
            if index is not None:
                try:
                    ipr.link("del", index=index)
                except NetlinkError as err:
                    if err.code not in (19, ESRCH):  # ENODEV: already gone with the namespace
                        raise


def addresses(namespace: str) -> dict:
    """Interface name -> list of 'ip/prefix' inside NAMESPACE (for status and tests)."""
    result = {}
    with rtnl(namespace) as ipr:
        links = {link["index"]: link.get_attr("IFLA_IFNAME") for link in ipr.get_links()}
        for addr in ipr.get_addr():
            ifname = links.get(addr["index"], "?")
            result.setdefault(ifname, []).append(f"{addr.get_attr('IFA_ADDRESS')}/{addr['prefixlen']}")
    return result


def is_ipv4(text: str) -> bool:
    try:
        return ipaddress.ip_address(text).version == 4
    except ValueError:
        return False


ROUTE_PROTO_NETLAB = 4    # RTPROT_STATIC: in a client namespace every static route is netlab's


def set_host_routes(namespace: str, routes: dict) -> None:
    """Make NAMESPACE's netlab-managed /32 routes exactly ROUTES (ip -> [gateways]; ECMP when several).

    This is the lab's stand-in for a cloud load balancer or MetalLB: the client sends traffic for a
    LoadBalancer or external IP to the nodes that should receive it.
    """
    with rtnl(namespace) as ipr:
        present = {}
        for route in ipr.get_routes(family=2, proto=ROUTE_PROTO_NETLAB):
            present[route.get_attr("RTA_DST")] = route
        for ip in present:
            if ip not in routes:
                ipr.route("del", dst=f"{ip}/32", proto=ROUTE_PROTO_NETLAB)
        for ip, gateways in routes.items():
            if not gateways:
                if ip in present:
                    ipr.route("del", dst=f"{ip}/32", proto=ROUTE_PROTO_NETLAB)
                continue
            if len(gateways) == 1:
                ipr.route("replace", dst=f"{ip}/32", gateway=gateways[0], proto=ROUTE_PROTO_NETLAB)
            else:
                ipr.route("replace", dst=f"{ip}/32", proto=ROUTE_PROTO_NETLAB,
                          multipath=[{"gateway": gw} for gw in gateways])
