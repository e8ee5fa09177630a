"""Sphinx extension: the ``claims-dashboard`` table of every claim's verdict, and the
``verdict-badge`` that opens each claim page.

Both read the results records (``results/<profile>/*.json``) at build time, so the book always shows
the verdicts of the notebooks as last run; a claim with no record says so.
"""

from __future__ import annotations

from pathlib import Path

from docutils import nodes
from docutils.parsers.rst import Directive
from sphinx import addnodes
from sphinx.application import Sphinx

from . import doctable
from .doctable import cell
from .paths import project_root
from .results import latest_record, read_records

CLAIMS = {  # id: (statement, notebooks that test it)
    "C1": ("A self-distilled student beats its own, even highly accurate, teacher.",
           ["01_student_beats_teacher"]),
    "C2": ("The best-known theories of why (amplified regularization; multi-view) meet "
           "contradicting examples.", ["02a_amplified_regularization", "02b_multi_view"]),
    "C3": ("Self-distillation reaches flatter minima.",
           ["03_flatter_minima", "04_loss_landscape"]),
    "C4": ("Flatter minima are why the student generalizes better.",
           ["03_flatter_minima", "04_loss_landscape"]),
}
HEADERS = ("claim", "verdict", "evidence: each notebook's latest run")
COMBINED_RULE = ("holds if some notebook's verdict is holds and none is fails; fails if some is "
                 "fails and none holds; mixed if both occur; inconclusive otherwise")


def combined_verdict(verdicts: list[str]) -> str:
    """One verdict per claim from its notebooks' verdicts, by COMBINED_RULE."""
    holds, fails = "holds" in verdicts, "fails" in verdicts
    if holds and fails:
        return "mixed"
    return "holds" if holds else "fails" if fails else "inconclusive"


def _doc_link(notebook: str) -> nodes.Node:
    ref = addnodes.pending_xref("", refdomain="std", reftype="doc",
                                reftarget=f"/book/claims/{notebook}", refexplicit=True)
    ref += nodes.literal(notebook, notebook)
    return ref


def _verdict(verdict: str) -> nodes.Node:
    return nodes.strong(verdict, verdict, classes=[f"verdict-{verdict.split()[0]}"])


def _evidence(notebook: str, record: dict | None) -> nodes.paragraph:
    """``notebook: verdict — headline (profile profile)``, or that it has not run."""
    para = nodes.paragraph("", "", _doc_link(notebook), nodes.Text(": "))
    if record is None:
        para += nodes.emphasis("not run yet", "not run yet")
        return para
    headline = record["numbers"].get("headline", "")
    para += _verdict(record["verdict"])
    para += nodes.Text(f" — {headline} ({record['profile']} profile)")
    return para


class ClaimsDashboard(Directive):
    """One row per claim: its combined verdict, and each notebook's latest verdict and headline
    number; verdicts come from the results records, never typed in."""

    def run(self) -> list[nodes.Node]:
        env = self.state.document.settings.env
        root = project_root(Path(env.srcdir))
        for path in sorted((root / "results").glob("*/*.json")):
            env.note_dependency(str(path))
        rows = []
        all_records = read_records(root)
        for claim, (statement, notebooks) in CLAIMS.items():
            records = {nb: latest_record(all_records, nb, claim) for nb in notebooks}
            ran = [r["verdict"] for r in records.values() if r is not None]
            verdict = combined_verdict(ran) if ran else "not run yet"
            evidence = nodes.entry()
            evidence.extend(_evidence(nb, r) for nb, r in records.items())
            claim_cell = cell(nodes.strong(claim, claim), nodes.Text(f" {statement}"))
            rows.append([claim_cell, cell(_verdict(verdict)), evidence])
        table = doctable.table(HEADERS, (30, 12, 58), rows, "claims-dashboard")
        rule = nodes.paragraph(text=f"A claim's verdict combines its notebooks': {COMBINED_RULE}.")
        return [table, rule]


class VerdictBadge(Directive):
    """``{verdict-badge} C1 [C4 ...]``: each claim's verdict on this page, from the newest results
    record of this notebook (any profile), with the profile and the record's date."""

    required_arguments = 1
    optional_arguments = 5

    def run(self) -> list[nodes.Node]:
        env = self.state.document.settings.env
        root = project_root(Path(env.srcdir))
        notebook = Path(env.docname).name
        paragraph = nodes.paragraph(classes=["verdict-badges"])
        records = read_records(root)
        for claim in self.arguments:
            if claim not in CLAIMS:
                raise self.error(f"unknown claim {claim!r}; known: {', '.join(CLAIMS)}")
            record = latest_record(records, notebook, claim)
            verdict = record["verdict"] if record else "not run yet"
            paragraph += nodes.inline(f"{claim}: {verdict}", f"{claim}: {verdict}",
                                      classes=["verdict-badge", f"verdict-{verdict.split()[0]}"])
            if record:
                when = str(record["provenance"].get("started", ""))[:10]
                text = f" {record['profile']} profile, run {when} "
                paragraph += nodes.inline(text, text, classes=["verdict-source"])
        for path in sorted((root / "results").glob(f"*/{notebook}*.json")):
            env.note_dependency(str(path))
        return [paragraph]


def setup(app: Sphinx) -> dict:
    app.add_directive("claims-dashboard", ClaimsDashboard)
    app.add_directive("verdict-badge", VerdictBadge)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
