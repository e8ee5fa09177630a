"""Claims C3 and C4 by the Hessian: are students at flatter minima, and does flatness track accuracy?

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

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from scipy import stats
from tqdm import tqdm

from .config import FlatterMinimaConfig
from .curvature import Hessian, SpectralDensity
from .lab import Lab, Trained
from .stats import mean_ci

MEASURES = ("lambda_max", "trace")
RULE_C3 = ("holds if in every setting, for every generation, the mean paired change (student − its "
           "teacher, by seed) of both λ_max and the Hessian trace is < 0 with its 95% interval "
           "below 0; fails if some generation's interval for either lies wholly above 0; "
           "inconclusive otherwise. The interval over seeds includes the estimators' own noise.")
RULE_C4 = ("holds if, over all models, both λ_max and the trace have a negative Spearman "
           "correlation with test accuracy whose 95% bootstrap interval lies below 0; fails if "
           "either interval lies wholly above 0; inconclusive otherwise. A correlation can "
           "support, not prove, that flatness is why students generalize better.")


@dataclass
class FlatnessResult:
    table: pd.DataFrame  # one row per model: accuracy, generalization gap, curvature
    densities: dict[tuple, SpectralDensity]  # (dataset, model, seed, generation) -> density
    changes: pd.DataFrame  # paired change of each measure by generation
    correlations: pd.DataFrame  # Spearman correlation of each measure with accuracy and gap
    crosscheck: pd.DataFrame | None
    verdict_c3: str
    verdict_c4: str
    device: str
    rule_c3: str = RULE_C3
    rule_c4: str = RULE_C4

    def headline_c3(self) -> str:
        first = self.changes[self.changes.generation == 1]
        parts = [f"{r.measure} {r.change:+.3g} [{r.ci_low:+.3g}, {r.ci_high:+.3g}]"
                 for _, r in first.iterrows()]
        return "gen-1 student − teacher: " + "; ".join(parts)

    def headline_c4(self) -> str:
        acc = self.correlations[self.correlations.target == "test_acc"]
        parts = [f"{r.measure} {r.rho:+.2f} [{r.ci_low:+.2f}, {r.ci_high:+.2f}]"
                 for _, r in acc.iterrows()]
        return "Spearman ρ with test accuracy: " + "; ".join(parts)

    def numbers(self, claim: str) -> dict:
        headline = self.headline_c3() if claim == "C3" else self.headline_c4()
        return {"headline": headline,
                "changes": self.changes.round(6).to_dict(orient="records"),
                "correlations": self.correlations.round(4).to_dict(orient="records"),
                "models": self.table.drop(columns=["key"]).round(6).to_dict(orient="records")}


def hessian_batches(lab: Lab, trained: Trained, config: FlatterMinimaConfig) -> list:
    """The fixed Hessian sample: the first ``hessian_samples`` training images, unaugmented."""
    x, y = lab.training_sample(trained.spec, config.hessian_samples)
    b = config.hessian_batch
    return [(x[i:i + b], y[i:i + b]) for i in range(0, len(y), b)]


def measure(trained: Trained, batches: list, config: FlatterMinimaConfig,
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


def crosscheck(trained: Trained, batches: list, config: FlatterMinimaConfig) -> pd.DataFrame:
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


def run(config: FlatterMinimaConfig, lab: Lab | None = None) -> FlatnessResult:
    lab = lab or Lab.from_config(config)
    rows, densities, check = [], {}, None
    chains = lab.all_chains(config)
    bar = tqdm(total=sum(len(c[3]) for c in chains), desc="Hessians", unit="model", ncols=100)
    for dataset, model, seed, chain in chains:
        for trained in chain:
            batches = hessian_batches(lab, trained, config)
            with_density = seed < config.first_seed + config.density_seeds
            row, density = measure(trained, batches, config, with_density)
            m = trained.metrics
            rows.append({"dataset": dataset, "model": model, "seed": seed,
                         "generation": trained.spec.generation, "test_acc": m["test_acc"],
                         "train_acc": m["train_acc"], "gap": m["train_acc"] - m["test_acc"],
                         **row, "key": trained.key})
            if density is not None:
                densities[(dataset, model, seed, trained.spec.generation)] = density
            if config.crosscheck and check is None:
                check = crosscheck(trained, batches, config)
            bar.update(1)
    bar.close()
    table = pd.DataFrame(rows)
    changes = paired_changes(table)
    correlations = rank_correlations(table)
    return FlatnessResult(table, densities, changes, correlations, check,
                          verdict_c3(changes), verdict_c4(correlations), str(lab.device))


def paired_changes(table: pd.DataFrame, measures: tuple[str, ...] = MEASURES) -> pd.DataFrame:
    """Mean change of each measure from each teacher to its student, over seeds, with 95% CI."""
    rows = []
    for (dataset, model), group in table.groupby(["dataset", "model"], sort=False):
        for measure_name in measures:
            wide = group.pivot(index="seed", columns="generation", values=measure_name)
            for g in wide.columns[1:]:
                diffs = (wide[g] - wide[g - 1]).tolist()
                mean, lo, hi = mean_ci(diffs)
                rows.append({"dataset": dataset, "model": model, "measure": measure_name,
                             "generation": int(g), "seeds": len(diffs), "change": mean,
                             "relative": mean / float(wide[g - 1].mean()), "ci_low": lo,
                             "ci_high": hi, "students_flatter": sum(d < 0 for d in diffs)})
    return pd.DataFrame(rows)


def spearman_bootstrap(x: np.ndarray, y: np.ndarray, resamples: int = 2000,
                       seed: int = 0) -> tuple[float, float, float]:
    """Spearman's ρ with a 95% percentile bootstrap interval (resampling models)."""
    rho = float(stats.spearmanr(x, y).statistic)
    rng = np.random.default_rng(seed)
    boot = []
    for _ in range(resamples):
        idx = rng.integers(0, len(x), len(x))
        if len(np.unique(x[idx])) > 1 and len(np.unique(y[idx])) > 1:
            boot.append(stats.spearmanr(x[idx], y[idx]).statistic)
    if len(boot) < resamples / 2:
        return rho, math.nan, math.nan
    lo, hi = np.percentile(boot, [2.5, 97.5])
    return rho, float(lo), float(hi)


def rank_correlations(table: pd.DataFrame, measures: tuple[str, ...] = MEASURES,
                      targets: tuple[str, ...] = ("test_acc", "gap")) -> pd.DataFrame:
    rows = []
    for measure_name in measures:
        for target in targets:
            rho, lo, hi = spearman_bootstrap(table[measure_name].to_numpy(),
                                             table[target].to_numpy())
            rows.append({"measure": measure_name, "target": target, "models": len(table),
                         "rho": rho, "ci_low": lo, "ci_high": hi})
    return pd.DataFrame(rows)


def verdict_c3(changes: pd.DataFrame) -> str:
    if (changes.ci_low > 0).any():
        return "fails"
    return "holds" if (changes.ci_high < 0).all() else "inconclusive"


def verdict_c4(correlations: pd.DataFrame) -> str:
    acc = correlations[correlations.target == "test_acc"]
    if (acc.ci_low > 0).any():
        return "fails"
    return "holds" if (acc.ci_high < 0).all() else "inconclusive"
