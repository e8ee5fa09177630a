"""Kernel ridge self-distillation: refitting equals the eigenbasis formulas, and the shrinkage,
collapse and mixing behave as Mobahi et al. (2020) and Borup & Andersen (2021) derive."""

import numpy as np
import pytest

from sdcore.engine import theory

PROBLEM = theory.ToyProblem.sinusoid(points=11, noise=0.5, seed=0)


@pytest.mark.parametrize("mix", [0.0, 0.3, 1.0])
@pytest.mark.parametrize("width, ridge", [(0.15, 0.1), (0.3, 1e-3)])
def test_closed_form_equals_refitting(mix, width, ridge):
    refit = theory.refit(PROBLEM, width, ridge, rounds=12, mix=mix)
    closed = theory.closed_form(PROBLEM, width, ridge, rounds=12, mix=mix)
    scale = np.abs(refit.test_pred).max()
    for a, b in [(refit.alpha, closed.alpha), (refit.train_pred, closed.train_pred),
                 (refit.test_pred, closed.test_pred)]:
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-8 * max(scale, np.abs(a).max()))


def test_first_round_is_kernel_ridge_regression():
    gram = theory.rbf_kernel(PROBLEM.x, PROBLEM.x, 0.2)
    alpha = np.linalg.solve(gram + 0.1 * np.eye(11), PROBLEM.y)
    np.testing.assert_allclose(theory.refit(PROBLEM, 0.2, 0.1, rounds=1).alpha[0], alpha)


def test_shrinkage_factors_lie_in_0_1_and_smaller_eigenvalues_shrink_more():
    basis = theory.Eigenbasis.of(PROBLEM, 0.15, 0.1)
    s = basis.shrinkage
    assert np.all((s > 0) & (s < 1))
    assert np.all(np.diff(basis.eigenvalues) <= 0)  # eigenvalues descending ...
    assert np.all(np.diff(s) <= 0)  # ... so the factor kept falls with the eigenvalue
    # every round is that diagonal map: coordinate k of round t is s_k^t times the label's
    q = basis.coordinates(PROBLEM.y, rounds=5)
    np.testing.assert_allclose(q[4], s ** 5 * (basis.vectors.T @ PROBLEM.y))


def test_pure_self_distillation_shrinks_the_predictions_monotonically_to_zero():
    rounds = theory.refit(PROBLEM, 0.15, 0.1, rounds=500)
    norms = rounds.norms()
    assert np.all(np.diff(norms) < 0)
    assert norms[-1] < 1e-3 * norms[0]


def test_ground_truth_mixing_converges_to_a_nonzero_fixed_point():
    rounds = theory.refit(PROBLEM, 0.15, 0.1, rounds=200, mix=0.3)
    assert rounds.norms()[-1] > 0.5 * rounds.norms()[0]
    np.testing.assert_allclose(rounds.train_pred[-1], rounds.train_pred[-2], atol=1e-10)


def test_a_few_rounds_help_then_more_rounds_hurt_on_the_toy_problem():
    errors = theory.refit(PROBLEM, 0.15, 0.1, rounds=20).test_error(PROBLEM.y_test)
    best = int(errors.argmin())
    assert 0 < best < 19 and errors[-1] > errors[0]


@pytest.mark.parametrize("rounds, ridge, mix", [(0, 0.1, 0.0), (3, 0.0, 0.0), (3, 0.1, 1.5)])
def test_bad_arguments_are_refused(rounds, ridge, mix):
    with pytest.raises(ValueError, match="need rounds"):
        theory.refit(PROBLEM, 0.15, ridge, rounds, mix)
