"""Labs come and go cleanly: down removes everything, labs coexist (commands killed midway: tests/campaign)."""

import os
import textwrap

import pytest

from tests.conftest import lab_namespaces, netlab_cli, unique_lab

pytestmark = pytest.mark.root

SMALL = textwrap.dedent("""\
    apiVersion: apps/v1
    kind: Deployment
    metadata: {name: web}
    spec:
      replicas: 3
      selector: {matchLabels: {app: web}}
      template:
        metadata: {labels: {app: web}}
        spec:
          containers:
          - {name: web, image: nginx, ports: [{containerPort: 80}]}
          - {name: side, image: busybox, command: [sleep, "3600"]}
    """)


def _processes_in(namespaces):
    """PIDs of processes living in any of these (still pinned) namespaces."""
    inodes = set()
    for name in namespaces:
        try:
            inodes.add(os.stat(f"/run/netns/{name}").st_ino)
        except FileNotFoundError:
            pass
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if os.stat(f"/proc/{entry}/ns/net").st_ino in inodes:
                    pids.append(int(entry))
            except OSError:
                pass
    return pids


def _lab_pids(lab):
    """Every process of the lab: found through the lab's namespaces while they exist."""
    return _processes_in(lab_namespaces(lab))


def _alive(pids):
    alive = []
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as handle:
                if handle.read().split()[2] != "Z":
                    alive.append(pid)
        except FileNotFoundError:
            pass
    return alive


@pytest.fixture
def manifest(tmp_path):
    path = tmp_path / "small.yaml"
    path.write_text(SMALL)
    return path


@pytest.fixture
def lab():
    name = unique_lab()
    yield name
    netlab_cli("down", "--name", name, check=False)
    assert lab_namespaces(name) == []


def _mounted_at(path):
    with open("/proc/self/mountinfo") as handle:
        return [line.split(" - ")[1].split()[0] for line in handle if line.split()[4] == path]


def test_down_leaves_no_namespace_process_or_state_file(lab, manifest):
    netlab_cli("up", "-f", str(manifest), "--name", lab)
    # the lab's folder is a tmpfs of its own: its files cost no disk inodes, and go with `down`
    assert _mounted_at(f"/run/netlab/{lab}") == ["tmpfs"]
    pids = _lab_pids(lab)
    assert len(pids) >= 6            # an owner and two containers per pod, at least
    netlab_cli("down", "--name", lab)
    assert lab_namespaces(lab) == []
    assert _alive(pids) == []
    assert not os.path.exists(f"/run/netlab/{lab}")
    assert not os.path.exists(f"/run/netlab/{lab}.lock")
    assert _mounted_at(f"/run/netlab/{lab}") == []
    leftovers = os.listdir("/etc/netns") if os.path.isdir("/etc/netns") else []
    assert [name for name in leftovers if name.startswith(f"{lab}-")] == []


def test_down_finds_a_labs_leftovers_when_its_state_is_gone(lab, manifest):
    netlab_cli("up", "-f", str(manifest), "--name", lab)
    pids = _lab_pids(lab)
    os.unlink(f"/run/netlab/{lab}/state.json")
    netlab_cli("down", "--name", lab)
    assert lab_namespaces(lab) == []
    assert _alive(pids) == []


def test_two_labs_side_by_side_do_not_touch_each_other(manifest):
    first = unique_lab()
    second = first + "-b"          # a name that starts with the other's prefix
    try:
        netlab_cli("up", "-f", str(manifest), "--name", first)
        netlab_cli("up", "-f", str(manifest), "--name", second)
        second_spaces = lab_namespaces(second)
        netlab_cli("down", "--name", first)
        assert [n for n in lab_namespaces(first) if not n.startswith(f"{second}-")] == []
        assert lab_namespaces(second) == second_spaces
        assert netlab_cli("get", "pods", "--name", second).stdout.count("Running") == 3
    finally:
        netlab_cli("down", "--name", first, check=False)
        netlab_cli("down", "--name", second, check=False)
    assert lab_namespaces(first) == [] and lab_namespaces(second) == []
