"""Per-model flatness measurements, as the claims tabulate them.

- ``hessian_summary``: a model's training-loss Hessian (``curvature.Hessian``, eval-mode
  BatchNorm) reduced to its top eigenvalues (Lanczos), its trace (Hutchinson, the top eigenspace
  deflated) and optionally its spectral density (SLQ). Cost: about ``lanczos_max_iter`` +
  ``trace_probes`` (+ ``density_iterations`` × ``density_runs``) Hessian-vector products, each
  about one backward pass over the sample once the gradient graph is built.
- ``pyhessian_crosscheck``: sdcore's top eigenvalue and trace beside PyHessian 0.1's on the same
  model and sample. Cost: both tools' HVPs, about twice the summary's.
- ``random_lines`` and ``sharpness``: 1D loss curves along filter-normalized random directions
  (``landscape``) and the mean loss rise at ±radius read off them; ``radius_sweep``: the rise of
  the loss and of the 0–1 error at several radii. Cost: directions × points forward passes over
  the sample.
- ``saturation``: the sample's loss, confidence and logit norm, and the weights' norms (what the
  curvature measures are confounded with). Cost: one forward pass.
- ``each``: a measurement applied to every model with one progress bar.
"""

from __future__ import annotations

import copy
import math
import time
import warnings
from dataclasses import dataclass
from typing import Callable, Iterable, TypeVar

import numpy as np
import pandas as pd
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from . import landscape
from .curvature import Hessian, SpectralDensity
from .inference import eval_mode
from .progress import Progress

Batches = list[tuple[Tensor, Tensor]]
Item = TypeVar("Item")
Out = TypeVar("Out")


@dataclass(frozen=True)
class HessianBudget:
    """How much work each Hessian measure may spend (see the claims' parameters)."""

    top_n: int = 3
    lanczos_tol: float = 1e-2
    lanczos_max_iter: int = 60
    trace_probes: int = 30
    trace_deflate: int = 3
    density_iterations: int = 40
    density_runs: int = 1


def hessian_summary(model: nn.Module, batches: Batches, budget: HessianBudget,
                    with_density: bool,
                    loss_fn: Callable[[Tensor, Tensor], Tensor] = F.cross_entropy,
                    ) -> tuple[dict, SpectralDensity | None]:
    """Top eigenvalues, trace and (optionally) density of the Hessian of ``model``'s training
    loss (``loss_fn`` of its outputs: cross-entropy, or say a tempered one)."""
    start = time.perf_counter()
    hessian = Hessian(model, loss_fn, batches)
    pairs = hessian.eigenvalues(budget.top_n, max_iter=budget.lanczos_max_iter,
                                tol=budget.lanczos_tol)
    trace = hessian.trace(budget.trace_probes, deflate=min(budget.trace_deflate, hessian.dim),
                          max_iter=budget.lanczos_max_iter, eigenpairs=pairs)
    density = (hessian.density(budget.density_iterations, budget.density_runs)
               if with_density else None)
    row = {"lambda_max": pairs.values[0], "trace": trace.value, "trace_stderr": trace.stderr,
           "eigen_converged": pairs.converged, "hvps": hessian.matvecs,
           "curvature_s": time.perf_counter() - start}
    row.update({f"lambda_{i + 1}": v for i, v in enumerate(pairs.values)})
    return row, density


def pyhessian_crosscheck(model: nn.Module, batches: Batches,
                         budget: HessianBudget) -> pd.DataFrame:
    """sdcore's top eigenvalue and trace beside pyhessian 0.1's on the same sample and model."""
    from pyhessian import hessian as PyHessian

    reference = copy.deepcopy(model).eval()  # pyhessian leaves .grad and eval mode behind
    x = torch.cat([b[0] for b in batches])
    y = torch.cat([b[1] for b in batches])
    ours = Hessian(model, F.cross_entropy, [(x, y)])
    rows = []
    start = time.perf_counter()
    pairs = ours.eigenvalues(max(1, budget.trace_deflate), max_iter=budget.lanczos_max_iter,
                             tol=1e-4)
    rows.append({"quantity": "λ_max", "tool": "sdcore", "value": pairs.values[0], "stderr": 0.0,
                 "seconds": time.perf_counter() - start})
    start = time.perf_counter()
    trace = ours.trace(budget.trace_probes, deflate=budget.trace_deflate, eigenpairs=pairs)
    rows.append({"quantity": "trace", "tool": "sdcore", "value": trace.value,
                 "stderr": trace.stderr, "seconds": time.perf_counter() - start})
    # pyhessian takes its gradient with backward(create_graph=True), on which torch warns of a
    # reference cycle, naming its own file by its absolute path; the cycle is broken below
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", r"Using backward\(\) with create_graph=True",
                                UserWarning)
        ref = PyHessian(reference, torch.nn.CrossEntropyLoss(), data=(x, y), cuda=x.is_cuda)
    start = time.perf_counter()
    values, _ = ref.eigenvalues(top_n=1)
    rows.append({"quantity": "λ_max", "tool": "pyhessian 0.1", "value": float(values[0]),
                 "stderr": 0.0, "seconds": time.perf_counter() - start})
    start = time.perf_counter()
    probes = np.array(ref.trace(maxIter=budget.trace_probes, tol=-math.inf), dtype=float)
    rows.append({"quantity": "trace", "tool": "pyhessian 0.1", "value": probes.mean(),
                 "stderr": probes.std(ddof=1) / math.sqrt(len(probes)),
                 "seconds": time.perf_counter() - start})
    for p in reference.parameters():
        p.grad = None  # the cycle between each parameter and its gradient's graph
    return pd.DataFrame(rows)


def random_lines(model: nn.Module, directions: int, seed: int, alphas: np.ndarray, x: Tensor,
                 y: Tensor) -> list[landscape.Surface]:
    """1D curves along ``directions`` filter-normalized random directions, seeded ``seed``,
    ``seed + 1``, ..."""
    return [landscape.line(model, landscape.random_direction(model, seed + i), alphas, x, y)
            for i in range(directions)]


def rises_at(curves: list[landscape.Surface], radii: list[float]
             ) -> dict[float, tuple[float, float]]:
    """Per radius r (a point of every curve, as is 0), the mean over the curves and both signs
    of the rise at ±r of the loss and of the error (percentage points); at small r the loss
    rise is ½ r² dᵀHd, the curvature along the curves' directions."""
    out = {}
    for r in radii:
        loss, error = [], []
        for c in curves:
            alphas = list(c.coords[0])
            middle = alphas.index(0.0)
            for i in (alphas.index(-r), alphas.index(r)):
                loss.append(c.loss[i] - c.loss[middle])
                error.append(c.accuracy[middle] - c.accuracy[i])
        out[r] = (float(np.mean(loss)), float(np.mean(error)))
    return out


def radius_sweep(model: nn.Module, directions: int, seed: int, radii: list[float], x: Tensor,
                 y: Tensor) -> dict[float, tuple[float, float]]:
    """``rises_at`` the radii, along ``directions`` directions seeded from ``seed``."""
    alphas = np.array(sorted({0.0, *radii, *(-r for r in radii)}))
    return rises_at(random_lines(model, directions, seed, alphas, x, y), radii)


def saturation(model: nn.Module, x: Tensor, y: Tensor) -> dict[str, float]:
    """How saturated a model's fit of a sample is, and how large its weights: the sample's mean
    cross-entropy, mean top softmax probability and mean logit norm, and the L2 norm of all
    trainable weights and of the convolution and linear weights alone. Cost: one forward pass."""
    with torch.inference_mode(), eval_mode(model):
        logits = model(x).float()
    weights = [p for p in model.parameters() if p.requires_grad]
    return {"sample_nll": float(F.cross_entropy(logits, y)),
            "sample_confidence": float(F.softmax(logits, 1).max(1).values.mean()),
            "sample_logit_norm": float(logits.norm(dim=1).mean()),
            "weight_norm": float(torch.sqrt(sum((p.detach() ** 2).sum() for p in weights))),
            "kernel_norm": float(torch.sqrt(sum((p.detach() ** 2).sum() for p in weights
                                                if p.ndim >= 2)))}


def sharpness(curves: list[landscape.Surface], radius: float) -> float:
    """Mean over directions and both signs of loss(±radius) − loss(0), read off the curves."""
    rises = []
    for curve in curves:
        alphas = curve.coords[0]
        base = float(np.interp(0.0, alphas, curve.loss))
        rises += [float(np.interp(s * radius, alphas, curve.loss)) - base for s in (-1, 1)]
    return float(np.mean(rises))


def each(items: Iterable[Item], measure: Callable[[Item], Out], desc: str,
         unit: str = "model") -> list[Out]:
    """``measure(item)`` for every item, in order, with one progress bar."""
    items = list(items)
    with Progress(len(items), desc, unit) as progress:
        out = []
        for item in items:
            out.append(measure(item))
            progress.update(1)
    return out
