"""Runs last (by name): the whole suite left the host's root network namespace as it found it.

(With pytest-xdist's workers, no test runs last: tests/conftest.py checks at the end of the run.)"""

import pytest

from tests import rootns


@pytest.mark.root
def test_the_suite_did_not_change_the_root_namespace(request):
    if hasattr(request.config, "workerinput"):
        pytest.skip("run in workers (-n): tests/conftest.py checks once every worker is done")
    before = request.config._netlab_rootns_before
    after = rootns.snapshot()
    assert rootns.differences(before, after) == []
