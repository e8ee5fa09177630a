"""Claim C1: does a self-distilled student beat its own teacher?

``run(config)`` trains (or loads from the run store) one chain per setting and seed: a teacher on
the labels, then ``generations`` students, each distilled from the model before it with the same
architecture and recipe. ``analyse`` pairs every student with its own teacher (same seed) and gives
the mean gain in test accuracy with a 95% Student-t interval over seeds; ``verdict`` applies RULE.
Cost: settings × seeds × (generations + 1) trainings, minus those already in the store.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from .config import StudentBeatsTeacherConfig
from .lab import Lab
from .stats import mean_ci

RULE = ("holds if in every setting every generation's mean test-accuracy gain over its own teacher "
        "(paired by seed) is > 0 with its 95% confidence interval above 0; fails if in some "
        "setting a generation's interval lies wholly below 0; inconclusive otherwise")


@dataclass
class StudentTeacherResult:
    table: pd.DataFrame  # one row per trained model
    gains: pd.DataFrame  # one row per setting and student generation
    verdict: str
    device: str
    rule: str = RULE

    def accuracy_table(self) -> pd.DataFrame:
        """Test accuracy (%) with seeds as rows and generations as columns, per setting."""
        wide = self.table.pivot(index=["dataset", "model", "seed"], columns="generation",
                                values="test_acc")
        wide.columns = ["teacher" if g == 0 else f"student {g}" for g in wide.columns]
        return wide.round(2)

    def summary(self) -> str:
        """One sentence per setting and generation, computed from the gains table."""
        lines = []
        for _, r in self.gains.iterrows():
            lines.append(f"{r.dataset} · {r.model} · student {r.generation}: better than its "
                         f"teacher in {r.students_better} of {r.seeds} seeds, mean gain "
                         f"{r.gain:+.2f} pp, 95% CI [{r.ci_low:+.2f}, {r.ci_high:+.2f}]")
        return "\n".join(lines)

    def headline(self) -> str:
        """The first student's gain over its teacher, in the setting where it is smallest."""
        first = self.gains[self.gains.generation == 1].sort_values("gain").iloc[0]
        return (f"gen-1 gain {first.gain:+.2f} pp [{first.ci_low:+.2f}, {first.ci_high:+.2f}] "
                f"({first.dataset}, {first.model}, {int(first.seeds)} seeds)")

    def numbers(self) -> dict:
        accuracy = self.table[["dataset", "model", "seed", "generation", "test_acc", "train_acc"]]
        return {"headline": self.headline(),
                "gains": self.gains.round(4).to_dict(orient="records"),
                "accuracy": accuracy.round(4).to_dict(orient="records")}


def run(config: StudentBeatsTeacherConfig, lab: Lab | None = None) -> StudentTeacherResult:
    lab = lab or Lab.from_config(config)
    table = pd.DataFrame([
        {"dataset": dataset, "model": model, "seed": seed, "generation": trained.spec.generation,
         **trained.row(), "gap": trained.metrics["train_acc"] - trained.metrics["test_acc"],
         "wall_s": trained.metrics["wall_s"]}
        for dataset, model, seed, chain in lab.all_chains(config) for trained in chain])
    gains = analyse(table)
    return StudentTeacherResult(table, gains, verdict(gains), str(lab.device))


def analyse(table: pd.DataFrame) -> pd.DataFrame:
    """Paired gains of each generation over its own teacher and over the original teacher."""
    rows = []
    for (dataset, model), group in table.groupby(["dataset", "model"], sort=False):
        acc = group.pivot(index="seed", columns="generation", values="test_acc")
        for g in acc.columns[1:]:
            over_teacher = (acc[g] - acc[g - 1]).tolist()
            over_first = (acc[g] - acc[0]).tolist()
            mean, lo, hi = mean_ci(over_teacher)
            mean0, lo0, hi0 = mean_ci(over_first)
            rows.append({"dataset": dataset, "model": model, "generation": int(g),
                         "seeds": len(over_teacher), "gain": mean, "ci_low": lo, "ci_high": hi,
                         "students_better": sum(d > 0 for d in over_teacher),
                         "gain_over_gen0": mean0, "gen0_ci_low": lo0, "gen0_ci_high": hi0})
    return pd.DataFrame(rows)


def verdict(gains: pd.DataFrame) -> str:
    """RULE applied to the table of ``analyse``."""
    if (gains.ci_high < 0).any():
        return "fails"
    if (gains.ci_low > 0).all():
        return "holds"
    return "inconclusive"
