"""Calibration and fidelity of a model's predictions, from its logits.

- ``expected_calibration_error``: ECE with equal-width confidence bins (Guo et al. 2017): the
  mean over bins, weighted by their share of the samples, of |accuracy − mean confidence|, with a
  sample's confidence its largest softmax probability.
- ``agreement``: the share of samples on which two models predict the same class (the student's
  top-1 fidelity to its teacher; Stanton et al. 2021).
- ``mean_kl``: the mean KL(softmax(a) ‖ softmax(b)) over samples, at temperature 1.
Cost: one pass over the logits.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

ECE_BINS = 15


def expected_calibration_error(logits: Tensor, labels: Tensor, bins: int = ECE_BINS) -> float:
    """ECE (in [0, 1]) of ``logits`` against integer ``labels``, over ``bins`` equal-width bins
    of confidence on (0, 1]; empty bins count for nothing."""
    if bins < 1:
        raise ValueError(f"bins must be ≥ 1, got {bins}")
    probs = F.softmax(logits.double(), dim=1)
    confidence, predicted = probs.max(1)
    correct = (predicted == labels).double()
    # bin b holds confidences in (b/bins, (b+1)/bins]; a confidence of exactly 0 cannot occur
    index = (torch.ceil(confidence * bins).long() - 1).clamp(0, bins - 1)
    gap = torch.zeros(bins, dtype=torch.float64)
    gap.index_add_(0, index.cpu(), (correct - confidence).cpu())
    return float(gap.abs().sum() / len(labels))


def agreement(a_logits: Tensor, b_logits: Tensor) -> float:
    """The share (in %) of samples where ``a`` and ``b`` predict the same class."""
    return 100.0 * float((a_logits.argmax(1) == b_logits.argmax(1)).double().mean())


def mean_kl(a_logits: Tensor, b_logits: Tensor) -> float:
    """The mean over samples of KL(softmax(a) ‖ softmax(b)), in nats."""
    return float(F.kl_div(F.log_softmax(b_logits.double(), 1), F.log_softmax(a_logits.double(), 1),
                          reduction="batchmean", log_target=True))
