"""The pod runtime: a pod's pause process and its containers as real processes in the pod's netns.

The network namespace (/run/netns/NAME, `lo`, `eth0`, addresses, routes) is made by someone else; this
package only starts, supervises, inspects and stops processes inside it. It depends on no other
netlab package: everything in and out is plain data.

    start_pod(spec: PodRuntimeSpec) -> int        the pause's pid, once every container has started
                                                  (exec'd, or its built-in server bound its ports);
                                                  a no-op returning the pid if the pause is alive
    start_pods(specs) -> list[int]                 the same for many pods, started in parallel
    PodStarter().launch(spec) ... .finish()        start_pods in two halves: launch each pod as it is ready
    write_pod_volumes(state_dir, files) -> list     configMap/secret volume files, swapped in atomically
                                                  (also live, under running containers)
    stop_pod(state_dir, grace=None) -> None        SIGTERM, SIGKILL after the grace period; idempotent
    pod_status(state_dir) -> PodStatus             pause alive?, ContainerStatus per container
    read_logs(state_dir, container, previous) -> str  the container's stdout+stderr (or the last run's)
    read_timed_logs(...) -> list[TimedLine]        the same lines, each with when it was written
                                                  (runtime/logtimes.py: logs --timestamps, --since)
    attach(state_dir, container, stdin, stdout) -> int  kubectl attach -i/-t: relay to a container
                                                  with stdin or a tty until it ends (runtime/stdio.py)
    attachable(state_dir, container) -> bool       it runs, with stdin or a tty (its attach socket)
    restart_container(state_dir, name) -> bool     the runtime starts an exited container again, same netns
    container_environment(state_dir, name) -> dict  the env a container started with (for exec)
    container_inits(state_dir), owner_of(state_dir)  (pid, start time) to watch with pidfds (owner: the pause)
    resolve_command(container) -> list[str] | None argv to exec here, or None for the built-in server
    expand(text, env) -> str                       kubelet's $(VAR) expansion ($$ escapes); callers use
                                                   it for literal env values, which arrive here final
    pids_in_netns(netns) -> list[int]              every process in that netns (orphan clean-up)
    parse_builtin_reply(text) -> dict              read what the built-in server answers

What runs for a container (`ContainerStatus.mode`, decided by command.plan_container):
  - "builtin" for a test image netlab answers as (agnhost netexec, http-echo, echoserver, whoami,
    nginxdemos/hello, hello-app: replies.py), on the image's own ports;
  - "builtin" serving the document root of an nginx/httpd image with no command (images.py);
  - "exec": its command (or command+args, or args alone) after $(VAR) expansion, found on the
    host or among its image's commands (python shims, busybox applets: images.py); a command it
    does not have is exec'd all the same and exits 127 as in a cluster. Manifest strings are
    exec'd as argv, never through a shell;
  - "builtin" (netlab's identity server: TCP HTTP, UDP echo, answering `key: value` lines with
    pod, namespace, pod_ip, node, host_ip, container, server and the client address) for an image
    with no command and containerPorts; "sleep", a placeholder, with neither.

Every pod's processes are children of the pod runtime (runtime/daemon.py, `netlab-runtime DIR`):
one process per folder of pod state directories (a lab's pods folder), as containerd is on a node,
started by the first start_pods and gone with its last pod. It forks in a mount namespace of its
own without the network namespaces' pins, so a container's mount namespace copies a small table.
Each pod has a pause process (catatonit -P named pause, PID 1 of the sandbox's PID namespace):
the pod's owner, whose end is the pod's end. Each container runs as the child of its init (PID 1 of
its own PID namespace, `netlab-init NS/POD/C`, forwarding signals and reaping; a built-in server is
its own init) with its own mount namespace (an overlay of the host's root with a writable layer,
private /tmp, /run, /dev, read-only /sys, /proc of its PID namespace, the pod's /etc files, its
volumes) and UTS namespace (hostname = pod name), and net.ipv4.ip_unprivileged_port_start=0 in the
pod netns. The runtime's children die with it (PR_SET_PDEATHSIG): the kubelet then starts the pods
again, under a new runtime.
A container with `stdin: true` reads a pipe its init writes what attached clients send into
(closed after the first client detaches with `stdinOnce`); one with `tty: true` runs on a
pseudo-terminal of its own /dev/pts whose output its init logs and relays (runtime/stdio.py).
Env = PATH, HOSTNAME, HOME, then the manifest's env. runAsUser/runAsGroup are applied before exec.
Working directory: workingDir (made when missing), else the image's (nginx: its document root), else /.
"""

import importlib

# The package's API, each name imported from its module on first use: the container forker
# (runtime/forker.py) imports the modules a container runs and not the pod runtime's client side
# (pod.py, daemon.py), whose imports register fork handlers that would run in every container.
_EXPORTS = {
    "parse_builtin_reply": "builtin", "render_reply": "builtin",
    "DEFAULT_PATH": "command", "expand": "command", "plan_pod": "command", "resolve_command": "command",
    "pids_in_netns": "linux",
    "PodStarter": "pod", "container_environment": "pod", "container_inits": "pod", "owner_of": "pod",
    "pod_status": "pod", "read_logs": "pod", "read_timed_logs": "pod", "restart_container": "pod",
    "start_pod": "pod", "start_pods": "pod", "stop_pod": "pod", "write_dns_records": "pod",
    "write_pod_volumes": "pod",
    "ContainerSpec": "spec", "ContainerStatus": "spec", "PodRuntimeSpec": "spec", "PodStatus": "spec",
    "attach": "stdio", "attachable": "stdio",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    """NAME of the package's API, from its module (imported now if it was not)."""
    try:
        module = _EXPORTS[name]
    except KeyError:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_EXPORTS})
