"""The files a pod's processes and its readers share: JSON records replaced atomically, and the
identities (pid + start time) that make a recorded pid safe to signal.

A pod's state directory:
    pod.json                 the pod's plan, its pause process and each container init (pid, start
                             time), and the runtime that owns them
    runtime.log              the runtime's diagnostics about this pod
    containers/NAME.json     the container's status (written by its main process, then its init or
                             the runtime)
    containers/NAME.log      the container's stdout and stderr
    containers/NAME.log.times  when each chunk of the log was written (runtime/logtimes.py)
    containers/NAME.previous.log(.times)   the run before the last restart (`logs --previous`)
    containers/NAME.rootfs/  the container's writable layer (upper, work) and its root (merged)
    volumes/NAME/            the pod's volumes, shared by its containers
"""

from __future__ import annotations

import json
import os
import pathlib
import time

from netlab.runtime import linux

POD_FILE = "pod.json"
POD_LOG = "runtime.log"
CONTAINERS_DIR = "containers"
VOLUMES_DIR = "volumes"
DNS_RECORDS_DIR = "dns"          # a cluster DNS pod's records (runtime/coredns.py), from the controller
DNS_RECORDS_FILE = "records"


def dumps(obj) -> bytes:
    return (json.dumps(obj, indent=1, sort_keys=True) + "\n").encode()


def write_at(dir_fd: int, name: str, obj) -> None:
    """Replace `name` in the directory atomically (readers never see half a file)."""
    tmp = f".{name}.{os.getpid()}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644, dir_fd=dir_fd)
    try:
        data = dumps(obj)
        while data:
            data = data[os.write(fd, data) :]
    finally:
        os.close(fd)
    os.rename(tmp, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)


def read_at(dir_fd: int, name: str) -> dict | None:
    try:
        fd = os.open(name, os.O_RDONLY, dir_fd=dir_fd)
    except FileNotFoundError:
        return None
    try:
        chunks = []
        while True:
            b = os.read(fd, 65536)
            if not b:
                break
            chunks.append(b)
    finally:
        os.close(fd)
    try:
        return json.loads(b"".join(chunks))
    except ValueError:
        return None


def read(path: pathlib.Path) -> dict | None:
    try:
        return json.loads(path.read_bytes())
    except (FileNotFoundError, NotADirectoryError, ValueError):
        return None


def write(path: pathlib.Path, obj) -> None:
    fd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
    try:
        write_at(fd, path.name, obj)
    finally:
        os.close(fd)


def ident(pid: int) -> dict:
    """The record of a process: its pid and start time (a reused pid has another start time)."""
    return {"pid": pid, "start": linux.starttime(pid)}


def exit_fields(wait_status: int) -> dict:
    """exit_code, signal and reason of a wait status, as a container's terminated state has them."""
    code = os.waitstatus_to_exitcode(wait_status)
    if code >= 0:
        return {"exit_code": code, "signal": None, "reason": "Completed" if code == 0 else "Error"}
    return {"exit_code": 128 - code, "signal": -code, "reason": "Error"}


def say(fd: int, obj: dict) -> None:
    """One JSON line on a pod's start-up pipe (short enough to be written atomically)."""
    try:
        os.write(fd, json.dumps(obj).encode()[:4000] + b"\n")
    except OSError:
        pass


def log_line(fd: int, msg: str) -> None:
    """A timestamped diagnostic line on FD."""
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    try:
        os.write(fd, f"{stamp} [{os.getpid()}] {msg}\n".encode())
    except OSError:
        pass
