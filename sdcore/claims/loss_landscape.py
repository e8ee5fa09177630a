"""Claims C3 and C4 by the loss landscape, with measures that rescaling the weights cannot change.

The models are C1's teachers and first students (``flatness.measured_chains``), from the run
store. On a fixed sample of training images (no augmentation, eval-mode BatchNorm), per model:

- the rise of the training loss and of the 0–1 training error at each of ``radii`` along
  ``directions`` filter-normalized random directions (Li et al. 2018; both signs averaged), read
  off 1D curves that span ±``line_radius``; at small radii the loss rise is the curvature along
  the directions, at large ones the network is destroyed and the rise measures its confidence;
  the rise of the loss at ``sharpness_radius`` is judged;
- adaptive sharpness (Kwon et al. 2021; Andriushchenko et al. 2023): the worst-case rise of the
  loss in an element-wise normalized box of radius ``adaptive_rho`` and the average-case rise
  under Gaussian perturbations of relative size ``average_rho``
  (``engine.sharpness``), both judged;
- PAC-Bayes σ-flatness (Jiang et al. 2020): the largest multiplicative Gaussian weight noise that
  raises the training error by ``sigma_target`` points (``engine.sharpness.sigma_flatness``),
  judged (larger is flatter);
- the confounds (``engine.measures.saturation``): the sample's loss (the landscapes' base),
  confidence and logit norm, and the weights' norms.

Every judged measure is invariant to rescaling a layer's weights through BatchNorm (a test checks
it). Beside them, a 2D surface of the first seed's teacher and student and the straight line from
each teacher to its student. Cost per model: directions × (line_points + 2 × radii) forward
passes, adaptive_steps + 1 forward-backward and adaptive_draws forward passes, and
(sigma_iterations + 1) × sigma_draws forward passes, over ``landscape_samples`` images; then
2 × plane_points² + seeds × interpolation_points.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import torch.nn as nn
from pydantic import Field, model_validator
from torch import Tensor

from ..engine import landscape
from ..engine.measures import each, random_lines, rises_at, saturation
from ..engine.sharpness import Sample, adaptive_average, adaptive_worst, sigma_flatness
from .common import ClaimResult, Plan, generation_name
from .config import FlatnessConfig
from .flatness import C4_RULE, FlatnessAnalysis, Measure, measured_chains
from .runner import Study

RULES = {
    "C3": ("per measured setting, the first student's paired change (student − its teacher, by "
           "seed) in four measures that rescaling weights through BatchNorm cannot change — the "
           "worst-case adaptive sharpness at adaptive_rho and the average-case one at "
           "average_rho, the σ-flatness "
           "(larger is flatter) and the loss rise at sharpness_radius along filter-normalized "
           "random directions — each tested by a t-test with Holm's correction over every "
           "(measure, setting) test at a family-wise 5%: holds if every test says the student is "
           "flatter; fails if some says sharper and none flatter; mixed if some say each; "
           "inconclusive otherwise. The other radii and the error rises are reported, not "
           "judged"),
    "C4": C4_RULE}
CONFOUNDS = ["train_loss", "test_loss", "sample_nll", "sample_confidence", "sample_logit_norm",
             "weight_norm", "kernel_norm"]


def rise_column(kind: str, radius: float) -> str:
    return f"{kind}_rise_r{radius:g}"


class Config(FlatnessConfig):
    """Claims C3 and C4 by the loss landscape: C1's models, perturbed in ways that rescaling
    the weights cannot change."""

    landscape_samples: int = Field(500, ge=1, description="training images (no augmentation) "
                                   "the landscape loss is computed on: the first ones of the "
                                   "training subset")
    directions: int = Field(2, ge=1, description="filter-normalized random directions per model "
                            "for the 1D curves")
    line_points: int = Field(21, ge=3, description="points of each 1D curve (besides ±radii)")
    line_radius: float = Field(1.0, ge=1.0e-6, description="1D curves span [-radius, radius] "
                               "along each direction")
    radii: list[float] = Field([0.01, 0.03, 0.1, 0.3, 1.0], min_length=1, description="radii at "
                               "which the rise of the loss and of the error along the random "
                               "directions is read (within line_radius)")
    sharpness_radius: float = Field(0.1, ge=1.0e-6, description="the radius of radii whose loss "
                                    "rise the C3 verdict reads")
    adaptive_rho: float = Field(0.005, gt=0.0, description="worst-case adaptive sharpness: the "
                                "element-wise normalized box |δ_i| ≤ ρ|w_i|")
    average_rho: float = Field(0.1, gt=0.0, description="average-case adaptive sharpness: the "
                               "Gaussian perturbation δ_i ~ N(0, ρ² w_i²)")
    adaptive_steps: int = Field(5, ge=1, description="projected sign-gradient ascent steps of "
                                "worst-case adaptive sharpness")
    adaptive_draws: int = Field(4, ge=1, description="Gaussian draws of average-case adaptive "
                                "sharpness")
    sigma_target: float = Field(10.0, gt=0.0, le=100.0, description="σ-flatness: the training "
                                "error (percentage points) that the multiplicative noise may add")
    sigma_max: float = Field(1.0, gt=0.0, description="σ-flatness: the largest σ searched")
    sigma_iterations: int = Field(8, ge=1, description="σ-flatness: bisection steps")
    sigma_draws: int = Field(4, ge=1, description="σ-flatness: noise draws averaged at each σ")
    plane_points: int = Field(11, ge=3, description="points per side of the 2D surfaces")
    plane_radius: float = Field(1.0, ge=1.0e-6, description="2D surfaces span [-radius, radius]^2")
    interpolation_points: int = Field(21, ge=3, description="points on the teacher-to-student "
                                      "line")
    interpolation_margin: float = Field(0.25, ge=0.0, description="the line runs from -margin "
                                        "to 1 + margin")
    direction_seed: int = Field(0, ge=0, description="seed of the random directions and of "
                                "every measure's random draws")

    @model_validator(mode="after")
    def _radii_within_lines(self) -> "Config":
        if max(self.radii) > self.line_radius or min(self.radii) <= 0:
            raise ValueError(f"parameter 'radii': each must lie in (0, line_radius = "
                             f"{self.line_radius}], got {self.radii}")
        if self.sharpness_radius not in self.radii:
            raise ValueError(f"parameter 'sharpness_radius': must be one of radii {self.radii}, "
                             f"got {self.sharpness_radius}")
        return self

    def measures(self) -> list[Measure]:
        """The judged measures, then the reported rises at the other radii."""
        judged = [Measure("adaptive_worst", f"worst-case adaptive sharpness (ρ = "
                                            f"{self.adaptive_rho:g})"),
                  Measure("adaptive_average", f"average-case adaptive sharpness (ρ = "
                                              f"{self.average_rho:g})"),
                  Measure("sigma", f"σ-flatness (+{self.sigma_target:g} pp error)", flatter=1),
                  Measure(rise_column("loss", self.sharpness_radius),
                          f"loss rise at r = {self.sharpness_radius:g}")]
        reported = [Measure(rise_column(kind, r), f"{kind} rise at r = {r:g}", judged=False)
                    for kind in ("loss", "error") for r in self.radii
                    if (kind, r) != ("loss", self.sharpness_radius)]
        return judged + reported


def plan(config: Config) -> Plan:
    return [chain[:2] for _, chain in measured_chains(config)]  # C1's teachers and students


def measure_model(model: nn.Module, x: Tensor, y: Tensor,
                  config: Config) -> tuple[list[landscape.Surface], dict[str, Any]]:
    """One model's landscape measures on its sample: the 1D curves and the row of measures and
    confounds."""
    alphas = np.array(sorted({*np.linspace(-config.line_radius, config.line_radius,
                                           config.line_points),
                              0.0, *config.radii, *(-r for r in config.radii)}))
    seed, sample = config.direction_seed, Sample(x, y)
    curves = random_lines(model, config.directions, seed, alphas, x, y)
    sigma = sigma_flatness(model, sample, config.sigma_target, config.sigma_max,
                           config.sigma_iterations, config.sigma_draws, seed)
    row = {"adaptive_worst": adaptive_worst(model, sample, config.adaptive_rho,
                                            config.adaptive_steps, seed),
           "adaptive_average": adaptive_average(model, sample, config.average_rho,
                                                config.adaptive_draws, seed),
           "sigma": sigma.sigma, "sigma_bounded": sigma.bounded, **saturation(model, x, y)}
    for r, (loss, error) in rises_at(curves, config.radii).items():
        row[rise_column("loss", r)], row[rise_column("error", r)] = loss, error
    return curves, row


def analyse(config: Config, study: Study) -> Result:
    chains = [(name, chain[:2]) for name, chain in measured_chains(config)]
    samples = {}  # the landscape sample of each setting, taken once

    def sample(name, spec):
        if name not in samples:
            samples[name] = study.lab.training_sample(spec, config.landscape_samples)
        return samples[name]

    named = [(name, spec) for name, chain in chains for spec in chain]
    measured = each(named, lambda item: measure_model(study[item[1]].model, *sample(*item),
                                                      config), "landscapes")
    lines = {(name, s.seed, s.generation): curves
             for (name, s), (curves, _) in zip(named, measured)}
    table = pd.DataFrame([{**study.row(s, setting=name), **row}
                          for (name, s), (_, row) in zip(named, measured)])
    ts = np.linspace(-config.interpolation_margin, 1 + config.interpolation_margin,
                     config.interpolation_points)
    interpolations = {(name, c[0].seed): landscape.interpolation(
        study[c[0]].model, study[c[1]].model, ts, *sample(name, c[0])) for name, c in chains}
    grid = np.linspace(-config.plane_radius, config.plane_radius, config.plane_points)
    name, first = chains[0]
    planes = {generation_name(s.generation): landscape.plane(
        study[s].model, landscape.random_direction(study[s].model, config.direction_seed),
        landscape.random_direction(study[s].model, config.direction_seed + 1), grid, grid,
        *sample(name, s)) for s in first}
    analysis = FlatnessAnalysis.of(table, config.measures())
    return Result(analysis.verdicts, table=table, lines=lines, planes=planes,
                  interpolations=interpolations, analysis=analysis, measures=config.measures(),
                  radii=list(config.radii), classes=study.lab.data(first[0]).num_classes)


@dataclass
class Result(ClaimResult):
    table: pd.DataFrame  # one row per model: accuracy, measures, confounds
    lines: dict[tuple, list[landscape.Surface]]  # (setting, seed, generation) -> curves
    planes: dict[str, landscape.Surface]  # "teacher", "student 1" of the first chain
    interpolations: dict[tuple, landscape.Surface]  # (setting, seed) -> teacher → student
    analysis: FlatnessAnalysis
    measures: list[Measure]
    radii: list[float]
    classes: int  # of the data: a uniform guess's loss is ln(classes)

    def headline(self, claim: str) -> str:
        return self.analysis.headline(claim)

    def columns(self) -> list[str]:
        return ["setting", "seed", "generation", "test_acc", "train_acc", "gap",
                *(m.column for m in self.measures), "sigma_bounded", *CONFOUNDS]

    def numbers(self, claim: str) -> dict[str, Any]:
        return self.analysis.numbers(claim, self.table[self.columns()])

    def measures_table(self) -> pd.DataFrame:
        return self.analysis.measures_table(self.measures)

    def sweep_table(self) -> pd.DataFrame:
        """Means over seeds, per setting and generation, of the loss and error rises by radius,
        with the base loss: where the rise passes ln K the network is destroyed."""
        columns = ["sample_nll", *(rise_column(k, r) for k in ("loss", "error")
                                   for r in self.radii)]
        return self.table.groupby(["setting", "generation"])[columns].mean().round(4)

    def texts(self) -> dict[str, str]:
        """The sentences the page's prose quotes, computed from the tables."""
        classes = self.classes
        rises = self.table[[rise_column("loss", r) for r in self.radii]].mean()
        base = float(self.table.sample_nll.mean())
        destroyed = [r for r in self.radii if rises[rise_column("loss", r)] > np.log(classes)]
        parts = [f"r = {r:g}: +{rises[rise_column('loss', r)]:.3g} nats" for r in self.radii]
        verdict = (f"beyond ln {classes:g} = {np.log(classes):.2f} nats, as good as a guess, "
                   f"from r = {min(destroyed):g} on" if destroyed else
                   f"never beyond ln {classes:g} = {np.log(classes):.2f} nats, a guess's")
        return {"c3_sweep": f"from a base loss of {base:.3g} nats the mean rise is "
                            + "; ".join(parts) + f": {verdict}",
                "c3_reading": self.analysis.reading}

    def confounds_table(self) -> pd.DataFrame:
        return self.table.groupby(["setting", "generation"])[CONFOUNDS].mean().round(4)


def many_models_table(study: dict[str, Any] | list) -> pd.DataFrame:
    """The many-model study's Kendall τ of each measure with the generalization gap, or a note
    that it has not run."""
    if not study:
        return pd.DataFrame({"note": ["no many-model study: run python "
                                      "experiments/many_models_flatness.py"]})
    taus = pd.DataFrame(study["taus"]).set_index("label")
    taus["resolved"] = (taus.ci_low > 0) | (taus.ci_high < 0)
    return taus[["models", "tau", "ci_low", "ci_high", "resolved"]].round(3)
