"""Loss landscapes: the loss and accuracy along random directions and between two models.

Reimplemented from Li et al. (2018), "Visualizing the Loss Landscape of Neural Nets"
(arXiv:1712.09913):

- ``random_direction``: a Gaussian direction in parameter space, *filter-normalized*: each filter
  (slice along dim 0 of a weight with dim >= 2; a row of a linear weight) is rescaled to the norm
  of the same filter of the model's weights, which removes the scale invariance of ReLU+BatchNorm
  networks. Biases and BatchNorm affine parameters (dim <= 1) are zeroed by default.
- ``surface`` / ``line`` / ``plane``: loss (mean cross-entropy) and accuracy (%) at the weights
  ``θ + Σ_i c_i d_i`` for every point of a grid of coefficients.
- ``interpolation``: the same along ``(1 - t) θ_a + t θ_b`` (Goodfellow et al. 2015), t anywhere.

Cost: one forward pass over the sample per grid point (``points × len(inputs)`` forward samples),
no backward pass; memory is one extra copy of the weights per direction plus one working copy.

BatchNorm: the model is evaluated in eval mode. For ``surface`` the buffers are not perturbed:
every point uses the base model's running mean/var. For ``interpolation`` the floating-point
buffers (running mean/var) are interpolated linearly along with the parameters; integer buffers
(``num_batches_tracked``) are taken from ``model_a``. The caller's models are never modified:
weights are swapped in with ``torch.func.functional_call``, and the training flag is restored.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor
from torch.func import functional_call

from .inference import eval_mode

Direction = dict[str, Tensor]  # keyed by trainable parameter name, shaped like the parameter
Coords = np.ndarray | Sequence[float]


@dataclass
class Surface:
    """Loss and accuracy on the grid spanned by ``coords`` (one array per direction)."""

    coords: list[np.ndarray]
    loss: np.ndarray  # shape = tuple(len(c) for c in coords); may hold inf/nan far from the minimum
    accuracy: np.ndarray  # same shape, in percent


def _trainable(model: nn.Module) -> dict[str, Tensor]:
    params = {n: p for n, p in model.named_parameters() if p.requires_grad}
    if not params:
        raise ValueError("model has no trainable parameters (none with requires_grad)")
    return params


def random_direction(model: nn.Module, seed: int, *, ignore_bias_and_bn: bool = True) -> Direction:
    """A filter-normalized Gaussian direction for ``model``'s trainable parameters.

    Every parameter gets a draw from a CPU ``torch.Generator`` seeded with ``seed`` (in
    ``named_parameters`` order, so the weights' part does not depend on ``ignore_bias_and_bn``).
    Parameters of dim >= 2 are rescaled filter by filter to the model's filter norms; those of
    dim <= 1 are zeroed with ``ignore_bias_and_bn``, else rescaled as a whole to the parameter's
    norm (a zero parameter, e.g. a freshly initialized BatchNorm bias, gets a zero direction).
    The result has each parameter's device, dtype and memory format.
    """
    gen = torch.Generator(device="cpu").manual_seed(seed)
    direction: Direction = {}
    with torch.no_grad():
        for name, p in _trainable(model).items():
            d = torch.randn(p.shape, generator=gen, dtype=torch.float64).to(p.device)
            w = p.detach().to(torch.float64)
            if p.ndim >= 2:
                w_norm = w.reshape(len(w), -1).norm(dim=1)
                d_norm = d.reshape(len(d), -1).norm(dim=1)
                scale = (w_norm / d_norm.clamp_min(torch.finfo(d.dtype).tiny))
                d = d * scale.reshape(-1, *[1] * (p.ndim - 1))
            elif ignore_bias_and_bn:
                d = torch.zeros_like(d)
            else:
                d = d * (w.norm() / d.norm().clamp_min(torch.finfo(d.dtype).tiny))
            direction[name] = torch.empty_like(p, requires_grad=False).copy_(d)
    return direction


def _coords(coords: Sequence[Coords], n: int) -> list[np.ndarray]:
    if len(coords) != n:
        raise ValueError(f"got {n} directions but {len(coords)} coordinate arrays")
    out = []
    for i, c in enumerate(coords):
        c = np.asarray(c, dtype=np.float64)
        if c.ndim != 1:
            raise ValueError(f"coords[{i}] must be 1-D, got shape {c.shape}")
        if len(c) == 0:
            raise ValueError(f"coords[{i}] is empty: no points to evaluate")
        out.append(c)
    return out


def _batches(inputs: Tensor, targets: Tensor, device: torch.device,
             batch_size: int) -> tuple[list[tuple[Tensor, Tensor]], int, int]:
    """(inputs, targets) batches on ``device``, the sample count and the largest label."""
    if not isinstance(inputs, Tensor) or not isinstance(targets, Tensor):
        raise ValueError("inputs and targets must be tensors")
    if inputs.ndim == 0 or len(inputs) == 0:
        raise ValueError("inputs are empty: no samples to evaluate the loss on")
    if not inputs.is_floating_point():
        raise ValueError(f"inputs must be floating point (got {inputs.dtype}); convert images "
                         "first, e.g. with sdcore.engine.inference.as_input")
    if targets.ndim != 1 or len(targets) != len(inputs):
        raise ValueError(f"{len(inputs)} inputs but targets of shape {tuple(targets.shape)}; "
                         "expected one class label per input")
    if targets.is_floating_point() or targets.is_complex() or targets.dtype == torch.bool:
        raise ValueError(f"targets must be integer class labels, got {targets.dtype}")
    if int(targets.min()) < 0:
        raise ValueError(f"targets hold a negative class label ({int(targets.min())})")
    if not (isinstance(batch_size, int) and batch_size >= 1):
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    x, y = inputs.to(device), targets.to(device, torch.int64)
    n = len(x)
    batches = [(x[i:i + batch_size], y[i:i + batch_size]) for i in range(0, n, batch_size)]
    return batches, n, int(y.max())


def _evaluate(model: nn.Module, tensors: Mapping[str, Tensor],
              batches: list[tuple[Tensor, Tensor]], n: int, max_label: int) -> tuple[float, float]:
    """Mean cross-entropy and accuracy (%) of ``model`` with ``tensors`` swapped in."""
    loss_sum, correct = None, None
    for x, y in batches:
        logits = functional_call(model, tensors, (x,))
        if logits.ndim != 2 or len(logits) != len(x):
            raise ValueError(f"model output has shape {tuple(logits.shape)}; expected "
                             f"({len(x)}, classes) logits")
        if max_label >= logits.shape[1]:
            raise ValueError(f"target label {max_label} out of range for {logits.shape[1]} classes")
        logits = logits.to(torch.promote_types(logits.dtype, torch.float32))
        batch_loss = F.cross_entropy(logits, y, reduction="sum").double()
        batch_correct = (logits.argmax(1) == y).sum()
        loss_sum = batch_loss if loss_sum is None else loss_sum + batch_loss
        correct = batch_correct if correct is None else correct + batch_correct
    return loss_sum.item() / n, 100.0 * correct.item() / n


def surface(model: nn.Module, directions: list[Direction], coords: Sequence[Coords],
            inputs: Tensor, targets: Tensor, *, batch_size: int = 500) -> Surface:
    """Loss and accuracy at ``θ + Σ_i c_i d_i`` for every point of the grid ``coords``.

    ``directions[i]`` pairs with ``coords[i]``; the result's arrays have shape
    ``tuple(len(c) for c in coords)``. ``inputs`` are float tensors the model takes directly,
    ``targets`` integer class labels; both are moved to the model's device. The model runs in
    eval mode with its own buffers (BatchNorm running statistics are not perturbed).
    """
    if not directions:
        raise ValueError("no directions given")
    grid = _coords(coords, len(directions))
    params = _trainable(model)
    for i, d in enumerate(directions):
        _check_direction(d, params, i)
    device = next(iter(params.values())).device
    batches, n, max_label = _batches(inputs, targets, device, batch_size)
    loss = np.full(tuple(len(c) for c in grid), np.nan)
    accuracy = np.full_like(loss, np.nan)
    with torch.inference_mode(), eval_mode(model):
        base = {k: p.detach() for k, p in params.items()}
        # directions in each parameter's device, dtype and memory format; one working copy
        dirs = [{k: torch.empty_like(p).copy_(d[k]) for k, p in base.items()} for d in directions]
        work = {k: torch.empty_like(p) for k, p in base.items()}
        for index in np.ndindex(loss.shape):
            c = [float(grid[i][j]) for i, j in enumerate(index)]
            for k, w in work.items():
                torch.add(base[k], dirs[0][k], alpha=c[0], out=w)
                for ci, d in zip(c[1:], dirs[1:]):
                    w.add_(d[k], alpha=ci)
            loss[index], accuracy[index] = _evaluate(model, work, batches, n, max_label)
    return Surface(coords=grid, loss=loss, accuracy=accuracy)


def _check_direction(direction: Direction, params: Mapping[str, Tensor], i: int) -> None:
    if not isinstance(direction, Mapping):
        raise ValueError(f"direction {i} must be a dict of tensors keyed by parameter name")
    missing = [k for k in params if k not in direction]
    extra = [k for k in direction if k not in params]
    if missing or extra:
        raise ValueError(f"direction {i} does not match the model's trainable parameters: "
                         f"missing {_few(missing)}, unexpected {_few(extra)}")
    for k, p in params.items():
        d = direction[k]
        if not isinstance(d, Tensor) or tuple(d.shape) != tuple(p.shape):
            shape = tuple(d.shape) if isinstance(d, Tensor) else type(d).__name__
            raise ValueError(f"direction {i}: {k!r} has shape {shape}, the parameter "
                             f"{tuple(p.shape)}")


def _few(names: Iterable[str], k: int = 5) -> str:
    names = list(names)
    shown = ", ".join(names[:k]) + (f", … ({len(names)} in all)" if len(names) > k else "")
    return f"[{shown}]"


def line(model: nn.Module, direction: Direction, alphas: Coords, inputs: Tensor,
         targets: Tensor, **kw) -> Surface:
    """Loss and accuracy at ``θ + α d`` for each α in ``alphas`` (1-D ``surface``)."""
    return surface(model, [direction], [alphas], inputs, targets, **kw)


def plane(model: nn.Module, d1: Direction, d2: Direction, alphas: Coords, betas: Coords,
          inputs: Tensor, targets: Tensor, **kw) -> Surface:
    """Loss and accuracy at ``θ + α d1 + β d2``, shape ``(len(alphas), len(betas))``."""
    return surface(model, [d1, d2], [alphas, betas], inputs, targets, **kw)


def interpolation(model_a: nn.Module, model_b: nn.Module, ts: Coords, inputs: Tensor,
                  targets: Tensor, *, batch_size: int = 500) -> Surface:
    """Loss and accuracy at ``(1 - t) θ_a + t θ_b`` for each t in ``ts`` (t may leave [0, 1]).

    Parameters and floating-point buffers (BatchNorm running statistics) are interpolated;
    integer buffers come from ``model_a``. ``model_a`` runs the forward passes (in eval mode),
    so both models must have the same parameter and buffer names and shapes.
    """
    grid = _coords([ts], 1)
    a = dict(itertools.chain(model_a.named_parameters(), model_a.named_buffers()))
    b = dict(itertools.chain(model_b.named_parameters(), model_b.named_buffers()))
    if not a:
        raise ValueError("model_a has no parameters or buffers to interpolate")
    if a.keys() != b.keys():
        raise ValueError("models differ in architecture: parameters/buffers only in model_a "
                         f"{_few(k for k in a if k not in b)}, only in model_b "
                         f"{_few(k for k in b if k not in a)}")
    shapes = [f"{k}: {tuple(a[k].shape)} vs {tuple(b[k].shape)}" for k in a
              if a[k].shape != b[k].shape]
    if shapes:
        raise ValueError(f"models differ in architecture (shapes): {_few(shapes)}")
    device = next(iter(a.values())).device
    batches, n, max_label = _batches(inputs, targets, device, batch_size)
    loss = np.full(len(grid[0]), np.nan)
    accuracy = np.full_like(loss, np.nan)
    with torch.inference_mode(), eval_mode(model_a):
        start = {k: t.detach() for k, t in a.items() if t.is_floating_point()}
        end = {k: torch.empty_like(t).copy_(b[k]) for k, t in start.items()}
        work = {k: torch.empty_like(t) for k, t in start.items()}
        fixed = {k: t.detach() for k, t in a.items() if not t.is_floating_point()}
        tensors = {**fixed, **work}
        for j, t in enumerate(grid[0]):
            for k, w in work.items():
                torch.lerp(start[k], end[k], float(t), out=w)
            loss[j], accuracy[j] = _evaluate(model_a, tensors, batches, n, max_label)
    return Surface(coords=grid, loss=loss, accuracy=accuracy)
