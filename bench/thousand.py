"""A big lab: a Deployment of N pods on 10 nodes behind a Service, timed from `netlab up` until every
pod answers, then REQUESTS requests through the Service from a pod (netlab probe), and one first
request to every pod's IP. The reference, measured in the same run, is the default lab's `up`.

    sudo .venv/bin/python bench/thousand.py [--pods 1000] [--requests 5000] [--nodes 10]
                                            [--raise-neighbour-limits]

Goals (issue 10): up in under 15 s with every pod answering; 0 failed requests; memory per pod.
The kernel keeps 1024 ARP entries for all namespaces together (gc_thresh3): a lab of 1,000 pods
needs about 2,200, and past the limit connections lose their first SYN or time out ("neighbor
table overflow!" in dmesg). --raise-neighbour-limits raises the three host-wide sysctls for the run
and puts them back after (a change to the host, so only when asked).
"""

from __future__ import annotations

import argparse
import os
import pathlib
import secrets
import subprocess
import sys
import tempfile
import textwrap
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
NETLAB = [str(ROOT / ".venv/bin/netlab")]

from containers import HELD, mem_held, settled_mem_available  # noqa: E402  (bench/containers.py, beside this one)


def netlab(*args: str) -> subprocess.CompletedProcess:
    done = subprocess.run(NETLAB + list(args), capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError(f"netlab {' '.join(args)}: {done.stderr.strip()}")
    return done


def lab_file(pods: int, nodes: int) -> str:
    return textwrap.dedent(f"""\
        apiVersion: netlab.io/v1alpha1
        kind: Cluster
        spec:
          nodes: {nodes}
        ---
        apiVersion: apps/v1
        kind: Deployment
        metadata: {{name: web}}
        spec:
          replicas: {pods}
          selector: {{matchLabels: {{app: web}}}}
          template:
            metadata: {{labels: {{app: web}}}}
            spec:
              containers:
              - {{name: nginx, image: nginx, ports: [{{containerPort: 80}}]}}
        ---
        apiVersion: v1
        kind: Service
        metadata: {{name: web}}
        spec:
          selector: {{app: web}}
          ports: [{{port: 80, targetPort: 80}}]
        ---
        apiVersion: v1
        kind: Pod
        metadata: {{name: curl}}
        spec:
          nodeName: node1
          containers:
          - {{name: curl, image: curlimages/curl, command: [sleep, infinity]}}
        """)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pods", type=int, default=1000)
    ap.add_argument("--nodes", type=int, default=10)
    ap.add_argument("--requests", type=int, default=5000)
    ap.add_argument("--raise-neighbour-limits", action="store_true",
                    help="raise net.ipv4.neigh.default.gc_thresh1/2/3 for the run (host-wide), then restore them")
    args = ap.parse_args()
    if os.geteuid() != 0:
        print("needs root (creates network namespaces)", file=sys.stderr)
        return 2
    from netlab import probe, state
    from netlab.dataplane import traffic
    from netlab import names

    reference = f"nlbr{secrets.token_hex(2)}"
    lab = f"nlbk{secrets.token_hex(2)}"
    folder = pathlib.Path(tempfile.mkdtemp(prefix="nlbench-"))
    manifest = folder / "big.yaml"
    manifest.write_text(lab_file(args.pods, args.nodes))
    thresholds = {f"/proc/sys/net/ipv4/neigh/default/gc_thresh{i}": None for i in (1, 2, 3)}
    try:
        if args.raise_neighbour_limits:
            for i, path in enumerate(thresholds, start=1):
                thresholds[path] = pathlib.Path(path).read_text()
                pathlib.Path(path).write_text(str(args.pods * 3 * 2 ** (i - 1)))
        limit = pathlib.Path("/proc/sys/net/ipv4/neigh/default/gc_thresh3").read_text().strip()
        t0 = time.perf_counter()
        netlab("up", "--name", reference, "-f", str(ROOT / "manifests"))
        t_reference = time.perf_counter() - t0
        netlab("down", "--name", reference)

        subprocess.run(["sync"])
        before = settled_mem_available()
        held_before = mem_held()
        t0 = time.perf_counter()
        up = netlab("up", "--name", lab, "-f", str(manifest))
        t_first = time.perf_counter() - t0
        # `up` creates every replica (passes of kube-controller-manager's 500-pod burst, one after
        # the other) and builds them; the supervisor would build any it left; the lab is up when
        # the Deployment has every replica available
        # (read from the lab's state in this process: a `netlab get` every few tenths of a second
        # would take a good part of a core from the supervisor it waits for)
        while sum(1 for key, r in (state.load(lab).pods or {}).items()
                  if key.startswith("default/web-") and r.get("phase") == "running") < args.pods:
            if time.perf_counter() - t0 > 300:
                raise TimeoutError("the Deployment did not become available in 300 s")
            time.sleep(0.5)
        t_up = time.perf_counter() - t0
        if f"{args.pods}/{args.pods}" not in netlab("get", "deploy", "web", "--name", lab).stdout:
            print("warning: every pod runs but the Deployment does not count them all available yet")
        not_answering = [line for line in up.stderr.splitlines() if "not answering" in line or "exited" in line]
        warned = any("ARP entries" in line for line in up.stderr.splitlines())
        time.sleep(1.0)
        per_pod = (before - settled_mem_available()) / (args.pods + 1)
        held_per_pod = (mem_held() - held_before) / (args.pods + 1)
        t0 = time.perf_counter()
        listing = netlab("get", "pods", "--name", lab).stdout
        t_get = time.perf_counter() - t0
        running = sum(1 for line in listing.splitlines()[1:] if line.split()[2:3] == ["Running"])

        st = state.load(lab)
        curl_ns = names.pod_netns(lab, "default", "curl")
        ips = [r["ip"] for key, r in st.pods.items() if key.startswith("default/web-")]
        first_failed = 0
        slow = 0
        for ip in ips:           # the first request each pod ever gets, straight to its IP
            started = time.perf_counter()
            reply = next(iter(traffic.send(curl_ns, ip, 80, "TCP", 1)))
            first_failed += not reply.ok
            slow += reply.ok and time.perf_counter() - started > 0.5     # a lost SYN, sent again after 1 s
        t0 = time.perf_counter()
        result = probe.probe(lab, "curl", "web", args.requests)
        t_probe = time.perf_counter() - t0

        print(f"{args.pods} pods on {args.nodes} nodes, {os.cpu_count()} cpus")
        print(f"reference: default lab up {t_reference:.2f}s")
        print(f"ARP table limit (gc_thresh3): {limit}{' (raised for this run)' if args.raise_neighbour_limits else ''}; "
              f"up warned about it: {warned}")
        print(f"up until every pod answers: {t_up:.2f}s ({t_up / t_reference:.1f}x the default lab; goal < 15 s; "
              f"`netlab up` itself {t_first:.2f}s); {running} pods Running; up reported {len(not_answering)} not answering")
        print(f"memory per pod (fall of MemAvailable): {per_pod / 2**20:.2f} MiB; rise of {' + '.join(HELD)}: "
              f"{held_per_pod / 2**20:.2f} MiB (goal <= 3 MB)")
        print(f"get pods: {t_get:.2f}s")
        print(f"first request to each pod's IP: {first_failed} of {len(ips)} failed, {slow} took a SYN retransmit")
        verdict = "no verdict" if result.fit is None else ("consistent" if result.fit.passed else "NOT consistent")
        print(f"{args.requests} requests through the Service: {result.failed} failed (goal 0), "
              f"{len([k for k in result.hits if not k.startswith('(')])} endpoints answered, chi-square {verdict}, "
              f"{t_probe:.1f}s")
        return 0
    finally:
        for name in (reference, lab):
            subprocess.run(NETLAB + ["down", "--name", name], capture_output=True)
        for path, value in thresholds.items():
            if value is not None:
                pathlib.Path(path).write_text(value)
        for path in folder.iterdir():
            path.unlink()
        folder.rmdir()


if __name__ == "__main__":
    sys.exit(main())
