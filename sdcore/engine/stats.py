"""The one paired analysis every claim uses: differences paired by seed, t-intervals, verdicts.

A claim compares conditions (a student and its teacher, a model and an ensemble) that share a seed,
so the seed-to-seed spread cancels out of their difference. ``paired_differences`` takes a long
table (one row per model) and gives, per group and comparison, the mean difference over seeds with
a Student-t interval (``scipy.stats``); ``three_way`` turns intervals into a verdict. Cost: trivial.
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np
import pandas as pd
from scipy import stats

VERDICTS = ("holds", "fails", "inconclusive")


def mean_ci(values: Sequence[float], level: float = 0.95) -> tuple[float, float, float]:
    """Mean and the two-sided Student-t interval; (mean, nan, nan) for a single value."""
    values = np.asarray(values, dtype=float)
    if len(values) == 0:
        raise ValueError("mean_ci needs at least one value")
    mean = float(values.mean())
    if len(values) == 1:
        return mean, math.nan, math.nan
    sem = float(stats.sem(values))
    if sem == 0:  # all values equal: no spread, the interval is the point
        return mean, mean, mean
    low, high = stats.t.interval(level, len(values) - 1, loc=mean, scale=sem)
    return mean, float(low), float(high)


def paired_differences(table: pd.DataFrame, value: str, condition: str,
                       comparisons: dict[str, tuple], by: Sequence[str]) -> pd.DataFrame:
    """Per group of ``by`` and per comparison ``name: (a, b)``: ``value`` of condition ``a`` minus
    that of ``b``, paired by ``seed``; its mean over seeds with a 95% interval, the number of seeds
    and of positive and negative differences, and the mean of ``b`` (the baseline). Comparisons
    whose conditions a group lacks are left out."""
    rows = []
    for keys, group in table.groupby(list(by), sort=False):
        keys = keys if isinstance(keys, tuple) else (keys,)
        wide = group.pivot(index="seed", columns=condition, values=value)
        for name, (a, b) in comparisons.items():
            if a not in wide.columns or b not in wide.columns:
                continue
            diffs = (wide[a] - wide[b]).dropna()
            mean, low, high = mean_ci(diffs.tolist())
            rows.append({**dict(zip(by, keys)), "comparison": name, "seeds": len(diffs),
                         "difference": mean, "ci_low": low, "ci_high": high,
                         "positive": int((diffs > 0).sum()), "negative": int((diffs < 0).sum()),
                         "baseline": float(wide[b].mean())})
    return pd.DataFrame(rows)


def three_way(lows: Sequence[float], highs: Sequence[float], sign: int = 1,
              need: str = "all") -> str:
    """A verdict from 95% intervals, for a claim that the quantity has the sign ``sign``.

    ``need="all"``: holds if every interval lies wholly on the claimed side of 0, fails if some
    lies wholly on the other. ``need="any"`` (a counterexample suffices): holds if some interval
    lies wholly on the claimed side, fails if every one lies wholly on the other. Inconclusive
    otherwise, and for a missing (single-seed) interval.
    """
    if need not in ("all", "any"):
        raise ValueError(f"need must be 'all' or 'any', got {need!r}")
    lows, highs = np.asarray(lows, dtype=float), np.asarray(highs, dtype=float)
    claimed = (lows > 0) if sign > 0 else (highs < 0)
    against = (highs < 0) if sign > 0 else (lows > 0)
    if len(lows) == 0:
        return "inconclusive"
    if need == "all":
        return "fails" if against.any() else "holds" if claimed.all() else "inconclusive"
    return "holds" if claimed.any() else "fails" if against.all() else "inconclusive"


def spearman_bootstrap(x: np.ndarray, y: np.ndarray, resamples: int = 2000,
                       seed: int = 0) -> tuple[float, float, float]:
    """Spearman's ρ with a 95% percentile bootstrap interval (resampling the pairs)."""
    rho = float(stats.spearmanr(x, y).statistic)
    rng = np.random.default_rng(seed)
    boot = []
    for _ in range(resamples):
        idx = rng.integers(0, len(x), len(x))
        if len(np.unique(x[idx])) > 1 and len(np.unique(y[idx])) > 1:
            boot.append(stats.spearmanr(x[idx], y[idx]).statistic)
    if len(boot) < resamples / 2:
        return rho, math.nan, math.nan
    low, high = np.percentile(boot, [2.5, 97.5])
    return rho, float(low), float(high)
