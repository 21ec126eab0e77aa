"""Scratch network namespaces and processes for the bench scripts: recorded, always removed.

A Scratch names its namespaces nlbench-<what>-<random>-<suffix> and removes exactly those, and
kills exactly the processes it started (by their Popen handle), on normal exit, on an exception,
on Ctrl-C and on SIGTERM (turned into SystemExit so that the `with` block unwinds). Before a
namespace is unpinned its nftables ruleset is flushed in the foreground: a namespace holding a
10,000-Service table would otherwise be torn down by a kernel worker while the next measurement runs.
"""

from __future__ import annotations

import secrets
import signal
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from netlab.dataplane import netns  # noqa: E402


def _sigterm(signum, frame):
    raise SystemExit(128 + signum)


class Scratch:
    """Namespaces and processes one bench run owns (a context manager)."""

    def __init__(self, what: str):
        self.prefix = f"nlbench-{what}-{secrets.token_hex(3)}"
        self.namespaces: list = []
        self.procs: list = []

    def __enter__(self) -> "Scratch":
        signal.signal(signal.SIGTERM, _sigterm)
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def namespace(self, suffix: str) -> str:
        """Create and record namespace <prefix>-SUFFIX."""
        name = f"{self.prefix}-{suffix}"
        self.namespaces.append(name)     # recorded first: a half-made one is removed too
        netns.create(name)
        return name

    def nsexec(self, name: str) -> list:
        """argv prefix running a command inside namespace NAME."""
        # nsenter without "--": util-linux 2.38 would try to execute "--"
        return ["nsenter", f"--net={netns.path(name)}"]

    def drop(self, name: str) -> None:
        """Flush NAME's nftables ruleset (iptables-nft's tables included), then unpin it."""
        if name in self.namespaces:
            self.namespaces.remove(name)
        if netns.exists(name):
            subprocess.run(self.nsexec(name) + ["nft", "flush", "ruleset"], capture_output=True)
            netns.delete(name)

    def popen(self, argv: list, **kwargs) -> subprocess.Popen:
        """Start and record a process (in its own session: Ctrl-C reaches it through us)."""
        proc = subprocess.Popen(argv, start_new_session=True, **kwargs)
        self.procs.append(proc)
        return proc

    def run(self, argv: list, text_in: str | None = None, timeout: float | None = None):
        """(returncode, stdout, stderr) of a recorded process run to its end."""
        proc = self.popen(argv, stdin=subprocess.PIPE if text_in is not None else subprocess.DEVNULL,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        out, err = proc.communicate(text_in, timeout=timeout)
        self.procs.remove(proc)
        return proc.returncode, out, err

    def close(self) -> None:
        """Kill the recorded processes, then remove the recorded namespaces (Ctrl-C ignored meanwhile)."""
        old = signal.signal(signal.SIGINT, signal.SIG_IGN)
        try:
            for proc in self.procs:
                if proc.poll() is None:
                    proc.kill()
                proc.wait()
            self.procs.clear()
            for name in list(self.namespaces):
                self.drop(name)
        finally:
            signal.signal(signal.SIGINT, old)
