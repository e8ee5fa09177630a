"""The figures of page 01 (claim C1, ``claims.student_beats_teacher`` and its boundary study
``claims.c1_boundary``): the explored settings' gains, the boundary of the claim's scope, and the
temperature × soft-weight sweep, interactive on screen (plotly) and static in print."""

from __future__ import annotations

from dataclasses import dataclass

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import plotly.graph_objects as go
from matplotlib.figure import Figure
from plotly.colors import diverging

from ..interactive import ScreenAndPrint
from .common import errbar, note


def exploration(records: list[dict]) -> Figure:
    """Paired student-minus-teacher gains of each explored setting, with 95% intervals."""
    if not records:
        return note("no exploration results in experiments/results/")
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


def c1_boundary(points: pd.DataFrame) -> Figure:
    """Student − teacher (mean and 95% interval) of every C1 setting measured, against the
    teachers' fit to their training images and against the convergence gap (long teacher −
    teacher); filled: in the claim's scope, hollow: out of it, grey: not decided by the source."""
    if points.empty:
        return note("no C1 settings measured")
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.6), sharey=True)
    sources = list(dict.fromkeys(points.source))
    for ax, x, label in ((axes[0], "teacher_train_acc", "teachers' accuracy on their own "
                          "training images (%)"),
                         (axes[1], "long_minus_teacher", "long teacher − teacher (pp): how "
                          "much twice the training still helps")):
        for k, source in enumerate(sources):
            rows = points[(points.source == source) & points[x].notna()]
            for r in rows.itertuples():
                scope = r.in_scope
                face = ("none" if scope is False else "0.6" if scope is None
                        else f"C{k % 10}")
                ax.errorbar(getattr(r, x), r.gain, yerr=errbar(r.ci_low, r.gain, r.ci_high),
                            fmt="o", mfc=face, color=f"C{k % 10}", capsize=3, ms=6,
                            label=source if r.Index == rows.index[0] else None)
        ax.axhline(0, color="k", lw=0.8)
        ax.set_xlabel(label)
    axes[0].set_ylabel("student − teacher test accuracy (pp), 95% CI")
    axes[0].legend(fontsize=7, loc="best")
    axes[1].set_title("filled: in scope; hollow: out of scope; grey fill: not decided",
                      fontsize=9)
    fig.tight_layout()
    return fig


NO_SWEEP = "no sweep results: run python experiments/sweep_c1_temperature_weight.py"


@dataclass(frozen=True)
class SweepGrid:
    """A temperature × soft-weight sweep laid on its grid: rows are temperatures (ascending),
    columns soft-term weights (ascending)."""

    cells: pd.DataFrame  # one row per cell: temperature, weight_kd, mean_gain, ci_low, ci_high
    temperatures: list[float]
    weights: list[float]
    gains: np.ndarray  # mean gain (pp) of each cell, shape (temperatures, weights)
    bound: float  # the colour scale runs from -bound to +bound
    title: str

    @classmethod
    def of(cls, sweep: dict) -> SweepGrid:
        cells = pd.DataFrame(sweep["cells"])
        grid = cells.pivot(index="temperature", columns="weight_kd", values="mean_gain")
        return cls(cells, sorted(cells.temperature.unique()), sorted(cells.weight_kd.unique()),
                   grid.values, max(0.5, float(np.nanmax(np.abs(grid.values)))),
                   f"{sweep['setting']}, seeds {sweep['seeds'][0]}–{sweep['seeds'][-1]}: "
                   "student − teacher (pp), 95% CI")

    def position(self, cell) -> tuple[int, int]:
        """(row, column) of a row of ``cells``."""
        return self.temperatures.index(cell.temperature), self.weights.index(cell.weight_kd)

    @staticmethod
    def resolved(cell) -> bool:
        """Whether a cell's 95% interval excludes 0."""
        return (cell.ci_low is not None and cell.ci_high is not None
                and (cell.ci_low > 0 or cell.ci_high < 0))

    @staticmethod
    def interval(cell) -> str:
        return f"[{cell.ci_low:+.2f}, {cell.ci_high:+.2f}]"

    @classmethod
    def label(cls, cell, newline: str = "\n") -> str:
        """A cell's mean gain over its 95% interval."""
        return f"{cell.mean_gain:+.2f}{newline}{cls.interval(cell)}"

    @property
    def weight_labels(self) -> list[str]:
        return [f"{w:g}" for w in self.weights]

    @property
    def temperature_labels(self) -> list[str]:
        return [f"{t:g}" for t in self.temperatures]


SWEEP_AXES = ("weight of the soft term (label term: 1 − weight)", "temperature T")


def sweep_heatmap_print(sweep: dict) -> Figure:
    """The mean paired gain (student − teacher, pp) of every temperature × soft-weight cell of a
    sweep, with its 95% interval written in the cell; cells whose interval excludes 0 framed."""
    if not sweep:
        return note(NO_SWEEP)
    grid = SweepGrid.of(sweep)
    fig, ax = plt.subplots(figsize=(1.9 * len(grid.weights) + 2.4,
                                    1.1 * len(grid.temperatures) + 1.6))
    image = ax.imshow(grid.gains, cmap="RdBu", vmin=-grid.bound, vmax=grid.bound, aspect="auto")
    for cell in grid.cells.itertuples():
        i, j = grid.position(cell)
        resolved = grid.resolved(cell)
        ax.text(j, i, grid.label(cell), ha="center", va="center", fontsize=8,
                fontweight="bold" if resolved else "normal")
        if resolved:
            ax.add_patch(plt.Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, lw=2, color="k"))
    ax.set_xticks(range(len(grid.weights)), grid.weight_labels)
    ax.set_yticks(range(len(grid.temperatures)), grid.temperature_labels)
    ax.set_xlabel(SWEEP_AXES[0])
    ax.set_ylabel(SWEEP_AXES[1])
    ax.set_title(grid.title, fontsize=10)
    fig.colorbar(image, ax=ax, shrink=0.85, label="mean gain (pp)")
    fig.tight_layout()
    return fig


def sweep_heatmap(sweep: dict) -> ScreenAndPrint | Figure:
    """``sweep_heatmap_print`` with a heatmap to explore: each cell's gain, interval and seeds'
    gains on hover; cells whose interval excludes 0 framed. Without a sweep, its note."""
    if not sweep:
        return note(NO_SWEEP)
    grid = SweepGrid.of(sweep)
    at = {grid.position(c): c for c in grid.cells.itertuples()}
    rows, cols = range(len(grid.temperatures)), range(len(grid.weights))
    labels = [[grid.label(at[i, j], "<br>") if (i, j) in at else "" for j in cols] for i in rows]
    details = [[[grid.interval(at[i, j]), ", ".join(f"{g:+.2f}" for g in at[i, j].gains)]
                if (i, j) in at else ["", ""] for j in cols] for i in rows]
    fig = go.Figure(go.Heatmap(
        z=grid.gains, x=grid.weight_labels, y=grid.temperature_labels, zmin=-grid.bound,
        zmax=grid.bound, colorscale=diverging.RdBu, text=labels, texttemplate="%{text}",
        customdata=details, colorbar={"title": {"text": "mean gain (pp)"}},
        hovertemplate=("T = %{y}, soft weight %{x}<br>mean gain %{z:+.2f} pp, "
                       "95% CI %{customdata[0]}<br>seeds' gains: %{customdata[1]}"
                       "<extra></extra>")))
    for cell in grid.cells.itertuples():
        if grid.resolved(cell):
            i, j = grid.position(cell)
            fig.add_shape(type="rect", x0=j - 0.5, x1=j + 0.5, y0=i - 0.5, y1=i + 0.5,
                          line={"color": "black", "width": 3})
    fig.update_layout(title={"text": grid.title, "font": {"size": 13}}, template="plotly_white",
                      height=140 + 90 * len(grid.temperatures),
                      xaxis={"title": {"text": SWEEP_AXES[0]}, "type": "category"},
                      yaxis={"title": {"text": SWEEP_AXES[1]}, "type": "category",
                             "autorange": "reversed"})
    return ScreenAndPrint(fig, sweep_heatmap_print(sweep),
                          "mean paired gain of each temperature and soft-term weight")
