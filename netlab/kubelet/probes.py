"""kubelet's container probes: readinessProbe, livenessProbe and startupProbe.

- The spec (pure): `probe_spec` reads a manifest's probe map with the API defaults (SetDefaults_Probe,
  SetDefaults_HTTPGetAction) and resolves named ports as pkg/probe/util.go ResolveContainerPort does.
- The worker (pure): `initial_state`, `record`, `next_tick` and `gate` are pkg/kubelet/prober/worker.go
  doProbe's bookkeeping over an immutable ProbeState: initial verdicts, initialDelaySeconds,
  periodSeconds, successThreshold/failureThreshold runs, startup holding back the other probes.
  After a liveness or startup failure verdict kubelet restarts the container and probes the new
  one from `initial_state` again.
- The probers (I/O): `run_probe` is pkg/probe/{exec,http,tcp}: exec runs in the container's
  namespaces as a CRI ExecSync does; httpGet and tcpSocket connect from the node's network
  namespace to the pod IP, as kubelet does. Messages are kubelet's event messages.

Not mirrored: gRPC probes (they need an HTTP/2 client, which netlab does not have), following
same-host redirects (every 3xx is kubelet's "Probe terminated redirects" warning, a success),
probe-level terminationGracePeriodSeconds, and the random delay before a worker's first tick.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import math
import os
import shutil
import signal
import socket
import ssl
import subprocess
import time
import urllib.parse
from dataclasses import dataclass
from typing import Iterable, Optional, Sequence, Tuple

from netlab.dataplane import netns

KINDS = ("readiness", "liveness", "startup")
HANDLERS = ("exec", "httpGet", "tcpSocket", "grpc")
USER_AGENT = "kube-probe/1.35"
MAX_READ = 10 * 1024            # kubelet keeps at most 10 KiB of exec output or HTTP body
BROKEN = "net/http: HTTP/1.x transport connection broken"
FALLBACK_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

ContainerPort = Tuple[Optional[str], int, str]   # (name or None, containerPort, protocol)


class ProbeError(ValueError):
    """A probe kubelet could not run; the message starts with the field at fault."""


@dataclass(frozen=True)
class ProbeSpec:
    """One probe of a container, defaults applied and named ports resolved."""

    kind: str            # "readiness" | "liveness" | "startup"
    handler: str         # "exec" | "httpGet" | "tcpSocket" | "grpc"
    command: tuple = ()  # exec
    path: str = "/"      # httpGet
    port: int = 0        # httpGet/tcpSocket/grpc, named ports already resolved
    host: str | None = None
    scheme: str = "HTTP"
    headers: tuple = ()  # ((name, value), ...)
    grpc_service: str | None = None
    initial_delay: float = 0.0
    period: float = 10.0
    timeout: float = 1.0
    success_threshold: int = 1
    failure_threshold: int = 3


@dataclass(frozen=True)
class ProbeState:
    """What kubelet's probe worker remembers between two probes of one container."""

    result: bool | None      # the probe's current verdict as kubelet reports it
    successes: int = 0       # consecutive
    failures: int = 0        # consecutive
    next_due: float = 0.0    # monotonic or epoch seconds, whatever the caller uses consistently
    last_message: str = ""


@dataclass(frozen=True)
class ProbeOutcome:
    """One probe run: its verdict and kubelet's event message ("" for a plain success)."""

    success: bool
    message: str


# --- the spec -----------------------------------------------------------------------------------

def resolve_port(value, container_ports: Iterable[ContainerPort], where: str) -> int:
    """A probe's port: a number, or the containerPort of the container port with that name."""
    if isinstance(value, str):
        ports = list(container_ports)
        named = [number for name, number, _ in ports if name == value]
        if named:
            number = named[0]
        elif value.isdigit():
            number = int(value)   # kubelet's "last ditch effort": a number written as a string
        else:
            known = ", ".join(f"{name} ({number}/{proto})" for name, number, proto in ports if name)
            raise ProbeError(f'{where}: port "{value}" not found: the container names '
                             + (f"these ports: {known}" if known else "no ports"))
    elif isinstance(value, int) and not isinstance(value, bool):
        number = value
    else:
        raise ProbeError(f"{where}: required: a port number or the name of one of the container's ports")
    if not 0 < number < 65536:
        raise ProbeError(f"{where}: invalid port number {number}: must be between 1 and 65535, inclusive")
    return number


def _seconds(raw: dict, key: str, default: int, minimum: int, where: str) -> int:
    value = raw.get(key)
    if value is None or value == 0:
        return default        # the API server stores an unset (zero) field as its default
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ProbeError(f"{where}.{key}: invalid value {value!r}: must be an integer >= {minimum}")
    return value


def probe_spec(kind: str, raw: dict, container_ports: Sequence[ContainerPort]) -> ProbeSpec:
    """The ProbeSpec of a KIND probe map as written in a manifest, with Kubernetes' defaults."""
    if kind not in KINDS:
        raise ProbeError(f"unknown probe kind {kind!r}: use one of {', '.join(KINDS)}")
    where = f"{kind}Probe"
    if not isinstance(raw, dict):
        raise ProbeError(f"{where}: must be a map")
    handlers = [h for h in HANDLERS if raw.get(h) is not None]
    if len(handlers) != 1:
        problem = "may not specify more than 1 handler type" if handlers else "must specify a handler type"
        raise ProbeError(f"{where}: {problem}: give exactly one of {', '.join(HANDLERS)}")
    handler, action, at = handlers[0], raw[handlers[0]], f"{where}.{handlers[0]}"
    if not isinstance(action, dict):
        raise ProbeError(f"{at}: must be a map")
    timing = dict(initial_delay=float(_seconds(raw, "initialDelaySeconds", 0, 0, where)),
                  period=float(_seconds(raw, "periodSeconds", 10, 1, where)),
                  timeout=float(_seconds(raw, "timeoutSeconds", 1, 1, where)),
                  success_threshold=_seconds(raw, "successThreshold", 1, 1, where),
                  failure_threshold=_seconds(raw, "failureThreshold", 3, 1, where))
    if kind != "readiness" and timing["success_threshold"] != 1:
        raise ProbeError(f"{where}.successThreshold: must be 1 for {kind} probes")
    if handler == "exec":
        command = action.get("command")
        if not isinstance(command, list) or not command or not all(isinstance(a, str) for a in command):
            raise ProbeError(f"{at}.command: required: a non-empty list of strings, e.g. [cat, /tmp/healthy]")
        return ProbeSpec(kind, handler, command=tuple(command), **timing)
    if handler == "grpc":
        if isinstance(action.get("port"), str):
            raise ProbeError(f"{at}.port: gRPC probes take a port number, not a port name")
        return ProbeSpec(kind, handler, port=resolve_port(action.get("port"), (), f"{at}.port"),
                         grpc_service=action.get("service"), **timing)
    port = resolve_port(action.get("port"), container_ports, f"{at}.port")
    host = action.get("host") or None
    if handler == "tcpSocket":
        return ProbeSpec(kind, handler, port=port, host=host, **timing)
    scheme = action.get("scheme") or "HTTP"
    if scheme not in ("HTTP", "HTTPS"):
        raise ProbeError(f'{at}.scheme: unsupported value "{scheme}": use HTTP or HTTPS')
    headers = tuple((h.get("name") or "", str(h.get("value") or "")) for h in action.get("httpHeaders") or ())
    if not all(name for name, _ in headers):
        raise ProbeError(f"{at}.httpHeaders: every header needs a name")
    return ProbeSpec(kind, handler, path=action.get("path") or "/", port=port, host=host, scheme=scheme,
                     headers=headers, **timing)


def container_probes(container_raw: dict, container_ports: Sequence[ContainerPort]) -> list[ProbeSpec]:
    """The ProbeSpecs of a container map's readinessProbe, livenessProbe and startupProbe."""
    specs = []
    for kind in KINDS:
        raw = container_raw.get(f"{kind}Probe")
        if raw is None:
            continue
        try:
            specs.append(probe_spec(kind, raw, container_ports))
        except ProbeError as err:
            raise ProbeError(f'container "{container_raw.get("name", "?")}": {err}') from None
    return specs


# --- the worker ---------------------------------------------------------------------------------

def initial_state(spec: ProbeSpec, started_at: float) -> ProbeState:
    """The verdict before the first probe and when that probe is due (started + initialDelay)."""
    # worker.go initialValue: readiness Failure, liveness Success, startup Unknown (not started).
    return ProbeState(result=spec.kind == "liveness", next_due=started_at + spec.initial_delay)


def next_tick(due: float, period: float, now: float) -> float:
    """The first tick after NOW of a ticker of PERIOD that was due at DUE (missed ticks dropped)."""
    missed = max(0, math.floor((now - due) / period))
    return due + (missed + 1) * period


def record(spec: ProbeSpec, state: ProbeState, success: bool, now: float, message: str = "") -> ProbeState:
    """The state after one probe that ran at NOW: consecutive counts, verdict, next due time."""
    successes = state.successes + 1 if success else 0
    failures = 0 if success else state.failures + 1
    result = state.result
    # Below its threshold a run leaves the verdict alone (worker.go: "leave the probe state unchanged").
    if success and successes >= spec.success_threshold:
        result = True
    elif not success and failures >= spec.failure_threshold:
        result = False
    return ProbeState(result, successes, failures, next_tick(state.next_due, spec.period, now), message)


def gate(kind: str, startup_passed: bool) -> bool:
    """Whether a KIND probe runs: startup until it has passed, readiness and liveness only after."""
    # No startup probe counts as passed; kubelet stops probing startup once the container started.
    return not startup_passed if kind == "startup" else startup_passed


# --- the probers --------------------------------------------------------------------------------

def join_host_port(host: str, port: int) -> str:
    """HOST:PORT, IPv6 in brackets (Go's net.JoinHostPort)."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _canonical(name: str) -> str:
    return "-".join(part.capitalize() for part in name.split("-"))   # Go's CanonicalMIMEHeaderKey


def request_target(path: str) -> str:
    """The request-target kubelet sends for an httpGet path."""
    target = urllib.parse.quote(path, safe="/?&=%:@!$'()*+,;~-._")
    return target if target.startswith("/") else "/" + target


def http_request(spec: ProbeSpec, host: str, port: int) -> bytes:
    """The GET request kubelet's HTTP prober writes for SPEC to HOST:PORT."""
    headers: dict = {}
    for name, value in spec.headers:
        headers.setdefault(_canonical(name), []).append(value)
    headers.setdefault("User-Agent", [USER_AGENT])
    if "Accept" not in headers:
        headers["Accept"] = ["*/*"]
    elif not headers["Accept"][0]:
        del headers["Accept"]     # an empty Accept header removes it (pkg/probe/http/request.go)
    host_header = (headers.pop("Host", None) or [""])[0] or join_host_port(host, port)
    lines = [f"GET {request_target(spec.path)} HTTP/1.1", f"Host: {host_header}"]
    lines += [f"{name}: {value}" for name, values in headers.items() for value in values]
    # kubelet's transport disables keep-alives and compression: Connection: close, no Accept-Encoding.
    lines += ["Connection: close", "", ""]
    return "\r\n".join(lines).encode("latin-1", errors="replace")


def _errno_text(err: OSError) -> str:
    return os.strerror(err.errno).lower() if err.errno else str(err)   # Go's syscall.Errno wording


def _budget(sock: socket.socket, deadline: float) -> None:
    left = deadline - time.monotonic()
    if left <= 0:
        raise socket.timeout("timed out")
    sock.settimeout(left)


class _DialError(Exception):
    """A failed connect, in Go's net.Dial words."""


def _dial(host: str, port: int, node_netns: str, deadline: float) -> socket.socket:
    """A TCP socket made in NODE_NETNS and connected to HOST:PORT (a missing netns raises OSError)."""
    with netns.entered(node_netns):
        # A socket stays in the namespace it was made in, so only its creation needs the node's netns.
        try:
            family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
        except socket.gaierror:
            raise _DialError(f"dial tcp: lookup {host}: no such host") from None
        sock = socket.socket(family, kind, proto)
    try:
        _budget(sock, deadline)
        sock.connect(address)
    except socket.timeout:
        sock.close()
        raise _DialError(f"dial tcp {join_host_port(host, port)}: i/o timeout") from None
    except OSError as err:
        sock.close()
        raise _DialError(f"dial tcp {join_host_port(host, port)}: connect: {_errno_text(err)}") from None
    return sock


def _tcp(spec: ProbeSpec, host: str, node_netns: str) -> Tuple[bool, str]:
    try:
        _dial(host, spec.port, node_netns, time.monotonic() + spec.timeout).close()
    except _DialError as err:
        return False, str(err)
    return True, ""


def _http(spec: ProbeSpec, host: str, node_netns: str) -> Tuple[bool, str]:
    url = f"{spec.scheme.lower()}://{join_host_port(host, spec.port)}{request_target(spec.path)}"
    deadline = time.monotonic() + spec.timeout
    try:
        sock = _dial(host, spec.port, node_netns, deadline)
    except _DialError as err:
        return False, f'Get "{url}": {err}'
    try:
        if spec.scheme == "HTTPS":
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            context.check_hostname, context.verify_mode = False, ssl.CERT_NONE   # as kubelet: no verification
            _budget(sock, deadline)
            sock = context.wrap_socket(sock, server_hostname=host)   # Python sends no SNI for an IP
        _budget(sock, deadline)
        sock.sendall(http_request(spec, host, spec.port))
        response = http.client.HTTPResponse(sock, method="GET")
        _budget(sock, deadline)
        response.begin()
        _budget(sock, deadline)
        response.read(MAX_READ)   # kubelet reads (at most 10 KiB of) the body within the timeout too
    except socket.timeout:
        return False, f'Get "{url}": context deadline exceeded (Client.Timeout exceeded while awaiting headers)'
    except http.client.RemoteDisconnected:
        return False, f'Get "{url}": EOF'
    except http.client.BadStatusLine as err:
        return False, f'Get "{url}": {BROKEN}: malformed HTTP response {json.dumps(str(err).strip())}'
    except http.client.HTTPException as err:
        return False, f'Get "{url}": {BROKEN}: {err!r}'
    except ssl.SSLError as err:
        return False, f'Get "{url}": tls: {err.reason or err}'
    except OSError as err:
        return False, f'Get "{url}": read tcp: {_errno_text(err)}'
    finally:
        sock.close()
    if 200 <= response.status < 300:
        return True, ""
    if 300 <= response.status < 400:
        return True, "Probe terminated redirects"
    return False, f"HTTP probe failed with statuscode: {response.status}"


def _container_env(pid: int) -> dict:
    """The environment the container's process started with (a CRI exec runs with it)."""
    try:
        with open(f"/proc/{pid}/environ", "rb") as handle:
            items = handle.read().decode(errors="replace").split("\0")
    except OSError:
        return {"PATH": FALLBACK_PATH}
    return dict(item.split("=", 1) for item in items if "=" in item)


def _kill_group(pgid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGKILL)


def _exec(spec: ProbeSpec, pid: int) -> Tuple[bool, str]:
    # nsenter forks into the PID namespace and --wd starts in the container's working directory;
    # its own session makes the command and everything it spawns one process group to kill.
    argv = [shutil.which("nsenter") or "nsenter", f"--target={pid}", "--net", "--mount", "--uts",
            "--pid", "--wd", "--", *spec.command]
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            env=_container_env(pid), start_new_session=True)
    try:
        output, _ = proc.communicate(timeout=spec.timeout)
    except subprocess.TimeoutExpired:
        _kill_group(proc.pid)
        proc.wait()               # not communicate(): a daemon outside the group may hold the pipe
        proc.stdout.close()
        # The message of a CRI exec timeout (remote_runtime.go ExecSync), which kubelet reports as is.
        return False, f"command {json.dumps(' '.join(spec.command), ensure_ascii=False)} timed out"
    finally:
        if proc.poll() is None:
            _kill_group(proc.pid)
            proc.wait()
    text = output[:MAX_READ].decode(errors="replace").rstrip("\n")
    return proc.returncode == 0, ("" if proc.returncode == 0 else text)


def run_probe(spec: ProbeSpec, pod_ip: str, node_netns: str, container_pid: int) -> ProbeOutcome:
    """Run SPEC once for real; gRPC probes are not supported and always fail with a message saying so."""
    title = spec.kind.capitalize()
    if spec.handler == "exec":
        ok, detail = _exec(spec, container_pid)
    elif spec.handler == "httpGet":
        ok, detail = _http(spec, spec.host or pod_ip, node_netns)
    elif spec.handler == "tcpSocket":
        ok, detail = _tcp(spec, spec.host or pod_ip, node_netns)
    else:
        return ProbeOutcome(False, "gRPC probes are not supported by netlab")
    if ok:
        return ProbeOutcome(True, f"{title} probe warning: {detail}" if detail else "")
    return ProbeOutcome(False, f"{title} probe failed: {detail}")
