import math

import pytest

from sdcore.engine.stats import mean_ci


def test_t_interval_of_three_values():
    mean, lo, hi = mean_ci([1.0, 2.0, 3.0])
    half = 4.302652729911275 * 1.0 / math.sqrt(3)  # t(0.975, 2) * sd / sqrt(n)
    assert (mean, lo, hi) == pytest.approx((2.0, 2.0 - half, 2.0 + half))


def test_single_value_has_no_interval():
    mean, lo, hi = mean_ci([0.5])
    assert mean == 0.5 and math.isnan(lo) and math.isnan(hi)


import numpy as np  # noqa: E402

from sdcore.engine.stats import (
    equivalence,
    holm,
    minimum_detectable_effect,
    no_better,
    seeds_for,
    t_test_p,
)


def around(center: float, spread: float, n: int = 10) -> list[float]:
    """``n`` values with the given mean and a fixed, symmetric spread."""
    return list(center + spread * np.linspace(-1, 1, n))


@pytest.mark.parametrize("differences, outcome", [
    (around(0.0, 0.05), "equivalent"),  # tightly around 0: within ±0.5
    (around(2.0, 0.1), "different"),  # far from 0, and outside the margin
    (around(0.0, 3.0), "undecided"),  # too noisy to say either
    (around(0.3, 0.05), "equivalent"),  # non-zero, but within the margin: equivalent wins
    ([0.2], "undecided"),
])
def test_two_one_sided_tests_give_each_outcome(differences, outcome):
    assert equivalence(differences, margin=0.5)[0] == outcome


def test_tost_p_value_is_the_larger_one_sided_p():
    diffs = around(0.1, 0.4, 8)
    _, p = equivalence(diffs, 0.5)
    mean, sem = np.mean(diffs), np.std(diffs, ddof=1) / math.sqrt(8)
    from scipy import stats
    expected = max(stats.t.sf((mean + 0.5) / sem, 7), stats.t.cdf((mean - 0.5) / sem, 7))
    assert p == pytest.approx(expected)


@pytest.mark.parametrize("differences, outcome", [
    (around(0.0, 0.1), "no better"),
    (around(2.0, 0.1), "better"),
    (around(0.3, 3.0), "undecided"),
])
def test_no_better_gives_each_outcome(differences, outcome):
    assert no_better(differences, margin=0.5) == outcome


def test_holm_steps_down_and_stops_at_the_first_failure():
    assert holm([0.01, 0.04, 0.03, 0.5]) == [True, False, False, False]
    assert holm([0.01, 0.012, 0.02, 0.04]) == [True, True, True, True]
    assert holm([0.2, float("nan"), 0.001]) == [False, False, True]


@pytest.mark.parametrize("n", [3, 12])
def test_minimum_detectable_effect_has_its_power_in_simulated_t_tests(n):
    """At the returned effect, two-sided t-tests of n draws reject at 80%, where the shortcut
    formula's effect (smaller, most of all at 3 seeds) rejects less often."""
    from scipy import stats
    effect = minimum_detectable_effect(1.0, n)
    shortcut = (stats.t.ppf(0.975, n - 1) + stats.t.ppf(0.8, n - 1)) / math.sqrt(n)
    draws = np.random.default_rng(0).normal(size=(100_000, n))
    p = stats.ttest_1samp(draws + effect, 0.0, axis=1).pvalue
    assert (p < 0.05).mean() == pytest.approx(0.8, abs=0.005)
    assert effect > shortcut and (effect / shortcut > 1.04 if n == 3 else effect / shortcut < 1.01)
    assert math.isnan(minimum_detectable_effect(1.0, 1))
    assert seeds_for(1.0, effect) == n and minimum_detectable_effect(1.0, n - 1) > effect


def test_t_test_p_value():
    assert t_test_p(around(5.0, 0.1)) < 1e-6 and t_test_p(around(0.0, 1.0)) == pytest.approx(1.0)


def test_partial_kendall_removes_what_a_common_cause_explains():
    """x and y both follow z: they correlate, but given z little is left; the formula is
    Kendall's (1942) on the three pairwise τ."""
    from scipy import stats

    from sdcore.engine.stats import partial_kendall, rank_bootstrap
    rng = np.random.default_rng(0)
    z = rng.normal(size=200)
    x, y = z + 0.3 * rng.normal(size=200), z + 0.3 * rng.normal(size=200)
    tau = lambda a, b: stats.kendalltau(a, b).statistic  # noqa: E731
    expected = (tau(x, y) - tau(x, z) * tau(y, z)) / math.sqrt(
        (1 - tau(x, z) ** 2) * (1 - tau(y, z) ** 2))
    assert partial_kendall(x, y, z) == pytest.approx(expected)
    assert tau(x, y) > 0.5 and abs(partial_kendall(x, y, z)) < tau(x, y) / 2
    estimate, low, high = rank_bootstrap(x, y, method="kendall", given=z, resamples=300)
    assert estimate == pytest.approx(expected) and low < estimate < high
    with pytest.raises(ValueError, match="partial correlation"):
        rank_bootstrap(x, y, given=z)


def test_p_values_below_a_thousandth_are_not_written_as_zero():
    from sdcore.engine.stats import p_text

    assert p_text(0.0004, "one-sided") == "one-sided p < 0.001"
    assert p_text(0.0123) == "p = 0.012"
