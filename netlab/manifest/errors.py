"""Problems found in manifests, each pinned to file, line and field path."""

from __future__ import annotations

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
        return f"{where}: {self.path}: {self.message}" if self.path else f"{where}: {self.message}"


class ManifestError(Exception):
    """Every problem of a load, raised together so that nothing is applied when any document is bad."""

    def __init__(self, errors: List[Problem], warnings: Optional[List[str]] = None):
        self.errors = list(errors)
        self.warnings = list(warnings or [])
        super().__init__("\n".join(str(p) for p in self.errors))

    def __str__(self) -> str:
        return "\n".join(str(p) for p in self.errors)
