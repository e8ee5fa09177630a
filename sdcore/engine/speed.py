"""How models train on CUDA, and on which device: the speed switches, none part of any store key.

``Speed`` holds what pays on a GPU, each with a switch: CUDA graphs, several models in lockstep
on their own streams, cuDNN autotuning, large evaluation batches and time-based checkpoints.
``PLAIN`` is the loop every device ran before the CUDA speed-ups and the one the CPU always runs
(``on_device``). What changes a model's bits on the CPU, its precision and ``torch.compile``
(``compiled``), is the recipe's (``specs.Recipe``), part of its key. Cost: nothing.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterator

import torch
import torch.nn as nn


@dataclass(frozen=True)
class Speed:
    """How models train on CUDA. Not part of any recipe or store key; the CPU ignores it."""

    cuda_graphs: bool = True  # capture each model's training step once as a CUDA graph
    models_at_once: int = 4  # models trained together, in lockstep, one CUDA stream each
    cudnn_benchmark: bool = True  # let cuDNN time its convolution algorithms once per shape
    eval_batch: int = 1024  # images per forward pass when evaluating or caching teacher logits
    checkpoint_s: float = 60.0  # seconds between checkpoints (0: after every epoch)

    def __post_init__(self) -> None:
        if self.models_at_once < 1 or self.eval_batch < 1 or self.checkpoint_s < 0:
            raise ValueError(f"invalid {self}: models_at_once and eval_batch must be ≥ 1, "
                             "checkpoint_s ≥ 0")


# The loop every device ran before the CUDA speed-ups, and the one the CPU always runs.
PLAIN = Speed(cuda_graphs=False, models_at_once=1, cudnn_benchmark=False, eval_batch=256,
              checkpoint_s=0.0)


def compiled(model: nn.Module, enabled: bool) -> nn.Module:
    """``model`` through ``torch.compile`` (TorchInductor, static shapes) if ``enabled`` (a
    recipe's ``compile``), else ``model`` itself; the compiled module shares its parameters.
    Compiled once per architecture, input shape and precision in a process (TorchInductor keeps
    its kernels on disk for the next)."""
    return torch.compile(model, dynamic=False) if enabled else model


def on_device(speed: Speed, device: torch.device) -> Speed:
    """``speed`` on CUDA, ``PLAIN`` elsewhere."""
    return speed if device.type == "cuda" else PLAIN


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(f"device {name!r} requested but CUDA is not available here")
    return device


@contextmanager
def cudnn_benchmark(enabled: bool) -> Iterator[None]:
    """Set ``torch.backends.cudnn.benchmark`` for the block, restoring it afterwards."""
    before = torch.backends.cudnn.benchmark
    torch.backends.cudnn.benchmark = enabled
    try:
        yield
    finally:
        torch.backends.cudnn.benchmark = before
