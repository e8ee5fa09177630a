"""Flatness measures that are invariant to rescaling the weights, from their papers.

All perturb a model's trainable weights ``w`` and read the training loss (mean cross-entropy)
or error (0–1, %) on a fixed sample, with BatchNorm in eval mode (its running statistics), never
changing the caller's model (``torch.func.functional_call``). Each perturbation is scaled
element-wise by ``|w|``, so a reparametrization that rescales a layer's weights (a convolution
before BatchNorm, whose running statistics rescale with it) rescales the perturbation with them
and leaves every measure unchanged (Dinh et al. 2017 show that plain sharpness has no such
invariance).

- ``adaptive_worst`` and ``adaptive_average`` (Kwon et al. 2021, ASAM; in the form of
  Andriushchenko et al. 2023): the worst-case rise ``max_{‖δ/|w|‖_∞ ≤ ρ} L(w + δ) − L(w)``
  by ``steps`` steps of projected sign-gradient ascent on ``u = δ/|w|`` in the box [−ρ, ρ]ⁿ
  (from a random vertex), and the average-case rise ``E_{δ ~ N(0, ρ² diag(w²))} L(w + δ) −
  L(w)`` over ``draws`` Gaussian draws. Cost: (steps + 1) forward-backward passes, and
  ``draws`` forward passes, over the sample.
- ``sigma_flatness`` (Jiang et al. 2020, the magnitude-aware PAC-Bayes flatness of "Fantastic
  generalization measures"): the largest σ for which multiplicative Gaussian noise,
  ``w ⊙ (1 + σ z)``, raises the training error by at most ``target`` points on average over
  ``draws`` noise draws, found by bisection (``iterations`` halvings of [0, σ_max], the same draws
  at every σ). Larger σ is flatter. Cost: iterations × draws forward passes over the sample.
- ``matched_temperature``: the temperature that brings a model's mean top softmax probability on
  the sample to ``confidence`` (bisection on log T; the mean top probability falls monotonically
  as T grows), so that curvature can be compared at equal saturation of the outputs. Cost: one
  forward pass and a few dozen softmaxes.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor
from torch.func import functional_call

from .inference import eval_mode

Weights = dict[str, Tensor]
Criterion = Callable[[Tensor, Tensor], Tensor]  # (outputs, labels) -> mean loss


@dataclass(frozen=True)
class Sample:
    """The fixed training sample a measure is read on: float inputs and integer labels."""

    x: Tensor
    y: Tensor


def _weights(model: nn.Module) -> Weights:
    return {n: p.detach() for n, p in model.named_parameters() if p.requires_grad}


def _loss_and_error(model: nn.Module, weights: Weights, sample: Sample,
                    criterion: Criterion = F.cross_entropy,
                    grad: bool = False) -> tuple[Tensor, float]:
    """The loss (a tensor, differentiable in ``weights`` if ``grad``) and error (%)."""
    with torch.set_grad_enabled(grad):
        logits = functional_call(model, weights, (sample.x,))
        logits = logits.to(torch.promote_types(logits.dtype, torch.float32))
        loss = criterion(logits, sample.y)
    return loss, 100.0 * float((logits.argmax(1) != sample.y).float().mean())


def _shifted(weights: Weights, scale: Weights, u: Weights) -> Weights:
    """``w + scale ⊙ u`` for every weight."""
    return {n: w + scale[n] * u[n] for n, w in weights.items()}


@contextmanager
def _adaptive(model: nn.Module, sample: Sample, seed: int, criterion: Criterion
              ) -> Iterator[tuple[torch.Generator, Weights, Weights, float]]:
    """The start of both adaptive measures, with ``model`` in eval mode: the seeded generator,
    the weights, their scale ``|w|`` and the unperturbed loss."""
    gen = torch.Generator().manual_seed(seed)
    with eval_mode(model):
        w = _weights(model)
        scale = {n: v.abs() for n, v in w.items()}
        yield gen, w, scale, float(_loss_and_error(model, w, sample, criterion)[0])


def adaptive_worst(model: nn.Module, sample: Sample, rho: float, steps: int = 5, seed: int = 0,
                   criterion: Criterion = F.cross_entropy) -> float:
    """Worst-case adaptive sharpness of ``model``'s training loss on ``sample`` (see the
    module's doc); ``criterion`` is the loss of the model's outputs (cross-entropy unless a test
    gives its own)."""
    if rho <= 0 or steps < 1:
        raise ValueError(f"need rho > 0 and steps ≥ 1; got {rho}, {steps}")
    with _adaptive(model, sample, seed, criterion) as (gen, w, scale, base):
        u = {n: (torch.randint(0, 2, v.shape, generator=gen) * 2 - 1).to(v) * rho
             for n, v in w.items()}
        worst = -math.inf
        for _ in range(steps + 1):
            u = {n: v.requires_grad_(True) for n, v in u.items()}
            loss, _ = _loss_and_error(model, _shifted(w, scale, u), sample, criterion, grad=True)
            worst = max(worst, float(loss.detach()) - base)
            grads = torch.autograd.grad(loss, list(u.values()))
            with torch.no_grad():  # sign steps of half the box's half-width, then back in it
                u = {n: (v + rho / 2 * g.sign()).clamp(-rho, rho)
                     for (n, v), g in zip(u.items(), grads)}
    return worst


def adaptive_average(model: nn.Module, sample: Sample, rho: float, draws: int = 4,
                     seed: int = 0, criterion: Criterion = F.cross_entropy) -> float:
    """Average-case adaptive sharpness of ``model``'s training loss on ``sample`` (see the
    module's doc)."""
    if rho <= 0 or draws < 1:
        raise ValueError(f"need rho > 0 and draws ≥ 1; got {rho}, {draws}")
    with _adaptive(model, sample, seed, criterion) as (gen, w, scale, base):
        rises = []
        for _ in range(draws):
            z = {n: torch.randn(v.shape, generator=gen, dtype=torch.float64).to(v) * rho
                 for n, v in w.items()}
            rises.append(float(_loss_and_error(model, _shifted(w, scale, z), sample,
                                               criterion)[0]) - base)
    return sum(rises) / draws


@dataclass(frozen=True)
class SigmaFlatness:
    """The largest multiplicative noise σ that raises the training error by at most
    ``target`` points; ``bounded`` is False when even ``sigma_max`` stays under the target."""

    sigma: float
    base: float  # the unperturbed error (%), or loss
    target: float
    bounded: bool


def sigma_flatness(model: nn.Module, sample: Sample, target: float = 10.0,
                   sigma_max: float = 2.0, iterations: int = 10, draws: int = 4, seed: int = 0,
                   criterion: Criterion | None = None) -> SigmaFlatness:
    """PAC-Bayes σ-flatness of ``model`` on ``sample`` (see the module's doc): ``target`` is the
    allowed rise of the training error in percentage points, or, with a ``criterion``, of that
    loss (a test's oracle)."""
    if target <= 0 or sigma_max <= 0 or iterations < 1 or draws < 1:
        raise ValueError("need target > 0, sigma_max > 0, iterations ≥ 1 and draws ≥ 1")
    gen = torch.Generator().manual_seed(seed)
    read = 1 if criterion is None else 0  # the error, or the criterion's loss

    def statistic(weights: Weights) -> float:
        return float(_loss_and_error(model, weights, sample, criterion or F.cross_entropy)[read])

    with eval_mode(model):
        w = _weights(model)
        base = statistic(w)
        noise = [{n: torch.randn(v.shape, generator=gen, dtype=torch.float64).to(v)
                  for n, v in w.items()} for _ in range(draws)]

        def rise(sigma: float) -> float:
            values = [statistic({n: v * (1 + sigma * z[n]) for n, v in w.items()})
                      for z in noise]
            return sum(values) / draws - base

        if rise(sigma_max) <= target:
            return SigmaFlatness(sigma_max, base, target, bounded=False)
        low, high = 0.0, sigma_max
        for _ in range(iterations):
            middle = (low + high) / 2
            low, high = (middle, high) if rise(middle) <= target else (low, middle)
    return SigmaFlatness(low, base, target, bounded=True)


def mean_confidence(logits: Tensor, temperature: float = 1.0) -> float:
    """The mean top softmax probability of ``logits / temperature``."""
    return float(F.softmax(logits.double() / temperature, dim=1).max(1).values.mean())


def matched_temperature(logits: Tensor, confidence: float, iterations: int = 60) -> float:
    """The temperature T with ``mean_confidence(logits, T) == confidence`` (bisection on log T
    in [1e-3, 1e3]); the bound reached if the target lies outside what T can give."""
    classes = logits.shape[1]
    if not 1 / classes < confidence < 1:
        raise ValueError(f"confidence must lie in (1/K, 1) = ({1 / classes:.3g}, 1), "
                         f"got {confidence}")
    low, high = math.log(1e-3), math.log(1e3)
    for _ in range(iterations):
        middle = (low + high) / 2
        too_confident = mean_confidence(logits, math.exp(middle)) > confidence
        low, high = (middle, high) if too_confident else (low, middle)
    return math.exp((low + high) / 2)
