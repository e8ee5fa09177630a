"""Sphinx extension: the ``claims-dashboard`` directive, a table of every claim's verdict.

Rows come from the results records (``results/<profile>/*.json``) at build time, so the intro page
always shows the verdicts of the notebooks as last run; a claim with no record says so.
"""

from __future__ import annotations

from pathlib import Path

from docutils import nodes
from docutils.parsers.rst import Directive
from sphinx import addnodes
from sphinx.application import Sphinx

from .paths import project_root
from .results import read_records

CLAIMS = {  # id: (statement, notebooks that test it)
    "C1": ("A self-distilled student beats its own, even highly accurate, teacher.",
           ["01_student_beats_teacher"]),
    "C2": ("The best-known theories of why (amplified regularization; multi-view) meet "
           "contradicting examples.", []),
    "C3": ("Self-distillation reaches flatter minima.",
           ["03_flatter_minima", "04_loss_landscape"]),
    "C4": ("Flatter minima are why the student generalizes better.",
           ["03_flatter_minima", "04_loss_landscape"]),
}
HEADERS = ("claim", "notebook", "verdict", "headline number", "profile")


def _cell(*children: nodes.Node) -> nodes.entry:
    entry = nodes.entry()
    entry += nodes.paragraph("", "", *children) if children else nodes.paragraph()
    return entry


def _claim_cell(claim: str, statement: str) -> nodes.entry:
    return _cell(nodes.strong(claim, claim), nodes.Text(f" {statement}"))


def _row(cells: list[nodes.entry]) -> nodes.row:
    row = nodes.row()
    row.extend(cells)
    return row


def _doc_link(notebook: str) -> nodes.Node:
    ref = addnodes.pending_xref("", refdomain="std", reftype="doc",
                                reftarget=f"/book/claims/{notebook}", refexplicit=True)
    ref += nodes.literal(notebook, notebook)
    return ref


class ClaimsDashboard(Directive):
    """One row per claim and notebook result; the verdict is the record's, never typed in."""

    def run(self) -> list[nodes.Node]:
        root = project_root(Path(self.state.document.settings.env.srcdir))
        records = read_records(root)
        for path in sorted((root / "results").glob("*/*.json")):
            self.state.document.settings.env.note_dependency(str(path))
        table = nodes.table(classes=["claims-dashboard"])
        group = nodes.tgroup(cols=len(HEADERS))
        table += group
        group.extend(nodes.colspec(colwidth=w) for w in (34, 22, 12, 24, 8))
        head = nodes.thead()
        head += _row([_cell(nodes.Text(h)) for h in HEADERS])
        body = nodes.tbody()
        for claim, (statement, notebooks) in CLAIMS.items():
            own = [r for r in records if r["claim"] == claim]
            if not own:
                status = "no notebook yet" if not notebooks else "not run yet"
                body += _row([_claim_cell(claim, statement),
                              _cell(*(_doc_link(n) for n in notebooks)),
                              _cell(nodes.emphasis(status, status)), _cell(), _cell()])
            for r in own:
                verdict = nodes.strong(r["verdict"], r["verdict"],
                                       classes=[f"verdict-{r['verdict']}"])
                body += _row([_claim_cell(claim, statement),
                              _cell(_doc_link(r["notebook"])), _cell(verdict),
                              _cell(nodes.Text(str(r["numbers"].get("headline", "")))),
                              _cell(nodes.Text(r["profile"]))])
        group += head
        group += body
        return [table]


def setup(app: Sphinx) -> dict:
    app.add_directive("claims-dashboard", ClaimsDashboard)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
