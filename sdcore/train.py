"""Training and evaluation loops: SGD on device-resident data, resumable epoch by epoch.

``fit`` trains a model for a ``Recipe`` with any per-batch loss, checkpointing after each epoch so
that an interrupted run resumes and ends bit-identical to an uninterrupted one on the CPU (the
batch order and augmentation of epoch e depend only on (seed, e)). Models and inputs are
channels_last where safe (``models.memory_format``); CUDA adds bf16 autocast; the loop never syncs
with the host inside an epoch. Cost: epochs × N forward-backward passes (plus a teacher forward per batch
when distilling).
"""

from __future__ import annotations

import math
import time
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor
from tqdm import tqdm

from .data import ImageData, random_crop_flip
from .models import memory_format
from .store import atomic_torch_save

# (logits, labels, inputs, indices of the batch's images in the training set) -> loss
BatchLoss = Callable[[Tensor, Tensor, Tensor, Tensor], Tensor]


@dataclass(frozen=True)
class Recipe:
    """How a model is trained; part of every run's store key."""

    epochs: int
    batch_size: int
    lr: float
    momentum: float
    nesterov: bool
    weight_decay: float
    schedule: str  # "cosine" (per step, to 0) or "step" (x0.1 at 50% and 75% of the epochs)
    augment: bool

    def lr_at(self, step: int, steps_per_epoch: int) -> float:
        if self.schedule == "cosine":
            return self.lr * 0.5 * (1 + math.cos(math.pi * step / (self.epochs * steps_per_epoch)))
        epoch = step // steps_per_epoch
        return self.lr * 0.1 ** sum(epoch >= f * self.epochs for f in (0.5, 0.75))


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(f"device {name!r} requested but CUDA is not available here")
    return device


def autocast(device: torch.device):
    """bf16 autocast on CUDA, nothing elsewhere."""
    if device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
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


def evaluate(model: nn.Module, x: Tensor, y: Tensor) -> dict[str, float]:
    """Accuracy (%) and mean cross-entropy of ``model`` on images ``x`` with labels ``y``."""
    logits = predict_logits(model, x)
    return {"accuracy": 100.0 * (logits.argmax(1) == y).float().mean().item(),
            "loss": F.cross_entropy(logits, y).item()}


def epoch_generator(seed: int, epoch: int, device: torch.device) -> torch.Generator:
    return torch.Generator(device=device).manual_seed(seed * 1_000_003 + epoch)


def fit(model: nn.Module, data: ImageData, recipe: Recipe, seed: int, loss_fn: BatchLoss,
        checkpoint: Path | None = None, desc: str = "train") -> list[dict[str, float]]:
    """Train ``model`` (already on ``data``'s device) and return the per-epoch history.

    If ``checkpoint`` exists, training resumes from it; it is rewritten atomically each epoch.
    The model is left in eval mode, trained.
    """
    device = data.train_x.device
    n = len(data.train_y)
    steps = max(1, n // recipe.batch_size)  # drop the last partial batch
    decay, no_decay = [], []
    for p in model.parameters():
        (no_decay if p.ndim <= 1 else decay).append(p)
    optimizer = torch.optim.SGD([{"params": decay, "weight_decay": recipe.weight_decay},
                                 {"params": no_decay, "weight_decay": 0.0}], lr=recipe.lr,
                                momentum=recipe.momentum, nesterov=recipe.nesterov)
    history: list[dict[str, float]] = []
    if checkpoint is not None and checkpoint.exists():
        state = torch.load(checkpoint, map_location=device, weights_only=True)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        history = state["history"]
    layout = memory_format(model, device)
    model.to(memory_format=layout)
    pad = data.image_shape[-1] // 8 if recipe.augment else 0
    model.train()
    bar = tqdm(total=recipe.epochs, initial=len(history), desc=desc, unit="epoch",
               mininterval=0, leave=True, dynamic_ncols=False, ncols=100)
    for epoch in range(len(history), recipe.epochs):
        start = time.perf_counter()
        gen = epoch_generator(seed, epoch, device)
        order = torch.randperm(n, device=device, generator=gen)
        loss_sum = torch.zeros((), device=device)
        correct = torch.zeros((), device=device, dtype=torch.long)
        for i in range(steps):
            idx = order[i * recipe.batch_size:(i + 1) * recipe.batch_size]
            x, y = data.train_x[idx], data.train_y[idx]
            if recipe.augment:
                x = random_crop_flip(x, pad, data.flip, gen)
            inputs = as_input(x, layout)
            lr = recipe.lr_at(epoch * steps + i, steps)
            for group in optimizer.param_groups:
                group["lr"] = lr
            with autocast(device):
                logits = model(inputs)
                loss = loss_fn(logits.float(), y, inputs, idx)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            loss_sum += loss.detach()
            correct += (logits.argmax(1) == y).sum()
        history.append({"epoch": epoch + 1, "loss": loss_sum.item() / steps,
                        "train_acc": 100.0 * correct.item() / (steps * recipe.batch_size),
                        "seconds": time.perf_counter() - start})
        if checkpoint is not None:
            atomic_torch_save({"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                               "history": history}, checkpoint)
        bar.set_postfix(loss=f"{history[-1]['loss']:.3f}", acc=f"{history[-1]['train_acc']:.1f}")
        bar.update(1)
    bar.close()
    model.eval()
    return history
