"""`netlab port-forward`: kubectl port-forward, with the kubelet's and the runtime's part done here.

In a cluster kubectl asks the API server, which asks the pod's kubelet, whose CRI runtime enters
the pod's network namespace and dials localhost:PORT there (containerd's
sandbox_portforward_linux.go: 127.0.0.1 first, then ::1), relaying each local connection's bytes
over that stream. netlab has nothing in between: this process listens on the host's loopback and,
for each connection it accepts, makes the outgoing socket inside the pod's network namespace
(setns(2) on the calling thread, socket(2), setns back: a socket stays in the namespace it was
made in) and relays bytes both ways. No route, address or rule is added anywhere; all the host's
root namespace sees is a listening socket on 127.0.0.1.

Decide purely, then do:
    parse_target, split_port, parse_ports, listen_addresses    what was asked for
    choose_pod, translate_service_ports, convert_named_ports   which pod, which of its ports
    resolve(lab, ...) -> Plan                                   the above over the lab's objects
    serve(plan, ...), relay(a, b), dial_in_pod(netns, port)     the listeners and relays

Where netlab differs from kubectl v1.35 (k8s.io/kubectl/pkg/cmd/portforward, client-go
tools/portforward):
  - `localhost` binds 127.0.0.1 only (kubectl binds [::1] too), and only loopback addresses are
    accepted for --address: a lab is not for the machine's network to reach;
  - a connection the pod refuses is logged and the forwarder keeps listening; client-go closes
    its whole stream connection on any forwarding error since kubernetes#103526, ending kubectl
    with `error: lost connection to pod`. Here only a pod whose network namespace is gone (the
    pod was deleted) ends the session that way;
  - a Service or workload with no pods is an error at once (kubectl waits --pod-running-timeout).
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import re
import selectors
import signal
import socket
import sys
import threading
from dataclasses import dataclass
from typing import Callable, Iterable

from netlab import inspect, names
from netlab.dataplane import netns
from netlab.kubelet.probes import join_host_port
from netlab.lab import LabError
from netlab.manifest.model import LabelSelector

DIAL_TIMEOUT = 5.0          # containerd's dialTimeout for each connect inside the pod
_CHUNK = 65536

# kubectl's names for what port-forward takes (resource, short name, kind, kind.group)
TARGET_KINDS = {
    **dict.fromkeys(("pod", "pods", "po"), "Pod"),
    **dict.fromkeys(("service", "services", "svc"), "Service"),
    **dict.fromkeys(("deployment", "deployments", "deploy", "deployment.apps", "deployments.apps"), "Deployment"),
    **dict.fromkeys(("replicaset", "replicasets", "rs", "replicaset.apps", "replicasets.apps"), "ReplicaSet"),
}
TARGET_KINDS_SHORT = {"Pod": "pod", "Service": "service", "Deployment": "deployment", "ReplicaSet": "replicaset"}


@dataclass(frozen=True)
class ForwardedPort:
    """A local:remote pairing; local 0 means a free port, chosen when listening."""

    local: int
    remote: int

    def __str__(self) -> str:       # Go's %v of client-go's ForwardedPort
        return f"{{{self.local} {self.remote}}}"


@dataclass(frozen=True)
class ListenAddress:
    """One address to listen on: network tcp4/tcp6, and client-go's failure mode ("all" for the
    addresses localhost stands for, "any" for one given explicitly)."""

    ip: str
    network: str
    failure_mode: str


@dataclass(frozen=True)
class Plan:
    """What one port-forward does: which pod (its network namespace), which ports, where to listen."""

    pod: str                    # "namespace/name", for messages
    uid: str
    netns: str                  # the pod's network namespace (a name under /run/netns)
    ports: tuple
    addresses: tuple


class DialError(Exception):
    """The pod's localhost:PORT could not be reached; ENDS_SESSION when its namespace is gone."""

    def __init__(self, message: str, ends_session: bool = False):
        super().__init__(message)
        self.ends_session = ends_session


# -- what was asked for (pure) ------------------------------------------------------------------

def parse_target(target: str) -> tuple:
    """(kind, name) of `NAME`, `pod/NAME`, `svc/NAME`, `deploy/NAME`, `rs/NAME` and their long forms."""
    if "/" not in target:
        if not target:
            raise LabError("pod name or resource type/name must be specified")
        return "Pod", target
    resource, _, name = target.partition("/")
    if "/" in name:
        raise LabError(f"arguments in resource/name form may not have more than one slash: {target!r}")
    if not resource or not name:
        raise LabError(f"arguments in resource/name form must have a single resource and name: {target!r}")
    kind = TARGET_KINDS.get(resource.lower())
    if kind is None:
        raise LabError(f'the server doesn\'t have a resource type "{resource}"')
    return kind, name


def split_port(spec: str) -> tuple:
    """kubectl's splitPort: `LOCAL:REMOTE` as they are, `PORT` as (PORT, PORT).

    kubectl turns a spec with two colons into its first part alone (`1:2:3` forwards 1 -> 1);
    that is refused here with client-go's message for a spec it cannot read."""
    parts = spec.split(":")
    if len(parts) == 2:
        return parts[0], parts[1]
    if len(parts) > 2:
        raise LabError(f"invalid port format '{spec}'")
    return parts[0], parts[0]


def _atoi(text: str) -> int | None:
    """Go's strconv.Atoi: optional sign and decimal digits only, else None."""
    return int(text) if re.fullmatch(r"[+-]?[0-9]+", text) else None


def _go_quote(text: str) -> str:
    """Go's %q for the plain text of messages: double quotes, backslash escapes."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def _parse_uint16(text: str) -> tuple:
    """(value, None) or (None, the error strconv.ParseUint(text, 10, 16) gives)."""
    if not re.fullmatch(r"[0-9]+", text):
        return None, f"strconv.ParseUint: parsing {_go_quote(text)}: invalid syntax"
    if int(text) > 65535:
        return None, f"strconv.ParseUint: parsing {_go_quote(text)}: value out of range"
    return int(text), None


def parse_ports(specs: Iterable[str]) -> tuple:
    """client-go's parsePorts: `5000`, `8888:5000`, `:5000` / `0:5000` (a free local port)."""
    specs = list(specs)
    if not specs:
        raise LabError("you must specify at least 1 port")
    forwards = []
    for spec in specs:
        parts = spec.split(":")
        if len(parts) == 1:
            local_text = remote_text = parts[0]
        elif len(parts) == 2:
            local_text, remote_text = parts[0] or "0", parts[1]
        else:
            raise LabError(f"invalid port format '{spec}'")
        local, err = _parse_uint16(local_text)
        if err:
            raise LabError(f"error parsing local port '{local_text}': {err}")
        remote, err = _parse_uint16(remote_text)
        if err:
            raise LabError(f"error parsing remote port '{remote_text}': {err}")
        if remote == 0:
            raise LabError("remote port must be > 0")
        forwards.append(ForwardedPort(local, remote))
    return tuple(forwards)


def listen_addresses(address) -> tuple:
    """client-go's parseAddresses over `--address` (comma-separated text or a list), loopback only.

    `localhost` stands for 127.0.0.1 alone here: kubectl also binds [::1] for it, which a lab's
    tests and tutorials never need. Any address outside 127.0.0.0/8 and ::1 is refused, so that
    nothing but this machine reaches a lab through a forwarded port."""
    items = [a.strip() for a in address.split(",")] if isinstance(address, str) else list(address)
    items = [a for a in items if a]
    if not items:
        raise LabError("you must specify at least 1 address")
    parsed = {}
    for item in items:
        if item == "localhost":
            parsed.setdefault("127.0.0.1", ListenAddress("127.0.0.1", "tcp4", "all"))
            continue
        try:
            ip = ipaddress.ip_address(item)
        except ValueError:
            raise LabError(f"{item} is not a valid IP") from None
        if not ip.is_loopback:
            raise LabError(f"--address {item}: netlab forwards from loopback addresses only "
                           "(localhost, 127.0.0.0/8, ::1), so that only this machine reaches the lab")
        parsed[str(ip)] = ListenAddress(str(ip), "tcp4" if ip.version == 4 else "tcp6", "any")
    return tuple(sorted(parsed.values(), key=lambda a: a.ip))


# -- which pod and which of its ports (pure, over kubectl-shaped objects) -----------------------

def _containers(pod: dict) -> list:
    spec = pod.get("spec") or {}
    return list(spec.get("containers") or []) + list(spec.get("initContainers") or [])


def container_port_by_name(pod: dict, name: str) -> int:
    """kubectl's LookupContainerPortNumberByName (containers, then init containers)."""
    for container in _containers(pod):
        for port in container.get("ports") or []:
            if port.get("name") == name:
                return int(port["containerPort"])
    raise LabError(f"Pod '{pod['metadata']['name']}' does not have a named port '{name}'")


def service_port_by_name(service: dict, name: str) -> int:
    """kubectl's LookupServicePortNumberByName."""
    for port in (service.get("spec") or {}).get("ports") or []:
        if (port.get("name") or "") == name:
            return int(port["port"])
    raise LabError(f"Service '{service['metadata']['name']}' does not have a named port '{name}'")


def container_port_for_service_port(service: dict, pod: dict, port: int) -> int:
    """kubectl's LookupContainerPortNumberByServicePort: the Service port's targetPort in POD (a
    name looked up among the pod's container ports; none given: the port itself; a headless
    Service: the port as given)."""
    spec = service.get("spec") or {}
    if spec.get("clusterIP") == "None":
        return port
    for entry in spec.get("ports") or []:
        if int(entry["port"]) != port:
            continue
        target = entry.get("targetPort")
        if isinstance(target, str):
            return container_port_by_name(pod, target)
        return int(target) if target else int(entry["port"])
    raise LabError(f"Service {service['metadata']['name']} does not have a service port {port}")


def translate_service_ports(specs: Iterable[str], service: dict, pod: dict) -> list:
    """kubectl's translateServicePortToTargetPort: each `[LOCAL:]REMOTE` with REMOTE a Service
    port (number or name) rewritten to the chosen pod's port behind it; a named REMOTE with no
    LOCAL listens on the Service port's number."""
    translated = []
    for spec in specs:
        local, remote = split_port(spec)
        number = _atoi(remote)
        if number is None:
            number = service_port_by_name(service, remote)
            if local == remote:
                local = str(number)
        remote = str(container_port_for_service_port(service, pod, number))
        translated.append(f"{local}:{remote}" if local != remote else remote)
    return translated


def convert_named_ports(specs: Iterable[str], pod: dict) -> list:
    """kubectl's convertPodNamedPortToNumber: a named REMOTE becomes the container port's number."""
    converted = []
    for spec in specs:
        local, remote = split_port(spec)
        if remote == "":
            raise LabError("remote port cannot be empty")
        number = remote if _atoi(remote) is not None else str(container_port_by_name(pod, remote))
        converted.append(f"{local}:{number}" if local != remote else number)
    return converted


def _check_udp(declared: list, specs: Iterable[str], by_name: Callable[[str], int]) -> None:
    udp = {port for port, proto in declared if proto == "UDP"}
    tcp = {port for port, proto in declared if proto == "TCP"}
    for spec in specs:
        _, remote = split_port(spec)
        number = _atoi(remote)
        if number is None:
            number = by_name(remote)
        if number in udp - tcp:
            raise LabError(f"UDP protocol is not supported for {remote}")


def check_udp_service(specs: Iterable[str], service: dict) -> None:
    """kubectl's checkUDPPortInService: a Service port that is UDP only cannot be forwarded."""
    declared = [(int(p["port"]), p.get("protocol") or "TCP") for p in (service.get("spec") or {}).get("ports") or []]
    _check_udp(declared, specs, lambda name: service_port_by_name(service, name))


def check_udp_pod(specs: Iterable[str], pod: dict) -> None:
    """kubectl's checkUDPPortInPod, over the pod's containers' ports."""
    declared = [(int(p["containerPort"]), p.get("protocol") or "TCP")
                for c in (pod.get("spec") or {}).get("containers") or [] for p in c.get("ports") or []]
    _check_udp(declared, specs, lambda name: container_port_by_name(pod, name))


def _ready_since(pod: dict) -> str | None:
    """The Ready condition's lastTransitionTime when the pod is ready, else None."""
    for condition in (pod.get("status") or {}).get("conditions") or []:
        if condition.get("type") == "Ready" and condition.get("status") == "True":
            return condition.get("lastTransitionTime") or ""
    return None


def _activity(pod: dict) -> tuple:
    """Sort key, most active first: sort.Reverse(podutils.ActivePods), the order kubectl's
    AttachablePodForObject picks a Service's or workload's pod by (then the name, for ties)."""
    status = pod.get("status") or {}
    phase_rank = {"Running": 0, "Unknown": 1}.get(status.get("phase"), 2)
    ready_since = _ready_since(pod)
    restarts = max([int(s.get("restartCount") or 0) for s in status.get("containerStatuses") or []] or [0])
    created = (pod.get("metadata") or {}).get("creationTimestamp") or ""
    # RFC 3339 UTC stamps of one format order as text; an empty one counts as the latest
    return (not (pod.get("spec") or {}).get("nodeName"), phase_rank, ready_since is None,
            (ready_since == "", ready_since or ""), restarts, (created == "", created),
            pod["metadata"]["name"])


def choose_pod(pods: Iterable[dict]) -> dict | None:
    """The pod kubectl forwards to among a Service's or workload's: scheduled, running, ready
    longest, fewest restarts, oldest. None when there is none."""
    return min(pods, key=_activity, default=None)


def selector_of(kind: str, obj: dict) -> Callable[[dict], bool]:
    """The label predicate picking OBJ's pods (kubectl's SelectorsForObject)."""
    spec = obj.get("spec") or {}
    if kind == "Service":
        wanted = spec.get("selector") or {}
        if not wanted:
            raise LabError(f"cannot attach to *v1.Service: invalid service '{obj['metadata']['name']}': "
                           "Service is defined without a selector")
        return lambda labels: all((labels or {}).get(k) == v for k, v in wanted.items())
    return LabelSelector.from_dict(spec.get("selector")).matches


def plan_for(target_kind: str, target: dict | None, pod: dict, specs: list, address, netns: str) -> Plan:
    """The Plan for forwarding SPECS to POD (chosen for TARGET, a Service or workload, or itself),
    in kubectl's order: ports translated or named ports resolved, the pod running, then the
    addresses and port numbers read."""
    if target_kind == "Service":
        check_udp_service(specs, target)
        specs = translate_service_ports(specs, target, pod)
    else:
        check_udp_pod(specs, pod)
        specs = convert_named_ports(specs, pod)
    phase = (pod.get("status") or {}).get("phase")
    if phase != "Running":
        raise LabError(f"unable to forward port because pod is not running. Current status={phase}")
    meta = pod["metadata"]
    return Plan(pod=f"{meta['namespace']}/{meta['name']}", uid=meta.get("uid") or "", netns=netns,
                ports=parse_ports(specs), addresses=listen_addresses(address))


# -- reading the lab ----------------------------------------------------------------------------

def resolve(lab: str, target: str, namespace: str, ports: list, address="localhost") -> Plan:
    """The Plan for `port-forward TARGET PORTS...` in LAB: the pod to forward to and its ports."""
    if not ports:
        raise LabError("TYPE/NAME and list of ports are required for port-forward")
    kind, name = parse_target(target)
    obj = inspect.get_objects(lab, kind, namespace, [name])[0]
    if kind == "Pod":
        pod = obj
    else:
        selects = selector_of(kind, obj)
        pods = [p for p in inspect.get_objects(lab, "Pod", namespace, []) if selects(p["metadata"].get("labels"))]
        pod = choose_pod(pods)
        if pod is None:
            raise LabError(f"no pods found for {TARGET_KINDS_SHORT[kind]}/{name} in namespace {namespace!r} "
                           "(kubectl would wait --pod-running-timeout for one)")
    meta = pod["metadata"]
    return plan_for(kind, obj if kind != "Pod" else None, pod, list(ports), address,
                    names.pod_netns(lab, meta["namespace"], meta["name"]))


# -- messages -----------------------------------------------------------------------------------

def go_strerror(err: OSError) -> str:
    """An errno as Go's syscall.Errno prints it: `connection refused`."""
    text = os.strerror(err.errno) if err.errno else str(err)
    return text[:1].lower() + text[1:]


def klog_error(message: str, err: str, now: datetime.datetime | None = None, pid: int | None = None,
               **values) -> str:
    """A klog error line as client-go's HandleErrorWithLogger writes it:
    `E0107 12:00:00.000000   12345 portforward.go] "MESSAGE" err="ERR" localPort=8080 remotePort=80`."""
    now = now or datetime.datetime.now()
    pairs = "".join(f" {key}={value}" for key, value in values.items())
    return (f"E{now.strftime('%m%d %H:%M:%S.%f')} {os.getpid() if pid is None else pid:>7} portforward.go] "
            f"{_go_quote(message)} err={_go_quote(err)}{pairs}")


# -- doing it -----------------------------------------------------------------------------------

def _socket_in(netns_name: str, family: int):
    """A TCP socket made inside NETNS_NAME, or the OSError socket(2) gave; DialError(ends_session)
    when the namespace cannot be entered (the pod is gone) or left again."""
    made = None
    try:
        with netns.entered(netns_name):
            try:
                made = socket.socket(family, socket.SOCK_STREAM)
            except OSError as err:
                made = err
    except OSError as err:
        if isinstance(made, socket.socket):
            made.close()
        if made is None:
            raise DialError(f'network namespace for sandbox "{netns_name}" is closed', ends_session=True) from err
        raise DialError(str(err), ends_session=True) from err
    return made


def dial_in_pod(netns_name: str, port: int, timeout: float = DIAL_TIMEOUT) -> socket.socket:
    """A TCP connection to localhost:PORT inside the pod's network namespace, as containerd dials
    it: 127.0.0.1, then ::1. DialError, in containerd's words, when neither answers.

    Only socket(2) runs inside the namespace: connect(2) routes by the socket's own namespace, so
    the thread is back home before it may wait for up to TIMEOUT."""
    failures = []
    for family, host, network in ((socket.AF_INET, "127.0.0.1", "tcp4"), (socket.AF_INET6, "::1", "tcp6")):
        address = join_host_port(host, port)
        sock = _socket_in(netns_name, family)
        if isinstance(sock, OSError):
            failures.append(f"dial {network} {address}: socket: {go_strerror(sock)}")
            continue
        try:
            sock.settimeout(timeout)
            sock.connect((host, port))
            sock.settimeout(None)
            return sock
        except TimeoutError:
            failures.append(f"dial {network} {address}: i/o timeout")
        except OSError as err:
            failures.append(f"dial {network} {address}: connect: {go_strerror(err)}")
        sock.close()
    raise DialError(f'failed to execute portforward in network namespace "{netns.path(netns_name)}": '
                    f'failed to connect to localhost:{port} inside namespace "{netns_name}", '
                    f"IPv4: {failures[0]} IPv6 {failures[1]}")


def _shutdown(sock: socket.socket, how: int) -> None:
    try:
        sock.shutdown(how)
    except OSError:
        pass            # not connected any more: nothing left to shut


def _pump(source: socket.socket, sink: socket.socket) -> None:
    """Copy SOURCE to SINK until SOURCE's end-of-file, then pass the half-close on; a reset on
    either side ends both directions."""
    try:
        while True:
            data = source.recv(_CHUNK)
            if not data:
                break
            sink.sendall(data)
        sink.shutdown(socket.SHUT_WR)
    except OSError:
        _shutdown(source, socket.SHUT_RDWR)
        _shutdown(sink, socket.SHUT_RDWR)


def relay(local: socket.socket, remote: socket.socket) -> None:
    """Relay bytes both ways between two connected sockets until both directions have ended."""
    back = threading.Thread(target=_pump, args=(remote, local), name="port-forward relay", daemon=True)
    back.start()
    _pump(local, remote)
    back.join()


def _stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


class _Forwarder:
    """The listeners of one Plan and the relays of their connections; see serve()."""

    def __init__(self, plan: Plan, echo, echo_err, stop: threading.Event, dial):
        self.plan, self.echo, self.echo_err, self.stop, self.dial = plan, echo, echo_err, stop, dial
        self._lock = threading.Lock()
        self._stopping = False
        self._open = {}                 # handler thread -> the sockets it relays between
        self._failure = None
        self._signalled = False
        self._wake_w = None

    def run(self, ready) -> None:
        wake_r, self._wake_w = os.pipe()
        watcher = threading.Thread(target=self._watch, args=(self._wake_w,), name="port-forward stop",
                                   daemon=True)
        restore = _catch_signals(self._on_signal)
        listeners = []
        try:
            watcher.start()
            listeners = self._listen()
            if ready is not None:
                ready(list(dict.fromkeys((port.local, port.remote) for _, port in listeners)))
            self._accept_loop(listeners, wake_r)
        finally:
            self.stop.set()
            for sock, _ in listeners:
                sock.close()
            self._close_connections()
            watcher.join()
            wake_w, self._wake_w = self._wake_w, None       # a late signal then writes nowhere
            os.close(wake_r)
            os.close(wake_w)
            restore()
        if self._failure is not None:
            raise self._failure

    def _watch(self, wake_w: int) -> None:
        self.stop.wait()
        os.write(wake_w, b"\0")

    def _on_signal(self, *_) -> None:
        # a signal handler runs on the main thread between two of its bytecodes, maybe inside
        # stop.set() with stop's lock held: only a flag and a byte down the pipe here, no lock
        self._signalled = True
        if self._wake_w is not None:
            os.write(self._wake_w, b"\0")

    def _listen(self) -> list:
        """client-go's listenOnPort for every port: [(listening socket, ForwardedPort)]."""
        listeners = []
        for port in self.plan.ports:
            errors, failed, listening = [], {"all": 0, "any": 0}, {"all": 0, "any": 0}
            for address in self.plan.addresses:
                try:
                    sock = _listener(address, port.local)
                except OSError as err:
                    errors.append(f"unable to create listener: Error listen {address.network} "
                                  f"{join_host_port(address.ip, port.local)}: bind: {go_strerror(err)}")
                    failed[address.failure_mode] += 1
                    continue
                # a free port chosen for the first address is the one the others listen on too
                port = ForwardedPort(sock.getsockname()[1], port.remote)
                self.echo(f"Forwarding from {join_host_port(address.ip, port.local)} -> {port.remote}")
                listeners.append((sock, port))
                listening[address.failure_mode] += 1
            if (listening["all"] == 0 and failed["all"] > 0) or failed["any"] > 0:
                self.echo_err(f"Unable to listen on port {port.local}: Listeners failed to create with the "
                              f"following errors: [{' '.join(errors)}]")
        if not listeners:
            raise LabError("unable to listen on any of the requested ports: "
                           f"[{' '.join(str(p) for p in self.plan.ports)}]")
        return listeners

    def _accept_loop(self, listeners: list, wake_r: int) -> None:
        with selectors.DefaultSelector() as sel:
            sel.register(wake_r, selectors.EVENT_READ, None)
            for sock, port in listeners:
                sock.setblocking(False)
                sel.register(sock, selectors.EVENT_READ, port)
            while not (self.stop.is_set() or self._signalled):
                for key, _ in sel.select():
                    if key.data is not None:
                        self._accept(key.fileobj, key.data, sel)

    def _accept(self, listener: socket.socket, port: ForwardedPort, sel) -> None:
        try:
            conn, _ = listener.accept()
        except (BlockingIOError, InterruptedError):
            return              # another wake-up took it
        except OSError as err:
            # client-go stops accepting on that listener after an unexpected error, so do we
            self.echo_err(klog_error("Error accepting connection", f"accept: {go_strerror(err)}",
                                     localPort=port.local))
            sel.unregister(listener)
            return
        conn.setblocking(True)
        self.echo(f"Handling connection for {port.local}")
        handler = threading.Thread(target=self._handle, args=(conn, port), name="port-forward connection",
                                   daemon=True)
        with self._lock:
            self._open[handler] = [conn]
        try:
            handler.start()
        except RuntimeError:
            with self._lock:
                self._open.pop(handler, None)
            conn.close()
            raise

    def _handle(self, conn: socket.socket, port: ForwardedPort) -> None:
        me = threading.current_thread()
        remote = None
        try:
            try:
                remote = self.dial(port.remote)
            except DialError as err:
                # the kubelet's words around the runtime's (kubelet/cri/streaming/portforward)
                message = f"error forwarding port {port.remote} to pod {self.plan.pod}, uid {self.plan.uid}: {err}"
                self.echo_err(klog_error("An error occurred forwarding", message,
                                         localPort=port.local, remotePort=port.remote))
                if err.ends_session:
                    self._fail(LabError("lost connection to pod"))
                return
            with self._lock:
                if self._stopping:
                    return
                self._open[me].append(remote)
            relay(conn, remote)
        finally:
            with self._lock:
                self._open.pop(me, None)
            conn.close()
            if remote is not None:
                remote.close()

    def _fail(self, err: LabError) -> None:
        with self._lock:
            if self._failure is None:
                self._failure = err
        self.stop.set()

    def _close_connections(self) -> None:
        """End every relay (as closing kubectl's stream connection does) and wait for its thread."""
        with self._lock:
            self._stopping = True
            handlers = {thread: list(socks) for thread, socks in self._open.items()}
        for socks in handlers.values():
            for sock in socks:
                _shutdown(sock, socket.SHUT_RDWR)
        for thread in handlers:
            thread.join()


def _listener(address: ListenAddress, port: int) -> socket.socket:
    """A listening TCP socket on ADDRESS:PORT, as Go's net.Listen makes one (SO_REUSEADDR; a tcp6
    socket IPv6 only)."""
    family = socket.AF_INET if address.network == "tcp4" else socket.AF_INET6
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        sock.bind((address.ip, port))
        sock.listen(socket.SOMAXCONN)
    except OSError:
        sock.close()
        raise
    return sock


def _catch_signals(handler: Callable) -> Callable[[], None]:
    """On the main thread, route SIGINT and SIGTERM to HANDLER (a clean end, as kubectl's Ctrl-C);
    returns what puts the previous handlers back. Elsewhere signals are not this thread's to take."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None
    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}

    def restore() -> None:
        for sig, old in previous.items():
            signal.signal(sig, old)
    return restore


def serve(plan: Plan, echo=print, echo_err=None, ready=None, stop: threading.Event | None = None,
          dial: Callable[[int], socket.socket] | None = None) -> None:
    """Listen as PLAN says and relay each connection to the pod until STOP is set (or SIGINT or
    SIGTERM arrives, on the main thread); DIAL(remote port) makes the pod-side connection
    (default: dial_in_pod in the plan's namespace). STOP is set when serve returns, for any reason,
    as kubectl closes its stop channel."""
    stop = stop if stop is not None else threading.Event()
    dial = dial or (lambda port: dial_in_pod(plan.netns, port))
    _Forwarder(plan, echo, echo_err or _stderr, stop, dial).run(ready)


def port_forward(lab: str, target: str, namespace: str, ports: list, address="localhost", echo=print,
                 ready=None, stop: threading.Event | None = None, echo_err=None) -> None:
    """`kubectl port-forward TARGET [LOCAL:]REMOTE...` in LAB: blocks until interrupted (or STOP is
    set); READY, if given, is called with [(local port, remote port)] once listening. Prints
    `Forwarding from 127.0.0.1:8080 -> 80` per listener and `Handling connection for 8080` per
    connection through ECHO, errors through ECHO_ERR (default: stderr)."""
    plan = resolve(lab, target, namespace, ports, address)
    serve(plan, echo=echo, echo_err=echo_err, ready=ready, stop=stop)
