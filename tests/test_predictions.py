"""Predictions that can come out either way: each kind's outcomes on constructed differences,
Holm's correction over a family, and C2's verdict from the family."""

import numpy as np
import pytest

from sdcore.claims.predictions import Prediction, c2_verdict, judge_family


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
