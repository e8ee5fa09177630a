"""The verdict rules of every claim, on hand-built tables whose answer is known."""

import numpy as np
import pandas as pd
import pytest

from sdcore.claims import amplified_regularization as regularization
from sdcore.claims import flatness
from sdcore.claims import multi_view
from sdcore.claims.predictions import c2_verdict, judge_family
from sdcore.engine.stats import mean_ci, three_way


def chain_table(gains_by_seed: list[float]) -> pd.DataFrame:
    rows = []
    for seed, gain in enumerate(gains_by_seed):
        rows += [{"setting": "s", "seed": seed, "generation": 0, "test_acc": 80.0 + seed},
                 {"setting": "s", "seed": seed, "generation": 1,
                  "test_acc": 80.0 + seed + gain}]
    return pd.DataFrame(rows)


MEASURES = [flatness.Measure("a", "measure a"), flatness.Measure("b", "measure b", flatter=1),
            flatness.Measure("c", "reported c", judged=False)]


def pairs_table(change_a: list[float], change_b: list[float], gains: list[float]) -> pd.DataFrame:
    """Teachers and first students per seed: measure a (lower flatter), b (higher flatter), c
    (reported), test accuracy; the students' changes are given."""
    rows = []
    for seed, (da, db, g) in enumerate(zip(change_a, change_b, gains)):
        base = {"a": 10.0 + seed, "b": 1.0 + 0.1 * seed, "c": 0.0, "test_acc": 80.0 + seed,
                "gap": 1.0}
        rows.append({"setting": "s", "seed": seed, "generation": 0, **base})
        rows.append({"setting": "s", "seed": seed, "generation": 1, "a": base["a"] + da,
                     "b": base["b"] + db, "c": 5.0, "test_acc": base["test_acc"] + g})
    return pd.DataFrame(rows)


SEEDS = 8


@pytest.mark.parametrize("change_a, change_b, verdict", [
    ([-2.0 - 0.1 * i for i in range(SEEDS)], [0.5 + 0.01 * i for i in range(SEEDS)], "holds"),
    ([2.0 + 0.1 * i for i in range(SEEDS)], [-0.5 - 0.01 * i for i in range(SEEDS)], "fails"),
    ([-2.0 - 0.1 * i for i in range(SEEDS)], [-0.5 - 0.01 * i for i in range(SEEDS)], "mixed"),
    ([(-1.0) ** i for i in range(SEEDS)], [0.5 + 0.01 * i for i in range(SEEDS)],
     "inconclusive"),  # b says flatter, a nothing: not every judged measure agrees
])
def test_c3_reads_every_judged_measure_with_holms_correction(change_a, change_b, verdict):
    analysis = flatness.FlatnessAnalysis.of(pairs_table(change_a, change_b, [0.5] * SEEDS),
                                            MEASURES)
    assert analysis.verdicts["C3"] == verdict
    assert set(analysis.tests.measure) == {"a", "b"}  # the reported measure is not judged
    if verdict == "mixed":
        assert analysis.reading == "flatter: measure a (s); sharper: measure b (s)"


def test_holm_leaves_unresolved_two_tests_that_would_each_pass_alone():
    # each p-value is about 0.037: under 5% alone, but Holm asks 2.5% of the smaller of two
    change = [-2.684, -2.123, -1.561, -1.0, -0.888, -0.439, 0.123, 0.572]
    analysis = flatness.FlatnessAnalysis.of(
        pairs_table(change, [-c / 10 for c in change], [0.5] * SEEDS), MEASURES)
    tests = analysis.tests.set_index("measure")
    assert (0.025 < tests.p).all() and (tests.p < 0.05).all()
    assert list(tests.decision) == ["unresolved", "unresolved"]
    assert analysis.verdicts["C3"] == "inconclusive"


def gains_frame(low: float, high: float) -> pd.DataFrame:
    return pd.DataFrame({"setting": ["s"], "difference": [(low + high) / 2], "ci_low": [low],
                         "ci_high": [high]})


def correlation(low: float, high: float) -> pd.DataFrame:
    return pd.DataFrame({"measure": ["a"], "rho": [(low + high) / 2], "ci_low": [low],
                         "ci_high": [high]})


@pytest.mark.parametrize("gain, c3, rho, verdict", [
    ((0.2, 0.8), "holds", (0.1, 0.9), "holds"),
    ((-0.2, 0.8), "holds", (0.1, 0.9), "inconclusive"),  # no C1 on these models: never holds
    ((0.2, 0.8), "inconclusive", (0.1, 0.9), "inconclusive"),  # no C3: never holds
    ((0.2, 0.8), "mixed", (0.1, 0.9), "inconclusive"),
    ((0.2, 0.8), "fails", (0.1, 0.9), "fails"),  # better yet sharper
    ((-0.8, -0.2), "holds", (-0.5, 0.5), "fails"),  # flatter yet worse
    ((0.2, 0.8), "holds", (-0.9, -0.1), "fails"),  # more flattening, less gain
])
def test_c4_holds_only_where_c1_and_c3_do(gain, c3, rho, verdict):
    assert flatness.c4_verdict(gains_frame(*gain), c3, correlation(*rho)) == verdict


def test_within_pair_correlation_follows_the_flattening():
    flattening = [-0.5 - 0.2 * i for i in range(SEEDS)]  # a falls more and more
    gains = [0.1 + 0.1 * i for i in range(SEEDS)]  # and the gain grows with it
    within = flatness.within_pairs(pairs_table(flattening, [0.5] * SEEDS, gains), MEASURES)
    row = within.set_index("measure").loc["a"]
    assert row.rho == pytest.approx(1.0) and row.ci_low > 0 and row.pairs == SEEDS
    assert row.level == pytest.approx(1 - 0.05 / 2)  # Bonferroni over the two judged measures


def test_pooled_correlations_are_rank_correlations():
    sharp = pd.DataFrame({"setting": "s", "seed": list(range(12)), "a": range(12),
                          "b": range(12), "c": range(12), "test_acc": range(12, 0, -1),
                          "gap": range(12)})
    corr = flatness.rank_correlations(sharp, MEASURES)
    assert corr.set_index(["measure", "target"]).loc[("a", "test_acc"), "rho"] == -1.0


N = 8  # seeds in the constructed C2 tables


def spread(center: float, width: float = 0.2) -> list[float]:
    return list(center + width * np.linspace(-1, 1, N))


def variant_table(collapse: float, accurate_collapse: float, no_decay_gain: float,
                  entropy_rise: float = 0.5, ratio_fall: float = 2.0,
                  noise: float = 0.2) -> pd.DataFrame:
    """Chains of two students per variant and seed: the KD-only chains' last generation is
    ``collapse`` (over the teacher) and ``accurate_collapse`` (over its first student) away, the
    first student without weight decay ``no_decay_gain`` above its teacher; the KD-only chain's
    test entropy rises and participation ratio falls by the given amounts."""
    rows = []
    gens = {regularization.WITH_LABELS: [0.0, 0.3, 0.3],
            regularization.KD_ONLY: [0.0, collapse / 2, collapse],
            regularization.KD_ACCURATE: [0.0, -1.0, -1.0 + accurate_collapse],
            regularization.NO_DECAY: [0.0, no_decay_gain, no_decay_gain]}
    for seed, wobble in enumerate(spread(0.0, noise)):
        for variant, deltas in gens.items():
            for g, d in enumerate(deltas):
                kd = variant == regularization.KD_ONLY
                rows.append({"setting": "s", "variant": variant, "seed": seed, "generation": g,
                             "test_acc": 80.0 + seed + d + (wobble if g else 0.0),
                             "test_entropy": 1.0 + (entropy_rise * (g - 1) + wobble / 10
                                                    if kd and g else 0.0),
                             "participation_ratio": 10.0 - (ratio_fall * (g - 1) + wobble / 10
                                                            if kd and g else 0.0)})
    return pd.DataFrame(rows)


def regularization_config() -> regularization.Config:
    return regularization.Config.from_params({"generations": 2, "datasets": ["synthetic"],
                                              "models": ["resnet8"],
                                              "equivalence_margin": 1.0})


def c2_amplified(table: pd.DataFrame) -> pd.DataFrame:
    config = regularization_config()
    tests = judge_family(regularization.predictions(config, table.assign(
        setting=config.setting_names()[0])))
    return tests


@pytest.mark.parametrize("collapse, accurate, gain, noise, verdict", [
    (-3.0, -2.0, 0.0, 0.2, "fails"),  # every prediction borne out, the null included
    (+3.0, -2.0, 0.0, 0.2, "holds"),  # pure self-distillation ends above its teacher
    (-3.0, -2.0, 2.0, 0.2, "holds"),  # a gain without weight decay contradicts the null
    (-3.0, -2.0, 0.6, 3.0, "inconclusive"),  # too noisy to bear out or contradict anything
])
def test_c2_amplified_regularization_rule(collapse, accurate, gain, noise, verdict):
    tests = c2_amplified(variant_table(collapse, accurate, gain, noise=noise))
    assert c2_verdict(tests) == verdict
    assert len(tests) == 5 and tests.seeds.min() == N


def test_c2_mechanism_predictions_can_be_contradicted():
    tests = c2_amplified(variant_table(-3.0, -2.0, 0.0, entropy_rise=-0.5, ratio_fall=-2.0))
    outcomes = tests.set_index("prediction").outcome
    assert outcomes["KD only: test entropy, last − first student"] == "contradicted"
    assert outcomes["KD only: participation ratio, last − first student"] == "contradicted"


def role_table(over_ensemble: list[float], same_minus_fresh: list[float],
               gain: float = 1.0, setting: str = "s") -> pd.DataFrame:
    rows = []
    for seed, (a, b) in enumerate(zip(over_ensemble, same_minus_fresh)):
        acc = {"teacher": 80.0, "partner": 80.5, "ensemble": 81.0 + gain - a,
               "student": 81.0 + gain - a + a, "ensemble student": 81.2,
               "same-init student": 81.0 + gain + b, "label-smoothing student": 80.5}
        acc["student"] = acc["ensemble"] + a
        acc["same-init student"] = acc["student"] + b
        rows += [{"setting": setting, "seed": seed, "role": role, "test_acc": v + seed}
                 for role, v in acc.items()]
    return pd.DataFrame(rows)


def manipulation(worked: bool, settings=("s",)) -> pd.DataFrame:
    return pd.DataFrame({"setting": list(settings),
                         "manipulation": ["worked" if worked else "undecided"] * len(settings)})


def c2_views(table: pd.DataFrame, worked: bool, contrast: list[str] | None = None):
    settings = list(dict.fromkeys(table.setting))
    config = multi_view.Config.from_params({
        "settings": [{"name": s} for s in settings], "ensemble_margin": 0.5,
        "views_contrast": contrast or []})
    return judge_family(multi_view.predictions(config, table, manipulation(worked, settings)))


@pytest.mark.parametrize("over_ensemble, same_minus_fresh, worked, verdict", [
    (spread(-0.5), spread(-0.5), True, "fails"),  # both predictions borne out
    (spread(1.5), spread(-0.5), True, "holds"),  # the student beats the ensemble
    (spread(-0.5), spread(1.0), True, "holds"),  # the same-init student gains more
    (spread(-0.5), spread(1.0), False, "fails"),  # M2 untested where the manipulation failed
    (spread(0.2, 3.0), spread(-0.5), True, "inconclusive"),
])
def test_c2_multi_view_rule(over_ensemble, same_minus_fresh, worked, verdict):
    tests = c2_views(role_table(over_ensemble, same_minus_fresh), worked)
    assert c2_verdict(tests) == verdict
    assert ("M2: same-init − fresh student" in set(tests.prediction)) == worked


def test_c2_views_contrast_compares_the_gains_of_two_settings():
    many = role_table(spread(-0.5), spread(-0.5), gain=2.0, setting="four")
    one = role_table(spread(-0.5), spread(-0.5), gain=0.0, setting="one")
    tests = c2_views(pd.concat([many, one]), True, ["four", "one"]).set_index("prediction")
    row = tests.loc["M3: gain on four − gain on one"]
    assert row.kind == "above" and row.outcome == "borne out"


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
