"""The figures of page 02b (claim C2 by multi-view data, ``claims.multi_view``): how close each
student stays to its teacher, same-init against fresh."""

from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd
from matplotlib.figure import Figure


def staying(checks: pd.DataFrame) -> Figure:
    """Per seed, each student's test agreement with its teacher and the loss barrier between
    them, same-init against fresh, per setting."""
    fig, (ax_a, ax_b) = plt.subplots(1, 2, figsize=(10, 3.6))
    for i, (setting, group) in enumerate(checks.groupby("setting", sort=False)):
        ax_a.scatter(group.fresh_agreement, group.same_init_agreement, color=f"C{i}", s=18,
                     label=setting)
        ax_b.scatter(group.fresh_barrier, group.same_init_barrier, color=f"C{i}", s=18)
    for ax, what in ((ax_a, "test agreement with the teacher (%)"),
                     (ax_b, "loss barrier to the teacher (nats)")):
        low, high = ax.get_xlim()
        ax.plot([low, high], [low, high], color="0.5", lw=0.8, ls="--")
        ax.set_xlabel(f"fresh student: {what}", fontsize=8)
        ax.set_ylabel(f"same-init student: {what}", fontsize=8)
    ax_a.legend(fontsize=7)
    fig.tight_layout()
    return fig
