"""`netlab completion bash|zsh` and what the shell gets back when it asks (kinds; names need a lab,
tests/lab/test_lab_kubectl_walk.py)."""

import os
import subprocess
import sys


def _complete(words, shell="bash"):
    env = dict(os.environ, COMP_WORDS=words, COMP_CWORD=str(len(words.split()) - (0 if words.endswith(" ") else 1)),
               _NETLAB_COMPLETE=f"{shell}_complete")
    env.pop("NETLAB_LAB", None)
    # the installed `netlab` script: the shell calls netlab back by that name
    netlab = os.path.join(os.path.dirname(sys.executable), "netlab")
    out = subprocess.run([netlab], env=env, capture_output=True, text=True).stdout
    return [line.split(",", 1)[1] for line in out.splitlines() if "," in line] if shell == "bash" else out


def test_the_bash_and_zsh_scripts_call_netlab_back():
    for shell, marker in (("bash", "_netlab_completion()"), ("zsh", "#compdef netlab")):
        script = subprocess.run([sys.executable, "-m", "netlab", "completion", shell], capture_output=True,
                                text=True, check=True).stdout
        assert marker in script and "_NETLAB_COMPLETE" in script


def test_a_resource_type_completes_to_kubectls_names():
    assert _complete("netlab get po") == ["pods", "po"]
    assert _complete("netlab describe deplo") == ["deployments", "deploy"]
    assert "services" in _complete("netlab delete ")


def test_commands_complete():
    assert _complete("netlab lab") == ["label"]
    assert _complete("netlab rollout un") == ["undo"]
