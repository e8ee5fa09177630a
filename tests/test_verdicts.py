"""The verdict rules of every claim, on hand-built tables whose answer is known."""

import pandas as pd
import pytest

from sdcore.claims import amplified_regularization as regularization
from sdcore.claims import flatness
from sdcore.claims import flatter_minima
from sdcore.claims import multi_view
from sdcore.claims import student_beats_teacher as c1
from sdcore.engine.stats import mean_ci, three_way


def chain_table(gains_by_seed: list[float]) -> pd.DataFrame:
    rows = []
    for seed, gain in enumerate(gains_by_seed):
        rows += [{"dataset": "d", "model": "m", "seed": seed, "generation": 0,
                  "test_acc": 80.0 + seed},
                 {"dataset": "d", "model": "m", "seed": seed, "generation": 1,
                  "test_acc": 80.0 + seed + gain}]
    return pd.DataFrame(rows)


@pytest.mark.parametrize("gains, verdict", [
    ([0.5, 0.6, 0.55, 0.45], "holds"),
    ([-0.5, -0.6, -0.55, -0.45], "fails"),
    ([0.5, -0.4, 0.1, -0.2], "inconclusive"),
    ([0.5], "inconclusive"),  # one seed has no interval
])
def test_c1_rule(gains, verdict):
    gains_table = c1.paired_gains(chain_table(gains))
    assert c1.verdict(gains_table) == verdict
    assert gains_table.gain.iloc[0] == pytest.approx(sum(gains) / len(gains))


@pytest.mark.parametrize("changes, verdict", [
    ([-5.0, -6.0, -5.5], "holds"),
    ([5.0, 6.0, 5.5], "fails"),
    ([-5.0, 6.0, 0.5], "inconclusive"),
])
def test_c3_rule(changes, verdict):
    table = chain_table(changes).rename(columns={"test_acc": "lambda_max"})
    table["trace"] = table["lambda_max"] * 10
    changes = flatness.paired_changes(table, flatter_minima.MEASURES)
    assert three_way(changes.ci_low, changes.ci_high, sign=-1) == verdict


def test_c4_rule_and_rank_correlation():
    sharp = pd.DataFrame({"lambda_max": range(12), "trace": range(12),
                          "test_acc": range(12, 0, -1), "gap": range(12)})
    corr = flatness.rank_correlations(sharp, flatter_minima.MEASURES)
    assert corr.set_index(["measure", "target"]).loc[("trace", "test_acc"), "rho"] == -1.0
    no_change = pd.DataFrame({"ci_low": [-1.0], "ci_high": [1.0]})
    assert flatness.verdicts(no_change, corr) == {"C3": "inconclusive", "C4": "holds"}
    sharp["test_acc"] = list(range(12))
    corr = flatness.rank_correlations(sharp, flatter_minima.MEASURES)
    assert flatness.verdicts(no_change, corr)["C4"] == "fails"


def variant_table(kd_only_last: list[float], no_decay_gain: list[float]) -> pd.DataFrame:
    """Chains of two students per variant; the tested changes are given per seed, the rest 0."""
    rows = []
    for seed, (drop, gain) in enumerate(zip(kd_only_last, no_decay_gain)):
        base = 80.0 + seed
        changes = {regularization.WITH_LABELS: [0.0, 0.3, 0.3],
                   regularization.KD_ONLY: [0.0, drop / 2, drop],
                   regularization.NO_DECAY: [0.0, gain, gain]}
        for variant, deltas in changes.items():
            rows += [{"dataset": "d", "model": "m", "variant": variant, "seed": seed,
                      "generation": g, "test_acc": base + d} for g, d in enumerate(deltas)]
    return pd.DataFrame(rows)


@pytest.mark.parametrize("kd_only_last, no_decay_gain, verdict", [
    ([1.0, 1.2, 0.9], [0.0, 0.5, -0.5], "holds"),  # KD only ends above its teacher
    ([-3.0, -2.0, -4.0], [0.5, 0.6, 0.4], "holds"),  # a gain without weight decay
    ([-3.0, -2.0, -4.0], [-0.5, -0.6, -0.4], "fails"),  # both predictions borne out
    ([-3.0, -2.0, -4.0], [0.5, -0.6, 0.1], "inconclusive"),
    ([1.0, -1.0, 0.2], [0.5, -0.6, 0.1], "inconclusive"),
])
def test_c2_amplified_regularization_rule(kd_only_last, no_decay_gain, verdict):
    changes = regularization.accuracy_changes(variant_table(kd_only_last, no_decay_gain))
    predictions = regularization.predictions(changes)
    assert regularization.verdict(predictions) == verdict
    assert predictions.kd_only_last.iloc[0] == pytest.approx(sum(kd_only_last) / 3)
    assert predictions.last_generation.iloc[0] == 2


def role_table(over_ensemble: list[float], same_minus_fresh: list[float]) -> pd.DataFrame:
    rows = []
    for seed, (a, b) in enumerate(zip(over_ensemble, same_minus_fresh)):
        acc = {"teacher": 80.0, "partner": 80.5, "ensemble": 81.0, "student": 81.0 + a,
               "ensemble student": 81.2, "same-init student": 81.0 + a + b}
        rows += [{"dataset": "d", "model": "m", "seed": seed, "role": role, "test_acc": v + seed}
                 for role, v in acc.items()]
    return pd.DataFrame(rows)


@pytest.mark.parametrize("over_ensemble, same_minus_fresh, verdict", [
    ([0.5, 0.6, 0.4], [0.0, 0.3, -0.3], "holds"),  # the student beats the ensemble
    ([-0.5, 0.6, 0.1], [0.5, 0.6, 0.4], "holds"),  # the teacher's own init gains more
    ([-0.5, -0.6, -0.4], [-0.5, -0.6, -0.4], "fails"),  # both predictions borne out
    ([-0.5, -0.6, -0.4], [0.5, -0.6, 0.1], "inconclusive"),
])
def test_c2_multi_view_rule(over_ensemble, same_minus_fresh, verdict):
    comparisons = multi_view.role_comparisons(role_table(over_ensemble, same_minus_fresh))
    assert multi_view.verdict(comparisons) == verdict
    row = comparisons.set_index("comparison").loc["student vs ensemble"]
    assert row.difference == pytest.approx(sum(over_ensemble) / 3)


def test_c1_verdict_judges_the_first_student_only():
    """A second generation that loses to its teacher does not gate the claim (our extension)."""
    rows = []
    for seed, (first, second) in enumerate([(0.5, -0.5), (0.6, -0.6), (0.55, -0.4)]):
        for generation, acc in enumerate([80.0, 80.0 + first, 80.0 + first + second]):
            rows.append({"dataset": "d", "model": "m", "seed": seed, "generation": generation,
                         "test_acc": acc + seed})
    gains = c1.paired_gains(pd.DataFrame(rows))
    assert list(gains.generation) == [1, 2] and gains.ci_high.iloc[1] < 0
    assert c1.verdict(gains) == "holds"


@pytest.mark.parametrize("lows, highs, sign, need, verdict", [
    ([0.1, 0.2], [0.5, 0.6], 1, "all", "holds"),
    ([0.1, -0.2], [0.5, 0.6], 1, "all", "inconclusive"),
    ([0.1, -0.6], [0.5, -0.2], 1, "all", "fails"),
    ([-0.5, -0.6], [-0.1, -0.2], -1, "all", "holds"),
    ([-0.5, 0.1], [0.1, 0.3], 1, "any", "holds"),
    ([-0.5, -0.6], [-0.1, -0.2], 1, "any", "fails"),
    ([-0.5, -0.6], [0.1, -0.2], 1, "any", "inconclusive"),
    ([float("nan")], [float("nan")], 1, "all", "inconclusive"),
])
def test_three_way_verdicts(lows, highs, sign, need, verdict):
    assert three_way(lows, highs, sign, need) == verdict


def test_mean_ci_is_the_student_t_interval_with_a_one_seed_guard():
    mean, low, high = mean_ci([1.0, 2.0, 3.0])
    assert mean == 2.0 and (low, high) == pytest.approx((2 - 2.4841, 2 + 2.4841), abs=1e-3)
    assert mean_ci([4.0])[0] == 4.0 and all(v != v for v in mean_ci([4.0])[1:])
    assert mean_ci([2.0, 2.0]) == (2.0, 2.0, 2.0)
