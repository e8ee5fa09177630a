"""The flatness analysis that claims C3 and C4 share, whatever measures a notebook takes.

A notebook gives a table of models (one row per measured model: setting, seed, role, accuracy,
generalization gap, training loss and flatness measures) and, per measure, which sign of a
change means *flatter* and whether it is invariant to rescaling the weights, which alone lets
it decide (``Measure``). The roles are C1's (``roles``): the teacher, its distilled student, the
label-smoothing student, the long teacher, the knowledge-control students, and SAM's pair.

- ``paired_changes``: per setting, measure and role, the mean change from each teacher to the
  model of that role over seeds, with its 95% interval, p-value and the seeds where it is
  flatter;
- ``judge`` and ``c3_verdict``: C3 from the judged measures' changes of the distilled student,
  each (measure, setting) test decided at a family-wise 5% by Holm's correction (flatter, sharper
  or unresolved); *holds* if every test says flatter, *fails* if some says sharper and none
  flatter, *mixed* if some say each, *inconclusive* otherwise (``combined`` decides the tests of
  both flatness pages again as one family for the dashboard);
- ``contrast`` and ``c4_verdict``: C4 by contrast, declared before the run: if flatness explains
  the gain, every role that gains over the teacher (its gain's 95% interval above 0, among the
  distilled, label-smoothing, knowledge-control students and the long teacher) is flatter on every
  judged measure — an intersection-union test, each component one-sided at 5% — and no role is
  flatter without gaining. *Holds* if the distilled student gains and every component is flatter;
  *fails* if a gaining role is sharper on some judged measure (Holm over those tests) or a role
  flatter on every judged measure does not gain (its gain below 0, or within ±margin of 0);
  *inconclusive* otherwise. Each component's minimum detectable change is stated;
- ``sam_arm``: C4 by intervention, reported beside the verdict: a SAM teacher against the plain
  teacher (accuracy and every judged measure) and its student against it;
- ``rank_correlations``: exploratory, every measure against test accuracy and the gap over all
  models pooled.

Cost: trivial, and 2,000 bootstrap resamples per correlation.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ..engine.specs import ModelSpec
from ..engine.stats import (
    equivalence,
    holm,
    mean_ci,
    minimum_detectable_effect,
    one_sided_p,
    rank_bootstrap,
    t_test_p,
)
from . import roles
from .common import settings_and_seeds
from .config import FlatnessConfig
from .roles import SAM_STUDENT, SAM_TEACHER, STUDENT, TEACHER

ALPHA = 0.05
C3_RULE = ("per measured setting, the distilled student's paired change (student − its teacher, "
           "by seed) in every judged measure — only measures that rescaling the weights through "
           "BatchNorm cannot change — each tested by a t-test with Holm's correction over every "
           "(measure, setting) test at a family-wise 5%: holds if every test says the student is "
           "flatter; fails if some says sharper and none flatter; mixed if some say each; "
           "inconclusive otherwise. Scale-dependent measures are reported beside them, never "
           "judged")
C4_RULE = ("C4 by contrast, declared before the run: if flatness is why the student generalizes "
           "better, every role that gains over the teacher (its gain's 95% interval above 0, "
           "among the distilled, label-smoothing and knowledge-control students and the long "
           "teacher) is flatter than the teacher on every judged measure, and no role is flatter "
           "without gaining. Holds if the distilled student gains and each (role, measure) "
           "component is flatter, one-sided at 5% (an intersection-union test); fails if a "
           "gaining role is sharper on some judged measure (Holm over those tests at 5%) or a "
           "role flatter on every judged measure does not gain (its gain's interval below 0, or "
           "equivalent to 0 within ±equivalence_margin); inconclusive otherwise. The SAM arm (a "
           "teacher trained with sharpness-aware minimization, and its student) is reported "
           "beside it, outside the verdict")
CONTRAST_ROLES = (STUDENT, roles.SMOOTHED, roles.CLASS_MEAN, roles.SHUFFLED, roles.LONG)


@dataclass(frozen=True)
class Measure:
    """A flatness measure: its column, how the page names it, the sign of a change that means
    flatter (−1: lower is flatter; +1: higher is), and whether the verdicts read it (only
    measures invariant to rescaling the weights may)."""

    column: str
    label: str
    flatter: int = -1
    judged: bool = True


@dataclass(frozen=True)
class Measured:
    """One model a flatness page measures."""

    setting: str
    seed: int
    role: str
    spec: ModelSpec


def measured_models(config: FlatnessConfig) -> list[Measured]:
    """The models of C1's roles (``config.roles``) that a flatness page measures: the first
    ``measured_seeds`` seeds of each declared setting named in ``measured_settings`` (all if
    empty), in that order."""
    out = []
    wanted = set(config.roles)
    for name, setting, seed in settings_and_seeds(config):
        if config.measured_settings and name not in config.measured_settings:
            continue
        if config.measured_seeds and seed >= setting.first_seed + config.measured_seeds:
            continue
        specs = roles.seed_specs(setting, seed, 1, knowledge=bool(wanted & set(roles.KNOWLEDGE)),
                                 sam_rho=config.sam_rho)
        out += [Measured(name, seed, role, specs[role]) for role in config.roles]
    return out


def _wide(table: pd.DataFrame, column: str, setting: str) -> pd.DataFrame:
    return table[table.setting == setting].pivot(index="seed", columns="role", values=column)


def _diffs(table: pd.DataFrame, column: str, setting: str, role: str,
           baseline: str = TEACHER) -> list[float]:
    wide = _wide(table, column, setting)
    if role not in wide or baseline not in wide:
        return []
    return (wide[role] - wide[baseline]).dropna().tolist()


def paired_changes(table: pd.DataFrame, measures: list[Measure]) -> pd.DataFrame:
    """Per setting, measure and role (each against the teacher of its seed): the mean change,
    its 95% interval, the two-sided p-value, the seeds where the role is flatter, the teachers'
    mean and the change relative to it, and the minimum detectable change (80% power)."""
    rows = []
    for setting in table.setting.unique():
        teachers = table[(table.setting == setting) & (table.role == TEACHER)]
        for role in [r for r in table.role.unique() if r != TEACHER]:
            for m in measures:
                d = _diffs(table, m.column, setting, role)
                if not d:
                    continue
                mean, low, high = mean_ci(d)
                base = float(teachers[m.column].mean())
                flatter = int(sum(np.sign(d) == m.flatter))
                sd = float(np.std(d, ddof=1)) if len(d) > 1 else math.nan
                rows.append({"setting": setting, "role": role, "measure": m.column,
                             "seeds": len(d), "baseline": base, "change": mean, "ci_low": low,
                             "ci_high": high, "p": t_test_p(d), "flatter_sign": m.flatter,
                             "judged": m.judged, "role_flatter": flatter,
                             "relative": mean / base if base else math.nan,
                             "mde_80": minimum_detectable_effect(sd, len(d))})
    return pd.DataFrame(rows)


def judge(changes: pd.DataFrame) -> pd.DataFrame:
    """The judged measures' tests of the distilled student, each decided with Holm's correction
    over them all: ``flatter``, ``sharper`` or ``unresolved``."""
    tests = changes[(changes.role == STUDENT) & changes.judged].copy()
    return decide(tests)


def decide(tests: pd.DataFrame) -> pd.DataFrame:
    """``tests`` (rows of ``paired_changes``) decided as one family by Holm's correction."""
    tests = tests.copy()
    rejected = holm(tests.p.tolist(), ALPHA)
    tests["decision"] = ["unresolved" if not r else "flatter"
                         if np.sign(row.change) == row.flatter_sign else "sharper"
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


def gains(table: pd.DataFrame, margin: float) -> pd.DataFrame:
    """Per setting and role, the paired gain in test accuracy over the teacher, its interval and
    the equivalence test at ``margin``."""
    rows = []
    for setting in table.setting.unique():
        for role in [r for r in table.role.unique() if r != TEACHER]:
            d = _diffs(table, "test_acc", setting, role)
            if d:
                mean, low, high = mean_ci(d)
                rows.append({"setting": setting, "role": role, "seeds": len(d), "gain": mean,
                             "ci_low": low, "ci_high": high,
                             "equivalence": equivalence(d, margin)[0]})
    return pd.DataFrame(rows)


def contrast(table: pd.DataFrame, measures: list[Measure], gained: pd.DataFrame
             ) -> pd.DataFrame:
    """C4's components: per setting, role of ``CONTRAST_ROLES`` and judged measure, the role's
    gain over the teacher (interval, equivalence) and its flattening (the change signed so that
    positive is flatter) with the one-sided p-values of flatter and of sharper and the minimum
    detectable flattening."""
    gain = gained.set_index(["setting", "role"])
    rows = []
    for (setting, role), g in gain.iterrows():
        if role not in CONTRAST_ROLES:
            continue
        for m in (m for m in measures if m.judged):
            d = [m.flatter * x for x in _diffs(table, m.column, setting, role)]
            if not d:
                continue
            sd = float(np.std(d, ddof=1)) if len(d) > 1 else math.nan
            mean, low, high = mean_ci(d)
            rows.append({"setting": setting, "role": role, "measure": m.column,
                         "seeds": len(d), "gain": g.gain, "gain_low": g.ci_low,
                         "gain_high": g.ci_high, "gains": bool(g.ci_low > 0),
                         "gain_equivalence": g.equivalence, "flattening": mean,
                         "flat_low": low, "flat_high": high,
                         "p_flatter": one_sided_p(d, greater=True),
                         "p_sharper": one_sided_p(d, greater=False),
                         "mde_80": minimum_detectable_effect(sd, len(d))})
    return pd.DataFrame(rows)


def c4_verdict(components: pd.DataFrame) -> tuple[str, pd.DataFrame]:
    """C4 by contrast (see C4_RULE) from ``contrast``'s components: the verdict and the
    components with what each says (``flatter``, ``sharper`` or ``undecided``)."""
    if components.empty:
        return "inconclusive", components
    out = components.copy()
    sharper = holm(out.p_sharper.tolist(), ALPHA)
    out["reading"] = ["sharper" if s and gains else "flatter" if p < ALPHA else "undecided"
                      for s, gains, p in zip(sharper, out.gains, out.p_flatter)]
    by_role = out.groupby(["setting", "role"])
    gaining = out[out.gains]
    sharper_gainer = bool((gaining.reading == "sharper").any())
    flat_everywhere = by_role.p_flatter.max() < ALPHA
    no_gain = by_role.apply(lambda g: bool(g.gain_high.iloc[0] < 0
                                           or g.gain_equivalence.iloc[0] == "equivalent"))
    flat_without_gain = bool((flat_everywhere & no_gain).any())
    if sharper_gainer or flat_without_gain:
        return "fails", out
    student = out[out.role == STUDENT]
    if len(student) and student.gains.all() and (gaining.p_flatter < ALPHA).all():
        return "holds", out
    return "inconclusive", out


def sam_arm(table: pd.DataFrame, measures: list[Measure]) -> pd.DataFrame:
    """C4 by intervention: per setting, the SAM teacher against the plain teacher (test accuracy
    and every judged measure, signed so that positive is flatter) and its student against it,
    each with its 95% interval (empty without a SAM arm)."""
    rows = []
    for setting in table.setting.unique():
        pairs = [("SAM teacher − teacher", SAM_TEACHER, TEACHER),
                 ("student of SAM − SAM teacher", SAM_STUDENT, SAM_TEACHER)]
        for name, role, base in pairs:
            for column, sign, label in [("test_acc", 1, "test accuracy (pp)"),
                                        *((m.column, m.flatter, f"{m.label}, flatter +")
                                          for m in measures if m.judged)]:
                d = [sign * x for x in _diffs(table, column, setting, role, base)]
                if d:
                    mean, low, high = mean_ci(d)
                    rows.append({"setting": setting, "comparison": name, "quantity": label,
                                 "seeds": len(d), "difference": mean, "ci_low": low,
                                 "ci_high": high})
    return pd.DataFrame(rows)


def rank_correlations(table: pd.DataFrame, measures: list[Measure],
                      targets: tuple[str, ...] = ("test_acc", "gap")) -> pd.DataFrame:
    """Exploratory: Spearman's ρ of each measure with each target over every model pooled, with
    a 95% bootstrap interval resampling seeds (the models of a seed go together)."""
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
    gains: pd.DataFrame
    components: pd.DataFrame
    sam: pd.DataFrame
    correlations: pd.DataFrame
    verdicts: dict[str, str]
    reading: str

    @classmethod
    def of(cls, table: pd.DataFrame, measures: list[Measure], margin: float,
           claims: tuple[str, ...]) -> "FlatnessAnalysis":
        """The analysis of ``table``, judging ``claims`` (C3, and C4 where the page does)."""
        changes = paired_changes(table, measures)
        tests = judge(changes)
        gained = gains(table, margin)
        c4, components = c4_verdict(contrast(table, measures, gained))
        verdicts = {"C3": c3_verdict(tests), "C4": c4}
        return cls(changes, tests, gained, components, sam_arm(table, measures),
                   rank_correlations(table, measures),
                   {claim: verdicts[claim] for claim in claims},
                   c3_reading(tests, {m.column: m.label for m in measures}))

    def headline(self, claim: str) -> str:
        if claim == "C3":
            return self.reading
        student = self.gains[self.gains.role == STUDENT]
        gain = "; ".join(f"{r.setting} {r.gain:+.2f} pp [{r.ci_low:+.2f}, {r.ci_high:+.2f}]"
                         for r in student.itertuples())
        counts = self.components.reading.value_counts() if len(self.components) else {}
        return (f"students' gain {gain}; of {len(self.components)} (role, measure) components "
                f"of the contrast, {counts.get('flatter', 0)} flatter, "
                f"{counts.get('sharper', 0)} sharper, {counts.get('undecided', 0)} undecided")

    def measures_table(self, measures: list[Measure]) -> pd.DataFrame:
        """Every measure's paired change of the distilled student, with its interval, p-value,
        the seeds where the student is flatter and the judged tests' Holm decision ("reported"
        for the scale-dependent measures, which the verdict does not read)."""
        labels = {m.column: m.label for m in measures}
        first = self.changes[self.changes.role == STUDENT].copy()
        decided = self.tests.set_index(["setting", "measure"]).decision
        first["decision"] = [decided.get((r.setting, r.measure), "reported")
                             for r in first.itertuples()]
        first["measure"] = first.measure.map(labels)
        columns = ["setting", "measure", "seeds", "baseline", "change", "ci_low", "ci_high", "p",
                   "role_flatter", "relative", "decision"]
        return first[columns].rename(columns={"role_flatter": "students_flatter"}).round(4)

    def roles_table(self, measures: list[Measure]) -> pd.DataFrame:
        """Every role's mean change from its teacher in every judged measure (signed as
        measured), its interval and the seeds where it is flatter."""
        labels = {m.column: m.label for m in measures if m.judged}
        rows = self.changes[self.changes.measure.isin(labels)].copy()
        rows["measure"] = rows.measure.map(labels)
        return rows[["setting", "role", "measure", "seeds", "change", "ci_low", "ci_high",
                     "role_flatter"]].round(4)

    def numbers(self, claim: str, models: pd.DataFrame) -> dict[str, Any]:
        out = {"headline": self.headline(claim),
               "changes": self.changes.round(6).to_dict(orient="records"),
               "tests": self.tests.round(6).to_dict(orient="records"),
               "gains": self.gains.round(4).to_dict(orient="records"),
               "pooled_correlations (exploratory)": self.correlations.round(4).to_dict(
                   orient="records"),
               "models": models.round(6).to_dict(orient="records")}
        if claim == "C4":
            out.update(contrast=self.components.round(6).to_dict(orient="records"),
                       sam_arm=self.sam.round(4).to_dict(orient="records"))
        return out
