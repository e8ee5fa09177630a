"""Claims C3 and C4 by the loss landscape (Li et al. 2018) of the chains of claim C1.

``run(config)`` takes the teachers and students from the run store (training only what is missing)
and computes, on a fixed sample of training images without augmentation: 1D loss curves along
``directions`` filter-normalized random directions per model, a sharpness measure read off them
(the mean rise of the training loss at ±``sharpness_radius``), a 2D surface for the first seed's
teacher and first student, and the linear interpolation from each teacher to its first student.
Cost: models × directions × line_points + 2 × plane_points² + seeds × interpolation_points
forward passes over ``landscape_samples`` images.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from tqdm import tqdm

from . import landscape
from .config import LossLandscapeConfig
from .flatness import paired_changes, rank_correlations, verdict_c3, verdict_c4
from .lab import Lab

RULE_C3 = ("holds if in every setting, for every generation, the mean paired change (student − its "
           "teacher, by seed) of the sharpness (loss rise at ±radius along filter-normalized "
           "random directions) is < 0 with its 95% interval below 0; fails if some generation's "
           "interval lies wholly above 0; inconclusive otherwise")
RULE_C4 = ("holds if, over all models, the sharpness has a negative Spearman correlation with "
           "test accuracy whose 95% bootstrap interval lies below 0; fails if the interval lies "
           "wholly above 0; inconclusive otherwise (a correlation supports, not proves, 'why')")


@dataclass
class LandscapeResult:
    table: pd.DataFrame  # one row per model: accuracy, gap, sharpness
    lines: dict[tuple, list[landscape.Surface]]  # (dataset, model, seed, generation) -> curves
    planes: dict[str, landscape.Surface]  # "teacher", "student 1" of the first chain
    interpolations: dict[tuple, landscape.Surface]  # (dataset, model, seed) -> teacher→student
    changes: pd.DataFrame
    correlations: pd.DataFrame
    verdict_c3: str
    verdict_c4: str
    device: str
    rule_c3: str = RULE_C3
    rule_c4: str = RULE_C4

    def headline(self, claim: str) -> str:
        if claim == "C3":
            r = self.changes[self.changes.generation == 1].iloc[0]
            return (f"gen-1 sharpness change {r.change:+.3g} [{r.ci_low:+.3g}, {r.ci_high:+.3g}] "
                    f"({r.students_flatter} of {r.seeds} students flatter)")
        r = self.correlations[self.correlations.target == "test_acc"].iloc[0]
        return f"Spearman ρ(sharpness, test accuracy) {r.rho:+.2f} [{r.ci_low:+.2f}, {r.ci_high:+.2f}]"

    def numbers(self, claim: str) -> dict:
        return {"headline": self.headline(claim),
                "changes": self.changes.round(6).to_dict(orient="records"),
                "correlations": self.correlations.round(4).to_dict(orient="records"),
                "models": self.table.drop(columns=["key"]).round(6).to_dict(orient="records")}


def sharpness(curves: list[landscape.Surface], radius: float) -> float:
    """Mean over directions and both signs of loss(±radius) − loss(0), read off the curves."""
    rises = []
    for curve in curves:
        alphas = curve.coords[0]
        base = float(np.interp(0.0, alphas, curve.loss))
        rises += [float(np.interp(s * radius, alphas, curve.loss)) - base for s in (-1, 1)]
    return float(np.mean(rises))


def run(config: LossLandscapeConfig, lab: Lab | None = None) -> LandscapeResult:
    lab = lab or Lab.from_config(config)
    alphas = np.linspace(-config.line_radius, config.line_radius, config.line_points)
    rows, lines, planes, interpolations = [], {}, {}, {}
    chains = lab.all_chains(config)
    bar = tqdm(total=sum(len(c[3]) for c in chains), desc="landscapes", unit="model", ncols=100)
    for dataset, model, seed, chain in chains:
        x, y = lab.training_sample(chain[0].spec, config.landscape_samples)
        for trained in chain:
            curves = [landscape.line(trained.model,
                                     landscape.random_direction(trained.model,
                                                                config.direction_seed + i),
                                     alphas, x, y)
                      for i in range(config.directions)]
            key = (dataset, model, seed, trained.spec.generation)
            lines[key] = curves
            m = trained.metrics
            rows.append({"dataset": dataset, "model": model, "seed": seed,
                         "generation": trained.spec.generation, "test_acc": m["test_acc"],
                         "train_acc": m["train_acc"], "gap": m["train_acc"] - m["test_acc"],
                         "sharpness": sharpness(curves, config.sharpness_radius),
                         "key": trained.key})
            bar.update(1)
        ts = np.linspace(-config.interpolation_margin, 1 + config.interpolation_margin,
                         config.interpolation_points)
        interpolations[(dataset, model, seed)] = landscape.interpolation(
            chain[0].model, chain[1].model, ts, x, y)
        if not planes:
            grid = np.linspace(-config.plane_radius, config.plane_radius, config.plane_points)
            for trained in chain[:2]:
                name = "teacher" if trained.spec.generation == 0 else "student 1"
                d1 = landscape.random_direction(trained.model, config.direction_seed)
                d2 = landscape.random_direction(trained.model, config.direction_seed + 1)
                planes[name] = landscape.plane(trained.model, d1, d2, grid, grid, x, y)
    bar.close()
    table = pd.DataFrame(rows)
    changes = paired_changes(table, ("sharpness",))
    correlations = rank_correlations(table, ("sharpness",))
    return LandscapeResult(table, lines, planes, interpolations, changes, correlations,
                           verdict_c3(changes), verdict_c4(correlations), str(lab.device))
