#!/usr/bin/env python3
"""Benchmark: apply one node's kube-proxy rules with each backend, in the same run, same text.

For each size (default 100 and 1,000 Services × 5 endpoints, every 10th a NodePort, every 7th with
ClientIP affinity) this renders the whole-tables text for node1 once, then loads it, each time
into a fresh scratch namespace, with

    iptables-nft-restore      (the default backend on nft machines)
    iptables-legacy-restore   (the default backend on legacy machines)
    python-iptables           (netlab.dataplane.iptc_backend.apply_text: fork, setns, libiptc)

and prints the best of --repeat runs: seconds, rules/s, and each one's time as a multiple of
iptables-nft-restore's and iptables-legacy-restore's. The restores are timed as the data plane
runs them (`nsenter --net=… iptables-*-restore -w 5`, process start included); python-iptables is
timed after its one-off import in this process (printed separately), as a running netlab pays it
once. After the first run of each size the legacy tables written by python-iptables are checked
against iptables-legacy-restore's, rule for rule.

Needs root. Namespaces are named nlbench-apply-<random> and always deleted; the root namespace's
tables are never touched and no traffic is sent.

    sudo .venv/bin/python bench/rule_apply.py [--sizes 100,1000] [--endpoints 5] [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import re
import secrets
import shutil
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from netlab.dataplane import iptc_backend, netns  # noqa: E402
from netlab.proxy import ruleset_for_node  # noqa: E402

NODES = ("node1", "node2", "node3")
RESTORES = ("iptables-nft-restore", "iptables-legacy-restore")
PYTHON_IPTABLES = "python-iptables"


def documents(services: int, endpoints: int) -> list:
    """Service and EndpointSlice dicts: ENDPOINTS ready pods per Service, spread over 3 nodes."""
    docs = []
    for i in range(services):
        name = f"svc-{i:05d}"
        port = {"name": "http", "port": 80, "protocol": "TCP", "targetPort": 8080}
        spec = {"type": "ClusterIP", "clusterIP": f"10.96.{i // 256}.{i % 256}", "ports": [port]}
        if i % 10 == 0:
            spec["type"] = "NodePort"
            port["nodePort"] = 30000 + (i // 10) % 2768
        if i % 7 == 0:
            spec["sessionAffinity"] = "ClientIP"
        docs.append({"apiVersion": "v1", "kind": "Service",
                     "metadata": {"namespace": "bench", "name": name}, "spec": spec})
        eps = []
        for j in range(endpoints):
            k = i * endpoints + j
            eps.append({"addresses": [f"10.{(k >> 16) % 256 + 100}.{(k >> 8) % 256}.{k % 256}"],
                        "nodeName": NODES[k % 3], "conditions": {"ready": True}})
        docs.append({"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice", "addressType": "IPv4",
                     "metadata": {"namespace": "bench", "name": f"{name}-x",
                                  "labels": {"kubernetes.io/service-name": name}},
                     "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}], "endpoints": eps})
    return docs


def render_text(services: int, endpoints: int) -> str:
    # nfacct=False: a scratch namespace has no nfacct counters (-m nfacct would fail).
    ruleset, _ = ruleset_for_node(documents(services, endpoints), "node1", nfacct=False,
                                  node_ips=("172.18.0.2",), cluster_cidr="10.100.0.0/14")
    return ruleset.to_restore_text(include_builtin_jumps=True)


def _strip(text: str) -> str:
    return "\n".join(re.sub(r"\[\d+:\d+\]", "[0:0]", line) for line in text.splitlines()
                     if not line.startswith("#"))


def run_once(tool: str, text: str, keep_legacy: bool):
    """(seconds, legacy save or None) for one apply into a fresh namespace, deleted afterwards."""
    name = f"nlbench-apply-{secrets.token_hex(3)}"
    netns.create(name)
    try:
        if tool == PYTHON_IPTABLES:
            t0 = time.perf_counter()
            iptc_backend.apply_text(name, text)
            elapsed = time.perf_counter() - t0
        else:
            argv = ["nsenter", f"--net={netns.path(name)}", "--", tool, "-w", "5"]
            t0 = time.perf_counter()
            proc = subprocess.run(argv, input=text.encode(), capture_output=True)
            elapsed = time.perf_counter() - t0
            if proc.returncode != 0:
                raise RuntimeError(f"{tool} failed in {name}: {proc.stderr.decode().strip()}")
        saved = _strip(iptc_backend.save(name)) if keep_legacy else None
        return elapsed, saved
    finally:
        netns.delete(name)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100,1000", help="Services per run, comma separated")
    parser.add_argument("--endpoints", type=int, default=5)
    parser.add_argument("--repeat", type=int, default=3, help="best of N (each in a fresh namespace)")
    args = parser.parse_args()
    if os.geteuid() != 0:
        print("needs root (it creates network namespaces)", file=sys.stderr)
        return 2
    tools = [t for t in RESTORES if shutil.which(t)] + [PYTHON_IPTABLES]

    t0 = time.perf_counter()
    iptc_backend._import_iptc()
    print(f"python-iptables import (once per process): {time.perf_counter() - t0:.3f} s")

    for services in (int(s) for s in args.sizes.split(",")):
        text = render_text(services, args.endpoints)
        rules = text.count("\n-A ")
        print(f"\n{services} services x {args.endpoints} endpoints, node1: {rules} rules, "
              f"{len(text) / 1e6:.2f} MB of restore text")
        best = {}
        saves = {}
        for run in range(args.repeat):
            for tool in tools:
                keep = run == 0 and tool in (PYTHON_IPTABLES, "iptables-legacy-restore")
                elapsed, saved = run_once(tool, text, keep)
                best[tool] = min(best.get(tool, elapsed), elapsed)
                if saved is not None:
                    saves[tool] = saved
        same = saves.get(PYTHON_IPTABLES) == saves.get("iptables-legacy-restore")
        header = "".join(f"{'x ' + t.split('-')[1]:>10s}" for t in RESTORES if t in best)
        print(f"  {'backend':24s} {'seconds':>8s} {'rules/s':>10s}{header}")
        for tool in tools:
            t = best[tool]
            ratios = "".join(f"{t / best[r]:10.2f}" for r in RESTORES if r in best)
            print(f"  {tool:24s} {t:8.3f} {rules / t:10,.0f}{ratios}")
        if "iptables-legacy-restore" in saves:
            print(f"  python-iptables legacy tables identical to iptables-legacy-restore's: {same}")
            if not same:
                return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
