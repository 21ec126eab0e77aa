"""Start, supervise, inspect and stop pods: the caller's side of the pod runtime.

A pod is its pause process and its containers, all children of the pod runtime (runtime/daemon.py,
one process per lab, as containerd is on a node):

    runtime "netlab-runtime DIR" ──▶ pause   catatonit -P: PID 1 of the sandbox's PID namespace, in the
                                   │          pod netns; the pod's owner (its end is the pod's end)
                                   ├──▶ init "netlab-init NS/POD/C": PID 1 of the container's PID
                                   │     namespace, own mount + UTS namespaces; forwards signals,
                                   │     reaps, records the exit (runtime/container.py)
                                   │      └──▶ main process: exec(argv); a built-in server or a
                                   │           placeholder sleep is the init itself
                                   └──▶ …one init per container

The files each pod keeps are in runtime/records.py. Every pid is stored with its start time from
/proc/PID/stat, so a reused pid is never signalled.
"""

from __future__ import annotations

import contextlib
import json
import os
import pathlib
import resource
import select
import signal
import time

from netlab import crashpoints
from netlab.runtime import daemon, linux, logtimes, volumes
from netlab.runtime.command import PodPlan, plan_pod
from netlab.runtime.records import (CONTAINERS_DIR, DNS_RECORDS_DIR, DNS_RECORDS_FILE, POD_FILE, POD_LOG, VOLUMES_DIR,
                                    read, write)
from netlab.runtime.spec import ContainerStatus, PodRuntimeSpec, PodStatus

START_TIMEOUT = 10.0  # seconds start_pod waits for every container to reach exec (or bind its ports)


# ---- caller side ---------------------------------------------------------------------------------


def start_pod(spec: PodRuntimeSpec) -> int:
    """Start the pod's owner and containers; returns the owner pid once every container has started.

    Idempotent: if this state directory's owner is alive it is left alone and its pid returned.
    """
    return start_pods([spec])[0]


def start_pods(specs: list[PodRuntimeSpec]) -> list[int]:
    """start_pod for several pods at once: all are forked before any is waited for, so they start in parallel.

    Raises RuntimeError naming every pod that failed, after the others have started.
    """
    plans = [plan_pod(spec) for spec in specs]  # every refusal comes before anything is forked
    starter = PodStarter()
    try:
        for spec, plan in zip(specs, plans):
            starter.launch(spec, plan)
    except BaseException:
        starter.abandon()
        raise
    return starter.finish()


def allow_all_descriptors() -> None:
    """Raise our soft limit on open descriptors to the hard one, as Go programs (kubelet,
    containerd) do when they start: each pod being started holds a start-up pipe here until it
    runs, a lab of 1,000 pods starts them together, and a shell's default soft limit is 1,024.
    The pod runtime, spawned from here, inherits the limit for the pods it holds."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and soft < hard:       # (Linux caps descriptors below infinity)
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


class PodStarter:
    """start_pods in two halves: `launch` hands each pod to its runtime and returns at once (the
    runtime forks it while the caller wires the next pod), `finish` waits until every pod started.

        starter = PodStarter()
        for spec in specs: wire(spec); starter.launch(spec)
        pause_pids = starter.finish()          # RuntimeError naming every pod that failed
    """

    def __init__(self):
        self.specs: list[PodRuntimeSpec] = []
        self.launches: list[tuple[int | None, int | None]] = []
        self.clients: dict[pathlib.Path, daemon.Client] = {}
        allow_all_descriptors()

    def launch(self, spec: PodRuntimeSpec, plan: PodPlan | None = None) -> None:
        """Have SPEC's runtime start the pod (raises ValueError for a spec plan_pod refuses)."""
        plan = plan or plan_pod(spec)
        _forget(spec.state_dir)
        if not os.path.exists(plan.netns_path):
            raise FileNotFoundError(f"pod {spec.namespace}/{spec.name}: network namespace {plan.netns_path} does not exist")
        folder = _runtime_dir(spec)
        if folder not in self.clients:
            self.clients[folder] = daemon.connect(folder, spawn=True)
        launched = _launch(spec, plan, self.clients[folder])
        self.specs.append(spec)                 # after: a launch that raised leaves nothing to wait for
        self.launches.append(launched)
        crashpoints.reached("pod forked")

    def abandon(self) -> None:
        """Stop waiting: the pods launched so far start on their own (the next `up` finds them)."""
        for client in self.clients.values():
            client.close()
        self.clients.clear()
        for _, fd in self.launches:
            if fd is not None:
                os.close(fd)
        self.specs.clear()
        self.launches.clear()

    def finish(self) -> list[int]:
        """Wait until every launched pod's containers started: their pause pids, in launch order."""
        refused = {}
        try:
            for client in self.clients.values():
                refused.update(client.settle())
        except BaseException:
            self.abandon()
            raise
        for client in self.clients.values():
            client.close()
        self.clients.clear()
        specs, launches = self.specs, self.launches
        self.specs, self.launches = [], []
        return _wait_started(specs, launches, refused)


def _wait_started(specs, launches, refused: dict) -> list[int]:
    pending = {fd: i for i, (_, fd) in enumerate(launches) if fd is not None}
    data: dict[int, bytes] = {fd: b"" for fd in pending}
    deadline = time.monotonic() + START_TIMEOUT
    # poll, not select: a lab of a thousand pods waits on descriptors above select's 1,024
    poller = select.poll()
    for fd in pending:
        poller.register(fd, select.POLLIN)
    try:
        # Each pipe reaches EOF once every process holding it (owner, inits, main processes) has
        # closed it: by exec, after binding its ports, or by exiting.
        while pending:
            left = deadline - time.monotonic()
            ready = poller.poll(max(left, 0) * 1000) if left > 0 else []
            if not ready:
                break
            for fd, _ in ready:
                chunk = os.read(fd, 65536)
                if chunk:
                    data[fd] += chunk
                else:
                    del pending[fd]
                    poller.unregister(fd)
    finally:
        for fd in data:
            os.close(fd)
    pids, failures = [], []
    for spec, (pid, fd) in zip(specs, launches):
        if fd is not None:
            messages = []
            for line in data[fd].splitlines():
                try:
                    messages.append(json.loads(line))
                except ValueError:
                    pass
            pid = next((m["owner"] for m in messages if "owner" in m), None)
            errors = [m["error"] for m in messages if "error" in m]
            if str(pathlib.Path(spec.state_dir).absolute()) in refused:
                errors.append(str(refused[str(pathlib.Path(spec.state_dir).absolute())]))
            if fd in pending:
                errors.append(f"not every container started within {START_TIMEOUT:g}s")
            if errors or pid is None:
                if pid:
                    stop_pod(spec.state_dir, grace=0)
                why = "; ".join(errors) or f"no word from the pod runtime (see {_runtime_dir(spec) / daemon.LOG})"
                failures.append(f"pod {spec.namespace}/{spec.name}: cannot start: {why}")
        pids.append(pid)
    if failures:
        raise RuntimeError("\n".join(failures))
    return pids


def _runtime_dir(spec: PodRuntimeSpec) -> pathlib.Path:
    """The folder of the runtime that owns SPEC's pod: its state directory's parent (a lab's pods folder)."""
    return pathlib.Path(spec.state_dir).absolute().parent


def _launch(spec: PodRuntimeSpec, plan: PodPlan, client: daemon.Client) -> tuple[int | None, int | None]:
    """Have the runtime start the pod: (running pause pid, None) if already up, else (None, the
    read end of its start-up pipe)."""
    state_dir = pathlib.Path(spec.state_dir).absolute()
    cdir = state_dir / CONTAINERS_DIR
    cdir.mkdir(parents=True, exist_ok=True)
    old = read(state_dir / POD_FILE)
    if old and old.get("owner") and linux.is_alive(old["owner"]["pid"], old["owner"]["start"]):
        return old["owner"]["pid"], None
    if old:
        stop_pod(state_dir, grace=0)  # whatever a dead pod left behind, before its records are replaced
    for f in list(cdir.iterdir()) + [state_dir / POD_LOG]:
        if f.is_file():
            f.unlink()
    write(state_dir / POD_FILE, _pod_record(plan))
    write_pod_volumes(state_dir, spec.volume_files)
    r, w = os.pipe()
    ns_fd = os.open(plan.netns_path, os.O_RDONLY)    # the runtime's mount namespace has no pins
    try:
        client.start_soon(plan, state_dir, w, ns_fd)
    finally:
        os.close(w)
        os.close(ns_fd)
    return None, r


def write_pod_volumes(state_dir: str | os.PathLike, volume_files: dict[str, dict[str, tuple[bytes, int]]]) -> list[str]:
    """Make the pod's configMap/secret/... volumes show VOLUME_FILES (kubelet's atomic writer);
    the names of those that changed. Containers that mounted a volume see the change."""
    changed = []
    for name, files in volume_files.items():
        if volumes.write_volume(os.path.join(state_dir, VOLUMES_DIR, name), files):
            changed.append(name)
    return changed


def write_dns_records(state_dir: str | os.PathLike, text: str) -> bool:
    """Replace a cluster DNS pod's records file with TEXT (one record a line) if it differs;
    whether it did. Its unbound follows the file (runtime/coredns.py)."""
    folder = os.path.join(state_dir, DNS_RECORDS_DIR)
    path = os.path.join(folder, DNS_RECORDS_FILE)
    try:
        with open(path) as handle:
            if handle.read() == text:
                return False
    except FileNotFoundError:
        pass
    os.makedirs(folder, mode=0o755, exist_ok=True)
    with open(path + ".tmp", "w") as handle:
        handle.write(text)
    os.replace(path + ".tmp", path)
    return True


def _pod_record(plan: PodPlan) -> dict:
    """pod.json before the runtime has started anything (it writes the pause and the inits in)."""
    return {
        "namespace": plan.namespace,
        "name": plan.name,
        "netns": plan.netns_path,
        "grace": plan.grace,
        "owner": None,
        "containers": [{"name": c.name, "mode": c.mode, "argv": c.argv, "init": None, "env": c.env}
                       for c in plan.containers],
    }


def _runtime_of(pod: dict) -> daemon.Client | None:
    """A connection to the runtime that started POD (its record), if it still runs."""
    recorded = pod.get("runtime") or {}
    if not recorded.get("dir") or not linux.is_alive(recorded.get("pid"), recorded.get("start")):
        return None
    return daemon.connect(recorded["dir"])


def stop_pod(state_dir: str | os.PathLike, grace: float | None = None) -> None:
    """Stop the pod's containers (SIGTERM, SIGKILL after the grace period), then its pause; safe to repeat."""
    state_dir = pathlib.Path(state_dir).absolute()
    _forget(state_dir)
    pod = read(state_dir / POD_FILE)
    if not pod:
        return
    grace = float(pod.get("grace", 2.0) if grace is None else grace)
    owner = pod.get("owner") or {}
    fd = linux.open_process(owner.get("pid"), owner.get("start"))
    if fd is not None:
        try:
            client = _runtime_of(pod)
            asked = False
            if client is not None:
                try:
                    asked = client.stop(state_dir, grace)
                except daemon.RuntimeGone:
                    pass
                finally:
                    client.close()
            if not asked or linux.wait_pidfds([fd], grace + 2.0):
                linux.pidfd_kill(fd, signal.SIGKILL)  # the sandbox without its runtime: its containers go below
                linux.wait_pidfds([fd], 2.0)
        finally:
            os.close(fd)
    # Anything recorded that outlived the pause (its runtime was killed mid-start, or a container escaped).
    fds = []
    for c in pod.get("containers", []):
        status = read(state_dir / CONTAINERS_DIR / f"{c['name']}.json") or {}
        for ident in (c.get("init") or {}, {"pid": status.get("pid"), "start": status.get("pid_start")}):
            pfd = linux.open_process(ident.get("pid"), ident.get("start"))
            if pfd is not None:
                linux.pidfd_kill(pfd, signal.SIGKILL)
                fds.append(pfd)
    linux.wait_pidfds(fds, 2.0)
    for pfd in fds:
        os.close(pfd)


def restart_container(state_dir: str | os.PathLike, container: str, spec: PodRuntimeSpec | None = None) -> bool:
    """Have the pod's runtime start CONTAINER again (it must have exited); False if the pod is gone.

    The pause keeps the pod's network namespace, so the new run has the pod's IP; the last run's
    output moves to NAME.previous.log, as kubelet keeps the previous container's log. With SPEC
    (the pod as kubelet would start it now), the new run gets SPEC's container: its environment
    names the Services there are now, as kubelet's does at every start.
    """
    state_dir = pathlib.Path(state_dir).absolute()
    _forget(state_dir)
    pod = read(state_dir / POD_FILE) or {}
    owner = pod.get("owner") or {}
    if not linux.is_alive(owner.get("pid"), owner.get("start")):
        return False
    client = _runtime_of(pod)
    if client is None:
        return False
    plan = None
    if spec is not None:
        plan = next((c for c in plan_pod(spec).containers if c.name == container), None)
    try:
        return client.restart(state_dir, container, plan)
    except daemon.RuntimeGone:
        return False
    finally:
        client.close()


def container_environment(state_dir: str | os.PathLike, container: str) -> dict[str, str] | None:
    """The environment CONTAINER was started with (what `kubectl exec` gives a command), or None."""
    record = read(pathlib.Path(state_dir) / POD_FILE) or {}
    for c in record.get("containers") or ():
        if c.get("name") == container:
            return c.get("env")
    return None


def container_inits(state_dir: str | os.PathLike) -> dict[str, tuple[int, int]]:
    """container name -> (pid, start time) of its init: its end means the container's end is recorded."""
    pod = read(pathlib.Path(state_dir) / POD_FILE) or {}
    return {c["name"]: (c["init"]["pid"], c["init"]["start"]) for c in pod.get("containers", []) if c.get("init")}


def owner_of(state_dir: str | os.PathLike) -> tuple[int, int] | None:
    """(pid, start time) of the pod's owner, as recorded."""
    owner = (read(pathlib.Path(state_dir) / POD_FILE) or {}).get("owner") or {}
    return (owner["pid"], owner["start"]) if owner.get("pid") else None


_snapshot: dict | None = None   # state dir -> PodStatus, while a status_snapshot() is open


@contextlib.contextmanager
def status_snapshot():
    """Within it, pod_status reads each pod's files once: one consistent view for a control pass.

    Starting, restarting or stopping a pod forgets its entry, so the pass sees what it changed.
    """
    global _snapshot
    outer = _snapshot
    if outer is None:
        _snapshot = {}
    try:
        yield
    finally:
        if outer is None:
            _snapshot = None


def _forget(state_dir) -> None:
    if _snapshot is not None:
        _snapshot.pop(str(pathlib.Path(state_dir)), None)


def pod_status(state_dir: str | os.PathLike) -> PodStatus:
    """The owner's liveness and every container's state, read from the state directory."""
    if _snapshot is not None:
        key = str(pathlib.Path(state_dir))
        if key not in _snapshot:
            _snapshot[key] = _read_pod_status(pathlib.Path(state_dir))
        return _snapshot[key]
    return _read_pod_status(pathlib.Path(state_dir))


def _read_pod_status(state_dir: pathlib.Path) -> PodStatus:
    pod = read(state_dir / POD_FILE) or {}
    owner = pod.get("owner") or {}
    owner_alive = linux.is_alive(owner.get("pid"), owner.get("start"))
    out = []
    for c in pod.get("containers", []):
        rec = read(state_dir / CONTAINERS_DIR / f"{c['name']}.json")
        if rec is None:
            out.append(ContainerStatus(c["name"], "waiting", "ContainerCreating", mode=c["mode"], argv=c["argv"]))
            continue
        st = ContainerStatus(
            name=c["name"],
            state=rec.get("state", "waiting"),
            reason=rec.get("reason"),
            exit_code=rec.get("exit_code"),
            signal=rec.get("signal"),
            pid=rec.get("pid"),
            started_at=rec.get("started_at"),
            finished_at=rec.get("finished_at"),
            mode=rec.get("mode", c["mode"]),
            argv=rec.get("argv", c["argv"]),
            message=rec.get("message"),
        )
        init = c.get("init") or {}
        if st.state == "running" and not owner_alive and not linux.is_alive(st.pid, rec.get("pid_start")) \
                and not linux.is_alive(init.get("pid"), init.get("start")):
            # Nobody was left to record the end (the owner was killed): say so, as kubelet does.
            # (while the container's init lives, it is about to record how the container ended)
            st.state, st.reason, st.exit_code = "terminated", "ContainerStatusUnknown", 137
            st.message = "The container could not be located when the pod was terminated"
        out.append(st)
    return PodStatus(owner.get("pid"), owner_alive, out)


def read_logs(state_dir: str | os.PathLike, container: str, previous: bool = False) -> str:
    """The container's stdout and stderr so far (of the run before the last restart, if PREVIOUS)."""
    return logtimes.render(read_timed_logs(state_dir, container, previous), timestamps=False)


def read_timed_logs(state_dir: str | os.PathLike, container: str, previous: bool = False) -> list[logtimes.TimedLine]:
    """read_logs' lines, each with the time it was written (logtimes.py)."""
    state_dir = pathlib.Path(state_dir)
    pod = read(state_dir / POD_FILE) or {}
    names = [c["name"] for c in pod.get("containers", [])]
    if container not in names:
        raise LookupError(f"container {container!r} is not in pod {pod.get('namespace')}/{pod.get('name')} ({', '.join(names) or 'no containers'})")
    name = f"{container}.previous.log" if previous else f"{container}.log"
    # output no writer stamped (a start-up error) is dated from the container's start
    status = {} if previous else read(state_dir / CONTAINERS_DIR / f"{container}.json") or {}
    started = int(float(status.get("started_at") or 0) * 1e9)
    try:
        return logtimes.read_timed(state_dir / CONTAINERS_DIR / name, default_ns=started)
    except FileNotFoundError:
        if previous:
            raise LookupError(f'previous terminated container "{container}" in pod "{pod.get("name")}" '
                              "not found") from None
        return []
