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
from typing import Any

import numpy as np
import pandas as pd
from pydantic import Field, model_validator
from tqdm import tqdm

from ..engine import landscape
from . import student_beats_teacher
from .common import ClaimResult, lab_for, now, unique_specs
from .config import ChainsConfig
from .flatter_minima import flatness_numbers, paired_changes, rank_correlations, verdicts

RULE_C3 = ("holds if in every setting, for every generation, the mean paired change (student − its "
           "teacher, by seed) of the sharpness (loss rise at ±radius along filter-normalized "
           "random directions) is < 0 with its 95% interval below 0; fails if some generation's "
           "interval lies wholly above 0; inconclusive otherwise")
RULE_C4 = ("holds if, over all models, the sharpness has a negative Spearman correlation with "
           "test accuracy whose 95% bootstrap interval lies below 0; fails if the interval lies "
           "wholly above 0; inconclusive otherwise (a correlation supports, not proves, 'why')")


class Config(ChainsConfig):
    """Claims C3 and C4 by the loss landscape: the chains of C1, seen along random directions."""

    landscape_samples: int = Field(500, ge=1, description="training images (no augmentation) "
                                   "the landscape loss is computed on: the first ones of the "
                                   "training subset")
    directions: int = Field(2, ge=1, description="filter-normalized random directions per model "
                            "for the 1D curves")
    line_points: int = Field(21, ge=3, description="points of each 1D curve")
    line_radius: float = Field(1.0, ge=1.0e-6, description="1D curves span [-radius, radius] "
                               "along each direction")
    sharpness_radius: float = Field(0.5, ge=1.0e-6, description="flatness measure: mean rise of "
                                    "the training loss at ±radius along the directions")
    plane_points: int = Field(11, ge=3, description="points per side of the 2D surfaces")
    plane_radius: float = Field(1.0, ge=1.0e-6, description="2D surfaces span [-radius, radius]^2")
    interpolation_points: int = Field(21, ge=3, description="points on the teacher-to-student "
                                      "line")
    interpolation_margin: float = Field(0.25, ge=0.0, description="the line runs from -margin "
                                        "to 1 + margin")
    direction_seed: int = Field(0, ge=0, description="seed of the random directions")

    @model_validator(mode="after")
    def _radius_within_lines(self) -> "Config":
        if self.sharpness_radius > self.line_radius:
            raise ValueError("parameter 'sharpness_radius': must not exceed 'line_radius' "
                             f"({self.line_radius}), the 1D curves' span")
        return self


@dataclass
class Result(ClaimResult):
    table: pd.DataFrame  # one row per model: accuracy, gap, sharpness
    lines: dict[tuple, list[landscape.Surface]]  # (dataset, model, seed, generation) -> curves
    planes: dict[str, landscape.Surface]  # "teacher", "student 1" of the first chain
    interpolations: dict[tuple, landscape.Surface]  # (dataset, model, seed) -> teacher→student
    changes: pd.DataFrame
    correlations: pd.DataFrame

    def headline(self, claim: str) -> str:
        if claim == "C3":
            r = self.changes[self.changes.generation == 1].iloc[0]
            return (f"gen-1 sharpness change {r.change:+.3g} [{r.ci_low:+.3g}, {r.ci_high:+.3g}] "
                    f"({r.students_flatter} of {r.seeds} students flatter)")
        r = self.correlations[self.correlations.target == "test_acc"].iloc[0]
        return (f"Spearman ρ(sharpness, test accuracy) {r.rho:+.2f} "
                f"[{r.ci_low:+.2f}, {r.ci_high:+.2f}]")

    def numbers(self, claim: str) -> dict[str, Any]:
        return flatness_numbers(self, claim)


def sharpness(curves: list[landscape.Surface], radius: float) -> float:
    """Mean over directions and both signs of loss(±radius) − loss(0), read off the curves."""
    rises = []
    for curve in curves:
        alphas = curve.coords[0]
        base = float(np.interp(0.0, alphas, curve.loss))
        rises += [float(np.interp(s * radius, alphas, curve.loss)) - base for s in (-1, 1)]
    return float(np.mean(rises))


plan = student_beats_teacher.plan  # the models are C1's


def run(config: Config) -> Result:
    started = now()
    lab = lab_for(config)
    chains = plan(config)
    models = lab.obtain(unique_specs(chains))
    alphas = np.linspace(-config.line_radius, config.line_radius, config.line_points)
    rows, lines, planes, interpolations = [], {}, {}, {}
    bar = tqdm(total=sum(map(len, chains)), desc="landscapes", unit="model", ncols=100)
    for chain in chains:
        trained = [models[spec.key] for spec in chain]
        x, y = lab.training_sample(chain[0], config.landscape_samples)
        for t in trained:
            spec = t.spec
            curves = [landscape.line(t.model, landscape.random_direction(
                t.model, config.direction_seed + i), alphas, x, y)
                for i in range(config.directions)]
            lines[(spec.dataset, spec.model, spec.seed, spec.generation)] = curves
            m = t.metrics
            rows.append({"dataset": spec.dataset, "model": spec.model, "seed": spec.seed,
                         "generation": spec.generation, "test_acc": m["test_acc"],
                         "train_acc": m["train_acc"], "gap": m["train_acc"] - m["test_acc"],
                         "sharpness": sharpness(curves, config.sharpness_radius),
                         "key": t.key})
            bar.update(1)
        ts = np.linspace(-config.interpolation_margin, 1 + config.interpolation_margin,
                         config.interpolation_points)
        first = chain[0]
        interpolations[(first.dataset, first.model, first.seed)] = landscape.interpolation(
            trained[0].model, trained[1].model, ts, x, y)
        if not planes:
            grid = np.linspace(-config.plane_radius, config.plane_radius, config.plane_points)
            for t in trained[:2]:
                name = "teacher" if t.spec.generation == 0 else "student 1"
                d1 = landscape.random_direction(t.model, config.direction_seed)
                d2 = landscape.random_direction(t.model, config.direction_seed + 1)
                planes[name] = landscape.plane(t.model, d1, d2, grid, grid, x, y)
    bar.close()
    table = pd.DataFrame(rows)
    changes = paired_changes(table, ("sharpness",))
    correlations = rank_correlations(table, ("sharpness",))
    return Result(verdicts(changes, correlations), {"C3": RULE_C3, "C4": RULE_C4},
                  str(lab.device), started, table=table, lines=lines,
                  planes=planes, interpolations=interpolations, changes=changes,
                  correlations=correlations)
