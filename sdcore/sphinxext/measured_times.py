"""Sphinx extension: the ``measured-times`` table, how long each notebook took at each profile.

Rows are the notebooks, columns the profiles with results; each cell is the notebook's latest
record's wall time (from validation to verdict), marked where the record is stale. A last row
gives the latest ``reproduce`` run of each profile (``results/<profile>/reproduce.json``): its wall
time, kernel starts and book build included, and how many notebooks it ran. All read at build
time, never typed in.
"""

from __future__ import annotations

import json
from pathlib import Path

from docutils import nodes
from docutils.parsers.rst import Directive
from sphinx.application import Sphinx

from ..claims import NOTEBOOKS
from ..paths import project_root
from ..report.records import latest_record, profiles_of, read_records
from . import tables
from .tables import cell


def _minutes(seconds: float) -> str:
    return f"{seconds / 60:.1f} min" if seconds >= 60 else f"{seconds:.0f} s"


def _reproduce_cell(root: Path, profile: str) -> nodes.entry:
    path = root / "results" / profile / "reproduce.json"
    if not path.is_file():
        return cell(nodes.emphasis("not recorded", "not recorded"))
    run = json.loads(path.read_text())
    ran, skipped = len(run.get("ran", {})), len(run.get("skipped", []))
    text = (f"{_minutes(run['wall_s'])}: {ran} notebook(s) run, {skipped} current and skipped"
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
                row.append(cell(nodes.Text("—" if wall is None else _minutes(wall))))
            rows.append(row)
        rows.append([cell(nodes.strong("python -m sdcore reproduce", "python -m sdcore reproduce")),
                     *(_reproduce_cell(root, p) for p in profiles)])
        headers = ("notebook", *(f"{p} profile" for p in profiles))
        widths = (30, *([70 // max(1, len(profiles))] * len(profiles)))
        return [tables.table(headers, widths, rows, "measured-times")]


def setup(app: Sphinx) -> None:
    app.add_directive("measured-times", MeasuredTimes)
