"""Figures for the book; each function takes analysis tables and returns a matplotlib Figure."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from ..engine.stats import mean_ci


def note(text: str) -> Figure:
    """A small figure that says why there is nothing to draw."""
    fig, ax = plt.subplots(figsize=(8, 0.6))
    ax.text(0.0, 0.5, text, va="center", fontsize=10, color="0.35")
    ax.axis("off")
    return fig


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


def _by_generation(ax, rows: pd.DataFrame, column: str, label: str) -> None:
    """Seeds as points joined by a line, generation means with 95% intervals."""
    for seed, chain in rows.groupby("seed"):
        chain = chain.sort_values("generation")
        ax.plot(chain.generation, chain[column], "o-", color="0.6", alpha=0.6, lw=1, ms=4)
    for g, values in rows.groupby("generation")[column]:
        mean, lo, hi = mean_ci(values.tolist())
        ax.errorbar(g, mean, yerr=_error(lo, mean, hi), fmt="D", color="C0", capsize=5, ms=7)
    generations = sorted(rows.generation.unique())
    ax.set_xticks(generations, ["teacher" if g == 0 else f"student {g}" for g in generations])
    ax.set_ylabel(label)


def curvature_by_generation(table: pd.DataFrame) -> Figure:
    """λ_max and Hessian trace of every model by generation, per setting."""
    settings = list(table.groupby(["dataset", "model"], sort=False).groups)
    fig, axes = plt.subplots(len(settings), 2, figsize=(10, 3.4 * len(settings)), squeeze=False)
    for (dataset, model), (ax_l, ax_t) in zip(settings, axes):
        rows = table[(table.dataset == dataset) & (table.model == model)]
        _by_generation(ax_l, rows, "lambda_max", "top Hessian eigenvalue λ_max")
        _by_generation(ax_t, rows, "trace", "Hessian trace")
        ax_l.set_title(f"{dataset} · {model}: sharpness (grey: seeds)")
        ax_t.set_title("curvature summed over all directions")
    fig.tight_layout()
    return fig


def spectral_densities(densities: dict) -> Figure:
    """The eigenvalue densities of each chain's models overlaid (log scale, as is usual)."""
    if not densities:
        return note("no spectral densities requested (density_seeds is 0)")
    chains = sorted({k[:3] for k in densities})
    fig, axes = plt.subplots(1, len(chains), figsize=(5.5 * len(chains), 3.6), squeeze=False)
    for (dataset, model, seed), ax in zip(chains, axes[0]):
        for key in sorted(k for k in densities if k[:3] == (dataset, model, seed)):
            d = densities[key]
            label = "teacher" if key[3] == 0 else f"student {key[3]}"
            ax.semilogy(d.grid.numpy(), d.values.numpy() + 1e-7, label=label, lw=1.2)
        ax.set_xlabel("eigenvalue")
        ax.set_ylabel("density")
        ax.set_ylim(bottom=1e-6)
        ax.set_title(f"{dataset} · {model} · seed {seed}")
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
            for g, group in table.groupby("generation"):
                ax.scatter(group[measure], group[target], s=25,
                           label="teacher" if g == 0 else f"student {g}")
            r = correlations[(correlations.measure == measure) &
                             (correlations.target == target)].iloc[0]
            ax.set_title(f"Spearman ρ = {r.rho:+.2f} [{r.ci_low:+.2f}, {r.ci_high:+.2f}]",
                         fontsize=10)
            ax.set_xlabel(label)
            ax.set_ylabel(target_label)
        row[0].legend(fontsize=8)
    fig.tight_layout()
    return fig


def _generation_label(g: int) -> str:
    return "teacher" if g == 0 else f"student {g}"


def landscape_lines(lines: dict) -> Figure:
    """1D training-loss curves along filter-normalized directions, teacher and students overlaid,
    one panel per chain (each direction drawn; same-seed directions for every model)."""
    chains = sorted({k[:3] for k in lines})
    cols = min(3, len(chains))
    rows = -(-len(chains) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(5 * cols, 3.4 * rows), squeeze=False)
    for ax in axes.flat[len(chains):]:
        ax.axis("off")
    for (dataset, model, seed), ax in zip(chains, axes.flat):
        for key in sorted(k for k in lines if k[:3] == (dataset, model, seed)):
            color = f"C{key[3]}"
            for i, curve in enumerate(lines[key]):
                ax.plot(curve.coords[0], curve.loss, color=color, lw=1.2, alpha=0.8,
                        label=_generation_label(key[3]) if i == 0 else None)
        ax.set_xlabel("step along a filter-normalized direction")
        ax.set_ylabel("training loss")
        ax.set_title(f"{dataset} · {model} · seed {seed}", fontsize=10)
        ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def landscape_planes(planes: dict) -> Figure:
    """2D training-loss contours of a teacher and its student, side by side, shared levels."""
    fig, axes = plt.subplots(1, len(planes), figsize=(5.2 * len(planes), 4.4), squeeze=False)
    finite = np.concatenate([s.loss[np.isfinite(s.loss)].ravel() for s in planes.values()])
    levels = np.linspace(finite.min(), np.percentile(finite, 95), 15)
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
    for (dataset, model, seed), s in sorted(interpolations.items()):
        ax_loss.plot(s.coords[0], s.loss, "o-", ms=3, label=f"{model} seed {seed}")
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
    """Kernel ridge self-distillation (a ``regularization_study.KernelStudy``): the fitted
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
    settings = list(table.groupby(["dataset", "model"], sort=False).groups)
    fig, axes = plt.subplots(1, len(settings), figsize=(7 * len(settings), 4), squeeze=False)
    for (dataset, model), ax in zip(settings, axes[0]):
        rows = table[(table.dataset == dataset) & (table.model == model)]
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
        ax.set_title(f"{dataset} · {model}: mean and 95% CI (faint: seeds)", fontsize=10)
        ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def multi_view(table: pd.DataFrame, comparisons: pd.DataFrame, roles: tuple[str, ...]) -> Figure:
    """Per setting: every role's test accuracy (seeds joined by lines) and the paired
    comparisons with their 95% intervals."""
    if table.empty:
        return note("no results to show")
    settings = list(table.groupby(["dataset", "model"], sort=False).groups)
    fig, axes = plt.subplots(len(settings), 2, figsize=(12, 3.8 * len(settings)), squeeze=False)
    for (dataset, model), (ax_acc, ax_cmp) in zip(settings, axes):
        rows = table[(table.dataset == dataset) & (table.model == model)]
        acc = rows.pivot(index="seed", columns="role", values="test_acc")[list(roles)]
        for _, seed_row in acc.iterrows():
            ax_acc.plot(range(len(roles)), seed_row.values, "o-", color="0.6", alpha=0.6, ms=4)
        ax_acc.plot(range(len(roles)), acc.mean().values, "D", color="C0", ms=8, label="mean")
        ax_acc.set_xticks(range(len(roles)), [r.replace(" ", "\n", 1) for r in roles], fontsize=8)
        ax_acc.set_ylabel("test accuracy (%)")
        ax_acc.set_title(f"{dataset} · {model} (grey: seeds)", fontsize=10)
        ax_acc.legend(fontsize=8)
        cmp = comparisons[(comparisons.dataset == dataset) & (comparisons.model == model)]
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
