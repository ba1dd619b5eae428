"""Mean ± std and the paired t-test against closed forms and a hand-computed case."""

from __future__ import annotations

import math

import pytest

from recdiff.evaluation.significance import incomplete_beta, mean_std, paired_t_test, t_two_sided_p


@pytest.mark.parametrize("t", [0.0, 0.5, 1.0, 3.0, 30.0])
def test_p_value_matches_closed_forms_for_one_and_two_degrees_of_freedom(t: float) -> None:
    # df = 1 is the Cauchy distribution; df = 2 has F(t) = 1/2 + t / (2 sqrt(2 + t^2))
    assert t_two_sided_p(t, 1) == pytest.approx(1 - 2 / math.pi * math.atan(t), abs=1e-12)
    assert t_two_sided_p(-t, 2) == pytest.approx(1 - t / math.sqrt(2 + t * t), abs=1e-12)


@pytest.mark.parametrize(
    ("t", "df", "p"), [(2.776445, 4, 0.05), (2.228139, 10, 0.05), (4.032143, 5, 0.01), (1.959964, 10**6, 0.05)]
)
def test_p_value_matches_table_critical_values(t: float, df: int, p: float) -> None:
    assert t_two_sided_p(t, df) == pytest.approx(p, rel=1e-4)


def test_incomplete_beta_closed_forms() -> None:
    # I_x(1, 1) = x, I_x(a, 1) = x^a, I_x(1, b) = 1 - (1 - x)^b, symmetry I_x(a, b) = 1 - I_{1-x}(b, a)
    for x in (0.1, 0.5, 0.93):
        assert incomplete_beta(1, 1, x) == pytest.approx(x, abs=1e-12)
        assert incomplete_beta(3.5, 1, x) == pytest.approx(x**3.5, abs=1e-12)
        assert incomplete_beta(1, 2.5, x) == pytest.approx(1 - (1 - x) ** 2.5, abs=1e-12)
        assert incomplete_beta(2.2, 4.1, x) == pytest.approx(1 - incomplete_beta(4.1, 2.2, 1 - x), abs=1e-12)
    with pytest.raises(ValueError):
        incomplete_beta(1, 1, 1.5)


def test_paired_t_test_hand_computed() -> None:
    """Differences 0.010, 0.008, 0.007: mean 0.008333, sd 0.0015275, t = 9.4491 with df = 2,
    two-sided p = 1 - t / sqrt(2 + t^2) = 0.011017 (worked by hand)."""
    result = paired_t_test([0.070, 0.075, 0.072], [0.080, 0.083, 0.079])
    assert result.mean_difference == pytest.approx(0.0083333, abs=1e-6)
    assert result.t == pytest.approx(9.4491, abs=1e-3)
    assert result.df == 2
    assert result.p == pytest.approx(0.011017, abs=1e-5)
    # the order of the groups flips the sign, not the p-value
    flipped = paired_t_test([0.080, 0.083, 0.079], [0.070, 0.075, 0.072])
    assert flipped.t == pytest.approx(-result.t) and flipped.p == pytest.approx(result.p)


def test_paired_t_test_is_undefined_below_three_pairs() -> None:
    # two seeds with the same difference up to float noise gave t = -7.2e14, p = 0.0000 before
    result = paired_t_test([0.0699, 0.0702], [0.0689, 0.0692])
    assert result.t is None and result.p is None and result.df == 1
    assert result.mean_difference == pytest.approx(-0.001)
    assert result.undefined is not None and "at least 3" in result.undefined


def test_paired_t_test_is_undefined_for_differences_without_variance() -> None:
    for a, b in (([0.1, 0.2, 0.3], [0.1, 0.2, 0.3]), ([0.0699, 0.0702, 0.0711], [0.0689, 0.0692, 0.0701])):
        result = paired_t_test(a, b)
        assert result.t is None and result.p is None
        assert result.undefined is not None and "zero variance" in result.undefined
    assert paired_t_test([1.0, 2.0, 3.0], [1.0, 2.0, 3.5]).p is not None  # a varying difference is tested


def test_paired_t_test_refuses_bad_input() -> None:
    with pytest.raises(ValueError, match="equal lengths"):
        paired_t_test([1.0, 2.0], [1.0])
    with pytest.raises(ValueError, match="one pair"):
        paired_t_test([], [])


def test_mean_std_uses_the_sample_deviation() -> None:
    assert mean_std([2.0, 4.0, 6.0]) == pytest.approx((4.0, 2.0))
    assert mean_std([5.0]) == (5.0, 0.0)
