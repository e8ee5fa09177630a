"""Claim C1: does a self-distilled student beat its own teacher?

``plan(config)`` lists one chain per setting and seed: a teacher on the labels, then
``generations`` students, each distilled from the model before it with the same architecture and
recipe. ``analyse`` pairs every student with its own teacher (same seed) and gives the mean gain
in test accuracy with a 95% interval over seeds. The verdict (``RULES``) judges the paper's claim, the first student against its teacher; later generations (born-again
chains, our extension) are reported beside it and do not gate it. Cost: settings × seeds ×
(generations + 1) trainings, minus those already in the run store.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd
from pydantic import Field

from ..engine.stats import paired_differences, three_way
from .common import ClaimResult, Plan, generation_name, self_distillation_chains
from .config import ChainsConfig
from .runner import Study

RULES = {"C1": (
    "holds if in every setting the first student's mean test-accuracy gain over its own "
    "teacher (paired by seed) has its 95% confidence interval above 0; fails if in some "
    "setting that interval lies wholly below 0; inconclusive otherwise. Later generations "
    "(born-again chains, our extension) are reported but do not enter the verdict")}


class Config(ChainsConfig):
    """Claim C1: a teacher and its chain of self-distilled students, per setting and seed."""

    generations: int = Field(1, ge=1, le=20, description="students per chain: student 1 (the "
                             "paper's self-distilled student, judged by the verdict) and, beyond "
                             "it, born-again generations distilled each from the one before")


@dataclass
class Result(ClaimResult):
    table: pd.DataFrame  # one row per trained model
    gains: pd.DataFrame  # one row per setting and student generation

    def accuracy_table(self) -> pd.DataFrame:
        """Test accuracy (%) with seeds as rows and generations as columns, per setting."""
        wide = self.table.pivot(index=["dataset", "model", "seed"], columns="generation",
                                values="test_acc")
        wide.columns = [generation_name(g) for g in wide.columns]
        return wide.round(2)

    def summary(self) -> str:
        """One sentence per setting and generation, computed from the gains table."""
        return "\n".join(
            f"{r.dataset} · {r.model} · student {r.generation}"
            f"{' (our extension)' if r.generation > 1 else ''}: better than its teacher in "
            f"{r.students_better} of {r.seeds} seeds, mean gain {r.gain:+.2f} pp, 95% CI "
            f"[{r.ci_low:+.2f}, {r.ci_high:+.2f}]" for r in self.gains.itertuples())

    def headline(self, claim: str = "C1") -> str:
        """The first student's gain over its teacher, in the setting where it is smallest."""
        first = self.gains[self.gains.generation == 1].sort_values("gain").iloc[0]
        return (f"student − teacher {first.gain:+.2f} pp [{first.ci_low:+.2f}, "
                f"{first.ci_high:+.2f}], {first.students_better} of {first.seeds} students "
                f"better ({first.dataset}, {first.model})")

    def numbers(self, claim: str = "C1") -> dict[str, Any]:
        records = self.gains.round(4).to_dict(orient="records")
        accuracy = self.table[["dataset", "model", "seed", "generation", "test_acc", "train_acc"]]
        return {"headline": self.headline(),
                "first_student": [r for r in records if r["generation"] == 1],
                "later_generations": {
                    "note": "born-again chains: our extension, not part of the verdict",
                    "gains": [r for r in records if r["generation"] > 1]},
                "accuracy": accuracy.round(4).to_dict(orient="records")}


def plan(config: Config) -> Plan:
    return self_distillation_chains(config)


def analyse(config: Config, study: Study) -> Result:
    table = study.table()
    gains = paired_gains(table)
    return Result({"C1": verdict(gains)}, table=table, gains=gains)


def paired_gains(table: pd.DataFrame) -> pd.DataFrame:
    """Paired gains of each generation over its own teacher and over the original teacher."""
    generations = sorted(g for g in table.generation.unique() if g > 0)
    own = paired_differences(table, "test_acc", "generation",
                             {g: (g, g - 1) for g in generations}, ["dataset", "model"])
    first = paired_differences(table, "test_acc", "generation",
                               {g: (g, 0) for g in generations}, ["dataset", "model"])
    gains = own.rename(columns={"comparison": "generation", "difference": "gain",
                                "positive": "students_better"}).drop(
        columns=["negative", "baseline"])
    gains["gain_over_gen0"] = first.difference.to_numpy()
    gains["gen0_ci_low"] = first.ci_low.to_numpy()
    gains["gen0_ci_high"] = first.ci_high.to_numpy()
    return gains


def verdict(gains: pd.DataFrame) -> str:
    """The rule applied to the table of ``paired_gains``: the first student in every setting."""
    first = gains[gains.generation == 1]
    return three_way(first.ci_low, first.ci_high)


def exploration_table(explored: list[dict[str, Any]]) -> pd.DataFrame:
    """The settings searched for the cpu profile, rounded for the page."""
    if not explored:
        return pd.DataFrame({"note": ["no exploration results: run python "
                                      "experiments/explore_c1_cpu.py"]})
    table = pd.DataFrame(explored).set_index("setting")
    columns = ["teacher_train_acc", "teacher_acc", "student_acc", "gains", "mean_gain", "ci_low",
               "ci_high"]
    return table[columns].map(lambda v: [round(x, 2) for x in v] if isinstance(v, list)
                              else round(v, 2))
