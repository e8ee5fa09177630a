"""The figures of page 03 (claims C3 and C4 by the Hessian, ``claims.flatter_minima``): the
curvature measures by role, and the Hessian's spectral densities."""

from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd
from matplotlib.figure import Figure

from ...engine.stats import mean_ci
from .common import errbar, note, roles_in, setting_panels


def by_role(table: pd.DataFrame, columns: dict[str, str]) -> Figure:
    """Each of ``columns`` (column: label) for every measured model by role, per setting: each
    seed's models as a grey line, each role's mean with its 95% interval."""
    fig, panels = setting_panels(table, columns, 3.8, 3.4)
    for setting, rows, column, label, ax in panels:
        present = [r for r in roles_in(rows) if rows[rows.role == r][column].notna().any()]
        wide = rows.pivot(index="seed", columns="role", values=column)[present]
        for _, seed_row in wide.iterrows():
            ax.plot(range(len(present)), seed_row.values, "o-", color="0.6", alpha=0.5, lw=1,
                    ms=3)
        for i, role in enumerate(present):
            mean, lo, hi = mean_ci(wide[role].dropna().tolist())
            ax.errorbar(i, mean, yerr=errbar(lo, mean, hi), fmt="D", color="C0", capsize=4)
        ax.set_xticks(range(len(present)), [r.replace(" ", "\n", 1) for r in present],
                      fontsize=7)
        ax.set_ylabel(label)
        ax.set_title(f"{setting} (grey: seeds)" if column == next(iter(columns)) else "",
                     fontsize=9)
    fig.tight_layout()
    return fig


def spectral_densities(densities: dict) -> Figure:
    """The eigenvalue densities of each chain's models overlaid (log scale, as is usual)."""
    if not densities:
        return note("no spectral densities requested (density_seeds is 0)")
    chains = list(dict.fromkeys(k[:2] for k in densities))
    fig, axes = plt.subplots(1, len(chains), figsize=(5.5 * len(chains), 3.6), squeeze=False)
    for (setting, seed), ax in zip(chains, axes[0]):
        for key in sorted(k for k in densities if k[:2] == (setting, seed)):
            d = densities[key]
            ax.semilogy(d.grid.numpy(), d.values.numpy() + 1e-7, label=key[2], lw=1.2)
        ax.set_xlabel("eigenvalue")
        ax.set_ylabel("density")
        ax.set_ylim(bottom=1e-6)
        ax.set_title(f"{setting} · seed {seed}")
        ax.legend(fontsize=8)
    fig.tight_layout()
    return fig
