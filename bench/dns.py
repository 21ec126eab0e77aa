#!/usr/bin/env python3
"""The cluster DNS, timed: lookups per second from one pod, and a new Service's name resolving.

Goals (issue 11):
  - name lookups from one pod through the kube-dns Service (10.96.0.10, kube-proxy's DNAT to a
    coredns pod): at least 2,000/s, printed beside the same lookups sent straight to one DNS
    pod's IP in the same run (the reference: the server and the pod network without the Service);
  - a Service created with `netlab apply` -> its name resolving from a pod: under 1 s, beside the
    time `netlab apply` itself takes.
Each lookup is one A query from a fresh socket (a new source port, as a stub resolver sends
them, so each is a new conntrack entry and a new DNAT choice), waited for before the next.

    sudo .venv/bin/python bench/dns.py [--lookups 5000]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import struct
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from netlab import names  # noqa: E402
from netlab.dataplane import netns  # noqa: E402

NETLAB = [sys.executable, "-m", "netlab"]
LAB_YAML = textwrap.dedent("""\
    apiVersion: apps/v1
    kind: Deployment
    metadata: {name: web}
    spec:
      replicas: 2
      selector: {matchLabels: {app: web}}
      template:
        metadata: {labels: {app: web}}
        spec:
          containers: [{name: web, image: nginx, ports: [{containerPort: 80}]}]
    ---
    apiVersion: v1
    kind: Service
    metadata: {name: web}
    spec:
      selector: {app: web}
      ports: [{port: 80}]
    ---
    apiVersion: v1
    kind: Pod
    metadata: {name: client}
    spec:
      containers: [{name: c, image: curlimages/curl, command: [sleep, infinity]}]
    """)


def query(name: str, ident: int) -> bytes:
    """A DNS query for NAME's A record, recursion desired."""
    labels = b"".join(bytes([len(part)]) + part.encode() for part in name.rstrip(".").split("."))
    return struct.pack("!HHHHHH", ident, 0x0100, 1, 0, 0, 0) + labels + b"\0" + struct.pack("!HH", 1, 1)


def answer_of(reply: bytes, ident: int) -> tuple[int, int]:
    """(rcode, answer count) of REPLY to query IDENT."""
    got, flags, _, answers = struct.unpack("!HHHH", reply[:8])
    if got != ident:
        raise ValueError("a reply to another query")
    return flags & 0xF, answers


def lookups(pod_netns: str, server: str, name: str, count: int) -> tuple[float, int]:
    """COUNT lookups of NAME at SERVER:53 from POD_NETNS, one after another: (seconds, failures)."""
    failures = 0
    started = time.perf_counter()
    with netns.entered(pod_netns):
        for i in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            try:
                sock.settimeout(1.0)
                ident = i & 0xFFFF
                sock.sendto(query(name, ident), (server, 53))
                rcode, answers = answer_of(sock.recv(4096), ident)
                failures += rcode != 0 or answers == 0
            except (OSError, ValueError):
                failures += 1
            finally:
                sock.close()
    return time.perf_counter() - started, failures


def run(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run([*NETLAB, *args], capture_output=True, text=True, check=check, cwd=REPO)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--lookups", type=int, default=5000)
    options = parser.parse_args()
    if os.geteuid() != 0:
        print("bench/dns.py: run as root", file=sys.stderr)
        return 1
    lab = "nlbdns" + os.urandom(2).hex()
    folder = Path(tempfile.mkdtemp(prefix="netlab-bench-dns-"))
    (folder / "lab.yaml").write_text(LAB_YAML)
    try:
        run("up", "-f", str(folder / "lab.yaml"), "--name", lab)
        client = names.pod_netns(lab, "default", "client")
        deadline = time.monotonic() + 30
        dns_pods = []
        while time.monotonic() < deadline:
            pods = json.loads(run("get", "pods", "-n", "kube-system", "-o", "json", "--name", lab).stdout)["items"]
            dns_pods = [p for p in pods if any(c["type"] == "Ready" and c["status"] == "True"
                                               for c in p["status"].get("conditions") or [])]
            if len(dns_pods) == len(pods) and pods:
                break
            time.sleep(0.1)
        name = "web.default.svc.cluster.local"
        lookups(client, "10.96.0.10", name, 200)           # warm up both paths
        through, failed = lookups(client, "10.96.0.10", name, options.lookups)
        direct_ip = dns_pods[0]["status"]["podIP"]
        direct, failed_direct = lookups(client, direct_ip, name, options.lookups)
        print(f"lookups of {name} from one pod, {options.lookups} each, one at a time:")
        print(f"  through kube-dns 10.96.0.10:  {options.lookups / through:8.0f}/s   ({failed} failed)   goal >= 2000/s")
        print(f"  straight at {direct_ip}:  {options.lookups / direct:8.0f}/s   ({failed_direct} failed)   reference")
        print(f"  ratio (Service / straight):   {through / direct:8.2f}x the time per lookup")

        (folder / "late.yaml").write_text("apiVersion: v1\nkind: Service\nmetadata: {name: late}\nspec:\n"
                                          "  selector: {app: web}\n  ports: [{port: 81, targetPort: 80}]\n")
        started = time.perf_counter()
        applying = subprocess.Popen([*NETLAB, "apply", "-f", str(folder / "late.yaml"), "--name", lab],
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=REPO)
        resolved = None
        while resolved is None and time.perf_counter() - started < 10:
            if lookups(client, "10.96.0.10", "late.default.svc.cluster.local", 1)[1] == 0:
                resolved = time.perf_counter() - started
            else:
                time.sleep(0.005)
        applying.wait()
        applied = time.perf_counter() - started
        print("a new Service's name, from `netlab apply` starting:")
        print(f"  resolving from a pod after:   {resolved if resolved is not None else float('inf'):8.3f} s   goal < 1 s")
        print(f"  `netlab apply` itself took:   {applied:8.3f} s   reference")
    finally:
        run("down", "--name", lab, check=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
