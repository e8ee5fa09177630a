"""Claim C1: does a self-distilled student beat its own, even highly accurate, teacher?

Per declared setting (``settings``: fixed in the profile's parameters before the run) and seed,
``plan`` lists a teacher on the labels; its student, distilled from it with the same architecture
and recipe (and, with ``generations`` above 1, born-again students each distilled from the one
before: our extension); and the controls in the same recipe: a label-smoothing student (the
student's soft targets replaced by smoothed labels whose non-target mass matches the teacher's at
the distillation temperature, so it shares the softness and lacks the dark knowledge), a teacher
trained twice as long (the compute of teacher and student together), and the teacher–student
ensemble (logit average, not trained). ``analyse`` pairs them by seed within each setting:
student − teacher (the verdict, in every declared setting), student − label-smoothing student,
student − long teacher, ensemble − student, each with a 95% interval; whether the teacher is
converged (the long teacher no better by more than ``convergence_margin``, one-sided 95%): the
claim's "highly accurate" qualifier; the minimum detectable effect at 80% power from the
measured paired spread; calibration (test NLL, ECE) and fidelity (agreement with and KL to the
teacher) per model. Cost per setting and seed: 5 + (generations − 1) trainings of the setting's
recipe (the long teacher counts twice), minus those already in the run store.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from pydantic import Field

from ..engine.specs import ModelSpec, chain_specs
from ..engine.stats import minimum_detectable_effect, no_better, paired_differences, three_way
from .common import (
    ClaimResult,
    Plan,
    generation_name,
    kd_weights,
    settings_and_seeds,
    teacher_spec,
)
from .config import ChainsConfig
from .runner import Study

RULES = {"C1": (
    "holds if in every declared setting the first student's mean test-accuracy gain over its own "
    "teacher (paired by seed) has its 95% confidence interval above 0; fails if in some declared "
    "setting that interval lies wholly below 0; inconclusive otherwise. Beside the verdict, per "
    "setting, the claim's qualifier 'even when the teacher is highly accurate' is tested: it held "
    "if a teacher trained twice as long is no better by more than convergence_margin (one-sided "
    "95% upper bound of the paired difference below the margin), failed if the longer teacher is "
    "better (95% interval above 0), and is undecided otherwise. Controls and later generations "
    "(born-again chains, our extension) are reported and do not enter the verdict")}

STUDENT, SMOOTHED, LONG, ENSEMBLE = ("student 1", "label-smoothing student", "long teacher",
                                     "ensemble")
# name: (model, baseline, what a positive, negative or unresolved difference says)
COMPARISONS = {
    "student − teacher": (STUDENT, "teacher", (
        "the student beats its teacher", "the student is worse than its teacher",
        "student and teacher are not told apart")),
    "student − label-smoothing student": (STUDENT, SMOOTHED, (
        "the gain exceeds what label smoothing buys: the teacher's soft targets carry more than "
        "their softness", "label smoothing buys more than distillation",
        "distillation is not told apart from label smoothing")),
    "student − long teacher": (STUDENT, LONG, (
        "the student beats a teacher given the same compute",
        "a teacher trained twice as long beats the student",
        "the student is not told apart from a teacher given the same compute")),
    "ensemble − student": (ENSEMBLE, STUDENT, (
        "the student falls short of the teacher–student ensemble",
        "the student beats the teacher–student ensemble",
        "the student is not told apart from the teacher–student ensemble")),
}
QUALIFIER = {"no better": "held (converged teacher)", "better": "failed (more training helps "
             "the teacher)", "undecided": "undecided"}
# Reference test accuracy at full size, for the page's "highly accurate" comparison (cited there)
REFERENCES = {
    ("fashion-mnist", "resnet18"): ("94.9 %", "xiao2017fashion"),
    ("cifar10", "resnet18"): ("93–95.5 %", "he2016deep"),
    ("cifar10", "vgg16"): ("92.6–93.9 %", "simonyan2015very"),
    ("cifar100", "resnet18"): ("75.6–78 %", "he2016deep"),
    ("cifar100", "vgg16"): ("72–73 %", "simonyan2015very"),
}
MODEL_COLUMNS = ["setting", "seed", "role", "test_acc", "train_acc", "test_loss", "train_loss",
                 "test_ece", "teacher_agreement", "teacher_kl", "smoothing_epsilon"]


class Config(ChainsConfig):
    """Claim C1: teachers, their self-distilled students and the controls, per declared setting
    and seed."""

    generations: int = Field(1, ge=1, le=20, description="students per chain: student 1 (the "
                             "paper's self-distilled student, judged by the verdict) and, beyond "
                             "it, born-again generations distilled each from the one before")
    convergence_margin: float = Field(0.5, gt=0.0, le=100.0, description="the teacher counts as "
                                      "converged (highly accurate for its setting) if twice the "
                                      "epochs improve it by less than this many points "
                                      "(one-sided 95% bound)")


def seed_specs(setting: Config, seed: int) -> dict[str, ModelSpec]:
    """Every trained role of a declared setting at ``seed``: the teacher, its students by
    generation, the label-smoothing student and the long teacher."""
    kd = kd_weights(setting)
    chain = chain_specs(teacher_spec(setting, seed), setting.generations, kd)
    teacher = chain[0]
    specs = {generation_name(spec.generation): spec for spec in chain}
    specs[SMOOTHED] = teacher.student(teacher.key, dataclasses.replace(
        kd, targets="label smoothing"))  # same generation: the student's initialization
    specs[LONG] = dataclasses.replace(teacher, recipe=dataclasses.replace(
        teacher.recipe, epochs=2 * teacher.recipe.epochs))  # the teacher's initialization
    return specs


def plan(config: Config) -> Plan:
    chains = []
    for _, setting, seed in settings_and_seeds(config):
        specs = seed_specs(setting, seed)
        students = [spec for spec in specs.values() if spec.kd and spec.kd.targets == "teacher"]
        chains += [[specs["teacher"], *students], [specs["teacher"], specs[SMOOTHED]],
                   [specs[LONG]]]
    return chains


def analyse(config: Config, study: Study) -> Result:
    rows = []
    for name, setting, seed in settings_and_seeds(config):
        specs = seed_specs(setting, seed)
        rows += [study.row(spec, setting=name, role=role) for role, spec in specs.items()]
        ensemble = study.lab.ensemble([study[specs["teacher"]], study[specs[STUDENT]]], "logits")
        rows.append(study.row(ensemble, setting=name, role=ENSEMBLE))
    table = pd.DataFrame(rows)
    comparisons = compare(table)
    per_setting = setting_summary(config, table, comparisons)
    return Result({"C1": verdict(comparisons)}, table=table, comparisons=comparisons,
                  settings=per_setting, generations=generation_gains(table))


def compare(table: pd.DataFrame) -> pd.DataFrame:
    """Per setting, the paired differences of COMPARISONS (and long teacher − teacher) with 95%
    intervals, and what each says."""
    pairs = {name: (a, b) for name, (a, b, _) in COMPARISONS.items()}
    pairs["long teacher − teacher"] = (LONG, "teacher")
    out = paired_differences(table, "test_acc", "role", pairs, ["setting"])
    out["reading"] = [reading(r.comparison, r.ci_low, r.ci_high) for r in out.itertuples()]
    return out


def reading(comparison: str, low: float, high: float) -> str:
    """What a comparison's 95% interval says, by its stated reading."""
    if comparison not in COMPARISONS:
        return ""
    positive, negative, neither = COMPARISONS[comparison][2]
    return positive if low > 0 else negative if high < 0 else neither


def setting_summary(config: Config, table: pd.DataFrame,
                    comparisons: pd.DataFrame) -> pd.DataFrame:
    """Per declared setting: its data and model, seeds, the verdict's comparison, the paired
    spread and the minimum detectable effect, the teacher–student correlation over seeds, the
    teachers' accuracy beside the reference at full size, and the convergence test."""
    margin = config.convergence_margin
    rows = []
    for name, setting in config.declared():
        own = table[table.setting == name]
        wide = own.pivot(index="seed", columns="role", values="test_acc")
        gain = wide[STUDENT] - wide["teacher"]
        longer = wide[LONG] - wide["teacher"]
        main = comparisons[(comparisons.setting == name)
                           & (comparisons.comparison == "student − teacher")].iloc[0]
        teachers = own[own.role == "teacher"]
        reference = REFERENCES.get((setting.datasets[0], setting.models[0]))
        full = REFERENCES.get((setting.datasets[0], "resnet18"))
        rows.append({
            "setting": name, "dataset": setting.datasets[0], "model": setting.models[0],
            "train_subset": setting.train_subset, "augment": setting.augment,
            "epochs": setting.epochs, "seeds": len(gain), "gain": main.difference,
            "ci_low": main.ci_low, "ci_high": main.ci_high, "students_better": main.positive,
            "paired_sd": float(gain.std(ddof=1)) if len(gain) > 1 else np.nan,
            "mde_80": minimum_detectable_effect(float(gain.std(ddof=1)), len(gain))
            if len(gain) > 1 else np.nan,
            "teacher_student_correlation": float(np.corrcoef(wide["teacher"], wide[STUDENT])[0, 1])
            if len(gain) > 2 else np.nan,
            "teacher_test_acc": float(teachers.test_acc.mean()),
            "teacher_train_acc": float(teachers.train_acc.mean()),
            "long_minus_teacher": float(longer.mean()), "convergence_margin": margin,
            "convergence": no_better(longer.tolist(), margin) if len(longer) > 1 else "undecided",
            "reference": reference[0] if reference else
            (f"none for {setting.models[0]}; ResNet-18 at full size {full[0]}" if full else "none"),
            "reference_source": (reference or full or ("", ""))[1]})
    out = pd.DataFrame(rows)
    out["qualifier"] = out.convergence.map(QUALIFIER)
    return out


def generation_gains(table: pd.DataFrame) -> pd.DataFrame:
    """Born-again generations (our extension): each over the one before and over the teacher."""
    students = sorted(g for g in table.generation.unique() if g > 1)
    chain = table[table.role.isin([generation_name(g) for g in range(0, 1 + max(students,
                                                                               default=1))])]
    pairs = {f"student {g} − student {g - 1}": (generation_name(g), generation_name(g - 1))
             for g in students}
    pairs.update({f"student {g} − teacher": (generation_name(g), "teacher") for g in students})
    return paired_differences(chain, "test_acc", "role", pairs, ["setting"])


def verdict(comparisons: pd.DataFrame) -> str:
    """The rule applied to ``compare``'s table: student − teacher in every declared setting."""
    main = comparisons[comparisons.comparison == "student − teacher"]
    return three_way(main.ci_low, main.ci_high)


@dataclass
class Result(ClaimResult):
    table: pd.DataFrame  # one row per model (and ensemble) per setting and seed
    comparisons: pd.DataFrame  # per setting and comparison: paired difference, interval, reading
    settings: pd.DataFrame  # per declared setting: the verdict's numbers, power, qualifier
    generations: pd.DataFrame  # born-again generations, if any

    def accuracy_table(self) -> pd.DataFrame:
        """Test accuracy (%) with seeds as rows and roles as columns, per setting."""
        wide = self.table.pivot(index=["setting", "seed"], columns="role", values="test_acc")
        return wide[[r for r in ROLES if r in wide.columns]
                    + sorted(set(wide.columns) - set(ROLES))].round(2)

    def controls_table(self) -> pd.DataFrame:
        """Every comparison per setting: mean paired difference (pp), its interval, the seeds
        where it is positive, and what it says."""
        columns = ["setting", "comparison", "seeds", "difference", "ci_low", "ci_high",
                   "positive", "reading"]
        return self.comparisons[columns].round(2)

    def calibration_table(self) -> pd.DataFrame:
        """Per setting and role, means over seeds: test accuracy, NLL and ECE; a student's
        agreement with its teacher (%) and KL(teacher ‖ student) on the test set."""
        columns = ["test_acc", "test_loss", "test_ece", "teacher_agreement", "teacher_kl"]
        means = self.table.groupby(["setting", "role"], sort=False)[columns].mean()
        return means.rename(columns={"test_loss": "test_nll"}).round(4)

    def qualifier_table(self) -> pd.DataFrame:
        """Per setting: the teachers against a reference at full size, and the convergence test."""
        columns = ["setting", "teacher_train_acc", "teacher_test_acc", "reference",
                   "long_minus_teacher", "convergence_margin", "convergence", "qualifier"]
        return self.settings[columns].round(2)

    def power_table(self) -> pd.DataFrame:
        columns = ["setting", "seeds", "gain", "paired_sd", "mde_80",
                   "teacher_student_correlation"]
        return self.settings[columns].round(3)

    def texts(self, searched: int) -> dict[str, str]:
        """The sentences the page's prose quotes, computed from the tables."""
        s = self.settings
        held = int((s.convergence == "no better").sum())
        readings = [f"in {r.setting}: {r.reading} ({r.difference:+.2f} pp [{r.ci_low:+.2f}, "
                    f"{r.ci_high:+.2f}])" for r in self.comparisons.itertuples() if r.reading
                    and r.comparison != "student − teacher"]
        power = "; ".join(
            f"{r.setting}: paired sd {r.paired_sd:.2f} pp over {r.seeds} seeds, so "
            f"{r.mde_80:.2f} pp is the smallest mean gain detected with 80% power; teacher and "
            f"student accuracies correlate at {r.teacher_student_correlation:+.2f} over seeds"
            for r in s.itertuples())
        return {"c1_settings": f"{len(s)} declared settings; chosen from {searched} searched",
                "c1_qualifier": f"the teacher was converged in {held} of {len(s)} settings ("
                + "; ".join(f"{r.setting}: {r.qualifier}" for r in s.itertuples()) + ")",
                "c1_controls": "; ".join(readings) or "no control resolved",
                "c1_power": power}

    def headline(self, claim: str = "C1") -> str:
        parts = [f"{r.setting}: {r.gain:+.2f} pp [{r.ci_low:+.2f}, {r.ci_high:+.2f}], "
                 f"{r.students_better} of {r.seeds} students better, teacher "
                 f"{'converged' if r.convergence == 'no better' else 'not shown converged'}"
                 for r in self.settings.itertuples()]
        return "student − teacher · " + "; ".join(parts)

    def numbers(self, claim: str = "C1") -> dict[str, Any]:
        return {"headline": self.headline(),
                "settings": self.settings.round(4).to_dict(orient="records"),
                "comparisons": self.comparisons.round(4).to_dict(orient="records"),
                "qualifier": dict(zip(self.settings.setting, self.settings.convergence)),
                "later_generations": {
                    "note": "born-again chains: our extension, not part of the verdict",
                    "gains": self.generations.round(4).to_dict(orient="records")},
                "models": self.table[MODEL_COLUMNS].round(4).to_dict(orient="records")}


ROLES = ("teacher", STUDENT, SMOOTHED, LONG, ENSEMBLE)  # the page's order


def _interval(mean: float, low: float | None, high: float | None) -> str:
    if low is None or high is None or np.isnan(low):
        return f"{mean:+.2f}"
    return f"{mean:+.2f} [{low:+.2f}, {high:+.2f}]"


def selection_history(result: Result | None, selection: dict[str, Any],
                      search: list[dict[str, Any]], earlier: list[dict[str, Any]],
                      convergence: list[dict[str, Any]], superseded: list[dict[str, Any]]
                      ) -> pd.DataFrame:
    """Every setting tried for C1 at this scale, in order: the probes (as reported), the setting
    search and the earlier profile runs (from their records), the convergence search, declared
    settings that were superseded (with why), then the declared settings (from ``result``): the
    seeds each used, its result (student − teacher in pp with its 95% interval; for the
    convergence search, long teacher − teacher and the test's outcome), and whether it was kept,
    and why (``selection['decisions']``)."""
    decisions = selection.get("decisions", {})
    declared = [] if result is None else list(result.settings.setting)
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
                     "result (pp)": _interval(r["mean_gain"], r["ci_low"], r["ci_high"])})
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
    if result is not None:
        for r in result.settings.itertuples():
            seeds = sorted(result.table[result.table.setting == r.setting].seed.unique())
            rows.append({"setting": r.setting, "stage": "declared", "source": "this page",
                         "seeds": f"{len(seeds)} from {seeds[0]}",
                         "result (pp)": _interval(r.gain, r.ci_low, r.ci_high)
                         + f"; teacher: {r.qualifier}"})
    table = pd.DataFrame(rows)
    if table.empty:
        return table
    table["kept"] = [s in declared and stage in ("declared", "declared, superseded")
                     for s, stage in zip(table.setting, table.stage)]
    why = table["why"] if "why" in table else pd.Series([None] * len(table))
    table["why"] = [w if isinstance(w, str) else decisions.get(s, "") if s in declared
                    else "not kept" for s, w in zip(table.setting, why)]
    table.loc[table.stage == "judged (earlier design)", "why"] = (
        "the searched setting, judged then on seeds that overlap the search's")
    return table


def searched(selection: dict[str, Any], search: list[dict[str, Any]],
             convergence: list[dict[str, Any]]) -> int:
    """How many settings were tried for C1 before its settings were declared."""
    return len(selection.get("probes", [])) + len(search) + len(convergence)


def missing_settings(record: dict[str, Any], config: Config) -> list[str]:
    """The settings ``config`` declares that a C1 results record does not report."""
    reported = {row["setting"] for row in record["numbers"].get("settings", [])}
    return [name for name, _ in config.declared() if name not in reported]
