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
from typing import Any, Literal

import pandas as pd
from pydantic import Field

from ..engine.specs import AVERAGES, ModelSpec, ensemble_key
from ..engine.stats import paired_differences, three_way
from .common import ClaimResult, Plan, base_spec, kd_weights
from .config import ExperimentConfig
from .runner import Study

ROLES = ("teacher", "partner", "ensemble", "student", "ensemble student", "same-init student")
COMPARISONS = {  # name: (model, baseline), paired by seed
    "student vs teacher": ("student", "teacher"),
    "same-init student vs teacher": ("same-init student", "teacher"),
    "same-init vs fresh student": ("same-init student", "student"),
    "student vs ensemble": ("student", "ensemble"),
    "ensemble vs teacher": ("ensemble", "teacher"),
    "ensemble student vs student": ("ensemble student", "student"),
}
TESTS = ("student vs ensemble", "same-init vs fresh student")  # the rule's two comparisons
RULES = {"C2": (
    "the multi-view account predicts that (a) the self-distilled student does not exceed the "
        "explicit ensemble of its teacher and an independent network, and (b) a student started "
        "from the teacher's own initial weights gains less than one started fresh. C2 holds (a "
        "contradicting example) if in some setting the student beats the ensemble (paired 95% CI "
        "of student − ensemble above 0) or the same-init student beats the fresh one (CI of "
        "same-init − fresh above 0); fails if in every setting both predictions are borne out "
        "(both CIs below 0); inconclusive otherwise")}


class Config(ExperimentConfig):
    """Claim C2 against Allen-Zhu & Li 2020: ensembles and the student's starting point."""

    ensemble_average: Literal[AVERAGES] = Field(  # type: ignore[valid-type]
        "logits", description="how the ensemble of teacher and independent network averages: "
        "logits (the networks' outputs, as in Allen-Zhu & Li) or probabilities")


@dataclass
class Result(ClaimResult):
    table: pd.DataFrame  # one row per model (or ensemble) per setting and seed
    comparisons: pd.DataFrame  # per setting and comparison: paired difference with its interval

    def accuracy_table(self) -> pd.DataFrame:
        """Test accuracy (%) with seeds as rows and roles as columns, per setting."""
        wide = self.table.pivot(index=["dataset", "model", "seed"], columns="role",
                                values="test_acc")
        return wide[list(ROLES)].round(2)

    def trained_now(self) -> pd.DataFrame:
        """How many models of each role were trained by this run."""
        return self.table.groupby("role", sort=False).trained_now.sum().to_frame("trained now")

    def headline(self, claim: str = "C2") -> str:
        """The rule's two tests, in the first setting."""
        c = self.comparisons.drop_duplicates("comparison").set_index("comparison")
        return "; ".join(f"{name} {c.loc[name, 'difference']:+.2f} pp "
                         f"[{c.loc[name, 'ci_low']:+.2f}, {c.loc[name, 'ci_high']:+.2f}]"
                         for name in TESTS)

    def numbers(self, claim: str = "C2") -> dict[str, Any]:
        accuracy = self.table[["dataset", "model", "seed", "role", "test_acc"]]
        return {"headline": self.headline(),
                "comparisons": self.comparisons.round(4).to_dict(orient="records"),
                "accuracy": accuracy.round(4).to_dict(orient="records")}


def seed_specs(config: Config, dataset: str, model: str, seed: int) -> dict[str, ModelSpec]:
    """The spec of every trained role for one setting and seed."""
    kd = kd_weights(config)
    teacher = base_spec(config, dataset, model, seed)
    partner = base_spec(config, dataset, model, seed + config.seeds)
    student = teacher.student(teacher.key, kd)
    return {"teacher": teacher, "partner": partner, "student": student,
            "same-init student": dataclasses.replace(student, init_seed=teacher.training_seed),
            "ensemble student": teacher.student(
                ensemble_key([teacher.key, partner.key], config.ensemble_average), kd)}


def _all_specs(config: Config) -> list[tuple[str, str, int, dict[str, ModelSpec]]]:
    return [(dataset, model, seed, seed_specs(config, dataset, model, seed))
            for dataset in config.datasets for model in config.models
            for seed in range(config.first_seed, config.first_seed + config.seeds)]


def plan(config: Config) -> Plan:
    chains = []
    for *_, specs in _all_specs(config):
        chains += [[specs["teacher"], specs["student"], specs["same-init student"]],
                   [specs["partner"]], [specs["ensemble student"]]]
    return chains


def analyse(config: Config, study: Study) -> Result:
    rows = []
    for *_, seed, specs in _all_specs(config):
        roles = {role: study[spec] for role, spec in specs.items()}
        roles["ensemble"] = study.lab.ensemble([roles["teacher"], roles["partner"]],
                                               config.ensemble_average)
        # paired by the setting's seed (a partner is trained with another)
        rows += [{**roles[role].row(), "seed": seed, "role": role} for role in ROLES]
    table = pd.DataFrame(rows)
    comparisons = role_comparisons(table)
    return Result({"C2": verdict(comparisons)}, table=table, comparisons=comparisons)


def role_comparisons(table: pd.DataFrame) -> pd.DataFrame:
    """Per setting, the paired differences of COMPARISONS with 95% intervals."""
    return paired_differences(table, "test_acc", "role", COMPARISONS, ["dataset", "model"])


def verdict(comparisons: pd.DataFrame) -> str:
    """The rule applied to the table of ``role_comparisons``: a counterexample suffices."""
    tests = comparisons[comparisons.comparison.isin(TESTS)]
    return three_way(tests.ci_low, tests.ci_high, sign=1, need="any")


@dataclass
class Exploration:
    """The multi-view exploration (``experiments/explore_c2_multiview.py``), every dataset."""

    accuracy: pd.DataFrame  # every role's test accuracy
    comparisons: pd.DataFrame  # the paired comparisons

    @classmethod
    def of(cls, explored: list[dict[str, Any]]) -> "Exploration":
        if not explored:
            return cls(pd.DataFrame(), pd.DataFrame())
        return cls(pd.concat([pd.DataFrame(r["accuracy"]) for r in explored]),
                   pd.concat([pd.DataFrame(r["comparisons"]) for r in explored]))

    def table(self) -> pd.DataFrame:
        """Each comparison's mean difference and interval (pp), datasets as columns."""
        if self.comparisons.empty:
            return pd.DataFrame({"note": ["no exploration results: run python "
                                          "experiments/explore_c2_multiview.py"]})
        return self.comparisons.pivot(index="comparison", columns="dataset",
                                      values=["difference", "ci_low", "ci_high"]
                                      ).map("{:+.2f}".format)

    def texts(self) -> dict[str, str]:
        """The student's gain per explored dataset, as the page's prose quotes it."""
        if self.comparisons.empty:
            return {"c2_views": "not measured (run the exploration)"}
        gains = self.comparisons[self.comparisons.comparison == "student vs teacher"]
        return {"c2_views": "; ".join(f"{r.dataset}: {r.difference:+.2f} pp [{r.ci_low:+.2f}, "
                                      f"{r.ci_high:+.2f}]" for r in gains.itertuples())}
