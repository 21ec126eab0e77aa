"""A real etcd for tests: one member on 127.0.0.1 with random free ports, its data in a folder the
test owns, killed (and waited for) and its folder removed on the way out, even on failure."""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest
import requests

START_TIMEOUT = 15.0        # seconds for a fresh etcd to answer /health (about 1 s on a quiet machine)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class EtcdServer:
    """One etcd process serving ENDPOINT; stop() and start() again keep its data and ports (an etcd
    that restarts, as a watch must survive)."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.client_port, self.peer_port = free_port(), free_port()
        self.endpoint = f"http://127.0.0.1:{self.client_port}"
        self.process: subprocess.Popen | None = None

    def command(self) -> list:
        peer = f"http://127.0.0.1:{self.peer_port}"
        return ["etcd", "--name", "netlab-test", "--data-dir", str(self.folder / "data"),
                "--listen-client-urls", self.endpoint, "--advertise-client-urls", self.endpoint,
                "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
                "--initial-cluster", f"netlab-test={peer}"]

    def start(self) -> None:
        with open(self.folder / "etcd.log", "ab") as log:
            self.process = subprocess.Popen(self.command(), stdin=subprocess.DEVNULL, stdout=log, stderr=log)
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            try:
                if requests.get(f"{self.endpoint}/health", timeout=1.0).json().get("health") == "true":
                    return
            except (requests.RequestException, ValueError):
                pass
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"etcd did not come up on {self.endpoint}; its log:\n{self.log()[-2000:]}")
            time.sleep(0.05)

    def stop(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait(10)
            self.process = None

    def log(self) -> str:
        try:
            return (self.folder / "etcd.log").read_text(errors="replace")
        except FileNotFoundError:
            return ""


@contextlib.contextmanager
def running_etcd(folder: Path):
    """An EtcdServer started in FOLDER (skips the test when etcd is not installed), stopped and
    FOLDER removed after."""
    if shutil.which("etcd") is None:
        pytest.skip("etcd is not installed (Debian's etcd-server: scripts/setup.sh installs it)")
    folder.mkdir(parents=True, exist_ok=True)
    server = EtcdServer(folder)
    server.start()
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(folder, ignore_errors=True)
