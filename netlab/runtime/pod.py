"""Start, supervise, inspect and stop one pod's processes: a pause-like owner and its containers.

Process tree (all forked from the caller, nothing exec'd but the containers' own commands):

    caller ──fork──▶ (setsid) ──fork──▶ owner  "netlab-pause": in the pod netns, parent of every container
                                          ├──▶ init "netlab-init": PID 1 of the container's PID namespace,
                                          │     own mount + UTS namespaces; forwards signals, reaps,
                                          │     records the exit
                                          │      └──▶ main process: exec(argv), or the built-in server,
                                          │           or a placeholder sleep (no exec)
                                          └──▶ …one init per container

State directory (the pod's own):
    pod.json                 the owner's and each container init's (pid, start time), the plan
    owner.log                the owner's diagnostics
    stop.json                the grace period asked for by stop_pod
    containers/NAME.json     the container's status (written by its main process, then its init)
    containers/NAME.log      the container's stdout and stderr
    containers/NAME.previous.log   the run before the last restart (`logs --previous`)
    containers/NAME.restart  a restart asked for by the kubelet (restart_container), until the owner acts
Every pid is stored with its start time from /proc/PID/stat, so a reused pid is never signalled.
"""

from __future__ import annotations

import contextlib
import dataclasses
import email.utils
import errno
import gc
import json
import os
import pathlib
import pwd
import select
import signal
import socket
import subprocess
import sys
import time
import traceback

from netlab import crashpoints
# imported here, not where used: a container's user may not read the host's Python library
from netlab.runtime import builtin, images, launcher, linux, replies, volumes
from netlab.runtime.command import ContainerPlan, PodPlan, plan_pod
from netlab.runtime.spec import ContainerStatus, PodRuntimeSpec, PodStatus

POD_FILE = "pod.json"
OWNER_LOG = "owner.log"
STOP_FILE = "stop.json"
CONTAINERS_DIR = "containers"

START_TIMEOUT = 10.0  # seconds start_pod waits for every container to reach exec (or bind its ports)
LAUNCHER_BATCH = 16   # from this many pods on, a launcher forks the owners (a fresh interpreter costs ~40 ms)
_OWNER_SIGNALS = {signal.SIGCHLD, signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGUSR1}
RESTART_SUFFIX = ".restart"
_FORWARDED = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1, signal.SIGUSR2)
_INIT_SIGNALS = {signal.SIGCHLD, *_FORWARDED}


# ---- files ---------------------------------------------------------------------------------------


def _dumps(obj) -> bytes:
    return (json.dumps(obj, indent=1, sort_keys=True) + "\n").encode()


def _write_at(dir_fd: int, name: str, obj) -> None:
    """Replace `name` in the directory atomically (readers never see half a file)."""
    tmp = f".{name}.{os.getpid()}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644, dir_fd=dir_fd)
    try:
        data = _dumps(obj)
        while data:
            data = data[os.write(fd, data) :]
    finally:
        os.close(fd)
    os.rename(tmp, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)


def _read_at(dir_fd: int, name: str) -> dict | None:
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


def _read(path: pathlib.Path) -> dict | None:
    try:
        return json.loads(path.read_bytes())
    except (FileNotFoundError, NotADirectoryError, ValueError):
        return None


def _write(path: pathlib.Path, obj) -> None:
    fd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
    try:
        _write_at(fd, path.name, obj)
    finally:
        os.close(fd)


def _ident(pid: int) -> dict:
    return {"pid": pid, "start": linux.starttime(pid)}


def _exit_fields(wait_status: int) -> dict:
    code = os.waitstatus_to_exitcode(wait_status)
    if code >= 0:
        return {"exit_code": code, "signal": None, "reason": "Completed" if code == 0 else "Error"}
    return {"exit_code": 128 - code, "signal": -code, "reason": "Error"}


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
    for spec in specs:
        _forget(spec.state_dir)
    for spec, plan in zip(specs, plans):
        if not os.path.exists(plan.netns_path):
            raise FileNotFoundError(f"pod {spec.namespace}/{spec.name}: network namespace {plan.netns_path} does not exist")
    launches = []
    # a big batch has its owners forked by a small process of their own (runtime/launcher.py)
    forker = launcher.Launcher() if len(specs) >= LAUNCHER_BATCH else None
    try:
        for spec, plan in zip(specs, plans):
            launches.append(_launch(spec, plan, forker))
            crashpoints.reached("pod forked")
    finally:
        if forker is not None:
            forker.close()
    pending = {fd: i for i, (_, fd, _) in enumerate(launches) if fd is not None}
    data: dict[int, bytes] = {fd: b"" for fd in pending}
    deadline = time.monotonic() + START_TIMEOUT
    try:
        # Each pipe reaches EOF once every process holding it (owner, inits, main processes) has
        # closed it: by exec, after binding its ports, or by exiting.
        while pending:
            left = deadline - time.monotonic()
            ready = select.select(list(pending), [], [], max(left, 0))[0] if left > 0 else []
            if not ready:
                break
            for fd in ready:
                chunk = os.read(fd, 65536)
                if chunk:
                    data[fd] += chunk
                else:
                    del pending[fd]
    finally:
        for fd in data:
            os.close(fd)
    for _, _, middle in launches:
        if middle:
            try:
                os.waitpid(middle, 0)
            except ChildProcessError:  # the caller ignores SIGCHLD
                pass
    pids, failures = [], []
    for spec, (pid, fd, _) in zip(specs, launches):
        if fd is not None:
            messages = []
            for line in data[fd].splitlines():
                try:
                    messages.append(json.loads(line))
                except ValueError:
                    pass
            pid = next((m["owner"] for m in messages if "owner" in m), None)
            errors = [m["error"] for m in messages if "error" in m]
            if fd in pending:
                errors.append(f"not every container started within {START_TIMEOUT:g}s")
            if errors or pid is None:
                if pid:
                    stop_pod(spec.state_dir, grace=0)
                why = "; ".join(errors) or f"no word from the owner (see {pathlib.Path(spec.state_dir) / OWNER_LOG})"
                failures.append(f"pod {spec.namespace}/{spec.name}: cannot start: {why}")
        pids.append(pid)
    if failures:
        raise RuntimeError("\n".join(failures))
    return pids


def _launch(spec: PodRuntimeSpec, plan: PodPlan, forker=None) -> tuple[int | None, int | None, int | None]:
    """Fork the pod's owner (here, or by FORKER, a launcher.Launcher): (running owner pid, None, None)
    if already up, else (None, pipe, middle child or None)."""
    state_dir = pathlib.Path(spec.state_dir).absolute()  # the owner works from /
    cdir = state_dir / CONTAINERS_DIR
    cdir.mkdir(parents=True, exist_ok=True)
    old = _read(state_dir / POD_FILE)
    if old and old.get("owner") and linux.is_alive(old["owner"]["pid"], old["owner"]["start"]):
        return old["owner"]["pid"], None, None
    if old:
        stop_pod(state_dir, grace=0)  # whatever a dead owner left behind, before its records are replaced
    for f in list(cdir.iterdir()) + [state_dir / STOP_FILE]:
        if f.is_file():
            f.unlink()
    _write(state_dir / POD_FILE, _pod_record(plan, owner=None, inits={}))
    write_pod_volumes(state_dir, spec.volume_files)

    r, w = os.pipe()
    if forker is not None:
        ns_fd = os.open(plan.netns_path, os.O_RDONLY)    # the launcher's mount namespace has no pins
        try:
            forker.fork_owner(plan, state_dir, w, ns_fd)
        finally:
            os.close(w)
            os.close(ns_fd)
        return None, r, None
    pid = os.fork()
    if pid == 0:  # the middle child: leave the caller's session, fork the owner, vanish
        code = 1
        try:
            os.close(r)
            gc.freeze()  # nothing inherited from the caller is collected (or its pages copied) in children
            os.setsid()
            if os.fork() == 0:
                _owner_main(plan, state_dir, w)  # never returns
            code = 0
        finally:
            os._exit(code)
    os.close(w)
    return None, r, pid


def write_pod_volumes(state_dir: str | os.PathLike, volume_files: dict[str, dict[str, tuple[bytes, int]]]) -> list[str]:
    """Make the pod's configMap/secret/... volumes show VOLUME_FILES (kubelet's atomic writer);
    the names of those that changed. Containers that mounted a volume see the change."""
    changed = []
    for name, files in volume_files.items():
        if volumes.write_volume(os.path.join(state_dir, VOLUMES_DIR, name), files):
            changed.append(name)
    return changed


def _pod_record(plan: PodPlan, owner: dict | None, inits: dict[str, dict]) -> dict:
    return {
        "namespace": plan.namespace,
        "name": plan.name,
        "netns": plan.netns_path,
        "grace": plan.grace,
        "owner": owner,
        "containers": [
            {"name": c.name, "mode": c.mode, "argv": c.argv, "init": inits.get(c.name), "env": c.env}
            for c in plan.containers
        ],
    }


def stop_pod(state_dir: str | os.PathLike, grace: float | None = None) -> None:
    """Stop the pod's containers (SIGTERM, SIGKILL after the grace period) and its owner; safe to repeat."""
    state_dir = pathlib.Path(state_dir)
    _forget(state_dir)
    pod = _read(state_dir / POD_FILE)
    if not pod:
        return
    grace = float(pod.get("grace", 2.0) if grace is None else grace)
    owner = pod.get("owner") or {}
    fd = linux.open_process(owner.get("pid"), owner.get("start"))
    if fd is not None:
        try:
            _write(state_dir / STOP_FILE, {"grace": grace})
            linux.pidfd_kill(fd, signal.SIGTERM)
            if linux.wait_pidfds([fd], grace + 2.0):
                linux.pidfd_kill(fd, signal.SIGKILL)  # its containers die with it (PR_SET_PDEATHSIG)
                linux.wait_pidfds([fd], 2.0)
        finally:
            os.close(fd)
        try:  # reap it if the caller is its subreaper
            os.waitpid(owner["pid"], os.WNOHANG)
        except ChildProcessError:
            pass
    # Anything recorded that outlived the owner (it was killed mid-start, or a container escaped).
    fds = []
    for c in pod.get("containers", []):
        status = _read(state_dir / CONTAINERS_DIR / f"{c['name']}.json") or {}
        for ident in (c.get("init") or {}, {"pid": status.get("pid"), "start": status.get("pid_start")}):
            pfd = linux.open_process(ident.get("pid"), ident.get("start"))
            if pfd is not None:
                linux.pidfd_kill(pfd, signal.SIGKILL)
                fds.append(pfd)
    linux.wait_pidfds(fds, 2.0)
    for pfd in fds:
        os.close(pfd)


def restart_container(state_dir: str | os.PathLike, container: str) -> bool:
    """Ask the pod's owner to start CONTAINER again (it must have exited); False if the owner is gone.

    The owner keeps the pod's network namespace, so the new run has the pod's IP; the last run's
    output moves to NAME.previous.log, as kubelet keeps the previous container's log.
    """
    state_dir = pathlib.Path(state_dir)
    _forget(state_dir)
    pod = _read(state_dir / POD_FILE) or {}
    owner = pod.get("owner") or {}
    fd = linux.open_process(owner.get("pid"), owner.get("start"))
    if fd is None:
        return False
    try:
        (state_dir / CONTAINERS_DIR / f"{container}{RESTART_SUFFIX}").touch()
        linux.pidfd_kill(fd, signal.SIGUSR1)
    finally:
        os.close(fd)
    return True


def container_environment(state_dir: str | os.PathLike, container: str) -> dict[str, str] | None:
    """The environment CONTAINER was started with (what `kubectl exec` gives a command), or None."""
    record = _read(pathlib.Path(state_dir) / POD_FILE) or {}
    for c in record.get("containers") or ():
        if c.get("name") == container:
            return c.get("env")
    return None


def container_inits(state_dir: str | os.PathLike) -> dict[str, tuple[int, int]]:
    """container name -> (pid, start time) of its init: its end means the container's end is recorded."""
    pod = _read(pathlib.Path(state_dir) / POD_FILE) or {}
    return {c["name"]: (c["init"]["pid"], c["init"]["start"]) for c in pod.get("containers", []) if c.get("init")}


def owner_of(state_dir: str | os.PathLike) -> tuple[int, int] | None:
    """(pid, start time) of the pod's owner, as recorded."""
    owner = (_read(pathlib.Path(state_dir) / POD_FILE) or {}).get("owner") or {}
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
    pod = _read(state_dir / POD_FILE) or {}
    owner = pod.get("owner") or {}
    owner_alive = linux.is_alive(owner.get("pid"), owner.get("start"))
    out = []
    for c in pod.get("containers", []):
        rec = _read(state_dir / CONTAINERS_DIR / f"{c['name']}.json")
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
        if st.state == "running" and not owner_alive and not linux.is_alive(st.pid, rec.get("pid_start")):
            # Nobody was left to record the end (the owner was killed): say so, as kubelet does.
            st.state, st.reason, st.exit_code = "terminated", "ContainerStatusUnknown", 137
            st.message = "The container could not be located when the pod was terminated"
        out.append(st)
    return PodStatus(owner.get("pid"), owner_alive, out)


def read_logs(state_dir: str | os.PathLike, container: str, previous: bool = False) -> str:
    """The container's stdout and stderr so far (of the run before the last restart, if PREVIOUS)."""
    state_dir = pathlib.Path(state_dir)
    pod = _read(state_dir / POD_FILE) or {}
    names = [c["name"] for c in pod.get("containers", [])]
    if container not in names:
        raise LookupError(f"container {container!r} is not in pod {pod.get('namespace')}/{pod.get('name')} ({', '.join(names) or 'no containers'})")
    name = f"{container}.previous.log" if previous else f"{container}.log"
    try:
        return (state_dir / CONTAINERS_DIR / name).read_text(errors="replace")
    except FileNotFoundError:
        if previous:
            raise LookupError(f'previous terminated container "{container}" in pod "{pod.get("name")}" '
                              "not found") from None
        return ""


# ---- process side: everything below runs in forked children and ends in os._exit -----------------


def _say(fd: int, obj: dict) -> None:
    """One JSON line on the start-up pipe (short enough to be written atomically)."""
    try:
        os.write(fd, json.dumps(obj).encode()[:4000] + b"\n")
    except OSError:
        pass


def _log(msg: str) -> None:
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    try:
        os.write(2, f"{stamp} [{os.getpid()}] {msg}\n".encode())
    except OSError:
        pass


def _owner_main(plan: PodPlan, state_dir: pathlib.Path, w: int, joined: bool = False) -> None:
    """The pod's owner: join the netns (unless JOINED already), start the containers, reap them,
    stop them on SIGTERM."""
    try:
        signal.pthread_sigmask(signal.SIG_BLOCK, _OWNER_SIGNALS)
        _default_signal_handlers()  # never run the caller's Python handlers in here
        # Keep nothing of the caller's: a lab lock or socket held by a long-lived owner would leak.
        os.closerange(3, w)
        os.closerange(w + 1, max(os.sysconf("SC_OPEN_MAX"), 65536))
        null = os.open("/dev/null", os.O_RDWR)
        log = os.open(state_dir / OWNER_LOG, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        os.dup2(null, 0)
        os.dup2(log, 1)
        os.dup2(log, 2)
        os.close(null)
        os.close(log)
        os.umask(0o022)
        os.chdir("/")
        linux.set_title(f"netlab-shim {plan.namespace}/{plan.name}")
        state_fd = os.open(state_dir, os.O_RDONLY | os.O_DIRECTORY)
        cdir_fd = os.open(CONTAINERS_DIR, os.O_RDONLY | os.O_DIRECTORY, dir_fd=state_fd)
        if not joined:
            ns_fd = os.open(plan.netns_path, os.O_RDONLY)
            linux.setns(ns_fd, linux.CLONE_NEWNET)
            os.close(ns_fd)
        try:
            # Per-netns since Linux 4.11; /proc/sys/net follows the opener's netns. Container runtimes
            # set it so non-root containers can bind port 80.
            with open("/proc/sys/net/ipv4/ip_unprivileged_port_start", "w") as f:
                f.write("0")
        except OSError as e:
            _log(f"cannot set net.ipv4.ip_unprivileged_port_start=0: {e}")
        me = _ident(os.getpid())
        _write_at(state_fd, POD_FILE, _pod_record(plan, me, {}))
        own_pidns = os.open("/proc/self/ns/pid", os.O_RDONLY)
        pause = _start_pause(plan, own_pidns)
        me["pause"] = _ident(pause)
        inits: dict[str, dict] = {}
        by_pid: dict[int, ContainerPlan] = {}
        for c in plan.containers:
            pid = _fork_container(plan, c, cdir_fd, w, own_pidns)
            inits[c.name] = _ident(pid)
            by_pid[pid] = c
        _write_at(state_fd, POD_FILE, _pod_record(plan, me, inits))
        _say(w, {"owner": me["pid"]})
        os.close(w)
        _log(f"owner of pod {plan.namespace}/{plan.name} started {len(by_pid)} container(s)")
    except BaseException as e:
        _say(w, {"error": f"{type(e).__name__}: {e}"})
        traceback.print_exc(file=sys.stderr)
        os._exit(1)
    try:
        _owner_loop(plan, state_fd, cdir_fd, by_pid, me, inits, own_pidns)
    except BaseException:
        traceback.print_exc(file=sys.stderr)
        os._exit(1)
    os._exit(0)


PAUSE = "/usr/bin/catatonit"       # Debian's catatonit: podman's pause process


def _start_pause(plan: PodPlan, own_pidns: int) -> int:
    """The pod's pause process, holding its sandbox as a runtime's does: catatonit in pause mode
    (`-P`) named /pause, PID 1 of the sandbox's own PID namespace, the pod in its environment."""
    try:
        linux.unshare(linux.CLONE_NEWPID)
        new_pidns = True
    except OSError:
        new_pidns = False
    pid = os.fork()
    if pid == 0:
        try:
            linux.prctl(linux.PR_SET_PDEATHSIG, signal.SIGKILL)
            env = {"NETLAB_POD": f"{plan.namespace}/{plan.name}", "PATH": "/usr/bin:/bin"}
            try:
                os.execve(PAUSE, ["/pause", "-P"], env)
            except OSError as e:           # no catatonit: a Python pause, as small as it gets here
                _log(f"cannot run {PAUSE} ({e.strerror}): pausing in Python")
                linux.set_title("/pause")
                signal.pthread_sigmask(signal.SIG_SETMASK, set())
                while True:
                    signal.pause()
        finally:
            os._exit(1)
    if new_pidns:
        linux.setns(own_pidns, linux.CLONE_NEWPID)
    return pid


def _default_signal_handlers(ignored_too: bool = False) -> None:
    """Put Python-level handlers (and, if asked, ignored signals) back to the default action."""
    for sig in signal.valid_signals():
        if sig in (signal.SIGKILL, signal.SIGSTOP):
            continue
        try:
            current = signal.getsignal(sig)
            if callable(current) or (ignored_too and current == signal.SIG_IGN):
                signal.signal(sig, signal.SIG_DFL)
        except (OSError, ValueError):
            pass


def _fork_container(plan: PodPlan, c: ContainerPlan, cdir_fd: int, w: int, own_pidns: int) -> int:
    """Fork the container's init, as PID 1 of a new PID namespace when the kernel lets us."""
    log_fd = os.open(f"{c.name}.log", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644, dir_fd=cdir_fd)
    try:
        try:
            # unshare(CLONE_NEWPID) only sets the namespace of the *next* child, and a second
            # unshare fails with EINVAL until setns() points children back at our own namespace.
            linux.unshare(linux.CLONE_NEWPID)
            new_pidns = True
        except OSError as e:
            _log(f"container {c.name}: no PID namespace ({e}); sharing the owner's")
            new_pidns = False
        owner = os.getpid()
        pid = os.fork()
        if pid == 0:
            try:
                _init_main(plan, c, cdir_fd, log_fd, w, None if new_pidns else owner)
            finally:
                os._exit(128)
        if new_pidns:
            linux.setns(own_pidns, linux.CLONE_NEWPID)
        return pid
    finally:
        os.close(log_fd)


def _owner_loop(plan: PodPlan, state_fd: int, cdir_fd: int, by_pid: dict[int, ContainerPlan], me: dict,
                inits: dict[str, dict], own_pidns: int) -> None:
    """pause(2) with duties: reap container inits, restart containers on request, stop all on SIGTERM."""
    while True:
        info = signal.sigwaitinfo(_OWNER_SIGNALS)
        if info.si_signo == signal.SIGCHLD:
            _reap(cdir_fd, by_pid, os.WNOHANG)
        elif info.si_signo == signal.SIGUSR1:
            _reap(cdir_fd, by_pid, os.WNOHANG)
            _restart_requested(plan, state_fd, cdir_fd, by_pid, me, inits, own_pidns)
        elif info.si_signo in (signal.SIGTERM, signal.SIGINT):
            break
    stop = _read_at(state_fd, STOP_FILE) or {}
    grace = float(stop.get("grace", plan.grace))
    _log(f"stopping {len(by_pid)} running container(s), grace {grace:g}s")
    for pid in by_pid:
        _kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while by_pid:
        _reap(cdir_fd, by_pid, os.WNOHANG)
        left = deadline - time.monotonic()
        if not by_pid or left <= 0:
            break
        signal.sigtimedwait({signal.SIGCHLD}, left)
    for pid in by_pid:
        _kill(pid, signal.SIGKILL)
    while by_pid:
        _reap(cdir_fd, by_pid, 0)
    pause = (me.get("pause") or {}).get("pid")
    if pause:
        _kill(pause, signal.SIGKILL)       # the sandbox goes last, as kubelet's StopPodSandbox
        try:
            os.waitpid(pause, 0)
        except ChildProcessError:
            pass


def _restart_requested(plan: PodPlan, state_fd: int, cdir_fd: int, by_pid: dict[int, ContainerPlan], me: dict,
                       inits: dict[str, dict], own_pidns: int) -> None:
    """Start again every container with a restart request that is not running; drop the requests."""
    running = {c.name for c in by_pid.values()}
    for c in plan.containers:
        marker = f"{c.name}{RESTART_SUFFIX}"
        try:
            os.unlink(marker, dir_fd=cdir_fd)
        except FileNotFoundError:
            continue
        if c.name in running:
            continue
        try:
            os.rename(f"{c.name}.log", f"{c.name}.previous.log", src_dir_fd=cdir_fd, dst_dir_fd=cdir_fd)
        except FileNotFoundError:
            pass
        # The start-up pipe is long closed: a restarted container reports to nobody but its files.
        quiet = os.open("/dev/null", os.O_WRONLY)
        try:
            pid = _fork_container(plan, c, cdir_fd, quiet, own_pidns)
        finally:
            os.close(quiet)
        inits[c.name] = _ident(pid)
        by_pid[pid] = c
        _log(f"container {c.name} restarted (init {pid})")
    _write_at(state_fd, POD_FILE, _pod_record(plan, me, inits))


def _kill(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)  # our own unreaped child: its pid cannot have been reused
    except ProcessLookupError:
        pass


def _reap(cdir_fd: int, by_pid: dict[int, ContainerPlan], flags: int) -> None:
    """Reap exited container inits; record an exit their init could not record itself."""
    while by_pid:
        try:
            pid, status = os.waitpid(-1, flags)
        except ChildProcessError:
            by_pid.clear()
            return
        if pid == 0:
            return
        c = by_pid.pop(pid, None)
        if c is None:
            continue
        rec = _read_at(cdir_fd, f"{c.name}.json") or {"name": c.name, "mode": c.mode, "argv": c.argv}
        if rec.get("state") != "terminated":
            rec.update(_exit_fields(status), state="terminated", finished_at=time.time())
            if c.mode == "exec":        # a built-in server is its own init: its exit is news to nobody
                rec["message"] = "the container's init ended before recording its exit"
            _write_at(cdir_fd, f"{c.name}.json", rec)
        flags = os.WNOHANG


def _init_main(plan: PodPlan, c: ContainerPlan, cdir_fd: int, log_fd: int, w: int, owner: int | None) -> None:
    """The container's init: set up its namespaces, run the main process, reap, record how it ended."""
    try:
        linux.prctl(linux.PR_SET_PDEATHSIG, signal.SIGKILL)
        if owner is not None and os.getppid() != owner:
            os._exit(1)  # the owner died before we armed PDEATHSIG
        linux.set_title(f"netlab-init {plan.namespace}/{plan.name}/{c.name}")
        in_pidns = os.getpid() == 1
        if not in_pidns:
            linux.prctl(linux.PR_SET_CHILD_SUBREAPER, 1)
        for sig in _FORWARDED:
            # PID 1 only receives signals it has a handler for, even from the owner.
            signal.signal(sig, lambda *_: None)
        signal.pthread_sigmask(signal.SIG_SETMASK, _INIT_SIGNALS)
        os.setsid()
        host_proc = os.open("/proc", os.O_RDONLY | os.O_DIRECTORY)
        containers_dir = os.readlink(f"/proc/self/fd/{cdir_fd}")
        _setup_mounts(plan, in_pidns, os.path.join(containers_dir, f"{c.name}.rootfs"),
                      [(os.path.join(os.path.dirname(containers_dir), VOLUMES_DIR, volume), path, read_only, sub_path)
                       for volume, path, read_only, sub_path in c.mounts], c.image_commands)
        socket.sethostname(plan.hostname)
        if in_pidns and c.mode in ("builtin", "sleep"):
            # netlab's own server (or placeholder) needs no init above it: it is the container's
            # PID 1, as an image's entrypoint is, and one interpreter fewer per pod
            try:
                _main_process(plan, c, cdir_fd, log_fd, w, -1, host_proc, in_pidns)
            except BaseException:
                traceback.print_exc()
            finally:
                os._exit(127)
        err_r, err_w = os.pipe()
        os.set_blocking(err_r, False)
        main = os.fork()
        if main == 0:
            try:
                os.close(err_r)
                _main_process(plan, c, cdir_fd, log_fd, w, err_w, host_proc, in_pidns)
            except BaseException:
                traceback.print_exc()          # into the container's log: a netlab bug, said
            finally:
                os._exit(127)
        os.close(err_w)
        os.close(w)
        os.close(host_proc)
        os.close(log_fd)
    except BaseException as e:
        os.write(log_fd, f"netlab: cannot start container {c.name}: {e}\n".encode())
        _write_at(
            cdir_fd,
            f"{c.name}.json",
            {"name": c.name, "mode": c.mode, "argv": c.argv, "state": "terminated", "reason": "StartError",
             "exit_code": 128, "message": str(e), "finished_at": time.time()},
        )
        os._exit(128)
    code = 128
    try:
        code = _init_loop(c, cdir_fd, main, err_r, in_pidns)
    finally:
        os._exit(code)


DEVICES = ("null", "zero", "full", "random", "urandom", "tty")
VOLUMES_DIR = "volumes"        # the pod's emptyDir volumes, one folder each, shared by its containers
OLD_ROOT = ".netlab-old-root"


def _setup_mounts(plan: PodPlan, in_pidns: bool, rootfs: str, volumes: list | None = None,
                  image_commands: str | None = None) -> None:
    """The container's own filesystem, in its own mount namespace.

    Its root is a copy-on-write view of the host's (overlayfs: the host's / below, ROOTFS/upper
    above, kept across restarts of the container and removed with the pod), so whatever it writes
    (`apt-get install`, `echo > /etc/x`) stays in the container. On top: its own /tmp and /run, a
    /dev of a few device nodes, /sys showing the pod's network devices, /proc of its PID namespace,
    and /etc/hostname, /etc/hosts and /etc/resolv.conf of the pod, and its VOLUMES (host folder,
    mountPath, readOnly) bound where the manifest mounts them, and the commands its image would
    have (IMAGE_COMMANDS, a folder of runtime/images.py). Then pivot_root: the host's tree is no
    longer reachable.
    """
    linux.unshare(linux.CLONE_NEWNS | linux.CLONE_NEWUTS)
    # Slave, not private: the host's later unmounts (ip netns del) still reach us; our mounts never
    # reach the host.
    linux.mount(None, "/", None, linux.MS_REC | linux.MS_SLAVE)
    upper, work, root = (os.path.join(rootfs, part) for part in ("upper", "work", "merged"))
    if plan.root_filesystem == "host":
        # bench/containers.py's reference, never a lab's: the mounts below over the host's own
        # tree (in this mount namespace only), no root of its own, no files, volumes or commands
        root = ""
    else:
        for folder in (upper, work, root):
            os.makedirs(folder, exist_ok=True)
        linux.mount("overlay", root, "overlay", 0, f"lowerdir=/,upperdir={upper},workdir={work}")
    nodev = linux.MS_NOSUID | linux.MS_NODEV
    linux.mount("tmpfs", f"{root}/tmp", "tmpfs", nodev, "mode=1777,size=256m")
    if not root:        # the reference: a private /tmp and /proc on the host's tree, nothing more
        if in_pidns:
            linux.mount("proc", "/proc", "proc", nodev | linux.MS_NOEXEC)
        return
    linux.mount("tmpfs", f"{root}/run", "tmpfs", nodev, "mode=755,size=64m")
    linux.mount("tmpfs", f"{root}/dev", "tmpfs", linux.MS_NOSUID, "mode=755,size=64k")
    for device in DEVICES:
        target = f"{root}/dev/{device}"
        open(target, "w").close()
        linux.mount(f"/dev/{device}", target, None, linux.MS_BIND)
    for link, to in (("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"), ("stdout", "/proc/self/fd/1"),
                     ("stderr", "/proc/self/fd/2")):
        os.symlink(to, f"{root}/dev/{link}")
    os.mkdir(f"{root}/dev/shm")
    linux.mount("tmpfs", f"{root}/dev/shm", "tmpfs", nodev, "mode=1777,size=64m")
    os.mkdir(f"{root}/dev/pts")
    linux.mount("devpts", f"{root}/dev/pts", "devpts", linux.MS_NOSUID | linux.MS_NOEXEC, "newinstance,ptmxmode=0666")
    os.symlink("pts/ptmx", f"{root}/dev/ptmx")
    # sysfs shows the devices of the netns that mounts it, so /sys/class/net follows only a fresh
    # mount (what `ip netns exec` does). Read-only, as container runtimes mount it.
    linux.mount("sysfs", f"{root}/sys", "sysfs", linux.MS_RDONLY | nodev | linux.MS_NOEXEC)
    if in_pidns:
        linux.mount("proc", f"{root}/proc", "proc", nodev | linux.MS_NOEXEC)
    else:
        linux.mount("/proc", f"{root}/proc", None, linux.MS_BIND | linux.MS_REC)
    # the pod's files: /etc/netns/NETNS/FILE (hosts, resolv.conf) as under `ip netns exec`, and its
    # hostname
    etc = os.path.join("/etc/netns", os.path.basename(plan.netns_path))
    files = {"hostname": plan.hostname + "\n"}
    if os.path.isdir(etc):
        for entry in os.listdir(etc):
            with open(os.path.join(etc, entry)) as handle:
                files[entry] = handle.read()
    for source, _, _, _ in volumes or ():
        if not os.path.isdir(source):
            os.makedirs(source, exist_ok=True)
            os.chmod(source, 0o777)      # an emptyDir is writable by every container's user
    os.makedirs(f"{root}/{OLD_ROOT}", exist_ok=True)
    linux.pivot_root(root, f"{root}/{OLD_ROOT}")
    os.chdir("/")
    # From here on every path resolves inside the container (a symlink in its tree cannot point
    # a write or a mount at the host): its files go into its own layer, its volumes are bound in.
    for entry, text in files.items():
        with open(f"/etc/{entry}", "w") as handle:
            handle.write(text)
    if image_commands:
        images.install(image_commands, f"/{OLD_ROOT}{images.SHIMS}")
    for source, mount_path, read_only, sub_path in volumes or ():
        target = os.path.normpath("/" + mount_path)
        folder = f"/{OLD_ROOT}{source}"
        if sub_path:
            # kubelet's subPath check: the path, its links followed, stays inside the volume (a link
            # a container made in an emptyDir must not hand another container the host's files)
            inside = os.path.realpath(os.path.join(folder, sub_path))
            if os.path.commonpath([inside, os.path.realpath(folder)]) != os.path.realpath(folder):
                raise OSError(f"subPath {sub_path!r} of volume mount {mount_path} leaves its volume")
            if not os.path.exists(inside):
                os.makedirs(inside)
            folder = inside
        if os.path.isdir(folder):
            os.makedirs(target, exist_ok=True)
        else:                                   # a file's subPath: bound over a file
            os.makedirs(os.path.dirname(target), exist_ok=True)
            if not os.path.exists(target):
                open(target, "w").close()
        linux.mount(folder, target, None, linux.MS_BIND)
        if read_only:
            linux.mount(None, target, None, linux.MS_BIND | linux.MS_REMOUNT | linux.MS_RDONLY)
    linux.umount2(f"/{OLD_ROOT}", linux.MNT_DETACH)
    os.rmdir(f"/{OLD_ROOT}")


def _init_loop(c: ContainerPlan, cdir_fd: int, main: int, err_r: int, in_pidns: bool) -> int:
    """Forward signals to the main process and reap everything until the main process ends."""
    while True:
        info = signal.sigwaitinfo(_INIT_SIGNALS)
        if info.si_signo != signal.SIGCHLD:
            _kill(main, info.si_signo)
            continue
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                pid = 0
            if pid == 0:
                break
            if pid == main:
                return _record_exit(c, cdir_fd, main, status, err_r, in_pidns)


def _record_exit(c: ContainerPlan, cdir_fd: int, main: int, status: int, err_r: int, in_pidns: bool) -> int:
    rec = _read_at(cdir_fd, f"{c.name}.json") or {"name": c.name, "mode": c.mode, "argv": c.argv}
    rec.update(_exit_fields(status), state="terminated", finished_at=time.time())
    try:
        failure = os.read(err_r, 4096)
    except OSError:  # nothing written, and a writer (a stray grandchild) still holds it
        failure = b""
    if failure:
        try:
            rec.update(json.loads(failure))
        except ValueError:
            pass
    _write_at(cdir_fd, f"{c.name}.json", rec)
    if not in_pidns:
        # No PID namespace whose end kills the rest: kill what is left of the main process's group.
        try:
            os.killpg(main, signal.SIGKILL)
        except OSError:
            pass
    return min(int(rec["exit_code"]), 255)


def _main_process(
    plan: PodPlan, c: ContainerPlan, cdir_fd: int, log_fd: int, w: int, err_w: int, host_proc: int, in_pidns: bool
) -> None:
    """The container's main process: record itself, become the container's user, then exec or serve."""
    try:
        _default_signal_handlers(ignored_too=True)  # Python ignores SIGPIPE/SIGXFSZ; ignoring survives exec
        signal.pthread_sigmask(signal.SIG_SETMASK, set())
        if not in_pidns:
            os.setpgid(0, 0)  # so the init can kill what the container leaves behind
        # Our pid as the host sees it: readlink("self") in the host's /proc, opened before remounting.
        pid = int(os.readlink("self", dir_fd=host_proc))
        stat = linux.proc_stat(pid, dir_fd=host_proc)
        os.close(host_proc)
        rec = {
            "name": c.name, "mode": c.mode, "argv": c.argv, "state": "running",
            "pid": pid, "pid_start": stat[1] if stat else None, "started_at": time.time(),
        }
        if c.mode == "builtin":
            rec["ports"] = [f"{p}/{proto}" for p, proto in c.ports]
        _write_at(cdir_fd, f"{c.name}.json", rec)
        os.close(cdir_fd)
        null = os.open("/dev/null", os.O_RDONLY)
        os.dup2(null, 0)
        os.dup2(log_fd, 1)
        os.dup2(log_fd, 2)
        os.close(null)
        os.close(log_fd)
        _chdir(c)
        if c.run_as_user is not None:
            _become(c.run_as_user, c.run_as_group)
        # Credential changes clear PR_SET_PDEATHSIG: arm it after them (it survives exec).
        linux.prctl(linux.PR_SET_PDEATHSIG, signal.SIGKILL)
    except BaseException as e:
        _fail(err_w, f"cannot set up container: {e}", "StartError", 128)
    if c.mode == "exec":
        try:
            os.execvpe(c.argv[0], c.argv, c.env)
        except OSError as e:
            # as a shell says it: 127 for a command not found, 126 for one that cannot run; the
            # words are runc's
            name = c.argv[0]
            if e.errno == errno.ENOENT:
                said = (f'exec: "{name}": stat {name}: no such file or directory' if "/" in name
                        else f'exec: "{name}": executable file not found in $PATH')
                _fail(err_w, said, "Error", 127)
            _fail(err_w, f'exec: "{name}": {e.strerror.lower()}', "Error", 126)
    linux.set_title(c.title or f"netlab-{c.mode}")
    info = dict(plan.server_info, container=c.name)

    def log(msg: str) -> None:
        stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        os.write(1, f"{stamp} {msg}\n".encode())

    try:
        if c.mode == "sleep":
            for sig in (signal.SIGTERM, signal.SIGINT):
                signal.signal(sig, _graceful_exit)
            os.close(w)
            log("netlab: no runnable command and no ports: sleeping as a placeholder")
            while True:
                signal.pause()
        # SIGTERM/SIGINT: a graceful stop, finishing the connections already there (nginx's SIGQUIT)
        stop_r, stop_w = os.pipe()
        os.set_blocking(stop_w, False)
        signal.set_wakeup_fd(stop_w)
        asked = []
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: asked.append(1))
        if c.behaviour is not None:
            for line in replies.startup_log(c.behaviour):
                os.write(1, (line + "\n").encode())
            if c.behaviour.exits is not None:      # the image's program refuses its arguments
                os.close(w)
                os._exit(c.behaviour.exit_code)
        respond, answer_udp, greeting = _responders(c, info)
        code = builtin.serve(info, c.ports, log,
                             ready=lambda: os.close(w), stop_fd=stop_r, stopping=lambda: bool(asked),
                             respond=respond, answer_udp=answer_udp, greeting=greeting)
        os._exit(code)
    except _Exit:  # SIGTERM/SIGINT: a clean stop, as pause's
        os._exit(0)
    except OSError as e:
        _fail(err_w, f"built-in server: {e}", "Error", 1)
    os._exit(0)


def _responders(c: ContainerPlan, info: dict[str, str]):
    """What the built-in server answers for this container: (HTTP responder, UDP answerer, the
    greeting a raw TCP server writes on accept) for its test image, its image's document root, or
    (None, None, None) for netlab's identity page and UDP echo."""
    if c.behaviour is not None:
        who = replies.Identity(pod=info["pod"], namespace=info["namespace"], pod_ip=info["pod_ip"],
                               node=info["node"], container=c.name)

        def run_shell(command: str) -> tuple[str, str, int]:
            try:
                done = subprocess.run(["/bin/sh", "-c", command], capture_output=True, text=True, timeout=10)
            except (OSError, subprocess.SubprocessError) as e:
                return "", str(e), 1
            return done.stdout, done.stderr, done.returncode

        def respond(request):
            answer = replies.http_reply(behaviour, replies.Request(
                method=request.method, target=request.target, version=request.version, headers=request.headers,
                body=request.body, client=request.client, server=request.server), who, run_shell=run_shell,
                dial=_dial)
            if answer.no_reply:
                return None, "", [], b"", answer.exit_code
            headers = list(answer.headers)
            if not any(k.lower() == "date" for k, _ in headers):      # as Go's server adds it
                headers.append(("Date", email.utils.formatdate(usegmt=True)))
            return answer.status, answer.reason, headers, answer.body, answer.exit_code

        behaviour = dataclasses.replace(c.behaviour, started=time.time())
        greeting = replies.tcp_greeting(behaviour, who) if behaviour.raw_tcp else None
        return (respond, lambda payload, client, port: replies.udp_reply(behaviour, payload, client, who),
                greeting)
    if c.doc_root:
        return builtin.doc_root_responder(info, c.doc_root, "Apache" if "apache2" in c.doc_root else "nginx"), None, None
    return None, None, None


def _dial(protocol: str, host: str, port: int, request: str) -> str:
    """agnhost netexec's /dial: one request to HOST:PORT from this pod, its answer as text."""
    if protocol == "udp":
        with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.settimeout(5)
            s.sendto(request.encode(), (host, port))
            return s.recv(65535).decode("utf-8", "replace")
    with socket.create_connection((host, port), timeout=5) as s:
        target = request if request.startswith("/") else "/" + request
        s.sendall(f"GET {target} HTTP/1.1\r\nHost: {host}:{port}\r\nConnection: close\r\n\r\n".encode())
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    if not head.startswith(b"HTTP/"):
        raise OSError("malformed HTTP response")
    return body.decode("utf-8", "replace")


class _Exit(Exception):
    pass


def _graceful_exit(*_) -> None:
    raise _Exit()


def _fail(err_w: int, message: str, reason: str, code: int) -> None:
    """Tell the init why the main process is giving up, say it in the log, and exit."""
    try:
        os.write(2, f"netlab: {message}\n".encode())
        if err_w >= 0:     # -1: no init above us; the owner records the exit from our status
            os.write(err_w, json.dumps({"reason": reason, "message": message, "exit_code": code}).encode())
    finally:
        os._exit(code)


def _chdir(c: ContainerPlan) -> None:
    """The manifest's workingDir (made when missing, in the container's own filesystem), else /."""
    wd = c.working_dir
    if wd and not os.path.isdir(wd):
        os.makedirs(wd, exist_ok=True)
        if c.run_as_user is not None:
            os.chown(wd, c.run_as_user, c.run_as_group if c.run_as_group is not None else -1)
    os.chdir(wd or "/")


def _become(uid: int, gid: int | None) -> None:
    """Drop to runAsUser (and runAsGroup, else the user's group from /etc/passwd, else 0)."""
    if gid is None:
        try:
            gid = pwd.getpwuid(uid).pw_gid
        except KeyError:
            gid = 0
    os.setgroups([])
    os.setgid(gid)
    os.setuid(uid)
