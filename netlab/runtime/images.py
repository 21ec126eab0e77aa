"""The commands an image would have, put where the image has them: its /usr/local/bin.

A container runs on a copy-on-write view of the host's filesystem, not on its image's. For the
images tutorials use, netlab writes the image's own commands into the container's layer when it
starts (so they come first on the default PATH, as in the image):

| image                                   | commands in /usr/local/bin                              |
| --------------------------------------- | ------------------------------------------------------- |
| `python:2*`                             | `python`, `python2`, `python2.7`: Python 3 with Python 2's |
|                                         | `SimpleHTTPServer`, `BaseHTTPServer`, `CGIHTTPServer`      |
|                                         | (in /usr/local/lib/netlab-python2)                      |
| `python`, `python:3*`, `python:latest`  | `python`: Python 3                                      |

The files are in netlab/runtime/shims/FOLDER/{bin,lib}.
"""

from __future__ import annotations

import os
import re
import shutil

SHIMS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "shims")

# (image pattern, shim folder), the first match wins; the pattern sees the image without registry
IMAGE_COMMANDS = (
    (re.compile(r"^(library/)?python:2(\.|-|$)"), "python2"),
    (re.compile(r"^(library/)?python(:.*)?$"), "python3"),
)


def _repository_tag(image: str) -> str:
    """IMAGE without its registry (docker.io/library/python:2.7 -> library/python:2.7) or digest."""
    image = image.split("@", 1)[0]
    first, _, rest = image.partition("/")
    if rest and ("." in first or ":" in first or first == "localhost"):
        image = rest
    return image


def command_folder(image: str) -> str | None:
    """The shim folder of the commands IMAGE would have, or None."""
    name = _repository_tag(image or "")
    for pattern, folder in IMAGE_COMMANDS:
        if pattern.match(name):
            return folder
    return None


def install(folder: str, shims: str, root: str = "/") -> None:
    """Copy FOLDER's commands from SHIMS (the shims folder as this process sees it) into ROOT's
    /usr/local/bin, and its modules into /usr/local/lib/netlab-FOLDER."""
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
