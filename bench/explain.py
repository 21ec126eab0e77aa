#!/usr/bin/env python3
"""`explain` over the live rules: how long one packet's path takes to predict.

Goals (issue 13): under 0.5 s on the default lab (manifests/), under 2 s with 1,000 Services. Each
path is explained --rounds times in this process (`netlab.explain.explain`, what `netlab explain`
calls); the first call of a fresh process is timed too (`python -c`, imports included, as a shell
user meets it). The reference, measured in the same run: a plain `iptables-save` of the same
namespaces one after the other (what reading the rules by hand costs), and the ratio to it.

    sudo .venv/bin/python bench/explain.py [--services 1000] [--nodes 2] [--rounds 5] [--skip-big]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from netlab import explain as explain_mod, lab as lab_mod, manifest  # noqa: E402
from netlab.dataplane import iptables  # noqa: E402


def _big_lab(nodes: int, services: int, groups: int = 10) -> str:
    # enableServiceLinks: false — with it, each pod's containers would get 7 variables per Service
    # (kubelet's envvars), too many for one start message to the pod runtime
    docs = [textwrap.dedent(f"""\
        apiVersion: netlab.io/v1alpha1
        kind: Cluster
        spec: {{nodes: {nodes}}}
        """), textwrap.dedent("""\
        apiVersion: v1
        kind: Pod
        metadata: {name: curl}
        spec:
          nodeName: node1
          enableServiceLinks: false
          containers: [{name: curl, image: curlimages/curl, command: [sleep, infinity]}]
        """)]
    for group in range(groups):
        docs.append(textwrap.dedent(f"""\
            apiVersion: apps/v1
            kind: Deployment
            metadata: {{name: g{group}}}
            spec:
              replicas: 2
              selector: {{matchLabels: {{group: g{group}}}}}
              template:
                metadata: {{labels: {{group: g{group}, app: web}}}}
                spec:
                  enableServiceLinks: false
                  containers: [{{name: web, image: nginx, ports: [{{containerPort: 80}}]}}]
            """))
    for index in range(services):
        docs.append(textwrap.dedent(f"""\
            apiVersion: v1
            kind: Service
            metadata: {{name: svc{index:04d}}}
            spec:
              selector: {{group: g{index % groups}}}
              ports: [{{port: 80}}]
            """))
    docs.append(textwrap.dedent("""\
        apiVersion: v1
        kind: Service
        metadata: {name: zz-nodeport}
        spec:
          type: NodePort
          selector: {app: web}
          ports: [{port: 80, nodePort: 30099}]
        """))
    return "---\n".join(docs)


def _reference(namespaces: list, variant: str) -> float:
    """Seconds for a plain iptables-save of each namespace, one after the other."""
    started = time.perf_counter()
    for name in namespaces:
        iptables.save(name, which=variant)
    return time.perf_counter() - started


def _cold(lab: str, source: str, dest: str) -> float:
    """Wall seconds of a fresh process that imports netlab and explains once."""
    code = (f"from netlab import explain; explain.explain({lab!r}, {source!r}, {dest!r})")
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True, cwd=str(REPO))
    return time.perf_counter() - started


def scenario(label: str, lab: str, paths: list, flows: list, goal: float, rounds: int) -> None:
    try:
        started = time.perf_counter()
        lab_mod.apply(lab, manifest.load(paths), create=True)
        print(f"{label}: lab built in {time.perf_counter() - started:.1f} s")
        time.sleep(2.0)                 # let the cluster DNS pods join the rules (one rewrite, not mid-run)
        st, _ = lab_mod._loaded_lab(lab)
        variant = explain_mod._variant(st)
        print(f"  {'path':<44} {'best':>7} {'median':>7} {'cold':>7} {'iptables-save':>14} {'ratio':>6}  "
              f"{'hops':>5} verdict   (goal < {goal * 1000:.0f} ms)")
        worst = 0.0
        for source, dest in flows:
            times, expl = [], None
            for _ in range(rounds):
                t0 = time.perf_counter()
                expl = explain_mod.explain(lab, source, dest)
                times.append(time.perf_counter() - t0)
            cold = _cold(lab, source, dest)
            reference = min(_reference(expl.namespaces, variant) for _ in range(3))
            best, median = min(times), statistics.median(times)
            worst = max(worst, median, cold)
            hops = sum(len(c.hops) for c in expl.candidates)
            print(f"  {source + ' -> ' + dest:<44} {best * 1000:>5.0f}ms {median * 1000:>5.0f}ms {cold * 1000:>5.0f}ms "
                  f"{reference * 1000:>7.0f}ms ({len(expl.namespaces)} ns) {median / reference:>5.2f}x  {hops:>5} "
                  f"{expl.verdict} ({len(expl.endpoints)} endpoints)")
        print(f"  slowest: {worst * 1000:.0f} ms, {'within' if worst < goal else 'OVER'} the goal of "
              f"{goal * 1000:.0f} ms")
    finally:
        lab_mod.down(lab)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--services", type=int, default=1000)
    parser.add_argument("--nodes", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--skip-big", action="store_true")
    args = parser.parse_args()
    if os.geteuid() != 0:
        print("run as root: it builds network namespaces", file=sys.stderr)
        return 1
    tag = os.getpid() % 10000
    scenario("default lab", f"nlexpl{tag}", [str(REPO / "manifests")],
             [("curl", "svc/web"), ("curl", "web-sticky"), ("client/client", "node/node2:30080"),
              ("client/client", "node/node1:30081"), ("node/node1", "web")], 0.5, args.rounds)
    if not args.skip_big:
        folder = Path(tempfile.mkdtemp(prefix="netlab-bench-"))
        big = folder / "big.yaml"
        big.write_text(_big_lab(args.nodes, args.services))
        try:
            last = f"svc{args.services - 1:04d}"
            scenario(f"{args.nodes} nodes, {args.services} Services", f"nlexbig{tag}", [str(big)],
                     [("curl", f"svc/{last}"), ("curl", "svc/svc0000"), ("client/client", "node/node2:30099"),
                      ("node/node1", f"svc/{last}")], 2.0, args.rounds)
        finally:
            big.unlink()
            folder.rmdir()
    return 0


if __name__ == "__main__":
    sys.exit(main())
