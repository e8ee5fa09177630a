"""The verdict rules of every claim, on hand-built tables whose answer is known."""

import pandas as pd
import pytest

from sdcore import flatness, student_teacher


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
    gains_table = student_teacher.analyse(chain_table(gains))
    assert student_teacher.verdict(gains_table) == verdict
    assert gains_table.gain.iloc[0] == pytest.approx(sum(gains) / len(gains))


@pytest.mark.parametrize("changes, verdict", [
    ([-5.0, -6.0, -5.5], "holds"),
    ([5.0, 6.0, 5.5], "fails"),
    ([-5.0, 6.0, 0.5], "inconclusive"),
])
def test_c3_rule(changes, verdict):
    table = chain_table(changes).rename(columns={"test_acc": "lambda_max"})
    table["trace"] = table["lambda_max"] * 10
    assert flatness.verdict_c3(flatness.paired_changes(table)) == verdict


def test_c4_rule_and_rank_correlation():
    sharp = pd.DataFrame({"lambda_max": range(12), "trace": range(12),
                          "test_acc": range(12, 0, -1), "gap": range(12)})
    corr = flatness.rank_correlations(sharp)
    assert corr.set_index(["measure", "target"]).loc[("trace", "test_acc"), "rho"] == -1.0
    assert flatness.verdict_c4(corr) == "holds"
    sharp["test_acc"] = list(range(12))
    assert flatness.verdict_c4(flatness.rank_correlations(sharp)) == "fails"
