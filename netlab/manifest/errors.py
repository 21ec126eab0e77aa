"""Problems found in manifests, each pinned to file, line and field path."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import List, Optional


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a manifest, printed as `file:line: path: message`."""

    file: str
    line: Optional[int]
    path: str
    message: str

    def __str__(self) -> str:
        where = self.file if self.line is None else f"{self.file}:{self.line}"
        message, path = shorten(self.message), shorten(self.path)
        return f"{where}: {path}: {message}" if path else f"{where}: {message}"


_LONG = re.compile(r"[^\s\"]{81,}")


def shorten(text: str) -> str:
    """TEXT with every run of more than 80 characters cut to its ends (a 100 KB name stays readable)."""
    return _LONG.sub(lambda m: f"{m.group(0)[:40]}...{m.group(0)[-20:]} ({len(m.group(0))} characters)", text)


class ManifestError(Exception):
    """Every problem of a load, raised together so that nothing is applied when any document is bad."""

    def __init__(self, errors: List[Problem], warnings: Optional[List[str]] = None):
        self.errors = list(errors)
        self.warnings = list(warnings or [])
        super().__init__("\n".join(str(p) for p in self.errors))

    def __str__(self) -> str:
        return "\n".join(str(p) for p in self.errors)
