"""What the theories of self-distillation say happens inside a model, measured.

- ``output_entropy``: the mean entropy (nats) of a model's softmax outputs; Mobahi et al. (2020)
  predict that rounds of self-distillation without labels shrink predictions towards the zero
  function, which for a classifier is the uniform distribution (entropy ln K).
- ``participation_ratio``: the effective number of directions a set of features uses,
  (Σλ)² / Σλ² over the eigenvalues λ of their covariance: 1 for features on one line, the
  dimension for isotropic ones; Mobahi et al.'s fewer surviving basis functions predict that it
  falls over rounds. ``penultimate`` gives the features a classifier's head reads, and its logits.
- ``loss_barrier``: the largest excess of the loss on the straight line between two models over
  the straight line between their losses (Frankle et al. 2020), 0 for two copies of one model;
  with ``calibration.agreement``, whether a student started from its teacher's initialization
  stays in its teacher's basin, as the multi-view account's test needs (Allen-Zhu & Li 2020).

Cost: one forward pass over the samples per model (``points`` of them for the barrier).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from .inference import as_input, eval_mode
from .models import memory_format
from .landscape import interpolation


def output_entropy(logits: Tensor) -> float:
    """The mean entropy (nats) of ``softmax(logits)``."""
    log_p = F.log_softmax(logits.double(), dim=1)
    return float(-(log_p.exp() * log_p).sum(1).mean())


def participation_ratio(features: Tensor) -> float:
    """(Σλ)² / Σλ² of the eigenvalues of the features' covariance (rows are samples)."""
    centered = features.double() - features.double().mean(0)
    eigenvalues = torch.linalg.svdvals(centered) ** 2  # the covariance's, up to a factor
    return float(eigenvalues.sum() ** 2 / (eigenvalues ** 2).sum())


@torch.inference_mode()
def penultimate(model: nn.Module, images: Tensor, batch_size: int = 512) -> tuple[Tensor, Tensor]:
    """The features ``model``'s classifier head reads (``model.features``), for uint8 images, and
    the logits that head gives them (``model.classifier``), in one pass in the model's memory
    layout: the logits equal ``inference.predict_logits``' at the same batch size."""
    if not (hasattr(model, "features") and hasattr(model, "classifier")):
        raise ValueError(f"{type(model).__name__} has no .features and .classifier to read the "
                         "penultimate layer from")
    layout = memory_format(model, images.device)
    features, logits = [], []
    with eval_mode(model):  # in fp32, as every measurement
        for i in range(0, len(images), batch_size):
            f = model.features(as_input(images[i:i + batch_size], layout))
            features.append(f.float())
            logits.append(model.classifier(f).float())
    return torch.cat(features), torch.cat(logits)


def loss_barrier(model_a: nn.Module, model_b: nn.Module, x: Tensor, y: Tensor,
                 points: int = 11) -> float:
    """max over t in [0, 1] of L((1 − t)θ_a + tθ_b) − ((1 − t)L(θ_a) + tL(θ_b)): the loss
    barrier on the straight line between two models (BatchNorm statistics interpolated too)."""
    ts = np.linspace(0.0, 1.0, points)
    path = interpolation(model_a, model_b, ts, x, y)
    chord = (1 - ts) * path.loss[0] + ts * path.loss[-1]
    return float(np.max(path.loss - chord))
