import contextlib
import json
import os
import secrets
import subprocess
import sys
import time

import pytest

ROOT = os.geteuid() == 0


def pytest_configure(config):
    if ROOT:
        from tests import rootns
        config._netlab_rootns_before = rootns.snapshot()


def _is_worker(config) -> bool:
    """Whether this process is one of pytest-xdist's workers (`-n N`), not the run itself."""
    return hasattr(config, "workerinput")


def _distributed(config) -> bool:
    """Whether this process runs the tests through pytest-xdist's workers."""
    return not _is_worker(config) and bool(getattr(config.option, "numprocesses", None))


def pytest_sessionfinish(session):
    """A worker hands its campaign figures to the run; the run, once every worker is done, checks
    the host's root namespace (tests/test_zz_root_namespace.py does when the tests run in one process)."""
    from tests.campaign.figures import FIGURES
    if _is_worker(session.config):
        session.config.workeroutput["campaign_figures"] = dict(FIGURES)
    elif ROOT and _distributed(session.config):
        from tests import rootns
        changed = rootns.differences(session.config._netlab_rootns_before, rootns.snapshot())
        if changed:
            session.config._netlab_rootns_changed = changed
            session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_testnodedown(node, error):
    """A worker's campaign figures, added to the run's (counters add up; texts are the last said)."""
    from tests.campaign.figures import FIGURES
    for name, value in (getattr(node, "workeroutput", None) or {}).get("campaign_figures", {}).items():
        if isinstance(value, int) and isinstance(FIGURES.get(name), int):
            FIGURES[name] += value
        else:
            FIGURES[name] = value


def pytest_collection_modifyitems(config, items):
    if ROOT:
        return
    skip = pytest.mark.skip(reason="needs root: builds real network namespaces")
    for item in items:
        if "root" in item.keywords:
            item.add_marker(skip)


def unique_lab(prefix="nlt"):
    """A lab name no other test (or person) uses: prefix + 6 random characters."""
    return prefix + secrets.token_hex(3)


def netlab_cli(*args, check=True, timeout=120):
    """Run the real `netlab` command (python -m netlab) and return the completed process."""
    result = subprocess.run([sys.executable, "-m", "netlab", *args], capture_output=True, text=True,
                            timeout=timeout)
    if check and result.returncode != 0:
        raise AssertionError(f"netlab {' '.join(args)} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
    return result


def until(check, timeout=20.0):
    """Look again (every 50 ms) until CHECK returns something true; that value, or the last one
    once TIMEOUT seconds have passed (what a lab settles to, without betting on a sleep)."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.05)


def dns_settled(lab) -> bool:
    """The lab's two cluster DNS pods run, pass their readiness probes, and are in every node's
    iptables rules (kube-proxy's minSyncPeriod may hold that sync back a moment, and the next
    command that syncs would then write it): then a pass has nothing left to change for them."""
    pods = json.loads(netlab_cli("get", "pods", "-n", "kube-system", "-o", "json", "--name", lab).stdout)["items"]
    if len(pods) != 2 or not all(any(c["type"] == "Ready" and c["status"] == "True"
                                     for c in p["status"].get("conditions") or []) for p in pods):
        return False
    for node in ("node1", "node2"):
        rules = subprocess.run(["ip", "netns", "exec", f"{lab}-{node}", "iptables-save", "-t", "nat"],
                               capture_output=True, text=True).stdout
        if sum(1 for line in rules.splitlines() if line.startswith("-A KUBE-SEP-")
               and "kube-system/kube-dns:dns " in line.replace('"', " ") and "-j DNAT" in line) != 2:
            return False
    return True


@contextlib.contextmanager
def lab_up(prefix, *up_args):
    """A lab of a fresh name (`netlab up UP_ARGS`), taken down on the way out, even on failure,
    leaving no network namespace behind."""
    name = unique_lab(prefix)
    try:
        netlab_cli("up", *up_args, "--name", name)
        yield name
    finally:
        netlab_cli("down", "--name", name, check=False)
        assert lab_namespaces(name) == []


def lab_namespaces(lab):
    listing = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    return sorted(line.split()[0] for line in listing.splitlines() if line.startswith(f"{lab}-"))


def pytest_terminal_summary(terminalreporter):
    """Print a change to the root namespace found at the end of a run on workers, and the campaign's
    figures (tests/campaign) when any campaign test ran."""
    from tests.campaign.figures import FIGURES
    changed = getattr(terminalreporter.config, "_netlab_rootns_changed", None)
    if changed:
        terminalreporter.section("root namespace", red=True)
        terminalreporter.write_line(f"FAILED: the suite changed the host's root network namespace: {changed}",
                                    red=True)
    if FIGURES:
        terminalreporter.section("campaign figures")
        for name, value in FIGURES.items():
            terminalreporter.write_line(f"{name}: {value}")
