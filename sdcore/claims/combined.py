"""One verdict per claim at a profile, from the records of every notebook that judges it.

C2 and C3 are each judged by two pages; a verdict over both must correct for every test that
could decide it, so their tests are decided again as one family: C2's predictions
(``predictions.decide``: Holm over the testable predictions of both pages, each decisive outcome
replicated in both blocks), C3's judged measures, all invariant to rescaling the weights
(``flatness.decide``: Holm over every (measure, setting) test of the distilled student on both
pages). Any other claim judged by several notebooks combines their verdicts (``combine``). Cost:
trivial.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from . import flatness
from .predictions import c2_verdict, decide

COMBINED_RULE = ("holds if some notebook's verdict is holds and none is fails or mixed; fails if "
                 "some is fails and none holds or is mixed; mixed if both occur, or some "
                 "notebook's own measures disagree (mixed); inconclusive otherwise")
FAMILY_RULE = ("C2 re-decides the predictions of all its notebooks as one family: Holm's "
               "correction over every testable prediction of both pages at a family-wise 5%, "
               "each decisive outcome replicated in both blocks of seeds; holds if some "
               "prediction is contradicted, fails if every testable one is borne out, "
               "inconclusive otherwise")
C3_FAMILY_RULE = ("C3 re-decides the judged tests of all its notebooks, every one a measure that "
                  "rescaling the weights cannot change, as one family: Holm's correction over "
                  "every (measure, setting) test of the distilled student at a family-wise 5%; "
                  "holds if every test says flatter, fails if some says sharper and none "
                  "flatter, mixed if some say each, inconclusive otherwise")
C3_FIELDS = {"p", "change", "flatter_sign", "measure", "setting"}
FAMILY_FIELDS = {"p_borne_out", "p_contradicted", "blocks_bear_out", "blocks_contradict",
                 "untestable"}  # what a record's tests need to be decided again


def combine(verdicts: list[str]) -> str:
    """One verdict from several notebooks' verdicts, by COMBINED_RULE."""
    holds, fails = "holds" in verdicts, "fails" in verdicts
    if (holds and fails) or "mixed" in verdicts:
        return "mixed"
    return "holds" if holds else "fails" if fails else "inconclusive"


def family(records: list[dict[str, Any]]) -> pd.DataFrame | None:
    """Every prediction of ``records`` decided as one family, or None if some record's tests
    lack what that needs (made by older code)."""
    rows = [dict(row, notebook=r["notebook"]) for r in records
            for row in r["numbers"].get("tests", [])]
    if not rows or not all(FAMILY_FIELDS <= set(row) for row in rows):
        return None
    frame = pd.DataFrame(rows)
    frame["untestable"] = frame.untestable.fillna("")
    return decide(frame)


def claim_verdict(claim: str, records: list[dict[str, Any]]) -> tuple[str, str]:
    """The claim's verdict from its notebooks' latest ``records`` at one profile, and the rule
    that made it."""
    if claim == "C2" and len(records) > 1:
        tests = family(records)
        if tests is not None:
            return c2_verdict(tests), FAMILY_RULE
    if claim == "C3" and len(records) > 1:
        rows = [row for r in records for row in r["numbers"].get("tests", [])]
        if rows and all(C3_FIELDS <= set(row) for row in rows):
            return flatness.c3_verdict(flatness.decide(pd.DataFrame(rows))), C3_FAMILY_RULE
    return combine([r["verdict"] for r in records]), COMBINED_RULE
