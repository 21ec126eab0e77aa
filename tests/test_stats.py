"""The chi-square verdict `netlab probe` prints."""

import random

from netlab import stats


def test_p_values_match_known_chi_square_quantiles():
    # chi2.ppf(0.999, 3) = 16.266; chi2.ppf(0.95, 1) = 3.841
    assert abs(stats.chi_square_p_value(16.266, 3) - 0.001) < 1e-4
    assert abs(stats.chi_square_p_value(3.841, 1) - 0.05) < 1e-4
    assert abs(stats.chi_square_p_value(0.0, 4) - 1.0) < 1e-12


def test_an_even_spread_passes_and_a_skewed_one_fails():
    rng = random.Random(7)
    even = {k: 0 for k in "abcd"}
    for _ in range(1000):
        even[rng.choice("abcd")] += 1
    share = {k: 0.25 for k in "abcd"}
    assert stats.goodness_of_fit(even, share).passed
    skewed = {"a": 400, "b": 200, "c": 200, "d": 200}
    assert not stats.goodness_of_fit(skewed, share).passed


def test_hits_on_an_endpoint_that_should_get_none_fail():
    assert not stats.goodness_of_fit({"a": 50, "b": 50, "x": 1}, {"a": 0.5, "b": 0.5}).passed


def test_probe_counts_unanswered_requests_apart_and_judges_the_answered_ones():
    from netlab.probe import judge
    expected = {"10.244.1.2:80": 0.5, "10.244.2.2:80": 0.5}
    hits = {"10.244.1.2:80": 497, "10.244.2.2:80": 492, "(no answer: timed out)": 11}
    fit, failed = judge(hits, expected, affinity=False)
    assert failed == 11 and fit.passed and fit.statistic < 1      # the timeouts are no category
    skewed, _ = judge({"10.244.1.2:80": 900, "10.244.2.2:80": 100}, expected, affinity=False)
    assert not skewed.passed
    assert judge({"(no answer: connection refused)": 5}, expected, affinity=False) == (None, 5)
    assert judge(hits, expected, affinity=True)[0] is None
