"""sdcore.report.effects: the judged effects of every committed record and of hand-made minimal
ones, their outcomes and colour classes as the records decided them (or, for records that state
only intervals, as the interval lies against 0); and the forest plots that draw them."""

from __future__ import annotations

import math

import matplotlib.pyplot as plt
import pandas as pd
import pytest
from conftest import ROOT

from sdcore.claims.roles import STUDENT, TEACHER
from sdcore.project.records import profiles_of, read_records
from sdcore.report import interactive
from sdcore.report.effects import (
    AGAINST,
    COLUMNS,
    FAVOURS,
    FLATTENING,
    OUTSIDE,
    OWN,
    PP,
    RECORD_COLUMNS,
    SIDES,
    UNDECIDED,
    judged_effects,
    latest_effects,
    record_effects,
    tally,
)
from sdcore.report.figures import common

RECORDS = read_records(ROOT)


@pytest.mark.parametrize("record", RECORDS, ids=lambda r: f"{r['profile']}/{r['notebook']}/"
                                                         f"{r['claim']}")
def test_every_committed_record_gives_its_judged_effects(record):
    effects = record_effects(record)
    assert list(effects.columns) == RECORD_COLUMNS and len(effects) >= 1
    assert set(effects.side) <= set(SIDES)
    assert (effects.claim == record["claim"]).all() and (effects.profile == record["profile"]).all()
    drawn = effects.dropna(subset=["ci_low", "ci_high"])
    assert (drawn.ci_low <= drawn.estimate + 1e-9).all() and (
        drawn.estimate <= drawn.ci_high + 1e-9).all()


def test_the_latest_effects_of_a_profile_cover_each_claim_that_ran_there():
    for profile in profiles_of(RECORDS):
        effects = latest_effects(RECORDS, profile)
        ran = {r["claim"] for r in RECORDS if r["profile"] == profile}
        assert set(effects.claim) == ran
    assert latest_effects(RECORDS, "nowhere").empty


def test_c1_reads_each_settings_decision():
    numbers = {"settings": [
        {"setting": "a", "gain": 0.5, "ci_low": 0.2, "ci_high": 0.8, "decided": "above 0"},
        {"setting": "b", "gain": -0.5, "ci_low": -0.8, "ci_high": -0.2, "decided": "below 0"},
        {"setting": "c", "gain": 0.5, "ci_low": 0.2, "ci_high": 0.8, "decided": "undecided"},
        {"setting": "d", "gain": 0.1, "ci_low": None, "ci_high": None,
         "decided": "out of scope"}]}
    effects = judged_effects("C1", "01_x", numbers)
    assert list(effects.columns) == COLUMNS and (effects.unit == PP).all()
    assert list(effects.side) == [FAVOURS, AGAINST, UNDECIDED, OUTSIDE]
    assert list(effects.outcome) == ["student better", "student worse", "undecided",
                                     "out of scope"]
    assert math.isnan(effects.ci_low.iloc[3]) and (effects.threshold == 0).all()
    assert tally(effects) == ("student better 1 · student worse 1 · undecided 1 · "
                              "out of scope 1")


@pytest.mark.parametrize("low, high, outcome, side", [
    (0.1, 0.9, "student better", FAVOURS), (-0.9, -0.1, "student worse", AGAINST),
    (-0.1, 0.9, "undecided", UNDECIDED)])
def test_an_interval_that_excludes_the_threshold_decides_a_record_that_states_only_intervals(
        low, high, outcome, side):
    gains = [{"dataset": "d", "model": "m", "generation": 1, "gain": (low + high) / 2,
              "ci_low": low, "ci_high": high}]
    effects = judged_effects("C1", "01_x", {"gains": gains})
    assert (effects.outcome.iloc[0], effects.side.iloc[0]) == (outcome, side)
    correlations = [{"measure": "sharpness", "target": "test_acc", "models": 10, "rho": -0.8,
                     "ci_low": -high, "ci_high": -low}]
    c4 = judged_effects("C4", "04_x", {"correlations": correlations})
    assert c4.side.iloc[0] == side  # the interval mirrored: a negative ρ favours C4


def _prediction(name: str, kind: str, outcome: str, margin: float | None = None) -> dict:
    return {"setting": "s", "prediction": name, "kind": kind, "margin": margin, "mean": 0.3,
            "ci_low": -0.1, "ci_high": 0.7, "outcome": outcome, "untestable": ""}


def test_c2_a_contradicted_prediction_favours_the_claim_and_keeps_its_margin_and_unit():
    tests = [_prediction("M1: student − ensemble", "at most", "contradicted", 1.0),
             _prediction("P: first student − teacher", "null", "borne out", 0.5),
             _prediction("KD only: test entropy, last − first student", "above", "undecided"),
             _prediction("M3: gain on a − gain on b", "above", "untestable")]
    effects = judged_effects("C2", "02a_x", {"tests": tests})
    assert list(effects.side) == [FAVOURS, AGAINST, UNDECIDED, OUTSIDE]
    assert list(effects.margin.fillna(0)) == [1.0, 0.5, 0, 0]
    assert list(effects.kind) == ["at most", "null", "above", "above"]
    assert list(effects.unit) == [PP, PP, OWN, PP]


def test_c3_is_drawn_as_a_flattening_relative_to_the_teacher():
    tests = [{"setting": "s", "role": STUDENT, "measure": "sharpness", "change": -2.0,
              "ci_low": -3.0, "ci_high": -1.0, "flatter_sign": -1, "baseline": 10.0,
              "decision": "flatter"},
             {"setting": "s", "role": STUDENT, "measure": "sigma", "change": -0.5,
              "ci_low": -1.0, "ci_high": 0.2, "flatter_sign": 1, "baseline": 5.0,
              "decision": "unresolved"}]
    effects = judged_effects("C3", "03_x", {"tests": tests})
    assert (effects.unit == FLATTENING).all()
    assert effects.iloc[0][["estimate", "ci_low", "ci_high"]].tolist() == [20.0, 10.0, 30.0]
    assert effects.iloc[1][["estimate", "ci_low", "ci_high"]].tolist() == [-10.0, -20.0, 4.0]
    assert list(effects.side) == [FAVOURS, UNDECIDED]
    assert effects.effect.iloc[0] == f"sharpness: {STUDENT} − {TEACHER}"


def _component(role: str, measure: str, p_flatter: float, reading: str, gain_high: float,
               equivalence: str = "undecided") -> dict:
    return {"setting": "s", "role": role, "measure": measure, "flattening": 0.1,
            "flat_low": 0.05, "flat_high": 0.15, "p_flatter": p_flatter, "reading": reading,
            "gain_high": gain_high, "gain_equivalence": equivalence}


def test_c4_a_role_flatter_everywhere_without_gaining_counts_against_the_claim():
    contrast = [_component(STUDENT, "a", 0.01, "flatter", 1.0),
                _component(STUDENT, "b", 0.30, "undecided", 1.0),
                _component("long teacher", "a", 0.01, "flatter", 0.4, "equivalent"),
                _component("long teacher", "b", 0.02, "flatter", 0.4, "equivalent")]
    changes = [{"setting": "s", "role": c["role"], "measure": c["measure"], "baseline": 0.5}
               for c in contrast]
    gains = [{"setting": "s", "role": STUDENT, "gain": 0.5, "ci_low": 0.1, "ci_high": 1.0,
              "equivalence": "different"},
             {"setting": "s", "role": "long teacher", "gain": 0.0, "ci_low": -0.4,
              "ci_high": 0.4, "equivalence": "equivalent"}]
    effects = judged_effects("C4", "04_x", {"contrast": contrast, "changes": changes,
                                            "gains": gains})
    assert list(effects.outcome) == ["flatter", "undecided", "flatter, no gain",
                                     "flatter, no gain", "gains"]
    assert list(effects.side) == [FAVOURS, UNDECIDED, AGAINST, AGAINST, FAVOURS]
    assert effects.estimate.iloc[0] == pytest.approx(20.0)  # 0.1 of a teachers' mean of 0.5
    assert list(effects.unit) == [FLATTENING] * 4 + [PP]


def test_a_claim_without_a_reader_or_numbers_has_no_effects():
    assert judged_effects("C9", "09_x", {"tests": []}).empty
    assert judged_effects("C2", "02a_x", {}).empty


def test_the_forest_plots_draw_every_effect_in_one_panel_per_unit():
    effects = pd.concat([latest_effects(RECORDS, p) for p in profiles_of(RECORDS)])
    panels = common.ForestPanel.of(effects)
    assert {p.unit for p in panels} == set(effects.unit)
    assert sum(len(p.effects) for p in panels) == len(effects)
    assert all(p.labels[h].split(" · ")[0] in profiles_of(RECORDS) for p in panels
               for h in p.headers)  # several profiles: each group named by its profile
    figure = common.forest(effects)
    assert len(figure.axes) == len(panels)
    plt.close(figure)
    shown = interactive.forest(latest_effects(RECORDS, profiles_of(RECORDS)[0]))
    html = shown.html()
    assert 'class="plotly-graph-div"' in html and "figure-print" in html
    assert "<script src" not in html  # the book serves plotly.js itself
    empty = interactive.forest(latest_effects(RECORDS, "nowhere"))
    assert not isinstance(empty, interactive.ScreenAndPrint)
    plt.close(empty)
