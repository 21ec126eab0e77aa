"""One supervisor process per lab: the control plane that keeps a lab converged while it is up.

It plays Kubernetes' roles in one loop, each pass under the lab's lock (the same lock every CLI
command takes, so the store has one writer at a time):

    kubelet      restart exited containers (restartPolicy, back-off), run probes, terminate pods
    controllers  ReplicaSets/Deployments replace and roll pods (netlab.lab.reconcile)
    kube-proxy   every node's rules follow the ready endpoints (netlab.proxier.sync)

It is event driven, never polling: it sleeps in select() on pidfds of every container init and
pod owner (their end is a container's or sandbox's end), on its Unix socket (a CLI command that
changed the store says so there), on a pipe its probe workers answer through, and until the
next timer (a probe due, a back-off ending, a pod's grace period).

Files, in /run/netlab/LAB/: supervisor.json (pid and start time, written once it holds
supervisor.lock, an flock it keeps for its life, so two never run), supervisor.sock, and
supervisor.log. `netlab up` starts it detached (setsid); `netlab down` stops it first. If it dies,
pods keep running; `netlab status` says so and the next mutating command starts it again, and it
adopts the running pods as they are.
"""

from __future__ import annotations

import fcntl
import json
import os
import selectors
import signal
import socket
import subprocess
import sys
import threading
import time
import traceback
from concurrent.futures import ThreadPoolExecutor

from netlab import crashpoints, names, state as lab_state
from netlab.runtime import linux

DEBUG = bool(os.environ.get("NETLAB_SUPERVISOR_DEBUG"))
RESYNC_PERIOD = 60.0        # a full pass now and then, as informers' resync does
STATE_FILE = "supervisor.json"
LOCK_FILE = "supervisor.lock"
SOCKET_FILE = lab_state.WATCH_SOCKET
LOG_FILE = "supervisor.log"


def _dir(lab: str):
    return names.lab_dir(lab)


def info(lab: str) -> dict:
    """{"pid", "state": running|stopped, "since", "log"} of the lab's supervisor."""
    path = _dir(lab) / STATE_FILE
    try:
        data = json.loads(path.read_text())
    except (FileNotFoundError, ValueError):
        data = {}
    alive = linux.is_alive(data.get("pid"), data.get("start"))
    return {"pid": data.get("pid") if alive else None, "state": "running" if alive else "stopped",
            "since": data.get("since") if alive else None, "log": str(_dir(lab) / LOG_FILE)}


def running(lab: str) -> bool:
    return info(lab)["state"] == "running"


def start(lab: str, wait: float = 5.0) -> int | None:
    """Start the lab's supervisor (detached) unless one runs; returns its pid once it is listening."""
    current = info(lab)
    if current["state"] == "running":
        return current["pid"]
    if not lab_state.has_state(lab):
        return None                  # the lab is gone (a `down` won a race): nothing to supervise
    folder = _dir(lab)
    folder.mkdir(parents=True, exist_ok=True)
    log = open(folder / LOG_FILE, "ab")
    try:
        env = dict(os.environ)
        proc = subprocess.Popen([sys.executable, "-m", "netlab.supervisor", lab], stdin=subprocess.DEVNULL,
                                stdout=log, stderr=log, start_new_session=True, close_fds=True, env=env,
                                cwd="/")
    finally:
        log.close()
    crashpoints.reached("supervisor started")
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        now = info(lab)
        if now["state"] == "running":
            return now["pid"]
        if proc.poll() is not None:
            break
        time.sleep(0.01)
    return info(lab)["pid"]


def stop(lab: str, timeout: float = 10.0) -> bool:
    """Stop the lab's supervisor (SIGTERM, then SIGKILL); True if one was running."""
    data = {}
    try:
        data = json.loads((_dir(lab) / STATE_FILE).read_text())
    except (FileNotFoundError, ValueError):
        pass
    fd = linux.open_process(data.get("pid"), data.get("start"))
    if fd is None:
        return False
    try:
        linux.pidfd_kill(fd, signal.SIGTERM)
        if linux.wait_pidfds([fd], timeout):
            linux.pidfd_kill(fd, signal.SIGKILL)
            linux.wait_pidfds([fd], 2.0)
    finally:
        os.close(fd)
    return True


def poke(lab: str) -> None:
    """Tell the supervisor the store changed (no answer is awaited; a stopped one reads the store on start)."""
    lab_state.notify(lab)


# -- the process --------------------------------------------------------------------------------

class Supervisor:
    """The loop: wait for something to happen, then run one pass of every role."""

    def __init__(self, lab: str):
        self.lab = lab
        self.selector = selectors.DefaultSelector()
        self.watched: dict = {}             # (pid, start) -> pidfd
        self.timers: list = []               # times something is due
        self.probes = ThreadPoolExecutor(max_workers=4, thread_name_prefix="probe")
        self.probe_results: list = []        # (pod key, container, spec, outcome), filled by workers
        self.probing: set = set()            # (pod key, container, kind) in flight
        self.terminating: set = set()        # pod keys being stopped by a worker
        self.terminated: list = []           # pod keys whose processes are gone, filled by workers
        self.lock = threading.Lock()
        self.wake_r, self.wake_w = os.pipe()
        os.set_blocking(self.wake_r, False)
        self.stopping = False
        self.last_full = 0.0
        self.gone: set = set()               # watched processes already seen to have ended
        self.streak = 0                      # passes in a row that changed pods
        self.api_server = None               # the kubernetes Service's endpoint, once the node is there

    # -- plumbing --

    def wake(self) -> None:
        try:
            os.write(self.wake_w, b"x")
        except OSError:
            pass

    def _watch(self, idents: set) -> None:
        """Hold a pidfd for each (pid, start) in IDENTS, and no others."""
        self.gone &= idents                  # forget the ended ones the store no longer lists
        for ident in list(self.watched):
            if ident not in idents:
                fd = self.watched.pop(ident)
                self.selector.unregister(fd)
                os.close(fd)
        for ident in idents - set(self.watched):
            fd = linux.open_process(*ident)
            if fd is None:
                if ident not in self.gone:
                    # it ended between the pass that listed it and now: look again, once
                    self.gone.add(ident)
                    self.timers.append(time.monotonic())
                continue
            self.watched[ident] = fd
            self.selector.register(fd, selectors.EVENT_READ, ("pid", ident))

    def run(self) -> None:
        if not lab_state.has_state(self.lab):
            return                           # taken down before this process got going
        folder = _dir(self.lab)
        folder.mkdir(parents=True, exist_ok=True)
        lock = open(folder / LOCK_FILE, "w")
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            log(f"another supervisor holds {folder / LOCK_FILE}; leaving")
            return
        lab_state.notify_watcher = False     # its own writes are no news to it
        sock_path = folder / SOCKET_FILE
        try:
            sock_path.unlink()
        except FileNotFoundError:
            pass
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        sock.bind(str(sock_path))
        os.chmod(sock_path, 0o600)                     # root's only
        sock.setblocking(False)
        self.selector.register(sock, selectors.EVENT_READ, ("sock", None))
        self._serve_commands(folder)
        self.selector.register(self.wake_r, selectors.EVENT_READ, ("wake", None))
        # an etcd-backed lab's writes come from every machine's commands and supervisors: its watch
        # wakes the loop through the wake pipe (a lab kept in its file has the socket for that)
        stop_watch = lab_state.watch(self.lab, self.wake)
        if threading.current_thread() is threading.main_thread():    # (a test runs it in a thread)
            signal.signal(signal.SIGUSR1, lambda *_: log(self.describe()))
            signal.signal(signal.SIGTERM, lambda *_: self._stop())
            signal.signal(signal.SIGINT, lambda *_: self._stop())
        start = linux.starttime(os.getpid())
        tmp = folder / (STATE_FILE + ".tmp")
        tmp.write_text(json.dumps({"pid": os.getpid(), "start": start, "since": time.time()}))
        os.replace(tmp, folder / STATE_FILE)
        linux.set_process_name("netlab-super")
        log(f"supervisor of lab {self.lab} started (pid {os.getpid()})")
        dirty, gone = True, False
        while not self.stopping:
            if dirty:
                dirty = False
                try:
                    if not self.sync_pass():
                        log("the lab's state is gone; leaving")
                        gone = True
                        break
                except Exception:
                    log("pass failed:\n" + traceback.format_exc())
                    self.timers.append(time.monotonic() + 1.0)
            now = time.monotonic()
            pending = sorted({t for t in self.timers if t > now})
            if len(pending) != len(self.timers):        # a timer is due: its pass now
                self.timers = pending
                dirty = True
                continue
            self.timers = pending
            timeout = max(0.0, pending[0] - now) if pending else None
            resync_in = max(0.0, self.last_full + RESYNC_PERIOD - now)
            timeout = resync_in if timeout is None else min(timeout, resync_in)
            events = self.selector.select(timeout)
            for key, _ in events:
                what, ident = key.data
                if what == "sock":
                    try:
                        while sock.recv(64):
                            pass
                    except BlockingIOError:
                        pass
                elif what == "wake":
                    try:
                        while os.read(self.wake_r, 4096):
                            pass
                    except BlockingIOError:
                        pass
                elif what == "pid":
                    fd = self.watched.pop(ident, None)
                    if fd is not None:
                        self.selector.unregister(fd)
                        os.close(fd)
                dirty = True
            if time.monotonic() >= self.last_full + RESYNC_PERIOD:
                dirty = True
        stop_watch()
        self.probes.shutdown(wait=False, cancel_futures=True)
        if getattr(self, "command_socket", None) is not None:
            try:
                self.command_socket.unlink()
            except FileNotFoundError:
                pass
        if self.api_server is not None:
            self.api_server.shutdown()
            self.api_server.server_close()
        try:
            sock_path.unlink()
        except FileNotFoundError:
            pass
        log("supervisor stopped")
        if gone and not lab_state.has_state(self.lab):
            # the lab was taken down (a `down` that raced the command that started this supervisor):
            # what this process wrote is all that is left of it
            for name in (STATE_FILE, LOG_FILE, LOCK_FILE):
                try:
                    (folder / name).unlink()
                except FileNotFoundError:
                    pass
            try:
                folder.rmdir()
            except OSError:
                pass

    def describe(self) -> str:
        """What the loop is waiting on (`kill -USR1 PID` writes it to the log)."""
        now = time.monotonic()
        return (f"waiting on {len(self.watched)} processes, probes in flight {sorted(self.probing)}, "
                f"stopping {sorted(self.terminating)}, timers in {[round(t - now, 2) for t in sorted(self.timers)][:8]}")

    def _stop(self) -> None:
        self.stopping = True
        self.wake()

    # -- one pass --

    def sync_pass(self) -> bool:
        """Every role once, under the lab's lock; False when the lab is gone."""
        from netlab import controlplane
        self.last_full = began = time.monotonic()
        with self.lock:
            results, self.probe_results = self.probe_results, []
            finished, self.terminated = self.terminated, []
            # in flight until a pass has folded the result in: no pass may start the probe again first
            for pod_key, container, probe, _, _ in results:
                self.probing.discard((pod_key, container, probe.kind))
        locked_at = None
        try:
            with lab_state.locked(self.lab, wait=60.0, create=False):
                locked_at = time.monotonic()
                try:
                    st = lab_state.load(self.lab)
                except lab_state.StateDamaged as err:
                    log(str(err))
                    return False
                if st is None:
                    return False
                outcome = controlplane.control_pass(self.lab, st, probe_results=results, finished=finished,
                                                    terminating=set(self.terminating))
                if self.api_server is None:
                    self._serve_api(st)
        except lab_state.LabGone:
            return False
        except lab_state.LabBusy:
            with self.lock:         # nothing is lost: the next pass folds these in
                self.probe_results[:0] = results
                self.terminated[:0] = finished
                self.probing |= {(k, c, p.kind) for k, c, p, _, _ in results}
            self.timers.append(time.monotonic() + 0.05)
            return True
        self._after(outcome)
        if DEBUG:
            log(f"pass: {len(results)} probe results, {len(finished)} stopped, {len(outcome.probes)} probes due, "
                f"{len(outcome.terminate)} to stop, next timer in "
                f"{(min(self.timers) - time.monotonic()) if self.timers else None}; waited "
                f"{(locked_at or began) - began:.2f}s for the lock, ran {time.monotonic() - (locked_at or began):.2f}s")
        return True

    def _serve_commands(self, folder) -> None:
        """Run the quick commands (get, describe, label, scale) that clients send to api.sock, one
        at a time, on a thread of their own (netlab/client.py)."""
        from netlab import client
        path = folder / client.SOCKET_FILE
        try:
            path.unlink()
        except FileNotFoundError:
            pass
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        listener.bind(str(path))
        os.chmod(path, 0o600)                          # root's only, as the lab's state
        listener.listen(16)
        self.command_socket = path

        def accept_loop():
            while not self.stopping:
                try:
                    conn, _ = listener.accept()
                except OSError:
                    return
                try:
                    client.serve_one(conn)
                except Exception:
                    log("a client's command failed:\n" + traceback.format_exc())
        threading.Thread(target=accept_loop, name="commands", daemon=True).start()

    def _serve_api(self, st) -> None:
        """Answer as the API server on the control-plane node's IP:6443 (netlab/apiserver.py),
        the kubernetes Service's endpoint; a failure is logged and tried again next pass."""
        from netlab import apiserver
        from netlab.dataplane import netns
        from netlab.lab import topology_of
        topology = topology_of(self.lab, st.config)
        node = topology.nodes[0]
        ip = node.internal_ips((topology.primary_family,))[0]      # the kubernetes Service's endpoint
        try:
            self.api_server = apiserver.serve(netns.path(node.netns), ip)
        except OSError as err:
            log(f"cannot listen on {ip}:{apiserver.API_SERVER_PORT} in {node.netns}: {err}")

    def _after(self, outcome) -> None:
        """Start what runs outside the lock (probes, terminations), and arm the watches and timers."""
        now_wall, now = time.time(), time.monotonic()
        for when in outcome.due:
            # a time the pass itself had reached is work it started (a probe now in flight); one
            # that came while it ran is due at once
            if when > outcome.now:
                self.timers.append(now + max(0.0, when - now_wall))
        for pod_key, container, probe, target in outcome.probes:
            key = (pod_key, container, probe.kind)
            if key in self.probing:
                continue
            self.probing.add(key)
            self.probes.submit(self._probe, key, pod_key, container, probe, target)
        for pod_key, state_dir, grace in outcome.terminate:
            if pod_key in self.terminating:
                continue
            self.terminating.add(pod_key)
            threading.Thread(target=self._terminate, args=(pod_key, state_dir, grace), daemon=True).start()
        self._watch(set(outcome.watch))
        if outcome.again:
            self.streak += 1
            # one step follows another at once; a pass that changes something every time slows down
            self.timers.append(now + (0.0 if self.streak < 50 else 1.0))
        else:
            self.streak = 0

    def _probe(self, key, pod_key, container, probe, target) -> None:
        from netlab.kubelet import probes
        pod_ip, node_netns, pid = target
        try:
            outcome = probes.run_probe(probe, pod_ip, node_netns, pid)
        except Exception as err:      # a probe that cannot run is a failed probe
            outcome = probes.ProbeOutcome(False, f"{probe.kind.capitalize()} probe errored: {err}")
        with self.lock:
            self.probe_results.append((pod_key, container, probe, outcome, time.time()))
        self.wake()

    def _terminate(self, pod_key, state_dir, grace) -> None:
        from netlab import runtime
        try:
            runtime.stop_pod(state_dir, grace=grace)
        except Exception:
            log(f"stopping {pod_key} failed:\n" + traceback.format_exc())
        with self.lock:
            self.terminating.discard(pod_key)
            self.terminated.append(pod_key)
        self.wake()


def log(message: str) -> None:
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    # the process's own stderr (the log file): a command run for a client captures sys.stderr
    sys.__stderr__.write(f"{stamp} {message}\n")
    sys.__stderr__.flush()


def main(argv: list) -> int:
    if len(argv) != 1:
        sys.stderr.write("usage: python -m netlab.supervisor LAB\n")
        return 2
    Supervisor(argv[0]).run()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
