"""Figures and helpers that more than one claim page draws: a note where there is nothing to
draw, every role's accuracy beside the paired comparisons (pages 01 and 02b), the predictions'
outcomes (02a and 02b), the flatness measures' changes and their correlations with accuracy
(03 and 04), and the matplotlib forest plot of the judged effects (the printed side of
``report.interactive.forest``, on every page and the dashboard)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from ...claims.student_beats_teacher import ROLES as C1_ROLES
from ..effects import COLOURS, SIDES, notebook_number

ROLE_ORDER = [*(r for r in C1_ROLES if r != "ensemble"), "SAM teacher", "student of SAM"]


def note(text: str) -> Figure:
    """A small figure that says why there is nothing to draw."""
    fig, ax = plt.subplots(figsize=(8, 0.6))
    ax.text(0.0, 0.5, text, va="center", fontsize=10, color="0.35")
    ax.axis("off")
    return fig


def setting_panels(table: pd.DataFrame, columns: dict[str, str], width: float, height: float
                   ) -> tuple[Figure, list[tuple[str, pd.DataFrame, str, str, Any]]]:
    """A grid of panels, a row per setting of ``table`` and a column per entry of ``columns``
    (column: label), each ``width`` × ``height`` inches; the figure and, per panel, (setting,
    that setting's rows, column, label, axes), row by row."""
    settings = list(table.setting.unique())
    fig, axes = plt.subplots(len(settings), len(columns),
                             figsize=(width * len(columns), height * len(settings)), squeeze=False)
    panels = [(setting, table[table.setting == setting], column, label, ax)
              for setting, row in zip(settings, axes)
              for (column, label), ax in zip(columns.items(), row)]
    return fig, panels


def errbar(lo: float, mean: float, hi: float) -> list[list[float]]:
    """An interval as matplotlib's ``errorbar`` takes it: the lengths below and above ``mean``
    (none where an end is not finite)."""
    return [[mean - lo if np.isfinite(lo) else 0.0], [hi - mean if np.isfinite(hi) else 0.0]]


def roles_in(table: pd.DataFrame) -> list[str]:
    """The table's roles, in C1's order (``claims.roles``), others after."""
    order = [r for r in ROLE_ORDER if r in set(table.role)]
    return order + sorted(set(table.role) - set(order))


def roles_and_comparisons(table: pd.DataFrame, comparisons: pd.DataFrame,
                          roles: tuple[str, ...]) -> Figure:
    """Per setting: every role's test accuracy (seeds joined by lines) and the paired
    comparisons with their 95% intervals."""
    if table.empty:
        return note("no results to show")
    settings = list(table.setting.unique())
    fig, axes = plt.subplots(len(settings), 2, figsize=(12, 3.8 * len(settings)), squeeze=False)
    for setting, (ax_acc, ax_cmp) in zip(settings, axes):
        rows = table[table.setting == setting]
        wide = rows.pivot(index="seed", columns="role", values="test_acc")
        present = [r for r in roles if r in wide.columns]
        acc = wide[present]
        for _, seed_row in acc.iterrows():
            ax_acc.plot(range(len(present)), seed_row.values, "o-", color="0.6", alpha=0.6, ms=4)
        ax_acc.plot(range(len(present)), acc.mean().values, "D", color="C0", ms=8, label="mean")
        ax_acc.set_xticks(range(len(present)), [r.replace(" ", "\n", 1) for r in present],
                          fontsize=8)
        ax_acc.set_ylabel("test accuracy (%)")
        ax_acc.set_title(f"{setting} (grey: seeds)", fontsize=10)
        ax_acc.legend(fontsize=8)
        cmp = comparisons[comparisons.setting == setting]
        for i, (_, r) in enumerate(cmp.iterrows()):
            color = "C2" if r.ci_low > 0 else ("C3" if r.ci_high < 0 else "C1")
            ax_cmp.errorbar(r.difference, i, xerr=errbar(r.ci_low, r.difference, r.ci_high),
                            fmt="o", color=color, capsize=4)
        ax_cmp.axvline(0, color="k", lw=0.8)
        ax_cmp.set_yticks(range(len(cmp)), list(cmp.comparison), fontsize=8)
        ax_cmp.invert_yaxis()
        ax_cmp.set_xlabel("paired difference in test accuracy (pp), 95% CI")
        ax_cmp.set_title("green: CI > 0, red: CI < 0", fontsize=10)
    fig.tight_layout()
    return fig


def predictions(tests: pd.DataFrame) -> Figure:
    """Each prediction's mean with its 95% interval, coloured by its outcome (green borne out,
    red contradicted, orange undecided, grey untestable: its manipulation check failed); a
    null's or an at-most's margin marked."""
    colors = {"borne out": "C2", "contradicted": "C3", "undecided": "C1", "untestable": "0.6"}
    fig, ax = plt.subplots(figsize=(9, 0.5 * len(tests) + 1.2))
    for i, r in enumerate(tests.itertuples()):
        ax.errorbar(r.mean, i, xerr=errbar(r.ci_low, r.mean, r.ci_high), fmt="o",
                    color=colors[r.outcome], capsize=3)
        if r.margin and r.margin == r.margin:
            lows = [-r.margin] if r.kind == "null" else []
            for m in [*lows, r.margin]:
                ax.plot([m, m], [i - 0.3, i + 0.3], color="0.4", lw=1)
    ax.axvline(0, color="k", lw=0.8)
    ax.set_yticks(range(len(tests)), [f"{r.prediction} · {r.setting}" for r in tests.itertuples()],
                  fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("mean over seeds, 95% CI (grey ticks: margins)")
    fig.tight_layout()
    return fig


def flatness_scatter(table: pd.DataFrame, measures: dict[str, str],
                     correlations: pd.DataFrame) -> Figure:
    """Every model's flatness measures against test accuracy and generalization gap."""
    targets = {"test_acc": "test accuracy (%)", "gap": "train − test accuracy (pp)"}
    fig, axes = plt.subplots(len(measures), 2, figsize=(10, 3.4 * len(measures)), squeeze=False)
    for (measure, label), row in zip(measures.items(), axes):
        for (target, target_label), ax in zip(targets.items(), row):
            for role in roles_in(table):
                group = table[table.role == role]
                ax.scatter(group[measure], group[target], s=18, label=role)
            r = correlations[(correlations.measure == measure) &
                             (correlations.target == target)].iloc[0]
            ax.set_title(f"Spearman ρ = {r.rho:+.2f} [{r.ci_low:+.2f}, {r.ci_high:+.2f}]",
                         fontsize=10)
            ax.set_xlabel(label)
            ax.set_ylabel(target_label)
        row[0].legend(fontsize=8)
    fig.tight_layout()
    return fig


def _decision_color(decision: str) -> str:
    return {"flatter": "C2", "sharper": "C3", "unresolved": "C1"}.get(decision, "0.5")


def relative_interval(row: Any) -> tuple[float, float]:
    """``row``'s 95% interval on the scale of its ``relative`` change: each end times the claim's
    own ratio ``relative / change``, so that it brackets the point as the interval brackets the
    change (the table's rounded ``baseline`` would not, where it is small); none where the
    change is 0 or the relative change not finite."""
    if not (row.change and math.isfinite(row.relative)):
        return math.nan, math.nan
    low, high = sorted(100 * v * row.relative / row.change for v in (row.ci_low, row.ci_high))
    return low, high


def measures_forest(measures: pd.DataFrame) -> Figure:
    """Each measure's paired change (student − teacher) relative to the teachers' mean (the
    ``relative`` column of the claim's ``measures_table``), with its 95% interval on that scale,
    coloured by its Holm decision (green flatter, red sharper, orange unresolved, grey reported
    only)."""
    if measures.empty:
        return note("no measures")
    fig, ax = plt.subplots(figsize=(8, 0.42 * len(measures) + 1.2))
    for i, r in enumerate(measures.itertuples()):
        mean = 100 * r.relative  # the claim's change relative to the teachers' mean
        low, high = relative_interval(r)
        ax.errorbar(mean, i, xerr=errbar(low, mean, high), fmt="o",
                    color=_decision_color(r.decision), capsize=3)
    ax.axvline(0, color="k", lw=0.8)
    ax.set_yticks(range(len(measures)), [f"{r.measure} · {r.setting}"
                                         for r in measures.itertuples()], fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("student − teacher, % of the teachers' mean (95% CI)")
    fig.tight_layout()
    return fig


EFFECT_LABEL_CHARS = 60  # an effect's label on the axis; the whole of it on hover


def _shortened(label: str) -> str:
    return label if len(label) <= EFFECT_LABEL_CHARS else label[:EFFECT_LABEL_CHARS - 1] + "…"


@dataclass
class ForestPanel:
    """The effects of one unit in a forest plot (``report.effects``), top to bottom: a header
    per claim · notebook · setting (led by the profile where there are several), then its
    effects, each at its position ``y`` and with its header as ``group``."""

    unit: str
    labels: list[str]  # the axis labels, top to bottom
    headers: list[int]  # the headers' positions among them
    effects: pd.DataFrame

    @property
    def height(self) -> int:
        """Its height in rows, its axis included."""
        return len(self.labels) + 3

    @classmethod
    def of(cls, effects: pd.DataFrame) -> list["ForestPanel"]:
        """One panel per unit of ``effects``, in the order they come."""
        several = "profile" in effects and effects.profile.nunique() > 1
        keys = [*(["profile"] if several else []), "claim", "notebook", "setting"]
        panels = []
        for unit, rows in effects.groupby("unit", sort=False):
            labels, headers, placed = [], [], []
            for values, group in rows.groupby(keys, sort=False):
                *profile, claim, notebook, setting = values
                headers.append(len(labels))
                labels.append(" · ".join([*profile, claim, notebook_number(notebook), setting]))
                placed.append(group.assign(y=range(len(labels), len(labels) + len(group)),
                                           group=labels[-1]))
                labels += [_shortened(label) for label in group.effect]
            panels.append(cls(str(unit), labels, headers, pd.concat(placed)))
        return panels


NO_EFFECTS = "no judged effects in these records"


def forest(effects: pd.DataFrame) -> Figure:
    """Every judged effect (``report.effects``): its estimate and 95% interval, coloured by its
    side (favours the claim, counts against it, undecided, outside the verdict), its outcome in
    words at the right. Effects in different units never share an axis: one panel per unit
    (accuracy in pp, flattening in % of the teachers' mean, ...), rows grouped by claim ·
    notebook · setting. The black line is the threshold each is judged against; a null
    prediction's ±margin is shaded, an at-most prediction's +margin ticked."""
    if effects.empty:
        return note(NO_EFFECTS)
    panels = ForestPanel.of(effects)
    heights = [p.height for p in panels]
    fig, axes = plt.subplots(len(panels), 1, figsize=(10, 0.24 * sum(heights) + 0.6),
                             gridspec_kw={"height_ratios": heights}, squeeze=False)
    for panel, ax in zip(panels, axes[:, 0]):
        for r in panel.effects.itertuples():
            color = COLOURS[r.side]
            if r.margin == r.margin and r.kind == "null":
                ax.fill_betweenx([r.y - 0.4, r.y + 0.4], -r.margin, r.margin, color="0.88")
            elif r.margin == r.margin:
                ax.plot([r.margin] * 2, [r.y - 0.4, r.y + 0.4], color="0.4", lw=1)
            if r.estimate == r.estimate:
                ax.errorbar(r.estimate, r.y, xerr=errbar(r.ci_low, r.estimate, r.ci_high),
                            fmt="o", ms=4, color=color, capsize=2.5, lw=1.2)
            ax.text(1.01, r.y, r.outcome, color=color, fontsize=7, va="center",
                    transform=ax.get_yaxis_transform())
        for threshold in panel.effects.threshold.unique():
            ax.axvline(threshold, color="k", lw=0.8)
        ax.set_yticks(range(len(panel.labels)), panel.labels, fontsize=7)
        for i in panel.headers:
            ax.get_yticklabels()[i].set_fontweight("bold")
        ax.set_ylim(len(panel.labels) - 0.5, -0.5)
        ax.set_xlabel(panel.unit, fontsize=8)
        ax.tick_params(axis="x", labelsize=7)
        ax.grid(axis="x", color="0.93")
    present = [s for s in SIDES if s in set(effects.side)]
    axes[0, 0].legend([plt.Line2D([], [], marker="o", ls="", color=COLOURS[s]) for s in present],
                      [SIDES[s] for s in present], loc="lower left", bbox_to_anchor=(0, 1.0),
                      ncol=len(present), frameon=False, fontsize=8)
    fig.tight_layout()
    return fig
