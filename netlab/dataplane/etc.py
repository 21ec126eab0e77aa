"""Per-namespace /etc files: what `ip netns exec` and the pod runtime mount over /etc.

`ip netns exec NAME` bind-mounts /etc/netns/NAME/FILE over /etc/FILE, and netlab's containers do
the same, so a pod gets the hosts and resolv.conf files the kubelet writes for it. Without one, a container's own
hostname (the pod name) is unknown, and a server that looks it up (Python's http.server calls
getfqdn) waits for the host's DNS servers, which a lab namespace cannot reach.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

ETC_NETNS = Path("/etc/netns")

KUBELET_HOSTS = """# Kubernetes-managed hosts file.
127.0.0.1\tlocalhost
::1\tlocalhost ip6-localhost ip6-loopback
fe00::0\tip6-localnet
fe00::0\tip6-mcastprefix
fe00::1\tip6-allnodes
fe00::2\tip6-allrouters
{lines}"""


def _folder(netns_name: str) -> Path:
    """/etc/netns/NETNS_NAME, made if need be."""
    folder = ETC_NETNS / netns_name
    for _ in range(10):
        try:
            folder.mkdir(parents=True, exist_ok=True)
            return folder
        except FileNotFoundError:
            # another lab's remove() took /etc/netns away, empty, between our two mkdirs
            continue
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def write_pod_hosts(netns_name: str, ips, hostname: str, domain: str | None = None) -> None:
    """The kubelet's hosts file for a pod (pkg/kubelet/kubelet_pods.go managedHostsFileContent):
    each of the pod's addresses IPS (one, or a dual-stack pod's two) with HOSTNAME, and
    HOSTNAME.DOMAIN first when the pod has a subdomain."""
    folder = _folder(netns_name)
    tmp = folder / ".hosts.tmp"
    names = f"{hostname}.{domain}\t{hostname}" if domain else hostname
    ips = [ips] if isinstance(ips, str) else ips
    tmp.write_text(KUBELET_HOSTS.format(lines="".join(f"{ip}\t{names}\n" for ip in ips)))
    os.replace(tmp, folder / "hosts")


def write_pod_resolv_conf(netns_name: str, text: str) -> None:
    """The resolv.conf kubelet gives the pod (netlab/kubelet/dns.py), seen by its containers and
    under `ip netns exec`."""
    folder = _folder(netns_name)
    tmp = folder / ".resolv.conf.tmp"
    tmp.write_text(text)
    os.replace(tmp, folder / "resolv.conf")


def remove(netns_name: str) -> None:
    """Remove what netlab wrote for NETNS_NAME (the folder is the namespace's alone)."""
    shutil.rmtree(ETC_NETNS / netns_name, ignore_errors=True)
    try:
        ETC_NETNS.rmdir()          # only when empty: leave other users' folders alone
    except OSError:
        pass
