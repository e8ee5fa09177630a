"""Claim C2 against the multi-view account of self-distillation (Allen-Zhu & Li 2020).

For each setting and seed s: the teacher and its self-distilled student (C1's models), an
independently trained network of the same architecture (the teacher of seed s + seeds, so partners
never coincide with the experiment's own teachers), their explicit ensemble, a student distilled
from that ensemble, and a student distilled from the teacher that starts from the teacher's own
initial weights. Cost per setting and seed: at most five trainings (teacher, student, partner,
ensemble student, same-init student), minus those already in the run store.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import pandas as pd

from .config import MultiViewConfig
from .lab import Lab, Trained, base_spec, kd_weights
from .stats import mean_ci

ROLES = ("teacher", "partner", "ensemble", "student", "ensemble student", "same-init student")
COMPARISONS = {  # name: (model, baseline), paired by seed
    "student vs teacher": ("student", "teacher"),
    "same-init student vs teacher": ("same-init student", "teacher"),
    "same-init vs fresh student": ("same-init student", "student"),
    "student vs ensemble": ("student", "ensemble"),
    "ensemble vs teacher": ("ensemble", "teacher"),
    "ensemble student vs student": ("ensemble student", "student"),
}
RULE = ("the multi-view account predicts that (a) the self-distilled student does not exceed the "
        "explicit ensemble of its teacher and an independent network, and (b) a student started "
        "from the teacher's own initial weights gains less than one started fresh. C2 holds (a "
        "contradicting example) if in some setting the student beats the ensemble (paired 95% CI "
        "of student − ensemble above 0) or the same-init student beats the fresh one (CI of "
        "same-init − fresh above 0); fails if in every setting both predictions are borne out "
        "(both CIs below 0); inconclusive otherwise")


@dataclass
class MultiViewResult:
    table: pd.DataFrame  # one row per model (or ensemble) per setting and seed
    comparisons: pd.DataFrame  # per setting and comparison: paired difference with its interval
    verdict: str
    device: str
    rule: str = RULE

    def accuracy_table(self) -> pd.DataFrame:
        """Test accuracy (%) with seeds as rows and roles as columns, per setting."""
        wide = self.table.pivot(index=["dataset", "model", "seed"], columns="role",
                                values="test_acc")
        return wide[list(ROLES)].round(2)

    def headline(self) -> str:
        """The rule's two tests, in the first setting."""
        c = self.comparisons.drop_duplicates("comparison").set_index("comparison")
        parts = [f"{name} {c.loc[name, 'difference']:+.2f} pp [{c.loc[name, 'ci_low']:+.2f}, "
                 f"{c.loc[name, 'ci_high']:+.2f}]"
                 for name in ("student vs ensemble", "same-init vs fresh student")]
        return "; ".join(parts)

    def numbers(self) -> dict:
        accuracy = self.table[["dataset", "model", "seed", "role", "test_acc"]]
        return {"headline": self.headline(),
                "comparisons": self.comparisons.round(4).to_dict(orient="records"),
                "accuracy": accuracy.round(4).to_dict(orient="records")}


def setting_models(lab: Lab, config: MultiViewConfig, dataset: str,
                   model: str) -> dict[int, dict[str, Trained]]:
    """Every role's model for each seed of one setting (trained or loaded), role by role so that
    the models of a role train together."""
    kd = kd_weights(config)
    seeds = range(config.first_seed, config.first_seed + config.seeds)
    teachers = lab.get_many([base_spec(config, dataset, model, s) for s in seeds])
    partners = lab.get_many([base_spec(config, dataset, model, s + config.seeds) for s in seeds])
    ensembles = [lab.ensemble([t, p], config.ensemble_average) for t, p in zip(teachers, partners)]
    students = [t.spec.student(t.key, kd) for t in teachers]
    same_init = [dataclasses.replace(s, init_seed=t.spec.training_seed)
                 for s, t in zip(students, teachers)]
    distilled = lab.get_many(students + same_init, teachers + teachers)
    from_ensembles = lab.get_many([t.spec.student(e.key, kd) for t, e in zip(teachers, ensembles)],
                                  ensembles)
    n = len(teachers)
    return {seed: {"teacher": teachers[i], "partner": partners[i], "ensemble": ensembles[i],
                   "student": distilled[i], "ensemble student": from_ensembles[i],
                   "same-init student": distilled[n + i]}
            for i, seed in enumerate(seeds)}


def run(config: MultiViewConfig, lab: Lab | None = None) -> MultiViewResult:
    lab = lab or Lab.from_config(config)
    table = pd.DataFrame([
        {"dataset": dataset, "model": model, "seed": seed, "role": role, **trained.row()}
        for dataset in config.datasets for model in config.models
        for seed, roles in setting_models(lab, config, dataset, model).items()
        for role, trained in roles.items()])
    comparisons = analyse(table)
    return MultiViewResult(table, comparisons, verdict(comparisons), str(lab.device))


def analyse(table: pd.DataFrame) -> pd.DataFrame:
    """Per setting, the paired differences of COMPARISONS with 95% Student-t intervals."""
    rows = []
    for (dataset, model), group in table.groupby(["dataset", "model"], sort=False):
        acc = group.pivot(index="seed", columns="role", values="test_acc")
        for name, (a, b) in COMPARISONS.items():
            diffs = (acc[a] - acc[b]).tolist()
            mean, lo, hi = mean_ci(diffs)
            rows.append({"dataset": dataset, "model": model, "comparison": name,
                         "difference": mean, "ci_low": lo, "ci_high": hi, "seeds": len(diffs),
                         "positive": sum(d > 0 for d in diffs)})
    return pd.DataFrame(rows)


def verdict(comparisons: pd.DataFrame) -> str:
    """RULE applied to the table of ``analyse``."""
    tests = comparisons[comparisons.comparison.isin(["student vs ensemble",
                                                     "same-init vs fresh student"])]
    if (tests.ci_low > 0).any():
        return "holds"
    per_setting = tests.groupby(["dataset", "model"]).ci_high.max()
    return "fails" if (per_setting < 0).all() else "inconclusive"
