"""The commands an image would have (netlab/runtime/images.py): which images get which, and that
the Python 2 shims run Python 2's server modules on Python 3."""

import os
import subprocess

import pytest

from netlab.runtime import images


@pytest.mark.parametrize("image, folder", [
    ("python:2.7", "python2"), ("python:2", "python2"), ("docker.io/library/python:2.7-slim", "python2"),
    ("python:3.12", "python3"), ("python", "python3"), ("python:latest", "python3"),
    ("nginx:1.27", None), ("pythonista/app:1", None), ("my.registry:5000/python:2.7", "python2"),
])
def test_each_image_gets_its_own_commands(image, folder):
    assert images.command_folder(image) == folder


def test_the_python2_commands_land_in_usr_local_and_run_python2_server_modules(tmp_path):
    images.install("python2", images.SHIMS, str(tmp_path))
    assert sorted(os.listdir(tmp_path / "usr/local/bin")) == ["python", "python2", "python2.7"]
    assert sorted(os.listdir(tmp_path / "usr/local/lib/netlab-python2")) == [
        "BaseHTTPServer.py", "CGIHTTPServer.py", "SimpleHTTPServer.py"]
    # the installed script points at /usr/local/lib/netlab-python2: run it against the copy here
    found = subprocess.run(["python3", "-c", "import SimpleHTTPServer, BaseHTTPServer, CGIHTTPServer; "
                            "print(SimpleHTTPServer.SimpleHTTPRequestHandler.__module__)"],
                           env={"PATH": os.environ["PATH"], "PYTHONPATH": str(tmp_path / "usr/local/lib/netlab-python2")},
                           capture_output=True, text=True)
    assert found.returncode == 0, found.stderr
    assert found.stdout.strip() == "http.server"
    assert "/usr/local/lib/netlab-python2" in (tmp_path / "usr/local/bin/python2.7").read_text()
