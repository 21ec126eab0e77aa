"""What an image would have, as data: its commands, its working directory, and what it serves.

A container runs on a copy-on-write view of the host's filesystem, not on its image's. For the
images tutorials use, netlab gives the container what the image would have given it:

| image                                   | what the container gets                                         |
| --------------------------------------- | --------------------------------------------------------------- |
| `python:2*`                             | `python`, `python2`, `python2.7` in /usr/local/bin: Python 3 with |
|                                         | Python 2's `SimpleHTTPServer`, `BaseHTTPServer`, `CGIHTTPServer`   |
| `python`, `python:3*`, `python:latest`  | `python` in /usr/local/bin: Python 3                             |
| `busybox`, `alpine`                     | every applet of Debian's busybox (`httpd`, `nc`, `wget`, `nslookup`, |
|                                         | `sh`, `ls`, ...) in /usr/local/bin, ahead of the host's commands |
| `nginx` (also `nginx:alpine`, `bitnami/nginx`) | serves /usr/share/nginx/html on its `containerPort` (80) when it has |
|                                         | no command or runs `nginx`; starts in that folder                |
| `httpd`                                 | serves /usr/local/apache2/htdocs the same way (`httpd-foreground`) |
| `coredns/coredns`                       | the cluster DNS: Debian's unbound with the cluster's records and |
|                                         | CoreDNS's /health, /ready, /metrics (runtime/coredns.py), when it |
|                                         | has no command (kubeadm's `-conf` flags are its entrypoint's)     |

A document-root server answers a file under its root as nginx would (Content-Type by extension,
`index.html` for a folder, 404 otherwise); `/` with no `index.html` there answers netlab's
identity page (pod, namespace, pod IP, node, client), so a Service in front of nginx pods shows
which pod answered. The test images (agnhost, http-echo, echoserver, whoami, nginxdemos/hello,
hello-app) answer as netlab/runtime/replies.py says. Command files are in
netlab/runtime/shims/FOLDER/{bin,lib}.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from functools import lru_cache

SHIMS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "shims")
BUSYBOX = "/usr/bin/busybox"     # Debian's busybox package


@dataclass(frozen=True)
class ImageTraits:
    """What netlab gives a container of one image."""

    commands: str | None = None        # a shim folder, or "busybox"
    working_dir: str | None = None     # the image's WORKDIR-like starting folder
    doc_root: str | None = None        # a document root it serves on its ports
    server_commands: tuple[str, ...] = ()   # its own commands that start that server
    title: str = ""                    # what `ps -ef` shows for that server
    program: str | None = None         # netlab's stand-in for the image's entrypoint ("coredns")


_NGINX = ImageTraits(working_dir="/usr/share/nginx/html", doc_root="/usr/share/nginx/html",
                     server_commands=("nginx", "/usr/sbin/nginx", "nginx-debug", "/docker-entrypoint.sh"),
                     title="nginx: master process nginx -g daemon off;")
_HTTPD = ImageTraits(working_dir="/usr/local/apache2", doc_root="/usr/local/apache2/htdocs",
                     server_commands=("httpd-foreground", "httpd", "/usr/local/bin/httpd-foreground",
                                      "/usr/local/apache2/bin/httpd"), title="httpd -DFOREGROUND")

# (image pattern, traits): the first match wins; the pattern sees the image without its registry
IMAGE_TABLE = (
    (re.compile(r"^(library/)?python:2(\.|-|$)"), ImageTraits(commands="python2")),
    (re.compile(r"^(library/)?python(:.*)?$"), ImageTraits(commands="python3")),
    (re.compile(r"^(library/)?(busybox|alpine)(:.*)?$"), ImageTraits(commands="busybox")),
    (re.compile(r"^(library/|bitnami/)?nginx(:.*)?$"), _NGINX),
    (re.compile(r"^(library/)?httpd(:.*)?$"), _HTTPD),
    (re.compile(r"^coredns/coredns(:.*)?$"), ImageTraits(program="coredns", title="netlab-coredns")),
)


def repository_tag(image: str) -> str:
    """IMAGE without its registry (docker.io/library/python:2.7 -> library/python:2.7) or digest."""
    image = image.split("@", 1)[0]
    first, _, rest = image.partition("/")
    if rest and ("." in first or ":" in first or first == "localhost"):
        image = rest
    return image


def traits(image: str) -> ImageTraits:
    """What netlab gives a container of IMAGE (nothing special for most images)."""
    name = repository_tag(image or "")
    for pattern, found in IMAGE_TABLE:
        if pattern.match(name):
            return found
    return ImageTraits()


def command_folder(image: str) -> str | None:
    """The commands IMAGE would have (a shim folder or "busybox"), or None."""
    return traits(image).commands


@lru_cache(maxsize=None)
def busybox_applets() -> tuple[str, ...]:
    """The applets of Debian's busybox, or none when it is not installed."""
    # spawned by hand: the container forker asks, and subprocess imports threading, whose fork
    # handler would run in every container (runtime/forker.py)
    try:
        r, w = os.pipe()
    except OSError:
        return ()
    try:
        pid = os.posix_spawn(BUSYBOX, [BUSYBOX, "--list"], {}, file_actions=[
            (os.POSIX_SPAWN_DUP2, w, 1), (os.POSIX_SPAWN_OPEN, 2, os.devnull, os.O_WRONLY, 0)])
    except OSError:
        os.close(r)
        return ()
    finally:
        os.close(w)
    with os.fdopen(r, "rb") as out:
        listed = out.read().decode(errors="replace")
    try:
        os.waitpid(pid, 0)
    except ChildProcessError:
        pass                    # a reaper of all children (the pod runtime's) was first
    return tuple(sorted(name for name in listed.split() if "/" not in name and name not in ("[", "[[")))


def provided(folder: str | None) -> frozenset[str]:
    """The command names FOLDER puts in /usr/local/bin (so a container finds them before the host's)."""
    if not folder:
        return frozenset()
    if folder == "busybox":
        return frozenset(busybox_applets())
    bin_dir = os.path.join(SHIMS, folder, "bin")
    return frozenset(os.listdir(bin_dir)) if os.path.isdir(bin_dir) else frozenset()


def install(folder: str, shims: str, root: str = "/") -> None:
    """Put FOLDER's commands into ROOT's /usr/local/bin: busybox applets as links to busybox, else
    the files from SHIMS (the shims folder as this process sees it), modules in
    /usr/local/lib/netlab-FOLDER."""
    if folder == "busybox":
        destination = os.path.join(root, "usr/local/bin")
        os.makedirs(destination, exist_ok=True)
        for name in busybox_applets():
            link = os.path.join(destination, name)
            if not os.path.lexists(link):
                os.symlink(BUSYBOX, link)
        return
    # here, not at the top: shutil loads zlib, bz2 and lzma, six libraries more for the container
    # forker (runtime/forker.py) to copy at every fork
    import shutil
    for part, target in (("bin", "usr/local/bin"), ("lib", f"usr/local/lib/netlab-{folder}")):
        source = os.path.join(shims, folder, part)
        if not os.path.isdir(source):
            continue
        destination = os.path.join(root, target)
        os.makedirs(destination, exist_ok=True)
        for name in os.listdir(source):
            path = os.path.join(source, name)
            if os.path.isfile(path) and not name.endswith(".pyc"):       # not __pycache__
                shutil.copy(path, os.path.join(destination, name))       # a link's target, as a file
