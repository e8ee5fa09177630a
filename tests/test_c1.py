"""C1 judged where the claim speaks: the premise from teachers alone, the in-scope rule with its
replication blocks, the knowledge controls' targets, and a training subset per seed; on
hand-built tables and models whose answer is known."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn.functional as F

from sdcore.claims import student_beats_teacher as c1
from sdcore.claims.common import base_spec, kd_weights, lab_for
from sdcore.engine.distill import class_mean_targets, shuffled_targets


def teachers(fit: float, gaps: list[float]) -> pd.DataFrame:
    """Teacher and long-teacher rows of one setting: teachers at ``fit`` % training accuracy,
    long teachers better by ``gaps`` (pp) per seed."""
    rows = []
    for seed, gap in enumerate(gaps):
        rows += [{"seed": seed, "role": "teacher", "test_acc": 80.0 + seed, "train_acc": fit},
                 {"seed": seed, "role": c1.LONG, "test_acc": 80.0 + seed + gap,
                  "train_acc": 100.0}]
    return pd.DataFrame(rows)


CONVERGED = [0.1, -0.1, 0.05, -0.05, 0.0, 0.1, -0.1, 0.0]


@pytest.mark.parametrize("fit, gaps, in_scope, why", [
    (100.0, CONVERGED, True, ""),
    (97.0, CONVERGED, False, "teachers fit 97.0 % of their training images, below 99 %"),
    (100.0, [1.0, 1.2, 0.8, 1.1, 0.9, 1.0], False, "a teacher trained twice as long is better"),
    (100.0, [0.9, -0.5, 0.8, 0.1, 0.6, -0.2], False, "is not shown to be within +0.5 pp"),
])
def test_the_premise_is_decided_from_the_teachers_alone(fit, gaps, in_scope, why):
    got = c1.premise(teachers(fit, gaps), margin=0.5, threshold=99.0)
    assert got["in_scope"] is in_scope and why in got["premise"]
    assert got["premise_pairs"] == len(gaps)


def settings(**rows: dict) -> pd.DataFrame:
    """A constructed ``setting_summary`` table: per setting its factors, premise, gain,
    p-value and block gains (defaults: in scope, 1k images, no augmentation, width 1)."""
    base = {"train_subset": 1000, "augment": False, "width": 1.0, "model": "resnet8",
            "in_scope": True, "ci_low": 0.0, "ci_high": 0.0}
    return pd.DataFrame([{**base, "setting": name, **row} for name, row in rows.items()])


ABOVE = {"gain": 0.8, "p_value": 0.001, "discovery_gain": 0.7, "replication_gain": 0.9}
BELOW = {"gain": -0.8, "p_value": 0.001, "discovery_gain": -0.7, "replication_gain": -0.9}
FLIPS = {"gain": 0.8, "p_value": 0.001, "discovery_gain": 1.7, "replication_gain": -0.1}
UNSURE = {"gain": 0.3, "p_value": 0.2, "discovery_gain": 0.2, "replication_gain": 0.4}


@pytest.mark.parametrize("table, verdict, decided", [
    (settings(a=ABOVE, b={**ABOVE, "augment": True}), "holds", ["above 0", "above 0"]),
    # two settings decided above 0 that differ in nothing that matters do not make "holds"
    (settings(a=ABOVE, b=ABOVE), "inconclusive", ["above 0", "above 0"]),
    (settings(a=ABOVE, b={**BELOW, "train_subset": 2000}), "fails", ["above 0", "below 0"]),
    # a decisive outcome whose blocks disagree in sign is not decisive
    (settings(a=ABOVE, b={**FLIPS, "augment": True}), "inconclusive", ["above 0", "undecided"]),
    (settings(a=ABOVE, b={**UNSURE, "width": 2.0}), "inconclusive", ["above 0", "undecided"]),
    # a setting whose teachers do not converge never enters the verdict, whatever its students
    (settings(a=ABOVE, b={**BELOW, "augment": True, "in_scope": False}), "inconclusive",
     ["above 0", "out of scope"]),
    (settings(a={**ABOVE, "in_scope": False}, b={**ABOVE, "augment": True, "in_scope": False}),
     "inconclusive", ["out of scope", "out of scope"]),
])
def test_the_rule_reads_in_scope_settings_with_their_replication(table, verdict, decided):
    got, by_setting = c1.judge(table)
    assert got == verdict and [by_setting[s] for s in table.setting] == decided


def test_holm_corrects_over_the_in_scope_settings_only():
    """Two p-values of 0.03: each would pass alone; Holm over both leaves neither decided, and an
    out-of-scope setting's p-value does not count in the family."""
    near = {**ABOVE, "p_value": 0.03}
    both = settings(a=near, b={**near, "augment": True})
    assert c1.judge(both)[1] == {"a": "undecided", "b": "undecided"}
    one = settings(a=near, b={**ABOVE, "augment": True, "in_scope": False, "p_value": 0.5})
    assert c1.judge(one)[1]["a"] == "above 0"


def test_without_blocks_the_pooled_test_decides():
    alone = {"gain": 0.8, "p_value": 0.001}
    table = settings(a=alone, b={**alone, "augment": True})
    assert c1.judge(table) == ("holds", {"a": "above 0", "b": "above 0"})


def test_class_mean_and_shuffled_targets_equal_their_definitions():
    logits = torch.tensor([[2.0, 0.0, -1.0], [1.0, 1.0, 0.0], [0.0, 3.0, 1.0], [0.5, -0.5, 2.0]])
    labels = torch.tensor([0, 0, 1, 2])
    t = 2.0
    p = F.softmax(logits.double() / t, dim=1)
    q = class_mean_targets(logits, labels, t).exp().double()
    mean0 = (p[0] + p[1]) / 2  # the two images of class 0 share their mean
    assert torch.allclose(q[0], mean0, atol=1e-6) and torch.allclose(q[1], mean0, atol=1e-6)
    assert torch.allclose(q[2], p[2], atol=1e-6) and torch.allclose(q[3], p[3], atol=1e-6)
    shuffled = shuffled_targets(logits, labels, t, torch.Generator().manual_seed(0)).exp()
    shuffled = shuffled.double()
    assert torch.allclose(shuffled.sum(1), torch.ones(4, dtype=torch.double), atol=1e-6)
    for i, y in enumerate(labels.tolist()):
        assert shuffled[i, y] == pytest.approx(float(p[i, y]), abs=1e-6)  # confidence kept
        others = [k for k in range(3) if k != y]
        assert sorted(shuffled[i, others].tolist()) == pytest.approx(sorted(p[i, others].tolist()),
                                                                     abs=1e-6)
    many = torch.randn(400, 10)
    y = torch.randint(0, 10, (400,))
    a = shuffled_targets(many, y, 4.0, torch.Generator().manual_seed(1))
    b = shuffled_targets(many, y, 4.0, torch.Generator().manual_seed(1))
    assert torch.equal(a, b)  # a function of its generator's seed
    plain = F.log_softmax(many / 4.0, dim=1)
    moved = (a - plain).abs().sum(1) > 1e-4
    assert moved.float().mean() > 0.9  # the non-target classes did move


def test_each_seed_trains_on_its_own_subset_and_one_seed_always_on_the_same(tmp_path):
    params = {"datasets": ["synthetic"], "width": 0.5, "train_subset": 300, "device": "cpu",
              "run_store": str(tmp_path)}
    config = c1.Config.from_params({**params, "resample_subset": True})
    lab = lab_for(config)
    a, b = (lab.data(base_spec(config, "synthetic", "resnet8", s)) for s in (11, 12))
    again = lab_for(config).data(base_spec(config, "synthetic", "resnet8", 11))
    assert not torch.equal(a.train_x, b.train_x) and torch.equal(a.train_x, again.train_x)
    assert torch.equal(a.test_x, b.test_x)  # every seed is tested on the same images
    assert np.ptp(np.bincount(a.train_y.numpy())) <= 1  # class-stratified
    fixed = c1.Config.from_params({**params, "resample_subset": False})
    c, d = (lab.data(base_spec(fixed, "synthetic", "resnet8", s)) for s in (11, 12))
    assert torch.equal(c.train_x, d.train_x)
    student = base_spec(config, "synthetic", "resnet8", 11)
    assert student.student(student.key, kd_weights(config)).subset_seed == 11


def test_knowledge_controls_and_premise_seeds_are_planned_where_declared():
    config = c1.Config.from_params({
        "datasets": ["synthetic"], "seeds": 4, "first_seed": 10, "discovery_seeds": 2,
        "premise_seeds": 2, "settings": [{"name": "a"}, {"name": "b", "augment": False}],
        "knowledge_controls": ["a"]})
    targets = {(s.seed, s.kd.targets if s.kd else "none", s.recipe.epochs)
               for chain in c1.plan(config) for s in chain}
    assert (10, "class-mean teacher", 15) in targets and (10, "shuffled teacher", 15) in targets
    assert (14, "none", 30) in targets and not any(seed >= 14 and kind != "none"
                                                  for seed, kind, _ in targets)
    assert [block for *_, block in c1.judged(config)][:4] == ["discovery", "discovery",
                                                              "replication", "replication"]
    with pytest.raises(ValueError, match="'knowledge_controls': 'c' not declared"):
        c1.Config.from_params({"settings": [{"name": "a"}], "knowledge_controls": ["c"]})
    with pytest.raises(ValueError, match="'discovery_seeds': 3 leaves a block of fewer than 2"):
        c1.Config.from_params({"seeds": 4, "discovery_seeds": 3})
    with pytest.raises(ValueError, match="exceeds equivalence_margin"):
        c1.Config.from_params({"convergence_margin": 1.0, "equivalence_margin": 0.5})
    assert math.isfinite(c1.Config.from_params({}).planning_sd)
