"""Claims C3 and C4 by the Hessian: are students at flatter minima; does flatness track accuracy?

``run(config)`` takes the chains of claim C1 from the run store (training only what is missing)
and measures each model's Hessian of the training loss (eval-mode BatchNorm) on a fixed sample of
training images: the top eigenvalues (Lanczos), the trace (Hutchinson with the top eigenspace
deflated, with its standard error) and, for the first ``density_seeds`` chains, the spectral
density (stochastic Lanczos quadrature). Cost per model: about
lanczos steps + trace probes (+ density steps) Hessian-vector products, each ≈ two
forward-backward passes over ``hessian_samples`` images.
"""

from __future__ import annotations

import copy
import math
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from pydantic import Field
from tqdm import tqdm

from ..engine.curvature import Hessian, SpectralDensity
from ..engine.lab import Lab, Trained
from ..engine.stats import paired_differences, spearman_bootstrap, three_way
from . import student_beats_teacher
from .common import ClaimResult, lab_for, now, unique_specs
from .config import ChainsConfig

MEASURES = ("lambda_max", "trace")
RULE_C3 = ("holds if in every setting, for every generation, the mean paired change (student − its "
           "teacher, by seed) of both λ_max and the Hessian trace is < 0 with its 95% interval "
           "below 0; fails if some generation's interval for either lies wholly above 0; "
           "inconclusive otherwise. The interval over seeds includes the estimators' own noise.")
RULE_C4 = ("holds if, over all models, both λ_max and the trace have a negative Spearman "
           "correlation with test accuracy whose 95% bootstrap interval lies below 0; fails if "
           "either interval lies wholly above 0; inconclusive otherwise. A correlation can "
           "support, not prove, that flatness is why students generalize better.")


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
        return flatness_numbers(self, claim)

    def crosscheck_table(self) -> pd.DataFrame:
        """sdcore beside PyHessian on the first teacher, or a note that the check was off."""
        if self.crosscheck is None:
            return pd.DataFrame({"note": ["cross-check off (crosscheck: false)"]})
        return self.crosscheck.round(5)


def flatness_numbers(result: Any, claim: str) -> dict[str, Any]:
    """The record's numbers of a flatness result (this notebook's or the landscape's)."""
    return {"headline": result.headline(claim),
            "changes": result.changes.round(6).to_dict(orient="records"),
            "correlations": result.correlations.round(4).to_dict(orient="records"),
            "models": result.table.drop(columns=["key"]).round(6).to_dict(orient="records")}


def hessian_batches(lab: Lab, trained: Trained, config: Config) -> list:
    """The fixed Hessian sample: the first ``hessian_samples`` training images, unaugmented."""
    x, y = lab.training_sample(trained.spec, config.hessian_samples)
    b = config.hessian_batch
    return [(x[i:i + b], y[i:i + b]) for i in range(0, len(y), b)]


def measure(trained: Trained, batches: list, config: Config,
            with_density: bool) -> tuple[dict, SpectralDensity | None]:
    """Top eigenvalues, trace and (optionally) density of one model's training-loss Hessian."""
    start = time.perf_counter()
    hessian = Hessian(trained.model, F.cross_entropy, batches)
    pairs = hessian.eigenvalues(config.top_n, max_iter=config.lanczos_max_iter,
                                tol=config.lanczos_tol)
    trace = hessian.trace(config.trace_probes, deflate=min(config.trace_deflate, hessian.dim),
                          max_iter=config.lanczos_max_iter, eigenpairs=pairs)
    density = (hessian.density(config.density_iterations, config.density_runs)
               if with_density else None)
    row = {"lambda_max": pairs.values[0], "trace": trace.value, "trace_stderr": trace.stderr,
           "eigen_converged": pairs.converged, "hvps": hessian.matvecs,
           "curvature_s": time.perf_counter() - start}
    row.update({f"lambda_{i + 1}": v for i, v in enumerate(pairs.values)})
    return row, density


def crosscheck(trained: Trained, batches: list, config: Config) -> pd.DataFrame:
    """sdcore's top eigenvalue and trace beside pyhessian 0.1's on the same sample and model."""
    from pyhessian import hessian as PyHessian

    model = copy.deepcopy(trained.model).eval()  # pyhessian leaves .grad and eval mode behind
    x = torch.cat([b[0] for b in batches])
    y = torch.cat([b[1] for b in batches])
    ours = Hessian(trained.model, F.cross_entropy, [(x, y)])
    rows = []
    start = time.perf_counter()
    pairs = ours.eigenvalues(max(1, config.trace_deflate), max_iter=config.lanczos_max_iter,
                             tol=1e-4)
    rows.append({"quantity": "λ_max", "tool": "sdcore", "value": pairs.values[0], "stderr": 0.0,
                 "seconds": time.perf_counter() - start})
    start = time.perf_counter()
    trace = ours.trace(config.trace_probes, deflate=config.trace_deflate, eigenpairs=pairs)
    rows.append({"quantity": "trace", "tool": "sdcore", "value": trace.value,
                 "stderr": trace.stderr, "seconds": time.perf_counter() - start})
    ref = PyHessian(model, torch.nn.CrossEntropyLoss(), data=(x, y), cuda=x.is_cuda)
    start = time.perf_counter()
    values, _ = ref.eigenvalues(top_n=1)
    rows.append({"quantity": "λ_max", "tool": "pyhessian 0.1", "value": float(values[0]),
                 "stderr": 0.0, "seconds": time.perf_counter() - start})
    start = time.perf_counter()
    probes = np.array(ref.trace(maxIter=config.trace_probes, tol=-math.inf), dtype=float)
    rows.append({"quantity": "trace", "tool": "pyhessian 0.1", "value": probes.mean(),
                 "stderr": probes.std(ddof=1) / math.sqrt(len(probes)),
                 "seconds": time.perf_counter() - start})
    return pd.DataFrame(rows)


plan = student_beats_teacher.plan  # the models are C1's


def run(config: Config) -> Result:
    started = now()
    lab = lab_for(config)
    chains = plan(config)
    models = lab.obtain(unique_specs(chains))
    rows, densities, check = [], {}, None
    bar = tqdm(total=sum(map(len, chains)), desc="Hessians", unit="model", ncols=100)
    for chain in chains:
        for spec in chain:
            trained = models[spec.key]
            batches = hessian_batches(lab, trained, config)
            with_density = spec.seed < config.first_seed + config.density_seeds
            row, density = measure(trained, batches, config, with_density)
            m = trained.metrics
            rows.append({"dataset": spec.dataset, "model": spec.model, "seed": spec.seed,
                         "generation": spec.generation, "test_acc": m["test_acc"],
                         "train_acc": m["train_acc"], "gap": m["train_acc"] - m["test_acc"],
                         **row, "key": trained.key})
            if density is not None:
                densities[(spec.dataset, spec.model, spec.seed, spec.generation)] = density
            if config.crosscheck and check is None:
                check = crosscheck(trained, batches, config)
            bar.update(1)
    bar.close()
    table = pd.DataFrame(rows)
    changes = paired_changes(table, MEASURES)
    correlations = rank_correlations(table, MEASURES)
    return Result(verdicts(changes, correlations), {"C3": RULE_C3, "C4": RULE_C4},
                  str(lab.device), started, table=table, densities=densities, changes=changes,
                  correlations=correlations, crosscheck=check)


def paired_changes(table: pd.DataFrame, measures: tuple[str, ...]) -> pd.DataFrame:
    """Mean change of each measure from each teacher to its student, over seeds, with 95% CI."""
    generations = sorted(g for g in table.generation.unique() if g > 0)
    parts = []
    for name in measures:
        part = paired_differences(table, name, "generation", {g: (g, g - 1) for g in generations},
                                  ["dataset", "model"])
        part.insert(2, "measure", name)
        parts.append(part)
    changes = pd.concat(parts, ignore_index=True).rename(
        columns={"comparison": "generation", "difference": "change",
                 "negative": "students_flatter"})
    changes["relative"] = changes.change / changes.baseline
    return changes.drop(columns=["positive", "baseline"])


def rank_correlations(table: pd.DataFrame, measures: tuple[str, ...],
                      targets: tuple[str, ...] = ("test_acc", "gap")) -> pd.DataFrame:
    """Spearman's ρ of each measure with each target over all models, with bootstrap intervals."""
    rows = []
    for measure_name in measures:
        for target in targets:
            rho, lo, hi = spearman_bootstrap(table[measure_name].to_numpy(),
                                             table[target].to_numpy())
            rows.append({"measure": measure_name, "target": target, "models": len(table),
                         "rho": rho, "ci_low": lo, "ci_high": hi})
    return pd.DataFrame(rows)


def verdicts(changes: pd.DataFrame, correlations: pd.DataFrame) -> dict[str, str]:
    """RULE_C3 (every change negative) and RULE_C4 (negative correlation with accuracy)."""
    accuracy = correlations[correlations.target == "test_acc"]
    return {"C3": three_way(changes.ci_low, changes.ci_high, sign=-1),
            "C4": three_way(accuracy.ci_low, accuracy.ci_high, sign=-1)}
