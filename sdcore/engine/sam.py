"""Sharpness-aware minimization (Foret et al. 2021, ICLR): the gradient at the worst nearby point.

SAM minimizes max over ‖ε‖ ≤ ρ of L(w + ε), approximated to first order: ε̂ = ρ·g/‖g‖ with g the
gradient at w, then the update uses the gradient at w + ε̂. ``sharpness_aware_gradients`` turns
the gradients of a first backward pass (in ``.grad``) into those: it steps the weights to
w + ε̂, recomputes the loss there (``loss_at``) and its gradients, and steps back, leaving the
BatchNorm running statistics as the first pass left them (the second pass's batch statistics are
used, not recorded). Cost: one more forward-backward pass per training step.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import torch
import torch.nn as nn
from torch import Tensor


@contextmanager
def kept_statistics(model: nn.Module) -> Iterator[None]:
    """Run the block, then restore the BatchNorm running statistics it changed."""
    saved = [(b, b.clone()) for m in model.modules()
             if isinstance(m, nn.modules.batchnorm._BatchNorm) for b in m.buffers()]
    try:
        yield
    finally:
        with torch.no_grad():
            for buffer, value in saved:
                buffer.copy_(value)


def sharpness_aware_gradients(model: nn.Module, loss_at: Callable[[], Tensor],
                              rho: float) -> Tensor:
    """Replace the gradients in the model's ``.grad`` (from the loss at w) by those of
    ``loss_at()`` at w + ρ·g/‖g‖ (the norm over every parameter with a gradient), restoring the
    weights and the BatchNorm statistics; return the loss at the perturbed point."""
    params = [p for p in model.parameters() if p.grad is not None]
    norm = torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(p.grad)
                                                 for p in params]))
    scale = rho / (norm + 1e-12)
    with torch.no_grad():
        steps = [p.grad * scale for p in params]
        for p, e in zip(params, steps):
            p.add_(e)
    for p in params:
        p.grad = None
    with kept_statistics(model):
        loss = loss_at()
        loss.backward()
    with torch.no_grad():
        for p, e in zip(params, steps):
            p.sub_(e)
    return loss
