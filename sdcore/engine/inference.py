"""Inference helpers shared by training, distillation, measurement and landscapes.

uint8 images become float inputs in the model's memory layout (``as_input``); ``predict_logits``
runs a model in eval mode over images in batches (bf16 autocast on CUDA, restoring the model's
mode); ``evaluate`` gives accuracy and mean cross-entropy. Cost: one forward pass per image.
"""

from __future__ import annotations

from contextlib import contextmanager, nullcontext
from typing import Iterator

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from .models import memory_format


def autocast(device: torch.device, cache: bool = True):
    """bf16 autocast on CUDA, nothing elsewhere; ``cache=False`` inside CUDA graph capture."""
    if device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16, cache_enabled=cache)
    return nullcontext()


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
def predict_logits(model: nn.Module, x: Tensor, batch_size: int = 256) -> Tensor:
    """Float32 logits of ``model`` (in eval mode) for uint8 images ``x``, on ``x``'s device."""
    layout = memory_format(model, x.device)
    with eval_mode(model), autocast(x.device):
        return torch.cat([model(as_input(x[i:i + batch_size], layout)).float()
                          for i in range(0, len(x), batch_size)])


def evaluate(model: nn.Module, x: Tensor, y: Tensor, batch_size: int = 256) -> dict[str, float]:
    """Accuracy (%) and mean cross-entropy of ``model`` on images ``x`` with labels ``y``."""
    logits = predict_logits(model, x, batch_size)
    return {"accuracy": 100.0 * (logits.argmax(1) == y).float().mean().item(),
            "loss": F.cross_entropy(logits, y).item()}
