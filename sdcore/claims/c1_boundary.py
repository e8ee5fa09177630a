"""C1 beyond its verdict: when a self-distilled student beats its teacher, and how the settings came.

``boundary_points`` gathers every C1 setting the project has measured (this run's declared settings,
every committed run of a declared design, the settings of the first search and of the superseded
design, the cells of the boundary study) as one point each: the student's mean gain over its
teacher with its 95% interval, the teachers' fit to their own training images and, where long
teachers were trained, the convergence gap (long teacher − teacher); in-scope points are marked
(unknown where the source did not decide the premise). ``boundary_test`` reads the boundary study's
pre-stated hypothesis, that the gain rises with the teacher's fit, as a rank correlation with a
bootstrap interval over seeds. ``selection_history`` lists every setting tried, in order, with
why it was kept or not. Cost: reading the experiments' records.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from ..engine.stats import mean_ci, rank_bootstrap

BOUNDARY_COLUMNS = ["source", "setting", "seeds", "teacher_train_acc", "long_minus_teacher",
                    "gain", "ci_low", "ci_high", "in_scope"]


def _point(source: str, setting: str, seeds: int, fit: float, longer: float | None,
           gain: float, low: float, high: float, in_scope: bool | None) -> dict[str, Any]:
    return dict(zip(BOUNDARY_COLUMNS, (source, setting, seeds, fit,
                                       np.nan if longer is None else longer, gain,
                                       np.nan if low is None else low,
                                       np.nan if high is None else high, in_scope)))


def boundary_points(settings: pd.DataFrame | None, designs: list[dict], search: list[dict],
                    superseded: list[dict], study: dict) -> pd.DataFrame:
    """One row per C1 setting measured (``BOUNDARY_COLUMNS``), from this run's ``settings``
    (``Result.settings``), the committed runs of declared designs (``designs``), the first
    setting search, the superseded design and the boundary study's cells."""
    rows = []
    if settings is not None:
        rows += [_point("this run", r.setting, r.seeds, r.teacher_train_acc,
                        r.long_minus_teacher, r.gain, r.ci_low, r.ci_high, bool(r.in_scope))
                 for r in settings.itertuples()]
    for run in designs:
        for s in run["settings"]:
            premise = s.get("premise")
            rows.append(_point(f"run at {run['commit']} ({run['precision']})", s["setting"],
                               s["seeds"], s["teacher_train_acc"], s.get("long_minus_teacher"),
                               s["gain"], s["ci_low"], s["ci_high"],
                               None if premise is None else premise == "in scope"))
    for r in search:
        rows.append(_point("first search", r["setting"], len(r["gains"]),
                           float(np.mean(r["teacher_train_acc"])), None, r["mean_gain"],
                           r["ci_low"], r["ci_high"], None))
    for entry in superseded:
        for s in entry["record"]["numbers"]["settings"]:
            rows.append(_point("superseded design", s["setting"], s["seeds"],
                               s["teacher_train_acc"], s["long_minus_teacher"], s["gain"],
                               s["ci_low"], s["ci_high"], None))
    for cell in study.get("cells", []):
        rows.append(_point("boundary study", cell["setting"], len(cell["gains"]),
                           float(np.mean(cell["teacher_train_acc"])),
                           cell.get("long_minus_teacher"), *mean_ci(cell["gains"]), None))
    return pd.DataFrame(rows, columns=BOUNDARY_COLUMNS)


def boundary_test(study: dict) -> dict[str, Any] | None:
    """The boundary study's hypothesis, stated in its script before it ran: the gain rises with
    the teacher's fit. Kendall's τ between each seed's teacher training accuracy and its student's
    gain over all cells, with a 95% bootstrap interval that resamples the study's seeds (None
    without a study)."""
    pairs = [(fit, gain, seed) for cell in study.get("cells", [])
             for fit, gain, seed in zip(cell["teacher_train_acc"], cell["gains"], cell["seeds"])]
    if len(pairs) < 4:
        return None
    fit, gain, seeds = map(np.asarray, zip(*pairs))
    tau, low, high = rank_bootstrap(fit, gain, seeds, method="kendall")
    outcome = ("borne out" if low > 0 else "contradicted" if high < 0 else "undecided")
    return {"hypothesis": study.get("hypothesis", ""), "tau": tau, "ci_low": low,
            "ci_high": high, "pairs": len(pairs), "cells": len(study["cells"]),
            "outcome": outcome}


def boundary_sentence(test: dict[str, Any] | None) -> str:
    """What the boundary study says, computed from ``boundary_test``."""
    if test is None:
        return "the boundary study has not been run (python experiments/boundary_c1.py)"
    return (f"over {test['cells']} cells and {test['pairs']} teacher–student pairs, Kendall's τ "
            f"between the teacher's fit to its training images and the student's gain is "
            f"{test['tau']:+.2f} [{test['ci_low']:+.2f}, {test['ci_high']:+.2f}]: the stated "
            f"hypothesis that the gain rises with the teacher's fit is {test['outcome']}")


def _interval(mean: float, low: float | None, high: float | None) -> str:
    if low is None or high is None or np.isnan(low):
        return f"{mean:+.2f}"
    return f"{mean:+.2f} [{low:+.2f}, {high:+.2f}]"


def selection_history(settings: pd.DataFrame | None, selection: dict[str, Any],
                      search: list[dict], earlier: list[dict], convergence: list[dict],
                      superseded: list[dict], designs: list[dict]) -> pd.DataFrame:
    """Every setting tried for C1 at this scale, in order: the probes (as reported), the first
    setting search and the earlier profile runs (from their records), the convergence searches,
    the superseded design, every committed run of a declared design (from git), then the
    settings declared now (``settings``): the seeds each used, its result (student − teacher in
    pp with its 95% interval; for the convergence search, long teacher − teacher and the test's
    outcome), whether it is kept now and why (``selection['decisions']``)."""
    decisions = selection.get("decisions", {})
    declared = [] if settings is None else list(settings.setting)
    rows = []
    for p in selection.get("probes", []):
        gains = p.get("reported_gains") or []
        mean = float(np.mean(gains)) if gains else p.get("reported_mean_gain")
        rows.append({"setting": p["setting"], "stage": "probe", "source": p["source"],
                     "seeds": p["seeds"], "result (pp)": f"{mean:+.2f} (reported)"})
    for r in search:
        rows.append({"setting": r["setting"], "stage": "search",
                     "source": "experiments/results (record)", "seeds": r.get("seeds"),
                     "result (pp)": _interval(r["mean_gain"], r["ci_low"], r["ci_high"])})
    for r in earlier:
        rows.append({"setting": "earlier profile run", "stage": "judged (earlier design)",
                     "source": f"results/cpu at {', '.join(r['commits'])}", "seeds": r["seeds"],
                     "result (pp)": _interval(r["mean_gain"], r["ci_low"], r["ci_high"]),
                     "why": "the searched setting, judged then on seeds that overlap the "
                            "search's"})
    for r in convergence:
        rows.append({"setting": r["setting"], "stage": "convergence search (teachers only)",
                     "source": "experiments/results (record)", "seeds": r["seeds"],
                     "result (pp)": "long − teacher " + _interval(r["mean"], r["ci_low"],
                                                                  r["ci_high"])
                     + f": {r['outcome']}"})
    for entry in superseded:
        for s in entry["record"]["numbers"]["settings"]:
            rows.append({"setting": s["setting"], "stage": "declared, superseded",
                         "source": "experiments/results (record)",
                         "seeds": f"{s['seeds']} from {entry['record']['params']['first_seed']}",
                         "result (pp)": _interval(s["gain"], s["ci_low"], s["ci_high"])
                         + f"; teacher: {s['qualifier']}", "why": entry["reason"]})
    for run in designs:
        for s in run["settings"]:
            rows.append({"setting": s["setting"], "stage": f"declared, run at {run['commit']}",
                         "source": f"results/cpu at {run['commit']} ({run['date']}, "
                                   f"{run['precision']}, {run['cpu'] or run['device']})",
                         "seeds": f"{s['seeds']} from {s['first_seed']}",
                         "result (pp)": _interval(s["gain"], s["ci_low"], s["ci_high"])
                         + f"; long − teacher {s['long_minus_teacher']:+.2f}; verdict "
                         f"{run['verdict']}",
                         "why": "an earlier run; the design now judges its settings by their "
                                "premise, on fresh seeds and data"})
    if settings is not None:
        for r in settings.itertuples():
            rows.append({"setting": r.setting, "stage": "declared", "source": "this page",
                         "seeds": r.seeds, "result (pp)": _interval(r.gain, r.ci_low, r.ci_high)
                         + f"; {r.premise}"})
    table = pd.DataFrame(rows)
    if table.empty:
        return table
    table["kept"] = [s in declared and stage == "declared"
                     for s, stage in zip(table.setting, table.stage)]
    why = table["why"] if "why" in table else pd.Series([None] * len(table))
    table["why"] = [w if isinstance(w, str) else decisions.get(s, "") if s in declared
                    else "not kept" for s, w in zip(table.setting, why)]
    return table


def searched(selection: dict[str, Any], search: list[dict], convergence: list[dict]) -> int:
    """How many settings were tried for C1 before its settings were declared."""
    return len(selection.get("probes", [])) + len(search) + len(convergence)
