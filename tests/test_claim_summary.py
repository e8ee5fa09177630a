"""The summary atop each claim page is computed from the records: it follows their verdicts, their
freshness and their headlines (the built pages are checked in test_book.py)."""

from __future__ import annotations

import pytest

from sdcore.claims import CLAIMS, NOTEBOOKS, notebook
from sdcore.report.fingerprint import Freshness
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
