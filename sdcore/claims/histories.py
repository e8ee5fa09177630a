"""A page's design history: every committed run of every design it had, and why each was replaced.

``design_history`` joins the runs that ``experiments/c2_history.py`` reads from git (one per
committed results record: commit, date, machine, precision, design, verdict, predictions) with the
designs a selection file declares (``experiments/c2_selection.yaml``: each design's ``match`` on
the record's parameters and why it was replaced), and ends with this run. Cost: trivial.
"""

from __future__ import annotations

from typing import Any

import pandas as pd


def design_of(run: dict[str, Any], designs: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The first design whose ``match`` the run's parameters equal."""
    return next((d for d in designs if all(run["design"].get(k) == v
                                           for k, v in d["match"].items())), None)


def _decided(tests: list[dict[str, Any]]) -> str:
    """The predictions that came out decided, with their intervals, and how many did not."""
    def interval(t: dict[str, Any]) -> str:
        if t.get("mean") is None or t.get("ci_low") is None:
            return ""
        return f" {t['mean']:+.2f} [{t['ci_low']:+.2f}, {t['ci_high']:+.2f}]"
    decided = [f"{t['outcome']}: {t['prediction']} ({t['setting']}){interval(t)}"
               for t in tests if t.get("outcome") in ("contradicted", "borne out")]
    rest = len(tests) - len(decided)
    return "; ".join(decided) + (f"; {rest} other(s) not decided" if rest else "") or "—"


def design_history(runs: list[dict[str, Any]], designs: list[dict[str, Any]],
                   this_run: dict[str, Any] | None = None) -> pd.DataFrame:
    """One row per committed run (oldest first) with its design, where and how it was made, its
    verdict, its decided predictions and why its design was replaced; then ``this_run`` (its
    verdict and tests) under the design declared now."""
    rows = []
    for run in runs:
        design = design_of(run, designs)
        rows.append({"design": design["design"] if design else "now declared",
                     "run": f"{run['commit']} ({run['date']})",
                     "machine, precision": f"{run['machine']}, {run['precision']}",
                     "verdict": run["verdict"], "predictions decided": _decided(run["tests"]),
                     "why the design was replaced": design["replaced"] if design else ""})
    if this_run is not None:
        rows.append({"design": "now declared", "run": "this page",
                     "machine, precision": "", "verdict": this_run["verdict"],
                     "predictions decided": _decided(this_run["tests"]),
                     "why the design was replaced": ""})
    return pd.DataFrame(rows)
