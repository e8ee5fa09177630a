"""The knowledge-distillation loss and the teacher-to-student batch loss built from it.

    loss = weight_ce · CE(y, s) + weight_kd · T² · KL(softmax(t/T) ‖ softmax(s/T))

with s the student's and t the teacher's logits (Hinton et al. 2015). The T² factor keeps the soft
term's gradient scale independent of T. Costs one teacher forward pass per batch.
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from .inference import autocast, predict_logits
from .specs import AVERAGES, KDWeights
from .train import BatchLoss

def kd_loss(student_logits: Tensor, teacher_logits: Tensor, labels: Tensor,
            kd: KDWeights) -> Tensor:
    """``weight_ce·CE(y, s) + weight_kd·T²·KL(softmax(t/T) ‖ softmax(s/T))``, batch mean."""
    t = kd.temperature
    loss = student_logits.new_zeros(())
    if kd.weight_ce:
        loss = loss + kd.weight_ce * F.cross_entropy(student_logits, labels)
    if kd.weight_kd:
        kl = F.kl_div(F.log_softmax(student_logits / t, dim=1),
                      F.log_softmax(teacher_logits / t, dim=1), reduction="batchmean",
                      log_target=True)
        loss = loss + kd.weight_kd * t * t * kl
    return loss


def ensemble_logits(logits: list[Tensor], average: str) -> Tensor:
    """One ensemble prediction from its members' logits.

    ``"logits"``: the mean of the members' logits (Allen-Zhu & Li's ensemble, the average of the
    networks' outputs). ``"probabilities"``: the log of the mean of their softmax probabilities.
    Either is a valid logit vector, so a student distils from it like from a single teacher.
    """
    stacked = torch.stack(logits)
    if average == "logits":
        return stacked.mean(0)
    if average == "probabilities":
        return torch.logsumexp(F.log_softmax(stacked, dim=-1), dim=0) - math.log(len(logits))
    raise ValueError(f"unknown average {average!r}; allowed: {', '.join(AVERAGES)}")


class Ensemble(nn.Module):
    """Models whose predictions are averaged by ``ensemble_logits``."""

    def __init__(self, members: list[nn.Module], average: str):
        super().__init__()
        self.members = nn.ModuleList(members)
        self.average = average

    def forward(self, x: Tensor) -> Tensor:
        return ensemble_logits([m(x).float() for m in self.members], self.average)


def cross_entropy_loss(logits: Tensor, labels: Tensor, inputs: Tensor, idx: Tensor) -> Tensor:
    """The teacher's batch loss."""
    return F.cross_entropy(logits, labels)


def distillation_loss(teacher: nn.Module, kd: KDWeights, train_x: Tensor | None = None,
                      batch_size: int = 256) -> BatchLoss:
    """A student's batch loss: the teacher (eval mode, inference mode) sees the same inputs.

    Without augmentation the teacher's logits depend only on the image, so pass the training
    images as ``train_x``: they are computed once, not every epoch (a student then costs what its
    teacher cost instead of ~1.6x), ``batch_size`` images at a time. The online teacher's forward
    keeps no autocast cache, so that a CUDA graph can capture it.
    """
    teacher.eval()
    cached = predict_logits(teacher, train_x, batch_size) if train_x is not None else None

    def loss(logits: Tensor, labels: Tensor, inputs: Tensor, idx: Tensor) -> Tensor:
        if cached is not None:
            return kd_loss(logits, cached[idx], labels, kd)
        with torch.inference_mode(), autocast(inputs.device, cache=False):
            teacher_logits = teacher(inputs).float()
        return kd_loss(logits, teacher_logits.clone(), labels, kd)

    return loss
