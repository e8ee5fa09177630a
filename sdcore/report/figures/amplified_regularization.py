"""The figures of page 02a (claim C2 by amplified regularization,
``claims.amplified_regularization``): kernel ridge self-distillation round by round, and the
chains' measures by generation."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from ...engine.stats import mean_ci
from .common import setting_panels


def kernel_rounds(study) -> Figure:
    """Kernel ridge self-distillation (an ``amplified_regularization.KernelStudy``): the fitted
    functions, the test error by round, and every eigen-direction's cumulative shrinkage."""
    p, table = study.problem, study.table()
    best = int(table.test_mse_pure.idxmin())
    last = len(table)
    fig, (ax_f, ax_e, ax_s) = plt.subplots(1, 3, figsize=(15, 3.8))
    ax_f.plot(p.x_test, p.y_test, color="k", lw=1, ls="--", label="sin(2πx), the truth")
    ax_f.scatter(p.x, p.y, color="k", s=18, zorder=3, label="noisy training points")
    for t, color in ((1, "C0"), (best, "C2"), (last, "C3")):
        ax_f.plot(p.x_test, study.pure.test_pred[t - 1], color=color, label=f"round {t}")
    ax_f.plot(p.x_test, study.mixed.test_pred[-1], color="C1", ls=":",
              label=f"round {last}, ground truth mixed in")
    ax_f.set_xlabel("x")
    ax_f.set_title("fitted functions (pure self-distillation unless marked)", fontsize=10)
    ax_f.legend(fontsize=7)
    ax_e.plot(table.index, table.test_mse_pure, "o-", ms=3, label="pure")
    ax_e.plot(table.index, table.test_mse_mixed, "s-", ms=3, label=f"mix = {study.mix}")
    ax_e.set_xlabel("round")
    ax_e.set_ylabel("test MSE against the truth")
    ax_e.set_title("first better, then worse", fontsize=10)
    ax_e.legend(fontsize=8)
    rounds = np.arange(0, last + 1)
    for k, (d, s) in enumerate(zip(study.basis.eigenvalues, study.basis.shrinkage)):
        ax_s.semilogy(rounds, s ** rounds, color=plt.cm.viridis(k / len(study.basis.shrinkage)),
                      label=f"λ = {d:.2g}" if k in (0, len(study.basis.shrinkage) - 1) else None)
    ax_s.set_xlabel("round")
    ax_s.set_ylabel("coefficient kept, (d/(d+c))^t")
    ax_s.set_title("per eigen-direction: small eigenvalues go first", fontsize=10)
    ax_s.legend(fontsize=8)
    fig.tight_layout()
    return fig


def by_variant(table: pd.DataFrame, columns: dict[str, str]) -> Figure:
    """Per setting, each of ``columns`` (column: label) by generation for every chain variant:
    means with 95% intervals, each seed's chain faint."""
    fig, panels = setting_panels(table, columns, 4.6, 3.6)
    for setting, rows, column, label, ax in panels:
        for i, (variant, group) in enumerate(rows.groupby("variant", sort=False)):
            color, shift = f"C{i}", (i - 1.5) * 0.06
            for _, chain in group.groupby("seed"):
                chain = chain.sort_values("generation")
                ax.plot(chain.generation + shift, chain[column], color=color, alpha=0.2, lw=0.7)
            stats = [(g, *mean_ci(v.tolist())) for g, v in group.groupby("generation")[column]]
            g, mean, lo, hi = map(np.array, zip(*stats))
            ax.errorbar(g + shift, mean, yerr=[mean - np.nan_to_num(lo, nan=mean),
                                               np.nan_to_num(hi, nan=mean) - mean],
                        fmt="o-", color=color, capsize=3, ms=4, label=variant)
        ax.set_xlabel("generation (0: teacher)")
        ax.set_ylabel(label)
        ax.set_title(setting, fontsize=9)
        if column == next(iter(columns)):
            ax.legend(fontsize=7)
    fig.tight_layout()
    return fig
