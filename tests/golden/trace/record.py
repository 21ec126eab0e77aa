#!/usr/bin/env python3
"""Record the golden captures of tests/test_trace.py from real traces (root; builds its own labs).

Each SCENARIO is traced once in a lab of GOLDEN_LAB (a small one: the rules it reads are stored), in
kube-proxy's iptables mode; each NFT_SCENARIO in a lab of NFT_LAB in its nftables mode (`netlab up
--proxy-mode nftables`: the rules are the nft table `ip kube-proxy`), as nft-NAME.json. A scenario
may first trace WARMUP connections that are not kept (session affinity: the kept one is pinned).
NAME.json holds what `netlab.trace` read (`nft -a monitor` lines, `nft -a list ruleset`,
`iptables-nft-save`, `conntrack -L` of each namespace, the socket's outcome), the explanation it
compared with (its dataclasses as dicts) and what `analyse` made of them live (`to_json`'s own keys,
without explain's).

    sudo .venv/bin/python tests/golden/trace/record.py [iptables] [nftables]     # default: both
"""

from __future__ import annotations

import dataclasses
import json
import secrets
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent.parent
sys.path.insert(0, str(REPO))

from netlab import trace as trace_mod  # noqa: E402
from tests.lab.test_lab_trace import _dns_endpoints_in_rules  # noqa: E402
from tests.conftest import until  # noqa: E402

GOLDEN_LAB = textwrap.dedent("""\
    apiVersion: netlab.io/v1alpha1
    kind: Cluster
    spec:
      clients:
      - {name: client, ip: 172.18.0.100}
    ---
    apiVersion: v1
    kind: Pod
    metadata: {name: solo, labels: {app: solo}}
    spec:
      nodeName: node2
      containers: [{name: web, image: nginx, ports: [{containerPort: 80}]}]
    ---
    apiVersion: v1
    kind: Pod
    metadata: {name: echo, labels: {app: echo}}
    spec:
      nodeName: node1
      containers: [{name: echo, image: example.com/udp-echo, ports: [{containerPort: 5353, protocol: UDP}]}]
    ---
    apiVersion: v1
    kind: Pod
    metadata: {name: client-a}
    spec:
      nodeName: node1
      containers: [{name: c, image: curlimages/curl, command: [sleep, infinity]}]
    ---
    apiVersion: v1
    kind: Service
    metadata: {name: solo}
    spec:
      selector: {app: solo}
      ports: [{port: 80}]
    ---
    apiVersion: v1
    kind: Service
    metadata: {name: solo-np}
    spec:
      type: NodePort
      selector: {app: solo}
      ports: [{port: 80, nodePort: 30082}]
    ---
    apiVersion: v1
    kind: Service
    metadata: {name: solo-local}
    spec:
      type: NodePort
      externalTrafficPolicy: Local
      selector: {app: solo}
      ports: [{port: 80, nodePort: 30081}]
    ---
    apiVersion: v1
    kind: Service
    metadata: {name: nobody}
    spec:
      selector: {app: nothing-has-this-label}
      ports: [{port: 80}]
    ---
    apiVersion: v1
    kind: Service
    metadata: {name: echo}
    spec:
      selector: {app: echo}
      ports: [{port: 53, targetPort: 5353, protocol: UDP}]
    """)

NFT_LAB = GOLDEN_LAB + textwrap.dedent("""\
    ---
    apiVersion: v1
    kind: Service
    metadata: {name: sticky}
    spec:
      selector: {app: solo}
      sessionAffinity: ClientIP
      ports: [{port: 80}]
    """)

# name: (FROM, DEST, what it shows)
SCENARIOS = {
    "cluster-ip-across-nodes": ("client-a", "svc/solo", "pod -> ClusterIP, endpoint on the other node"),
    "node-port-masquerade": ("client/client", "node/node1:30082", "NodePort via a node without the endpoint"),
    "hairpin": ("solo", "svc/solo", "a pod to its own Service: masqueraded to itself"),
    "rejected": ("client-a", "svc/nobody", "no endpoints: REJECT"),
    "dropped-local": ("client/client", "node/node1:30081", "Local policy, no local endpoint: DROP"),
    "udp-same-node": ("client-a", "svc/echo", "UDP to a ClusterIP, endpoint on the same node"),
}

# name: (FROM, DEST, what it shows, connections traced first and not kept)
NFT_SCENARIOS = {
    "nft-cluster-ip-across-nodes": ("client-a", "svc/solo", "nftables mode: pod -> ClusterIP, endpoint on the "
                                    "other node", 0),
    "nft-node-port-masquerade": ("client/client", "node/node1:30082", "nftables mode: NodePort via a node "
                                 "without the endpoint", 0),
    "nft-hairpin": ("solo", "svc/solo", "nftables mode: a pod to its own Service: masqueraded to itself", 0),
    "nft-affinity-pinned": ("client-a", "svc/sticky", "nftables mode: session affinity, the second connection "
                            "pinned through its @affinity- set", 1),
    "nft-rejected": ("client-a", "svc/nobody", "nftables mode: no endpoints: @no-endpoint-services -> reject", 0),
    "nft-dropped-local": ("client/client", "node/node1:30081", "nftables mode: Local policy, no local endpoint: "
                          "@no-endpoint-nodeports -> drop", 0),
    "nft-udp-same-node": ("client-a", "svc/echo", "nftables mode: UDP to a ClusterIP, endpoint on the same node",
                          0),
}
MODES = {"iptables": ("nltrgold", GOLDEN_LAB, [], {k: v + (0,) for k, v in SCENARIOS.items()}),
         "nftables": ("nltrgnft", NFT_LAB, ["--proxy-mode", "nftables"], NFT_SCENARIOS)}


# what trace's json adds to explain's
TRACE_KEYS = ("sent", "outcome", "error", "chosen", "comparedWith", "matchesExplain", "firstDifference",
              "sameSteps", "kernel", "traceWarnings", "seconds")


def record(lab: str, name: str, source: str, dest: str, about: str) -> None:
    kept = {}
    real = trace_mod.capture

    def keeping(*args, **kw):
        kept["capture"] = real(*args, **kw)
        return kept["capture"]

    trace_mod.capture = keeping
    try:
        result = trace_mod.trace(lab, source, dest)
    finally:
        trace_mod.capture = real
    data = {"about": about, "lab": lab, "from": source, "dest": dest,
            "explanation": dataclasses.asdict(result.explanation),
            "capture": dataclasses.asdict(kept["capture"]),
            "result": {k: v for k, v in trace_mod.to_json(result).items() if k in TRACE_KEYS}}
    (HERE / f"{name}.json").write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")
    print(f"{name}: {result.outcome}, chosen {result.chosen}, matchesExplain {result.matches_explain}")


def record_mode(mode: str) -> None:
    prefix, text, up_args, scenarios = MODES[mode]
    lab = prefix + secrets.token_hex(2)
    with tempfile.NamedTemporaryFile("w", suffix=".yaml") as manifest:
        manifest.write(text)
        manifest.flush()
        netlab = [sys.executable, "-m", "netlab"]
        try:
            subprocess.run([*netlab, "up", "-f", manifest.name, "--name", lab, *up_args], check=True, cwd=REPO)
            assert until(lambda: all(_dns_endpoints_in_rules(lab, n) for n in ("node1", "node2"))), \
                "the cluster DNS pods never reached kube-proxy's rules"
            for name, (source, dest, about, warmup) in scenarios.items():
                for _ in range(warmup):
                    trace_mod.trace(lab, source, dest)
                record(lab, name, source, dest, about)
        finally:
            subprocess.run([*netlab, "down", "--name", lab], cwd=REPO)


def main(argv) -> int:
    modes = argv or list(MODES)
    unknown = [m for m in modes if m not in MODES]
    if unknown:
        print(f"record.py: unknown mode {unknown[0]!r} (iptables or nftables)", file=sys.stderr)
        return 2
    for mode in modes:
        record_mode(mode)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
