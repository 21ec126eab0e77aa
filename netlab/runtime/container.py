"""A container's processes: its init (PID 1 of its own PID namespace, forwarding signals, reaping,
recording how the main process ended, and relaying its stdin or terminal to attaching clients),
its own filesystem and namespaces, and its main process (the image's command exec'd, netlab's
built-in server, the cluster DNS's unbound, or a placeholder sleep).

Everything here runs in a child the pod runtime (runtime/daemon.py) forked, inside the pod's
network namespace, and ends in os._exit.
"""

from __future__ import annotations

import contextlib
import _signal            # signal's C functions, see default_signal_handlers
import dataclasses
import errno
import fcntl
import json
import os
import pwd
import signal
import socket
import termios
import time
import traceback

# imported here, not where used: a container's user may not read the host's Python library
from netlab.runtime import builtin, images, linux, logtimes, replies, stdio
from netlab.runtime.command import ContainerPlan, PodPlan
from netlab.runtime.records import DNS_RECORDS_DIR, VOLUMES_DIR, exit_fields, read_at, write_at

_FORWARDED = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1, signal.SIGUSR2)
_INIT_SIGNALS = {signal.SIGCHLD, *_FORWARDED}
_RELAY_POLL = 0.05      # seconds an init relaying a container's stdin waits before looking for signals


def default_signal_handlers(ignored_too: bool = False) -> None:
    """Put Python-level handlers (and, if asked, ignored signals) back to the default action."""
    # _signal's, not signal's: signal.py makes an enum member of every number it passes, Python
    # code that every forked container would run, copying the pages it touches (runtime/forker.py)
    for sig in _signal.valid_signals():
        if sig in (signal.SIGKILL, signal.SIGSTOP):
            continue
        try:
            current = _signal.getsignal(sig)
            if callable(current) or (ignored_too and current == _signal.SIG_IGN):
                _signal.signal(sig, _signal.SIG_DFL)
        except (OSError, ValueError):
            pass


def kill(pid: int, sig: int) -> None:
    """Signal our own unreaped child (its pid cannot have been reused); gone already is fine."""
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


def run_init(plan: PodPlan, c: ContainerPlan, cdir_fd: int, log_fd: int, w: int, parent: int | None) -> None:
    """The container's init: set up its namespaces, run the main process, reap, record how it ended.

    PARENT is the runtime's pid when the container shares its PID namespace (the init then checks it
    was not orphaned before arming PR_SET_PDEATHSIG); W is the pod's start-up pipe."""
    try:
        linux.prctl(linux.PR_SET_PDEATHSIG, signal.SIGKILL)
        if parent is not None and os.getppid() != parent:
            os._exit(1)  # the runtime died before we armed PDEATHSIG
        linux.set_title(f"netlab-init {plan.namespace}/{plan.name}/{c.name}")
        in_pidns = os.getpid() == 1
        if not in_pidns:
            linux.prctl(linux.PR_SET_CHILD_SUBREAPER, 1)
        for sig in _FORWARDED:
            # PID 1 only receives signals it has a handler for, even from the runtime.
            _signal.signal(sig, lambda *_: None)
        _signal.pthread_sigmask(signal.SIG_SETMASK, _INIT_SIGNALS)
        os.setsid()
        host_proc = os.open("/proc", os.O_RDONLY | os.O_DIRECTORY)
        containers_dir = os.readlink(f"/proc/self/fd/{cdir_fd}")
        pod_dir = os.path.dirname(containers_dir)
        mounts = [(os.path.join(pod_dir, VOLUMES_DIR, volume), path, read_only, sub_path)
                  for volume, path, read_only, sub_path in c.mounts]
        if c.mode == "dns":     # the cluster's records, as the DNS records controller writes them
            from netlab.runtime import coredns      # (threads, unbound: only a DNS pod's, see forker.py)
            os.makedirs(os.path.join(pod_dir, DNS_RECORDS_DIR), mode=0o755, exist_ok=True)
            mounts.append((os.path.join(pod_dir, DNS_RECORDS_DIR), coredns.RECORDS_MOUNT, True, ""))
        # bound while the host's tree is ours: the pivot below leaves only descriptors to it
        listener = stdio.listen(cdir_fd, c.name) if c.attachable else None
        _setup_mounts(plan, in_pidns, os.path.join(containers_dir, f"{c.name}.rootfs"), mounts, c.image_commands)
        _allow_low_ports(log_fd)
        socket.sethostname(plan.hostname)
        if in_pidns and c.mode in ("builtin", "dns", "sleep"):
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
        timed = logtimes.open_timed(log_fd, cdir_fd, f"{c.name}.log")
        # after the pivot: a terminal of the container's own /dev/pts
        relay, child_stdin = _open_stdio(c, cdir_fd, timed, listener) if listener is not None else (None, None)
        # the main process writes its stdout and stderr to a pipe, and the init stamps each chunk
        # into the log (a terminal's output is the attach relay's to log)
        out_r, out_w = (None, None) if c.tty else os.pipe()
        main = os.fork()
        if main == 0:
            try:
                os.close(err_r)         # (the relay's descriptors are close-on-exec)
                if out_r is not None:
                    os.close(out_r)
                    os.close(log_fd)
                _main_process(plan, c, cdir_fd, log_fd if out_w is None else out_w, w, err_w, host_proc, in_pidns,
                              child_stdin)
            except BaseException:
                traceback.print_exc()          # into the container's log: a netlab bug, said
            finally:
                os._exit(127)
        os.close(err_w)
        if child_stdin is not None:
            os.close(child_stdin)
        log_relay = None
        if out_w is not None:
            os.close(out_w)
            log_relay = logtimes.LogRelay(out_r, timed).start()
        os.close(w)
        os.close(host_proc)
    except BaseException as e:
        os.write(log_fd, f"netlab: cannot start container {c.name}: {e}\n".encode())
        if c.attachable:
            with contextlib.suppress(OSError):
                os.unlink(stdio.socket_name(c.name), dir_fd=cdir_fd)
        write_at(
            cdir_fd,
            f"{c.name}.json",
            {"name": c.name, "mode": c.mode, "argv": c.argv, "state": "terminated", "reason": "StartError",
             "exit_code": 128, "message": str(e), "finished_at": time.time()},
        )
        os._exit(128)
    code = 128
    try:
        if relay is None:
            code = _init_loop(c, cdir_fd, main, err_r, in_pidns, log_relay)
        else:
            code = _relay_loop(c, cdir_fd, main, err_r, in_pidns, relay, log_relay)
    finally:
        os._exit(code)


def _allow_low_ports(log_fd: int) -> None:
    """net.ipv4.ip_unprivileged_port_start=0 in the pod's network namespace (ours by now), as
    container runtimes set it so that non-root containers can bind port 80 (per netns since 4.11)."""
    # Through the container's own /proc (a new PID namespace's): the host's /proc/sys holds one
    # "net" entry per network namespace in a single hash chain, which every lookup there walks,
    # about a millisecond a container in a lab of 1,000 pods.
    try:
        with open("/proc/sys/net/ipv4/ip_unprivileged_port_start", "w") as f:
            f.write("0")
    except OSError as e:
        os.write(log_fd, f"netlab: cannot set net.ipv4.ip_unprivileged_port_start=0: {e}\n".encode())


def _open_stdio(c: ContainerPlan, cdir_fd: int, log: logtimes.TimedLog, listener) -> tuple[stdio.Relay, int]:
    """The init's relay of a container with stdin or a tty, and the descriptor that is the main
    process's fd 0 (a terminal's slave, or a pipe's read end)."""
    if c.tty:
        master, slave = os.openpty()
        return stdio.Relay(listener, tty=True, stdin=c.stdin, stdin_once=c.stdin_once, master=master,
                           log_w=log), slave
    read_end, write_end = os.pipe()
    log_r = os.open(f"{c.name}.log", os.O_RDONLY | os.O_CLOEXEC, dir_fd=cdir_fd)
    return stdio.Relay(listener, tty=False, stdin=True, stdin_once=c.stdin_once, stdin_w=write_end,
                       log_r=log_r), read_end


DEVICES = ("null", "zero", "full", "random", "urandom", "tty")
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


def _init_loop(c: ContainerPlan, cdir_fd: int, main: int, err_r: int, in_pidns: bool,
               log_relay: logtimes.LogRelay | None) -> int:
    """Forward signals to the main process and reap everything until the main process ends."""
    while True:
        info = signal.sigwaitinfo(_INIT_SIGNALS)
        if info.si_signo != signal.SIGCHLD:
            kill(main, info.si_signo)
            continue
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                pid = 0
            if pid == 0:
                break
            if pid == main:
                if log_relay is not None:
                    log_relay.finish()              # its last output, before its end is recorded
                return _record_exit(c, cdir_fd, main, status, err_r, in_pidns)


def _relay_loop(c: ContainerPlan, cdir_fd: int, main: int, err_r: int, in_pidns: bool, relay: stdio.Relay,
                log_relay: logtimes.LogRelay | None) -> int:
    """_init_loop for a container with stdin or a terminal: relay them, looking for signals in between."""
    while True:
        try:
            relay.poll(_RELAY_POLL)
        except Exception:
            # into the runtime's log: a netlab bug. The container runs on without its stdin or
            # terminal (closed: EOF, or a hangup), as a plain container.
            traceback.print_exc()
            with contextlib.suppress(Exception):
                relay.finish(cdir_fd, c.name)
            relay.close()
            return _init_loop(c, cdir_fd, main, err_r, in_pidns, log_relay)
        while (info := signal.sigtimedwait(_INIT_SIGNALS, 0)) is not None:
            if info.si_signo != signal.SIGCHLD:
                kill(main, info.si_signo)
                continue
            status = _reap_main(main)
            if status is None:
                continue
            if log_relay is not None:
                log_relay.finish()
            try:
                relay.finish(cdir_fd, c.name)       # its last output, before its end is recorded
            except Exception:
                traceback.print_exc()
            code = _record_exit(c, cdir_fd, main, status, err_r, in_pidns)
            relay.close()                           # the clients' sign that it ended
            return code


def _reap_main(main: int) -> int | None:
    """Reap every child that has exited; the main process's wait status if it was one of them."""
    found = None
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return found
        if pid == 0:
            return found
        if pid == main:
            found = status


def _record_exit(c: ContainerPlan, cdir_fd: int, main: int, status: int, err_r: int, in_pidns: bool) -> int:
    rec = read_at(cdir_fd, f"{c.name}.json") or {"name": c.name, "mode": c.mode, "argv": c.argv}
    rec.update(exit_fields(status), state="terminated", finished_at=time.time())
    try:
        failure = os.read(err_r, 4096)
    except OSError:  # nothing written, and a writer (a stray grandchild) still holds it
        failure = b""
    if failure:
        try:
            rec.update(json.loads(failure))
        except ValueError:
            pass
    write_at(cdir_fd, f"{c.name}.json", rec)
    if not in_pidns:
        # No PID namespace whose end kills the rest: kill what is left of the main process's group.
        try:
            os.killpg(main, signal.SIGKILL)
        except OSError:
            pass
    return min(int(rec["exit_code"]), 255)


def _main_process(
    plan: PodPlan, c: ContainerPlan, cdir_fd: int, log_fd: int, w: int, err_w: int, host_proc: int, in_pidns: bool,
    stdin_fd: int | None = None,
) -> None:
    """The container's main process: record itself, become the container's user, then exec or serve.

    STDIN_FD: its terminal's slave (tty) or its stdin pipe's read end, else None (/dev/null)."""
    try:
        default_signal_handlers(ignored_too=True)  # Python ignores SIGPIPE/SIGXFSZ; ignoring survives exec
        _signal.pthread_sigmask(signal.SIG_SETMASK, ())
        if c.tty and stdin_fd is not None:
            os.setsid()       # a session of its own for its terminal (its group: what the init kills)
        elif not in_pidns:
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
        write_at(cdir_fd, f"{c.name}.json", rec)
        # PID 1 with no init above it (err_w -1): netlab's own server stamps its log lines itself
        times_fd = None if err_w >= 0 else os.open(
            logtimes.times_name(f"{c.name}.log"), os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o644,
            dir_fd=cdir_fd)
        os.close(cdir_fd)
        if stdin_fd is None:
            null = os.open("/dev/null", os.O_RDONLY)
            os.dup2(null, 0)
            os.dup2(log_fd, 1)
            os.dup2(log_fd, 2)
            os.close(null)
            os.close(log_fd)
        else:
            _stdio(c, stdin_fd, log_fd)
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
    out = logtimes.TimedLog(1, times_fd) if times_fd is not None else None

    def write(data: bytes) -> None:
        if out is None:
            os.write(1, data)
        else:
            out.write(data)

    def log(msg: str) -> None:
        stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        write(f"{stamp} {msg}\n".encode())

    try:
        if c.mode == "dns":
            from netlab.runtime import coredns
            os._exit(coredns.serve(log, ready=lambda: os.close(w)))
        if c.mode == "sleep":
            for sig in (signal.SIGTERM, signal.SIGINT):
                _signal.signal(sig, _graceful_exit)
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
            _signal.signal(sig, lambda *_: asked.append(1))
        if c.behaviour is not None:
            for line in replies.startup_log(c.behaviour):
                write((line + "\n").encode())
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
        # a dual-stack pod's interfaces hold both loopbacks and both pod addresses (whoami lists them)
        addresses = ("127.0.0.1", "::1", info["pod_ip"], info["pod_ip6"]) if info.get("pod_ip6") else \
            ("127.0.0.1", "::1", info["pod_ip"]) if ":" in info["pod_ip"] else ()   # IPv6-only: one
        who = replies.Identity(pod=info["pod"], namespace=info["namespace"], pod_ip=info["pod_ip"],
                               node=info["node"], container=c.name, addresses=addresses)

        def run_shell(command: str) -> tuple[str, str, int]:
            import subprocess       # here, not at the top: its threading's fork handler (runtime/forker.py)
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
                headers.append(("Date", replies.http_date()))
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
        if err_w >= 0:     # -1: no init above us; the runtime records the exit from our status
            os.write(err_w, json.dumps({"reason": reason, "message": message, "exit_code": code}).encode())
    finally:
        os._exit(code)


def _stdio(c: ContainerPlan, stdin_fd: int, log_fd: int) -> None:
    """fd 0, 1 and 2 of a container with stdin or a tty: its terminal as all three (and as the
    controlling terminal of its session, owned by its user), or the init's pipe as 0 and the log
    as 1 and 2."""
    if c.tty:
        fcntl.ioctl(stdin_fd, termios.TIOCSCTTY, 0)     # tty_ioctl(4)
        if c.run_as_user is not None:
            os.fchown(stdin_fd, c.run_as_user, -1 if c.run_as_group is None else c.run_as_group)
        sources = (stdin_fd, stdin_fd, stdin_fd)
    else:
        sources = (stdin_fd, log_fd, log_fd)
    for fd, source in enumerate(sources):
        os.dup2(source, fd)
    os.close(stdin_fd)
    os.close(log_fd)


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
