"""Self-distillation in kernel ridge regression: the setting of Mobahi, Farajtabar & Bartlett 2020.

Round 1 fits the labels ``y`` by kernel ridge regression with ridge ``c``; round t+1 fits the
targets ``mix·y + (1 − mix)·p_t``, where ``p_t`` are round t's predictions at the training points
(``mix = 0``: pure self-distillation; ``mix > 0``: the ground truth mixed back in, as in Borup &
Andersen 2021). With the Gram matrix ``G = V diag(d) Vᵀ`` every round is a diagonal map in the
eigenbasis: predictions ``q = Vᵀp`` obey

    q_1 = s ⊙ u,   q_{t+1} = s ⊙ (mix·u + (1 − mix)·q_t),   s = d / (d + c),   u = Vᵀy,

so each round multiplies coordinate k by the shrinkage factor s_k ∈ (0, 1), smaller eigenvalues
shrinking faster; with mix = 0, q_t = s^t ⊙ u → 0 (collapse to the zero function), with mix > 0
q_t → q* = mix·s ⊙ u / (1 − (1 − mix)·s) ≠ 0. ``refit`` solves every round from scratch and
``closed_form`` uses these formulas; they agree to rounding. Cost: one n×n eigendecomposition (or
one solve per round); the toy problem has n = 11, so it is instant.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def rbf_kernel(a: np.ndarray, b: np.ndarray, width: float) -> np.ndarray:
    """``exp(−(a_i − b_j)² / (2·width²))`` for 1-D inputs."""
    return np.exp(-(a[:, None] - b[None, :]) ** 2 / (2.0 * width ** 2))


@dataclass(frozen=True)
class ToyProblem:
    """Noisy samples of a sinusoid (Mobahi et al.'s kind of toy problem) and a dense test grid."""

    x: np.ndarray
    y: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray  # the noiseless function on the grid

    @classmethod
    def sinusoid(cls, points: int, noise: float, seed: int, grid: int = 400) -> "ToyProblem":
        rng = np.random.default_rng(seed)
        x = np.linspace(0.0, 1.0, points)
        y = np.sin(2 * np.pi * x) + noise * rng.standard_normal(points)
        x_test = np.linspace(0.0, 1.0, grid)
        return cls(x, y, x_test, np.sin(2 * np.pi * x_test))


@dataclass(frozen=True)
class Rounds:
    """Every round's dual coefficients and predictions (rows are rounds 1..T)."""

    alpha: np.ndarray  # T × n: f_t(x) = Σ_i alpha_ti k(x, x_i)
    train_pred: np.ndarray  # T × n: f_t at the training points
    test_pred: np.ndarray  # T × m: f_t on the test grid

    def test_error(self, y_test: np.ndarray) -> np.ndarray:
        """Mean squared error against the noiseless function, per round."""
        return ((self.test_pred - y_test) ** 2).mean(axis=1)

    def norms(self) -> np.ndarray:
        """Euclidean norm of the predictions at the training points, per round."""
        return np.linalg.norm(self.train_pred, axis=1)


def _check(rounds: int, ridge: float, mix: float) -> None:
    if rounds < 1 or ridge <= 0 or not 0.0 <= mix <= 1.0:
        raise ValueError(f"need rounds ≥ 1, ridge > 0 and 0 ≤ mix ≤ 1; "
                         f"got {rounds}, {ridge}, {mix}")


def refit(problem: ToyProblem, width: float, ridge: float, rounds: int, mix: float = 0.0) -> Rounds:
    """Self-distillation by refitting: one kernel ridge solve per round."""
    _check(rounds, ridge, mix)
    gram = rbf_kernel(problem.x, problem.x, width)
    k_test = rbf_kernel(problem.x_test, problem.x, width)
    targets, alphas = problem.y, []
    for _ in range(rounds):
        alpha = np.linalg.solve(gram + ridge * np.eye(len(gram)), targets)
        alphas.append(alpha)
        targets = mix * problem.y + (1.0 - mix) * gram @ alpha
    alpha = np.array(alphas)
    return Rounds(alpha, alpha @ gram, alpha @ k_test.T)


@dataclass(frozen=True)
class Eigenbasis:
    """The Gram matrix's eigenvalues (descending), eigenvectors and the per-round shrinkage."""

    eigenvalues: np.ndarray
    vectors: np.ndarray
    ridge: float

    @classmethod
    def of(cls, problem: ToyProblem, width: float, ridge: float) -> "Eigenbasis":
        d, v = np.linalg.eigh(rbf_kernel(problem.x, problem.x, width))
        order = np.argsort(d)[::-1]
        return cls(np.clip(d[order], 0.0, None), v[:, order], ridge)

    @property
    def shrinkage(self) -> np.ndarray:
        """``d_k / (d_k + c)``: what one round multiplies eigen-coordinate k by."""
        return self.eigenvalues / (self.eigenvalues + self.ridge)

    def coordinates(self, y: np.ndarray, rounds: int, mix: float = 0.0) -> np.ndarray:
        """Eigen-coordinates ``q_t = Vᵀp_t`` of the predictions, rounds 1..T (T × n)."""
        _check(rounds, self.ridge, mix)
        s, u = self.shrinkage, self.vectors.T @ y
        t = np.arange(rounds)[:, None]
        if mix == 0.0:
            return s ** (t + 1) * u
        fixed = mix * s * u / (1.0 - (1.0 - mix) * s)
        return fixed + ((1.0 - mix) * s) ** t * (s * u - fixed)


def closed_form(problem: ToyProblem, width: float, ridge: float, rounds: int,
                mix: float = 0.0) -> Rounds:
    """Self-distillation from the eigenbasis formulas, without refitting."""
    basis = Eigenbasis.of(problem, width, ridge)
    q = basis.coordinates(problem.y, rounds, mix)
    u = basis.vectors.T @ problem.y
    # round t fits targets whose coordinates are u (t = 1) or mix·u + (1 − mix)·q_{t−1}
    target_coords = np.vstack([u[None, :], mix * u + (1.0 - mix) * q[:-1]])
    alpha = (target_coords / (basis.eigenvalues + ridge)) @ basis.vectors.T
    k_test = rbf_kernel(problem.x_test, problem.x, width)
    return Rounds(alpha, q @ basis.vectors.T, alpha @ k_test.T)
