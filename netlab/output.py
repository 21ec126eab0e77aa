"""All of netlab's terminal output: aligned tables, kubectl-style ages, JSON/YAML lists, errors."""

from __future__ import annotations

import json
import sys
import time

import click
import yaml


def table(headers: list, rows: list) -> str:
    """kubectl's plain layout: columns left-aligned, separated by three spaces."""
    cells = [list(map(str, headers))] + [[("" if c is None else str(c)) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = []
    for row in cells:
        line = "   ".join(cell.ljust(widths[i]) for i, cell in enumerate(row))
        lines.append(line.rstrip())
    return "\n".join(lines)


def age(since: float, now: float | None = None) -> str:
    """kubectl's short human duration (duration.HumanDuration): 5s, 3m, 2m30s, 4h, 2d."""
    seconds = int(max(0, (now if now is not None else time.time()) - since))
    if seconds < 120:
        return f"{seconds}s"
    minutes = seconds // 60
    if minutes < 10:
        rest = seconds % 60
        return f"{minutes}m{rest}s" if rest else f"{minutes}m"
    if minutes < 180:
        return f"{minutes}m"
    hours = minutes // 60
    if hours < 48:
        return f"{hours}h"
    return f"{hours // 24}d"


def as_list(items: list) -> dict:
    return {"apiVersion": "v1", "kind": "List", "items": items, "metadata": {"resourceVersion": ""}}


class _KubectlDumper(yaml.SafeDumper):
    """YAML as kubectl prints it (sigs.k8s.io/yaml): keys sorted, a string that must be quoted in
    double quotes (creationTimestamp: "2026-12-02T18:14:49Z", resourceVersion: "17")."""

    def choose_scalar_style(self):
        style = super().choose_scalar_style()
        return '"' if style == "'" else style


def dump(data, fmt: str) -> str:
    if fmt == "json":
        return json.dumps(data, indent=4)
    return yaml.dump(data, Dumper=_KubectlDumper, sort_keys=True, default_flow_style=False,
                     allow_unicode=True).rstrip("\n")


def echo(text: str = "") -> None:
    click.echo(text)


def warn(text: str) -> None:
    click.echo(f"Warning: {text}", err=True)


def fail(text: str, code: int = 1) -> None:
    """Print an error the user can act on, then exit (tracebacks only with --debug)."""
    # the API server's refusals are printed as kubectl prints them, the rest as kubectl's own errors
    click.echo(text if text.startswith("Error from server") else f"error: {text}", err=True)
    sys.exit(code)
