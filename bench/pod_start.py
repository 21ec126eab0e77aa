"""Time the pod runtime: start N pods (1-2 built-in-server containers each) in throwaway namespaces
and measure until every container answers; then stop them and remove the namespaces.

    sudo .venv/bin/python bench/pod_start.py [--pods 7] [--two-every 4] [--batch] [--heavy] [--curl]

The default (7 pods, every fourth one with a second container: 9 containers) is the size of the
default lab. --batch starts them with one start_pods call instead of start_pod in a loop. Namespace set-up (`ip netns add`, `lo up`) is timed separately: it is not the runtime's.
--heavy imports what a CLI process may hold (kubernetes, pyroute2, yaml) so fork costs are realistic.
"""

from __future__ import annotations

import argparse
import os
import pathlib
import secrets
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))

from netlab.runtime import (  # noqa: E402
    ContainerSpec,
    PodRuntimeSpec,
    parse_builtin_reply,
    pids_in_netns,
    start_pod,
    start_pods,
    stop_pod,
)
from netlab.runtime.linux import CLONE_NEWNET, setns  # noqa: E402


def probe(netns: str, port: int, pod: str, container: str, deadline: float) -> None:
    """GET / on 127.0.0.1:port inside the netns (by setns of this thread) until the right reply comes."""
    home = os.open("/proc/self/ns/net", os.O_RDONLY)
    target = os.open(f"/run/netns/{netns}", os.O_RDONLY)
    try:
        setns(target, CLONE_NEWNET)
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                    s.sendall(b"GET / HTTP/1.1\r\nHost: bench\r\n\r\n")
                    data = b""
                    while chunk := s.recv(65536):
                        data += chunk
                reply = parse_builtin_reply(data.decode())
                if reply.get("pod") == pod and reply.get("container") == container:
                    return
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"{netns}:{port} did not answer")
            time.sleep(0.001)
    finally:
        setns(home, CLONE_NEWNET)
        os.close(home)
        os.close(target)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pods", type=int, default=7)
    ap.add_argument("--two-every", type=int, default=4, help="every Nth pod gets a second container (0: never)")
    ap.add_argument("--batch", action="store_true", help="one start_pods call for all pods")
    ap.add_argument("--heavy", action="store_true", help="import what `netlab up` imports (lab, manifest, pyroute2) first")
    ap.add_argument("--curl", action="store_true", help="also check every pod with `ip netns exec NS curl`")
    args = ap.parse_args()
    if os.geteuid() != 0:
        print("needs root (creates network namespaces)", file=sys.stderr)
        return 2
    if args.heavy:
        t = time.perf_counter()
        import netlab.lab  # noqa: F401
        import netlab.manifest  # noqa: F401
        import pyroute2  # noqa: F401

        rss = int(open("/proc/self/statm").read().split()[1]) * os.sysconf("SC_PAGE_SIZE") >> 20
        print(f"heavy imports: {time.perf_counter() - t:.3f}s, caller RSS {rss} MiB")

    tag = secrets.token_hex(3)
    names = [f"nlbench-{tag}-{i}" for i in range(args.pods)]
    tmp = pathlib.Path(tempfile.mkdtemp(prefix="nlbench-"))
    made: list[str] = []
    specs: list[PodRuntimeSpec] = []
    try:
        t0 = time.perf_counter()
        for ns in names:
            subprocess.run(["ip", "netns", "add", ns], check=True)
            made.append(ns)
            subprocess.run(["ip", "-n", ns, "link", "set", "lo", "up"], check=True)
        t_ns = time.perf_counter() - t0

        for i, ns in enumerate(names):
            containers = [ContainerSpec(name="web", image="nginx", ports=[(80, "TCP")])]
            if args.two_every and i % args.two_every == 0:
                containers.append(ContainerSpec(name="side", image="httpd", ports=[(8080, "TCP"), (8080, "UDP")]))
            specs.append(
                PodRuntimeSpec(
                    lab="nlbench", namespace="default", name=f"pod-{i}", node="node1", pod_ip="10.250.0.2",
                    host_ip="10.250.0.1", netns=ns, state_dir=tmp / ns, containers=containers,
                )
            )
        n_containers = sum(len(s.containers) for s in specs)

        per_pod = []
        t0 = time.perf_counter()
        if args.batch:
            start_pods(specs)
        else:
            for spec in specs:
                t = time.perf_counter()
                start_pod(spec)
                per_pod.append(time.perf_counter() - t)
        t_started = time.perf_counter() - t0
        deadline = time.monotonic() + 10
        for spec in specs:
            for c in spec.containers:
                probe(spec.netns, c.ports[0][0], spec.name, c.name, deadline)
        t_answer = time.perf_counter() - t0

        if args.curl:
            for spec in specs:
                r = subprocess.run(
                    ["ip", "netns", "exec", spec.netns, "curl", "-sS", "--max-time", "2", "http://localhost:80/"],
                    capture_output=True, text=True,
                )
                assert parse_builtin_reply(r.stdout).get("pod") == spec.name, r
            print(f"curl check: {len(specs)} pods answered")

        t0 = time.perf_counter()
        for spec in specs:
            stop_pod(spec.state_dir)
        t_stop = time.perf_counter() - t0
        left = sum(len(pids_in_netns(ns)) for ns in names)

        print(f"pods {len(specs)}, containers {n_containers}, cpus {os.cpu_count()}")
        print(f"namespaces (ip netns add + lo up, not the runtime): {t_ns:.3f}s")
        if per_pod:
            print(
                f"start_pod x{len(specs)}: total {t_started:.3f}s; per pod min {min(per_pod) * 1000:.1f} ms, "
                f"median {statistics.median(per_pod) * 1000:.1f} ms, max {max(per_pod) * 1000:.1f} ms"
            )
        else:
            print(f"start_pods: {t_started:.3f}s for {len(specs)} pods")
        print(f"every container answering: {t_answer:.3f}s after the first start_pod")
        print(f"stop_pod all: {t_stop:.3f}s; processes left in the namespaces: {left}")
        return 0 if left == 0 else 1
    finally:
        for spec in specs:
            try:
                stop_pod(spec.state_dir, grace=0)
            except Exception as e:  # keep cleaning up
                print(f"stop {spec.name}: {e}", file=sys.stderr)
        for ns in made:
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
