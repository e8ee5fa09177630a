"""Sphinx extension: how long each notebook took at each profile, and where a main job's time went.

``measured-times``: rows are the notebooks, columns the profiles with results; each cell is the
notebook's latest record's wall time (from validation to verdict). A last row gives the latest
``reproduce`` run of each profile (``results/<profile>/reproduce.json``): its wall time, kernel
starts and book build included, and how many notebooks it ran.
``reproduce-times PROFILE``: that run's time by part: the training jobs' wall time, then per
notebook its models' training seconds (one core each), its kernel's time and the record's phases
(obtaining the models, the analysis: Hessians, landscapes, tables), then the book build, and the
whole run beside the profile's budget (``BUDGETS_S``). All read at build time, never typed in.
"""

from __future__ import annotations

import json
from pathlib import Path

from docutils import nodes
from docutils.parsers.rst import Directive
from sphinx.application import Sphinx

from ..claims import NOTEBOOKS
from ..paths import project_root
from ..project.records import latest_record, profiles_of, read_records
from . import tables
from .tables import cell


def minutes(seconds: float) -> str:
    """``1.2 min``, or ``45 s`` under a minute."""
    return f"{seconds / 60:.1f} min" if seconds >= 60 else f"{seconds:.0f} s"


BUDGETS_S = {"cpu": 45 * 60, "gpu": 9 * 60}  # what a profile's main job may take, from empty


def reproduce_run(root: Path, profile: str) -> dict | None:
    """The profile's last ``reproduce`` run (``results/<profile>/reproduce.json``), if any."""
    path = root / "results" / profile / "reproduce.json"
    return json.loads(path.read_text()) if path.is_file() else None


def _reproduce_cell(root: Path, profile: str) -> nodes.entry:
    run = reproduce_run(root, profile)
    if run is None:
        return cell(nodes.emphasis("not recorded", "not recorded"))
    ran, skipped = len(run.get("ran", {})), len(run.get("skipped", []))
    text = (f"{minutes(run['wall_s'])}: {ran} notebook(s) run, {skipped} current and skipped"
            + (", book built" if run.get("build") else ""))
    return cell(nodes.Text(text))


class MeasuredTimes(Directive):
    """Each notebook's measured time per profile, and each profile's last ``reproduce`` run."""

    def run(self) -> list[nodes.Node]:
        env = self.state.document.settings.env
        root = project_root(Path(env.srcdir))
        for path in sorted((root / "results").glob("*/*.json")):
            env.note_dependency(str(path))
        records = read_records(root)
        profiles = profiles_of(records)
        rows = []
        for nb in NOTEBOOKS:
            row = [cell(nodes.literal(nb.name, nb.name))]
            for profile in profiles:
                record = latest_record(records, nb.name, nb.claims[0], profile)
                wall = None if record is None else record["provenance"].get("wall_s")
                row.append(cell(nodes.Text("—" if wall is None else minutes(wall))))
            rows.append(row)
        rows.append([cell(nodes.strong("python -m sdcore reproduce", "python -m sdcore reproduce")),
                     *(_reproduce_cell(root, p) for p in profiles)])
        headers = ("notebook", *(f"{p} profile" for p in profiles))
        widths = (30, *([70 // max(1, len(profiles))] * len(profiles)))
        return [tables.table(headers, widths, rows, "measured-times")]


def _seconds(value: float | None) -> str:
    return "—" if value is None else minutes(value)


class ReproduceTimes(Directive):
    """Where the latest ``reproduce`` run of a profile spent its time, beside its budget."""

    required_arguments = 1

    def run(self) -> list[nodes.Node]:
        env = self.state.document.settings.env
        root = project_root(Path(env.srcdir))
        profile = self.arguments[0]
        env.note_dependency(str(root / "results" / profile / "reproduce.json"))
        run = reproduce_run(root, profile)
        if run is None:
            return [nodes.paragraph(text=f"No reproduce run of the {profile} profile recorded.")]
        training = run.get("training", {})
        trained = training.get("seconds", {})
        rows = [[cell(nodes.Text("training jobs (wall)")), cell(),
                 cell(nodes.Text(_seconds(training.get("wall_s")))), cell(), cell()]]
        for name in [*run["ran"], *run.get("skipped", [])]:
            phases = run.get("phases", {}).get(name, {})
            rows.append([cell(nodes.literal(name, name)),
                         cell(nodes.Text(_seconds(trained.get(name)))),
                         cell(nodes.Text(_seconds(run["ran"].get(name)))),
                         cell(nodes.Text(_seconds(phases.get("models_s")))),
                         cell(nodes.Text(_seconds(phases.get("analysis_s"))))])
        rows.append([cell(nodes.Text("book build")), cell(),
                     cell(nodes.Text(_seconds(run.get("build_s")))), cell(), cell()])
        budget = BUDGETS_S.get(profile)
        total = minutes(run["wall_s"]) + ("" if budget is None
                                           else f" (budget {minutes(budget)})")
        rows.append([cell(nodes.strong("the whole run", "the whole run")), cell(),
                     cell(nodes.strong(total, total)), cell(), cell()])
        headers = ("part", "training (one core each)", "wall time", "of which: models",
                   "of which: analysis")
        return [tables.table(headers, (30, 18, 22, 15, 15), rows, "reproduce-times")]


def setup(app: Sphinx) -> None:
    app.add_directive("measured-times", MeasuredTimes)
    app.add_directive("reproduce-times", ReproduceTimes)
