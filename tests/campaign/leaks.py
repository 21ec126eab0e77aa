"""What a lab may leave on the machine, looked for by the lab's exact name: namespaces, processes,
mounts, files. A campaign test asserts the list is empty after `down`."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path


def lab_processes(lab: str) -> list:
    """PIDs of processes that belong to LAB: its pods' processes (titled `netlab ... --name LAB`)
    and its supervisor (`netlab.supervisor LAB`)."""
    found = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            argv = Path(entry.path, "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        words = [w.decode(errors="replace") for w in argv if w]
        named = any(a == "--name" and b == lab for a, b in zip(words, words[1:]))
        supervisor = any(a == "netlab.supervisor" and b == lab for a, b in zip(words, words[1:]))
        if (named and "netlab" in " ".join(words[:3])) or supervisor:
            found.append(int(entry.name))
    return found


def namespace_inodes(lab: str) -> set:
    """The inodes of LAB's network namespaces now (every lab's when LAB is ""): a process still in
    one after `down` is a leak even though the namespace has no name any more."""
    inodes = set()
    for pin in Path("/run/netns").glob(f"{lab}-*" if lab else "*"):
        try:
            inodes.add(os.stat(pin).st_ino)
        except OSError:
            pass
    return inodes


def _named_lab(pid: str) -> str | None:
    """The lab a process's command line names (`--name LAB`), if any."""
    try:
        words = [w.decode(errors="replace") for w in Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")]
    except OSError:
        return None
    return next((b for a, b in zip(words, words[1:]) if a == "--name"), None)


def _processes_in(inodes: set, lab: str = "") -> list:
    """Processes in one of INODES that no name pins now. The kernel reuses a freed namespace's inode,
    so one that another lab has pinned since is that lab's, not a leak; and so is a command of
    another lab's (`--name OTHER`) that stands in a namespace it made a moment ago, before pinning
    it (its own test looks after it)."""
    inodes = set(inodes) - namespace_inodes("")
    found = []
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                if os.stat(f"{entry.path}/ns/net").st_ino in inodes:
                    named = _named_lab(entry.name)
                    if named is None or named == lab or not lab:
                        found.append(int(entry.name))
            except OSError:
                continue
    return found


def leftovers(lab: str, inodes: set = frozenset()) -> list:
    """Everything of LAB still on the machine, as readable lines (empty when it left nothing).

    INODES are LAB's namespaces seen earlier (namespace_inodes): any process still inside one is listed.
    """
    left = []
    listing = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    left += [f"namespace {line.split()[0]}" for line in listing.splitlines()
             if line.split() and line.split()[0].startswith(f"{lab}-")]
    left += [f"process {pid}" for pid in sorted(set(lab_processes(lab)) | set(_processes_in(set(inodes), lab)))]
    mounts = Path("/proc/self/mountinfo").read_text().splitlines()
    left += [f"mount {line.split()[4]}" for line in mounts
             if f"/{lab}-" in line.split()[4] or f"/netlab/{lab}/" in line.split()[4] + "/"]
    for path in (Path("/run/netlab") / lab, Path("/run/netlab") / f"{lab}.lock"):
        if path.exists():
            left.append(f"file {path}")
    etc = Path("/etc/netns")
    if etc.is_dir():
        left += [f"file {p}" for p in etc.iterdir() if p.name.startswith(f"{lab}-")]
    return left


def remove(left: list) -> None:
    """Remove what `leftovers` found (a test leaves nothing behind even when netlab did)."""
    import shutil
    import signal
    for item in left:
        kind, _, what = item.partition(" ")
        if kind == "process":
            try:
                os.kill(int(what), signal.SIGKILL)
            except ProcessLookupError:
                pass
        elif kind == "namespace":
            subprocess.run(["ip", "netns", "delete", what], capture_output=True)
        elif kind == "mount":
            subprocess.run(["umount", "-l", what], capture_output=True)
        elif kind == "file":
            if os.path.isdir(what):
                shutil.rmtree(what, ignore_errors=True)
            else:
                try:
                    os.unlink(what)
                except FileNotFoundError:
                    pass
