"""kill -9 at every recorded step of `up`, `apply`, `delete` and `down`: the next run converges and
`down` leaves nothing.

A command run with NETLAB_STEPS_LOG lists its recorded steps (netlab/crashpoints.py); the campaign
then runs it once per step with NETLAB_CRASH_AT=N, so the crash lands exactly after step N (a pin
file made but not mounted, a veth without an address, a pod forked but not recorded, the state
saved but the rules not restored, ...), re-runs the command, checks the lab is what the command
asked for, takes it down and looks for anything left behind.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from netlab import state
from tests.campaign import figures
from tests.campaign.leaks import leftovers, namespace_inodes, remove
from tests.conftest import dns_settled, netlab_cli, unique_lab

pytestmark = pytest.mark.root

WORKERS = 2          # labs crashed side by side (each has its own name): the suite has 2 cores

BASE = textwrap.dedent("""\
    apiVersion: netlab.io/v1alpha1
    kind: Cluster
    spec:
      nodes: 2
      clients:
      - {name: client, ip: 172.18.0.100}
      # every run syncs the rules itself: a sync kube-proxy's rate limit put off would be steps
      # the reference run had and a later one skips
      kubeProxy: {minSyncPeriod: 0s}
    ---
    apiVersion: apps/v1
    kind: Deployment
    metadata: {name: web}
    spec:
      replicas: 1
      selector: {matchLabels: {app: web}}
      template:
        metadata: {labels: {app: web}}
        spec:
          terminationGracePeriodSeconds: 1
          containers:
          - {name: web, image: nginx, ports: [{containerPort: 80}]}
    ---
    apiVersion: v1
    kind: Service
    metadata: {name: web}
    spec:
      type: NodePort
      selector: {app: web}
      ports: [{port: 80, nodePort: 30080}]
    """)

# applied to a running BASE lab: one more replica, a second Service and a bare pod
EXTRA = textwrap.dedent("""\
    apiVersion: v1
    kind: Service
    metadata: {name: extra}
    spec:
      type: NodePort
      selector: {app: solo}
      ports: [{port: 80, nodePort: 30081}]
    ---
    apiVersion: v1
    kind: Pod
    metadata: {name: solo, labels: {app: solo}}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - {name: web, image: nginx, ports: [{containerPort: 80}]}
    """)
SCALED = BASE.replace("replicas: 1", "replicas: 2")


def _run(lab: str, args: list, env: dict | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "netlab", *args, "--name", lab], capture_output=True,
                          text=True, timeout=timeout, env={**os.environ, **(env or {})})


def _steps(lab: str, args: list, log) -> list:
    """The recorded steps of one normal run of `netlab ARGS` (which must succeed)."""
    result = _run(lab, args, {"NETLAB_STEPS_LOG": str(log)})
    assert result.returncode == 0, result.stderr
    return [line.split(" ", 1)[1] for line in log.read_text().splitlines()]


def _crash(lab: str, args: list, step: int) -> None:
    result = _run(lab, args, {"NETLAB_CRASH_AT": str(step)})
    assert result.returncode == -9, f"step {step} did not crash (rc {result.returncode}): {result.stderr}"


def _answers(lab: str, node_port: int) -> bool:
    """The client reaches the NodePort through node1 (pod anywhere), within a few seconds."""
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        result = subprocess.run(["ip", "netns", "exec", f"{lab}-client", "curl", "-s", "-m", "1",
                                 f"http://172.18.0.2:{node_port}/"], capture_output=True, text=True)
        if result.returncode == 0 and result.stdout:
            return True
        time.sleep(0.1)
    return False


def _running_pods(lab: str, namespace: str = "default") -> list:
    st = state.load(lab)
    return sorted(k for k, r in st.pods.items() if r.get("phase") == "running" and not r.get("deletionTimestamp")
                  and r["namespace"] == namespace)


def _wait_for(predicate, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


def _supervisor_log(lab: str) -> str:
    try:
        return "".join(open(f"/run/netlab/{lab}/supervisor.log").readlines()[-15:])
    except OSError:
        return "(none)"


def _described(item: str) -> str:
    """A leftover, and for a process its parent, namespace and command (to tell whose it is)."""
    if not item.startswith("process "):
        return item
    pid = item.split()[1]
    try:
        parent = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[1]
        command = open(f"/proc/{pid}/cmdline").read().replace("\0", " ").strip()
        return f"{item} (parent {parent}, {os.readlink(f'/proc/{pid}/ns/net')}: {command})"
    except OSError:
        return item


def _down_and_leftovers(lab: str, inodes: set) -> list:
    netlab_cli("down", "--name", lab, check=False)
    return leftovers(lab, inodes)


def _campaign(tmp_path, name: str, prepare, command: list, check) -> None:
    """Crash COMMAND at each of its steps on a fresh lab made by PREPARE, then CHECK(lab) after a re-run."""
    probe_lab = unique_lab("ncs")
    try:
        prepare(probe_lab)
        steps = _steps(probe_lab, command, tmp_path / f"{name}.steps")
    finally:
        netlab_cli("down", "--name", probe_lab, check=False)
    assert steps, f"{name} records no steps"

    def one(step: int) -> str | None:
        lab = unique_lab("ncs")
        inodes: set = set()
        try:
            prepare(lab)
            inodes |= namespace_inodes(lab)
            _crash(lab, command, step)
            inodes |= namespace_inodes(lab)
            problem = check(lab)
            inodes |= namespace_inodes(lab)
            if problem:
                return f"{name} killed after step {step} ({steps[step - 1]}): {problem}"
        except Exception as err:        # a failing step is reported with the others, not alone
            return f"{name} killed after step {step} ({steps[step - 1]}): {type(err).__name__}: {err}"
        finally:
            log = _supervisor_log(lab)
            left = _down_and_leftovers(lab, inodes | namespace_inodes(lab))
        if left:
            described = [_described(item) for item in left]
            remove(left)
            return f"{name} killed after step {step} ({steps[step - 1]}): down left {described}; supervisor log:\n{log}"
        return None

    with ThreadPoolExecutor(WORKERS) as pool:
        problems = [p for p in pool.map(one, range(1, len(steps) + 1)) if p]
    figures.add("kills survived", len(steps) - len(problems))
    figures.add("kills tried", len(steps))
    assert not problems, "\n".join(problems)


def _write(tmp_path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def test_an_up_killed_at_any_step_is_finished_by_the_next_up_and_down_leaves_nothing(tmp_path):
    base = _write(tmp_path, "base.yaml", BASE)

    def check(lab):
        again = _run(lab, ["up", "-f", base])
        if again.returncode != 0:
            return f"re-up failed: {again.stderr.strip()}"
        if not _wait_for(lambda: dns_settled(lab)):
            return f"the cluster DNS pods did not come up: {_running_pods(lab, 'kube-system')}"
        third = _run(lab, ["up", "-f", base]).stdout
        if "nothing to change" not in third:
            return f"a third up still had something to change: {third.splitlines()[:3]}"
        if len(_running_pods(lab)) != 1 or not _answers(lab, 30080):
            return f"not converged: pods {_running_pods(lab)}"
        return None

    _campaign(tmp_path, "up", lambda lab: None, ["up", "-f", base], check)


def test_an_apply_killed_at_any_step_is_finished_by_the_next_apply(tmp_path):
    base, scaled = _write(tmp_path, "base.yaml", BASE), _write(tmp_path, "scaled.yaml", SCALED)
    extra = _write(tmp_path, "extra.yaml", EXTRA)
    command = ["apply", "-f", scaled, "-f", extra]

    def check(lab):
        again = _run(lab, command)
        if again.returncode != 0:
            return f"re-apply failed: {again.stderr.strip()}"
        if not _wait_for(lambda: len(_running_pods(lab)) == 3):
            return f"not converged: pods {_running_pods(lab)}"
        if not (_answers(lab, 30080) and _answers(lab, 30081)):
            return "a Service does not answer"
        return None

    _campaign(tmp_path, "apply", lambda lab: netlab_cli("up", "-f", base, "--name", lab), command, check)


def test_a_delete_killed_at_any_step_is_finished_by_the_lab(tmp_path):
    base, extra = _write(tmp_path, "base.yaml", BASE), _write(tmp_path, "extra.yaml", EXTRA)

    def prepare(lab):
        netlab_cli("up", "-f", base, "-f", extra, "--name", lab)

    def check(lab):
        # kubectl semantics: a second delete of what is gone says NotFound; either way it is gone
        _run(lab, ["delete", "-f", extra])
        gone = _wait_for(lambda: _running_pods(lab) and all("solo" not in k for k in state.load(lab).pods))
        if not gone:
            return f"the pod is still there: {sorted(state.load(lab).pods)}"
        rules = subprocess.run(["ip", "netns", "exec", f"{lab}-node1", "iptables-save", "-t", "nat"],
                               capture_output=True, text=True).stdout
        if "default/extra" in rules:
            return "the deleted Service still has rules"
        if subprocess.run(["ip", "netns", "pids", f"{lab}-default.solo"], capture_output=True).returncode == 0:
            return "the pod's namespace is still there"
        return None

    _campaign(tmp_path, "delete", prepare, ["delete", "-f", extra], check)


def test_a_down_killed_at_any_step_is_finished_by_the_next_down(tmp_path):
    base = _write(tmp_path, "base.yaml", BASE)

    def check(lab):
        again = _run(lab, ["down"])
        return None if again.returncode == 0 else f"re-down failed: {again.stderr.strip()}"

    _campaign(tmp_path, "down", lambda lab: netlab_cli("up", "-f", base, "--name", lab), ["down"], check)
