"""The commands an image would have, found on the container's PATH in front of the host's.

A container runs on a copy-on-write view of the host's filesystem, not on its image's. For the
images tutorials use, netlab puts the image's own commands first on the default PATH:

| image            | commands                                                                  |
| ---------------- | ------------------------------------------------------------------------- |
| `python:2*`      | `python`, `python2`, `python2.7`: Python 3 with Python 2's `SimpleHTTPServer`, |
|                  | `BaseHTTPServer` and `CGIHTTPServer` modules                              |
| `python`, `python:3*`, `python:latest` | `python`: Python 3                                  |

The shims live in netlab/runtime/shims/IMAGE/bin (visible in every container, whose lower layer is
the host's root).
"""

from __future__ import annotations

import os
import re

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


def command_dirs(image: str) -> list:
    """The folders of commands IMAGE would have, to go first on the container's PATH."""
    name = _repository_tag(image or "")
    for pattern, folder in IMAGE_COMMANDS:
        if pattern.match(name):
            return [os.path.join(SHIMS, folder, "bin")]
    return []


def default_path(image: str, base: str) -> str:
    """The PATH a container of IMAGE starts with: the image's commands, then BASE."""
    return ":".join(command_dirs(image) + [base])
