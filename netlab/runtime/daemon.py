"""The pod runtime's process: one per runtime directory (a lab's pods folder), the parent of every
pod's pause process and container inits, as containerd is on a node.

It starts pods, restarts their containers, stops them with their grace period, reaps every exit and
records it, and tears a pod down when its pause process dies (the sandbox is gone, as kubelet sees
it). It lives while it has pods or a client: the last pod stopped, it goes. Its children die with it
(PR_SET_PDEATHSIG), so a killed runtime leaves no process behind, and the kubelet starts the pods
again, with a new runtime.

Why one process and not a Python owner per pod: a forked interpreter writes ~2 MB of the pages it
shares with its parent within its first moments, so a per-pod owner doubled what a pod costs.
Here each pod is its pause (catatonit, ~50 kB) and its containers, whose inits a forker forks
(runtime/forker.py: a process that writes nothing between forks, so the pages a container shares
with it stay shared) as the runtime's own children.

    client = connect(runtime_dir, spawn=True)     # the running runtime, or a new one
    pause = client.start(plan, state_dir, start_w, netns_fd)
    client.stop(state_dir, grace); client.restart(state_dir, container); client.close()

Requests are SOCK_SEQPACKET messages on RUNTIME_DIR/runtime.sock (root only): a pickled
(operation, arguments) tuple, with descriptors for a start (the pod's start-up pipe and its
network namespace); each answer is a pickled value. The runtime runs in a mount namespace of its
own without the network namespaces' pins (runtime/linux.small_mount_namespace), so each container
copies a small mount table.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import gc
import os
import pathlib
import pickle
import selectors
import signal
import socket
import subprocess
import sys
import time
import traceback

from netlab.runtime import container, forker, linux, logtimes, records
from netlab.runtime.command import ContainerPlan, PodPlan

SOCKET = "runtime.sock"
LOCK = "runtime.lock"
LOG = "runtime.log"
PAUSE = "/usr/bin/catatonit"       # Debian's catatonit: podman's pause process
_MESSAGE_MAX = 1 << 20          # an answer
# a request: a pod's plan carries every container's environment, and kubelet gives each one all
# the Services' variables (7 a port): 1,000 Services are ~0.5 MB a container
_REQUEST_MAX = 16 << 20
_SO_SNDBUFFORCE = getattr(socket, "SO_SNDBUFFORCE", 32)
SPAWN_TIMEOUT = 10.0
FIRST_CLIENT_WAIT = 10.0   # seconds a new runtime waits for the client that started it
NO_PID_NAMESPACES = "NETLAB_NO_PID_NAMESPACES"   # =1: run as where the kernel refuses CLONE_NEWPID
FORK_PAUSE = "NETLAB_FORK_PAUSE"                 # =1: fork the pause, as where setpriv or catatonit is missing


# ---- the client's end ----------------------------------------------------------------------------


class RuntimeGone(OSError):
    """The runtime ended (or was never there) before answering."""


class Client:
    """A connection to the runtime of one runtime directory."""

    WINDOW = 16          # start_soon's requests in flight: the answers waiting stay few and small

    def __init__(self, sock: socket.socket):
        self.sock = sock
        self.in_flight: list[str] = []      # start_soon's state dirs, oldest first
        self.refused: dict[str, Exception] = {}

    def _ask(self, message: tuple, fds: list[int] = ()):
        while self.in_flight:              # start_soon's answers come first (their errors are kept)
            self._collect_one()
        try:
            if fds:
                socket.send_fds(self.sock, [pickle.dumps(message)], list(fds))
            else:
                self.sock.send(pickle.dumps(message))
        except OSError as e:
            raise RuntimeGone(f"the pod runtime ended: {e}") from None
        value = self._answer()
        if isinstance(value, Exception):
            raise value
        return value

    def _answer(self):
        """The runtime's next answer (an exception it raised comes back as the value)."""
        try:
            answer = self.sock.recv(_MESSAGE_MAX)
        except OSError as e:
            raise RuntimeGone(f"the pod runtime ended: {e}") from None
        if not answer:
            raise RuntimeGone("the pod runtime ended before answering")
        return pickle.loads(answer)

    def start(self, plan: PodPlan, state_dir: pathlib.Path, start_w: int, netns_fd: int) -> int:
        """Start the pod of PLAN in the network namespace NETNS_FD; its pause pid. START_W is the
        pod's start-up pipe: each container closes it once started, the runtime writes the pause's
        pid (or an error) on it."""
        return self._ask(("start", plan, str(state_dir)), [start_w, netns_fd])

    def start_soon(self, plan: PodPlan, state_dir: pathlib.Path, start_w: int, netns_fd: int) -> None:
        """start(), without waiting for its answer (settle() collects it): the runtime forks this
        pod while the caller gets the next one ready."""
        while len(self.in_flight) >= self.WINDOW:
            self._collect_one()
        try:
            socket.send_fds(self.sock, [pickle.dumps(("start", plan, str(state_dir)))], [start_w, netns_fd])
        except OSError as e:
            raise RuntimeGone(f"the pod runtime ended: {e}") from None
        self.in_flight.append(str(state_dir))

    def settle(self) -> dict[str, Exception]:
        """Wait for every start_soon's answer: state dir -> the error of each start the runtime refused."""
        while self.in_flight:
            self._collect_one()
        refused, self.refused = self.refused, {}
        return refused

    def _collect_one(self) -> None:
        state_dir = self.in_flight.pop(0)
        value = self._answer()
        if isinstance(value, Exception):
            self.refused[state_dir] = value

    def stop(self, state_dir: pathlib.Path, grace: float) -> bool:
        """Begin stopping the pod (SIGTERM, SIGKILL after GRACE seconds, then its pause); False if
        the runtime does not have it."""
        return self._ask(("stop", str(state_dir), grace))

    def restart(self, state_dir: pathlib.Path, container_name: str, plan: ContainerPlan | None = None) -> bool:
        """Start CONTAINER of the pod again if it has exited, as PLAN says when given (kubelet works out a
        container's environment at every start); False if the runtime does not have the pod."""
        return self._ask(("restart", str(state_dir), container_name, plan))

    def close(self) -> None:
        self.sock.close()


def _socket_path(dir_fd: int) -> str:
    # through the directory's descriptor: a socket's path may not be longer than 107 bytes
    return f"/proc/self/fd/{dir_fd}/{SOCKET}"


def _try_connect(runtime_dir: pathlib.Path) -> Client | None:
    try:
        dir_fd = os.open(runtime_dir, os.O_RDONLY | os.O_DIRECTORY)
    except FileNotFoundError:
        return None
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    try:
        # a SOCK_SEQPACKET message must fit the sender's buffer whole (else EMSGSIZE): room for
        # the largest request, past net.core.wmem_max (root may force it)
        sock.setsockopt(socket.SOL_SOCKET, _SO_SNDBUFFORCE, _REQUEST_MAX)
    except OSError:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, _REQUEST_MAX)
    try:
        sock.connect(_socket_path(dir_fd))
    except OSError:
        sock.close()
        return None
    finally:
        os.close(dir_fd)
    client = Client(sock)
    try:
        if client._ask(("hello",)) == "hello":
            return client
    except OSError:
        pass
    client.close()         # accepted by a runtime on its way out
    return None


def connect(runtime_dir: str | os.PathLike, spawn: bool = False) -> Client | None:
    """The runtime of RUNTIME_DIR; with SPAWN, started if none runs (else None)."""
    runtime_dir = pathlib.Path(runtime_dir)
    client = _try_connect(runtime_dir)
    if client is not None or not spawn:
        return client
    runtime_dir.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + SPAWN_TIMEOUT
    while time.monotonic() < deadline:
        _spawn(runtime_dir)
        client = _try_connect(runtime_dir)
        if client is not None:
            return client
        time.sleep(0.01)     # a runtime that is going still holds the lock
    raise RuntimeGone(f"cannot start the pod runtime in {runtime_dir} (see {runtime_dir / LOG})")


def _spawn(runtime_dir: pathlib.Path) -> None:
    """Start a runtime for RUNTIME_DIR and wait until it listens (or says another one runs)."""
    package_root = str(pathlib.Path(__file__).resolve().parents[2])
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in (package_root, os.environ.get("PYTHONPATH")) if p))
    # -c, not -m: the package imports this module first, and runpy warns about running it again
    entry = "import sys; from netlab.runtime import daemon; sys.exit(daemon.main(sys.argv[1]))"
    with open(runtime_dir / LOG, "ab") as log:
        proc = subprocess.Popen([sys.executable, "-c", entry, str(runtime_dir)], stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=log, cwd="/", env=env, start_new_session=True)
    try:
        proc.stdout.readline()           # "ready" or "busy", or nothing if it failed
    finally:
        proc.stdout.close()
        proc.wait()                      # the first process only forks the runtime and goes


# ---- the runtime ----------------------------------------------------------------------------------


@dataclasses.dataclass
class _Pod:
    plan: PodPlan
    state_dir: str
    pause: int | None
    me: dict                                            # the pause's record: the pod's owner
    inits: dict[str, dict]                              # container name -> its init's record
    running: dict[int, ContainerPlan]                   # init pid -> its container
    stop_at: float | None = None                        # stopping: SIGKILL what is left at this time
    killed: bool = False


SETPRIV = "/usr/bin/setpriv"
# posix_spawn's child starts with our dispositions: Python ignores SIGPIPE and SIGXFSZ
_DEFAULT_SIGNALS = (signal.SIGPIPE, signal.SIGXFSZ, signal.SIGINT, signal.SIGTERM, signal.SIGCHLD)


def _pause_dir(runtime_dir: pathlib.Path) -> str | None:
    """RUNTIME_DIR/bin, holding `pause`, a link to catatonit (None: no catatonit or setpriv here)."""
    if not (os.access(PAUSE, os.X_OK) and os.access(SETPRIV, os.X_OK)) or os.environ.get(FORK_PAUSE) == "1":
        return None
    folder = runtime_dir / "bin"
    try:
        folder.mkdir(exist_ok=True)
        link = folder / "pause"
        if not link.is_symlink() or os.readlink(link) != PAUSE:
            with contextlib.suppress(FileNotFoundError):
                link.unlink()
            link.symlink_to(PAUSE)
    except OSError as e:
        records.log_line(2, f"cannot make {folder}/pause: {e}")
        return None
    return str(folder)


class _Runtime:
    def __init__(self, runtime_dir: pathlib.Path, listener: socket.socket):
        self.runtime_dir = runtime_dir
        self.listener = listener
        self.pods: dict[str, _Pod] = {}
        self.children: dict[int, tuple[_Pod, ContainerPlan | None]] = {}
        self.clients: set[socket.socket] = set()
        self.pidns = os.open("/proc/self/ns/pid", os.O_RDONLY)
        self.netns = os.open("/proc/self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
        self.pause_dir = _pause_dir(runtime_dir)
        self.use_pidns = os.environ.get(NO_PID_NAMESPACES) != "1"
        self.forker: forker.Forker | None = None
        self.terminating = False

    # -- the loop

    def serve(self) -> int:
        wake_r, wake_w = os.pipe()
        os.set_blocking(wake_r, False)
        os.set_blocking(wake_w, False)
        signal.set_wakeup_fd(wake_w)
        for sig in (signal.SIGCHLD, signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, self._signalled)
        sel = selectors.DefaultSelector()
        sel.register(self.listener, selectors.EVENT_READ, "listener")
        sel.register(wake_r, selectors.EVENT_READ, "wake")
        served = False
        began = time.monotonic()
        while True:
            deadlines = [p.stop_at for p in self.pods.values() if p.stop_at is not None and not p.killed]
            if not served:
                deadlines.append(began + FIRST_CLIENT_WAIT)
            timeout = max(0.0, min(deadlines) - time.monotonic()) if deadlines else None
            for key, _ in sel.select(timeout):
                if key.data == "listener":
                    try:
                        conn, _ = self.listener.accept()
                    except OSError:
                        continue
                    self.clients.add(conn)
                    sel.register(conn, selectors.EVENT_READ, "client")
                    served = True
                elif key.data == "wake":
                    with contextlib.suppress(OSError):
                        while os.read(wake_r, 4096):
                            pass
                else:
                    if not self._serve_one(key.fileobj):
                        sel.unregister(key.fileobj)
                        self.clients.discard(key.fileobj)
                        key.fileobj.close()
            self._reap()
            if self.terminating:
                self.terminating = False
                for state_dir in list(self.pods):
                    self._stop(state_dir, 0.0)
            self._kill_overdue()
            if not self.pods and not self.clients and (served or time.monotonic() >= began + FIRST_CLIENT_WAIT):
                return 0

    def _signalled(self, signo, _frame) -> None:
        if signo in (signal.SIGTERM, signal.SIGINT):
            self.terminating = True

    def _serve_one(self, conn: socket.socket) -> bool:
        try:
            message, fds, _, _ = socket.recv_fds(conn, _REQUEST_MAX, 2)
        except OSError:
            return False
        if not message:
            for fd in fds:
                os.close(fd)
            return False
        try:
            op, *args = pickle.loads(message)
            if op == "hello":
                answer = "hello"
            elif op == "start":
                start_w, netns_fd = fds
                fds = []
                try:
                    answer = self._start(args[0], args[1], start_w, netns_fd)
                finally:
                    os.close(start_w)
                    os.close(netns_fd)
            elif op == "stop":
                answer = self._stop(args[0], float(args[1]))
            elif op == "restart":
                answer = self._restart(*args)
            else:
                answer = ValueError(f"unknown runtime request {op!r}")
        except Exception as e:          # said to the client, and the runtime carries on
            traceback.print_exc()
            answer = RuntimeError(f"{type(e).__name__}: {e}")
        finally:
            for fd in fds:
                os.close(fd)
        try:
            conn.send(pickle.dumps(answer))
        except OSError:
            return False
        return True

    # -- requests

    def _start(self, plan: PodPlan, state_dir: str, start_w: int, netns_fd: int) -> int:
        old = self.pods.get(state_dir)
        if old is not None and old.pause is not None and not old.stop_at:
            records.say(start_w, {"owner": old.pause})
            return old.pause
        # received descriptors are inheritable: one an exec'd container kept would hold the start-up
        # pipe open, and the caller would wait for its end in vain
        os.set_inheritable(start_w, False)
        os.set_inheritable(netns_fd, False)
        state_fd = os.open(state_dir, os.O_RDONLY | os.O_DIRECTORY)
        try:
            cdir_fd = os.open(records.CONTAINERS_DIR, os.O_RDONLY | os.O_DIRECTORY, dir_fd=state_fd)
            try:
                pause = self._fork_pause(plan, netns_fd, state_dir)
                pod = _Pod(plan, state_dir, pause, records.ident(pause), {}, {})
                self.pods[state_dir] = pod
                self.children[pause] = (pod, None)
                for c in plan.containers:
                    self._fork_container(pod, c, cdir_fd, start_w, netns_fd)
                records.write_at(state_fd, records.POD_FILE, self._record(pod))
            finally:
                os.close(cdir_fd)
        finally:
            os.close(state_fd)
        records.say(start_w, {"owner": pause})
        return pause

    def _stop(self, state_dir: str, grace: float) -> bool:
        pod = self.pods.get(state_dir)
        if pod is None:
            return False
        if pod.stop_at is None:
            self._pod_log(pod, f"stopping {len(pod.running)} running container(s), grace {grace:g}s")
            pod.stop_at = time.monotonic() + grace
            for pid in pod.running:
                container.kill(pid, signal.SIGTERM)
        else:
            pod.stop_at = min(pod.stop_at, time.monotonic() + grace)
        self._settle(pod)
        return True

    def _restart(self, state_dir: str, name: str, plan: ContainerPlan | None = None) -> bool:
        pod = self.pods.get(state_dir)
        if pod is None or pod.stop_at is not None or pod.pause is None:
            return False
        c = next((c for c in pod.plan.containers if c.name == name), None)
        if c is None:
            raise LookupError(f"pod {pod.plan.namespace}/{pod.plan.name} has no container {name!r}")
        if any(running.name == name for running in pod.running.values()):
            return True
        if plan is not None and plan.name == name:
            pod.plan.containers = [plan if other.name == name else other for other in pod.plan.containers]
            c = plan
        cdir = os.path.join(state_dir, records.CONTAINERS_DIR)
        for log in (f"{name}.log", logtimes.times_name(f"{name}.log")):
            with contextlib.suppress(FileNotFoundError):
                os.rename(os.path.join(cdir, log), os.path.join(cdir, log.replace(".log", ".previous.log", 1)))
        netns_fd = os.open(f"/proc/{pod.pause}/ns/net", os.O_RDONLY | os.O_CLOEXEC)
        cdir_fd = os.open(cdir, os.O_RDONLY | os.O_DIRECTORY)
        # The start-up pipe is long closed: a restarted container reports to nobody but its files.
        quiet = os.open("/dev/null", os.O_WRONLY | os.O_CLOEXEC)
        try:
            self._fork_container(pod, c, cdir_fd, quiet, netns_fd)
        finally:
            for fd in (quiet, cdir_fd, netns_fd):
                os.close(fd)
        self._write_record(pod)
        self._pod_log(pod, f"container {name} restarted (init {pod.inits[name]['pid']})")
        return True

    # -- processes

    def _fork_pause(self, plan: PodPlan, netns_fd: int, state_dir: str) -> int:
        """The pod's pause process, holding its sandbox as a runtime's does: catatonit in pause mode
        (`-P`) named pause, PID 1 of the sandbox's own PID namespace, the pod in its environment.

        It is spawned, not forked: a fork of this process (or of the forker) copies the page
        tables of a Python heap and then every page either side writes until the child has exec'd,
        and tears it all down at the exec; a 1,000-pod `up` spent a tenth of its CPU there.
        posix_spawn's child shares our memory until its exec. It takes our thread's network
        namespace and our next children's PID namespace, so both are set around it; setpriv
        (util-linux) arms PR_SET_PDEATHSIG, which posix_spawn cannot, and execs catatonit by the
        name `pause` (the folder PAUSE_DIR holds a link of that name). Without them, it is forked."""
        env = {"NETLAB_POD": f"{plan.namespace}/{plan.name}", "PATH": f"{self.pause_dir}:/usr/bin:/bin"}
        if self.pause_dir is not None:
            try:
                return self._spawn_pause(env, netns_fd)
            except OSError as e:
                records.log_line(2, f"cannot spawn the pause ({e}): forking it")
        env["PATH"] = "/usr/bin:/bin"
        new_pidns = forker.unshare_pid(self.use_pidns)
        pid = os.fork()
        if pid == 0:
            try:
                forker.child_setup(netns_fd, keep=())
                try:
                    os.execve(PAUSE, ["/pause", "-P"], env)
                except OSError as e:           # no catatonit: a Python pause, as small as it gets here
                    records.log_line(2, f"cannot run {PAUSE} ({e.strerror}): pausing in Python")
                    linux.set_title("/pause")
                    signal.pthread_sigmask(signal.SIG_SETMASK, set())
                    while True:
                        signal.pause()
            finally:
                os._exit(1)
        if new_pidns:
            linux.setns(self.pidns, linux.CLONE_NEWPID)
        return pid

    def _spawn_pause(self, env: dict, netns_fd: int) -> int:
        new_pidns = forker.unshare_pid(self.use_pidns)
        try:
            linux.setns(netns_fd, linux.CLONE_NEWNET)
            try:
                return os.posix_spawn(SETPRIV, [SETPRIV, "--pdeathsig", "KILL", "--", "pause", "-P"], env,
                                      setsid=True, setsigmask=(), setsigdef=_DEFAULT_SIGNALS)
            finally:
                linux.setns(self.netns, linux.CLONE_NEWNET)
        finally:
            if new_pidns:
                linux.setns(self.pidns, linux.CLONE_NEWPID)

    def _ensure_forker(self) -> bool:
        """The forker is there (started again if it died); False when it cannot start."""
        if self.forker is None:
            try:
                self.forker = forker.Forker.start(self.use_pidns)
            except OSError as e:
                records.log_line(2, f"cannot start the container forker: {e}")
                return False
        return True

    def _fork_container(self, pod: _Pod, c: ContainerPlan, cdir_fd: int, w: int, netns_fd: int) -> int:
        """Fork the container's init (by the forker, as our child), as PID 1 of a new PID namespace
        when the kernel lets us."""
        log_fd = os.open(f"{c.name}.log", os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o644, dir_fd=cdir_fd)
        try:
            pid, new_pidns = self._forked_init(pod.plan, c, (cdir_fd, log_fd, w, netns_fd))
        finally:
            os.close(log_fd)
        if not new_pidns:
            self._pod_log(pod, f"container {c.name}: no PID namespace; sharing the runtime's")
        pod.inits[c.name] = records.ident(pid)
        pod.running[pid] = c
        self.children[pid] = (pod, c)
        return pid

    def _forked_init(self, plan: PodPlan, c: ContainerPlan, fds: tuple[int, int, int, int]) -> tuple[int, bool]:
        # the forker, started again if it died; without one (it cannot start), we fork ourselves
        for _ in range(2):
            if not self._ensure_forker():
                break
            try:
                return self.forker.fork_init(plan, c, *fds)
            except OSError as e:
                records.log_line(2, f"the container forker failed ({e}): starting another")
                self.forker.close()
                self.forker = None
        return forker.fork_init(plan, c, fds, self.use_pidns, self.pidns, os.getpid(), beside=False)

    def _reap(self) -> None:
        """Reap every exited child: record a container's end its init could not record itself; a
        pod whose pause died loses its containers."""
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            entry = self.children.pop(pid, None)
            if entry is None:
                continue
            pod, c = entry
            if c is None:
                pod.pause = None
                if pod.stop_at is None:
                    self._pod_log(pod, "the pause process ended: stopping the pod's containers")
                for other in pod.running:
                    container.kill(other, signal.SIGKILL)
            else:
                pod.running.pop(pid, None)
                self._record_end(pod, c, status)
            self._settle(pod)

    def _record_end(self, pod: _Pod, c: ContainerPlan, status: int) -> None:
        cdir = os.path.join(pod.state_dir, records.CONTAINERS_DIR)
        try:
            cdir_fd = os.open(cdir, os.O_RDONLY | os.O_DIRECTORY)
        except OSError:
            return
        try:
            rec = records.read_at(cdir_fd, f"{c.name}.json") or {"name": c.name, "mode": c.mode, "argv": c.argv}
            if rec.get("state") != "terminated":
                rec.update(records.exit_fields(status), state="terminated", finished_at=time.time())
                if c.mode == "exec":        # a built-in server is its own init: its exit is news to nobody
                    rec["message"] = "the container's init ended before recording its exit"
                records.write_at(cdir_fd, f"{c.name}.json", rec)
        finally:
            os.close(cdir_fd)

    def _settle(self, pod: _Pod) -> None:
        """A stopping pod without containers loses its pause (the sandbox goes last, as kubelet's
        StopPodSandbox); a pod with neither is forgotten."""
        if pod.stop_at is not None and not pod.running and pod.pause is not None:
            container.kill(pod.pause, signal.SIGKILL)
        if not pod.running and pod.pause is None and self.pods.get(pod.state_dir) is pod:
            del self.pods[pod.state_dir]

    def _kill_overdue(self) -> None:
        now = time.monotonic()
        for pod in list(self.pods.values()):
            if pod.stop_at is not None and not pod.killed and now >= pod.stop_at:
                pod.killed = True
                for pid in pod.running:
                    container.kill(pid, signal.SIGKILL)
                if pod.pause is not None and not pod.running:
                    container.kill(pod.pause, signal.SIGKILL)

    # -- records

    def _record(self, pod: _Pod) -> dict:
        plan = pod.plan
        return {
            "namespace": plan.namespace,
            "name": plan.name,
            "netns": plan.netns_path,
            "grace": plan.grace,
            "owner": pod.me,
            "runtime": {"dir": str(self.runtime_dir), **records.ident(os.getpid())},
            "containers": [
                {"name": c.name, "mode": c.mode, "argv": c.argv, "init": pod.inits.get(c.name), "env": c.env}
                for c in plan.containers
            ],
        }

    def _write_record(self, pod: _Pod) -> None:
        records.write(pathlib.Path(pod.state_dir) / records.POD_FILE, self._record(pod))

    def _pod_log(self, pod: _Pod, msg: str) -> None:
        try:
            fd = os.open(os.path.join(pod.state_dir, records.POD_LOG), os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o644)
        except OSError:
            return
        try:
            records.log_line(fd, f"pod {pod.plan.namespace}/{pod.plan.name}: {msg}")
        finally:
            os.close(fd)


def main(runtime_dir: str) -> int:
    """The runtime's process (run by _spawn): fork away from the spawner, take the directory's lock,
    listen, say "ready", serve until no pod and no client is left."""
    runtime_dir = pathlib.Path(runtime_dir).absolute()
    if os.fork():
        os._exit(0)          # the spawner reaps this one; the runtime is nobody's child
    lock = os.open(runtime_dir / LOCK, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        print("busy", flush=True)       # another runtime has the folder (it may be on its way out)
        return 0
    dir_fd = os.open(runtime_dir, os.O_RDONLY | os.O_DIRECTORY)
    with contextlib.suppress(FileNotFoundError):
        os.unlink(SOCKET, dir_fd=dir_fd)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    old_umask = os.umask(0o077)           # root only: the runtime starts processes as root
    try:
        listener.bind(_socket_path(dir_fd))
    finally:
        os.umask(old_umask)
    listener.listen(128)
    listener.set_inheritable(False)
    linux.set_title(f"netlab-runtime {runtime_dir}")
    try:
        linux.small_mount_namespace()
    except OSError as e:      # then the containers copy the host's table: slower, not wrong
        records.log_line(2, f"staying in the host's mount namespace: {e}")
    null = os.open("/dev/null", os.O_RDWR)
    os.dup2(null, 0)
    print("ready", flush=True)
    os.dup2(null, 1)             # the spawner's pipe ends here
    os.close(null)
    gc.freeze()                  # what is loaded now is never collected (nor its pages copied) in the pods
    runtime = _Runtime(runtime_dir, listener)
    try:
        runtime.forker = forker.Forker.start(runtime.use_pidns)    # while our heap is young
    except OSError as e:
        records.log_line(2, f"cannot start the container forker: {e}")
    try:
        code = runtime.serve()
    except BaseException:
        traceback.print_exc()
        code = 1
    # the socket goes before the lock: a client finding neither starts a new runtime, which waits
    # for nothing
    with contextlib.suppress(FileNotFoundError):
        os.unlink(SOCKET, dir_fd=dir_fd)
    listener.close()
    os._exit(code)
