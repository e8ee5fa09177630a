"""Flatness measures against oracles: closed forms on a quadratic whose Hessian is known, the
curvature at small radii, and invariance to rescaling a convolution that feeds BatchNorm (which
leaves the function unchanged, and changes λ_max)."""

from __future__ import annotations

import itertools
import math

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from sdcore.engine.curvature import Hessian
from sdcore.engine.landscape import random_direction
from sdcore.engine.measures import radius_sweep
from sdcore.engine.sharpness import (
    Sample,
    adaptive_average,
    adaptive_worst,
    matched_temperature,
    mean_confidence,
    sigma_flatness,
)

F64 = torch.float64
A = torch.tensor([[3.0, 1.0, 0.5], [1.0, 2.0, 0.2], [0.5, 0.2, 1.0]], dtype=F64)  # the Hessian
CENTER = torch.tensor([[0.8, -1.5, 2.0]], dtype=F64)  # its minimum, where the weights sit


class Point(nn.Module):
    """A model whose outputs are its weights: with ``quadratic`` as the loss, the loss is
    ½ (θ − c)ᵀ A (θ − c), minimal at the weights it starts with."""

    def __init__(self):
        super().__init__()
        self.theta = nn.Parameter(CENTER.clone())

    def forward(self, x):
        return self.theta.expand(len(x), -1)


def quadratic(outputs, labels):
    d = outputs[0] - CENTER[0]
    return 0.5 * d @ A @ d


SAMPLE = Sample(torch.zeros(4, 1, dtype=F64), torch.zeros(4, dtype=torch.long))
M = torch.diag(CENTER[0].abs()) @ A @ torch.diag(CENTER[0].abs())  # A in the |w|-scaled frame


@pytest.fixture(autouse=True)
def float64():
    before = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(before)


def test_adaptive_worst_case_is_the_best_vertex_of_the_box():
    rho = 0.1
    vertices = [torch.tensor(s, dtype=F64) for s in itertools.product((-1.0, 1.0), repeat=3)]
    best = max(0.5 * rho ** 2 * float(s @ M @ s) for s in vertices)
    measured = adaptive_worst(Point(), SAMPLE, rho, steps=20, criterion=quadratic)
    assert measured == pytest.approx(best, rel=1e-9)


def test_adaptive_average_case_is_half_rho_squared_times_the_scaled_trace():
    rho = 0.1
    measured = adaptive_average(Point(), SAMPLE, rho, draws=4000, criterion=quadratic)
    assert measured == pytest.approx(0.5 * rho ** 2 * float(torch.trace(M)), rel=0.05)


def test_sigma_flatness_is_the_sigma_whose_expected_rise_is_the_target():
    """E ½ (σ w⊙z)ᵀ A (σ w⊙z) = ½ σ² tr(M), so σ = √(2·target / tr(M))."""
    target = 0.01
    measured = sigma_flatness(Point(), SAMPLE, target, sigma_max=1.0, iterations=30,
                              draws=4000, criterion=quadratic)
    assert measured.bounded
    assert measured.sigma == pytest.approx(math.sqrt(2 * target / float(torch.trace(M))),
                                           rel=0.05)


def test_matched_temperature_has_its_closed_form():
    # two classes, logits (a, 0): the top probability is sigmoid(a/T), so T = a / logit(c)
    logits = torch.tensor([[2.0, 0.0], [2.0, 0.0]], dtype=F64)
    t = matched_temperature(logits, 0.75)
    assert t == pytest.approx(2.0 / math.log(3.0), rel=1e-9)
    assert mean_confidence(logits, t) == pytest.approx(0.75, rel=1e-9)
    with pytest.raises(ValueError, match="confidence must lie in"):
        matched_temperature(logits, 0.4)


class ConvBN(nn.Module):
    """A convolution feeding BatchNorm (eval mode), then a linear head."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.conv = nn.Conv2d(1, 4, 3, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(4, eps=1e-12)
        self.head = nn.Linear(4, 3)
        with torch.no_grad():
            self.bn.running_mean.normal_()
            self.bn.running_var.uniform_(0.5, 2.0)
            self.bn.weight.uniform_(0.5, 1.5)
            self.bn.bias.normal_()

    def forward(self, x):
        return self.head(F.relu(self.bn(self.conv(x))).mean((2, 3)))


def rescaled(model: ConvBN, c: float) -> ConvBN:
    """The same function: the convolution's weights times c, BatchNorm's statistics with them."""
    other = ConvBN()
    other.load_state_dict(model.state_dict())
    with torch.no_grad():
        other.conv.weight.mul_(c)
        other.bn.running_mean.mul_(c)
        other.bn.running_var.mul_(c * c)
    return other.eval()


def data():
    gen = torch.Generator().manual_seed(1)
    return torch.randn(16, 1, 6, 6, generator=gen), torch.randint(0, 3, (16,), generator=gen)


def test_rescaling_changes_lambda_max_and_no_invariant_measure():
    model, (x, y) = ConvBN().eval(), data()
    other = rescaled(model, 0.25)
    assert torch.allclose(model(x), other(x), atol=1e-10)  # the same function
    sample = Sample(x, y)
    measures = []
    for m in (model, other):
        worst, average = adaptive_worst(m, sample, 0.05, 3), adaptive_average(m, sample, 0.1, 3)
        sigma = sigma_flatness(m, sample, target=10.0, iterations=12, draws=3)
        sweep = radius_sweep(m, 2, 0, [0.01, 0.1], x, y)
        lam = Hessian(m, F.cross_entropy, [(x, y)]).eigenvalues(1, max_iter=40, tol=1e-8)
        measures.append((worst, average, sigma.sigma, *sweep[0.01],
                         *sweep[0.1], lam.values[0]))
    *invariant_a, lam_a = measures[0]
    *invariant_b, lam_b = measures[1]
    assert invariant_a == pytest.approx(invariant_b, rel=1e-6, abs=1e-9)
    assert abs(lam_b - lam_a) > 0.05 * abs(lam_a)  # plain curvature is not invariant


def test_the_random_direction_rise_at_small_radius_is_the_curvature_along_it():
    """Averaged over ±r the first-order term cancels: rise(r) = ½ r² dᵀHd + O(r⁴)."""
    model, (x, y) = ConvBN().eval(), data()
    r = 1e-3
    rise = radius_sweep(model, 1, 0, [r], x, y)[r][0]
    d = random_direction(model, 0)
    flat = torch.cat([d[n].reshape(-1) for n, p in model.named_parameters()])
    curvature = float(flat @ Hessian(model, F.cross_entropy, [(x, y)]).hvp(flat))
    assert rise == pytest.approx(0.5 * r * r * curvature, rel=1e-3)


def test_the_adaptive_trace_is_invariant_to_rescaling_and_unbiased(float64):
    """tr(diag|w|·H·diag|w|) is the same for a convolution before BatchNorm rescaled by 0.25
    (the same probes give the same estimate), where tr(H) is not; and it estimates
    Σ w_i² H_ii, computed exactly from the diagonal of H."""
    model, (x, y) = ConvBN().double().eval(), data()
    x = x.double()
    other = rescaled(model, 0.25).double().eval()
    adaptive = [Hessian(m, F.cross_entropy, [(x, y)]).adaptive_trace(20, seed=3).value
                for m in (model, other)]
    plain = [Hessian(m, F.cross_entropy, [(x, y)]).trace(20, seed=3).value
             for m in (model, other)]
    assert adaptive[0] == pytest.approx(adaptive[1], rel=1e-9)
    assert plain[1] != pytest.approx(plain[0], rel=1e-6)  # the conv block's share moved
    hessian = Hessian(model, F.cross_entropy, [(x, y)])
    w = torch.cat([p.detach().reshape(-1) for p in model.parameters()])
    diagonal = torch.stack([hessian.hvp(e)[i] for i, e in enumerate(torch.eye(len(w),
                                                                              dtype=w.dtype))])
    exact = float((w ** 2 * diagonal).sum())
    estimate = hessian.adaptive_trace(2000, seed=0, batch=50)
    assert abs(estimate.value - exact) < 4 * estimate.stderr
