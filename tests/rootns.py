"""A snapshot of the host's root network namespace, to prove netlab never changes it."""

import glob
import subprocess


def _run(argv):
    try:
        return subprocess.run(argv, capture_output=True, text=True, timeout=60).stdout
    except FileNotFoundError:
        return f"<{argv[0]} not installed>"


def _sysctls():
    values = {}
    for pattern in ("/proc/sys/net/ipv4/ip_forward", "/proc/sys/net/ipv4/conf/*/route_localnet",
                    "/proc/sys/net/ipv4/conf/*/rp_filter", "/proc/sys/net/bridge/*",
                    "/proc/sys/net/ipv4/ip_unprivileged_port_start"):
        for path in sorted(glob.glob(pattern)):
            try:
                with open(path) as handle:
                    values[path] = handle.read().strip()
            except OSError:
                pass
    return values


def _strip_counters(text):
    import re
    return re.sub(r"\[\d+:\d+\]", "[0:0]", "\n".join(l for l in text.splitlines() if not l.startswith("#")))


def snapshot():
    """Links, addresses, routes, sysctls, both iptables variants, the DNS port and the resolver
    configuration of the root namespace (the cluster DNS must stay inside its pods)."""
    return {
        "port 53": sorted(line for line in _run(["ss", "-Hlnut"]).splitlines()
                          if line.split()[4].endswith(":53")),
        "resolv.conf": open("/etc/resolv.conf").read(),
        "links": _run(["ip", "-o", "link", "show"]),
        "addresses": _run(["ip", "-o", "addr", "show"]),
        "routes": _run(["ip", "route", "show", "table", "all"]),
        "sysctls": _sysctls(),
        "iptables-nft": _strip_counters(_run(["iptables-nft-save"])),
        "iptables-legacy": _strip_counters(_run(["iptables-legacy-save"])),
    }


def differences(before, after):
    return [key for key in before if before[key] != after.get(key)]
