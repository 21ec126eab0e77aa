"""netlab.dataplane.rtnl_batch: each request it encodes does in a real namespace what pyroute2's
would, one batch gets one answer per request, and a refusal names its request."""

import secrets
import struct
import subprocess

import pytest

from netlab.dataplane import netns, rtnl_batch


def test_every_request_is_a_whole_aligned_netlink_message_with_its_own_sequence_number():
    batch = rtnl_batch.Batch()
    batch.set_link(1, alias="netlab-lab=x")
    batch.add_route("0.0.0.0/0", "10.0.0.1")
    batch.replace_neighbour(2, "fd00::1", "02:00:00:00:00:01", 0x80)
    data = batch.encoded()
    offset, seqs = 0, []
    while offset < len(data):
        length, _, flags, seq, _ = struct.unpack_from("=LHHLL", data, offset)
        assert flags & rtnl_batch.NLM_F_ACK                 # every request is answered
        assert length % 4 == 0 or offset + length == len(data)
        seqs.append(seq)
        offset += (length + 3) & ~3
    assert seqs == [1, 2, 3] and offset == len(data)


@pytest.fixture
def two_namespaces():
    here, there = f"nltest-rb{secrets.token_hex(2)}", f"nltest-rc{secrets.token_hex(2)}"
    for name in (here, there):
        netns.create(name)
    try:
        yield here, there
    finally:
        for name in (here, there):
            netns.delete(name)


def _ip(namespace, *args):
    return subprocess.run(["ip", "-n", namespace, *args], capture_output=True, text=True, check=True).stdout


@pytest.mark.root
def test_a_batch_makes_the_veth_pair_port_addresses_neighbours_and_routes_it_asks_for(two_namespaces):
    here, there = two_namespaces
    _ip(here, "link", "add", "br0", "type", "bridge")
    bridge = int(_ip(here, "-o", "link", "show", "br0").split(":")[0])
    with open(netns.path(there)) as handle, rtnl_batch.socket_in(here) as sock:
        batch = rtnl_batch.Batch()
        batch.add_veth("vethrb", bridge, 1450, "eth0", handle.fileno(), 2, "0a:58:0a:00:00:02")
        batch.set_hairpin("vethrb")
        batch.replace_neighbour(bridge, "10.0.0.2", "0a:58:0a:00:00:02", 0x80)
        assert batch.send(sock) == [0, 0, 0]
    with rtnl_batch.socket_in(there) as sock:
        batch = rtnl_batch.Batch()
        batch.set_link(1, alias="netlab-lab=t")
        batch.add_address(2, "10.0.0.2", 24)
        batch.add_address(2, "fd00::2", 64, flags=0x02)
        batch.set_link(2, mtu=1450)
        batch.replace_neighbour(2, "10.0.0.1", "02:00:00:00:00:01", 0x80)
        batch.add_route("10.1.0.0/16", "10.0.0.1")
        batch.add_route("0.0.0.0/0", "10.0.0.1")
        batch.add_route("::/0", "fd00::1")
        assert batch.send(sock) == [0] * 8
        again = rtnl_batch.Batch()               # a re-run: "already there" is success for an add
        again.add_address(2, "10.0.0.2", 24)
        again.add_route("0.0.0.0/0", "10.0.0.1")
        assert again.send(sock) == [17, 17]
    port = _ip(here, "-d", "link", "show", "vethrb")
    assert "master br0" in port and "mtu 1450" in port and "hairpin on" in port and ",UP" in port
    assert "10.0.0.2 lladdr 0a:58:0a:00:00:02 PERMANENT" in _ip(here, "neigh", "show", "dev", "br0")
    eth0 = _ip(there, "addr", "show", "dev", "eth0")
    assert eth0.startswith("2: eth0@") and "link/ether 0a:58:0a:00:00:02" in eth0 and "mtu 1450" in eth0
    assert "inet 10.0.0.2/24 scope global eth0" in eth0 and "inet6 fd00::2/64 scope global nodad" in eth0
    assert "alias netlab-lab=t" in _ip(there, "link", "show", "lo")
    routes = _ip(there, "route")
    assert "default via 10.0.0.1 dev eth0 proto static" in routes and "10.1.0.0/16 via 10.0.0.1" in routes
    assert "default via fd00::1 dev eth0 proto static" in _ip(there, "-6", "route")
    assert "10.0.0.1 dev eth0 lladdr 02:00:00:00:00:01 PERMANENT" in _ip(there, "neigh")


@pytest.mark.root
def test_a_refused_request_names_itself(two_namespaces):
    here, _ = two_namespaces
    with rtnl_batch.socket_in(here) as sock:
        batch = rtnl_batch.Batch()
        batch.set_hairpin("no-such-port")
        with pytest.raises(rtnl_batch.BatchError, match=r"No such device \(hairpin on no-such-port\)"):
            batch.send(sock)
