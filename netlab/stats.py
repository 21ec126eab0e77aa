"""Is traffic spread as kube-proxy's rules say it should be? A chi-square goodness-of-fit test."""

from __future__ import annotations

import math
from dataclasses import dataclass


def _lower_gamma_regularized(a: float, x: float) -> float:
    """P(a, x), the regularized lower incomplete gamma function (Numerical Recipes gser/gcf)."""
    if x <= 0:
        return 0.0
    if x < a + 1:
        term = total = 1.0 / a
        n = a
        for _ in range(10000):
            n += 1
            term *= x / n
            total += term
            if abs(term) < abs(total) * 1e-15:
                break
        return total * math.exp(-x + a * math.log(x) - math.lgamma(a))
    # continued fraction for Q(a, x), then P = 1 - Q
    b = x + 1 - a
    c = 1e300
    d = 1 / b
    h = d
    for i in range(1, 10000):
        an = -i * (i - a)
        b += 2
        d = an * d + b
        d = 1e-300 if abs(d) < 1e-300 else d
        c = b + an / c
        c = 1e-300 if abs(c) < 1e-300 else c
        d = 1 / d
        delta = d * c
        h *= delta
        if abs(delta - 1) < 1e-15:
            break
    return 1.0 - math.exp(-x + a * math.log(x) - math.lgamma(a)) * h


def chi_square_p_value(statistic: float, dof: int) -> float:
    """P(X >= statistic) for a chi-square distribution with DOF degrees of freedom."""
    if dof <= 0:
        return 1.0
    return max(0.0, 1.0 - _lower_gamma_regularized(dof / 2.0, statistic / 2.0))


@dataclass
class Fit:
    statistic: float
    dof: int
    p_value: float
    alpha: float

    @property
    def passed(self) -> bool:
        return self.p_value >= self.alpha


def goodness_of_fit(observed: dict, expected_share: dict, alpha: float = 0.001) -> Fit:
    """Chi-square test of OBSERVED counts against EXPECTED_SHARE (fractions summing to 1)."""
    total = sum(observed.values())
    statistic = 0.0
    for key, share in expected_share.items():
        expected = total * share
        if expected > 0:
            statistic += (observed.get(key, 0) - expected) ** 2 / expected
    unexpected = sum(v for k, v in observed.items() if k not in expected_share)
    if unexpected:
        statistic = math.inf
    dof = max(0, len([s for s in expected_share.values() if s > 0]) - 1)
    p_value = 0.0 if statistic == math.inf else chi_square_p_value(statistic, dof)
    return Fit(statistic=statistic, dof=dof, p_value=p_value, alpha=alpha)
