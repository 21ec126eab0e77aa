"""The `netlab` program's front door: the quick commands as a thin client of the lab's supervisor.

`get`, `describe`, `label`, `annotate` and `scale` read or change the lab's store and print a
table; what makes them slow as a fresh process is loading netlab itself (the manifest model,
the controllers, the runtime: ~0.2 s), not the work. The lab's supervisor has all of that loaded
already, as kube-apiserver has for kubectl, so these commands are sent to it over
/run/netlab/LAB/api.sock (root's only) and it runs them as the CLI would, in its own process,
one at a time, returning what they printed and their exit code.

Everything else, and any of these when the supervisor does not answer (not running, an older
supervisor without the socket), runs in this process as before: the answer is the same either
way, only its speed differs. This module imports nothing of netlab's but names, so a command
sent to the supervisor costs a Python start and one round trip.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import socket
import sys

SOCKET_FILE = "api.sock"
QUICK = ("get", "describe", "label", "annotate", "scale")
CONNECT_TIMEOUT = 1.0
ANSWER_TIMEOUT = 120.0          # a label or scale may wait for the lab's lock behind a long pass


def _lab_named(argv: list) -> str | None:
    """The lab a command names with --name LAB / --name=LAB, else the current or only one."""
    from netlab import names
    for index, arg in enumerate(argv):
        if arg == "--name" and index + 1 < len(argv):
            return argv[index + 1]
        if arg.startswith("--name="):
            return arg.split("=", 1)[1]
    chosen = names.current_lab()
    if chosen:
        return chosen
    try:
        labs = [p.name for p in names.RUN_DIR.iterdir() if (p / "state.json").exists()]
    except OSError:
        return None
    return labs[0] if len(labs) == 1 else None


def _quick(argv: list) -> bool:
    """Whether the supervisor can run ARGV: a quick command that needs no terminal, no files of
    this shell's directory and no waiting (get -w waits; -f names local files)."""
    if not argv or argv[0] not in QUICK:
        return False
    return not any(a in ("-w", "--watch", "-f", "--filename", "--help", "-h", "--debug") or
                   a.startswith(("--watch", "--filename=")) for a in argv[1:])


def ask_supervisor(lab: str, argv: list) -> dict | None:
    """Run ARGV in LAB's supervisor: {"stdout", "stderr", "code"}, or None if it does not answer."""
    from netlab import names
    path = str(names.lab_dir(lab) / SOCKET_FILE)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.settimeout(CONNECT_TIMEOUT)
        sock.connect(path)
        sock.settimeout(ANSWER_TIMEOUT)
        sock.sendall(json.dumps({"argv": argv}).encode() + b"\n")
        sock.shutdown(socket.SHUT_WR)
        chunks = []
        while True:
            data = sock.recv(1 << 16)
            if not data:
                break
            chunks.append(data)
        return json.loads(b"".join(chunks)) if chunks else None
    except (OSError, ValueError):
        return None
    finally:
        sock.close()


def main() -> None:
    """The `netlab` console script."""
    argv = sys.argv[1:]
    # NETLAB_LOCAL=1 runs every command here (and --debug's tracebacks are this process's own)
    if _quick(argv) and os.geteuid() == 0 and not os.environ.get("NETLAB_DEBUG") and not os.environ.get("NETLAB_LOCAL"):
        lab = _lab_named(argv)
        if lab:
            end = argv.index("--") if "--" in argv else len(argv)      # options go before a `--`
            named = argv if any(a == "--name" or a.startswith("--name=") for a in argv) else \
                argv[:end] + ["--name", lab] + argv[end:]
            answer = ask_supervisor(lab, named)
            if answer is not None:
                try:
                    sys.stdout.write(answer["stdout"])
                    sys.stdout.flush()
                except BrokenPipeError:
                    os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
                    sys.exit(1)
                sys.stderr.write(answer["stderr"])
                sys.exit(answer["code"])
    from netlab.cli import main as cli_main
    cli_main(prog_name="netlab")


# -- the supervisor's side ----------------------------------------------------------------------

def run_here(argv: list) -> dict:
    """Run a netlab command in this process, capturing what it prints: {"stdout", "stderr", "code"}."""
    from netlab.cli import main as cli_main
    out, err = io.StringIO(), io.StringIO()
    code = 0
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            cli_main.main(args=list(argv), prog_name="netlab", standalone_mode=True)
        except SystemExit as done:
            code = done.code if isinstance(done.code, int) else (0 if done.code is None else 1)
        except Exception as failure:             # the CLI turns errors into lines; this is a last resort
            err.write(f"error: {' '.join(str(failure).split()) or type(failure).__name__}\n")
            code = 1
    return {"stdout": out.getvalue(), "stderr": err.getvalue(), "code": code}


def serve_one(conn: socket.socket) -> None:
    """Answer one client: read its request to EOF, run it, send the result."""
    with conn:
        conn.settimeout(10.0)
        chunks = []
        while True:
            data = conn.recv(1 << 16)
            if not data:
                break
            chunks.append(data)
        try:
            argv = json.loads(b"".join(chunks))["argv"]
            if not _quick(argv):
                raise ValueError("not a command the supervisor runs")
        except (ValueError, KeyError, TypeError) as err:
            answer = {"stdout": "", "stderr": f"error: bad request to the supervisor: {err}\n", "code": 2}
        else:
            answer = run_here(argv)
        conn.settimeout(ANSWER_TIMEOUT)
        conn.sendall(json.dumps(answer).encode())
