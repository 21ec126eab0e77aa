"""What a container's own filesystem and its pod's processes cost: N pods started with overlay root
filesystems against the same N pods on a bind of the host's root (the reference, measured in the
same run), and the memory each pod takes (the fall of MemAvailable, pause + one built-in-server
container per pod).

    sudo .venv/bin/python bench/containers.py [--pods 200] [--rounds 2]

Goals (issue 10): overlay start within 1.5x of the reference; at most 3 MB per pod.
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

from netlab.runtime import ContainerSpec, PodRuntimeSpec, pids_in_netns, start_pods, stop_pod  # noqa: E402
from netlab.runtime.linux import CLONE_NEWNET, setns  # noqa: E402


HELD = ("AnonPages", "Slab", "PageTables", "KernelStack")


def meminfo() -> dict[str, int]:
    """/proc/meminfo in bytes."""
    out = {}
    for line in open("/proc/meminfo"):
        key, value = line.split(":", 1)
        out[key] = int(value.split()[0]) * 1024
    return out


def mem_available() -> int:
    """MemAvailable in bytes."""
    return meminfo()["MemAvailable"]


def mem_held() -> int:
    """What processes and the kernel's objects hold: anonymous pages, slab, page tables, kernel
    stacks. On this kind of VM MemAvailable also moves with memory the host hands back and forth,
    so a round reports both."""
    info = meminfo()
    return sum(info[key] for key in HELD)


def settled_mem_available(timeout: float = 10.0) -> int:
    """MemAvailable once it stops moving: what the last round freed (RCU-freed namespaces, exited
    processes' pages) has come back before a round counts from it."""
    last = mem_available()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        time.sleep(0.5)
        now = mem_available()
        if abs(now - last) < 1 << 20:
            return now
        last = now
    return last


def answers(netns: str, port: int) -> bool:
    """One GET to 127.0.0.1:PORT inside NETNS."""
    home = os.open("/proc/self/ns/net", os.O_RDONLY)
    target = os.open(f"/run/netns/{netns}", os.O_RDONLY)
    try:
        setns(target, CLONE_NEWNET)
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
                s.sendall(b"GET / HTTP/1.1\r\nHost: bench\r\n\r\n")
                return s.recv(64).startswith(b"HTTP/1.1 200")
        except OSError:
            return False
    finally:
        setns(home, CLONE_NEWNET)
        os.close(home)
        os.close(target)


def run(pods: int, root_filesystem: str, tag: str, tmp: pathlib.Path) -> tuple[float, float, float]:
    """(seconds until every pod's server answers, bytes of MemAvailable per pod, bytes held per pod)."""
    names = [f"nlbench-{tag}-{root_filesystem[0]}{i}" for i in range(pods)]
    specs = []
    made = []
    try:
        for ns in names:
            subprocess.run(["ip", "netns", "add", ns], check=True)
            made.append(ns)
            subprocess.run(["ip", "-n", ns, "link", "set", "lo", "up"], check=True)
            specs.append(PodRuntimeSpec(
                lab="nlbench", namespace="default", name=ns, node="node1", pod_ip="10.250.0.2", host_ip="10.250.0.1",
                netns=ns, state_dir=tmp / ns, root_filesystem=root_filesystem,
                containers=[ContainerSpec(name="web", image="nginx", ports=[(80, "TCP")])]))
        subprocess.run(["sync"])
        before = settled_mem_available()
        held_before = mem_held()
        t0 = time.perf_counter()
        start_pods(specs)
        for ns in names:
            deadline = time.monotonic() + 10
            while not answers(ns, 80):
                if time.monotonic() > deadline:
                    raise TimeoutError(f"{ns} did not answer")
                time.sleep(0.005)
        took = time.perf_counter() - t0
        per_pod = (before - settled_mem_available()) / pods
        return took, per_pod, (mem_held() - held_before) / pods
    finally:
        for spec in specs:
            try:
                stop_pod(spec.state_dir, grace=0)
            except Exception as e:  # keep cleaning up
                print(f"stop {spec.name}: {e}", file=sys.stderr)
        for ns in made:
            if pids_in_netns(f"/run/netns/{ns}"):
                print(f"processes left in {ns}", file=sys.stderr)
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pods", type=int, default=200)
    ap.add_argument("--rounds", type=int, default=2)
    args = ap.parse_args()
    if os.geteuid() != 0:
        print("needs root (creates network namespaces)", file=sys.stderr)
        return 2
    tag = secrets.token_hex(2)
    tmp = pathlib.Path(tempfile.mkdtemp(prefix="nlbench-", dir="/run" if os.path.isdir("/run") else None))
    try:
        times = {"host": [], "overlay": []}
        memory = {"host": [], "overlay": []}
        held = {"host": [], "overlay": []}
        for _ in range(args.rounds):
            for kind in ("host", "overlay"):       # alternate, so drift hits both alike
                took, per_pod, held_per_pod = run(args.pods, kind, tag, tmp)
                times[kind].append(took)
                memory[kind].append(per_pod)
                held[kind].append(held_per_pod)
        host, overlay = statistics.median(times["host"]), statistics.median(times["overlay"])
        print(f"{args.pods} pods (pause + one built-in server each), {os.cpu_count()} cpus, {args.rounds} rounds")
        print(f"start until every pod answers: host root {host:.2f}s, overlay root {overlay:.2f}s, "
              f"ratio {overlay / host:.2f} (goal <= 1.5)")
        mem = statistics.median(memory["overlay"]) / 2**20
        print(f"memory per pod (fall of MemAvailable): overlay {mem:.2f} MiB, host root "
              f"{statistics.median(memory['host']) / 2**20:.2f} MiB (goal <= 3 MB)")
        print(f"memory per pod (rise of {' + '.join(HELD)}): overlay "
              f"{statistics.median(held['overlay']) / 2**20:.2f} MiB, host root "
              f"{statistics.median(held['host']) / 2**20:.2f} MiB (goal <= 3 MB)")
        return 0
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
