#!/usr/bin/env python3
"""Benchmark: the data-plane cost of kube-proxy's iptables mode vs nftables mode (issue 14, goal 2).

KEP-3866's motivation: in iptables mode the first packet of every connection walks KUBE-SERVICES,
one rule per Service port, linearly; nftables mode does one map lookup (service-ips). This bench
measures that in one run, both modes, for each size in --sizes (default 10, 1,000 and 10,000
Services x 5 endpoints, bench/proxy_render.py's builder), rendered by netlab for node1:
iptables mode netlab.proxy.render -> iptables-nft-restore (the lab's default backend), nftables
mode netlab.proxy.nft_render -> nft -f (both through netlab.dataplane's appliers).

A "node" is three scratch namespaces: the node, a "client pod" and a "server pod", each pod
joined to the node by a veth pair made inside the node namespace with the peer created directly
in the pod's (nothing is ever made in the root namespace). Node: 10.103.0.1/24 to the client,
10.103.1.1/24 to the server, ip_forward=1, no other route; client 10.103.0.2, default via the
node; server 10.103.1.2..(1+E), default via the node, running a tiny Python accept-and-close TCP
server on :8080. No namespace has a link to anything else: all traffic stays inside the three.

Layout. By default every (mode, size) gets its own, identical node, all rules are loaded first,
and the measurements are then interleaved: --rounds rounds, each giving every row 1/rounds of its
samples and seconds, in a rotating order, so that whatever else runs on the VM over those minutes
weighs on every row alike (sequential runs would compare different moments). --one-node instead
uses a single node, loading, measuring and flushing (nft flush ruleset, conntrack -F) each
(mode, size) in turn. Same kernel, same CPUs, same run either way.

Which Service. Two are measured per (mode, size); their 5 endpoints are the server pod's addresses
(the other Services keep unreachable endpoints, never contacted):

  last    the last Service port in KUBE-SERVICES (only the NodePort catch-all follows it): the
          worst case, the whole chain is walked;
  middle  the Service in the middle of the sort order: the typical case. Real kube-proxy writes
          KUBE-SERVICES in Go map order, so a given Service sits at a uniformly random position
          and the average connection walks half the chain (netlab sorts by name, so "middle" is
          exactly that). In nftables mode the position does not matter; both are measured anyway.
  The table prints each one's rule number in nat KUBE-SERVICES, read from the rendered text.

What. From the client (a Python process inside its namespace) to ClusterIP:80:

  connect   first-packet latency: a blocking connect() on a new socket each time (SYN out, DNAT
            on the node, SYN-ACK back), so every sample is a new conntrack entry that walks the
            nat rules; --warmup untimed connects before each chunk; median and p90 in µs.
  conns/s   sequential connections, one at a time (connect, then close; no concurrency), for
            --seconds per row; connections / elapsed seconds.

The TCP servers are pinned to CPU 0 and the client to CPU 1 (--cpus): with both free to move, the
connect times here were bimodal (~22 and ~47 µs) with a mix that drifted from run to run; pinned
apart, the server's accept/close no longer competes with the client's connect. The SYN-ACK itself
is the kernel's (softirq) work either way.

Sockets close with SO_LINGER 0 (an RST): no TIME_WAIT piles up in the client, and a reused port's
old conntrack entry (CLOSE) is replaced by a new one, NAT lookup included. A reference row
"no rules" connects straight to a server pod's IP through a node with an empty ruleset (no DNAT, no
conntrack). Prints mode x Services -> median, p90, conns/s and the ratios to the smallest size of
the same mode and position; writes a self-contained SVG chart to --plot.

Needs root. Namespaces are named nlbench-modes-<random>-<row>-node|client|server, all deleted at
the end (also on failure or Ctrl-C), and the server processes killed. ~3-4 min with the defaults,
most of it loading: 10,000 Services in nftables mode take ~90 s of kernel time in `nft -f` here.

    sudo .venv/bin/python bench/proxy_modes.py [--sizes 10,1000,10000] [--samples 2000] [--seconds 2]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import select
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

from _scratch import Scratch  # noqa: E402
from proxy_render import config, make_inputs  # noqa: E402

from netlab.dataplane import iptables, netns, nftables  # noqa: E402
from netlab.proxy.nft_render import render_nft  # noqa: E402
from netlab.proxy.render import render  # noqa: E402

# The ServiceCIDR the proxier passes (cluster-ips-check drops traffic to unallocated ClusterIPs in
# it). Not the lab's default 10.96.0.0/12: proxy_render's builder puts pods in 10.100.0.0/14, inside
# that; 10.96.0.0/16 holds every ClusterIP it hands out (10.96.<i // 256>.<i % 256>) and no pod.
SERVICE_CIDRS = ("10.96.0.0/16",)
NODE_CLIENT_SIDE, CLIENT_IP = "10.103.0.1", "10.103.0.2"
NODE_SERVER_SIDE = "10.103.1.1"
SERVER_NET = "10.103.1."
SERVER_PORT = 8080
SERVICE_PORT = 80
MODES = ("iptables", "nftables")
POSITIONS = ("last", "middle")

SERVER = r"""
import os, socket, sys
if sys.argv[2]:
    os.sched_setaffinity(0, {int(sys.argv[2])})
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", int(sys.argv[1])))
s.listen(4096)
print("ready", flush=True)
while True:
    c, _ = s.accept()
    c.close()
"""

CLIENT = r"""
import json, os, socket, struct, sys, time
ip, port, warmup, samples, seconds = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5])
if sys.argv[6]:
    os.sched_setaffinity(0, {int(sys.argv[6])})
RST = struct.pack("ii", 1, 0)
clock = time.perf_counter_ns

def connect():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, RST)
    s.settimeout(2.0)
    t0 = clock()
    s.connect((ip, port))
    t1 = clock()
    s.close()
    return t1 - t0

for _ in range(warmup):
    connect()
latency = [connect() for _ in range(samples)]
count, start = 0, time.perf_counter()
end = start + seconds
while True:
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, RST)
    s.settimeout(2.0)
    s.connect((ip, port))
    s.close()
    count += 1
    if count % 32 == 0 and time.perf_counter() >= end:
        break
print(json.dumps({"latency_ns": latency, "conns": count, "elapsed": time.perf_counter() - start}))
"""


@dataclasses.dataclass
class Row:
    mode: str
    services: int
    position: str
    where: str        # the measured Service's rule in KUBE-SERVICES, or "map" / "-"
    median_us: float
    p90_us: float
    cps: float


def ip(scratch: Scratch, namespace: str, *args: str) -> None:
    rc, _, err = scratch.run(["ip", "-n", namespace, *args])
    if rc != 0:
        raise RuntimeError(f"ip -n {namespace} {' '.join(args)}: {err.strip()}")


def wire(scratch: Scratch, node: str, client: str, server: str, endpoints: int) -> None:
    """Client and server pods joined to the node by veths made inside the node namespace."""
    ip(scratch, node, "link", "set", "lo", "up")
    for pod, dev, node_addr in ((client, "vc0", NODE_CLIENT_SIDE), (server, "vs0", NODE_SERVER_SIDE)):
        ip(scratch, node, "link", "add", dev, "type", "veth", "peer", "name", "eth0", "netns", pod)
        ip(scratch, node, "addr", "add", f"{node_addr}/24", "dev", dev)
        ip(scratch, node, "link", "set", dev, "up")
        ip(scratch, pod, "link", "set", "lo", "up")
        ip(scratch, pod, "link", "set", "eth0", "up")
    ip(scratch, client, "addr", "add", f"{CLIENT_IP}/24", "dev", "eth0")
    ip(scratch, client, "route", "add", "default", "via", NODE_CLIENT_SIDE)
    for a in server_ips(endpoints):
        ip(scratch, server, "addr", "add", f"{a}/24", "dev", "eth0")
    ip(scratch, server, "route", "add", "default", "via", NODE_SERVER_SIDE)
    netns.write_sysctl(node, "net.ipv4.ip_forward", 1)


def server_ips(endpoints: int) -> list:
    return [f"{SERVER_NET}{2 + j}" for j in range(endpoints)]


def start_server(scratch: Scratch, server: str, cpu: str) -> None:
    proc = scratch.popen(scratch.nsexec(server) + [sys.executable, "-c", SERVER, str(SERVER_PORT), cpu],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    ready, _, _ = select.select([proc.stdout], [], [], 10)
    if not ready or proc.stdout.readline().strip() != "ready":
        raise RuntimeError(f"the TCP server in {server} did not start: {proc.stderr.read() if proc.poll() else ''}")


def inputs(services: int, endpoints: int):
    """proxy_render's Services; the measured ones (middle, last) get the server pod's addresses."""
    if services > 65536:
        raise SystemExit("at most 65,536 Services (their ClusterIPs are 10.96.0.0/16)")
    ports, eps = make_inputs(services, endpoints)
    measured = {"last": ports[-1], "middle": ports[services // 2]}
    targets = {p.name for p in measured.values()}
    addresses = server_ips(endpoints)
    seen = {}
    out = []
    for e in eps:
        if e.service in targets:
            j = seen.get(e.service, 0)
            seen[e.service] = j + 1
            e = dataclasses.replace(e, ip=addresses[j])
        elif e.ip.startswith("10.103."):
            raise SystemExit(f"{services} x {endpoints} endpoints reach 10.103.0.0/16, the bench's own pods")
        out.append(e)
    return ports, out, measured


def kube_services_position(text: str, cluster_ip: str) -> str:
    """'k of n': the measured Service's rule among nat KUBE-SERVICES' rules (iptables text)."""
    nat = text.split("*nat\n", 1)[1].split("\nCOMMIT", 1)[0]
    rules = [line for line in nat.splitlines() if line.startswith("-A KUBE-SERVICES ")]
    k = next(i for i, line in enumerate(rules, 1) if f" -d {cluster_ip} " in line)
    return f"{k} of {len(rules)}"


def load(scratch: Scratch, node: str, mode: str, ports, eps, measured) -> tuple:
    """Render and apply MODE's rules for node1 into NODE; (render s, apply s, where-by-position)."""
    t0 = time.perf_counter()
    if mode == "iptables":
        text = render(config(), ports, eps).to_restore_text(include_builtin_jumps=True)
        where = {pos: kube_services_position(text, sp.cluster_ip) for pos, sp in measured.items()}
    else:
        text = render_nft(config(), ports, eps, service_cidrs=SERVICE_CIDRS).to_transaction()
        where = {pos: "map" for pos in measured}
    t1 = time.perf_counter()
    if mode == "iptables":
        iptables.restore(node, text, which="nft")
    else:
        nftables.apply(node, text)
    return t1 - t0, time.perf_counter() - t1, where


def unload(scratch: Scratch, node: str) -> None:
    scratch.run(scratch.nsexec(node) + ["nft", "flush", "ruleset"])
    scratch.run(scratch.nsexec(node) + ["conntrack", "-F"])   # best effort (absent: entries time out)


@dataclasses.dataclass
class Target:
    """One measured destination: a Service (or the pod IP) behind one node's rules."""

    mode: str
    services: int
    position: str
    where: str
    node: str
    client: str
    address: str
    port: int
    latency_us: list = dataclasses.field(default_factory=list)
    conns: int = 0
    elapsed: float = 0.0

    def row(self) -> Row:
        lat = sorted(self.latency_us)
        p90 = lat[min(len(lat) - 1, math.ceil(0.9 * len(lat)) - 1)]
        return Row(self.mode, self.services, self.position, self.where, statistics.median(lat), p90,
                   self.conns / self.elapsed)


def measure(scratch: Scratch, t: Target, args, samples: int, seconds: float) -> None:
    """Add one chunk of connections from T's client to T's address to T's figures."""
    argv = scratch.nsexec(t.client) + [sys.executable, "-c", CLIENT, t.address, str(t.port), str(args.warmup),
                                       str(samples), str(seconds), args.client_cpu]
    rc, out, err = scratch.run(argv, timeout=600)
    if rc != 0:
        raise RuntimeError(f"client in {t.client} could not connect to {t.address}:{t.port}: "
                           f"{err.strip().splitlines()[-1] if err.strip() else rc}")
    result = json.loads(out)
    t.latency_us += [x / 1e3 for x in result["latency_ns"]]
    t.conns += result["conns"]
    t.elapsed += result["elapsed"]


def print_table(rows: list, base: int) -> None:
    ref = {(r.mode, r.position): r for r in rows if r.services == base}
    print(f"\n{'mode':9s} {'services':>8s} {'measured':8s} {'KUBE-SERVICES':>14s} {'median µs':>10s} "
          f"{'p90 µs':>8s} {'conns/s':>8s} {f'median x{base}':>12s} {f'conns/s x{base}':>13s}")
    for r in rows:
        b = ref.get((r.mode, r.position))
        ratios = (f"{r.median_us / b.median_us:12.2f} {r.cps / b.cps:13.2f}" if b else f"{'-':>12s} {'-':>13s}")
        services = f"{r.services:,}" if r.services else "-"
        print(f"{r.mode:9s} {services:>8s} {r.position:8s} {r.where:>14s} {r.median_us:10.1f} "
              f"{r.p90_us:8.1f} {r.cps:8,.0f} {ratios}")


# --- the chart: a self-contained SVG, two panels (median connect µs, conns/s) over log(Services) ---

COLOURS = {"iptables": "#d62728", "nftables": "#1f77b4"}
DASHES = {"last": "", "middle": "6,4"}


def _esc(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _nice_max(value: float) -> float:
    if value <= 0:
        return 1.0
    step = 10 ** math.floor(math.log10(value))
    for m in (1, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10):
        if value <= m * step:
            return m * step
    return 10 * step


def _panel(x0: float, y0: float, w: float, h: float, title: str, sizes: list, series: dict,
           reference: float | None, fmt) -> list:
    out = [f'<text x="{x0 + w / 2:.0f}" y="{y0 - 12:.0f}" text-anchor="middle" font-size="14" '
           f'font-weight="bold">{_esc(title)}</text>',
           f'<rect x="{x0}" y="{y0}" width="{w}" height="{h}" fill="none" stroke="#999"/>']
    values = [v for pts in series.values() for _, v in pts] + ([reference] if reference else [])
    top = _nice_max(max(values) * 1.08)
    lo, hi = math.log10(min(sizes)), math.log10(max(sizes))
    span = (hi - lo) or 1.0

    def px(n):
        return x0 + 30 + (math.log10(n) - lo) / span * (w - 60)

    def py(v):
        return y0 + h - v / top * h

    for i in range(6):
        v = top * i / 5
        y = py(v)
        out.append(f'<line x1="{x0}" y1="{y:.1f}" x2="{x0 + w}" y2="{y:.1f}" stroke="#eee"/>')
        out.append(f'<text x="{x0 - 6}" y="{y + 4:.1f}" text-anchor="end" font-size="11">{fmt(v)}</text>')
    for n in sizes:
        out.append(f'<text x="{px(n):.1f}" y="{y0 + h + 16}" text-anchor="middle" font-size="11">{n:,}</text>')
    out.append(f'<text x="{x0 + w / 2:.0f}" y="{y0 + h + 34}" text-anchor="middle" font-size="12">'
               'Services in the node\'s rules (log scale)</text>')
    if reference:
        y = py(reference)
        out.append(f'<line x1="{x0}" y1="{y:.1f}" x2="{x0 + w}" y2="{y:.1f}" stroke="#666" '
                   'stroke-dasharray="2,3"/>')
        out.append(f'<text x="{x0 + w / 2:.0f}" y="{y + 12:.1f}" text-anchor="middle" font-size="10" '
                   'fill="#666">no rules, straight to the pod IP</text>')
    for (mode, position), pts in series.items():
        pts = sorted(pts)
        line = " ".join(f"{px(n):.1f},{py(v):.1f}" for n, v in pts)
        dash = f' stroke-dasharray="{DASHES[position]}"' if DASHES[position] else ""
        out.append(f'<polyline points="{line}" fill="none" stroke="{COLOURS[mode]}" stroke-width="2"{dash}/>')
        for n, v in pts:
            out.append(f'<circle cx="{px(n):.1f}" cy="{py(v):.1f}" r="3" fill="{COLOURS[mode]}"/>')
    return out


def write_svg(path: Path, rows: list, loadavg: tuple) -> None:
    measured = [r for r in rows if r.services]
    sizes = sorted({r.services for r in measured})
    reference = next((r for r in rows if not r.services), None)
    lat, cps = {}, {}
    for r in measured:
        lat.setdefault((r.mode, r.position), []).append((r.services, r.median_us))
        cps.setdefault((r.mode, r.position), []).append((r.services, r.cps))
    width, height = 960, 470
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}" font-family="sans-serif">',
             f'<rect width="{width}" height="{height}" fill="white"/>',
             '<text x="480" y="22" text-anchor="middle" font-size="15">kube-proxy data-plane cost: '
             'TCP connect to a ClusterIP from a pod, one node (bench/proxy_modes.py)</text>']
    parts += _panel(70, 60, 380, 300, "median connect time (µs)", sizes, lat,
                    reference.median_us if reference else None, lambda v: f"{v:.0f}")
    parts += _panel(560, 60, 380, 300, "connections per second (sequential)", sizes, cps,
                    reference.cps if reference else None, lambda v: f"{v:,.0f}")
    for i, mode in enumerate(MODES):
        for j, position in enumerate(POSITIONS):
            if (mode, position) not in lat:
                continue
            x, y = 80 + 430 * j, 410 + 20 * i
            dash = f' stroke-dasharray="{DASHES[position]}"' if DASHES[position] else ""
            parts.append(f'<line x1="{x}" y1="{y}" x2="{x + 30}" y2="{y}" stroke="{COLOURS[mode]}" '
                         f'stroke-width="2"{dash}/>')
            label = f"{mode}, {position} Service" + (" (the whole KUBE-SERVICES walked)"
                                                     if (mode, position) == ("iptables", "last") else "")
            parts.append(f'<text x="{x + 36}" y="{y + 4}" font-size="12">{_esc(label)}</text>')
    parts.append(f'<text x="480" y="455" text-anchor="middle" font-size="10" fill="#666">'
                 f'{_esc(time.strftime("%Y-%m-%d %H:%M"))}, {os.cpu_count()} CPUs, load average '
                 f'{loadavg[0]:.2f} at start / {loadavg[1]:.2f} at end; iptables mode via iptables-nft-restore, '
                 'nftables mode via nft -f</text>')
    parts.append("</svg>")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(parts) + "\n")


def make_node(scratch: Scratch, label: str, args) -> tuple:
    """A node, a client pod and a server pod (its TCP server running): their namespace names."""
    node, client, server = (scratch.namespace(f"{label}-{x}") for x in ("node", "client", "server"))
    wire(scratch, node, client, server, args.endpoints)
    start_server(scratch, server, args.server_cpu)
    return node, client


def load_targets(scratch: Scratch, node: str, client: str, mode: str, services: int, args) -> list:
    ports, eps, measured = inputs(services, args.endpoints)
    t_render, t_apply, where = load(scratch, node, mode, ports, eps, measured)
    print(f"  {mode}, {services:,} Services: rendered in {t_render:.2f} s, applied in {t_apply:.2f} s",
          flush=True)
    return [Target(mode, services, pos, where[pos], node, client, measured[pos].cluster_ip, SERVICE_PORT)
            for pos in args.positions_list]


def run_interleaved(scratch: Scratch, configs: list, args) -> list:
    """Every (mode, size) on its own identical node, all loaded first; then --rounds rounds, each
    measuring every target for 1/rounds of its samples and seconds, in an order that rotates."""
    node, client = make_node(scratch, "ref", args)
    targets = [Target("no rules", 0, "pod IP", "-", node, client, server_ips(args.endpoints)[0], SERVER_PORT)]
    for mode, services in configs:
        node, client = make_node(scratch, f"{mode[:3]}{services}", args)
        targets += load_targets(scratch, node, client, mode, services, args)
    samples = max(1, args.samples // args.rounds)
    for r in range(args.rounds):
        shift = r * len(targets) // args.rounds
        for t in targets[shift:] + targets[:shift]:
            measure(scratch, t, args, samples, args.seconds / args.rounds)
        print(f"  round {r + 1}/{args.rounds} done", flush=True)
    return targets


def run_one_node(scratch: Scratch, configs: list, args) -> list:
    """One node for everything: each (mode, size) loaded, measured, flushed in turn."""
    node, client = make_node(scratch, "one", args)
    ref = Target("no rules", 0, "pod IP", "-", node, client, server_ips(args.endpoints)[0], SERVER_PORT)
    measure(scratch, ref, args, args.samples, args.seconds)
    targets = [ref]
    for mode, services in configs:
        loaded = load_targets(scratch, node, client, mode, services, args)
        for t in loaded:
            measure(scratch, t, args, args.samples, args.seconds)
        unload(scratch, node)
        targets += loaded
    return targets


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10,1000,10000", help="Services per run, comma separated")
    parser.add_argument("--endpoints", type=int, default=5)
    parser.add_argument("--modes", default=",".join(MODES))
    parser.add_argument("--positions", default=",".join(POSITIONS), help="last, middle or both")
    parser.add_argument("--samples", type=int, default=2000, help="timed connects per row (latency)")
    parser.add_argument("--seconds", type=float, default=2.0, help="seconds of sequential connects per row")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds the samples are split into")
    parser.add_argument("--warmup", type=int, default=50, help="untimed connects before each chunk")
    parser.add_argument("--one-node", action="store_true",
                        help="one node namespace, each (mode, size) loaded and measured in turn (no interleaving)")
    parser.add_argument("--cpus", default="0,1" if (os.cpu_count() or 1) > 1 else "",
                        help="SERVER_CPU,CLIENT_CPU to pin the TCP servers and the client to ('' : no pinning)")
    parser.add_argument("--plot", type=Path, default=HERE / "out" / "proxy_modes.svg",
                        help="SVG chart to write (default bench/out/proxy_modes.svg)")
    args = parser.parse_args()
    if os.geteuid() != 0:
        print("needs root (it creates network namespaces)", file=sys.stderr)
        return 2
    sizes = [int(s) for s in args.sizes.split(",")]
    modes = [m for m in args.modes.split(",") if m]
    args.positions_list = [p for p in args.positions.split(",") if p]
    if (set(modes) - set(MODES) or set(args.positions_list) - set(POSITIONS) or not 1 <= args.endpoints <= 200
            or args.rounds < 1 or args.samples < 1):
        parser.error("modes: iptables,nftables; positions: last,middle; endpoints: 1..200; rounds, samples >= 1")
    args.server_cpu, args.client_cpu = (args.cpus.split(",") + [""])[:2] if args.cpus else ("", "")
    configs = [(mode, services) for services in sizes for mode in modes]
    start_load = os.getloadavg()[0]
    layout = ("one node, each (mode, size) in turn" if args.one_node else
              f"one node per (mode, size), measured interleaved in {args.rounds} rounds")
    pins = f"servers on CPU {args.server_cpu}, client on CPU {args.client_cpu}" if args.cpus else "no pinning"
    print(f"{os.cpu_count()} CPUs, load average at start {start_load:.2f}; {layout}; {pins}; per row "
          f"{args.samples} timed connects and {args.seconds:g} s of sequential connects")
    with Scratch("modes") as scratch:
        targets = (run_one_node if args.one_node else run_interleaved)(scratch, configs, args)
    end_load = os.getloadavg()[0]
    rows = [t.row() for t in targets]
    print_table(rows, min(sizes))
    print(f"(load average at end {end_load:.2f})")
    write_svg(args.plot, rows, (start_load, end_load))
    print(f"chart: {args.plot}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
