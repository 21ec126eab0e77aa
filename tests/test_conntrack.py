"""`netlab conntrack`: conntrack -L's entries parsed, named and told apart by their NAT."""

from types import SimpleNamespace

from netlab import conntrack

LISTING = """\
tcp      6 117 TIME_WAIT src=10.244.1.5 dst=10.96.12.7 sport=40000 dport=80 src=10.244.2.3 dst=10.244.1.5 sport=80 dport=40000 [ASSURED] mark=0 use=1
tcp      6 86399 ESTABLISHED src=172.18.0.100 dst=172.18.0.3 sport=5555 dport=30080 src=10.244.1.4 dst=10.244.2.1 sport=80 dport=5555 [ASSURED] mark=0 use=1
udp      17 29 src=10.244.1.5 dst=10.244.1.2 sport=5353 dport=53 src=10.244.1.2 dst=10.244.1.5 sport=53 dport=5353 mark=0 use=1
conntrack v1.4.7 (conntrack-tools): 3 flow entries have been shown.
"""

TOPOLOGY = SimpleNamespace(nodes=[SimpleNamespace(name="node1", ip="172.18.0.2", gateway="10.244.1.1"),
                                  SimpleNamespace(name="node2", ip="172.18.0.3", gateway="10.244.2.1")],
                           clients=[SimpleNamespace(name="client", ip="172.18.0.100")])
PODS = [{"metadata": {"name": n, "namespace": ns}, "status": {"podIP": ip}}
        for n, ns, ip in (("curl", "default", "10.244.1.5"), ("web-a", "default", "10.244.2.3"),
                          ("web-b", "default", "10.244.1.4"), ("coredns-x", "kube-system", "10.244.1.2"))]
SERVICES = [{"metadata": {"name": "web", "namespace": "default"},
             "spec": {"clusterIP": "10.96.12.7", "ports": [{"port": 80, "nodePort": 30080}]}}]


def test_entries_parse_into_original_and_reply_tuples():
    first, nodeport, dns = conntrack.parse(LISTING)
    assert (first.protocol, first.state, first.flags) == ("tcp", "TIME_WAIT", ("ASSURED",))
    assert first.original == ("10.244.1.5", "40000", "10.96.12.7", "80")
    assert first.reply == ("10.244.2.3", "80", "10.244.1.5", "40000")
    assert first.dnat and not first.snat
    assert nodeport.dnat and nodeport.snat                      # a NodePort from outside, masqueraded
    assert dns.state == "" and not dns.dnat and not dns.snat    # pod to pod: no NAT


def test_each_line_names_the_addresses_and_the_nat():
    names = conntrack.lab_names(PODS, SERVICES, TOPOLOGY)
    first, nodeport, dns = (conntrack.describe(e, names) for e in conntrack.parse(LISTING))
    assert first == "tcp  TIME_WAIT   pod/curl(10.244.1.5:40000) -> svc/web(10.96.12.7:80)  DNAT -> pod/web-a(10.244.2.3:80)"
    assert nodeport == ("tcp  ESTABLISHED client/client(172.18.0.100:5555) -> node/node2(172.18.0.3:30080)  DNAT -> "
                        "pod/web-b(10.244.1.4:80)  SNAT from node/node2:cni0(10.244.2.1:5555)")
    assert dns == "udp  -           pod/curl(10.244.1.5:5353) -> pod/kube-system/coredns-x(10.244.1.2:53)"


def test_a_services_connections_are_the_ones_to_its_addresses_node_ports_or_endpoints():
    first, nodeport, dns = conntrack.parse(LISTING)
    node_ips = {"172.18.0.2", "172.18.0.3"}
    assert conntrack.belongs_to(first, SERVICES[0], set(), node_ips)
    assert conntrack.belongs_to(nodeport, SERVICES[0], set(), node_ips)
    assert not conntrack.belongs_to(dns, SERVICES[0], {"10.244.2.3:80"}, node_ips)


def test_ipv6_endpoints_are_written_in_brackets_and_match_their_endpoints():
    (entry,) = conntrack.parse(
        "tcp      6 117 TIME_WAIT src=fd00:10:244:1::5 dst=fd00:10:96::c sport=40000 dport=80 "
        "src=fd00:10:244:2::3 dst=fd00:10:244:1::5 sport=80 dport=40000 [ASSURED] mark=0 use=1\n")
    names = {"fd00:10:244:1::5": "pod/curl", "fd00:10:96::c": "svc/web"}
    assert conntrack.describe(entry, names) == ("tcp  TIME_WAIT   pod/curl([fd00:10:244:1::5]:40000) -> "
                                                "svc/web([fd00:10:96::c]:80)  DNAT -> [fd00:10:244:2::3]:80")
    other = {"metadata": {"name": "other"}, "spec": {"clusterIP": "fd00:10:96::d", "ports": [{"port": 81}]}}
    assert conntrack.belongs_to(entry, other, {"[fd00:10:244:2::3]:80"}, set())
