"""Mean ± standard deviation over seeds and the paired t-test, as the DiffuRecSys paper reports them.

Written out here rather than imported, so that recdiff needs no SciPy: the two-sided p-value
of Student's t is the regularised incomplete beta function I_x(df/2, 1/2) at
x = df / (df + t^2), evaluated with its continued fraction (Lentz's method).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

MAX_TERMS = 300
TINY = 1e-300
EPS = 1e-15


def mean_std(values: Sequence[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (n - 1 in the denominator; 0 for a single value)."""
    n = len(values)
    if n == 0:
        raise ValueError("no values")
    mean = sum(values) / n
    if n == 1:
        return mean, 0.0
    return mean, math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1))


def _beta_fraction(a: float, b: float, x: float) -> float:
    """Continued fraction of the incomplete beta function (modified Lentz)."""
    c, d = 1.0, 1.0 - (a + b) * x / (a + 1.0)
    d = 1.0 / (d if abs(d) > TINY else TINY)
    result = d
    for m in range(1, MAX_TERMS + 1):
        for numerator in (
            m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m)),
            -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1)),
        ):
            d = 1.0 + numerator * d
            d = 1.0 / (d if abs(d) > TINY else TINY)
            c = 1.0 + numerator / c
            c = c if abs(c) > TINY else TINY
            result *= c * d
        if abs(c * d - 1.0) < EPS:
            break
    return result


def incomplete_beta(a: float, b: float, x: float) -> float:
    """Regularised incomplete beta I_x(a, b) for a, b > 0 and 0 <= x <= 1."""
    if not 0.0 <= x <= 1.0:
        raise ValueError(f"x must be in [0, 1], got {x}")
    if x in (0.0, 1.0):
        return x
    log_front = math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    if x < (a + 1.0) / (a + b + 2.0):
        return math.exp(log_front) * _beta_fraction(a, b, x) / a
    return 1.0 - math.exp(log_front) * _beta_fraction(b, a, 1.0 - x) / b


def t_two_sided_p(t: float, df: int) -> float:
    """P(|T| >= |t|) for Student's t with ``df`` degrees of freedom."""
    if df < 1:
        raise ValueError(f"degrees of freedom must be at least 1, got {df}")
    if math.isinf(t):
        return 0.0
    return incomplete_beta(df / 2.0, 0.5, df / (df + t * t))


MIN_PAIRS = 3
"""Fewest pairs given a t and p: with two, one degree of freedom makes any p-value meaningless."""

ZERO_SPREAD = 1e-9
"""Differences whose standard deviation is below this fraction of their size count as constant (float noise)."""


@dataclass(frozen=True)
class PairedTTest:
    """Paired t-test of ``b - a``: mean difference, t statistic, degrees of freedom, two-sided p.

    ``t`` and ``p`` are None when the test is undefined (too few pairs, or differences that do
    not vary), and ``undefined`` then says why in words a report can print.
    """

    mean_difference: float
    t: float | None
    df: int
    p: float | None
    undefined: str | None = None


def paired_t_test(a: Sequence[float], b: Sequence[float]) -> PairedTTest:
    """Paired t-test on matched pairs (a[i], b[i]), e.g. two models trained with the same seeds.

    Fewer than `MIN_PAIRS` pairs, or differences of zero variance (every pair moved by the
    same amount, when t would be a division by float noise), give t and p of None.

    Raises:
        ValueError: No pairs, or sequences of different lengths.
    """
    if len(a) != len(b):
        raise ValueError(f"paired samples need equal lengths, got {len(a)} and {len(b)}")
    if not a:
        raise ValueError("a paired t-test needs at least one pair")
    differences = [y - x for x, y in zip(a, b)]
    mean, std = mean_std(differences)
    df = len(differences) - 1
    if len(differences) < MIN_PAIRS:
        reason = f"only {len(differences)} paired seed(s); a paired t-test needs at least {MIN_PAIRS}"
        return PairedTTest(mean, None, df, None, reason)
    if std <= ZERO_SPREAD * max(abs(d) for d in differences):
        return PairedTTest(mean, None, df, None, "the paired differences have zero variance (every seed moved alike)")
    t = mean / (std / math.sqrt(len(differences)))
    return PairedTTest(mean, t, df, t_two_sided_p(t, df))
