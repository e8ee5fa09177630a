"""Claim C3 by the Hessian, read only where rescaling the weights and output saturation cannot fake it.

The models are C1's, by role (``flatness.measured_models``: its declared settings, the first
``measured_seeds`` seeds, the roles of ``roles``), from the run store. On a fixed sample of each
seed's training images (no augmentation, eval-mode BatchNorm) ``analyse`` takes, per model, the
Hessian of the training cross-entropy at a **matched temperature** (the logits divided by the T
that brings the model's mean top softmax probability on the sample to ``matched_confidence``,
``engine.sharpness.matched_temperature``): a model that fits its labels with saturated outputs has
a small cross-entropy Hessian whatever its geometry, and at a common confidence that confound is
removed. The judged measure is its **adaptive trace**, tr(diag|w|·H·diag|w|) by Hutchinson
(``curvature.Hessian.adaptive_trace``), which rescaling a layer's weights (a convolution before
BatchNorm) cannot change. For the teacher and the distilled student the plain λ_max and trace, as
they are and matched, are reported beside the kernel norms: they scale as 1/‖w‖² with such a
rescaling, so they never decide. Beside them, per model, what the confounds need
(``engine.measures.saturation``) and its training objective on the sample. Cost per model:
``trace_probes`` Hessian-vector products, and for the teacher and student about 2 ×
(``lanczos_max_iter`` + ``trace_probes``) more (+ the density), each about one backward pass over
``hessian_samples`` images.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import pandas as pd
import torch.nn as nn
import torch.nn.functional as F
from pydantic import Field
from torch import Tensor

from ..engine.curvature import Hessian, SpectralDensity
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
from .flatness import C3_RULE, FlatnessAnalysis, Measure, measured_models
from .runner import Study

MEASURES = [
    Measure("adaptive_trace_matched", "adaptive Hessian trace at matched confidence"),
    Measure("lambda_max_matched", "λ_max at matched confidence (scale-dependent)", judged=False),
    Measure("trace_matched", "Hessian trace at matched confidence (scale-dependent)",
            judged=False),
    Measure("lambda_max", "λ_max (scale-dependent)", judged=False),
    Measure("trace", "Hessian trace (scale-dependent)", judged=False),
]
PLAIN = ("teacher", "student 1")  # the roles whose scale-dependent measures are reported
RULES = {"C3": C3_RULE + ". Here the judged measure is the adaptive Hessian trace "
         "tr(diag|w|·H·diag|w|) at matched confidence (both models' logits tempered to the same "
         "mean top softmax probability on the Hessian sample)"}
CONFOUNDS = ["train_loss", "test_loss", "sample_nll", "sample_confidence", "sample_logit_norm",
             "weight_norm", "kernel_norm", "temperature", "own_objective"]
# Each model's row in the record, each column once (own_objective is a confound too).
COLUMNS = list(dict.fromkeys([
    "setting", "seed", "role", "test_acc", "train_acc", "gap", "own_objective",
    *(m.column for m in MEASURES), *CONFOUNDS, "trace_stderr", "eigen_converged", "hvps",
    "curvature_s"]))


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
    return [[m.spec] for m in measured_models(config)]  # C1's models, by role


def measure_model(model: nn.Module, images: Tensor, x: Tensor, y: Tensor, config: Config,
                  plain: bool, with_density: bool
                  ) -> tuple[list, dict[str, Any], SpectralDensity | None]:
    """One model's Hessian measures on its sample (``images``: the sample's uint8 images,
    ``x``, ``y``: its inputs and labels): the adaptive trace at the matched temperature, and
    with ``plain`` the scale-dependent λ_max and trace as they are and matched (and the density,
    if asked for), with its confounds: the batches, the row and the density."""
    b, limits = config.hessian_batch, budget(config)
    batches = [(x[i:i + b], y[i:i + b]) for i in range(0, len(y), b)]
    t = matched_temperature(predict_logits(model, images, len(y)), config.matched_confidence)
    tempered = lambda out, labels: F.cross_entropy(out / t, labels)  # noqa: E731
    start = time.perf_counter()
    adaptive = Hessian(model, tempered, batches).adaptive_trace(config.trace_probes)
    row = {"adaptive_trace_matched": adaptive.value, "adaptive_trace_stderr": adaptive.stderr,
           "temperature": t, **saturation(model, x, y)}
    density = None
    if plain:
        raw, density = hessian_summary(model, batches, limits, with_density)
        matched, _ = hessian_summary(model, batches, limits, False, tempered)
        row.update({**raw, "lambda_max_matched": matched["lambda_max"],
                    "trace_matched": matched["trace"]})
    row["curvature_s"] = time.perf_counter() - start
    return batches, row, density


def analyse(config: Config, study: Study) -> Result:
    models = measured_models(config)
    first = {m.setting: min(n.seed for n in models if n.setting == m.setting) for m in models}

    def measure(m):
        x, y = study.lab.training_sample(m.spec, config.hessian_samples)
        images = study.lab.data(m.spec).train_x[:len(y)]
        model, plain = study[m.spec].model, m.role in PLAIN
        batches, row, density = measure_model(
            model, images, x, y, config, plain,
            plain and m.seed < first[m.setting] + config.density_seeds)
        row["own_objective"] = study.lab.objective(m.spec, model, x, y)
        return batches, row, density

    measured = each(models, measure, "Hessians")
    table = pd.DataFrame([{**study.row(m.spec, setting=m.setting, role=m.role), **row}
                          for m, (_, row, _) in zip(models, measured)])
    densities = {(m.setting, m.seed, m.role): density
                 for m, (*_, density) in zip(models, measured) if density is not None}
    check = (pyhessian_crosscheck(study[models[0].spec].model, measured[0][0], budget(config))
             if config.crosscheck else None)
    analysis = FlatnessAnalysis.of(table, MEASURES, config.equivalence_margin, ("C3",))
    return Result(analysis.verdicts, table=table, densities=densities, analysis=analysis,
                  crosscheck=check)


@dataclass
class Result(ClaimResult):
    table: pd.DataFrame  # one row per model: accuracy, curvature, confounds
    densities: dict[tuple, SpectralDensity]  # (setting, seed, role) -> density
    analysis: FlatnessAnalysis
    crosscheck: pd.DataFrame | None

    def headline(self, claim: str) -> str:
        return self.analysis.headline(claim)

    def numbers(self, claim: str) -> dict[str, Any]:
        return self.analysis.numbers(claim, self.table[[c for c in COLUMNS if c in self.table]])

    def measures_table(self) -> pd.DataFrame:
        """The distilled students' paired change in every measure, with its interval, p-value,
        Holm decision (the judged, invariant measure) and the seeds where the student is
        flatter; the scale-dependent ones are "reported"."""
        return self.analysis.measures_table(MEASURES)

    def roles_table(self) -> pd.DataFrame:
        """Every role's change from its teacher in the judged measure."""
        return self.analysis.roles_table(MEASURES)

    def confounds_table(self) -> pd.DataFrame:
        """Means over seeds, per setting and role, of what the confounds need."""
        return self.table.groupby(["setting", "role"], sort=False)[CONFOUNDS].mean().round(4)

    def texts(self) -> dict[str, str]:
        """The sentences the page's prose quotes, computed from the tables."""
        by_role = self.table.groupby("role")[["sample_confidence", "temperature",
                                              "kernel_norm"]]
        means, spread = by_role.mean(), by_role.agg(["min", "max"])
        t, s = "teacher", "student 1"
        measures = self.measures_table()
        measures = measures[measures.decision == "reported"].set_index("measure")
        compared = "; ".join(
            f"{label}: {measures.change[label]:+.3g} [{measures.ci_low[label]:+.3g}, "
            f"{measures.ci_high[label]:+.3g}]" for label in measures.index)
        pairs = self.table.pivot_table(index=["setting", "seed"], columns="role",
                                       values="kernel_norm")
        ratio = float(((pairs[t] / pairs[s]) ** 2).median()) if s in pairs else float("nan")
        return {"c3_saturation": (
                    f"on the Hessian sample the teachers' mean top softmax probability is "
                    f"{means.sample_confidence.get(t, float('nan')):.3f} and the students' "
                    f"{means.sample_confidence.get(s, float('nan')):.3f}; tempering both to the "
                    f"matched confidence takes T = {means.temperature.get(t, float('nan')):.2f} "
                    f"for the teachers and {means.temperature.get(s, float('nan')):.2f} for the "
                    f"students"),
                "c3_kernels": (
                    f"the teachers' kernel norms run from {spread.kernel_norm['min'][t]:.1f} to "
                    f"{spread.kernel_norm['max'][t]:.1f} and the students' from "
                    f"{spread.kernel_norm['min'][s]:.1f} to {spread.kernel_norm['max'][s]:.1f}; "
                    f"for weights that feed BatchNorm the plain curvature scales as 1/‖w‖², and "
                    f"the median (k_teacher / k_student)² over the pairs is {ratio:.2f}, the "
                    f"factor by which rescaling alone would change a student's plain trace"),
                "c3_raw_matched": compared,
                "c3_reading": self.analysis.reading,
                "c3_discussion": (f"C3 {self.verdicts['C3']} on this page: by the adaptive trace, "
                                  f"{self.analysis.reading}; the scale-dependent measures, which "
                                  f"do not decide, moved as {compared}")}

    def crosscheck_table(self) -> pd.DataFrame:
        """sdcore beside PyHessian on the first teacher, or a note that the check was off."""
        if self.crosscheck is None:
            return pd.DataFrame({"note": ["cross-check off (crosscheck: false)"]})
        return self.crosscheck.round(5)
