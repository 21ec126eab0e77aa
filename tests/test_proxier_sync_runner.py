"""kube-proxy's sync runner in the lab: a burst of two syncs, then one per minSyncPeriod."""

from types import SimpleNamespace

from netlab import proxier


def runner():
    return SimpleNamespace(allocations={}), SimpleNamespace(rules_deferred_until=None)


def test_two_syncs_go_at_once_then_one_per_min_sync_period():
    st, report = runner()
    assert proxier.take_sync_token(st, 1.0, 100.0, report)
    assert proxier.take_sync_token(st, 1.0, 100.1, report)
    assert not proxier.take_sync_token(st, 1.0, 100.2, report)
    assert abs(report.rules_deferred_until - 101.0) < 1e-6        # a token is back 1 s after the first
    assert proxier.take_sync_token(st, 1.0, 101.0, report)
    assert not proxier.take_sync_token(st, 1.0, 101.5, report)


def test_after_a_quiet_while_the_burst_is_back():
    st, report = runner()
    for now in (0.0, 0.1):
        proxier.take_sync_token(st, 1.0, now, report)
    assert proxier.take_sync_token(st, 1.0, 10.0, report) and proxier.take_sync_token(st, 1.0, 10.0, report)


def test_a_min_sync_period_of_zero_never_holds_a_sync_back():
    st, report = runner()
    assert all(proxier.take_sync_token(st, 0.0, 1.0, report) for _ in range(10))
    assert report.rules_deferred_until is None


def test_whether_a_sync_may_write_is_known_without_taking_the_token():
    st, report = runner()
    for now in (100.0, 100.1):
        assert proxier.sync_token_ready(st, 1.0, now) and proxier.take_sync_token(st, 1.0, now, report)
    assert not proxier.sync_token_ready(st, 1.0, 100.2)
    assert proxier.sync_token_ready(st, 1.0, 101.0) and proxier.sync_token_ready(st, 1.0, 101.0)
    assert proxier.take_sync_token(st, 1.0, 101.0, report)
    assert proxier.sync_token_ready(st, 0.0, 101.0)
