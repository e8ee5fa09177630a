"""sdcore.engine.landscape versus models whose weights are moved or averaged by hand (tiny, CPU)."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from sdcore.engine.landscape import interpolation, line, plane, random_direction, surface
from sdcore.engine.models import build_model


def _data(seed: int, n: int = 48) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(n, 1, 12, 12, generator=gen), torch.randint(0, 10, (n,), generator=gen)


def _trained(seed: int, width: float = 0.5, steps: int = 3) -> nn.Module:
    """resnet8 after a few SGD steps on its own data: non-trivial BN affine params and stats."""
    torch.manual_seed(seed)
    model = build_model("resnet8", 1, 10, width=width)
    x, y = _data(100 + seed)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    for _ in range(steps):
        opt.zero_grad()
        F.cross_entropy(model(x), y).backward()
        opt.step()
    model.zero_grad(set_to_none=True)
    return model


@pytest.fixture(scope="module")
def model() -> nn.Module:
    return _trained(0)


@pytest.fixture(scope="module")
def data() -> tuple[torch.Tensor, torch.Tensor]:
    return _data(1)


def _direct(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> tuple[float, float]:
    """Loss and accuracy (%) of a copy of ``model`` in eval mode."""
    model = copy.deepcopy(model).eval()
    with torch.no_grad():
        logits = model(x)
    return F.cross_entropy(logits, y).item(), 100.0 * (logits.argmax(1) == y).float().mean().item()


def _moved(model: nn.Module, *steps: tuple[float, dict]) -> nn.Module:
    moved = copy.deepcopy(model)
    with torch.no_grad():
        for name, p in moved.named_parameters():
            for alpha, d in steps:
                p.add_(alpha * d[name])
    return moved


def test_random_direction_is_filter_normalized(model):
    d = random_direction(model, seed=0)
    params = dict(model.named_parameters())
    assert d.keys() == params.keys()
    for name, p in params.items():
        assert d[name].shape == p.shape and d[name].dtype == p.dtype
        if p.ndim >= 2:  # conv and linear weights: filter by filter
            torch.testing.assert_close(d[name].flatten(1).norm(dim=1),
                                       p.detach().flatten(1).norm(dim=1), rtol=1e-5, atol=1e-7)
        else:  # biases and BatchNorm weight/bias
            assert torch.count_nonzero(d[name]) == 0, name

    full = random_direction(model, seed=0, ignore_bias_and_bn=False)
    for name, p in params.items():
        if p.ndim >= 2:
            torch.testing.assert_close(full[name], d[name])
        else:
            assert torch.count_nonzero(full[name]) == p.numel(), name
            torch.testing.assert_close(full[name].norm(), p.detach().norm())

    again, other = random_direction(model, seed=0), random_direction(model, seed=1)
    assert all(torch.equal(again[k], d[k]) for k in d)
    assert not torch.allclose(other["classifier.weight"], d["classifier.weight"])


def test_line_matches_direct_and_hand_moved_models(model, data):
    x, y = data
    d = random_direction(model, seed=0)
    alphas = [0.0, 0.3, -0.7]
    s = line(model, d, alphas, x, y, batch_size=20)  # 48 samples: batches of 20, 20, 8
    assert s.loss.shape == s.accuracy.shape == (3,)
    np.testing.assert_array_equal(s.coords[0], alphas)
    loss, acc = _direct(model, x, y)
    assert s.loss[0] == pytest.approx(loss, rel=1e-5)
    assert s.accuracy[0] == pytest.approx(acc)
    for i, alpha in enumerate(alphas[1:], 1):
        loss, acc = _direct(_moved(model, (alpha, d)), x, y)
        assert s.loss[i] == pytest.approx(loss, rel=1e-5)
        assert s.accuracy[i] == pytest.approx(acc)
    assert s.loss[2] != pytest.approx(s.loss[0], rel=1e-3)  # the direction does move the loss


def test_plane_shape_and_points(model, data):
    x, y = data
    d1, d2 = random_direction(model, 0), random_direction(model, 1)
    alphas, betas = [-0.5, 0.0, 0.5], [0.0, 0.4]
    s = plane(model, d1, d2, alphas, betas, x, y)
    assert s.loss.shape == s.accuracy.shape == (3, 2)
    assert [list(c) for c in s.coords] == [alphas, betas]
    zero = line(model, d1, [0.0], x, y)
    assert s.loss[1, 0] == zero.loss[0] and s.accuracy[1, 0] == zero.accuracy[0]
    loss, acc = _direct(_moved(model, (0.5, d1), (0.4, d2)), x, y)
    assert s.loss[2, 1] == pytest.approx(loss, rel=1e-5)
    assert s.accuracy[2, 1] == pytest.approx(acc)


def test_interpolation_endpoints_and_midpoint(data):
    x, y = data
    model_a, model_b = _trained(0), _trained(1)
    ra, rb = model_a.features[1].running_mean, model_b.features[1].running_mean
    assert not torch.allclose(ra, rb)  # different running stats from different data
    s = interpolation(model_a, model_b, [0.0, 0.5, 1.0, 1.5], x, y, batch_size=32)
    assert s.loss.shape == (4,) and np.isfinite(s.loss).all()
    for i, m in ((0, model_a), (2, model_b)):
        loss, acc = _direct(m, x, y)
        assert s.loss[i] == pytest.approx(loss, rel=1e-5)
        assert s.accuracy[i] == pytest.approx(acc)

    mid = copy.deepcopy(model_a)
    with torch.no_grad():
        state_b = model_b.state_dict()
        for name, t in mid.state_dict().items():
            if t.is_floating_point():  # parameters and running mean/var
                t.copy_((t + state_b[name]) / 2)
    assert not torch.allclose(mid.features[1].running_var, model_a.features[1].running_var)
    loss, acc = _direct(mid, x, y)
    assert s.loss[1] == pytest.approx(loss, rel=1e-5)
    assert s.accuracy[1] == pytest.approx(acc)


def test_interpolation_rejects_other_architectures(model, data):
    x, y = data
    torch.manual_seed(0)
    with pytest.raises(ValueError, match="shape"):
        interpolation(model, build_model("resnet8", 1, 10, width=1.0), [0.5], x, y)
    with pytest.raises(ValueError, match="architecture"):
        interpolation(model, build_model("resnet14", 1, 10, width=0.5), [0.5], x, y)


@pytest.mark.parametrize("training", [True, False])
def test_callers_model_is_unchanged(data, training):
    x, y = data
    model = _trained(2).train(training)
    other = _trained(3)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    d1, d2 = random_direction(model, 0), random_direction(model, 1, ignore_bias_and_bn=False)
    line(model, d1, [0.0, 1.0], x, y)
    plane(model, d1, d2, [0.5], [-0.5, 0.5], x, y)
    interpolation(model, other, [0.25, 2.0], x, y)
    interpolation(other, model, [0.5], x, y)
    after = model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert all(m.training == training for m in model.modules())
    assert all(p.requires_grad and p.grad is None for p in model.parameters())


def test_channels_last_model_matches_default_layout(data):
    x, y = data
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
                          nn.Conv2d(8, 8, 3, stride=2, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
                          nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 10))
    with torch.no_grad():  # non-trivial running statistics
        model.train()(x)
    last = copy.deepcopy(model).to(memory_format=torch.channels_last)
    assert last[3].weight.is_contiguous(memory_format=torch.channels_last)
    d = random_direction(last, 0)
    assert d["3.weight"].is_contiguous(memory_format=torch.channels_last)
    d_default = random_direction(model, 0)
    assert all(torch.allclose(d[k], d_default[k]) for k in d)
    s = line(last, d, [0.0, 0.5], x.contiguous(memory_format=torch.channels_last), y)
    ref = line(model, d_default, [0.0, 0.5], x, y)
    np.testing.assert_allclose(s.loss, ref.loss, rtol=1e-5)
    np.testing.assert_allclose(s.accuracy, ref.accuracy)


def test_far_points_may_be_non_finite(model, data):
    x, y = data
    s = line(model, random_direction(model, 0), [0.0, 1e20], x, y)
    assert np.isfinite(s.loss[0]) and not np.isfinite(s.loss[1])


def test_clear_errors(model, data):
    x, y = data
    d = random_direction(model, 0)
    with pytest.raises(ValueError, match="empty"):
        line(model, d, [0.0], x[:0], y[:0])
    with pytest.raises(ValueError, match="targets"):
        line(model, d, [0.0], x, y[:-1])
    with pytest.raises(ValueError, match="empty"):
        line(model, d, [], x, y)
    with pytest.raises(ValueError, match="coordinate arrays"):
        surface(model, [d, d], [[0.0]], x, y)
    with pytest.raises(ValueError, match="no directions"):
        surface(model, [], [], x, y)
    missing = {k: v for k, v in d.items() if k != "classifier.bias"}
    with pytest.raises(ValueError, match="missing.*classifier.bias"):
        line(model, missing, [0.0], x, y)
    with pytest.raises(ValueError, match="unexpected.*extra"):
        line(model, {**d, "extra": torch.zeros(1)}, [0.0], x, y)
    torch.manual_seed(0)
    wider = random_direction(build_model("resnet8", 1, 10, width=1.0), 0)
    with pytest.raises(ValueError, match="has shape"):
        line(model, wider, [0.0], x, y)
    with pytest.raises(ValueError, match="architecture"):
        interpolation(model, nn.Linear(2, 2), [0.5], x, y)
    with pytest.raises(ValueError, match="empty"):
        interpolation(model, model, [], x, y)
