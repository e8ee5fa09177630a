"""The training loop's fast path, checked on the CPU: its CUDA graph replaced by eager replays of
the captured step, everything else (static inputs, a learning-rate tensor, fused SGD, zero momentum
buffers, warm-up steps undone) must train exactly what the plain loop trains."""

from __future__ import annotations

import dataclasses
import shutil

import numpy as np
import pytest
import torch

from sdcore.engine import train
from sdcore.engine.data import make_synthetic
from sdcore.engine.distill import cross_entropy_loss, distillation_loss
from sdcore.engine.models import build_model
from sdcore.engine.progress import Progress
from sdcore.engine.specs import KDWeights, Recipe
from sdcore.engine.speed import PLAIN, Speed, compiled
from sdcore.engine.train import Job, fit_many

DATA = make_synthetic(n_train=300, n_test=100)


def eager_graph(step, warmup, before_capture, device):
    """A stand-in for ``train.cuda_graph``: the same warm-up, then replays that run the step."""
    for _ in range(warmup):
        step()
    before_capture()
    return step


def model(seed: int) -> torch.nn.Module:
    torch.manual_seed(seed)
    return build_model("resnet8", 1, DATA.num_classes, 0.5)


def train_with(graph_maker, recipe: Recipe, loss_fn, seed: int = 3, speed: Speed = PLAIN):
    net = model(seed)
    run = train._Run(Job(net, DATA, recipe, seed, loss_fn), speed, graph_maker)
    train._train_together([run], Progress(recipe.epochs, "test", "epoch"))
    return net, run.history


@pytest.mark.parametrize("augment", [False, True])
@pytest.mark.parametrize("student", [False, True])
def test_graph_bookkeeping_trains_what_the_plain_loop_trains(monkeypatch, augment, student):
    real = train.make_optimizer
    # The graphed step needs fused SGD (it reads the learning rate from a tensor); give the plain
    # loop the same optimizer, so that only the bookkeeping differs.
    monkeypatch.setattr(train, "make_optimizer",
                        lambda m, r, lr, fused=False: real(m, r, lr, fused=True))
    recipe = Recipe(3, 64, 0.1, 0.9, True, 5e-4, "cosine", augment)
    loss_fn = cross_entropy_loss
    if student:
        teacher = model(0)
        loss_fn = distillation_loss(teacher, KDWeights(0.5, 0.5, 4.0),
                                    None if augment else DATA.train_x)
    plain, plain_history = train_with(None, recipe, loss_fn)
    graphed, graphed_history = train_with(eager_graph, recipe, loss_fn)
    for (name, a), b in zip(plain.state_dict().items(), graphed.state_dict().values()):
        assert torch.equal(a, b), name
    assert [h["loss"] for h in plain_history] == [h["loss"] for h in graphed_history]
    assert [h["train_acc"] for h in plain_history] == [h["train_acc"] for h in graphed_history]
    assert all(p.grad is None for p in graphed.parameters())  # the graph's memory is released


@pytest.mark.skipif(shutil.which("g++") is None, reason="TorchInductor's CPU backend needs g++")
def test_compiled_forward_trains_what_the_plain_loop_trains_up_to_rounding():
    """A recipe's ``compile`` (on the CPU here, through TorchInductor's C++ backend): the
    student's forward and backward and its online teacher's forward are compiled before the
    (stand-in) capture. Fused kernels round differently (eager CPU BatchNorm's backward is itself
    ~1e-3 off a float64 reference at 8 channels; compiled, ~1e-5), so at a small learning rate,
    where SGD does not amplify it, each weight's change agrees to 1%."""
    from torch._dynamo.utils import counters

    torch._dynamo.reset()
    counters.clear()
    recipe = Recipe(1, 64, 0.02, 0.9, True, 5e-4, "cosine", True)
    teacher, kd = model(0), KDWeights(0.5, 0.5, 4.0)
    start = model(3).state_dict()
    plain, plain_history = train_with(None, recipe, distillation_loss(teacher, kd))
    student_loss = distillation_loss(compiled(teacher, True), kd)
    fast, fast_history = train_with(eager_graph, dataclasses.replace(recipe, compile=True),
                                    student_loss)
    assert counters["stats"]["unique_graphs"] >= 2  # the student's and the teacher's forwards
    assert fast_history[0]["loss"] == pytest.approx(plain_history[0]["loss"], rel=1e-4)
    for (name, a), b in zip(plain.state_dict().items(), fast.state_dict().values()):
        if a.is_floating_point():
            change = a - start[name]
            assert (b - a).norm() <= 1e-2 * change.norm(), name


def test_fit_many_on_the_cpu_trains_each_model_as_alone():
    recipe = Recipe(2, 64, 0.1, 0.9, True, 5e-4, "cosine", True)
    alone = [model(s) for s in (1, 2)]
    for seed, net in zip((1, 2), alone):
        fit_many([Job(net, DATA, recipe, seed, cross_entropy_loss)])
    together = [model(s) for s in (1, 2)]
    fit_many([Job(net, DATA, recipe, seed, cross_entropy_loss)
              for seed, net in zip((1, 2), together)], Speed(models_at_once=2))
    for a, b in zip(alone, together):
        assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(),
                                                     b.state_dict().values()))


@pytest.mark.parametrize("bad", [{"models_at_once": 0}, {"eval_batch": 0},
                                 {"checkpoint_s": -1.0}])
def test_speed_refuses_impossible_settings(bad):
    with pytest.raises(ValueError, match="models_at_once and eval_batch must be ≥ 1"):
        Speed(**bad)


def test_cpu_weights_do_not_depend_on_the_process_thread_count():
    """PyTorch splits some CPU reductions by thread; training on CPU_TRAINING_THREADS makes the
    weights the same whatever the process's own thread count (local jobs get fewer threads)."""
    recipe = Recipe(2, 64, 0.1, 0.9, True, 5e-4, "cosine", True)
    before, weights = torch.get_num_threads(), []
    try:
        for threads in (1, 2):
            torch.set_num_threads(threads)
            net = model(4)
            fit_many([Job(net, DATA, recipe, 4, cross_entropy_loss)])
            assert torch.get_num_threads() == threads  # restored after training
            weights.append(net.state_dict())
    finally:
        torch.set_num_threads(before)
    assert all(torch.equal(weights[0][k], weights[1][k]) for k in weights[0])


class Quadratic(torch.nn.Module):
    """L(w) = ½ wᵀAw, as a module whose forward returns the loss."""

    def __init__(self, a: torch.Tensor, w: torch.Tensor):
        super().__init__()
        self.a, self.w = a, torch.nn.Parameter(w.clone())

    def forward(self) -> torch.Tensor:
        return 0.5 * self.w @ self.a @ self.w


def test_a_sam_step_on_a_quadratic_is_its_closed_form():
    """SAM's gradient is A(w + ρ·Aw/‖Aw‖) (Foret et al. 2021), and a step of SGD with it moves w
    to w − lr·that; the weights are back at w before the step."""
    from sdcore.engine.sam import sharpness_aware_gradients

    a = torch.tensor([[3.0, 1.0], [1.0, 2.0]], dtype=torch.float64)
    w = torch.tensor([0.5, -1.5], dtype=torch.float64)
    model, rho, lr = Quadratic(a, w), 0.05, 0.1
    model().backward()
    g = a @ w
    sharpness_aware_gradients(model, model, rho)
    expected = a @ (w + rho * g / g.norm())
    assert torch.allclose(model.w.grad, expected, atol=1e-12)
    assert torch.equal(model.w.detach(), w)
    torch.optim.SGD(model.parameters(), lr=lr).step()
    assert torch.allclose(model.w.detach(), w - lr * expected, atol=1e-12)


def test_sam_trains_keeps_the_batchnorm_statistics_of_the_first_pass_and_is_in_the_key():
    recipe = Recipe(1, 64, 0.05, 0.9, True, 5e-4, "cosine", False)
    plain, _ = train_with(None, recipe, cross_entropy_loss)
    sam, history = train_with(None, dataclasses.replace(recipe, sam_rho=0.05), cross_entropy_loss)
    assert np.isfinite(history[0]["loss"])
    assert not torch.equal(plain.state_dict()["features.0.weight"],
                           sam.state_dict()["features.0.weight"])
    assert plain.state_dict()["features.1.num_batches_tracked"] == sam.state_dict()[
        "features.1.num_batches_tracked"]  # one update per step, not two
    with pytest.raises(ValueError, match="sam_rho must be ≥ 0"):
        dataclasses.replace(recipe, sam_rho=-1.0)
