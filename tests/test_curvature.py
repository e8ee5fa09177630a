"""sdcore.engine.curvature versus the exact Hessian of a tiny float64 MLP and PyHessian on a CNN."""

from __future__ import annotations

import copy
import math

import pytest
import torch
import torch.nn as nn
from torch.func import functional_call, hessian

from sdcore.engine.curvature import CurvatureError, Hessian


def _mlp() -> tuple[nn.Module, nn.Module, torch.Tensor, torch.Tensor]:
    """A 3-5-2 tanh MLP (32 parameters), float64, trained a little on 20 samples with MSE."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 5), nn.Tanh(), nn.Linear(5, 2)).double()
    x, y = torch.randn(20, 3, dtype=torch.float64), torch.randn(20, 2, dtype=torch.float64)
    loss_fn = nn.MSELoss()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    for _ in range(200):
        opt.zero_grad()
        loss_fn(model(x), y).backward()
        opt.step()
    model.zero_grad(set_to_none=True)
    return model, loss_fn, x, y


def _exact_hessian(model: nn.Module, loss_fn: nn.Module, x: torch.Tensor,
                   y: torch.Tensor) -> torch.Tensor:
    """The Hessian over the flattened trainable parameters, by torch.func."""
    named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    sizes = [p.numel() for _, p in named]

    def loss(flat: torch.Tensor) -> torch.Tensor:
        params = {n: c.view_as(p) for (n, p), c in zip(named, flat.split(sizes))}
        return loss_fn(functional_call(model, params, (x,)), y)

    return hessian(loss)(torch.cat([p.detach().reshape(-1) for _, p in named]))


@pytest.fixture(scope="module")
def mlp():
    model, loss_fn, x, y = _mlp()
    return model, loss_fn, x, y, _exact_hessian(model, loss_fn, x, y)


def test_hvp_matches_exact_hessian_for_one_batch_and_uneven_batches(mlp):
    model, loss_fn, x, y, exact = mlp
    v = torch.randn(4, exact.shape[0], dtype=torch.float64)
    one = Hessian(model, loss_fn, (x, y))
    split = Hessian(model, loss_fn, [(x[:7], y[:7]), (x[7:], y[7:])])
    assert one.dim == split.dim == 32
    assert torch.allclose(one.hvp_many(v), v @ exact, atol=1e-12)
    assert torch.allclose(split.hvp(v[0]), exact @ v[0], atol=1e-12)


def test_top_eigenpairs_match_exact_spectrum(mlp):
    model, loss_fn, x, y, exact = mlp
    values, vectors = torch.linalg.eigh(exact)
    pairs = Hessian(model, loss_fn, (x, y)).eigenvalues(top_n=3, tol=1e-6)
    assert pairs.converged and pairs.iterations <= exact.shape[0]
    assert pairs.values == pytest.approx(values.flip(0)[:3].tolist(), rel=1e-6)
    for v, u in zip(pairs.vectors, vectors.flip(1).T):
        assert abs(float(v @ u)) == pytest.approx(1.0, abs=1e-6)


def test_trace_interval_covers_exact_and_deflation_shrinks_it(mlp):
    model, loss_fn, x, y, exact = mlp
    h, true = Hessian(model, loss_fn, (x, y)), float(exact.trace())
    plain = h.trace(probes=200, seed=1)
    deflated = h.trace(probes=200, seed=1, deflate=3)
    for est in (plain, deflated):
        assert est.probes == 200 and abs(est.value - true) <= 3 * est.stderr
    assert deflated.stderr < plain.stderr
    assert deflated.matvecs > plain.matvecs == 200


def test_trace_stops_at_relative_tolerance(mlp):
    model, loss_fn, x, y, _ = mlp
    est = Hessian(model, loss_fn, (x, y)).trace(probes=10_000, batch=5, rtol=0.2)
    assert est.probes < 10_000 and est.stderr <= 0.2 * abs(est.value)


def test_density_integrates_to_one_and_reproduces_moments(mlp):
    model, loss_fn, x, y, exact = mlp
    h, n = Hessian(model, loss_fn, (x, y)), exact.shape[0]
    d = h.density(iterations=6, runs=300, seed=0)  # quadrature exact up to degree 11 per run
    assert d.nodes.shape == d.weights.shape == (300, 6)
    assert torch.allclose(d.weights.sum(1), torch.ones(300, dtype=torch.float64))
    assert float(torch.trapezoid(d.values, d.grid)) == pytest.approx(1.0, abs=1e-2)
    for k, true in ((1, float(exact.trace()) / n), (2, float((exact @ exact).trace()) / n)):
        per_run = (d.weights * d.nodes**k).sum(1)
        stderr = float(per_run.std()) / math.sqrt(len(per_run))
        assert d.moment(k) == pytest.approx(float(per_run.mean()))
        assert abs(d.moment(k) - true) <= 4 * stderr
        assert d.moment(k) == pytest.approx(true, rel=0.1)

    full = h.density(iterations=1000, runs=2)  # clamped to n: every run finds all eigenvalues
    assert full.nodes.shape == (2, n)
    for nodes in full.nodes:
        assert torch.allclose(nodes, torch.linalg.eigvalsh(exact), atol=1e-9)


def test_caller_state_is_restored_even_after_an_error():
    model, loss_fn, x, y = _mlp()
    model.train()
    model[1].eval()
    first, frozen = model[0].weight, model[2].bias
    grad = torch.ones_like(first)
    first.grad = grad
    frozen.requires_grad_(False)
    modes = [m.training for m in model.modules()]
    h = Hessian(model, loss_fn, (x, y))
    assert h.dim == 30  # the frozen bias is left out
    h.eigenvalues(top_n=2)
    h.trace(probes=4)
    h.density(iterations=4)
    bad = Hessian(model, loss_fn, (torch.full_like(x, math.nan), y))
    with pytest.raises(CurvatureError):
        bad.hvp(torch.ones(bad.dim, dtype=torch.float64))
    assert [m.training for m in model.modules()] == modes
    assert first.grad is grad and bool((grad == 1).all())
    assert all(p.grad is None for p in model.parameters() if p is not first)
    assert [p.requires_grad for p in model.parameters()] == [True, True, True, False]


def _cnn() -> tuple[nn.Module, torch.Tensor, torch.Tensor]:
    """conv-BN-ReLU ×2, average pool, linear (219 parameters), float32, on 32 images 1×12×12."""
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(),
        nn.Conv2d(4, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 3))
    x, y = torch.randn(32, 1, 12, 12), torch.randint(0, 3, (32,))
    with torch.no_grad():  # non-trivial BatchNorm running statistics
        for _ in range(3):
            model(x)
    return model, x, y


@pytest.mark.filterwarnings("ignore:Using backward\\(\\) with create_graph")  # inside PyHessian
def test_cnn_with_batchnorm_agrees_with_pyhessian():
    pyhessian = pytest.importorskip("pyhessian")
    model, x, y = _cnn()
    loss_fn = nn.CrossEntropyLoss()
    running_mean = model[1].running_mean.clone()
    h = Hessian(model, loss_fn, (x, y))  # eval mode, as PyHessian puts the model in
    top = h.eigenvalues(top_n=1)
    ours = h.trace(probes=100, seed=0)
    assert model.training and all(p.grad is None for p in model.parameters())
    # bn_eval=False evaluates with batch statistics but leaves the running ones untouched
    Hessian(model, loss_fn, (x, y), bn_eval=False).trace(probes=2)
    assert torch.equal(model[1].running_mean, running_mean)

    torch.manual_seed(0)
    reference = pyhessian.hessian(copy.deepcopy(model), loss_fn, data=(x, y), cuda=False)
    ref_top, _ = reference.eigenvalues(maxIter=300, tol=1e-6, top_n=1)
    ref_probes = torch.tensor(reference.trace(maxIter=100, tol=-math.inf))  # no early stop
    assert top.converged and top.values[0] == pytest.approx(ref_top[0], rel=1e-2)
    ref_stderr = float(ref_probes.std()) / math.sqrt(len(ref_probes))
    assert len(ref_probes) == 100
    assert abs(ours.value - float(ref_probes.mean())) <= 3 * math.hypot(ours.stderr, ref_stderr)


@pytest.mark.parametrize("make, match", [
    (lambda m, x, y: Hessian(m.requires_grad_(False), nn.MSELoss(), (x, y)),
     "no trainable parameters"),
    (lambda m, x, y: Hessian(m, nn.MSELoss(), (x[:0], y[:0])), "batch 0 is empty"),
    (lambda m, x, y: Hessian(m, nn.MSELoss(), []), "no batches"),
    (lambda m, x, y: Hessian(m, nn.MSELoss(), (x, y[:5])), "targets of shape"),
    (lambda m, x, y: Hessian(m, nn.MSELoss(), (x, y), dtype=torch.float32), "dtype"),
    (lambda m, x, y: Hessian(m, nn.MSELoss(), (x, y), device="meta"), "device"),
    (lambda m, x, y: Hessian(m, nn.MSELoss(), (x, y)).eigenvalues(top_n=33), "top_n=33"),
    (lambda m, x, y: Hessian(m, nn.MSELoss(), (x, y)).trace(probes=1), "at least 2"),
    (lambda m, x, y: Hessian(m, nn.MSELoss(reduction="none"), (x, y)).trace(), "scalar"),
    (lambda m, x, y: Hessian(m, nn.MSELoss(), (x * math.nan, y)).trace(),
     "loss is not finite"),
])
def test_bad_input_is_rejected_with_its_cause(make, match):
    model, _, x, y = _mlp()
    with pytest.raises(CurvatureError, match=match):
        make(model, x, y)


def test_non_finite_hessian_vector_product_is_rejected():
    model = nn.Linear(2, 1).double()
    nn.init.zeros_(model.weight)
    nn.init.zeros_(model.bias)
    x, y = torch.ones(4, 2, dtype=torch.float64), torch.zeros(4, 1, dtype=torch.float64)
    h = Hessian(model, lambda out, t: (out - t).abs().sqrt().mean(), (x, y))  # √|r| at r = 0
    with pytest.raises(CurvatureError, match="Hessian-vector product is not finite"):
        h.hvp(torch.ones(h.dim, dtype=torch.float64))


def test_trace_reuses_given_eigenpairs(mlp):
    model, loss_fn, x, y, exact = mlp
    h = Hessian(model, loss_fn, (x, y))
    pairs = h.eigenvalues(top_n=3, tol=1e-8)
    before = h.matvecs
    est = h.trace(probes=200, deflate=3, eigenpairs=pairs)
    assert est.matvecs == h.matvecs - before == 200
    assert abs(est.value - float(exact.trace())) <= 4 * est.stderr


def test_default_tolerance_gives_eigenvalues_to_1e_3(mlp):
    """The defaults, meant to be as accurate as PyHessian's defaults at the least cost, give the
    top eigenvalues of a model they were not tuned on within 1e-3 relative."""
    model, loss_fn, x, y, exact = mlp
    top = torch.linalg.eigvalsh(exact).flip(0)[:3]
    single = copy.deepcopy(model).float()
    pairs = Hessian(single, loss_fn, (x.float(), y.float())).eigenvalues(top_n=3)
    assert pairs.converged
    assert torch.allclose(torch.tensor(pairs.values, dtype=torch.float64), top, rtol=1e-3)
