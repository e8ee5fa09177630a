"""The flatness analysis that claims C3 and C4 share, whatever measures a notebook takes.

For a table of models (one row per model: setting, seed, generation, accuracy, generalization
gap and flatness measures), ``paired_changes`` gives the mean change of each measure from each
teacher to its own student over seeds, ``rank_correlations`` Spearman's ρ of each measure with
accuracy and gap over all models, and ``verdicts`` reads both by the notebooks' rules. Cost:
a bootstrap of 2,000 resamples per correlation.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from ..engine.stats import paired_differences, spearman_bootstrap, three_way


def paired_changes(table: pd.DataFrame, measures: tuple[str, ...]) -> pd.DataFrame:
    """Mean change of each measure from each teacher to its student, over seeds, with 95% CI."""
    generations = sorted(g for g in table.generation.unique() if g > 0)
    parts = []
    for name in measures:
        part = paired_differences(table, name, "generation", {g: (g, g - 1) for g in generations},
                                  ["dataset", "model"])
        part.insert(2, "measure", name)
        parts.append(part)
    changes = pd.concat(parts, ignore_index=True).rename(
        columns={"comparison": "generation", "difference": "change",
                 "negative": "students_flatter"})
    changes["relative"] = changes.change / changes.baseline
    return changes.drop(columns=["positive", "baseline"])


def rank_correlations(table: pd.DataFrame, measures: tuple[str, ...],
                      targets: tuple[str, ...] = ("test_acc", "gap")) -> pd.DataFrame:
    """Spearman's ρ of each measure with each target over all models, with bootstrap intervals."""
    rows = []
    for measure_name in measures:
        for target in targets:
            rho, lo, hi = spearman_bootstrap(table[measure_name].to_numpy(),
                                             table[target].to_numpy())
            rows.append({"measure": measure_name, "target": target, "models": len(table),
                         "rho": rho, "ci_low": lo, "ci_high": hi})
    return pd.DataFrame(rows)


def verdicts(changes: pd.DataFrame, correlations: pd.DataFrame) -> dict[str, str]:
    """C3: every change negative; C4: every correlation with accuracy negative."""
    accuracy = correlations[correlations.target == "test_acc"]
    return {"C3": three_way(changes.ci_low, changes.ci_high, sign=-1),
            "C4": three_way(accuracy.ci_low, accuracy.ci_high, sign=-1)}


def flatness_numbers(result: Any, claim: str, columns: list[str]) -> dict[str, Any]:
    """The record's numbers of a flatness result: headline, paired changes, correlations and
    the ``columns`` of every model's row."""
    return {"headline": result.headline(claim),
            "changes": result.changes.round(6).to_dict(orient="records"),
            "correlations": result.correlations.round(4).to_dict(orient="records"),
            "models": result.table[columns].round(6).to_dict(orient="records")}
