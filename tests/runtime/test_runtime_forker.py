"""The container forker's interpreter (runtime/forker.py), without root."""

import subprocess
import sys

from netlab.runtime import forker

FORK_HANDLER_MODULES = ("threading", "random", "logging")


def test_the_forker_imports_no_module_that_registers_a_fork_handler():
    # each handler runs in every forked container and copies the pages it writes
    probe = forker.IMPORTS + f"; print(' '.join(m for m in {FORK_HANDLER_MODULES!r} if m in sys.modules))"
    done = subprocess.run([sys.executable, "-I", "-S", "-c", probe, forker.interpreter_path()],
                          capture_output=True, text=True, check=True)
    assert done.stdout.split() == []


def test_the_forker_holds_what_a_container_runs_and_not_the_runtime_client():
    probe = forker.IMPORTS + ("; print(' '.join(m for m in ('netlab.runtime.container', 'netlab.runtime.builtin', "
                              "'netlab.runtime.replies', 'netlab.runtime.pod', 'netlab.runtime.daemon') "
                              "if m in sys.modules))")
    done = subprocess.run([sys.executable, "-I", "-S", "-c", probe, forker.interpreter_path()],
                          capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["netlab.runtime.container", "netlab.runtime.builtin", "netlab.runtime.replies"]

