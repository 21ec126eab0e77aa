"""A failed iptables-restore names the failing line in context and keeps the previous rules."""

import secrets

import pytest

from netlab.dataplane import iptables, netns

pytestmark = pytest.mark.root

GOOD = """*filter
:INPUT ACCEPT [0:0]
:FORWARD ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:KUBE-SERVICES - [0:0]
-A KUBE-SERVICES -d 10.96.0.1/32 -p tcp -m tcp --dport 443 -j REJECT
COMMIT
"""


@pytest.fixture
def scratch():
    name = f"nltest-restore-{secrets.token_hex(3)}"
    netns.create(name)
    try:
        yield name
    finally:
        netns.delete(name)


def test_a_bad_line_is_shown_with_context_and_the_old_rules_stay(scratch):
    iptables.restore(scratch, GOOD)
    before = iptables.save(scratch, "filter")
    bad = GOOD.replace("-j REJECT", "-j REJECT\n-A KUBE-SERVICES -m nosuchmatch --foo -j ACCEPT")
    with pytest.raises(iptables.RestoreError) as caught:
        iptables.restore(scratch, bad)
    message = str(caught.value)
    assert scratch in message and "previous rules are still in place" in message
    assert ">     7  -A KUBE-SERVICES -m nosuchmatch --foo -j ACCEPT" in message
    assert "-A KUBE-SERVICES -d 10.96.0.1/32" in message          # the lines around it
    strip = lambda text: [l for l in text.splitlines() if not l.startswith("#")]
    assert strip(iptables.save(scratch, "filter")) == strip(before)
