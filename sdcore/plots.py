"""Figures for the book; each function takes analysis tables and returns a matplotlib Figure."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from .stats import mean_ci


def _error(lo: float, mean: float, hi: float) -> list[list[float]]:
    return [[mean - lo if np.isfinite(lo) else 0.0], [hi - mean if np.isfinite(hi) else 0.0]]


def accuracy_by_generation(table: pd.DataFrame, gains: pd.DataFrame) -> Figure:
    """Per setting: test accuracy by generation (seeds as points joined by a line, mean with 95%
    interval), and each generation's paired gain over its own teacher with its interval."""
    settings = list(table.groupby(["dataset", "model"], sort=False).groups)
    fig, axes = plt.subplots(len(settings), 2, figsize=(10, 3.6 * len(settings)), squeeze=False)
    for (dataset, model), (ax_acc, ax_gain) in zip(settings, axes):
        rows = table[(table.dataset == dataset) & (table.model == model)]
        for seed, chain in rows.groupby("seed"):
            chain = chain.sort_values("generation")
            ax_acc.plot(chain.generation, chain.test_acc, "o-", color="0.6", alpha=0.6, lw=1,
                        ms=4, label="one seed" if seed == rows.seed.min() else None)
        for g, accs in rows.groupby("generation").test_acc:
            mean, lo, hi = mean_ci(accs.tolist())
            ax_acc.errorbar(g, mean, yerr=_error(lo, mean, hi), fmt="D", color="C0", capsize=5,
                            ms=7, label="mean, 95% CI" if g == 0 else None)
        generations = sorted(rows.generation.unique())
        ax_acc.set_xticks(generations, ["teacher" if g == 0 else f"student {g}"
                                        for g in generations])
        ax_acc.set_ylabel("test accuracy (%)")
        ax_acc.set_title(f"{dataset} · {model}")
        ax_acc.legend(loc="best", fontsize=8)

        setting = gains[(gains.dataset == dataset) & (gains.model == model)]
        for _, r in setting.iterrows():
            color = "C2" if r.ci_low > 0 else ("C3" if r.ci_high < 0 else "C1")
            ax_gain.errorbar(r.generation, r.gain, yerr=_error(r.ci_low, r.gain, r.ci_high),
                             fmt="o", color=color, capsize=5, ms=7)
        paired = rows.pivot(index="seed", columns="generation", values="test_acc")
        for g in paired.columns[1:]:
            ax_gain.scatter(np.full(len(paired), g + 0.12), paired[g] - paired[g - 1], s=12,
                            color="0.5", zorder=3)
        ax_gain.axhline(0, color="k", lw=0.8)
        ax_gain.set_xticks(list(setting.generation),
                           [f"student {g}\nvs its teacher" for g in setting.generation])
        ax_gain.set_xlim(0.5, max(setting.generation) + 0.5)
        ax_gain.set_ylabel("gain in test accuracy (pp)")
        ax_gain.set_title("paired gain (grey: seeds; green: CI > 0, red: < 0)")
    fig.tight_layout()
    return fig


def exploration(records: list[dict]) -> Figure:
    """Paired student-minus-teacher gains of each explored setting, with 95% intervals."""
    fig, ax = plt.subplots(figsize=(8, 0.55 * len(records) + 1.2))
    for i, r in enumerate(records):
        lo = r["ci_low"] if r["ci_low"] is not None else r["mean_gain"]
        hi = r["ci_high"] if r["ci_high"] is not None else r["mean_gain"]
        ax.errorbar(r["mean_gain"], i, xerr=[[r["mean_gain"] - lo], [hi - r["mean_gain"]]],
                    fmt="o", color="C2" if lo > 0 else "C0", capsize=4)
        ax.scatter(r["gains"], [i + 0.18] * len(r["gains"]), s=10, color="0.5")
    ax.axvline(0, color="k", lw=0.8)
    ax.set_yticks(range(len(records)), [r["setting"] for r in records])
    ax.invert_yaxis()
    ax.set_xlabel("student − teacher test accuracy (pp), mean and 95% CI; grey: seeds")
    fig.tight_layout()
    return fig
