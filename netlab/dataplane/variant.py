"""Which iptables this machine uses, and which restore command writes that variant.

netlab writes kube-proxy's rules with the variant the plain `iptables` command uses (nf_tables on
Debian 12 / Ubuntu 22.04+), so that `iptables -t nat -S` inside a node shows them: the other
variant's tables are invisible to it. `netlab doctor` reports the same facts.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from typing import Callable, Optional

_VERSION_RE = re.compile(r"\bv(\d+)\.(\d+)(?:\.(\d+))?(?:\s+\(([^)]*)\))?")


def parse_iptables_version(text: str) -> tuple[Optional[tuple[int, int, int]], Optional[str]]:
    """Parse `iptables --version` output into ((major, minor, patch), "nft" | "legacy"), Nones if unreadable."""
    m = _VERSION_RE.search(text or "")
    if not m:
        return None, None
    version = (int(m.group(1)), int(m.group(2)), int(m.group(3) or 0))
    tag = (m.group(4) or "").strip()
    if tag == "nf_tables":
        return version, "nft"
    if tag == "legacy":
        return version, "legacy"
    if not tag and version < (1, 8, 0):
        return version, "legacy"  # before 1.8 there was only the legacy backend, and no "(legacy)" tag
    return version, None


def _version_output(binary: str) -> Optional[str]:
    """Run `binary --version` and return its output, None if it cannot run."""
    path = shutil.which(binary)
    if path is None:
        return None
    try:
        proc = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    return (proc.stdout + proc.stderr).strip() or None


def iptables_variant() -> Optional[str]:
    """The backend ("nft" | "legacy") the plain `iptables` command uses, None if there is no usable iptables.

    netlab writes kube-proxy rules with this variant so the user's `iptables -t nat -S` inside a node
    namespace shows them; the other variant's tables would be invisible to it.
    """
    return parse_iptables_version(_version_output("iptables") or "")[1]


def pick_restore(variant: Optional[str], found: Callable[[str], bool], plain_variant: Optional[str]
                 ) -> Optional[list[str]]:
    """Choose the restore binary for `variant` given which binaries exist; None if there is none."""
    if variant not in ("nft", "legacy"):
        return None
    if found(f"iptables-{variant}-restore"):
        return [f"iptables-{variant}-restore"]
    # iptables < 1.8 ships only `iptables-restore` (legacy); use the plain one only if it is `variant`.
    if found("iptables-restore") and plain_variant == variant:
        return ["iptables-restore"]
    return None


def restore_command(variant: Optional[str]) -> list[str]:
    """The `iptables-restore` command for `variant` ("nft" -> ["iptables-nft-restore"]).

    Callers add their own flags (`--noflush`, `-w 5 -W 100000` when supports_random_fully(version)).
    Raises FileNotFoundError (with the apt-get fix) when that variant's restore is not installed.
    """
    if variant not in ("nft", "legacy"):
        raise FileNotFoundError("no usable `iptables` on PATH to pick a backend: apt-get install iptables")
    plain = parse_iptables_version(_version_output("iptables-restore") or "")[1] \
        if shutil.which("iptables-restore") and not shutil.which(f"iptables-{variant}-restore") else None
    cmd = pick_restore(variant, lambda b: shutil.which(b) is not None, plain)
    if cmd is None:
        raise FileNotFoundError(f"no iptables-restore for the {variant} backend on PATH: apt-get install iptables")
    return cmd
