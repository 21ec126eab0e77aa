"""What the pod runtime's client asks of the kernel's limits, without root."""

import subprocess
import sys


def test_a_pod_starter_lifts_the_soft_descriptor_limit_to_the_hard_one():
    # a thousand pods started together hold a start-up pipe each: past a shell's 1,024
    probe = ("import resource; soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE); "
             "resource.setrlimit(resource.RLIMIT_NOFILE, (256, hard)); "
             "from netlab.runtime import PodStarter; PodStarter(); "
             "print(resource.getrlimit(resource.RLIMIT_NOFILE) == (hard, hard))")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "True"
