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
