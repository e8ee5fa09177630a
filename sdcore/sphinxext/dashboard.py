"""Sphinx extension: the ``claims-dashboard`` table of every claim's verdict, and the
``verdict-badge`` that opens each claim page.

Both read the results records (``results/<profile>/*.json``) at build time, so the book always shows
the verdicts of the notebooks as last run at each profile; a claim with no record says so.
"""

from __future__ import annotations

import json
from pathlib import Path

from docutils import nodes
from docutils.parsers.rst import Directive
from sphinx import addnodes
from sphinx.application import Sphinx

from ..claims import CLAIMS, notebooks_of
from ..paths import project_root
from ..report.records import latest_record, profiles_of, read_records
from . import tables
from .tables import cell

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


def _date(record: dict) -> str:
    return str(record["provenance"].get("started", ""))[:10]


def _evidence(notebook: str, record: dict | None) -> nodes.paragraph:
    """``notebook: verdict — headline (date)``, or that it has not run at this profile."""
    para = nodes.paragraph("", "", _doc_link(notebook), nodes.Text(": "))
    if record is None:
        para += nodes.emphasis("not run", "not run")
        return para
    para += _verdict(record["verdict"])
    para += nodes.Text(f" — {record['numbers'].get('headline', '')} ({_date(record)})")
    return para


def _profile_cell(records: list[dict], claim: str, notebooks: list[str],
                  profile: str) -> nodes.entry:
    """A claim's combined verdict at ``profile``, then each notebook's latest run there."""
    latest = {nb: latest_record(records, nb, claim, profile) for nb in notebooks}
    ran = [r["verdict"] for r in latest.values() if r is not None]
    entry = nodes.entry()
    entry += nodes.paragraph("", "", _verdict(combined_verdict(ran) if ran else "not run"))
    entry.extend(_evidence(nb, r) for nb, r in latest.items())
    return entry


class ClaimsDashboard(Directive):
    """One row per claim and one column per profile with results: the claim's combined verdict at
    that profile, and each notebook's verdict, headline and date; all read from the results
    records, never typed in."""

    def run(self) -> list[nodes.Node]:
        env = self.state.document.settings.env
        root = project_root(Path(env.srcdir))
        for path in sorted((root / "results").glob("*/*.json")):
            env.note_dependency(str(path))
        records = read_records(root)
        profiles = profiles_of(records)
        rows = [[cell(nodes.strong(claim, claim), nodes.Text(f" {statement}")),
                 *(_profile_cell(records, claim, [nb.name for nb in notebooks_of(claim)], p)
                   for p in profiles)]
                for claim, statement in CLAIMS.items()]
        headers = ("claim", *(f"{p} profile" for p in profiles))
        widths = (22, *([78 // max(1, len(profiles))] * len(profiles)))
        table = tables.table(headers, widths, rows, "claims-dashboard")
        rule = nodes.paragraph(text="A claim's verdict at a profile combines its notebooks' "
                               f"latest runs there: {COMBINED_RULE}. The profiles are described "
                               "on the reproducing page.")
        return [table, rule]


def page_profile(notebook: Path) -> str | None:
    """The profile papermill ran ``notebook`` with (its recorded parameters), if it did."""
    try:
        metadata = json.loads(notebook.read_text()).get("metadata", {})
    except (OSError, ValueError):
        return None
    profile = metadata.get("papermill", {}).get("parameters", {}).get("profile")
    return profile if isinstance(profile, str) else None


class VerdictBadge(Directive):
    """``{verdict-badge} C1 [C4 ...]``: each claim's verdict from the results record of the
    profile this page's outputs come from (as papermill recorded it), with its date; then the
    verdicts of the other profiles that have run this notebook."""

    required_arguments = 1
    optional_arguments = 5

    def run(self) -> list[nodes.Node]:
        env = self.state.document.settings.env
        root = project_root(Path(env.srcdir))
        notebook = Path(env.docname).name
        records = read_records(root)
        shown = page_profile(Path(env.srcdir) / f"{env.docname}.ipynb")
        paragraph = nodes.paragraph(classes=["verdict-badges"])
        others = nodes.paragraph(classes=["verdict-others"])
        for claim in self.arguments:
            if claim not in CLAIMS:
                raise self.error(f"unknown claim {claim!r}; known: {', '.join(CLAIMS)}")
            record = latest_record(records, notebook, claim, shown)
            verdict = record["verdict"] if record else "not run yet"
            paragraph += nodes.inline(f"{claim}: {verdict}", f"{claim}: {verdict}",
                                      classes=["verdict-badge", f"verdict-{verdict.split()[0]}"])
            if record:
                text = f" {record['profile']} profile, run {_date(record)} "
                paragraph += nodes.inline(text, text, classes=["verdict-source"])
            for profile in profiles_of(records):
                other = latest_record(records, notebook, claim, profile)
                if other is not None and other is not record:
                    others += nodes.Text(f"{claim} at the {profile} profile: ")
                    others += _verdict(other["verdict"])
                    others += nodes.Text(f" ({_date(other)}). ")
        for path in sorted((root / "results").glob(f"*/{notebook}*.json")):
            env.note_dependency(str(path))
        where = (f"The outputs on this page come from the {shown} profile."
                 if shown else "This page's outputs were not made by papermill.")
        note = nodes.paragraph(text=f"{where} {run_times(records, notebook, self.arguments[0])}",
                               classes=["verdict-source"])
        return [paragraph, note] + ([others] if others.children else [])


def run_times(records: list[dict], notebook: str, claim: str) -> str:
    """"Time to run: ..." per profile, measured by the notebook's latest record there."""
    times = []
    for profile in profiles_of(records):
        record = latest_record(records, notebook, claim, profile)
        if record is not None and record["provenance"].get("wall_s") is not None:
            minutes = record["provenance"]["wall_s"] / 60
            times.append(f"{profile} profile {minutes:.1f} min")
    return ("Time to run (measured, from validation to verdict): " + " · ".join(times) + "."
            if times else "")


def setup(app: Sphinx) -> None:
    app.add_directive("claims-dashboard", ClaimsDashboard)
    app.add_directive("verdict-badge", VerdictBadge)
