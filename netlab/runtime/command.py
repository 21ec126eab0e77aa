"""Pure decisions about a container: its argv, environment and what netlab runs for it."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from typing import Callable, Mapping

from netlab.runtime import images
from netlab.runtime.spec import ContainerSpec, PodRuntimeSpec

# What containerd/runc put in PATH when the image sets none.
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
HOSTNAME_MAX = 63  # kubelet truncates the pod hostname to 63 characters

# python, python2, python2.7: no Python 2 here, so tutorials' python:2.7 one-liners run on python3.
_PY2 = re.compile(r"^python(2(\.\d+)?)?$")
_PY3 = re.compile(r"^python3(\.\d+)?$")
# Python 2 module names whose Python 3 successor takes the same arguments.
_PY2_MODULES = {"SimpleHTTPServer": ["http.server"], "CGIHTTPServer": ["http.server", "--cgi"]}


def expand(text: str, env: Mapping[str, str]) -> str:
    """Expand $(VAR) from env as kubelet does: `$$` escapes, unknown or unclosed references stay literal."""
    out: list[str] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch != "$" or i + 1 == n:
            out.append(ch)
            i += 1
            continue
        nxt = text[i + 1]
        if nxt == "$":
            out.append("$")
            i += 2
        elif nxt == "(":
            close = text.find(")", i + 2)
            if close < 0:
                out.append("$(")
                i += 2
            else:
                name = text[i + 2 : close]
                out.append(env[name] if name in env else "$(" + name + ")")
                i = close + 1
        else:
            out.append("$" + nxt)
            i += 2
    return "".join(out)


def _is_executable(path: str) -> bool:
    return os.path.isfile(path) and os.access(path, os.X_OK)


def find_executable(name: str, path: str = DEFAULT_PATH) -> str | None:
    """Where `name` would be found by execvpe with this PATH, or None."""
    if "/" in name:
        return name if _is_executable(name) else None
    for d in path.split(":"):
        candidate = os.path.join(d or ".", name)
        if _is_executable(candidate):
            return candidate
    return None


def manifest_argv(container: ContainerSpec) -> list[str] | None:
    """command+args, or args alone (images without ENTRYPOINT run args as the command), or None."""
    if container.command:
        return list(container.command) + list(container.args or [])
    if container.args:
        return list(container.args)
    return None


def _map_python2(argv: list[str], exists: Callable[[str], bool]) -> list[str]:
    base = os.path.basename(argv[0])
    if _PY2.match(base) or (_PY3.match(base) and not exists(argv[0])):
        argv = ["python3"] + argv[1:]
    else:
        return argv
    out = [argv[0]]
    rest = argv[1:]
    i = 0
    while i < len(rest):
        a = rest[i]
        if a == "-m" and i + 1 < len(rest) and rest[i + 1] in _PY2_MODULES:
            out += ["-m"] + _PY2_MODULES[rest[i + 1]][:1] + rest[i + 2 :] + _PY2_MODULES[rest[i + 1]][1:]
            return out
        out.append(a)
        i += 1
    return out


def resolve_command(
    container: ContainerSpec, exists: Callable[[str, str], bool] | None = None
) -> list[str] | None:
    """The argv to exec here (expanded, Python 2 mapped to 3), or None for netlab's built-in server."""
    argv = manifest_argv(container)
    if not argv:
        return None
    argv = [expand(a, container.env) for a in argv]
    path = container.env.get("PATH", DEFAULT_PATH)
    if exists is None:
        exists = lambda name, p: find_executable(name, p) is not None  # noqa: E731
    argv = _map_python2(argv, lambda name: exists(name, path))
    return argv if exists(argv[0], path) else None


def container_env(pod: PodRuntimeSpec, container: ContainerSpec) -> dict[str, str]:
    """The process environment: runtime basics (PATH, HOSTNAME, HOME) overridden by the manifest's env."""
    env = {
        "PATH": DEFAULT_PATH,
        "HOSTNAME": pod_hostname(pod.hostname or pod.name),
        "HOME": "/root" if not container.run_as_user else "/",
    }
    env.update(container.env)
    return env


def pod_hostname(pod_name: str) -> str:
    """The pod's hostname: its name, truncated as kubelet does."""
    return pod_name[:HOSTNAME_MAX].rstrip("-.") or pod_name[:HOSTNAME_MAX]


@dataclass
class ContainerPlan:
    """Everything the container process needs, decided before anything is forked."""

    name: str
    mode: str  # "exec" | "builtin" | "dns" | "sleep"
    argv: list[str] | None
    env: dict[str, str]
    ports: list[tuple[int, str]] = field(default_factory=list)
    working_dir: str | None = None
    run_as_user: int | None = None
    run_as_group: int | None = None
    mounts: list[tuple[str, str, bool, str]] = field(default_factory=list)
    image_commands: str | None = None     # the shim folder of its image's commands (runtime/images.py)
    doc_root: str | None = None           # "builtin": the image's document root it serves, if any
    behaviour: object | None = None       # "builtin": the test image it answers as (runtime/replies.py)
    title: str = ""                       # "builtin"/"sleep": what `ps -ef` shows for it
    stdin: bool = False                   # "exec": fd 0 a pipe from attaching clients (runtime/stdio.py)
    stdin_once: bool = False              # ... closed when the first client detaches
    tty: bool = False                     # "exec": a terminal as fd 0, 1, 2, relayed to attaching clients

    @property
    def attachable(self) -> bool:
        """Whether the container has an attach socket (stdin or a terminal)."""
        return self.mode == "exec" and (self.stdin or self.tty)


@dataclass
class PodPlan:
    """A pod's processes as decided from its spec; `server_info` is what the built-in server answers."""

    namespace: str
    name: str
    hostname: str
    netns_path: str
    grace: float
    server_info: dict[str, str]
    containers: list[ContainerPlan]
    root_filesystem: str = "overlay"


_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


def plan_container(c: ContainerSpec, env: dict[str, str],
                   exists: Callable[[str, str], bool] | None = None) -> ContainerPlan:
    """Decide what runs for one container, first match wins:

    1. a test image netlab answers as (agnhost netexec, http-echo, ...: runtime/replies.py):
       "builtin" on the image's own ports;
    2. the CoreDNS image with no command (or flags for its entrypoint): "dns", the cluster DNS
       (runtime/coredns.py);
    3. a document-root image (nginx, httpd) with no command, or running its own server command:
       "builtin" serving the root on its containerPorts (80 when it declares none);
    4. a command that exists (on the host, or among the image's commands): "exec";
    5. a command that does not: "exec" all the same, so it fails as in a cluster (exit code 127,
       `executable file not found in $PATH` in its log); args alone starting with "-" are flags for
       the image's entrypoint, not a command, and fall through to 6;
    6. no command: "builtin" (netlab's identity server) on its containerPorts, else "sleep".
    """
    from netlab.runtime import replies
    traits = images.traits(c.image)
    given = manifest_argv(c)
    provided = images.provided(traits.commands)
    base_exists = exists or (lambda name, p: find_executable(name, p) is not None)

    def found(name: str, p: str) -> bool:
        if name in provided and "/usr/local/bin" in p.split(":"):
            return True
        if name.startswith("/usr/local/bin/") and name[len("/usr/local/bin/"):] in provided:
            return True
        return base_exists(name, p)

    common = dict(name=c.name, env=env, working_dir=c.working_dir or traits.working_dir,
                  run_as_user=c.run_as_user, run_as_group=c.run_as_group, mounts=list(c.mounts),
                  image_commands=traits.commands)
    ports = [(int(p), proto) for p, proto in c.ports]
    behaviour = replies.behaviour_of(c.image, [expand(a, c.env) for a in given] if given else None, c.env)
    written = " ".join(expand(a, c.env) for a in given) if given else ""
    if behaviour is not None:
        own = [(p, "TCP") for p in behaviour.tcp_ports] + [(p, "UDP") for p in behaviour.udp_ports]
        return ContainerPlan(mode="builtin", argv=None, ports=own, behaviour=behaviour,
                             title=written or images.repository_tag(c.image), **common)
    entrypoint_flags = not c.command and bool(c.args) and c.args[0].startswith("-")
    if traits.program == "coredns" and (given is None or entrypoint_flags):
        return ContainerPlan(mode="dns", argv=None, ports=ports, title=traits.title, **common)
    if traits.doc_root and (given is None or entrypoint_flags or given[0] in traits.server_commands):
        return ContainerPlan(mode="builtin", argv=None, ports=ports or [(80, "TCP")], doc_root=traits.doc_root,
                             title=traits.title or written, **common)
    # stdin and a terminal are a command's: netlab's own servers read neither
    attached = dict(stdin=c.stdin, stdin_once=c.stdin and c.stdin_once, tty=c.tty)
    argv = resolve_command(c, found)
    if argv:
        return ContainerPlan(mode="exec", argv=argv, ports=ports, **common, **attached)
    if given and not entrypoint_flags:
        return ContainerPlan(mode="exec", argv=[expand(a, c.env) for a in given], ports=ports, **common, **attached)
    return ContainerPlan(mode="builtin" if ports else "sleep", argv=None, ports=ports,
                         title=f"netlab-{'server' if ports else 'sleep'} {images.repository_tag(c.image)}", **common)


def netns_path(netns: str) -> str:
    """A netns name under /run/netns, or an absolute path, as a path."""
    return netns if netns.startswith("/") else os.path.join("/run/netns", netns)


def plan_pod(spec: PodRuntimeSpec, exists: Callable[[str, str], bool] | None = None) -> PodPlan:
    """Decide how each container of the pod runs; raises ValueError for names unusable as file names."""
    seen: set[str] = set()
    plans = []
    for c in spec.containers:
        if not _NAME.match(c.name) or len(c.name) > 63:
            raise ValueError(f"pod {spec.namespace}/{spec.name}: container name {c.name!r} is not a DNS label")
        if c.name in seen:
            raise ValueError(f"pod {spec.namespace}/{spec.name}: duplicate container name {c.name!r}")
        seen.add(c.name)
        for port, proto in c.ports:
            if proto not in ("TCP", "UDP", "SCTP") or not 0 < int(port) < 65536:
                raise ValueError(f"pod {spec.namespace}/{spec.name}: container {c.name}: bad port {port}/{proto}")
        plans.append(plan_container(c, container_env(spec, c), exists))
    info = {"pod": spec.name, "namespace": spec.namespace, "pod_ip": spec.pod_ip}
    if getattr(spec, "pod_ip6", None) not in (None, spec.pod_ip):   # a dual-stack pod's names both
        info["pod_ip6"] = spec.pod_ip6
    info.update(node=spec.node, host_ip=spec.host_ip)
    return PodPlan(
        namespace=spec.namespace,
        name=spec.name,
        hostname=pod_hostname(spec.hostname or spec.name),
        netns_path=netns_path(spec.netns),
        grace=float(spec.termination_grace_seconds),
        server_info=info,
        containers=plans,
        root_filesystem=spec.root_filesystem,
    )
