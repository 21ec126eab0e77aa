#!/usr/bin/env python3
"""Network plumbing speed: netlab's data plane against the `ip -batch` floor, in the same run.

Builds K nodes x P pods (namespaces, veths, bridge ports, addresses, routes, sysctls) twice for
each pod network backend (host-gw, and vxlan: flannel.1 with its neighbour, FDB and onlink route
per peer, MTU 1450): once with netlab.dataplane.network, once with plain iproute2 — one `ip netns
add` per namespace, one `ip -batch` per namespace (batch lines cannot carry -n) and, under vxlan,
one `bridge -batch` per node for the FDB — and prints both times and their ratio. Then the rate of
pod -> pod requests across nodes under each backend (one new TCP connection a request, a pod on
node1 to a pod on node2) and the vxlan/host-gw ratio. Then, unless --no-up, times `netlab up` of
the default lab until every pod answers.

    sudo .venv/bin/python bench/plumbing.py --nodes 2 --pods 200 [--pod-network host-gw|vxlan|both]

Goals: plumbing <= 1.5x the floor under either backend (issues 2 and 15).
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import threading
import sys
import time
from pathlib import Path
from types import SimpleNamespace

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from netlab import names  # noqa: E402
from netlab.cluster.topology import build_topology  # noqa: E402
from netlab.dataplane import netns, network, vxlan  # noqa: E402


def _config(nodes: int, pod_network: str = "host-gw"):
    node_specs = [SimpleNamespace(name=f"node{k}", labels={}, ip=None) for k in range(1, nodes + 1)]
    return SimpleNamespace(underlay="172.18.0.0/16", pod_cidr="10.244.0.0/16", node_cidr_mask_size=24,
                           nodes=node_specs, clients=[], node_port_range=(30000, 32767),
                           service_cidr="10.96.0.0/12", pod_network=pod_network)


def _pods(topology, per_lab: int):
    """(node, pod netns, host veth, ip) spread round-robin over the nodes."""
    result = []
    for i in range(per_lab):
        node = topology.nodes[i % len(topology.nodes)]
        ip = str(node.pod_cidr.network_address + 2 + i // len(topology.nodes))
        result.append((node, names.pod_netns(topology.lab, "default", f"p{i}"), f"veth{i:08x}", ip))
    return result


def build_with_netlab(topology, pods) -> None:
    network.ensure_underlay(topology)
    for node in topology.nodes:
        network.ensure_node(topology, node)
    with network.pods_batch():              # as reconcile wires a pass's pods
        for node, pod_ns, veth, ip in pods:
            network.ensure_pod_network(topology, node, pod_ns, veth, ip)


def _batch(namespace: str, lines: list) -> None:
    subprocess.run(["ip", "-n", namespace, "-batch", "-"], input="\n".join(lines) + "\n", text=True, check=True)


def _sysctl(namespace: str, key: str, value) -> None:
    subprocess.run(["ip", "netns", "exec", namespace, "sysctl", "-qw", f"{key}={value}"], check=True)


def build_with_ip_batch(topology, pods) -> None:
    """The same result with iproute2 alone: the floor netlab is measured against."""
    under = topology.underlay_netns
    subprocess.run(["ip", "netns", "add", under], check=True)
    for node in topology.nodes:
        subprocess.run(["ip", "netns", "add", node.netns], check=True)
    for _, pod_ns, _, _ in pods:
        subprocess.run(["ip", "netns", "add", pod_ns], check=True)
    lines = ["link set lo up", "link add br0 type bridge", f"addr add {topology.underlay_gateway}/16 dev br0",
             "link set br0 up"]
    for node in topology.nodes:
        lines += [f"link add {node.name} type veth peer name eth0 netns {node.netns}",
                  f"link set {node.name} master br0 up"]
    _batch(under, lines)
    by_node = {}
    for node, pod_ns, veth, ip in pods:
        by_node.setdefault(node.name, []).append((pod_ns, veth, ip))
    mtu = topology.pod_mtu
    for node in topology.nodes:
        lines = ["link set lo up", "link set eth0 up", f"addr add {node.ip}/16 dev eth0",
                 f"link add cni0 mtu {mtu} type bridge", f"addr add {node.gateway}/24 dev cni0", "link set cni0 up",
                 f"route add default via {topology.underlay_gateway}"]
        fdb = []
        if topology.pod_network == "vxlan":
            o = vxlan.overlay(topology, node)
            lines += [f"link add {o.device} address {o.mac} mtu {o.mtu} type vxlan id {o.vni} local {o.local} "
                      f"dev eth0 dstport {o.port} nolearning", f"addr add {o.address}/32 dev {o.device}",
                      f"link set {o.device} up"]
            for peer in o.peers:
                lines += [f"neigh replace {peer.vtep_ip} lladdr {peer.vtep_mac} dev {o.device} nud permanent"]
                fdb += [f"fdb append {peer.vtep_mac} dev {o.device} dst {peer.node_ip} self permanent"]
                lines += [f"route add {peer.subnet} via {peer.vtep_ip} dev {o.device} onlink"]
        else:
            lines += [f"route add {o.pod_cidr} via {o.ip}" for o in topology.nodes if o.name != node.name]
        lines += [f"link set cni0 address {network.bridge_mac(node)}"]
        for pod_ns, veth, ip in by_node.get(node.name, ()):
            # the pod's MAC from its IP and its pinned entry on cni0, as netlab makes them
            lines += [f"link add {veth} mtu {mtu} type veth peer name eth0 mtu {mtu} address {network.pod_mac(ip)} "
                      f"netns {pod_ns}",
                      f"link set {veth} master cni0", f"link set {veth} type bridge_slave hairpin on",
                      f"link set {veth} up", f"neigh replace {ip} lladdr {network.pod_mac(ip)} dev cni0 nud permanent"]
        _batch(node.netns, lines)
        if fdb:
            subprocess.run(["bridge", "-n", node.netns, "-batch", "-"], input="\n".join(fdb) + "\n", text=True,
                           check=True)
        _sysctl(node.netns, "net.ipv4.ip_forward", 1)
        _sysctl(node.netns, "net.bridge.bridge-nf-call-iptables", 1)
        for pod_ns, _, ip in by_node.get(node.name, ()):
            _batch(pod_ns, ["link set lo up", f"addr add {ip}/24 dev eth0", "link set eth0 up",
                            f"neigh replace {node.gateway} lladdr {network.bridge_mac(node)} dev eth0 nud permanent",
                            f"route add {topology.cluster_cidr} via {node.gateway}",
                            f"route add default via {node.gateway}"])


REQUESTS = 2000
_REPLY = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"


def request_rate(topology, pods, requests: int = REQUESTS) -> float:
    """Requests a second from the first pod on node1 to the first pod on node2, each on a new TCP
    connection, over the plumbing BUILD_WITH_NETLAB made (a thread serves in the server's netns)."""
    client = next(p for p in pods if p[0] is topology.nodes[0])
    server = next(p for p in pods if p[0] is topology.nodes[1])
    ready, listener = threading.Event(), []

    def serve() -> None:
        with netns.entered(server[1]):
            sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((server[3], 8080))
        sock.listen(512)
        listener.append(sock)
        ready.set()
        while True:
            try:
                conn, _ = sock.accept()
            except OSError:
                return
            with conn:
                conn.recv(4096)
                conn.sendall(_REPLY)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    ready.wait(5)
    try:
        with netns.entered(client[1]):
            start = time.perf_counter()
            for _ in range(requests):
                with socket.create_connection((server[3], 8080), timeout=5) as conn:
                    conn.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
                    while conn.recv(4096):
                        pass
            return requests / (time.perf_counter() - start)
    finally:
        listener[0].close()
        thread.join(2)


def _remove(prefix: str) -> None:
    for name in netns.list_names(prefix):
        netns.delete(name)


def timed(label: str, lab: str, builder, topology, pods) -> float:
    _remove(names.lab_prefix(lab))
    start = time.perf_counter()
    try:
        builder(topology, pods)
        return time.perf_counter() - start
    finally:
        _remove(names.lab_prefix(lab))


def time_default_up(repo: Path) -> float | None:
    """Seconds for `netlab up` of manifests/ until every pod answers (in-process, no interpreter start)."""
    from netlab import lab as lab_mod, manifest
    lab = f"nlbench{os.getpid() % 10000}"
    loaded = manifest.load([str(repo / "manifests")])
    try:
        start = time.perf_counter()
        report = lab_mod.apply(lab, loaded, create=True, wait_ready=10.0)
        seconds = time.perf_counter() - start
        if report.not_ready:
            print(f"  not answering: {report.not_ready}")
        return seconds
    finally:
        lab_mod.down(lab)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=2)
    parser.add_argument("--pods", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--pod-network", choices=["host-gw", "vxlan", "both"], default="both")
    parser.add_argument("--no-up", action="store_true", help="skip timing `netlab up` of the default lab")
    args = parser.parse_args()
    if os.geteuid() != 0:
        print("run as root: it builds network namespaces", file=sys.stderr)
        return 1
    backends = ["host-gw", "vxlan"] if args.pod_network == "both" else [args.pod_network]
    if "vxlan" in backends and vxlan.kernel_problem():
        print(f"skipping vxlan: {vxlan.kernel_problem()}")
        backends.remove("vxlan")
    lab = f"nlb{os.getpid() % 100000}"
    rates = {}
    for backend in backends:
        topology = build_topology(lab, _config(args.nodes, backend))
        pods = _pods(topology, args.pods)
        ours, floor = [], []
        for _ in range(args.rounds):
            floor.append(timed("ip -batch", lab, build_with_ip_batch, topology, pods))
            ours.append(timed("netlab", lab, build_with_netlab, topology, pods))
        best_ours, best_floor = min(ours), min(floor)
        print(f"plumbing, {backend}, {args.nodes} nodes x {args.pods} pods (best of {args.rounds}):")
        print(f"  ip -batch floor : {best_floor:.3f} s")
        print(f"  netlab          : {best_ours:.3f} s")
        print(f"  ratio           : {best_ours / best_floor:.2f}x the floor (goal: <= 1.5x)")
        _remove(names.lab_prefix(lab))
        try:
            build_with_netlab(topology, pods)
            rates[backend] = request_rate(topology, pods)
        finally:
            _remove(names.lab_prefix(lab))
        print(f"  pod -> pod across nodes: {rates[backend]:.0f} requests/s ({REQUESTS} new connections)")
    if len(rates) == 2:
        print(f"request rate, vxlan / host-gw: {rates['vxlan'] / rates['host-gw']:.2f}")
    if not args.no_up:
        seconds = time_default_up(Path(__file__).resolve().parent.parent)
        print(f"default lab up, every pod answering: {seconds:.3f} s (goal: < 1 s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
