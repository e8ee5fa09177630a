"""Sphinx extension: the summary that opens each claim page, computed at build time.

Under the page's title, without a cell in the notebook: what the notebook tests (each claim's
statement, from the registry), at which profiles it was run and what held there and what did not;
then a table with, at each profile with results, each claim's verdict, whether its record is
current (``project.fingerprint``) and the headline it holds. All read from the results records of
every profile (``results/<profile>/*.json``), never typed in.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from docutils import nodes
from sphinx.application import Sphinx

from ..claims import CLAIMS, NOTEBOOKS, notebook
from ..engine.stats import VERDICTS
from ..paths import project_root
from ..project.fingerprint import Freshness
from ..project.records import latest_record, profiles_of, read_records
from . import tables
from .dashboard import Freshnesses, depend_on_records, run_date, staleness_note, verdict_node
from .tables import cell

PAGES = {nb.path: nb.name for nb in NOTEBOOKS}  # docname -> notebook
NOT_RUN = "not run"


def _outcomes(claim: str, latest: dict[str, dict | None],
              states: dict[str, Freshness]) -> nodes.paragraph:
    """``C1 statement — holds at gpu; fails at cpu (stale); not run at paper.``"""
    para = nodes.paragraph("", "", nodes.strong(claim, claim), nodes.Text(f" {CLAIMS[claim]} —"))
    where: dict[str, list[str]] = {}
    for profile, record in latest.items():
        stale = record is not None and states[profile].state == "stale"
        where.setdefault(record["verdict"] if record else NOT_RUN, []).append(
            profile + (" (stale)" if stale else ""))
    order = (*VERDICTS, NOT_RUN)
    parts = sorted(where, key=lambda v: order.index(v) if v in order else len(order))
    for i, verdict in enumerate(parts):
        para += nodes.Text(" ")
        para += verdict_node(verdict)
        para += nodes.Text(f" at {', '.join(where[verdict])}{';' if i < len(parts) - 1 else '.'}")
    if not parts:
        para += nodes.Text(" not run at any profile yet.")
    return para


def _row(profile: str, claim: str, record: dict | None, state: Freshness) -> list[nodes.entry]:
    if record is None:
        return [cell(nodes.Text(profile)), cell(nodes.Text(claim)),
                cell(verdict_node(NOT_RUN)), cell(), cell()]
    stale = state.state == "stale"
    current = [nodes.Text(f"{'stale' if stale else 'current'}, run {run_date(record)}")]
    return [cell(nodes.Text(profile)), cell(nodes.Text(claim)),
            cell(verdict_node(record["verdict"], stale)),
            cell(*current, *([staleness_note(state)] if stale else [])),
            cell(nodes.Text(record["numbers"].get("headline", "")))]


def claim_summary(records: list[dict], name: str,
                  freshness: Callable[[str, str], Freshness]) -> nodes.container:
    """The summary of notebook ``name`` from ``records`` (``read_records()``), with
    ``freshness(profile, notebook)`` saying whether each profile's records are current."""
    profiles = profiles_of(records)
    box = nodes.container(classes=["claim-summary"])
    box += nodes.rubric(text="Summary of the results")
    rows = []
    for claim in notebook(name).claims:
        latest = {p: latest_record(records, name, claim, p) for p in profiles}
        states = {p: freshness(p, name) for p, r in latest.items() if r is not None}
        box += _outcomes(claim, latest, states)
        rows += [_row(p, claim, r, states.get(p, Freshness("missing"))) for p, r in latest.items()]
    if rows:
        box += tables.table(("profile", "claim", "verdict", "record", "headline"),
                            (10, 8, 14, 24, 44), rows, "claim-summary-table")
    box += nodes.paragraph(text="Computed when the book was built, from the latest results "
                           "record of each profile; a stale record no longer matches what a "
                           "rerun would use now, as it says.", classes=["verdict-source"])
    return box


def insert_summary(app: Sphinx, doctree: nodes.document) -> None:
    """``doctree-read``: put the summary under the title of a claim notebook's page."""
    env = app.env
    name = PAGES.get(env.docname)
    if name is None:
        return
    root = project_root(Path(env.srcdir))
    depend_on_records(env, root, name)
    records = read_records(root)
    summary = claim_summary(records, name, Freshnesses(records, root))
    section = doctree.next_node(nodes.section) or doctree
    titled = bool(section.children) and isinstance(section[0], nodes.title)
    section.insert(1 if titled else 0, summary)


def setup(app: Sphinx) -> None:
    app.connect("doctree-read", insert_summary)
