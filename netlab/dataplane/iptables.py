"""Rules into a namespace: one iptables-restore of the whole tables, as kube-proxy applies them.

The restore runs inside the node's namespace (nsenter --net) with the iptables variant the
machine's own `iptables` command uses, so `ip netns exec NODE iptables -t nat -S` shows the rules
with nothing to configure. A restore is all-or-nothing: when it fails, the previous rules stay and
the error names the failing line with the lines around it (kube-proxy logs the same context).
"""

from __future__ import annotations

import re
import subprocess

from netlab.dataplane import netns

_FAILED_LINE = re.compile(r"line:? (\d+)")


class RestoreError(Exception):
    """iptables-restore refused the rules; the message shows the failing line in context."""


def variant() -> str:
    """'nft' or 'legacy': what the plain `iptables` command uses on this machine."""
    from netlab.dataplane.variant import iptables_variant
    return iptables_variant() or "nft"


def restore_argv(which: str, ip6: bool = False) -> list:
    """The restore command for variant WHICH, the IPv6 one (ip6tables-*-restore) when IP6."""
    from netlab.dataplane.variant import restore_command
    try:
        command = list(restore_command(which))
        if ip6:
            command[0] = command[0].replace("iptables", "ip6tables", 1)
        return command + ["-w", "5"]
    except FileNotFoundError as err:
        raise RestoreError(f"{err} (`netlab doctor` checks everything netlab needs)") from None


def _context(text: str, line_no: int, around: int = 2) -> str:
    lines = text.splitlines()
    start, end = max(1, line_no - around), min(len(lines), line_no + around)
    return "\n".join(f"{'>' if n == line_no else ' '} {n:5d}  {lines[n - 1]}" for n in range(start, end + 1))


def _argv(namespace: str, which: str | None, noflush: bool, ip6: bool = False) -> list:
    # nsenter without "--": util-linux 2.38 would try to execute "--"
    argv = ["nsenter", f"--net={netns.path(namespace)}"] + restore_argv(which or variant(), ip6)
    if noflush:
        argv.append("--noflush")
    return argv


def _failure(namespace: str, text: str, message: str, ip6: bool = False) -> RestoreError:
    message = message.strip()
    match = _FAILED_LINE.search(message)
    detail = f"\n{_context(text, int(match.group(1)))}" if match else ""
    tool = "ip6tables-restore" if ip6 else "iptables-restore"
    return RestoreError(f"{tool} in network namespace {namespace!r} failed: {message}{detail}\n"
                        "the previous rules are still in place")


def restore(namespace: str, text: str, which: str | None = None, noflush: bool = False, ip6: bool = False) -> None:
    """Load TEXT (iptables-save format) into NAMESPACE atomically (the IPv6 tables when IP6);
    raise RestoreError on failure."""
    result = subprocess.run(_argv(namespace, which, noflush, ip6), input=text, capture_output=True, text=True)
    if result.returncode != 0:
        raise _failure(namespace, text, result.stderr or result.stdout, ip6)


def restore_many(jobs: list, which: str | None = None, ip6: bool = False) -> None:
    """Restore into several namespaces at once (one process each): JOBS are (namespace, text, noflush);
    IP6: with ip6tables-restore.

    Every job runs to its end; the first failure is raised afterwards, the others' rules are loaded.
    """
    which = which or variant()
    running = []
    for namespace, text, noflush in jobs:
        proc = subprocess.Popen(_argv(namespace, which, noflush, ip6), stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        running.append((namespace, text, proc))
    failures = []
    for namespace, text, proc in running:
        out, err = proc.communicate(text)
        if proc.returncode != 0:
            failures.append(_failure(namespace, text, err or out, ip6))
    if failures:
        raise failures[0]


def save(namespace: str, table: str | None = None, which: str | None = None, ip6: bool = False) -> str:
    """The live rules of NAMESPACE as iptables-save (ip6tables-save when IP6) prints them."""
    which = which or variant()
    tool = f"ip6tables-{which}-save" if ip6 else f"iptables-{which}-save"
    argv = ["nsenter", f"--net={netns.path(namespace)}", tool]
    if table:
        argv += ["-t", table]
    return subprocess.run(argv, capture_output=True, text=True, check=True).stdout


def list_rules(namespace: str, table: str = "nat", which: str | None = None) -> str:
    """`iptables -t TABLE -S` inside NAMESPACE."""
    which = which or variant()
    argv = ["nsenter", f"--net={netns.path(namespace)}", f"iptables-{which}", "-t", table, "-S"]
    return subprocess.run(argv, capture_output=True, text=True, check=True).stdout


def kube_cleanup_text(saved: str) -> str:
    """iptables-restore --noflush input removing kube-proxy's chains (KUBE-*) and the rules that jump
    to them from SAVED (iptables-save output), as kube-proxy's CleanupLeftovers does (pure)."""
    out, table, chains, unjumps = [], None, [], []

    def close():
        if table and (chains or unjumps):
            out.append(f"*{table}")
            out.extend(f":{c} - [0:0]" for c in chains)      # declaring a chain with --noflush flushes it
            out.extend(unjumps)
            out.extend(f"-X {c}" for c in chains)
            out.append("COMMIT")

    for line in saved.splitlines():
        if line.startswith("*"):
            table, chains, unjumps = line[1:], [], []
        elif line.startswith(":KUBE-"):
            chains.append(line[1:].split()[0])
        elif line.startswith("-A ") and not line.split()[1].startswith("KUBE-") and " -j KUBE-" in line:
            unjumps.append("-D " + line[3:])
        elif line == "COMMIT":
            close()
            table = None
    return "\n".join(out) + "\n" if out else ""


def remove_kube_chains(namespace: str, which: str | None = None, ip6: bool = False) -> None:
    """Remove kube-proxy's iptables chains (ip6tables ones when IP6) from NAMESPACE (nothing to do
    when there are none)."""
    text = kube_cleanup_text(save(namespace, which=which, ip6=ip6))
    if text:
        restore(namespace, text, which=which, noflush=True, ip6=ip6)
