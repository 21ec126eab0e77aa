"""Writing a configMap/secret/projected volume's files the way kubelet's atomic writer does.

The files go into a fresh timestamped folder `..2026_12_02_05_40_00.123456789`; `..data` points at
it; each top-level name points into `..data`. An update writes a new folder and swaps `..data` with
one rename, so a container reading the volume sees the old set or the new one, never a mix, and a
container that mounted the folder sees the update (as with kubelet; a subPath mount does not).
"""

from __future__ import annotations

import os
import shutil
import time

DATA_LINK = "..data"


def _current(folder: str) -> dict[str, tuple[bytes, int]] | None:
    """The files the volume shows now, or None when it was never written."""
    data = os.path.join(folder, DATA_LINK)
    if not os.path.islink(data):
        return None
    root = os.path.realpath(data)
    files = {}
    for dirpath, _, names in os.walk(root):
        for name in names:
            path = os.path.join(dirpath, name)
            with open(path, "rb") as handle:
                files[os.path.relpath(path, root)] = (handle.read(), os.stat(path).st_mode & 0o777)
    return files


def write_volume(folder: str, files: dict[str, tuple[bytes, int]]) -> bool:
    """Make FOLDER show FILES (relative path -> (content, mode)); False when it already did."""
    os.makedirs(folder, exist_ok=True)
    os.chmod(folder, 0o777)          # as kubelet leaves it: the container's user may list it
    if _current(folder) == files:
        return False
    stamp = time.strftime("..%Y_%m_%d_%H_%M_%S.", time.gmtime()) + f"{time.time_ns() % 10**9:09d}"
    new = os.path.join(folder, stamp)
    os.mkdir(new, 0o755)
    for path, (content, mode) in files.items():
        target = os.path.join(new, path)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        with open(target, "wb") as handle:
            handle.write(content)
        os.chmod(target, mode)
    old = os.path.realpath(os.path.join(folder, DATA_LINK)) if os.path.islink(os.path.join(folder, DATA_LINK)) else None
    temporary = os.path.join(folder, "..data_tmp")
    if os.path.lexists(temporary):
        os.unlink(temporary)
    os.symlink(stamp, temporary)
    os.rename(temporary, os.path.join(folder, DATA_LINK))
    top = {path.split("/", 1)[0] for path in files}
    for name in os.listdir(folder):
        if name.startswith(".."):
            continue
        if name not in top and os.path.islink(os.path.join(folder, name)):
            os.unlink(os.path.join(folder, name))
    for name in top:
        link = os.path.join(folder, name)
        if not os.path.lexists(link):
            os.symlink(os.path.join(DATA_LINK, name), link)
    if old and old != os.path.realpath(new):
        shutil.rmtree(old, ignore_errors=True)
    return True
