"""The summary atop each claim page is computed from the records: it follows their verdicts, their
freshness and their headlines; so do the dashboard's grid and each page's time to run (the built
pages are checked in test_book.py and test_browser.py)."""

from __future__ import annotations

import json

import pytest
from conftest import ROOT

from sdcore.claims import CLAIMS, NOTEBOOKS, notebook, notebooks_of
from sdcore.engine.stats import VERDICTS
from sdcore.project.fingerprint import Freshness
from sdcore.project.records import read_records
from sdcore.sphinxext import dashboard
from sdcore.sphinxext.claim_summary import claim_summary

NAME = next(nb.name for nb in NOTEBOOKS if len(nb.claims) == 2)  # e.g. C3 and C4


def record(claim: str, profile: str, verdict: str, headline: str) -> dict:
    return {"claim": claim, "notebook": NAME, "profile": profile, "verdict": verdict,
            "numbers": {"headline": headline}, "provenance": {"started": "2026-05-01T10:00:00"}}


@pytest.fixture
def records() -> list[dict]:
    main, second = notebook(NAME).claims
    return [record(main, "cpu", "inconclusive", "trace flatter, λ_max unresolved"),
            record(second, "cpu", "fails", "ρ −0.26"),
            record(main, "gpu", "holds", "both flatter"),
            record(second, "gpu", "holds", "ρ −0.83"),
            record(main, "cpu", "holds", "an older run") | {"provenance": {"started": "2025"}}]


def fresh(profile: str, name: str) -> Freshness:
    return Freshness("fresh")


def summary_text(records: list[dict], freshness=fresh) -> str:
    return claim_summary(records, NAME, freshness).astext()


def test_the_summary_names_each_claim_its_profiles_verdicts_and_headlines(records):
    text = summary_text(records)
    assert all(CLAIMS[claim] in text for claim in notebook(NAME).claims)
    assert "inconclusive at cpu" in text and "fails at cpu" in text and "holds at gpu" in text
    assert all(h in text for h in ("trace flatter, λ_max unresolved", "ρ −0.26", "ρ −0.83"))
    assert "an older run" not in text  # the latest record of each profile only
    assert "current, run 2026-05-01" in text and "(stale)" not in text and "Stale:" not in text


def test_the_summary_changes_when_a_records_verdict_does(records):
    before = summary_text(records)
    records[1]["verdict"] = "holds"
    after = summary_text(records)
    assert after != before
    assert "fails" not in after and "holds at cpu, gpu" in after


def test_a_stale_record_is_marked_with_its_reason(records):
    def stale_at_gpu(profile: str, name: str) -> Freshness:
        return Freshness("stale", ["parameters changed"]) if profile == "gpu" else fresh(
            profile, name)

    text = summary_text(records, stale_at_gpu)
    assert "holds at gpu (stale)" in text and "Stale: parameters changed." in text
    assert "current, run" in text  # cpu's records are still current


def test_a_profile_where_the_notebook_has_not_run_says_so(records):
    other = records + [record("C1", "smoke", "holds", "") | {"notebook": "another"}]
    assert "not run at smoke" in summary_text(other)
    assert "not run at any profile yet" in summary_text([])


def _grid_cell_text(records: list[dict], claim: str, profile: str, freshness=fresh
                    ) -> tuple[str, dict[str, list[str]]]:
    stale: dict[str, list[str]] = {}
    return dashboard._grid_cell(records, claim, profile, freshness, stale).astext(), stale


def test_the_dashboards_cell_is_one_verdict_over_one_line():
    records = [r for r in read_records(ROOT) if r["profile"] == "cpu"]
    for claim in CLAIMS:
        text, stale = _grid_cell_text(records, claim, "cpu")
        verdict, summary = text.split("\n\n")
        assert verdict.split()[0] in (*VERDICTS, "not") and stale == {}
        assert len(summary) < 120, summary  # the whole headlines are on the claim pages
        if len(notebooks_of(claim)) > 1:
            assert all(f"{nb.name.split('_')[0]} " in summary for nb in notebooks_of(claim))
        else:
            assert summary.startswith("judged effects: ")


def test_the_dashboard_marks_a_stale_verdict_with_its_reasons(records):
    def stale(profile: str, name: str) -> Freshness:
        return Freshness("stale", ["parameters changed", "code changed"])

    text, reasons = _grid_cell_text(records, notebook(NAME).claims[0], "cpu", stale)
    assert text.startswith("inconclusive (stale)")
    assert reasons == {"cpu": ["parameters changed", "code changed"]}
    assert _grid_cell_text(records, "C1", "cpu")[0] == "not run"


def test_time_to_run_separates_the_training_from_the_notebook(tmp_path):
    run = {"training": {"seconds": {NAME: 1230.0}}, "ran": {NAME: 80.0}, "wall_s": 2000.0}
    (tmp_path / "results" / "cpu").mkdir(parents=True)
    (tmp_path / "results" / "cpu" / "reproduce.json").write_text(json.dumps(run))
    main = notebook(NAME).claims[0]
    timed = record(main, "cpu", "holds", "") | {"provenance": {
        "started": "2026", "wall_s": 75.0, "phases": {"models_s": 3.0, "analysis_s": 70.0}}}
    other = record(main, "gpu", "holds", "") | {"provenance": {"started": "2026", "wall_s": 30.0}}
    text = dashboard.run_times([timed, other], tmp_path, NAME, main)
    assert text == ("Time to run at the cpu profile: training its models 20.5 min (summed over "
                    "them) · the notebook 1.2 min (obtaining its models 3 s, the analysis "
                    "1.2 min). Time to run at the gpu profile: the notebook 30 s.")
    run["training"]["seconds"] = {}
    (tmp_path / "results" / "cpu" / "reproduce.json").write_text(json.dumps(run))
    assert "no training of its own" in dashboard.run_times([timed], tmp_path, NAME, main)
