"""Plain data in and out of the pod runtime: what to run, and what is running."""

from __future__ import annotations

import pathlib
from dataclasses import dataclass, field

PROTOCOLS = ("TCP", "UDP", "SCTP")


@dataclass
class ContainerSpec:
    """One container as the manifest gives it (command/args unexpanded, env values final)."""

    name: str
    image: str
    command: list[str] | None = None
    args: list[str] | None = None
    env: dict[str, str] = field(default_factory=dict)
    ports: list[tuple[int, str]] = field(default_factory=list)
    working_dir: str | None = None
    run_as_user: int | None = None
    run_as_group: int | None = None
    # the pod's volumes it mounts: (volume name, mountPath, readOnly, subPath or ""); the pod's
    # containers share each volume
    mounts: list[tuple[str, str, bool, str]] = field(default_factory=list)
    # kubectl run -i/-t, attach: stdin open to attaching clients (closed after the first one
    # detaches with stdin_once), a terminal (runtime/stdio.py)
    stdin: bool = False
    stdin_once: bool = False
    tty: bool = False


@dataclass
class PodRuntimeSpec:
    """One pod whose network namespace already exists and is configured."""

    lab: str
    namespace: str
    name: str
    node: str
    pod_ip: str
    host_ip: str
    netns: str
    state_dir: pathlib.Path
    containers: list[ContainerSpec]
    termination_grace_seconds: float = 2.0
    # configMap/secret/projected/downwardAPI volumes: name -> {relative path: (content, mode)},
    # written before the containers start; a volume named in mounts but not here is an emptyDir
    volume_files: dict[str, dict[str, tuple[bytes, int]]] = field(default_factory=dict)
    # "overlay": each container's own copy-on-write root; "host": a bind of the host's root, the
    # reference bench/containers.py measures the overlay against (never used by a lab)
    root_filesystem: str = "overlay"
    hostname: str | None = None     # spec.hostname (kubelet's); None: the pod's name
    pod_ip6: str | None = None      # a dual-stack pod's IPv6 address, on eth0 beside pod_ip


@dataclass
class ContainerStatus:
    """What became of one container, as kubectl's containerStatuses would tell it."""

    name: str
    state: str  # "running" | "terminated" | "waiting"
    reason: str | None = None  # Completed | Error | StartError | ContainerStatusUnknown | ContainerCreating
    exit_code: int | None = None
    signal: int | None = None
    pid: int | None = None  # host pid of the container's main process
    started_at: float | None = None  # epoch seconds
    finished_at: float | None = None
    mode: str | None = None  # "exec" (argv run here) | "builtin" (netlab's server) | "sleep" (placeholder)
    argv: list[str] | None = None
    message: str | None = None

    @property
    def ready(self) -> bool:
        """A running container counts as ready (no probes yet)."""
        return self.state == "running"


@dataclass
class PodStatus:
    """The pod's liveness (its owner, the pause process) plus each container's status, in manifest order."""

    owner_pid: int | None
    owner_alive: bool
    containers: list[ContainerStatus]

    @property
    def phase(self) -> str:
        """Kubernetes pod phase derived from the container states."""
        states = [c.state for c in self.containers]
        if not states or "waiting" in states:
            return "Pending"
        if "running" in states:
            return "Running"
        if all(c.exit_code == 0 for c in self.containers):
            return "Succeeded"
        return "Failed"
