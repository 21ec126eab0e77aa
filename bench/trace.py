#!/usr/bin/env python3
"""`netlab trace` on the default lab (manifests/): how long one traced connection takes, as typed.

Goal (the trace issue): under 2 s. Each flow is run --rounds times as the command a person types
(`netlab trace curl svc/web`, a fresh process: imports, explain, tables and monitors in every
namespace of the path, the connection, the cleanup), and in this process (`netlab.trace.trace`, no
interpreter start). The references, measured in the same run and the same way: `netlab --version`
(what starting the command costs) and `netlab explain` of the same flow (the prediction trace
compares with); the ratios are of the medians.

    sudo .venv/bin/python bench/trace.py [--rounds 7]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from netlab import explain as explain_mod, lab as lab_mod, manifest, trace as trace_mod  # noqa: E402
from netlab.dataplane import iptables  # noqa: E402

FLOWS = [("curl", "svc/web"),                       # pod -> ClusterIP (4 endpoints, both nodes)
         ("client/client", "node/node1:30080")]     # NodePort from outside, masqueraded


def _netlab() -> list:
    script = REPO / ".venv" / "bin" / "netlab"
    return [str(script)] if script.exists() else [sys.executable, "-m", "netlab"]


def _timed(argv: list, rounds: int) -> list:
    """Wall seconds of ROUNDS runs of ARGV (each must succeed)."""
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, cwd=str(REPO))
        times.append(time.perf_counter() - started)
    return times


def _dns_in_rules(lab: str, variant: str) -> bool:
    """True once both cluster DNS endpoints are in both nodes' rules (kube-proxy's rewrite is done)."""
    for node in ("node1", "node2"):
        text = iptables.save(f"{lab}-{node}", which=variant)
        if sum(1 for line in text.splitlines() if line.startswith("-A KUBE-SEP-") and "-j DNAT" in line
               and '"kube-system/kube-dns:dns"' in line) != 2:
            return False
    return True


def _settle(lab: str, timeout: float = 20.0) -> None:
    st, _ = lab_mod._loaded_lab(lab)
    variant = explain_mod._variant(st)
    deadline = time.monotonic() + timeout
    while not _dns_in_rules(lab, variant):
        if time.monotonic() > deadline:
            raise SystemExit("the cluster DNS pods never reached kube-proxy's rules")
        time.sleep(0.1)


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:>5.0f}ms"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--goal", type=float, default=2.0, help="seconds (default: 2)")
    args = parser.parse_args()
    if os.geteuid() != 0:
        print("run as root: it builds network namespaces", file=sys.stderr)
        return 1
    lab = f"nltrb{os.getpid() % 10000}"
    netlab = _netlab()
    try:
        started = time.perf_counter()
        lab_mod.apply(lab, manifest.load([str(REPO / "manifests")]), create=True)
        _settle(lab)
        print(f"default lab {lab}: built in {time.perf_counter() - started:.1f} s; {args.rounds} rounds each, "
              f"best / median")
        version = _timed([*netlab, "--version"], args.rounds)
        print(f"  netlab --version{'':<32} {_ms(min(version))} {_ms(statistics.median(version))}")
        print(f"  {'flow':<46} {'trace (cli)':>15} {'in-process':>15} {'explain (cli)':>15} "
              f"{'/version':>8} {'/explain':>8}  result")
        worst = 0.0
        for source, dest in FLOWS:
            where = ["--name", lab]
            cli = _timed([*netlab, "trace", source, dest, *where], args.rounds)
            inproc = []
            result = None
            for _ in range(args.rounds):
                t0 = time.perf_counter()
                result = trace_mod.trace(lab, source, dest)
                inproc.append(time.perf_counter() - t0)
            explain = _timed([*netlab, "explain", source, dest, *where], args.rounds)
            done = subprocess.run([*netlab, "trace", source, dest, *where, "-o", "json"], check=True,
                                  capture_output=True, text=True, cwd=str(REPO))
            data = json.loads(done.stdout)
            median = statistics.median(cli)
            worst = max(worst, median)
            print(f"  {source + ' -> ' + dest:<46} {_ms(min(cli))} {_ms(median)} "
                  f"{_ms(min(inproc))} {_ms(statistics.median(inproc))} "
                  f"{_ms(min(explain))} {_ms(statistics.median(explain))} "
                  f"{median / statistics.median(version):>7.2f}x {median / statistics.median(explain):>7.2f}x  "
                  f"{data['outcome']}, chose {data['chosen']}, matchesExplain {data['matchesExplain']}, "
                  f"{len(trace_mod.plan_for(result.explanation).namespaces)} namespaces "
                  f"traced")
        print(f"  slowest median: {worst * 1000:.0f} ms, {'within' if worst < args.goal else 'OVER'} the goal of "
              f"{args.goal * 1000:.0f} ms")
    finally:
        lab_mod.down(lab)
    return 0


if __name__ == "__main__":
    sys.exit(main())
