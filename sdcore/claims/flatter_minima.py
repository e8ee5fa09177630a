"""Claims C3 and C4 by the Hessian: are students at flatter minima; does flatness track accuracy?

The models are the chains of claim C1, from the run store (trained only if missing);
``analyse`` measures each model's Hessian of the training loss (eval-mode BatchNorm) on a fixed sample of
training images: the top eigenvalues (Lanczos), the trace (Hutchinson with the top eigenspace
deflated, with its standard error) and, for the first ``density_seeds`` chains, the spectral
density (stochastic Lanczos quadrature), with ``engine.measures.hessian_summary``. Cost per
model: about lanczos steps + trace probes (+ density steps) Hessian-vector products, each ≈ one
backward pass over ``hessian_samples`` images.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd
from pydantic import Field

from ..engine.curvature import SpectralDensity
from ..engine.measures import HessianBudget, each, hessian_summary, pyhessian_crosscheck
from .common import ClaimResult, Plan, self_distillation_chains, unique_specs
from .config import ChainsConfig
from .flatness import flatness_numbers, paired_changes, rank_correlations, verdicts
from .runner import Study

MEASURES = ("lambda_max", "trace")
RULES = {
    "C3": ("holds if in every setting, for every generation, the mean paired change (student − its "
           "teacher, by seed) of both λ_max and the Hessian trace is < 0 with its 95% interval "
           "below 0; fails if some generation's interval for either lies wholly above 0; "
           "inconclusive otherwise. The interval over seeds includes the estimators' own noise."),
    "C4": ("holds if, over all models, both λ_max and the trace have a negative Spearman "
           "correlation with test accuracy whose 95% bootstrap interval lies below 0; fails if "
           "either interval lies wholly above 0; inconclusive otherwise. A correlation can "
           "support, not prove, that flatness is why students generalize better.")}
COLUMNS = ["dataset", "model", "seed", "generation", "test_acc", "train_acc", "gap", "lambda_max",
           "trace", "trace_stderr", "eigen_converged", "hvps", "curvature_s"]  # in the record


class Config(ChainsConfig):
    """Claims C3 and C4 by the Hessian: the chains of C1, measured at their final weights."""

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
    density_seeds: int = Field(1, ge=0, description="seeds whose chains get a spectral density "
                               "(it costs most)")
    crosscheck: bool = Field(True, description="compare sdcore's top eigenvalue and trace with "
                             "pyhessian's on the first teacher")


@dataclass
class Result(ClaimResult):
    table: pd.DataFrame  # one row per model: accuracy, generalization gap, curvature
    densities: dict[tuple, SpectralDensity]  # (dataset, model, seed, generation) -> density
    changes: pd.DataFrame  # paired change of each measure by generation
    correlations: pd.DataFrame  # Spearman correlation of each measure with accuracy and gap
    crosscheck: pd.DataFrame | None

    def headline(self, claim: str) -> str:
        if claim == "C3":
            first = self.changes[self.changes.generation == 1]
            parts = [f"{r.measure} {r.change:+.3g} [{r.ci_low:+.3g}, {r.ci_high:+.3g}]"
                     for _, r in first.iterrows()]
            return "gen-1 student − teacher: " + "; ".join(parts)
        acc = self.correlations[self.correlations.target == "test_acc"]
        parts = [f"{r.measure} {r.rho:+.2f} [{r.ci_low:+.2f}, {r.ci_high:+.2f}]"
                 for _, r in acc.iterrows()]
        return "Spearman ρ with test accuracy: " + "; ".join(parts)

    def numbers(self, claim: str) -> dict[str, Any]:
        lambdas = [c for c in self.table.columns if c.startswith("lambda_") and c[7:].isdigit()]
        return flatness_numbers(self, claim, COLUMNS + lambdas)

    def crosscheck_table(self) -> pd.DataFrame:
        """sdcore beside PyHessian on the first teacher, or a note that the check was off."""
        if self.crosscheck is None:
            return pd.DataFrame({"note": ["cross-check off (crosscheck: false)"]})
        return self.crosscheck.round(5)


def budget(config: Config) -> HessianBudget:
    return HessianBudget(config.top_n, config.lanczos_tol, config.lanczos_max_iter,
                         config.trace_probes, config.trace_deflate, config.density_iterations,
                         config.density_runs)


def plan(config: Config) -> Plan:
    return self_distillation_chains(config)  # the models are C1's


def analyse(config: Config, study: Study) -> Result:
    specs = unique_specs(study.plan)
    limits = budget(config)

    def measure(spec):
        x, y = study.lab.training_sample(spec, config.hessian_samples)
        b = config.hessian_batch
        batches = [(x[i:i + b], y[i:i + b]) for i in range(0, len(y), b)]
        with_density = spec.seed < config.first_seed + config.density_seeds
        return batches, hessian_summary(study[spec].model, batches, limits, with_density)

    measured = each(specs, measure, "Hessians")
    table = pd.DataFrame([{**study.row(spec), **row}
                          for spec, (_, (row, _)) in zip(specs, measured)])
    densities = {(s.dataset, s.model, s.seed, s.generation): density
                 for s, (_, (_, density)) in zip(specs, measured) if density is not None}
    check = (pyhessian_crosscheck(study[specs[0]].model, measured[0][0], limits)
             if config.crosscheck else None)
    changes = paired_changes(table, MEASURES)
    correlations = rank_correlations(table, MEASURES)
    return Result(verdicts(changes, correlations), table=table, densities=densities,
                  changes=changes, correlations=correlations, crosscheck=check)
