"""Calibration and fidelity measures against hand-computed values."""

import math

import pytest
import torch

from sdcore.engine.calibration import agreement, expected_calibration_error, mean_kl


def logits_of(probabilities: list[list[float]]) -> torch.Tensor:
    return torch.tensor(probabilities, dtype=torch.float64).log()


def test_ece_of_hand_built_predictions():
    # confidences .9 (right) and .91 (wrong) share a 15-bin bin; .82 (wrong), .7 (right),
    # .55 (wrong) sit alone: ECE = (|1 + 0 − .9 − .91| + .82 + .3 + .55) / 5
    probs = [[0.9, 0.1], [0.09, 0.91], [0.82, 0.18], [0.3, 0.7], [0.45, 0.55]]
    labels = torch.tensor([0, 0, 1, 1, 0])
    expected = (abs(1 - 0.9 - 0.91) + 0.82 + 0.3 + 0.55) / 5
    assert expected_calibration_error(logits_of(probs), labels) == pytest.approx(expected)
    # one bin: |accuracy − mean confidence| = |2/5 − mean(.9, .91, .82, .7, .55)|
    one = abs(2 / 5 - (0.9 + 0.91 + 0.82 + 0.7 + 0.55) / 5)
    assert expected_calibration_error(logits_of(probs), labels, bins=1) == pytest.approx(one)


def test_a_perfectly_calibrated_set_has_zero_ece():
    probs = [[0.75, 0.25]] * 4
    assert expected_calibration_error(logits_of(probs), torch.tensor([0, 0, 0, 1])) == \
        pytest.approx(0.0, abs=1e-12)


def test_agreement_and_kl():
    a = logits_of([[0.7, 0.3], [0.2, 0.8], [0.6, 0.4]])
    b = logits_of([[0.5, 0.5 + 1e-9], [0.1, 0.9], [0.9, 0.1]])
    assert agreement(a, b) == pytest.approx(100 * 2 / 3)
    kl = sum(p * math.log(p / q) for pa, pb in ((
        [0.7, 0.3], [0.5, 0.5 + 1e-9]), ([0.2, 0.8], [0.1, 0.9]), ([0.6, 0.4], [0.9, 0.1]))
        for p, q in zip(pa, [v / sum(pb) for v in pb])) / 3
    assert mean_kl(a, b) == pytest.approx(kl, rel=1e-6)
    assert mean_kl(a, a) == pytest.approx(0.0, abs=1e-12)
