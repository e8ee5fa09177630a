"""Claims C3 and C4 by the loss landscape (Li et al. 2018) of the chains of claim C1.

The models are the teachers and students of C1, from the run store (trained only if missing);
``analyse`` computes, on a fixed sample of training images without augmentation: 1D loss curves
along ``directions`` filter-normalized random directions per model, a sharpness measure read off them
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

from ..engine import landscape
from ..engine.measures import each, random_lines, sharpness
from .common import ClaimResult, Plan, generation_name, self_distillation_chains
from .config import ChainsConfig
from .flatness import flatness_numbers, paired_changes, rank_correlations, verdicts
from .runner import Study

RULES = {
    "C3": ("holds if in every setting, for every generation, the mean paired change (student − "
           "its teacher, by seed) of the sharpness (loss rise at ±radius along filter-normalized "
           "random directions) is < 0 with its 95% interval below 0; fails if some generation's "
           "interval lies wholly above 0; inconclusive otherwise"),
    "C4": ("holds if, over all models, the sharpness has a negative Spearman correlation with "
           "test accuracy whose 95% bootstrap interval lies below 0; fails if the interval lies "
           "wholly above 0; inconclusive otherwise (a correlation supports, not proves, 'why')")}
COLUMNS = ["dataset", "model", "seed", "generation", "test_acc", "train_acc", "gap",
           "sharpness"]  # in the record


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
        return flatness_numbers(self, claim, COLUMNS)


def plan(config: Config) -> Plan:
    return self_distillation_chains(config)  # the models are C1's


def analyse(config: Config, study: Study) -> Result:
    alphas = np.linspace(-config.line_radius, config.line_radius, config.line_points)
    ts = np.linspace(-config.interpolation_margin, 1 + config.interpolation_margin,
                     config.interpolation_points)
    grid = np.linspace(-config.plane_radius, config.plane_radius, config.plane_points)
    samples = {}  # the landscape sample of each chain's data, taken once

    def sample(spec):
        if spec.dataset not in samples:
            samples[spec.dataset] = study.lab.training_sample(spec, config.landscape_samples)
        return samples[spec.dataset]

    specs = [spec for chain in study.plan for spec in chain]
    lines = dict(zip([(s.dataset, s.model, s.seed, s.generation) for s in specs], each(
        specs, lambda s: random_lines(study[s].model, config.directions, config.direction_seed,
                                      alphas, *sample(s)), "landscapes")))
    table = pd.DataFrame([{**study.row(s), "sharpness": sharpness(
        lines[(s.dataset, s.model, s.seed, s.generation)], config.sharpness_radius)}
        for s in specs])
    interpolations = {(c[0].dataset, c[0].model, c[0].seed): landscape.interpolation(
        study[c[0]].model, study[c[1]].model, ts, *sample(c[0])) for c in study.plan}
    first = study.plan[0]
    planes = {generation_name(s.generation): landscape.plane(
        study[s].model, landscape.random_direction(study[s].model, config.direction_seed),
        landscape.random_direction(study[s].model, config.direction_seed + 1), grid, grid,
        *sample(s)) for s in first[:2]}
    changes = paired_changes(table, ("sharpness",))
    correlations = rank_correlations(table, ("sharpness",))
    return Result(verdicts(changes, correlations), table=table, lines=lines, planes=planes,
                  interpolations=interpolations, changes=changes, correlations=correlations)
