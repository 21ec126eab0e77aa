"""spec.podNetwork and flannel's vxlan plan, without a kernel: what every node's flannel.1 and
entries are, computed from the topology alone."""

import subprocess
from textwrap import dedent

import pytest

from netlab.cluster.topology import build_topology
from netlab.dataplane import vxlan
from netlab.manifest import ManifestError, loads

HEAD = "apiVersion: netlab.io/v1alpha1\nkind: Cluster\n"


def topology(spec="", lab="vx"):
    return build_topology(lab, loads(HEAD + "spec:\n" + (spec or "  nodes: 3\n"), "lab.yaml").lab)


def test_pod_network_defaults_to_host_gw_with_the_underlay_mtu():
    topo = topology()
    assert topo.pod_network == "host-gw" and topo.pod_mtu == 1500
    assert loads(HEAD, "lab.yaml").lab.pod_network == "host-gw"


def test_vxlan_takes_the_encapsulation_off_the_pod_mtu():
    topo = topology("  nodes: 2\n  podNetwork: vxlan\n")
    assert topo.pod_network == "vxlan" and topo.pod_mtu == 1450


def test_a_bad_pod_network_is_a_file_line_field_error():
    text = HEAD + dedent("""\
        spec:
          nodes: 2
          podNetwork: ipip
        """)
    with pytest.raises(ManifestError) as info:
        loads(text, "lab.yaml")
    message = str(info.value)
    assert "lab.yaml:5" in message and "spec.podNetwork" in message
    assert '"ipip"' in message and '"host-gw"' in message and '"vxlan"' in message


def test_each_node_gets_flannel_1_with_vni_1_port_8472_local_node_ip_and_a_32():
    topo = topology("  nodes: 3\n  podNetwork: vxlan\n")
    node1 = vxlan.overlay(topo, topo.node("node1"))
    assert (node1.device, node1.vni, node1.port, node1.local, node1.mtu) == ("flannel.1", 1, 8472, "172.18.0.2", 1450)
    assert (node1.address, node1.prefixlen) == ("10.244.1.0", 32)


def test_peers_are_every_other_node_with_flannels_neighbour_fdb_and_route_values():
    topo = topology("  nodes: 3\n  podNetwork: vxlan\n")
    plan = vxlan.plan(topo)
    (node1,) = plan["node1"]
    peers = {p.node: p for p in node1.peers}
    assert sorted(peers) == ["node2", "node3"]
    node3 = peers["node3"]
    assert (node3.subnet, node3.vtep_ip, node3.node_ip) == ("10.244.3.0/24", "10.244.3.0", "172.18.0.4")
    # what node1 believes node3's VTEP MAC is, node3's flannel.1 really has
    assert node3.vtep_mac == plan["node3"][0].mac


def test_a_lab_with_ipv6_gets_flannel_v6_beside_flannel_1_and_an_ipv6_only_one_it_alone():
    dual = vxlan.plan(topology("  nodes: 2\n  podNetwork: vxlan\n  ipFamilies: [IPv4, IPv6]\n"))
    v4, v6 = dual["node1"]
    assert (v4.device, v6.device) == ("flannel.1", "flannel-v6.1")
    assert (v6.vni, v6.port, v6.local, v6.address, v6.prefixlen) == (1, 8472, "fc00:f853:ccd:e793::2",
                                                                      "fd00:10:244:1::", 128)
    assert v6.mtu is None and v6.mac != v4.mac          # the kernel's MTU, a MAC of its own
    (peer,) = v6.peers
    assert (peer.subnet, peer.vtep_ip, peer.node_ip) == ("fd00:10:244:2::/64", "fd00:10:244:2::",
                                                         "fc00:f853:ccd:e793::3")
    assert peer.vtep_mac == dual["node2"][1].mac
    only6 = vxlan.plan(topology("  nodes: 2\n  podNetwork: vxlan\n  ipFamilies: [IPv6]\n"))
    assert [o.device for o in only6["node1"]] == ["flannel-v6.1"]


def test_vtep_macs_are_stable_unicast_locally_administered_and_distinct():
    topo = topology("  nodes: 3\n  podNetwork: vxlan\n")
    macs = [vxlan.overlay(topo, n).mac for n in topo.nodes]
    assert macs == [vxlan.overlay(topology("  nodes: 3\n  podNetwork: vxlan\n"), n).mac for n in topo.nodes]
    assert len(set(macs)) == 3
    for mac in macs:
        first = int(mac.split(":")[0], 16)
        assert first & 0x02 and not first & 0x01
    other_lab = build_topology("vy", loads(HEAD + "spec:\n  nodes: 3\n  podNetwork: vxlan\n", "x").lab)
    assert vxlan.overlay(other_lab, other_lab.nodes[0]).mac != macs[0]


def test_a_single_node_has_no_peers():
    topo = topology("  nodes: 1\n  podNetwork: vxlan\n")
    assert vxlan.overlay(topo, topo.nodes[0]).peers == ()


def test_the_kernel_probe_runs_in_its_own_namespace_and_reports_one_line():
    calls = []

    def missing(command, **_):
        calls.append(command)
        return subprocess.CompletedProcess(command, 2, "", "Error: Unknown device type.\n")

    problem = vxlan.kernel_problem(run=missing)
    assert calls[0][:2] == ["unshare", "--net"]
    assert "\n" not in problem and "CONFIG_VXLAN" in problem and "Unknown device type" in problem
    assert vxlan.kernel_problem(run=lambda c, **_: subprocess.CompletedProcess(c, 0, "", "")) is None


def test_a_sysctl_key_spells_a_dot_in_an_interface_name_with_a_slash_as_sysctl_does():
    from netlab.dataplane.netns import _proc_path
    assert _proc_path("net.ipv6.conf.flannel/1.accept_ra") == "/proc/sys/net/ipv6/conf/flannel.1/accept_ra"
    assert _proc_path("net.ipv4.ip_forward") == "/proc/sys/net/ipv4/ip_forward"
