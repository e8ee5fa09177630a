"""Claims C3 and C4 by the loss landscape, with measures that rescaling the weights cannot change.

The models are C1's, by role (``flatness.measured_models``: the teacher, the distilled student,
the label-smoothing and knowledge-control students, the long teacher, and with ``sam_rho`` a
teacher trained by sharpness-aware minimization and its student), from the run store. On a fixed
sample of each seed's training images (no augmentation, eval-mode BatchNorm), per model:

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
  confidence and logit norm, and the weights' norms; and the model's own training objective.

Every judged measure is invariant to rescaling a layer's weights through BatchNorm (a test checks
it). C3 reads the distilled student against its teacher; C4 reads every role by contrast and
reports the SAM arm (``flatness``). Beside them, a 2D surface of the first seed's teacher and
student and the straight line from each teacher to its student. Cost per model: directions × (line_points + 2 × radii) forward
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
from ..engine.stats import rank_bootstrap
from .common import ClaimResult, Plan
from .config import FlatnessConfig
from .flatness import C3_RULE, C4_RULE, FlatnessAnalysis, Measure, measured_models
from .roles import STUDENT, TEACHER
from .runner import Study

RULES = {
    "C3": C3_RULE + ". Here the judged measures are the worst-case adaptive sharpness at "
          "adaptive_rho and the average-case one at average_rho, the σ-flatness (larger is "
          "flatter) and the loss rise at sharpness_radius along filter-normalized random "
          "directions; the other radii and the error rises are reported, not judged",
    "C4": C4_RULE}
CONFOUNDS = ["train_loss", "test_loss", "sample_nll", "sample_confidence", "sample_logit_norm",
             "weight_norm", "kernel_norm", "own_objective"]


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
    return [[m.spec] for m in measured_models(config)]  # C1's models, by role


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
    models = measured_models(config)
    samples = {}  # the landscape sample of each seed, taken once (its roles share the images)

    def sample(m):
        if (m.setting, m.seed) not in samples:
            samples[(m.setting, m.seed)] = study.lab.training_sample(m.spec,
                                                                     config.landscape_samples)
        return samples[(m.setting, m.seed)]

    def measure(m):
        curves, row = measure_model(study[m.spec].model, *sample(m), config)
        row["own_objective"] = study.lab.objective(m.spec, study[m.spec].model, *sample(m))
        return curves, row

    measured = each(models, measure, "landscapes")
    lines = {(m.setting, m.seed, m.role): curves for m, (curves, _) in zip(models, measured)}
    table = pd.DataFrame([{**study.row(m.spec, setting=m.setting, role=m.role), **row}
                          for m, (_, row) in zip(models, measured)])
    pairs = {(m.setting, m.seed): {n.role: n for n in models
                                   if (n.setting, n.seed) == (m.setting, m.seed)}
             for m in models}
    ts = np.linspace(-config.interpolation_margin, 1 + config.interpolation_margin,
                     config.interpolation_points)
    interpolations = {key: landscape.interpolation(
        study[own[TEACHER].spec].model, study[own[STUDENT].spec].model, ts, *sample(own[TEACHER]))
        for key, own in pairs.items()}
    grid = np.linspace(-config.plane_radius, config.plane_radius, config.plane_points)
    first = pairs[next(iter(pairs))]
    planes = {role: landscape.plane(
        study[first[role].spec].model,
        landscape.random_direction(study[first[role].spec].model, config.direction_seed),
        landscape.random_direction(study[first[role].spec].model, config.direction_seed + 1),
        grid, grid, *sample(first[role])) for role in (TEACHER, STUDENT)}
    analysis = FlatnessAnalysis.of(table, config.measures(), config.equivalence_margin,
                                   ("C3", "C4"))
    return Result(analysis.verdicts, table=table, lines=lines, planes=planes,
                  interpolations=interpolations, analysis=analysis, measures=config.measures(),
                  radii=list(config.radii),
                  classes=study.lab.data(first[TEACHER].spec).num_classes)


@dataclass
class Result(ClaimResult):
    table: pd.DataFrame  # one row per model: accuracy, measures, confounds
    lines: dict[tuple, list[landscape.Surface]]  # (setting, seed, role) -> curves
    planes: dict[str, landscape.Surface]  # "teacher", "student 1" of the first seed
    interpolations: dict[tuple, landscape.Surface]  # (setting, seed) -> teacher → student
    analysis: FlatnessAnalysis
    measures: list[Measure]
    radii: list[float]
    classes: int  # of the data: a uniform guess's loss is ln(classes)

    def headline(self, claim: str) -> str:
        return self.analysis.headline(claim)

    def columns(self) -> list[str]:
        return ["setting", "seed", "role", "test_acc", "train_acc", "gap",
                *(m.column for m in self.measures), "sigma_bounded", *CONFOUNDS]

    def numbers(self, claim: str) -> dict[str, Any]:
        return self.analysis.numbers(claim, self.table[self.columns()])

    def measures_table(self) -> pd.DataFrame:
        return self.analysis.measures_table(self.measures)

    def roles_table(self) -> pd.DataFrame:
        """Every role's change from its teacher in every judged measure."""
        return self.analysis.roles_table(self.measures)

    def contrast_table(self) -> pd.DataFrame:
        """C4's components: each role's gain and flattening per judged measure, the one-sided
        p-values, the minimum detectable flattening and what each says."""
        labels = {m.column: m.label for m in self.measures}
        table = self.analysis.components.copy()
        if table.empty:
            return table
        table["measure"] = table.measure.map(labels)
        return table[["setting", "role", "measure", "seeds", "gain", "gain_low", "gain_high",
                      "flattening", "p_flatter", "p_sharper", "mde_80", "reading"]].round(4)

    def sam_table(self) -> pd.DataFrame:
        """C4 by intervention: the SAM teacher against the plain one, and its student against
        it (empty without a SAM arm)."""
        return self.analysis.sam.round(3)

    def sweep_table(self) -> pd.DataFrame:
        """Means over seeds, per setting and generation, of the loss and error rises by radius,
        with the base loss: where the rise passes ln K the network is destroyed."""
        columns = ["sample_nll", *(rise_column(k, r) for k in ("loss", "error")
                                   for r in self.radii)]
        return self.table.groupby(["setting", "role"], sort=False)[columns].mean().round(4)

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
                "c3_reading": self.analysis.reading, "c4_contrast": self.contrast_sentence(),
                "c4_sam": self.sam_sentence(), "c4_discussion": self.discussion()}

    def contrast_sentence(self) -> str:
        """What C4's contrast found, per role: does it gain, and in how many judged measures is it
        flatter, sharper or undecided."""
        components = self.analysis.components
        if components.empty:
            return "no role beside the teacher was measured"
        parts = []
        for (setting, role), rows in components.groupby(["setting", "role"], sort=False):
            counts = rows.reading.value_counts()
            parts.append(f"{role} ({setting}) {'gains' if rows.gains.iloc[0] else 'does not gain'}"
                         f" ({rows.gain.iloc[0]:+.2f} pp [{rows.gain_low.iloc[0]:+.2f}, "
                         f"{rows.gain_high.iloc[0]:+.2f}]) and is flatter in "
                         f"{counts.get('flatter', 0)}, sharper in {counts.get('sharper', 0)} of "
                         f"{len(rows)} judged measures")
        return "; ".join(parts)

    def sam_sentence(self) -> str:
        """What the SAM arm found: its accuracy against the plain teacher, its flattening, and
        what distilling from it added."""
        sam = self.analysis.sam
        if sam.empty:
            return "no SAM arm was declared (sam_rho: 0)"
        parts = []
        for r in sam.itertuples():
            if r.quantity.startswith("test accuracy") or r.comparison.startswith("SAM teacher"):
                parts.append(f"{r.comparison}, {r.quantity}: {r.difference:+.3g} [{r.ci_low:+.3g}"
                             f", {r.ci_high:+.3g}]")
        return "; ".join(parts)

    def discussion(self) -> str:
        """The page's closing paragraph: what the invariant measures, the contrast and the
        intervention found, in words computed from the tables."""
        v = self.verdicts
        sam = self.analysis.sam
        acc = sam[sam.quantity.str.startswith("test accuracy")] if len(sam) else sam
        lines = [f"C3 {v['C3']} on this page: by the invariant measures, {self.analysis.reading}",
                 f"C4 {v['C4']} by contrast: {self.contrast_sentence()}"]
        for r in acc.itertuples():
            verdict = ("above 0" if r.ci_low > 0 else "below 0" if r.ci_high < 0
                       else "not told apart from 0")
            lines.append(f"{r.comparison} in test accuracy is {verdict} ({r.difference:+.2f} pp "
                         f"[{r.ci_low:+.2f}, {r.ci_high:+.2f}])")
        return "; ".join(lines) + "."

    def confounds_table(self) -> pd.DataFrame:
        return self.table.groupby(["setting", "role"], sort=False)[CONFOUNDS].mean().round(4)


MANY_MODELS_RULE = ("a measure tracks generalization here if its Kendall τ with the "
                    "generalization gap and its partial τ given the training loss both have a 95% "
                    "bootstrap interval (resampling a teacher with its students) that excludes 0")


def many_models_table(study: dict[str, Any] | list) -> pd.DataFrame:
    """The many-model study, a declared test (``MANY_MODELS_RULE``): each measure's Kendall τ
    with the generalization gap and its partial τ given the training loss, with 95% bootstrap
    intervals, and whether it tracks the gap; or a note that the study has not run."""
    if not study:
        return pd.DataFrame({"note": ["no many-model study: run python "
                                      "experiments/many_models_flatness.py"]})
    models = pd.DataFrame(study["models"])
    rows = []
    for t in study["taus"]:
        column = t["measure"]
        partial = (rank_bootstrap(models[column], models.gap, models.family, method="kendall",
                                  given=models.train_loss) if column != "train_loss"
                   else (np.nan, np.nan, np.nan))
        tracks = ((t["ci_low"] > 0 or t["ci_high"] < 0)
                  and (partial[1] > 0 or partial[2] < 0 or column == "train_loss"))
        rows.append({"measure": t["label"], "models": t["models"], "tau": t["tau"],
                     "ci_low": t["ci_low"], "ci_high": t["ci_high"], "partial_tau": partial[0],
                     "partial_low": partial[1], "partial_high": partial[2], "tracks": tracks})
    return pd.DataFrame(rows).set_index("measure").round(3)


def many_models_sentence(table: pd.DataFrame) -> str:
    """Which measures track generalization in the many-model study, computed from its table."""
    if "tracks" not in table:
        return "the many-model study has not been run"
    tracking = [f"{m} (τ {row.tau:+.2f}" + ("" if np.isnan(row.partial_tau) else
                                           f", partial τ {row.partial_tau:+.2f}") + ")"
                for m, row in table.iterrows() if row.tracks]
    return (f"over {int(table.models.max())} models, {len(tracking)} of {len(table)} measures "
            f"track the generalization gap by the declared rule (a positive τ: the larger the "
            f"measure, the larger the gap): {'; '.join(tracking) if tracking else 'none'}")
