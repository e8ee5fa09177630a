"""The flatness analysis that claims C3 and C4 share, whatever measures a notebook takes.

A notebook gives a table of models (one row per model: setting, seed, generation, accuracy,
generalization gap and flatness measures) and, per measure, which sign of a change means
*flatter* (``Measure``). Then:

- ``paired_changes``: per setting and measure, the mean change from each teacher to its own
  student over seeds, with its 95% interval, its t-test p-value, and the seeds where the student
  is flatter;
- ``c3_verdict``: the page's C3 from its judged measures: each (measure, setting) test is decided
  at a family-wise 5% by Holm's correction (flatter, sharper or unresolved); *holds* if every test
  says flatter, *fails* if some says sharper and none flatter, *mixed* if some say each,
  *inconclusive* otherwise;
- ``within_pairs`` and ``c4_verdict``: C4 as a mechanism. Over the teacher–student pairs (seeds,
  in every setting), how much each student flattened against how much it gained in test
  accuracy (Spearman's ρ, bootstrap resampling seeds within settings, Bonferroni over the judged
  measures); *holds* only if the students gain (C1 on these models: every setting's interval above
  0), the page's C3 holds and every judged measure's flattening correlates positively with the
  gain; *fails* if students that gain are sharper, students that are flatter lose, or some
  flattening correlates negatively with the gain; *inconclusive* otherwise;
- ``rank_correlations``: exploratory, every measure against test accuracy and the gap over all
  models pooled (teachers and students), the bootstrap resampling seeds.

Cost: 2,000 bootstrap resamples per correlation.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ..engine.specs import ModelSpec
from ..engine.stats import holm, paired_differences, rank_bootstrap, t_test_p, three_way
from .common import self_distillation_chains
from .config import FlatnessConfig

# C4 on either page: a mechanism within the pairs, that cannot hold where C1 or C3 does not
C4_RULE = ("holds only if, on these models, the first students gain in test accuracy (every "
           "setting's 95% interval above 0), this page's C3 holds, and for each judged measure "
           "the students' flattening correlates positively with their gain over the "
           "teacher–student pairs (Spearman's ρ, bootstrap resampling seeds, Bonferroni-"
           "adjusted interval above 0); fails if students that gain are sharper (C3 fails), "
           "students that are flatter lose, or some correlation's interval lies below 0; "
           "inconclusive otherwise. The pooled correlation over all models is exploratory")

ALPHA = 0.05
MIN_PAIRS = 6  # fewer teacher–student pairs give a within-pair correlation no interval


@dataclass(frozen=True)
class Measure:
    """A flatness measure: its column, how the page names it, the sign of a change that means
    flatter (−1: lower is flatter; +1: higher is), and whether C3's verdict reads it."""

    column: str
    label: str
    flatter: int = -1
    judged: bool = True


def measured_chains(config: FlatnessConfig) -> list[tuple[str, list[ModelSpec]]]:
    """C1's chains that the flatness notebooks measure: the first ``measured_seeds`` of each
    declared setting named in ``measured_settings`` (all if empty), with the setting's name."""
    chains = self_distillation_chains(config, config.measured_seeds)
    wanted = config.measured_settings
    return [(name, chain) for name, chain in chains if not wanted or name in wanted]


def paired_changes(table: pd.DataFrame, measures: list[Measure]) -> pd.DataFrame:
    """Per setting, measure and student generation: the mean change from each teacher (the model
    of the generation before) to its student over seeds, with its 95% interval, p-value, the
    seeds where the student is flatter, and the change relative to the teachers' mean."""
    generations = sorted(g for g in table.generation.unique() if g > 0)
    parts = []
    for m in measures:
        part = paired_differences(table, m.column, "generation",
                                  {g: (g, g - 1) for g in generations}, ["setting"])
        if part.empty:
            continue
        part.insert(1, "measure", m.column)
        part["p"] = [t_test_p(_diffs(table, m.column, r.setting, r.comparison))
                     for r in part.itertuples()]
        part["students_flatter"] = part.negative if m.flatter < 0 else part.positive
        part["relative"] = part.difference / part.baseline
        parts.append(part)
    changes = pd.concat(parts, ignore_index=True).rename(
        columns={"comparison": "generation", "difference": "change"})
    return changes.drop(columns=["positive", "negative"])


def _diffs(table: pd.DataFrame, column: str, setting: str, generation: int) -> list[float]:
    wide = table[table.setting == setting].pivot(index="seed", columns="generation",
                                                 values=column)
    return (wide[generation] - wide[generation - 1]).dropna().tolist()


def judge(changes: pd.DataFrame, measures: list[Measure]) -> pd.DataFrame:
    """The judged measures' tests of the first student (generation 1), each decided with Holm's
    correction over them all: ``flatter``, ``sharper`` or ``unresolved``."""
    flatter = {m.column: m.flatter for m in measures if m.judged}
    tests = changes[(changes.generation == 1) & changes.measure.isin(flatter)].copy()
    rejected = holm(tests.p.tolist(), ALPHA)
    tests["decision"] = [
        "unresolved" if not r else
        "flatter" if np.sign(row.change) == flatter[row.measure] else "sharper"
        for r, row in zip(rejected, tests.itertuples())]
    return tests


def c3_verdict(tests: pd.DataFrame) -> str:
    """holds, fails, mixed or inconclusive from ``judge``'s decisions (see the module's doc)."""
    decisions = set(tests.decision)
    if not len(tests):
        return "inconclusive"
    if decisions == {"flatter"}:
        return "holds"
    if "flatter" in decisions and "sharper" in decisions:
        return "mixed"
    return "fails" if "sharper" in decisions else "inconclusive"


def c3_reading(tests: pd.DataFrame, labels: dict[str, str]) -> str:
    """Which judged measures say flatter, sharper or nothing, in words."""
    parts = []
    for decision in ("flatter", "sharper", "unresolved"):
        named = sorted({f"{labels[r.measure]} ({r.setting})" for r in tests.itertuples()
                        if r.decision == decision})
        if named:
            parts.append(f"{decision}: {', '.join(named)}")
    return "; ".join(parts) or "no judged measure"


def within_pairs(table: pd.DataFrame, measures: list[Measure]) -> pd.DataFrame:
    """Per judged measure: Spearman's ρ over teacher–student pairs (first students) between the
    student's flattening (the change in the measure, signed so that positive is flatter) and its
    gain in test accuracy, with a bootstrap interval resampling seeds within settings at the
    Bonferroni level for the judged measures (no interval below ``MIN_PAIRS`` pairs)."""
    judged = [m for m in measures if m.judged]
    level = 1 - ALPHA / max(1, len(judged))
    pairs = table[table.generation.isin([0, 1])]
    rows = []
    for m in judged:
        wide = pairs.pivot_table(index=["setting", "seed"], columns="generation",
                                 values=[m.column, "test_acc"])
        flattening = m.flatter * (wide[(m.column, 1)] - wide[(m.column, 0)])
        gain = wide[("test_acc", 1)] - wide[("test_acc", 0)]
        clusters = [f"{s}|{seed}" for s, seed in wide.index]
        rho, low, high = rank_bootstrap(flattening.to_numpy(), gain.to_numpy(), clusters, level)
        if len(wide) < MIN_PAIRS:  # a bootstrap over so few pairs only repeats them
            low = high = np.nan
        rows.append({"measure": m.column, "pairs": len(wide), "rho": rho, "ci_low": low,
                     "ci_high": high, "level": level})
    return pd.DataFrame(rows)


def student_gains(table: pd.DataFrame) -> pd.DataFrame:
    """Per setting, the first students' paired gain in test accuracy on the measured models."""
    return paired_differences(table, "test_acc", "generation", {1: (1, 0)}, ["setting"])


def c4_verdict(gains: pd.DataFrame, c3: str, correlations: pd.DataFrame) -> str:
    """C4 as a mechanism (see the module's doc): never *holds* where C1 or C3 does not."""
    gain = three_way(gains.ci_low, gains.ci_high)
    negative = bool((correlations.ci_high < 0).any())
    positive = len(correlations) > 0 and bool((correlations.ci_low > 0).all())
    if (gain == "holds" and c3 == "fails") or (gain == "fails" and c3 == "holds") or negative:
        return "fails"
    return "holds" if gain == "holds" and c3 == "holds" and positive else "inconclusive"


def rank_correlations(table: pd.DataFrame, measures: list[Measure],
                      targets: tuple[str, ...] = ("test_acc", "gap")) -> pd.DataFrame:
    """Exploratory: Spearman's ρ of each measure with each target over every model pooled, with
    a 95% bootstrap interval resampling seeds (a teacher and its student go together)."""
    clusters = [f"{s}|{seed}" for s, seed in zip(table.setting, table.seed)]
    rows = []
    for m in measures:
        for target in targets:
            rho, low, high = rank_bootstrap(table[m.column].to_numpy(), table[target].to_numpy(),
                                            clusters)
            rows.append({"measure": m.column, "target": target, "models": len(table),
                         "rho": rho, "ci_low": low, "ci_high": high})
    return pd.DataFrame(rows)


@dataclass
class FlatnessAnalysis:
    """Everything the flatness pages show and record, from one table of models."""

    changes: pd.DataFrame
    tests: pd.DataFrame
    within: pd.DataFrame
    gains: pd.DataFrame
    correlations: pd.DataFrame
    verdicts: dict[str, str]
    reading: str

    @classmethod
    def of(cls, table: pd.DataFrame, measures: list[Measure]) -> "FlatnessAnalysis":
        changes = paired_changes(table, measures)
        tests = judge(changes, measures)
        c3 = c3_verdict(tests)
        within = within_pairs(table, measures)
        gains = student_gains(table)
        return cls(changes, tests, within, gains, rank_correlations(table, measures),
                   {"C3": c3, "C4": c4_verdict(gains, c3, within)},
                   c3_reading(tests, {m.column: m.label for m in measures}))

    def headline(self, claim: str) -> str:
        if claim == "C3":
            return self.reading
        parts = [f"{r.measure} ρ {r.rho:+.2f} [{r.ci_low:+.2f}, {r.ci_high:+.2f}]"
                 for r in self.within.itertuples()]
        gain = "; ".join(f"{r.setting} {r.difference:+.2f} pp [{r.ci_low:+.2f}, "
                         f"{r.ci_high:+.2f}]" for r in self.gains.itertuples())
        return (f"students' gain {gain}; C3 {self.verdicts['C3']}; flattening against gain "
                f"within pairs: " + "; ".join(parts))

    def measures_table(self, measures: list[Measure]) -> pd.DataFrame:
        """Every measure's paired change of the first students, with its interval, p-value, the
        seeds where the student is flatter and the judged tests' Holm decision ("reported" for
        the measures the verdict does not read)."""
        labels = {m.column: m.label for m in measures}
        first = self.changes[self.changes.generation == 1].copy()
        decided = self.tests.set_index(["setting", "measure"]).decision
        first["decision"] = [decided.get((r.setting, r.measure), "reported")
                             for r in first.itertuples()]
        first["measure"] = first.measure.map(labels)
        columns = ["setting", "measure", "seeds", "baseline", "change", "ci_low", "ci_high", "p",
                   "students_flatter", "relative", "decision"]
        return first[columns].round(4)

    def numbers(self, claim: str, models: pd.DataFrame) -> dict[str, Any]:
        return {"headline": self.headline(claim),
                "changes": self.changes.round(6).to_dict(orient="records"),
                "tests": self.tests.round(6).to_dict(orient="records"),
                "within_pairs": self.within.round(4).to_dict(orient="records"),
                "student_gains": self.gains.round(4).to_dict(orient="records"),
                "pooled_correlations (exploratory)": self.correlations.round(4).to_dict(
                    orient="records"),
                "models": models.round(6).to_dict(orient="records")}
