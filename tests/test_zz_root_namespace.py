"""Runs last (by name): the whole suite left the host's root network namespace as it found it."""

import pytest

from tests import rootns


@pytest.mark.root
def test_the_suite_did_not_change_the_root_namespace(request):
    before = request.config._netlab_rootns_before
    after = rootns.snapshot()
    assert rootns.differences(before, after) == []
