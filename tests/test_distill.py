import math

import pytest
import torch
import torch.nn.functional as F

from sdcore.engine.distill import Ensemble, ensemble_logits, kd_loss
from sdcore.engine.specs import KDWeights


def test_weight_kd_zero_is_cross_entropy():
    s, t = torch.randn(8, 5), torch.randn(8, 5)
    y = torch.randint(0, 5, (8,))
    loss = kd_loss(s, t, y, KDWeights(1.0, 0.0, 4.0))
    assert torch.allclose(loss, F.cross_entropy(s, y))


def test_identical_logits_give_zero_kl():
    s = torch.randn(8, 5)
    y = torch.randint(0, 5, (8,))
    assert kd_loss(s, s.clone(), y, KDWeights(0.0, 1.0, 3.0)).abs().item() < 1e-6


@pytest.mark.parametrize("temperature", [1.0, 2.0, 4.0])
def test_hand_computed_two_class_kl_with_t_squared(temperature):
    # teacher logits (T·ln 3, 0) at temperature T: p = (3/4, 1/4); student (0, 0): (1/2, 1/2)
    t = torch.tensor([[temperature * math.log(3.0), 0.0]])
    s = torch.zeros(1, 2)
    kl = 0.75 * math.log(0.75 / 0.5) + 0.25 * math.log(0.25 / 0.5)
    loss = kd_loss(s, t, torch.tensor([0]), KDWeights(0.0, 1.0, temperature))
    assert loss.item() == pytest.approx(temperature ** 2 * kl, rel=1e-6)


def test_weights_combine_linearly():
    s, t = torch.randn(4, 3), torch.randn(4, 3)
    y = torch.randint(0, 3, (4,))
    ce = kd_loss(s, t, y, KDWeights(1.0, 0.0, 2.0))
    kd = kd_loss(s, t, y, KDWeights(0.0, 1.0, 2.0))
    assert torch.allclose(kd_loss(s, t, y, KDWeights(0.3, 0.7, 2.0)), 0.3 * ce + 0.7 * kd)


def test_cached_teacher_logits_equal_the_online_teacher():
    from sdcore.engine.distill import distillation_loss
    from sdcore.engine.models import build_model

    torch.manual_seed(0)
    teacher = build_model("resnet8", 1, 10, 0.5).eval()
    images = torch.randint(0, 256, (40, 1, 12, 12), dtype=torch.uint8)
    idx = torch.tensor([3, 17, 0, 39])
    inputs, labels, logits = images[idx].float(), torch.tensor([1, 2, 3, 4]), torch.randn(4, 10)
    kd = KDWeights(0.5, 0.5, 4.0)
    online = distillation_loss(teacher, kd)(logits, labels, inputs, idx)
    cached = distillation_loss(teacher, kd, images)(logits, labels, inputs, idx)
    assert torch.allclose(online, cached, atol=1e-5)


def test_ensemble_averages_logits_or_probabilities_as_documented():
    a = torch.tensor([[2.0, 0.0, -1.0]])
    b = torch.tensor([[0.0, 1.0, 3.0]])
    by_logits = ensemble_logits([a, b], "logits")
    torch.testing.assert_close(by_logits, (a + b) / 2)
    by_probs = ensemble_logits([a, b], "probabilities")
    torch.testing.assert_close(by_probs.exp(), (a.softmax(1) + b.softmax(1)) / 2)
    with pytest.raises(ValueError, match="allowed: logits, probabilities"):
        ensemble_logits([a, b], "votes")


def test_ensemble_module_is_the_average_of_its_members():
    torch.manual_seed(0)
    members = [torch.nn.Linear(4, 3) for _ in range(2)]
    x = torch.randn(5, 4)
    ensemble = Ensemble(members, "logits")
    torch.testing.assert_close(ensemble(x), (members[0](x) + members[1](x)) / 2)


def test_label_smoothing_loss_equals_its_closed_form():
    """w_ce·CE + w_kd·T²·Σ_k q_k (log q_k − log softmax(s/T)_k), q = (1 − ε)·onehot + ε/K."""
    from sdcore.engine.distill import label_smoothing_loss

    torch.manual_seed(0)
    s, y = torch.randn(5, 4), torch.tensor([0, 3, 1, 1, 2])
    kd, eps, k = KDWeights(0.3, 0.7, 2.0, "label smoothing"), 0.2, 4
    expected = 0.0
    for logits, label in zip(s.tolist(), y.tolist()):
        q = [eps / k + (1 - eps) * (j == label) for j in range(k)]
        log_p = [x / 2.0 - math.log(sum(math.exp(v / 2.0) for v in logits)) for x in logits]
        ce = -(logits[label] - math.log(sum(math.exp(v) for v in logits)))
        kl = sum(qj * (math.log(qj) - lp) for qj, lp in zip(q, log_p))
        expected += (0.3 * ce + 0.7 * 4.0 * kl) / len(y)
    loss = label_smoothing_loss(kd, eps, k)(s, y, None, None)
    assert loss.item() == pytest.approx(expected, rel=1e-5)


def test_smoothing_epsilon_matches_the_teachers_non_target_mass():
    """ε·(K − 1)/K equals the teacher's mean non-target probability at temperature T."""
    from sdcore.engine.distill import smoothing_epsilon

    k, temperature = 4, 2.0
    # logits whose softmax at T puts 0.7 and 0.5 on the label (the rest spread evenly)
    rows = []
    for p in (0.7, 0.5):
        probs = [p] + [(1 - p) / (k - 1)] * (k - 1)
        rows.append([temperature * math.log(v) for v in probs])
    eps = smoothing_epsilon(torch.tensor(rows), torch.tensor([0, 0]), temperature)
    assert eps == pytest.approx(k / (k - 1) * (1 - 0.6))


def test_unknown_soft_targets_are_refused():
    with pytest.raises(ValueError, match="unknown targets 'noise'"):
        KDWeights(0.5, 0.5, 4.0, "noise")
