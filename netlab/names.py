"""Every name netlab gives to something on the machine, computed in one place.

The scheme (LAB is the lab's name, a DNS label of at most 20 characters):

- network namespaces (what `ip netns exec` takes), all starting with ``LAB-`` so that teardown and
  orphan clean-up can find everything a lab made even when its state file is lost:
    ``LAB-underlay``            the lab's shared L2 segment (bridge ``br0``), standing for the
                                network the nodes' eth0 are plugged into
    ``LAB-NODE``                a cluster node (``LAB-node1``)
    ``LAB-CLIENT``              an external client on the underlay (``LAB-client``)
    ``LAB-NS.POD``              a pod; Kubernetes namespace names cannot contain a dot and node and
                                client names are DNS labels, so a pod never clashes with them
- interfaces (at most 15 characters, unique only within their own namespace):
    node: ``eth0`` (underlay), ``cni0`` (pod bridge), ``vethXXXXXXXX`` (a pod's host-side port,
    8 hex characters derived from the pod, like the CNI bridge plugin's random names);
    pod: ``eth0``; underlay: ``br0`` and one port per attached namespace, named after it.
- on disk: ``/run/netlab/LAB/`` holds the state file, the lock and per-pod directories.
"""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path

DEFAULT_RUN_DIR = Path("/run/netlab")
RUN_DIR = Path(os.environ.get("NETLAB_RUN_DIR", DEFAULT_RUN_DIR))
NETNS_DIR = Path("/run/netns")
DEFAULT_LAB = "netlab"
UNDERLAY_BRIDGE = "br0"
NODE_UPLINK = "eth0"
POD_BRIDGE = "cni0"
POD_IFNAME = "eth0"

MAX_LAB_NAME = 20
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


def check_lab_name(name: str) -> str | None:
    """Return why NAME cannot name a lab, or None when it can."""
    if not _DNS_LABEL.match(name or ""):
        return (f"lab name {name!r} must be lower-case letters, digits and '-', starting and "
                "ending with a letter or digit")
    if len(name) > MAX_LAB_NAME:
        return f"lab name {name!r} is longer than {MAX_LAB_NAME} characters"
    return None


CURRENT_LAB_FILE = ".current-lab"     # in RUN_DIR: `netlab use LAB` (a dot: no lab is named so)
LAB_ENV = "NETLAB_LAB"


def current_lab() -> str | None:
    """The lab chosen without --name: $NETLAB_LAB, else the one `netlab use` set (as kubectl's
    current context), else None."""
    chosen = os.environ.get(LAB_ENV)
    if chosen:
        return chosen
    try:
        return (RUN_DIR / CURRENT_LAB_FILE).read_text().strip() or None
    except OSError:
        return None


def use_lab(lab: str | None) -> None:
    """Make LAB the current lab (None: no current lab)."""
    path = RUN_DIR / CURRENT_LAB_FILE
    if lab is None:
        path.unlink(missing_ok=True)
        return
    RUN_DIR.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(lab + "\n")
    tmp.replace(path)


def lab_prefix(lab: str) -> str:
    return f"{lab}-"


def underlay_netns(lab: str, host: str | None = None) -> str:
    """The lab's underlay switch; a lab across hosts has one on each host, LAB-underlay-HOST."""
    return f"{lab}-underlay" if host is None else f"{lab}-underlay-{host}"


def node_netns(lab: str, node: str) -> str:
    return f"{lab}-{node}"


def client_netns(lab: str, client: str) -> str:
    return f"{lab}-{client}"


def pod_netns(lab: str, namespace: str, pod: str) -> str:
    return f"{lab}-{namespace}.{pod}"


def pod_host_veth(namespace: str, pod: str, uid: str = "") -> str:
    """The node-side veth of a pod: ``veth`` + 8 hex characters, stable for one pod instance."""
    digest = hashlib.sha256(f"{namespace}/{pod}/{uid}".encode()).hexdigest()
    return f"veth{digest[:8]}"


def underlay_port(attached: str) -> str:
    """The underlay bridge's port for a node or client: its own name when it fits in 15 chars."""
    if len(attached) <= 15:
        return attached
    return "p" + hashlib.sha256(attached.encode()).hexdigest()[:14]


def lab_dir(lab: str) -> Path:
    return RUN_DIR / lab


def pod_dir(lab: str, namespace: str, pod: str, uid: str) -> Path:
    return lab_dir(lab) / "pods" / f"{namespace}.{pod}.{uid}"
