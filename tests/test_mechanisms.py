"""The mechanism measures of C2's theories against hand-computed values."""

import copy
import math

import pytest
import torch

from sdcore.engine.inference import predict_logits
from sdcore.engine.mechanisms import loss_barrier, output_entropy, participation_ratio, penultimate
from sdcore.engine.models import build_model


def test_entropy_of_uniform_and_one_hot_outputs():
    assert output_entropy(torch.zeros(3, 4)) == pytest.approx(math.log(4))
    assert output_entropy(torch.tensor([[50.0, 0.0, 0.0]])) == pytest.approx(0.0, abs=1e-12)


@pytest.mark.parametrize("spectrum", [[1.0], [1.0, 1.0, 1.0], [4.0, 1.0], [9.0, 3.0, 1.0, 0.5]])
def test_participation_ratio_of_a_hand_built_spectrum(spectrum):
    """Features whose covariance has the given eigenvalues: orthogonal centred columns."""
    n, k = 8, len(spectrum)
    columns = torch.randn(n, n, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    columns[:, 0] = 1.0
    basis, _ = torch.linalg.qr(columns)  # column 0 spans the constants; the rest are centred
    features = basis[:, 1:k + 1] * torch.tensor(spectrum, dtype=torch.float64).sqrt()
    expected = sum(spectrum) ** 2 / sum(v * v for v in spectrum)
    assert participation_ratio(features + 5.0) == pytest.approx(expected, rel=1e-9)


def test_the_loss_barrier_between_two_copies_of_a_model_is_zero():
    torch.manual_seed(0)
    model = build_model("resnet8", 1, 10, 0.25).eval()
    twin = copy.deepcopy(model)
    x, y = torch.randn(16, 1, 12, 12), torch.randint(0, 10, (16,))
    assert loss_barrier(model, twin, x, y) == pytest.approx(0.0, abs=1e-6)
    torch.manual_seed(1)
    other = build_model("resnet8", 1, 10, 0.25).eval()
    assert loss_barrier(model, other, x, y) >= -1e-9  # the endpoints bound it from below


def test_penultimate_features_are_what_the_head_reads():
    torch.manual_seed(0)
    model = build_model("resnet8", 1, 10, 0.25).eval()
    images = torch.randint(0, 255, (5, 1, 12, 12), dtype=torch.uint8)
    features, logits = penultimate(model, images, batch_size=2)
    with torch.inference_mode():
        assert torch.allclose(model.classifier(features), model(images.float()), atol=1e-5)
    assert torch.equal(logits, predict_logits(model, images, batch_size=2))
