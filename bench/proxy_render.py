#!/usr/bin/env python3
"""Benchmark: render kube-proxy's rules for N Services × 5 endpoints, then restore them.

For each size (default 1,000 and 10,000 Services) this renders the whole-tables text for
one node (model → Ruleset → text, timed), then loads it with plain iptables-restore into a
scratch network namespace (iptables-nft-restore and iptables-legacy-restore, where
installed) and prints render seconds, rules per second, restore seconds and the ratio
render/restore. Goal: rendering 10,000 Services takes less than half the nft restore time.

Needs root for the restore part (`ip netns add`); without root, or with --no-restore, it
only renders. The namespace is named netlab-bench-<pid> and always deleted; the root
namespace's iptables are never touched. Tables are not read back (iptables-nft-save of
10,000 Services alone takes ~26 s).

    sudo .venv/bin/python bench/proxy_render.py [--sizes 1000,10000] [--endpoints 5]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from netlab.proxy.model import Endpoint, ProxyConfig, ServicePort  # noqa: E402
from netlab.proxy.objects import Inventory, render_input_from_inventory  # noqa: E402
from netlab.proxy.render import render  # noqa: E402

NODE = "node1"
NODES = ("node1", "node2", "node3")


def make_inputs(services: int, endpoints: int):
    """N ClusterIP Services (every 10th a NodePort) with ENDPOINTS pods spread over 3 nodes."""
    ports, eps = [], []
    for i in range(services):
        name = f"svc-{i:05d}"
        node_port = 30000 + (i // 10) % 2768 if i % 10 == 0 else 0
        ports.append(ServicePort(
            namespace="bench", name=name, port_name="http", protocol="TCP",
            cluster_ip=f"10.96.{i // 256}.{i % 256}", port=80,
            type="NodePort" if node_port else "ClusterIP", node_port=node_port))
        for j in range(endpoints):
            k = i * endpoints + j
            eps.append(Endpoint(
                namespace="bench", service=name, port_name="http", protocol="TCP",
                ip=f"10.{(k >> 16) % 256 + 100}.{(k >> 8) % 256}.{k % 256}", port=8080,
                node_name=NODES[k % 3]))
    return ports, eps


def as_objects(ports, eps):
    """The same inputs as Kubernetes Service and EndpointSlice dicts (one slice per Service)."""
    objects = []
    by_service = {}
    for e in eps:
        by_service.setdefault(e.service, []).append(e)
    for p in ports:
        port = {"name": p.port_name, "port": p.port, "protocol": p.protocol}
        if p.node_port:
            port["nodePort"] = p.node_port
        objects.append({"apiVersion": "v1", "kind": "Service",
                        "metadata": {"namespace": p.namespace, "name": p.name},
                        "spec": {"type": p.type, "clusterIP": p.cluster_ip, "ports": [port]}})
        objects.append({
            "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice", "addressType": "IPv4",
            "metadata": {"namespace": p.namespace, "name": p.name + "-x",
                         "labels": {"kubernetes.io/service-name": p.name}},
            "ports": [{"name": p.port_name, "port": 8080, "protocol": "TCP"}],
            "endpoints": [{"addresses": [e.ip], "nodeName": e.node_name,
                           "conditions": {"ready": True}} for e in by_service[p.name]]})
    return objects


def time_objects(services: int, endpoints: int) -> float:
    """Seconds to turn the Kubernetes dicts into the model (objects.py)."""
    objects = as_objects(*make_inputs(services, endpoints))
    t0 = time.perf_counter()
    render_input_from_inventory(Inventory().add(objects), NODE, node_ips=("172.18.0.2",),
                                cluster_cidr="10.100.0.0/14", nfacct=False)
    return time.perf_counter() - t0


def config() -> ProxyConfig:
    # nfacct=False: a scratch namespace has no nfacct counters (-m nfacct would fail).
    return ProxyConfig(node_name=NODE, node_ips=("172.18.0.2",), cluster_cidr="10.100.0.0/14",
                       nfacct=False)


def time_render(services: int, endpoints: int, repeat: int):
    ports, eps = make_inputs(services, endpoints)
    cfg = config()
    best = None
    for _ in range(repeat):
        t0 = time.perf_counter()
        ruleset = render(cfg, ports, eps)
        t1 = time.perf_counter()
        text = ruleset.to_restore_text(include_builtin_jumps=True)
        t2 = time.perf_counter()
        if best is None or t2 - t0 < best[0]:
            best = (t2 - t0, t1 - t0, t2 - t1, ruleset, text)
    return best


def restore_tools():
    tools = []
    for name in ("iptables-nft-restore", "iptables-legacy-restore"):
        path = shutil.which(name)
        if path:
            tools.append((name, path))
    return tools


def time_restore(netns: str, tool: str, text: str) -> float:
    # Start from empty tables each time, so every restore does the same work.
    flush = "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\nCOMMIT\n" \
            "*nat\n:PREROUTING ACCEPT [0:0]\n:INPUT ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n" \
            ":POSTROUTING ACCEPT [0:0]\nCOMMIT\n"
    subprocess.run(["ip", "netns", "exec", netns, tool], input=flush.encode(), check=True)
    t0 = time.perf_counter()
    proc = subprocess.run(["ip", "netns", "exec", netns, tool], input=text.encode(),
                          capture_output=True)
    elapsed = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"{tool} failed in {netns}: {proc.stderr.decode().strip()}")
    subprocess.run(["ip", "netns", "exec", netns, tool], input=flush.encode(), check=True)
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,10000")
    parser.add_argument("--endpoints", type=int, default=5)
    parser.add_argument("--repeat", type=int, default=3, help="best of N renders")
    parser.add_argument("--no-restore", action="store_true")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]

    do_restore = not args.no_restore and os.geteuid() == 0 and shutil.which("ip")
    if not args.no_restore and not do_restore:
        print("note: not root (or no `ip`): render only", file=sys.stderr)
    tools = restore_tools() if do_restore else []
    netns = f"netlab-bench-{os.getpid()}"
    created = False
    try:
        if tools:
            subprocess.run(["ip", "netns", "add", netns], check=True)
            created = True
        for n in sizes:
            total, t_render, t_text, ruleset, text = time_render(n, args.endpoints, args.repeat)
            rules = text.count("\n-A ")
            print(f"{n} services x {args.endpoints} endpoints: {rules} rules, "
                  f"{len(text) / 1e6:.1f} MB of restore text")
            print(f"  render  {total:7.3f} s  (model->Ruleset {t_render:.3f} s, text {t_text:.3f} s)"
                  f"  {rules / total:,.0f} rules/s")
            print(f"  (objects.py: Kubernetes dicts -> model {time_objects(n, args.endpoints):.3f} s, "
                  "not included above)")
            for name, path in tools:
                t = time_restore(netns, path, text)
                print(f"  {name:24s} {t:7.3f} s  {rules / t:,.0f} rules/s  "
                      f"render/restore = {total / t:.2f}")
    finally:
        if created:
            subprocess.run(["ip", "netns", "delete", netns], check=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
