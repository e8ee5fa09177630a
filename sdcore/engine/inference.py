"""Inference helpers shared by training, distillation, measurement and landscapes.

uint8 images become float inputs in the model's memory layout (``as_input``); ``autocast`` is a
training precision's context; ``predict_logits`` runs a model in eval mode over images in batches
(in fp32, as every measurement does, unless a training step asks for its own precision; restoring
the model's mode); ``evaluate`` gives accuracy and mean cross-entropy. Cost: one forward pass per
image.
"""

from __future__ import annotations

from contextlib import contextmanager, nullcontext
from typing import Iterator

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from .models import memory_format
from .specs import PRECISIONS


def autocast(device: torch.device, precision: str, cache: bool = True):
    """The context a forward pass of ``precision`` runs in: bf16 autocast on ``device``'s type
    for ``"bf16"`` (BatchNorm and the losses stay fp32), nothing for ``"fp32"``; ``cache=False``
    inside CUDA graph capture."""
    if precision == "bf16":
        return torch.autocast(device.type, dtype=torch.bfloat16, cache_enabled=cache)
    if precision == "fp32":
        return nullcontext()
    raise ValueError(f"unknown precision {precision!r}; allowed: {', '.join(PRECISIONS)}")


def as_input(x: Tensor, layout: torch.memory_format = torch.contiguous_format) -> Tensor:
    """uint8 images to the float inputs models take, in the model's memory layout."""
    return x.float().contiguous(memory_format=layout)


@contextmanager
def eval_mode(model: nn.Module) -> Iterator[nn.Module]:
    """Put ``model`` in eval mode, restoring its previous mode afterwards."""
    was_training = model.training
    model.eval()
    try:
        yield model
    finally:
        model.train(was_training)


@torch.inference_mode()
def predict_logits(model: nn.Module, x: Tensor, batch_size: int = 256,
                   precision: str = "fp32") -> Tensor:
    """Float32 logits of ``model`` (in eval mode) for uint8 images ``x``, on ``x``'s device,
    computed in ``precision`` (fp32 for a measurement; a student's for its teacher's outputs)."""
    layout = memory_format(model, x.device)
    with eval_mode(model), autocast(x.device, precision):
        return torch.cat([model(as_input(x[i:i + batch_size], layout)).float()
                          for i in range(0, len(x), batch_size)])


def evaluate(model: nn.Module, x: Tensor, y: Tensor, batch_size: int = 256) -> dict[str, float]:
    """Accuracy (%) and mean cross-entropy of ``model`` on images ``x`` with labels ``y``."""
    logits = predict_logits(model, x, batch_size)
    return {"accuracy": 100.0 * (logits.argmax(1) == y).float().mean().item(),
            "loss": F.cross_entropy(logits, y).item()}
