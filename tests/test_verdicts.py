"""The verdict rules of every claim, on hand-built tables whose answer is known."""

import numpy as np
import pandas as pd
import pytest

from sdcore.claims import amplified_regularization as regularization
from sdcore.claims import flatness
from sdcore.claims import multi_view
from sdcore.claims.predictions import c2_verdict, judge_family
from sdcore.engine.stats import mean_ci, three_way


MEASURES = [flatness.Measure("a", "measure a"), flatness.Measure("b", "measure b", flatter=1),
            flatness.Measure("c", "reported c", judged=False)]
SEEDS = 8


def role_rows(change_a: list[float], change_b: list[float], gains: list[float],
              role: str = "student 1") -> list[dict]:
    """A role's models per seed, against teachers at a = 10 + seed (lower flatter), b = 1 + seed/10
    (higher flatter) and test accuracy 80 + seed: its changes and gains are given."""
    return [{"setting": "s", "seed": seed, "role": role, "a": 10.0 + seed + da,
             "b": 1.0 + 0.1 * seed + db, "c": 5.0, "test_acc": 80.0 + seed + g, "gap": 1.0}
            for seed, (da, db, g) in enumerate(zip(change_a, change_b, gains))]


def roles_table(*roles: list[dict]) -> pd.DataFrame:
    teachers = [{"setting": "s", "seed": seed, "role": "teacher", "a": 10.0 + seed,
                 "b": 1.0 + 0.1 * seed, "c": 0.0, "test_acc": 80.0 + seed, "gap": 1.0}
                for seed in range(SEEDS)]
    return pd.DataFrame(teachers + [row for rows in roles for row in rows])


def analysis_of(*roles: list[dict]) -> flatness.FlatnessAnalysis:
    return flatness.FlatnessAnalysis.of(roles_table(*roles), MEASURES, 0.5, ("C3", "C4"))


def up(center: float, step: float = 0.01) -> list[float]:
    return [center + step * i for i in range(SEEDS)]


@pytest.mark.parametrize("change_a, change_b, verdict", [
    (up(-2.0, -0.1), up(0.5), "holds"),
    (up(2.0, 0.1), up(-0.5, -0.01), "fails"),
    (up(-2.0, -0.1), up(-0.5, -0.01), "mixed"),
    ([(-1.0) ** i for i in range(SEEDS)], up(0.5), "inconclusive"),  # a says nothing
])
def test_c3_reads_every_judged_measure_with_holms_correction(change_a, change_b, verdict):
    analysis = analysis_of(role_rows(change_a, change_b, [0.5] * SEEDS))
    assert analysis.verdicts["C3"] == verdict
    assert set(analysis.tests.measure) == {"a", "b"}  # the reported measure is not judged
    if verdict == "mixed":
        assert analysis.reading == "flatter: measure a (s); sharper: measure b (s)"


def test_c3_reads_the_distilled_student_only():
    """A flatter label-smoothing student does not make C3 hold for distillation."""
    analysis = analysis_of(role_rows([(-1.0) ** i for i in range(SEEDS)], up(0.0, 0.0),
                                     [0.5] * SEEDS),
                           role_rows(up(-2.0), up(0.5), [0.5] * SEEDS, "label-smoothing student"))
    assert analysis.verdicts["C3"] == "inconclusive" and set(analysis.tests.role) == {"student 1"}


def test_holm_leaves_unresolved_two_tests_that_would_each_pass_alone():
    # each p-value is about 0.037: under 5% alone, but Holm asks 2.5% of the smaller of two
    change = [-2.684, -2.123, -1.561, -1.0, -0.888, -0.439, 0.123, 0.572]
    analysis = analysis_of(role_rows(change, [-c / 10 for c in change], [0.5] * SEEDS))
    tests = analysis.tests.set_index("measure")
    assert (0.025 < tests.p).all() and (tests.p < 0.05).all()
    assert list(tests.decision) == ["unresolved", "unresolved"]
    assert analysis.verdicts["C3"] == "inconclusive"


GAINS = up(0.6, 0.05)  # a gain whose interval lies above 0
NONE = [(-1.0) ** i * 0.05 for i in range(SEEDS)]  # no gain, equivalent to 0 within 0.5


@pytest.mark.parametrize("roles, verdict", [
    # the student and the label-smoothing student gain, and both are flatter on a and b
    ([role_rows(up(-2.0), up(0.5), GAINS),
      role_rows(up(-1.5), up(0.4), GAINS, "label-smoothing student")], "holds"),
    # the label-smoothing student gains as much without being flatter: undecided, not holds
    ([role_rows(up(-2.0), up(0.5), GAINS),
      role_rows([(-1.0) ** i for i in range(SEEDS)], [(-1.0) ** i * 0.1 for i in range(SEEDS)],
                GAINS, "label-smoothing student")], "inconclusive"),
    # ... or sharper: a gaining role that is sharper contradicts it
    ([role_rows(up(-2.0), up(0.5), GAINS),
      role_rows(up(2.0), up(-0.5, -0.01), GAINS, "label-smoothing student")], "fails"),
    # a long teacher flatter on every measure that does not gain contradicts it
    ([role_rows(up(-2.0), up(0.5), GAINS),
      role_rows(up(-2.0), up(0.5), NONE, "long teacher")], "fails"),
    # the student does not gain: C4 cannot hold on these models
    ([role_rows(up(-2.0), up(0.5), [(-1.0) ** i for i in range(SEEDS)])], "inconclusive"),
])
def test_c4_by_contrast_gives_each_outcome(roles, verdict):
    analysis = analysis_of(*roles)
    assert analysis.verdicts["C4"] == verdict
    assert set(analysis.components.measure) == {"a", "b"}


def test_the_sam_arm_reports_accuracy_and_flattening_against_the_plain_teacher():
    sam = role_rows(up(-1.0), up(0.2), up(0.3), "SAM teacher")
    student = [dict(r, role="student of SAM", test_acc=r["test_acc"] + 0.1) for r in sam]
    arm = analysis_of(role_rows(up(-2.0), up(0.5), GAINS), sam, student).sam.set_index(
        ["comparison", "quantity"])
    assert arm.difference[("SAM teacher − teacher", "test accuracy (pp)")] == pytest.approx(
        np.mean(up(0.3)))
    assert arm.difference[("SAM teacher − teacher", "measure a, flatter +")] > 0
    assert arm.difference[("student of SAM − SAM teacher", "test accuracy (pp)")] == (
        pytest.approx(0.1))


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
                  entropy_rise: float = 0.5, ratio_fall: float = 2.0, norm_fall: float = 1.0,
                  noise: float = 0.2, students_fit: float = 100.0,
                  accurate_first: float = -1.0) -> pd.DataFrame:
    """Chains of two students per variant and seed: the KD-only chains' last generation is
    ``collapse`` (over the teacher) and ``accurate_collapse`` (over its first student) away, the
    first student without weight decay ``no_decay_gain`` above its teacher (the one with weight
    decay 0.3 above); the KD-only chain's test entropy rises and centred logit norm and
    participation ratio fall by the given amounts; every model fits ``students_fit`` % of its
    training images; the accurate chain's first student is ``accurate_first`` off the teacher."""
    rows = []
    gens = {regularization.WITH_LABELS: [0.0, 0.3, 0.3],
            regularization.KD_ONLY: [0.0, collapse / 2, collapse],
            regularization.KD_ACCURATE: [0.0, accurate_first, accurate_first + accurate_collapse],
            regularization.NO_DECAY: [0.0, no_decay_gain, no_decay_gain]}
    for seed, wobble in enumerate(spread(0.0, noise)):
        for variant, deltas in gens.items():
            for g, d in enumerate(deltas):
                kd = variant == regularization.KD_ONLY
                own = -wobble / 4 if variant == regularization.NO_DECAY else wobble
                rows.append({"setting": "s", "variant": variant, "seed": seed, "generation": g,
                             "test_acc": 80.0 + seed + d + (own if g else 0.0),
                             "train_acc": students_fit,
                             "test_entropy": 1.0 + (entropy_rise * (g - 1) + wobble / 10
                                                    if kd and g else 0.0),
                             "centred_logit_norm": 5.0 - (norm_fall * (g - 1) + wobble / 10
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
    table = table.assign(setting=config.setting_names()[0])
    return judge_family(regularization.predictions(config, table,
                                                   regularization.checks(config, table)))


@pytest.mark.parametrize("collapse, accurate, gain, noise, verdict", [
    (-3.0, -2.0, 0.0, 0.2, "fails"),  # every prediction borne out, the null included
    (+3.0, -2.0, 0.0, 0.2, "holds"),  # pure self-distillation ends above its teacher
    (-3.0, -2.0, 2.0, 0.2, "holds"),  # a gain without weight decay contradicts the null
    (-3.0, -2.0, 0.6, 3.0, "inconclusive"),  # too noisy to bear out or contradict anything
])
def test_c2_amplified_regularization_rule(collapse, accurate, gain, noise, verdict):
    tests = c2_amplified(variant_table(collapse, accurate, gain, noise=noise))
    assert c2_verdict(tests) == verdict
    assert len(tests) == 7 and tests.seeds.min() == N


@pytest.mark.parametrize("gain, noise, outcome", [
    (0.0, 0.2, "borne out"),  # weight decay's gain 0.3 above none's: the theory's interaction
    (2.0, 0.2, "contradicted"),  # more gain without weight decay than with it
    (0.3, 3.0, "undecided"),
])
def test_the_interaction_of_weight_decay_and_the_gain_gives_each_outcome(gain, noise, outcome):
    tests = c2_amplified(variant_table(-3.0, -2.0, gain, noise=noise)).set_index("prediction")
    assert tests.outcome["gain with weight decay − gain without"] == outcome


def test_p3_and_the_accurate_teacher_are_untestable_where_their_checks_fail():
    tests = c2_amplified(variant_table(-3.0, -2.0, 0.0, students_fit=80.0,
                                       accurate_first=-3.0)).set_index("prediction")
    assert tests.outcome["gain with weight decay − gain without"] == "untestable"
    assert tests.outcome["no weight decay: first student − teacher"] == "untestable"
    assert "fit 80.0% of their training images" in tests.untestable[
        "no weight decay: first student − teacher"]
    accurate = "KD only, accurate teacher: last generation − first student"
    assert tests.outcome[accurate] == "untestable" and "control failed" in tests.untestable[
        accurate]
    assert c2_verdict(tests.reset_index()) == "fails"  # the testable ones are all borne out


def test_c2_mechanism_predictions_can_be_contradicted():
    tests = c2_amplified(variant_table(-3.0, -2.0, 0.0, entropy_rise=-0.5, ratio_fall=-2.0))
    outcomes = tests.set_index("prediction").outcome
    assert outcomes["KD only: test entropy, last − first student"] == "contradicted"
    assert outcomes["KD only: participation ratio, last − first student"] == "contradicted"
    grows = c2_amplified(variant_table(-3.0, -2.0, 0.0, norm_fall=-1.0))
    assert grows.set_index("prediction").outcome[
        "KD only: centred logit norm, last − first student"] == "contradicted"


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
    return judge_family(multi_view.predictions(config, table, manipulation(worked, settings),
                                               multi_view.views_checks(config, table)))


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
    assert "M3: student's share of the ensemble's gain, four − one" in tests.index


def test_m3_is_untestable_where_the_ensemble_gains_more_on_one_view():
    """The generator did not remove the multi-view benefit as the networks see it: the explicit
    ensemble gains more on one view than on four, so M3 cannot be read, either way."""
    many = role_table(spread(-0.5), spread(-0.5), gain=0.0, setting="four")
    one = role_table(spread(-0.5), spread(-0.5), gain=2.0, setting="one")
    tests = c2_views(pd.concat([many, one]), True, ["four", "one"]).set_index("prediction")
    m3 = tests.loc["M3: gain on four − gain on one"]
    assert m3.outcome == "untestable"
    assert "the ensemble does not gain more on four than on one" in m3.untestable
    unmatched = role_table(spread(-0.5), spread(-0.5), gain=2.0, setting="one").assign(
        test_acc=lambda t: t.test_acc - 3.0 * (t.role == "teacher"))
    tests = c2_views(pd.concat([role_table(spread(-0.5), spread(-0.5), gain=2.0,
                                           setting="four"), unmatched]), True, ["four", "one"])
    assert "the teachers are not matched" in tests.set_index("prediction").untestable[
        "M3: gain on four − gain on one"]


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


def test_the_many_model_study_names_what_tracks_the_gap_beyond_the_training_loss():
    """A measure that follows the gap apart from the training loss tracks it; one that follows
    only the training loss, or nothing, does not; the sentence gives each tracker's τ."""
    from sdcore.claims.loss_landscape import many_models_sentence, many_models_table
    from sdcore.engine.stats import rank_bootstrap

    rng = np.random.default_rng(0)
    n = 40
    loss, own = rng.normal(size=n), rng.normal(size=n)
    gap = loss + own
    models = pd.DataFrame({"gap": gap, "train_loss": loss, "family": np.arange(n) // 4,
                           "sharp": own + 0.1 * rng.normal(size=n),
                           "loss_copy": loss + 0.01 * rng.normal(size=n),
                           "noise": rng.normal(size=n)})
    taus = []
    for column in ("sharp", "loss_copy", "noise"):
        tau, low, high = rank_bootstrap(models[column], models.gap, models.family,
                                        method="kendall")
        taus.append({"measure": column, "label": column, "models": n, "tau": tau,
                     "ci_low": low, "ci_high": high})
    table = many_models_table({"models": models.to_dict(orient="records"), "taus": taus})
    assert table.tracks.to_dict() == {"sharp": True, "loss_copy": False, "noise": False}
    sentence = many_models_sentence(table)
    assert "1 of 3 measures" in sentence and "sharp (τ +" in sentence and "partial τ +" in sentence

