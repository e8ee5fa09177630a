"""Sphinx extension: the ``claims-dashboard`` of every claim's verdict, and the ``verdict-badge``
that opens each claim page.

Both read the results records (``results/<profile>/*.json``) at build time, so the book always shows
the verdicts of the notebooks as last run at each profile; a claim with no record says so, and a
verdict whose record no longer matches the parameters, rules, code or data it would be made from
now (``project.fingerprint``) is marked stale, with the reason. The dashboard is a grid, claims by
profiles, of one verdict each with a one-line summary beneath it, then a forest plot per profile of
every effect the verdicts read (``report.effects``); the claim pages' summaries hold the whole
headlines (``claim_summary``). Runs of your own (``results/own/<name>/``) are shown only when
asked: ``SDCORE_OWN_RUNS=<name>[,<name>...]`` (or ``all``) in the build's environment gives each
a column and a forest plot of its own, beside the profiles'.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Callable

from docutils import nodes
from docutils.parsers.rst import Directive
from sphinx import addnodes
from sphinx.application import Sphinx
from sphinx.environment import BuildEnvironment

from ..claims import CLAIMS, notebooks_of
from ..claims.combined import C3_FAMILY_RULE, COMBINED_RULE, FAMILY_RULE, claim_verdict
from ..paths import project_root
from ..project.fingerprint import Freshness, notebook_freshness
from ..project.records import (
    OWN_RUNS_VARIABLE,
    latest_record,
    own_records,
    profiles_of,
    read_records,
)
from ..project.run import NotebookRun
from ..report import interactive
from ..report.effects import latest_effects, notebook_number, record_effects, tally
from . import tables
from .measured_times import minutes, reproduce_run
from .tables import cell


def _doc_link(notebook: str, text: str) -> nodes.Node:
    """A link to ``notebook``'s page reading ``text`` (Sphinx makes it plain text)."""
    return addnodes.pending_xref("", nodes.Text(text), refdomain="std", reftype="doc",
                                 reftarget=f"/book/claims/{notebook}", refexplicit=True)


def verdict_node(verdict: str, stale: bool = False) -> nodes.Node:
    text = f"{verdict} (stale)" if stale else verdict
    return nodes.strong(text, text, classes=verdict_classes(verdict, stale))


def verdict_classes(verdict: str, stale: bool = False) -> list[str]:
    """The verdict's colour class (``book/_static/dashboard.css``), and the stale one."""
    return [f"verdict-{verdict.split()[0]}"] + (["verdict-stale"] if stale else [])


class Freshnesses:
    """``notebook_freshness`` of each (profile, notebook), computed once per directive."""

    def __init__(self, records: list[dict], root: Path):
        self.records, self.root, self.known = records, root, {}

    def __call__(self, profile: str, notebook: str) -> Freshness:
        if (profile, notebook) not in self.known:
            run = NotebookRun(self.root, profile, notebook)
            self.known[(profile, notebook)] = notebook_freshness(self.records, run)
        return self.known[(profile, notebook)]


def staleness_note(state: Freshness) -> nodes.Node:
    text = f" Stale: {'; '.join(state.reasons)}."
    return nodes.emphasis(text, text, classes=["verdict-stale-note"])


def run_date(record: dict) -> str:
    return str(record["provenance"].get("started", ""))[:10]


def _linked_verdict(notebook: str, verdict: str, reasons: list[str]) -> nodes.Node:
    """``verdict`` linking to ``notebook``'s page; if ``reasons``, marked stale, with them on
    hover."""
    text = f"{verdict} (stale)" if reasons else verdict
    classes = ["dashboard-verdict", *verdict_classes(verdict, bool(reasons))]
    if reasons:
        return nodes.abbreviation("", "", _doc_link(notebook, text), classes=classes,
                                  explanation=f"Stale: {'; '.join(reasons)}")
    return nodes.inline("", "", _doc_link(notebook, text), classes=classes)


def _summary_line(latest: dict[str, dict | None]) -> list[nodes.Node]:
    """Under a claim's verdict at a profile: each notebook's verdict where several judge it
    (``02a holds · 02b inconclusive``), else how its judged effects came out."""
    if len(latest) == 1:
        record = next(iter(latest.values()))
        effects = record_effects(record)
        return [nodes.Text(f"judged effects: {tally(effects)}" if len(effects) else
                           record["numbers"].get("headline", ""))]
    out: list[nodes.Node] = []
    for notebook, record in latest.items():
        if out:
            out.append(nodes.Text(" · "))
        verdict = record["verdict"] if record else "not run"
        out += [_doc_link(notebook, notebook_number(notebook)), nodes.Text(" "),
                nodes.inline(verdict, verdict, classes=verdict_classes(verdict))]
    return out


def _grid_cell(records: list[dict], claim: str, profile: str,
               freshness: Callable[[str, str], Freshness],
               stale_reasons: dict[str, list[str]]) -> nodes.entry:
    """A claim's verdict at ``profile``, combined over its notebooks' latest runs there (stale if
    a record behind it is: its reasons added to ``stale_reasons[profile]``), and its one-line
    summary."""
    latest = {nb.name: latest_record(records, nb.name, claim, profile)
              for nb in notebooks_of(claim)}
    ran = {nb: r for nb, r in latest.items() if r is not None}
    if not ran:
        return cell(nodes.inline("not run", "not run", classes=verdict_classes("not run")))
    states = [freshness(profile, nb) for nb in ran]
    reasons = list(dict.fromkeys(r for s in states if s.state == "stale" for r in s.reasons))
    if reasons:
        stale_reasons.setdefault(profile, []).extend(reasons)
    entry = cell(_linked_verdict(next(iter(ran)), claim_verdict(claim, list(ran.values()))[0],
                                 reasons))
    entry += nodes.paragraph("", "", *_summary_line(latest),
                             classes=["dashboard-summary"])
    return entry


FOREST_NOTE = ("Every effect that a verdict reads, from the latest record of each notebook at "
               "each profile: its estimate and 95% interval, the black line at what it "
               "is judged against, a null prediction's margin shaded and an at-most "
               "prediction's bound ticked; the colour says whether its outcome (at the right) "
               "favours the claim, counts against it, leaves it undecided or lies outside the "
               "verdict (out of scope, untestable). Effects in different units have their own "
               "panels; the values on hover.")


def _forests(records: list[dict], profiles: list[str]) -> nodes.container:
    """Per profile, the forest plot of its latest records' judged effects: plotly on screen
    (the book's plotly.js, ``offline_assets``), its PNG in print."""
    box = nodes.container(classes=["claims-forest"])
    box += nodes.paragraph(text=FOREST_NOTE, classes=["verdict-source"])
    for profile in profiles:
        effects = latest_effects(records, profile)
        if not effects.empty:
            box += nodes.rubric(text=f"Judged effects at the {profile} profile")
            box += nodes.raw("", interactive.forest(effects).html(), format="html")
    return box


class ClaimsDashboard(Directive):
    """The claims at a glance: a grid of one row per claim and one column per profile with
    results, each cell the claim's combined verdict there (linking to its page, marked stale
    with the reasons on hover and beneath the grid) over a one-line summary; then the rule that
    combines notebooks, and the forest plot of each profile's judged effects. All read from the
    results records, never typed in."""

    def run(self) -> list[nodes.Node]:
        env = self.state.document.settings.env
        root = project_root(Path(env.srcdir))
        depend_on_records(env, root)
        records = read_records(root)
        profiles = profiles_of(records)
        try:
            own = own_records(root, os.environ.get(OWN_RUNS_VARIABLE, ""))
        except ValueError as err:
            raise self.error(str(err)) from None
        runs = profiles_of(own)
        profile_freshness = Freshnesses(records, root)

        def freshness(profile: str, notebook: str) -> Freshness:
            """A run of your own is shown as it is: no profile's parameters to be stale to."""
            return Freshness("fresh") if profile in runs else profile_freshness(profile, notebook)

        records = records + own
        stale: dict[str, list[str]] = {}
        rows = [[cell(nodes.strong(claim, claim), nodes.Text(f" {statement}")),
                 *(_grid_cell(records, claim, p, freshness, stale) for p in profiles + runs)]
                for claim, statement in CLAIMS.items()]
        headers = ("claim", *(f"{p} profile" for p in profiles),
                   *(f"your run {r}" for r in runs))
        profiles = profiles + runs
        widths = (34, *([66 // max(1, len(profiles))] * len(profiles)))
        table = tables.table(headers, widths, rows, "claims-dashboard")
        notes = nodes.paragraph(classes=["verdict-source"])
        for profile, reasons in stale.items():
            short = dict.fromkeys(reason.split(" (")[0] for reason in reasons)
            text = f"Stale at the {profile} profile: {'; '.join(short)}. "
            notes += nodes.emphasis(text, text, classes=["verdict-stale-note"])
        if stale:
            notes += nodes.Text("The files each record differs in show on hover and on its "
                                "claim page.")
        rule = nodes.paragraph(text="A claim's verdict at a profile combines its notebooks' "
                               f"latest runs there: {COMBINED_RULE}; {FAMILY_RULE}; "
                               f"{C3_FAMILY_RULE}. A verdict marked stale comes from a record "
                               "that no longer matches what a rerun would use now (its "
                               "parameters, rules, code or data changed, as it says): it is "
                               "shown as it was made, not as current; `python -m sdcore status` "
                               "lists them and `python -m sdcore reproduce` reruns them. Each "
                               "claim page opens with its notebook's whole headline at every "
                               "profile. The profiles are described on the reproducing page.",
                               classes=["verdict-source"])
        return [table, *([notes] if stale else []), rule, _forests(records, profiles)]


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
                "verdict-badge", *verdict_classes(verdict, state.state == "stale")])
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
        times = run_times(records, root, notebook, self.arguments[0])
        note = nodes.paragraph(text=f"{where} {times}", classes=["verdict-source"])
        return [paragraph, *notes, note] + ([others] if others.children else [])


def run_times(records: list[dict], root: Path, notebook: str, claim: str) -> str:
    """Per profile, the time to run ``notebook``: the training of the models it is the first to
    plan, summed over them, from the profile's last ``reproduce`` run (``reproduce.json``), and
    the notebook's own time from its latest record there (by phase where recorded)."""
    sentences = []
    for profile in profiles_of(records):
        record = latest_record(records, notebook, claim, profile)
        wall = None if record is None else record["provenance"].get("wall_s")
        if wall is None:
            continue
        parts = []
        run = reproduce_run(root, profile)
        if run is not None:
            trained = run.get("training", {}).get("seconds", {}).get(notebook)
            parts.append("no training of its own in the last reproduce run (its models were "
                         "trained for an earlier page, or already stored)" if trained is None
                         else f"training its models {minutes(trained)} (summed over them)")
        phases = record["provenance"].get("phases") or {}
        split = (f" (obtaining its models {minutes(phases['models_s'])}, the analysis "
                 f"{minutes(phases['analysis_s'])})" if {"models_s", "analysis_s"} <= set(phases)
                 else "")
        parts.append(f"the notebook {minutes(wall)}{split}")
        sentences.append(f"Time to run at the {profile} profile: {' · '.join(parts)}.")
    return " ".join(sentences)


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
