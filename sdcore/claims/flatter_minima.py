"""Claims C3 and C4 by the Hessian, read where output saturation cannot fake it.

The models are C1's teachers and first students (``flatness.measured_chains``: its declared
settings, the first ``measured_seeds`` seeds), from the run store. On a fixed sample of training
images (no augmentation, eval-mode BatchNorm) ``analyse`` takes, per model, the Hessian of the
training cross-entropy twice (``engine.measures.hessian_summary``: top eigenvalues by Lanczos,
trace by Hutchinson with the top eigenspace deflated, and for the first ``density_seeds`` seeds the
spectral density): as it is, and at a **matched temperature**, the logits divided by the T that
brings the model's mean top softmax probability on the sample to ``matched_confidence``
(``engine.sharpness.matched_temperature``). A model that fits its labels with saturated outputs
has a small cross-entropy Hessian whatever its geometry (the Gauss–Newton factor diag(p) − ppᵀ
vanishes as p turns one-hot); at a common confidence that confound is removed, so C3's verdict
here reads the matched measures, and the raw ones are shown beside them. Neither is invariant to
rescaling weights through BatchNorm; page 04's measures are. Beside them, per model, what the
confounds need (``engine.measures.saturation``). Cost per model: about 2 × (``lanczos_max_iter``
+ ``trace_probes``) Hessian-vector products (+ the density), each about one backward pass over
``hessian_samples`` images.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd
import torch.nn as nn
import torch.nn.functional as F
from pydantic import Field
from torch import Tensor

from ..engine.curvature import SpectralDensity
from ..engine.inference import predict_logits
from ..engine.measures import (
    HessianBudget,
    each,
    hessian_summary,
    pyhessian_crosscheck,
    saturation,
)
from ..engine.sharpness import matched_temperature
from .common import ClaimResult, Plan
from .config import FlatnessConfig
from .flatness import C4_RULE, FlatnessAnalysis, Measure, measured_chains
from .runner import Study

MEASURES = [
    Measure("lambda_max_matched", "λ_max at matched confidence"),
    Measure("trace_matched", "Hessian trace at matched confidence"),
    Measure("lambda_max", "λ_max", judged=False),
    Measure("trace", "Hessian trace", judged=False),
]
RULES = {
    "C3": ("per measured setting, the first student's paired change (student − its teacher, by "
           "seed) in λ_max and in the Hessian trace at matched confidence (both models' logits "
           "tempered to the same mean top softmax probability on the Hessian sample), each "
           "tested by a t-test with Holm's correction over every (measure, setting) test at a "
           "family-wise 5%: holds if every test says the student is flatter; fails if some says "
           "sharper and none flatter; mixed if some say each; inconclusive otherwise. The raw "
           "λ_max and trace are reported, not judged: output saturation confounds them"),
    "C4": C4_RULE}
CONFOUNDS = ["train_loss", "test_loss", "sample_nll", "sample_confidence", "sample_logit_norm",
             "weight_norm", "kernel_norm", "temperature"]
COLUMNS = ["setting", "seed", "generation", "test_acc", "train_acc", "gap",
           *(m.column for m in MEASURES), *CONFOUNDS, "trace_stderr", "eigen_converged",
           "hvps", "curvature_s"]  # each model's row in the record


class Config(FlatnessConfig):
    """Claims C3 and C4 by the Hessian: C1's models, measured at their final weights, as they
    are and at a matched temperature."""

    hessian_samples: int = Field(256, ge=2, description="training images (no augmentation) the "
                                 "Hessian is taken on: the first ones of the training subset")
    hessian_batch: int = Field(256, ge=1, description="images per forward pass inside a "
                               "Hessian-vector product")
    top_n: int = Field(3, ge=1, le=20, description="top Hessian eigenvalues computed by Lanczos")
    lanczos_tol: float = Field(1.0e-2, ge=1.0e-12, description="Lanczos stops when every Ritz "
                               "residual is below tol times its eigenvalue (1e-2 gives "
                               "eigenvalues to about 1e-4 relative where they are separated)")
    lanczos_max_iter: int = Field(60, ge=1, description="most Lanczos steps for the top "
                                  "eigenvalues")
    trace_probes: int = Field(30, ge=2, description="Rademacher probes of the Hutchinson trace "
                              "estimate")
    trace_deflate: int = Field(3, ge=0, description="top eigenvectors whose trace is taken "
                               "exactly before Hutchinson runs on the rest (variance reduction)")
    density_iterations: int = Field(40, ge=1, description="Lanczos steps of the spectral density "
                                    "(SLQ)")
    density_runs: int = Field(1, ge=1, description="random starts averaged in the spectral "
                              "density")
    density_seeds: int = Field(1, ge=0, description="the first this many measured seeds of each "
                               "setting get a spectral density (it costs most)")
    crosscheck: bool = Field(True, description="compare sdcore's top eigenvalue and trace with "
                             "pyhessian's on the first teacher")
    matched_confidence: float = Field(0.9, gt=0.1, lt=1.0, description="the mean top softmax "
                                      "probability on the Hessian sample that every model's "
                                      "logits are tempered to for the matched measures")


def budget(config: Config) -> HessianBudget:
    return HessianBudget(config.top_n, config.lanczos_tol, config.lanczos_max_iter,
                         config.trace_probes, config.trace_deflate, config.density_iterations,
                         config.density_runs)


def plan(config: Config) -> Plan:
    return [chain[:2] for _, chain in measured_chains(config)]  # C1's teachers and students


def measure_model(model: nn.Module, images: Tensor, x: Tensor, y: Tensor, config: Config,
                  with_density: bool) -> tuple[list, dict[str, Any], SpectralDensity | None]:
    """One model's Hessian measures on its sample (``images``: the sample's uint8 images,
    ``x``, ``y``: its inputs and labels), raw and at the matched temperature, with its
    confounds: the batches, the row and the density (if asked for)."""
    b, limits = config.hessian_batch, budget(config)
    batches = [(x[i:i + b], y[i:i + b]) for i in range(0, len(y), b)]
    raw, density = hessian_summary(model, batches, limits, with_density)
    t = matched_temperature(predict_logits(model, images, len(y)), config.matched_confidence)
    matched, _ = hessian_summary(model, batches, limits, False,
                                 lambda out, labels: F.cross_entropy(out / t, labels))
    row = {**raw, "lambda_max_matched": matched["lambda_max"],
           "trace_matched": matched["trace"], "temperature": t, **saturation(model, x, y)}
    return batches, row, density


def analyse(config: Config, study: Study) -> Result:
    named = [(name, spec) for name, chain in measured_chains(config) for spec in chain[:2]]
    first = {name: min(s.seed for n, s in named if n == name) for name, _ in named}

    def measure(item):
        name, spec = item
        x, y = study.lab.training_sample(spec, config.hessian_samples)
        images = study.lab.data(spec).train_x[:len(y)]
        return measure_model(study[spec].model, images, x, y, config,
                             spec.seed < first[name] + config.density_seeds)

    measured = each(named, measure, "Hessians")
    table = pd.DataFrame([{**study.row(spec, setting=name), **row}
                          for (name, spec), (_, row, _) in zip(named, measured)])
    densities = {(name, s.seed, s.generation): density
                 for (name, s), (*_, density) in zip(named, measured) if density is not None}
    check = (pyhessian_crosscheck(study[named[0][1]].model, measured[0][0], budget(config))
             if config.crosscheck else None)
    analysis = FlatnessAnalysis.of(table, MEASURES)
    return Result(analysis.verdicts, table=table, densities=densities, analysis=analysis,
                  crosscheck=check)


@dataclass
class Result(ClaimResult):
    table: pd.DataFrame  # one row per model: accuracy, curvature, confounds
    densities: dict[tuple, SpectralDensity]  # (setting, seed, generation) -> density
    analysis: FlatnessAnalysis
    crosscheck: pd.DataFrame | None

    def headline(self, claim: str) -> str:
        return self.analysis.headline(claim)

    def numbers(self, claim: str) -> dict[str, Any]:
        return self.analysis.numbers(claim, self.table[COLUMNS])

    def measures_table(self) -> pd.DataFrame:
        """The first students' paired change in every measure, with its interval, p-value,
        Holm decision (judged measures) and the seeds where the student is flatter."""
        return self.analysis.measures_table(MEASURES)

    def confounds_table(self) -> pd.DataFrame:
        """Means over seeds, per setting and generation, of what the confounds need."""
        return self.table.groupby(["setting", "generation"])[CONFOUNDS].mean().round(4)

    def texts(self) -> dict[str, str]:
        """The sentences the page's prose quotes, computed from the tables."""
        means = self.table.groupby("generation")[["sample_confidence", "temperature"]].mean()
        measures = self.measures_table().set_index("measure")
        pairs = [("λ_max", "λ_max at matched confidence"),
                 ("Hessian trace", "Hessian trace at matched confidence")]
        compared = "; ".join(
            f"{raw}: {measures.change[raw]:+.3g} [{measures.ci_low[raw]:+.3g}, "
            f"{measures.ci_high[raw]:+.3g}] as measured, {measures.change[matched]:+.3g} "
            f"[{measures.ci_low[matched]:+.3g}, {measures.ci_high[matched]:+.3g}] matched"
            for raw, matched in pairs if raw in measures.index and matched in measures.index)
        return {"c3_saturation": (
                    f"on the Hessian sample the teachers' mean top softmax probability is "
                    f"{means.sample_confidence.get(0, float('nan')):.3f} and the students' "
                    f"{means.sample_confidence.get(1, float('nan')):.3f}; tempering both to the "
                    f"matched confidence takes T = {means.temperature.get(0, float('nan')):.2f} "
                    f"for the teachers and {means.temperature.get(1, float('nan')):.2f} for the "
                    f"students"),
                "c3_raw_matched": compared,
                "c3_reading": self.analysis.reading}

    def crosscheck_table(self) -> pd.DataFrame:
        """sdcore beside PyHessian on the first teacher, or a note that the check was off."""
        if self.crosscheck is None:
            return pd.DataFrame({"note": ["cross-check off (crosscheck: false)"]})
        return self.crosscheck.round(5)

