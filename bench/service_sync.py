#!/usr/bin/env python3
"""Service change -> every node's rules restored: how long, measured inside the process.

Two scenarios (goals from the issue): the default lab (manifests/) gets one more Service, goal
< 100 ms; a 10-node lab with 1,000 Services over 50 pods gets one more Service, goal < 2 s. The
clock starts when the change has been accepted (manifests loaded and validated) and stops when
`netlab apply` has restored every node's rules. For reference the same run also times the bare
restores of the final rules into scratch namespaces (the floor), and prints the ratio.

    sudo .venv/bin/python bench/service_sync.py [--services 1000] [--nodes 10]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import textwrap
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from netlab import lab as lab_mod, manifest, state  # noqa: E402
from netlab.dataplane import iptables, netns, nfnetlink  # noqa: E402


def _extra_service(name: str) -> str:
    return textwrap.dedent(f"""\
        apiVersion: v1
        kind: Service
        metadata: {{name: {name}}}
        spec:
          selector: {{app: web}}
          ports: [{{port: 8080, targetPort: 80}}]
        """)


def _big_lab(nodes: int, services: int, groups: int = 10) -> str:
    docs = [textwrap.dedent(f"""\
        apiVersion: netlab.io/v1alpha1
        kind: Cluster
        spec: {{nodes: {nodes}, clients: []}}
        """)]
    for group in range(groups):
        docs.append(textwrap.dedent(f"""\
            apiVersion: apps/v1
            kind: Deployment
            metadata: {{name: g{group}}}
            spec:
              replicas: 5
              selector: {{matchLabels: {{group: g{group}}}}}
              template:
                metadata: {{labels: {{group: g{group}, app: web}}}}
                spec:
                  containers: [{{name: web, image: nginx, ports: [{{containerPort: 80}}]}}]
            """))
    for index in range(services):
        docs.append(textwrap.dedent(f"""\
            apiVersion: v1
            kind: Service
            metadata: {{name: svc{index}}}
            spec:
              selector: {{group: g{index % groups}}}
              ports: [{{port: 80}}]
            """))
    return "---\n".join(docs)


def _timed_change(lab: str, folder: Path, name: str) -> float:
    path = folder / f"{name}.yaml"
    path.write_text(_extra_service(name))
    loaded = manifest.load([str(path)])              # accepted: parsed and validated
    start = time.perf_counter()
    report = lab_mod.apply(lab, loaded, create=False)
    seconds = time.perf_counter() - start
    assert report.rules_synced, "the change did not reach the nodes"
    return seconds


def _restore_floor(lab: str) -> float:
    """Seconds for plain iptables-restore of every node's current rules into scratch namespaces."""
    st = state.load(lab)
    topology = lab_mod.topology_of(lab, st.config)
    texts = [iptables.save(node.netns) for node in topology.nodes]
    scratch = [f"{lab}-scratch{i}" for i in range(len(texts))]
    try:
        for name in scratch:
            netns.create(name)
            nfnetlink.ensure_counters(name)   # the rules match kube-proxy's nfacct counters
        start = time.perf_counter()
        for name, text in zip(scratch, texts):
            iptables.restore(name, text)
        return time.perf_counter() - start
    finally:
        for name in scratch:
            netns.delete(name)


def scenario(label: str, lab: str, paths: list, goal: float, rounds: int) -> None:
    folder = Path(tempfile.mkdtemp(prefix="netlab-bench-"))
    try:
        start = time.perf_counter()
        lab_mod.apply(lab, manifest.load(paths), create=True)
        built = time.perf_counter() - start
        times = [_timed_change(lab, folder, f"extra{i}") for i in range(rounds)]
        floor = _restore_floor(lab)
        best = min(times)
        print(f"{label}: lab built in {built:.2f} s; Service change -> all nodes restored: "
              f"best {best * 1000:.0f} ms, median {sorted(times)[len(times) // 2] * 1000:.0f} ms "
              f"(goal < {goal * 1000:.0f} ms); plain restore of all nodes' rules: {floor * 1000:.0f} ms "
              f"(ratio {best / floor:.2f})")
    finally:
        lab_mod.down(lab)
        for item in folder.iterdir():
            item.unlink()
        folder.rmdir()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=10)
    parser.add_argument("--services", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--skip-big", action="store_true")
    args = parser.parse_args()
    if os.geteuid() != 0:
        print("run as root: it builds network namespaces", file=sys.stderr)
        return 1
    tag = os.getpid() % 10000
    scenario("default lab", f"nlsync{tag}", [str(REPO / "manifests")], 0.1, args.rounds)
    if not args.skip_big:
        folder = Path(tempfile.mkdtemp(prefix="netlab-bench-"))
        big = folder / "big.yaml"
        big.write_text(_big_lab(args.nodes, args.services))
        try:
            scenario(f"{args.nodes} nodes, {args.services} Services", f"nlbig{tag}", [str(big)], 2.0,
                     max(2, args.rounds // 2))
        finally:
            big.unlink()
            folder.rmdir()
    return 0


if __name__ == "__main__":
    sys.exit(main())
