"""The knowledge-distillation loss, its label-smoothing control, and the batch losses built on them.

    loss = weight_ce · CE(y, s) + weight_kd · T² · KL(q ‖ softmax(s/T))

with s the student's logits and q its soft targets: the teacher's softened outputs
softmax(t/T) (Hinton et al. 2015), or, for the label-smoothing control, the smoothed labels
q_ε = (1 − ε)·onehot(y) + ε/K with ε matched to the teacher (``smoothing_epsilon``), which carry
the teacher's softness but none of its dark knowledge (Yuan et al. 2020; Müller et al. 2019). Two
knowledge controls keep part of the teacher: the class-mean teacher (``class_mean_targets``) and
the shuffled teacher (``shuffled_targets``), each computed once from the teacher's outputs on the
clean training images and read per image (``fixed_target_loss``). The T² factor keeps the soft
term's gradient scale independent of T. Costs one teacher forward pass per batch (none when the
teacher's logits are cached, or for the controls).
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

MIN_EPSILON = 1e-8  # smoothed labels keep every class above zero, so their logarithm is finite


def soft_target_loss(student_logits: Tensor, target_log_probs: Tensor, labels: Tensor,
                     kd: KDWeights) -> Tensor:
    """``weight_ce·CE(y, s) + weight_kd·T²·KL(q ‖ softmax(s/T))`` for soft targets with
    log-probabilities ``target_log_probs``, batch mean."""
    t = kd.temperature
    loss = student_logits.new_zeros(())
    if kd.weight_ce:
        loss = loss + kd.weight_ce * F.cross_entropy(student_logits, labels)
    if kd.weight_kd:
        kl = F.kl_div(F.log_softmax(student_logits / t, dim=1), target_log_probs,
                      reduction="batchmean", log_target=True)
        loss = loss + kd.weight_kd * t * t * kl
    return loss


def kd_loss(student_logits: Tensor, teacher_logits: Tensor, labels: Tensor,
            kd: KDWeights) -> Tensor:
    """``weight_ce·CE(y, s) + weight_kd·T²·KL(softmax(t/T) ‖ softmax(s/T))``, batch mean."""
    return soft_target_loss(student_logits, F.log_softmax(teacher_logits / kd.temperature, dim=1),
                            labels, kd)


def smoothed_log_targets(labels: Tensor, classes: int, epsilon: float) -> Tensor:
    """log q_ε of labels smoothed by ε: ``(1 − ε)·onehot(y) + ε/K``."""
    if not MIN_EPSILON <= epsilon <= 1:
        raise ValueError(f"epsilon must lie in [{MIN_EPSILON}, 1], got {epsilon}")
    q = torch.full((len(labels), classes), epsilon / classes, device=labels.device)
    q[torch.arange(len(labels), device=labels.device), labels] += 1 - epsilon
    return q.log()


def smoothing_epsilon(teacher_logits: Tensor, labels: Tensor, temperature: float) -> float:
    """The ε whose smoothed labels put on the non-target classes the mass that the teacher's
    outputs at temperature T put there on average over ``labels``' samples: ε·(K − 1)/K =
    1 − mean softmax(t/T)_y, so ε = K/(K − 1)·(1 − mean softmax(t/T)_y), at least MIN_EPSILON."""
    classes = teacher_logits.shape[1]
    target = F.softmax(teacher_logits.double() / temperature, dim=1).gather(1, labels[:, None])
    epsilon = classes / (classes - 1) * (1 - float(target.mean()))
    return min(1.0, max(MIN_EPSILON, epsilon))


def class_mean_targets(teacher_logits: Tensor, labels: Tensor, temperature: float) -> Tensor:
    """log q per image, q being the mean of softmax(t/T) over the images of the image's class:
    the teacher's class similarities, with every image of a class given the same target."""
    probs = F.softmax(teacher_logits.double() / temperature, dim=1)
    classes = teacher_logits.shape[1]
    sums = torch.zeros(classes, classes, dtype=probs.dtype, device=probs.device)
    sums.index_add_(0, labels, probs)
    counts = torch.bincount(labels, minlength=classes).clamp_min(1)[:, None]
    return (sums / counts)[labels].log().float()


def shuffled_targets(teacher_logits: Tensor, labels: Tensor, temperature: float,
                     generator: torch.Generator) -> Tensor:
    """log q per image, q being softmax(t/T) with the target class's probability kept and the
    other classes' probabilities permuted at random (a permutation per image from
    ``generator``): the teacher's per-image confidence without its class structure."""
    probs = F.softmax(teacher_logits.double() / temperature, dim=1)
    n, classes = probs.shape
    others = torch.arange(classes - 1, device=probs.device).expand(n, -1)
    others = others + (others >= labels[:, None])  # each row's non-target classes, in order
    order = torch.argsort(torch.rand(n, classes - 1, generator=generator).to(probs.device), 1)
    shuffled = probs.clone()
    shuffled.scatter_(1, others, probs.gather(1, others).gather(1, order))
    return shuffled.clamp_min(1e-30).log().float()


def fixed_target_loss(kd: KDWeights, log_targets: Tensor) -> BatchLoss:
    """A student's batch loss against soft targets fixed per training image (``log_targets``,
    indexed by the batch's image indices; augmented images keep their clean image's target)."""

    def loss(logits: Tensor, labels: Tensor, inputs: Tensor, idx: Tensor) -> Tensor:
        return soft_target_loss(logits, log_targets[idx], labels, kd)

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


def label_smoothing_loss(kd: KDWeights, epsilon: float, classes: int) -> BatchLoss:
    """The label-smoothing control's batch loss: the student's soft targets are its labels
    smoothed by ``epsilon`` (no teacher forward pass)."""

    def loss(logits: Tensor, labels: Tensor, inputs: Tensor, idx: Tensor) -> Tensor:
        return soft_target_loss(logits, smoothed_log_targets(labels, classes, epsilon), labels, kd)

    return loss


def distillation_loss(teacher: nn.Module, kd: KDWeights, train_x: Tensor | None = None,
                      batch_size: int = 256, precision: str = "fp32") -> BatchLoss:
    """A student's batch loss: the teacher (eval mode, inference mode, in the student's training
    ``precision``) sees the same inputs.

    Without augmentation the teacher's logits depend only on the image, so pass the training
    images as ``train_x``: they are computed once, not every epoch (a student then costs what its
    teacher cost instead of ~1.6x), ``batch_size`` images at a time. The online teacher's forward
    keeps no autocast cache, so that a CUDA graph can capture it.
    """
    teacher.eval()
    cached = (predict_logits(teacher, train_x, batch_size, precision) if train_x is not None
              else None)

    def loss(logits: Tensor, labels: Tensor, inputs: Tensor, idx: Tensor) -> Tensor:
        if cached is not None:
            return kd_loss(logits, cached[idx], labels, kd)
        with torch.inference_mode(), autocast(inputs.device, precision, cache=False):
            teacher_logits = teacher(inputs).float()
        return kd_loss(logits, teacher_logits.clone(), labels, kd)

    return loss
