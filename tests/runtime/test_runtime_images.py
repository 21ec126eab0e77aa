"""The commands an image would have (netlab/runtime/images.py): which images get which, and that
the Python 2 shims run Python 2's server modules on Python 3."""

import os
import subprocess

import pytest

from netlab.runtime import images
from netlab.runtime.command import DEFAULT_PATH, resolve_command
from netlab.runtime.spec import ContainerSpec


@pytest.mark.parametrize("image, folder", [
    ("python:2.7", "python2"), ("python:2", "python2"), ("docker.io/library/python:2.7-slim", "python2"),
    ("python:3.12", "python3"), ("python", "python3"), ("python:latest", "python3"),
    ("nginx:1.27", None), ("pythonista/app:1", None), ("my.registry:5000/python:2.7", "python2"),
])
def test_each_image_gets_its_own_commands_first_on_the_default_path(image, folder):
    dirs = images.command_dirs(image)
    assert dirs == ([os.path.join(images.SHIMS, folder, "bin")] if folder else [])
    assert images.default_path(image, DEFAULT_PATH).endswith(DEFAULT_PATH)


def test_python_of_a_python2_image_is_found_and_has_the_python2_server_modules():
    container = ContainerSpec(name="c", image="python:2.7", command=["python", "--version"])
    assert resolve_command(container) is not None
    path = images.default_path("python:2.7", DEFAULT_PATH)
    found = subprocess.run(["python", "-c", "import SimpleHTTPServer, BaseHTTPServer, CGIHTTPServer; "
                            "print(SimpleHTTPServer.SimpleHTTPRequestHandler.__module__)"],
                           env={"PATH": path}, capture_output=True, text=True)
    assert found.returncode == 0, found.stderr
    assert found.stdout.strip() == "http.server"
