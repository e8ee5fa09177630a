"""Figures for the book; each function takes analysis tables and returns a matplotlib Figure."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from ..claims.student_beats_teacher import ROLES as C1_ROLES
from ..engine.stats import mean_ci
from .effects import COLOURS, SIDES, notebook_number


ROLE_ORDER = [*(r for r in C1_ROLES if r != "ensemble"), "SAM teacher", "student of SAM"]


def note(text: str) -> Figure:
    """A small figure that says why there is nothing to draw."""
    fig, ax = plt.subplots(figsize=(8, 0.6))
    ax.text(0.0, 0.5, text, va="center", fontsize=10, color="0.35")
    ax.axis("off")
    return fig


def _error(lo: float, mean: float, hi: float) -> list[list[float]]:
    return [[mean - lo if np.isfinite(lo) else 0.0], [hi - mean if np.isfinite(hi) else 0.0]]


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


def _roles_in(table: pd.DataFrame) -> list[str]:
    """The table's roles, in C1's order (``claims.roles``), others after."""
    order = [r for r in ROLE_ORDER if r in set(table.role)]
    return order + sorted(set(table.role) - set(order))


def by_role(table: pd.DataFrame, columns: dict[str, str]) -> Figure:
    """Each of ``columns`` (column: label) for every measured model by role, per setting: each
    seed's models as a grey line, each role's mean with its 95% interval."""
    settings = list(table.setting.unique())
    fig, axes = plt.subplots(len(settings), len(columns),
                             figsize=(3.8 * len(columns), 3.4 * len(settings)), squeeze=False)
    for setting, row in zip(settings, axes):
        rows = table[table.setting == setting]
        for (column, label), ax in zip(columns.items(), row):
            present = [r for r in _roles_in(rows) if rows[rows.role == r][column].notna().any()]
            wide = rows.pivot(index="seed", columns="role", values=column)[present]
            for _, seed_row in wide.iterrows():
                ax.plot(range(len(present)), seed_row.values, "o-", color="0.6", alpha=0.5,
                        lw=1, ms=3)
            for i, role in enumerate(present):
                mean, lo, hi = mean_ci(wide[role].dropna().tolist())
                ax.errorbar(i, mean, yerr=_error(lo, mean, hi), fmt="D", color="C0", capsize=4)
            ax.set_xticks(range(len(present)), [r.replace(" ", "\n", 1) for r in present],
                          fontsize=7)
            ax.set_ylabel(label)
            ax.set_title(f"{setting} (grey: seeds)" if ax is row[0] else "", fontsize=9)
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


def flatness_scatter(table: pd.DataFrame, measures: dict[str, str],
                     correlations: pd.DataFrame) -> Figure:
    """Every model's flatness measures against test accuracy and generalization gap."""
    targets = {"test_acc": "test accuracy (%)", "gap": "train − test accuracy (pp)"}
    fig, axes = plt.subplots(len(measures), 2, figsize=(10, 3.4 * len(measures)), squeeze=False)
    for (measure, label), row in zip(measures.items(), axes):
        for (target, target_label), ax in zip(targets.items(), row):
            for role in _roles_in(table):
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


def landscape_lines(lines: dict) -> Figure:
    """1D training-loss curves along filter-normalized directions, every role of a seed overlaid,
    one panel per seed (each direction drawn; same-seed directions for every model)."""
    chains = list(dict.fromkeys(k[:2] for k in lines))
    cols = min(3, len(chains))
    rows = -(-len(chains) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(5 * cols, 3.4 * rows), squeeze=False)
    for ax in axes.flat[len(chains):]:
        ax.axis("off")
    for (setting, seed), ax in zip(chains, axes.flat):
        for key in (k for k in lines if k[:2] == (setting, seed)):
            color = f"C{ROLE_ORDER.index(key[2]) % 10 if key[2] in ROLE_ORDER else 9}"
            for i, curve in enumerate(lines[key]):
                ax.plot(curve.coords[0], curve.loss, color=color, lw=1.2, alpha=0.8,
                        label=key[2] if i == 0 else None)
        ax.set_xlabel("step along a filter-normalized direction")
        ax.set_ylabel("training loss")
        ax.set_title(f"{setting} · seed {seed}", fontsize=10)
        ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def plane_loss_range(planes: dict) -> tuple[float, float]:
    """The loss range the planes' figures share: the lowest finite loss to the 95th percentile
    (higher losses, far from the minimum, would flatten the rest)."""
    finite = np.concatenate([s.loss[np.isfinite(s.loss)].ravel() for s in planes.values()])
    return float(finite.min()), float(np.percentile(finite, 95))


def landscape_planes(planes: dict) -> Figure:
    """2D training-loss contours of a teacher and its student, side by side, shared levels."""
    fig, axes = plt.subplots(1, len(planes), figsize=(5.2 * len(planes), 4.4), squeeze=False)
    levels = np.linspace(*plane_loss_range(planes), 15)
    for (name, s), ax in zip(planes.items(), axes[0]):
        a, b = np.meshgrid(s.coords[0], s.coords[1], indexing="ij")
        contour = ax.contourf(a, b, s.loss, levels=levels, cmap="viridis", extend="max")
        ax.contour(a, b, s.loss, levels=levels, colors="k", linewidths=0.3)
        ax.plot(0, 0, "r*", ms=10)
        ax.set_title(f"{name}: training loss")
        ax.set_xlabel("direction 1")
        ax.set_ylabel("direction 2")
        ax.set_aspect("equal")
    fig.colorbar(contour, ax=axes[0].tolist(), shrink=0.85)
    return fig


def interpolation_paths(interpolations: dict) -> Figure:
    """Training loss and accuracy on the line from each teacher (t = 0) to its student (t = 1)."""
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(10, 3.6))
    for (setting, seed), s in interpolations.items():
        ax_loss.plot(s.coords[0], s.loss, "o-", ms=3, label=f"{setting} seed {seed}")
        ax_acc.plot(s.coords[0], s.accuracy, "o-", ms=3)
    for ax, label in ((ax_loss, "training loss"), (ax_acc, "training accuracy (%)")):
        ax.axvline(0, color="0.5", lw=0.8)
        ax.axvline(1, color="0.5", lw=0.8)
        ax.set_xlabel("t: (1 − t)·teacher + t·student")
        ax.set_ylabel(label)
    ax_loss.legend(fontsize=8)
    fig.tight_layout()
    return fig


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


def accuracy_by_variant(table: pd.DataFrame) -> Figure:
    """Per setting: mean test accuracy by generation for each chain variant, with 95% intervals
    and each seed's chain in faint lines."""
    settings = list(table.setting.unique())
    fig, axes = plt.subplots(1, len(settings), figsize=(7 * len(settings), 4), squeeze=False)
    for setting, ax in zip(settings, axes[0]):
        rows = table[table.setting == setting]
        for i, (variant, group) in enumerate(rows.groupby("variant", sort=False)):
            color, shift = f"C{i}", (i - 1) * 0.08
            for _, chain in group.groupby("seed"):
                chain = chain.sort_values("generation")
                ax.plot(chain.generation + shift, chain.test_acc, color=color, alpha=0.25, lw=0.8)
            stats = [(g, *mean_ci(v.tolist())) for g, v in group.groupby("generation").test_acc]
            g, mean, lo, hi = map(np.array, zip(*stats))
            ax.errorbar(g + shift, mean, yerr=[mean - np.nan_to_num(lo, nan=mean),
                                               np.nan_to_num(hi, nan=mean) - mean],
                        fmt="o-", color=color, capsize=4, ms=5, label=variant)
        generations = sorted(rows.generation.unique())
        ax.set_xticks(generations, ["teacher" if g == 0 else str(g) for g in generations])
        ax.set_xlabel("generation")
        ax.set_ylabel("test accuracy (%)")
        ax.set_title(f"{setting}: mean and 95% CI (faint: seeds)", fontsize=10)
        ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


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
            ax_cmp.errorbar(r.difference, i, xerr=_error(r.ci_low, r.difference, r.ci_high),
                            fmt="o", color=color, capsize=4)
        ax_cmp.axvline(0, color="k", lw=0.8)
        ax_cmp.set_yticks(range(len(cmp)), list(cmp.comparison), fontsize=8)
        ax_cmp.invert_yaxis()
        ax_cmp.set_xlabel("paired difference in test accuracy (pp), 95% CI")
        ax_cmp.set_title("green: CI > 0, red: CI < 0", fontsize=10)
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
                ax.errorbar(getattr(r, x), r.gain, yerr=_error(r.ci_low, r.gain, r.ci_high),
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


def sweep_heatmap(sweep: dict) -> Figure:
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


def _decision_color(decision: str) -> str:
    return {"flatter": "C2", "sharper": "C3", "unresolved": "C1"}.get(decision, "0.5")


def measures_forest(measures: pd.DataFrame) -> Figure:
    """Each measure's paired change (student − teacher) relative to the teachers' mean, with
    its 95% interval, coloured by its Holm decision (green flatter, red sharper, orange
    unresolved, grey reported only); a measure where larger is flatter is marked ↑."""
    if measures.empty:
        return note("no measures")
    fig, ax = plt.subplots(figsize=(8, 0.42 * len(measures) + 1.2))
    for i, r in enumerate(measures.itertuples()):
        scale = abs(r.baseline) or float("nan")  # a zero baseline has no relative change
        mean, low, high = (100 * v / scale for v in (r.change, r.ci_low, r.ci_high))
        ax.errorbar(mean, i, xerr=_error(low, mean, high), fmt="o",
                    color=_decision_color(r.decision), capsize=3)
    ax.axvline(0, color="k", lw=0.8)
    ax.set_yticks(range(len(measures)), [f"{r.measure} · {r.setting}"
                                         for r in measures.itertuples()], fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("student − teacher, % of the teachers' mean (95% CI)")
    fig.tight_layout()
    return fig


def contrast(components: pd.DataFrame, labels: dict[str, str]) -> Figure:
    """C4 by contrast: per judged measure, each role's flattening against its teacher (right is
    flatter; mean and 95% interval), coloured by what the component says, beside the role's gain
    in test accuracy (95% interval); a role that gains should lie right of 0."""
    if components.empty:
        return note("no contrast: the page measures no role beside the teacher")
    measures = list(dict.fromkeys(components.measure))
    fig, axes = plt.subplots(1, len(measures) + 1, figsize=(3.4 * (len(measures) + 1), 3.6),
                             squeeze=False)
    colors = {"flatter": "C2", "sharper": "C3", "undecided": "C1"}
    for measure, ax in zip(measures, axes[0]):
        rows = components[components.measure == measure].reset_index(drop=True)
        for i, r in rows.iterrows():
            ax.errorbar(r.flattening, i, xerr=_error(r.flat_low, r.flattening, r.flat_high),
                        fmt="o", color=colors[r.reading], capsize=3)
        ax.axvline(0, color="k", lw=0.8)
        ax.set_yticks(range(len(rows)), list(rows.role) if ax is axes[0][0] else [],
                      fontsize=8)
        ax.invert_yaxis()
        ax.set_title(labels.get(measure, measure), fontsize=8)
        ax.set_xlabel("flattening (→ flatter)", fontsize=8)
    gains = components.drop_duplicates(["setting", "role"]).reset_index(drop=True)
    ax = axes[0][-1]
    for i, r in gains.iterrows():
        ax.errorbar(r.gain, i, xerr=_error(r.gain_low, r.gain, r.gain_high), fmt="s",
                    color="C2" if r.gains else "0.5", capsize=3)
    ax.axvline(0, color="k", lw=0.8)
    ax.set_yticks(range(len(gains)), list(gains.role), fontsize=8)
    ax.yaxis.tick_right()
    ax.invert_yaxis()
    ax.set_title("gain over the teacher", fontsize=8)
    ax.set_xlabel("test accuracy (pp)", fontsize=8)
    fig.suptitle("green: flatter (one-sided 5%) / gains; red: sharper; orange: undecided",
                 fontsize=9)
    fig.tight_layout()
    return fig


def radius_rises(table: pd.DataFrame, radii: list[float],
                 columns: Callable[[str, float], str]) -> Figure:
    """The rise of the training loss (left, with ln K, where the network is as good as a guess)
    and of the training error (right) against the radius, teachers and students, per setting
    (means over seeds, each seed faint); ``columns(kind, r)`` names the table's column."""
    fig, (ax_loss, ax_err) = plt.subplots(1, 2, figsize=(10, 3.6))
    for i, ((setting, role), group) in enumerate(table.groupby(["setting", "role"], sort=False)):
        for kind, ax in (("loss", ax_loss), ("error", ax_err)):
            values = group[[columns(kind, r) for r in radii]].to_numpy()
            for row in values:
                ax.plot(radii, row, color=f"C{i}", alpha=0.15, lw=0.8)
            ax.plot(radii, values.mean(0), "o-", color=f"C{i}", ms=4,
                    label=f"{setting} · {role}")
    ax_loss.axhline(np.log(10), color="k", ls="--", lw=0.8, label="ln 10 (a uniform guess)")
    ax_loss.set_yscale("symlog", linthresh=1e-3)
    for ax, label in ((ax_loss, "loss rise (nats)"), (ax_err, "error rise (pp)")):
        ax.set_xscale("log")
        ax.set_xlabel("radius along filter-normalized directions")
        ax.set_ylabel(label)
    ax_loss.legend(fontsize=7)
    fig.tight_layout()
    return fig


def by_variant(table: pd.DataFrame, columns: dict[str, str]) -> Figure:
    """Per setting, each of ``columns`` (column: label) by generation for every chain variant:
    means with 95% intervals, each seed's chain faint."""
    settings = list(table.setting.unique())
    fig, axes = plt.subplots(len(settings), len(columns),
                             figsize=(4.6 * len(columns), 3.6 * len(settings)), squeeze=False)
    for setting, row in zip(settings, axes):
        rows = table[table.setting == setting]
        for (column, label), ax in zip(columns.items(), row):
            for i, (variant, group) in enumerate(rows.groupby("variant", sort=False)):
                color, shift = f"C{i}", (i - 1.5) * 0.06
                for _, chain in group.groupby("seed"):
                    chain = chain.sort_values("generation")
                    ax.plot(chain.generation + shift, chain[column], color=color, alpha=0.2,
                            lw=0.7)
                stats = [(g, *mean_ci(v.tolist())) for g, v in group.groupby("generation")[column]]
                g, mean, lo, hi = map(np.array, zip(*stats))
                ax.errorbar(g + shift, mean, yerr=[mean - np.nan_to_num(lo, nan=mean),
                                                   np.nan_to_num(hi, nan=mean) - mean],
                            fmt="o-", color=color, capsize=3, ms=4, label=variant)
            ax.set_xlabel("generation (0: teacher)")
            ax.set_ylabel(label)
            ax.set_title(setting, fontsize=9)
        row[0].legend(fontsize=7)
    fig.tight_layout()
    return fig


def predictions(tests: pd.DataFrame) -> Figure:
    """Each prediction's mean with its 95% interval, coloured by its outcome (green borne out,
    red contradicted, orange undecided, grey untestable: its manipulation check failed); a
    null's or an at-most's margin marked."""
    colors = {"borne out": "C2", "contradicted": "C3", "undecided": "C1", "untestable": "0.6"}
    fig, ax = plt.subplots(figsize=(9, 0.5 * len(tests) + 1.2))
    for i, r in enumerate(tests.itertuples()):
        ax.errorbar(r.mean, i, xerr=_error(r.ci_low, r.mean, r.ci_high), fmt="o",
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
                ax.errorbar(r.estimate, r.y, xerr=_error(r.ci_low, r.estimate, r.ci_high),
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
