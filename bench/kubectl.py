#!/usr/bin/env python3
"""kubectl's everyday commands on the default lab, timed as a user types them.

Goal (issue 12): `get`, `describe`, `label` and `scale` under 0.25 s wall each on the default lab,
printed beside `netlab --version` in the same run (the floor: a Python start and the CLI's import,
with no lab work at all). Each command is the installed `netlab` program run as a new process,
as from a shell; the median of --runs runs is printed, then the same commands with
NETLAB_LOCAL=1, which runs them in the new process instead of in the lab's supervisor (what
the thin client saves).

    sudo .venv/bin/python bench/kubectl.py [--runs 15]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
NETLAB = str(Path(sys.executable).parent / "netlab")
GOAL = 0.25
COMMANDS = [
    ("get pods", ["get", "pods"]),
    ("get svc -o wide", ["get", "svc", "-o", "wide"]),
    ("get pod,svc", ["get", "pod,svc"]),
    ("describe pod curl", ["describe", "pod", "curl"]),
    ("describe svc web", ["describe", "svc", "web"]),
    ("label pod curl tier=x", ["label", "pod", "curl", "tier=x", "--overwrite"]),
    ("scale deploy/web", ["scale", "deploy/web", "--replicas", "4"]),
]


def _wall(argv: list, env: dict) -> float:
    started = time.perf_counter()
    subprocess.run([NETLAB, *argv], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    lab = f"bk{os.getpid()}"
    env = dict(os.environ, NETLAB_LAB=lab)
    env.pop("NETLAB_LOCAL", None)
    subprocess.run([NETLAB, "up", "--name", lab], cwd=REPO, env=env, stdout=subprocess.DEVNULL, check=True)
    try:
        floor = statistics.median(_wall(["--version"], env) for _ in range(args.runs))
        print(f"netlab --version (the floor): {floor * 1000:.0f} ms (median of {args.runs})")
        print(f"{'command':<24} {'wall':>8} {'x floor':>8} {'in-process':>11}   goal < {GOAL * 1000:.0f} ms")
        worst = 0.0
        local = dict(env, NETLAB_LOCAL="1")
        for title, argv in COMMANDS:
            wall = statistics.median(_wall(argv, env) for _ in range(args.runs))
            alone = statistics.median(_wall(argv, local) for _ in range(max(3, args.runs // 3)))
            worst = max(worst, wall)
            print(f"{title:<24} {wall * 1000:>6.0f}ms {wall / floor:>7.2f}x {alone * 1000:>9.0f}ms   "
                  f"{'ok' if wall < GOAL else 'SLOW'}")
        print(f"slowest: {worst * 1000:.0f} ms ({worst / floor:.2f}x the floor)")
        return 0 if worst < GOAL else 1
    finally:
        subprocess.run([NETLAB, "down", "--name", lab], env=env, stdout=subprocess.DEVNULL)


if __name__ == "__main__":
    sys.exit(main())
