"""Predictions that can come out either way: each kind's outcomes on constructed differences,
Holm's correction over a family, and C2's verdict from the family."""

import numpy as np
import pandas as pd
import pytest

from sdcore.claims.predictions import Prediction, c2_verdict, decide, judge_family


def around(center: float, spread: float = 0.1, n: int = 8) -> tuple[float, ...]:
    return tuple(center + spread * np.linspace(-1, 1, n))


@pytest.mark.parametrize("kind, differences, outcome", [
    ("below", around(-2.0), "borne out"),
    ("below", around(2.0), "contradicted"),
    ("below", around(0.0, 3.0), "undecided"),
    ("above", around(2.0), "borne out"),
    ("above", around(-2.0), "contradicted"),
    ("null", around(0.0), "borne out"),  # equivalent to 0 within the margin
    ("null", around(2.0), "contradicted"),  # a gain: what the null rules out
    ("null", around(-2.0), "undecided"),  # a loss is not equivalence, nor the gain ruled out
    ("null", around(0.0, 3.0), "undecided"),
    ("at most", around(-0.5), "borne out"),
    ("at most", around(2.0), "contradicted"),
    ("at most", around(0.5, 3.0), "undecided"),
])
def test_each_kind_gives_each_of_its_outcomes(kind, differences, outcome):
    margin = 1.0 if kind in ("null", "at most") else 0.0
    tests = judge_family([Prediction("p", kind, differences, margin)])
    assert tests.outcome.iloc[0] == outcome


def test_a_page_whose_every_prediction_is_borne_out_fails():
    family = [Prediction("collapse", "below", around(-3.0)),
              Prediction("no gain without decay", "null", around(0.0), 1.0)]
    tests = judge_family(family)
    assert list(tests.outcome) == ["borne out", "borne out"]
    assert c2_verdict(tests) == "fails"


def test_one_contradicted_prediction_makes_c2_hold():
    family = [Prediction("collapse", "below", around(-3.0)),
              Prediction("no gain without decay", "null", around(2.0), 1.0)]
    assert c2_verdict(judge_family(family)) == "holds"


def test_holm_keeps_a_borderline_prediction_undecided_in_a_larger_family():
    borderline = (-2.684, -2.123, -1.561, -1.0, -0.888, -0.439, 0.123, 0.572)  # p ≈ 0.018
    alone = judge_family([Prediction("x", "below", borderline)])
    assert alone.outcome.iloc[0] == "borne out"  # under 2.5% (Holm's first step of 2 p-values)
    crowd = judge_family([Prediction("x", "below", borderline)] + [
        Prediction(f"other {i}", "below", around(0.0, 3.0)) for i in range(3)])
    assert crowd.set_index("prediction").outcome["x"] == "undecided"  # 8 p-values: 0.6%
    assert c2_verdict(crowd) == "inconclusive"


def test_a_null_without_a_margin_is_refused():
    with pytest.raises(ValueError, match="needs a margin"):
        Prediction("p", "null", (0.0, 0.1))
    with pytest.raises(ValueError, match="unknown kind"):
        Prediction("p", "sideways", (0.0, 0.1))


BLOCKS = ("discovery",) * 4 + ("replication",) * 4


def test_a_decisive_outcome_that_flips_sign_between_blocks_is_not_decisive():
    flips = (4.8, 4.9, 5.0, 5.1, -0.25, -0.2, -0.15, -0.1)  # pooled p ≈ 0.02, blocks disagree
    alone = judge_family([Prediction("x", "above", flips)])
    assert alone.outcome.iloc[0] == "borne out"  # without blocks the pooled test decides
    blocked = judge_family([Prediction("x", "above", flips, blocks=BLOCKS)]).iloc[0]
    assert blocked.outcome == "undecided" and not blocked.blocks_bear_out
    assert blocked.discovery_mean > 0 > blocked.replication_mean
    agree = judge_family([Prediction("x", "above", around(2.0), blocks=BLOCKS)])
    assert agree.outcome.iloc[0] == "borne out"


def test_an_untestable_prediction_is_left_out_of_the_family():
    borderline = (-2.684, -2.123, -1.561, -1.0, -0.888, -0.439, 0.123, 0.572)
    family = [Prediction("x", "below", borderline),
              Prediction("y", "below", around(0.0, 3.0), untestable="its check failed")]
    tests = judge_family(family).set_index("prediction")
    assert tests.outcome["y"] == "untestable" and tests.outcome["x"] == "borne out"


def test_two_pages_decided_as_one_family_are_corrected_together():
    """A prediction that each page alone would decide is undecided when both pages' predictions
    share one Holm correction (the dashboard's C2)."""
    near = (-2.684, -2.123, -1.561, -1.0, -0.888, -0.439, 0.123, 0.572)  # p ≈ 0.018
    page_a = judge_family([Prediction("a", "below", near)])
    page_b = judge_family([Prediction("b", "below", near)])
    assert page_a.outcome.iloc[0] == page_b.outcome.iloc[0] == "borne out"
    both = decide(pd.concat([page_a, page_b], ignore_index=True))
    assert set(both.outcome) == {"undecided"}


def test_the_dashboards_c2_and_c3_decide_both_pages_tests_as_one_family():
    from sdcore.claims.combined import claim_verdict
    near = (-2.684, -2.123, -1.561, -1.0, -0.888, -0.439, 0.123, 0.572)  # p ≈ 0.018
    pages = [{"notebook": n, "verdict": "fails", "numbers": {"tests": judge_family(
        [Prediction(n, "below", near)]).to_dict(orient="records")}} for n in ("a", "b")]
    assert claim_verdict("C2", pages)[0] == "inconclusive"  # each page alone: fails
    flatter = {"p": 0.03, "change": -1.0, "flatter_sign": -1, "setting": "s"}
    c3 = [{"notebook": n, "verdict": "holds", "numbers": {"tests": [dict(flatter, measure=n)]}}
          for n in ("a", "b")]
    assert claim_verdict("C3", c3)[0] == "inconclusive"  # 0.03 passes alone, not as one of two
    old = [{"notebook": n, "verdict": v, "numbers": {}} for n, v in (("a", "holds"),
                                                                      ("b", "fails"))]
    assert claim_verdict("C3", old)[0] == "mixed"  # records without the tests: combined as before
