"""The paired analysis every claim uses: differences paired by seed, intervals, tests, verdicts.

A claim compares conditions (a student and its teacher, a model and an ensemble) that share a seed:
the same data and, for a student, its own teacher. Pairing removes what the two share; it does not
remove the seed-to-seed spread of each run (a student has its own initialization and data order),
so the paired difference still carries both runs' noise, and the interval over seeds measures it.
``paired_differences`` takes a long table (one row per model) and gives, per group and comparison,
the mean difference over seeds with a Student-t interval (``scipy.stats``); ``three_way`` turns
intervals into a verdict; ``no_better`` and ``equivalence`` test a difference against a stated
margin (a one-sided bound, and two one-sided tests); ``holm`` corrects a family of p-values;
``minimum_detectable_effect`` is the smallest mean difference a paired t-test detects with 80%
power (noncentral t), ``seeds_for`` the seeds that bring it down to a given effect;
``partial_kendall`` is Kendall's τ given a third variable; ``rank_bootstrap`` gives a rank
correlation (or a partial one) with an interval that resamples clusters.
Cost: trivial (2,000 resamples per bootstrap).
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np
import pandas as pd
from scipy import optimize, stats

VERDICTS = ("holds", "fails", "inconclusive", "mixed")  # mixed: measures that disagree


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


def partial_kendall(x: np.ndarray, y: np.ndarray, z: np.ndarray) -> float:
    """Kendall's τ of ``x`` and ``y`` given ``z``: (τxy − τxz·τyz) / √((1 − τxz²)(1 − τyz²))
    (Kendall 1942), what is left of their association once each is read against ``z``."""
    xy, xz, yz = (float(stats.kendalltau(a, b).statistic) for a, b in ((x, y), (x, z), (y, z)))
    denominator = math.sqrt(max(0.0, (1 - xz ** 2) * (1 - yz ** 2)))
    return (xy - xz * yz) / denominator if denominator > 0 else math.nan


def rank_bootstrap(x: Sequence[float], y: Sequence[float], clusters: Sequence | None = None,
                   level: float = 0.95, method: str = "spearman", resamples: int = 2000,
                   seed: int = 0, given: Sequence[float] | None = None
                   ) -> tuple[float, float, float]:
    """A rank correlation of ``x`` and ``y`` (Spearman's ρ or Kendall's τ; with ``given``, the
    partial Kendall τ given it) with a percentile bootstrap interval at ``level``. The bootstrap
    resamples ``clusters`` (say the seeds, whose teacher and student are not independent
    points), each with all its points, or the points themselves. (nan, nan) when too few
    resamples vary."""
    if method not in ("spearman", "kendall"):
        raise ValueError(f"method must be spearman or kendall, got {method!r}")
    if given is not None and method != "kendall":
        raise ValueError("a partial correlation (given) is Kendall's τ here")
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    z = None if given is None else np.asarray(given, dtype=float)
    if len(np.unique(x)) < 2 or len(np.unique(y)) < 2:
        return math.nan, math.nan, math.nan  # a constant has no rank correlation
    correlate = stats.spearmanr if method == "spearman" else stats.kendalltau

    def statistic(idx: np.ndarray) -> float:
        if z is not None:
            return partial_kendall(x[idx], y[idx], z[idx])
        return float(correlate(x[idx], y[idx]).statistic)

    groups = np.arange(len(x)) if clusters is None else np.asarray(clusters)
    members = [np.flatnonzero(groups == g) for g in np.unique(groups)]
    estimate = statistic(np.arange(len(x)))
    rng = np.random.default_rng(seed)
    boot = []
    for _ in range(resamples):
        idx = np.concatenate([members[i] for i in rng.integers(0, len(members), len(members))])
        if len(np.unique(x[idx])) > 1 and len(np.unique(y[idx])) > 1:
            value = statistic(idx)
            if not math.isnan(value):
                boot.append(value)
    if len(boot) < resamples / 2:
        return estimate, math.nan, math.nan
    tail = 100 * (1 - level) / 2
    low, high = np.percentile(boot, [tail, 100 - tail])
    return estimate, float(low), float(high)


def t_interval(values: Sequence[float], level: float) -> tuple[float, float]:
    """The two-sided Student-t interval of the mean at ``level`` (nan, nan for a single value)."""
    _, low, high = mean_ci(values, level)
    return low, high


def no_better(differences: Sequence[float], margin: float) -> str:
    """Whether a condition is *no better* than its baseline by more than ``margin``, from paired
    ``differences`` (condition − baseline): ``no better`` if the one-sided 95% upper bound of the
    mean (the 90% interval's upper end) lies below ``margin``; ``better`` if the 95% interval
    lies wholly above 0; ``undecided`` otherwise."""
    if margin <= 0:
        raise ValueError(f"margin must be > 0, got {margin}")
    _, high90 = t_interval(differences, 0.90)
    low95, _ = t_interval(differences, 0.95)
    if high90 < margin:
        return "no better"
    return "better" if low95 > 0 else "undecided"


def equivalence(differences: Sequence[float], margin: float, alpha: float = 0.05
                ) -> tuple[str, float]:
    """Two one-sided tests (TOST) of a mean paired difference against ±``margin``: the outcome
    and the TOST p-value (the larger of the two one-sided p-values). ``equivalent`` if p <
    ``alpha`` (the 1 − 2α interval lies within ±margin); ``different`` if the two-sided 1 − α
    t-test rejects 0 and the difference is not equivalent; ``undecided`` otherwise."""
    if margin <= 0:
        raise ValueError(f"margin must be > 0, got {margin}")
    values = np.asarray(differences, dtype=float)
    if len(values) < 2:
        return "undecided", math.nan
    mean, sem, df = float(values.mean()), float(stats.sem(values)), len(values) - 1
    if sem == 0:
        p = 0.0 if abs(mean) < margin else 1.0
        return ("equivalent" if p < alpha else "different" if mean != 0 else "undecided"), p
    p_lower = float(stats.t.sf((mean + margin) / sem, df))  # H0: mean ≤ -margin
    p_upper = float(stats.t.cdf((mean - margin) / sem, df))  # H0: mean ≥ +margin
    p = max(p_lower, p_upper)
    if p < alpha:
        return "equivalent", p
    low, high = t_interval(values, 1 - alpha)
    return ("different" if low > 0 or high < 0 else "undecided"), p


def t_test_p(differences: Sequence[float]) -> float:
    """The two-sided p-value of a one-sample t-test of mean 0 (nan for fewer than two values)."""
    values = np.asarray(differences, dtype=float)
    if len(values) < 2:
        return math.nan
    if float(stats.sem(values)) == 0:
        return 0.0 if values.mean() != 0 else 1.0
    return float(stats.ttest_1samp(values, 0.0).pvalue)


def holm(p_values: Sequence[float], alpha: float = 0.05) -> list[bool]:
    """Holm's step-down correction: which of ``p_values`` are rejected with the family-wise
    error rate kept at ``alpha`` (nan never rejects)."""
    p = np.asarray(p_values, dtype=float)
    order = np.argsort(np.where(np.isnan(p), np.inf, p))
    rejected = [False] * len(p)
    for rank, i in enumerate(order):
        if np.isnan(p[i]) or p[i] > alpha / (len(p) - rank):
            break
        rejected[i] = True
    return rejected


def minimum_detectable_effect(sd: float, n: int, power: float = 0.8,
                              alpha: float = 0.05) -> float:
    """The smallest mean paired difference a two-sided one-sample t-test at ``alpha`` detects
    with ``power`` over ``n`` seeds of spread ``sd``, solved from the noncentral t distribution
    of the test statistic (the shortcut (t_{1−α/2} + t_{power})·sd/√n understates it, by about 5%
    at 3 seeds); nan below two seeds or without spread."""
    if n < 2 or not sd > 0:
        return math.nan
    df, scale = n - 1, sd / math.sqrt(n)
    critical = stats.t.ppf(1 - alpha / 2, df)

    def shortfall(effect: float) -> float:
        shift = effect / scale  # the far tail's term is 0 where scipy's nct gives nan
        far = np.nan_to_num(stats.nct.cdf(-critical, df, shift))
        return stats.nct.sf(critical, df, shift) + far - power

    high = (critical + stats.t.ppf(power, df)) * scale  # the shortcut: a lower bound
    while shortfall(high) < 0:
        high *= 1.25
    return float(optimize.brentq(shortfall, 0.0, high, xtol=1e-10))


def seeds_for(sd: float, effect: float, power: float = 0.8, alpha: float = 0.05,
              most: int = 100) -> int:
    """The fewest seeds whose ``minimum_detectable_effect`` at spread ``sd`` is at most
    ``effect`` (``most`` if none up to it is)."""
    return next((n for n in range(2, most) if minimum_detectable_effect(sd, n, power, alpha)
                 <= effect), most)


def one_sided_p(differences: Sequence[float], greater: bool, shift: float = 0.0) -> float:
    """The one-sided t-test p-value that the mean of ``differences`` exceeds ``shift``
    (``greater``) or lies below it (nan for fewer than two values)."""
    values = np.asarray(differences, dtype=float) - shift
    if len(values) < 2:
        return math.nan
    sem = float(stats.sem(values))
    if sem == 0:
        return 0.0 if (values.mean() > 0) == greater and values.mean() != 0 else 1.0
    t = float(values.mean()) / sem
    return float(stats.t.sf(t, len(values) - 1) if greater else stats.t.cdf(t, len(values) - 1))


def p_text(p: float, sided: str = "") -> str:
    """A p-value as a sentence writes it: "p < 0.001" below that, else three decimals."""
    name = f"{sided} p".strip()
    return f"{name} < 0.001" if p < 0.001 else f"{name} = {p:.3f}"
