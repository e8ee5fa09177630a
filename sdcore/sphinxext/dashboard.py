"""Sphinx extension: the ``claims-dashboard`` table of every claim's verdict, and the
``verdict-badge`` that opens each claim page.

Both read the results records (``results/<profile>/*.json``) at build time, so the book always shows
the verdicts of the notebooks as last run at each profile; a claim with no record says so, and a
verdict whose record no longer matches the parameters, rules, code or data it would be made from
now (``report.fingerprint``) is marked stale, with the reason.
"""

from __future__ import annotations

import json
from pathlib import Path

from docutils import nodes
from docutils.parsers.rst import Directive
from sphinx import addnodes
from sphinx.application import Sphinx
from sphinx.environment import BuildEnvironment

from ..claims import CLAIMS, notebooks_of
from ..claims.combined import C3_FAMILY_RULE, COMBINED_RULE, FAMILY_RULE, claim_verdict
from ..paths import project_root
from ..report.fingerprint import Freshness, notebook_freshness
from ..report.records import latest_record, profiles_of, read_records
from . import tables
from .tables import cell

def _doc_link(notebook: str) -> nodes.Node:
    ref = addnodes.pending_xref("", refdomain="std", reftype="doc",
                                reftarget=f"/book/claims/{notebook}", refexplicit=True)
    ref += nodes.literal(notebook, notebook)
    return ref


def verdict_node(verdict: str, stale: bool = False) -> nodes.Node:
    text = f"{verdict} (stale)" if stale else verdict
    return nodes.strong(text, text, classes=[f"verdict-{verdict.split()[0]}"]
                        + (["verdict-stale"] if stale else []))


class Freshnesses:
    """``notebook_freshness`` of each (profile, notebook), computed once per directive."""

    def __init__(self, records: list[dict], root: Path):
        self.records, self.root, self.known = records, root, {}

    def __call__(self, profile: str, notebook: str) -> Freshness:
        if (profile, notebook) not in self.known:
            self.known[(profile, notebook)] = notebook_freshness(self.records, self.root,
                                                                 profile, notebook)
        return self.known[(profile, notebook)]


def staleness_note(state: Freshness) -> nodes.Node:
    text = f" Stale: {'; '.join(state.reasons)}."
    return nodes.emphasis(text, text, classes=["verdict-stale-note"])


def run_date(record: dict) -> str:
    return str(record["provenance"].get("started", ""))[:10]


def _evidence(notebook: str, record: dict | None, state: Freshness) -> nodes.paragraph:
    """``notebook: verdict — headline (date)``, marked if stale, or that it has not run at this
    profile."""
    para = nodes.paragraph("", "", _doc_link(notebook), nodes.Text(": "))
    if record is None:
        para += nodes.emphasis("not run", "not run")
        return para
    para += verdict_node(record["verdict"], state.state == "stale")
    para += nodes.Text(f" — {record['numbers'].get('headline', '')} ({run_date(record)})")
    if state.state == "stale":
        para += staleness_note(state)
    return para


def _profile_cell(records: list[dict], claim: str, notebooks: list[str], profile: str,
                  freshness: Freshnesses) -> nodes.entry:
    """A claim's combined verdict at ``profile`` (stale if any record behind it is), then each
    notebook's latest run there."""
    latest = {nb: latest_record(records, nb, claim, profile) for nb in notebooks}
    states = {nb: freshness(profile, nb) for nb, r in latest.items() if r is not None}
    ran = [r for r in latest.values() if r is not None]
    stale = any(state.state == "stale" for state in states.values())
    entry = nodes.entry()
    entry += nodes.paragraph("", "", verdict_node(claim_verdict(claim, ran)[0] if ran
                                                  else "not run", stale))
    entry.extend(_evidence(nb, r, states.get(nb, Freshness("missing")))
                 for nb, r in latest.items())
    return entry


class ClaimsDashboard(Directive):
    """One row per claim and one column per profile with results: the claim's combined verdict at
    that profile, and each notebook's verdict, headline and date; all read from the results
    records, never typed in."""

    def run(self) -> list[nodes.Node]:
        env = self.state.document.settings.env
        root = project_root(Path(env.srcdir))
        depend_on_records(env, root)
        records = read_records(root)
        profiles = profiles_of(records)
        freshness = Freshnesses(records, root)
        rows = [[cell(nodes.strong(claim, claim), nodes.Text(f" {statement}")),
                 *(_profile_cell(records, claim, [nb.name for nb in notebooks_of(claim)], p,
                                 freshness) for p in profiles)]
                for claim, statement in CLAIMS.items()]
        headers = ("claim", *(f"{p} profile" for p in profiles))
        widths = (22, *([78 // max(1, len(profiles))] * len(profiles)))
        table = tables.table(headers, widths, rows, "claims-dashboard")
        rule = nodes.paragraph(text="A claim's verdict at a profile combines its notebooks' "
                               f"latest runs there: {COMBINED_RULE}; {FAMILY_RULE}; "
                               f"{C3_FAMILY_RULE}. A verdict "
                               "marked stale comes "
                               "from a record that no longer matches what a rerun would use now "
                               "(its parameters, rules, code or data changed, as it says): it "
                               "is shown as it was made, not as current; `python -m sdcore "
                               "status` lists them and `python -m sdcore reproduce` reruns "
                               "them. The profiles are described on the reproducing page.")
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
        depend_on_records(env, root, notebook)
        records = read_records(root)
        freshness = Freshnesses(records, root)
        shown = page_profile(Path(env.srcdir) / f"{env.docname}.ipynb")
        paragraph = nodes.paragraph(classes=["verdict-badges"])
        others = nodes.paragraph(classes=["verdict-others"])
        notes = []
        for claim in self.arguments:
            if claim not in CLAIMS:
                raise self.error(f"unknown claim {claim!r}; known: {', '.join(CLAIMS)}")
            record = latest_record(records, notebook, claim, shown)
            state = freshness(shown, notebook) if record else Freshness("missing")
            verdict = record["verdict"] if record else "not run yet"
            text = f"{claim}: {verdict}" + (" (stale)" if state.state == "stale" else "")
            paragraph += nodes.inline(text, text, classes=[
                "verdict-badge", f"verdict-{verdict.split()[0]}",
                *(["verdict-stale"] if state.state == "stale" else [])])
            if record:
                text = f" {record['profile']} profile, run {run_date(record)} "
                paragraph += nodes.inline(text, text, classes=["verdict-source"])
            if state.state == "stale" and claim == self.arguments[0]:
                notes.append(nodes.paragraph("", "", staleness_note(state),
                                             classes=["verdict-source"]))
            for profile in profiles_of(records):
                other = latest_record(records, notebook, claim, profile)
                if other is not None and other is not record:
                    other_state = freshness(profile, notebook)
                    others += nodes.Text(f"{claim} at the {profile} profile: ")
                    others += verdict_node(other["verdict"], other_state.state == "stale")
                    others += nodes.Text(f" ({run_date(other)}). ")
                    if other_state.state == "stale" and claim == self.arguments[0]:
                        others += staleness_note(other_state)
                        others += nodes.Text(" ")
        where = (f"The outputs on this page come from the {shown} profile."
                 if shown else "This page's outputs were not made by papermill.")
        note = nodes.paragraph(text=f"{where} {run_times(records, notebook, self.arguments[0])}",
                               classes=["verdict-source"])
        return [paragraph, *notes, note] + ([others] if others.children else [])


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


DYNAMIC = "sdcore-verdicts"  # page metadata: the page shows verdicts and their freshness


def depend_on_records(env: BuildEnvironment, root: Path, notebook: str = "") -> None:
    """Rebuild the page being read when a results record (of ``notebook``; default: any)
    changes, and at every build (its verdicts' freshness depends on code and data)."""
    for path in sorted((root / "results").glob(f"*/{notebook}*.json")):
        env.note_dependency(str(path))
    env.metadata[env.docname][DYNAMIC] = True


def pages_with_verdicts(app: Sphinx, env, added: set, changed: set, removed: set) -> list[str]:
    """Pages to rebuild every time: freshness depends on code and data that Sphinx does not
    track."""
    return [doc for doc, meta in env.metadata.items() if meta.get(DYNAMIC) and doc not in removed]


def setup(app: Sphinx) -> None:
    app.add_directive("claims-dashboard", ClaimsDashboard)
    app.add_directive("verdict-badge", VerdictBadge)
    app.connect("env-get-outdated", pages_with_verdicts)
