"""Claim C1: does a self-distilled student beat its own, even highly accurate, teacher?

Per declared setting (``settings``: fixed in the profile's parameters before the run) and seed,
``plan`` lists a teacher on the labels; its student, distilled from it with the same architecture
and recipe (and, with ``generations`` above 1, born-again students each distilled from the one
before: our extension); and the controls in the same recipe: a label-smoothing student (smoothed
labels whose non-target mass matches the teacher's at the distillation temperature: the softness
without the dark knowledge), a teacher trained twice as long (the compute of teacher and student
together), the teacher–student ensemble (logit average, not trained) and, in the settings named by
``knowledge_controls``, two students that keep part of the teacher: the class-mean teacher's (its
mean softened output over each class: class similarities without per-image knowledge) and the
shuffled teacher's (its own output per image, non-target probabilities permuted: per-image
confidence without class structure). ``premise_seeds`` more seeds per setting train a teacher and a
long teacher only. With ``resample_subset`` every seed trains on its own subset of the data.

``analyse`` decides the claim's premise first, from the teachers alone (``premise``): a setting is
in scope if its teachers fit their own training images and a twice-as-long teacher is no better
within ``convergence_margin``; every other setting is a boundary result. Then per setting the
paired differences (student − teacher and each control) with 95% intervals, the controls read by
equivalence within ``equivalence_margin`` (TOST), the discovery and replication blocks
(``discovery_seeds``), the minimum detectable effect (noncentral t), and ``judge`` applies the rule
to the in-scope settings. Cost per setting and seed: 5 (7 with the knowledge controls) +
(generations − 1) trainings of the setting's recipe, the long teacher counting twice; 3 per premise
seed; minus those already in the run store.
"""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from pydantic import Field, model_validator

from ..engine.specs import ModelSpec
from ..engine.stats import (
    equivalence,
    holm,
    mean_ci,
    minimum_detectable_effect,
    no_better,
    paired_differences,
    seeds_for,
    t_interval,
    t_test_p,
)
from . import roles
from .common import ClaimResult, Plan, generation_name, seed_blocks, teacher_spec
from .config import ChainsConfig
from .roles import CLASS_MEAN, KNOWLEDGE, LONG, SHUFFLED, SMOOTHED, STUDENT, long_teacher
from .runner import Study

RULES = {"C1": (
    "The premise is decided first, from the teachers alone: a declared setting is in scope if its "
    "teachers fit their own training images (mean accuracy on the clean images, in eval mode, at "
    "least premise_train_acc) and a teacher trained twice as long is no better by more than "
    "convergence_margin (one-sided 95% upper bound of the paired difference below it, over the "
    "judged and the premise seeds); every other setting is a boundary result, reported and never "
    "judged. In each in-scope setting the first student's test-accuracy gain over its own teacher "
    "is paired by seed and tested against 0 (two-sided t-tests, Holm-corrected over the in-scope "
    "settings); a setting decides if its test rejects and the mean gains of its discovery and "
    "replication blocks both have the pooled sign. Holds if at least two in-scope settings that "
    "differ in data size, augmentation, width or depth are decided above 0; fails if some "
    "in-scope setting is decided below 0; inconclusive otherwise (the headline then says in how "
    "many in-scope settings the student was decided better). Controls, the blocks' own numbers "
    "and later generations are reported beside the verdict and do not enter it")}

ENSEMBLE = "ensemble"
MAIN = "student − teacher"
# name: (model, baseline, what it says if the difference is above 0, below 0, equivalent to 0
# within equivalence_margin, or none of these)
COMPARISONS = {
    MAIN: (STUDENT, "teacher", (
        "the student beats its teacher", "the student is worse than its teacher",
        "student and teacher are equivalent", "student and teacher are not told apart")),
    "student − label-smoothing student": (STUDENT, SMOOTHED, (
        "the gain exceeds what label smoothing buys: the teacher's soft targets carry more than "
        "their softness", "label smoothing buys more than distillation",
        "distillation buys what label smoothing buys (equivalent)",
        "distillation is not told apart from label smoothing")),
    "student − class-mean student": (STUDENT, CLASS_MEAN, (
        "the teacher's per-image outputs carry more than its class similarities",
        "the class-mean targets buy more than the teacher's own",
        "the teacher's class similarities buy what its per-image outputs buy (equivalent)",
        "distillation is not told apart from its class-mean targets")),
    "student − shuffled-teacher student": (STUDENT, SHUFFLED, (
        "the teacher's class structure matters beyond its per-image confidence",
        "the shuffled targets buy more than the teacher's own",
        "per-image confidence alone buys what the teacher's outputs buy (equivalent)",
        "distillation is not told apart from its shuffled targets")),
    "student − long teacher": (STUDENT, LONG, (
        "the student beats a teacher given the same compute",
        "a teacher trained twice as long beats the student",
        "the student is equivalent to a teacher given the same compute",
        "the student is not told apart from a teacher given the same compute")),
    "ensemble − student": (ENSEMBLE, STUDENT, (
        "the student falls short of the teacher–student ensemble",
        "the student beats the teacher–student ensemble",
        "the student is equivalent to the teacher–student ensemble",
        "the student is not told apart from the teacher–student ensemble")),
}
FACTORS = ("train_subset", "augment", "width", "model")  # what matters for distillation
# Reference test accuracy at full size, for the page's "highly accurate" comparison (cited there)
REFERENCES = {
    ("fashion-mnist", "resnet18"): ("94.9 %", "xiao2017fashion"),
    ("cifar10", "resnet18"): ("93–95.5 %", "he2016deep"),
    ("cifar10", "vgg16"): ("92.6–93.9 %", "simonyan2015very"),
    ("cifar100", "resnet18"): ("75.6–78 %", "he2016deep"),
    ("cifar100", "vgg16"): ("72–73 %", "simonyan2015very"),
}
MODEL_COLUMNS = ["setting", "seed", "block", "role", "test_acc", "train_acc", "test_loss",
                 "train_loss", "test_ece", "teacher_agreement", "teacher_kl",
                 "smoothing_epsilon"]


class Config(ChainsConfig):
    """Claim C1: teachers, their self-distilled students and the controls, per declared setting
    and seed."""

    ABOUT_SETTINGS: typing.ClassVar[tuple[str, ...]] = ("settings", "knowledge_controls")

    generations: int = Field(1, ge=1, le=20, description="students per chain: student 1 (the "
                             "paper's self-distilled student, judged by the verdict) and, beyond "
                             "it, born-again generations distilled each from the one before")
    premise_train_acc: float = Field(99.0, ge=0.0, le=100.0, description="the claim's premise, "
                                     "part 1: a setting's teachers must reach this mean accuracy "
                                     "(%) on their own clean training images, in eval mode")
    convergence_margin: float = Field(0.5, gt=0.0, le=100.0, description="the claim's premise, "
                                      "part 2: a teacher trained twice as long must be no better "
                                      "by more than this many points (one-sided 95% bound); no "
                                      "larger than equivalence_margin")
    equivalence_margin: float = Field(0.5, gt=0.0, le=100.0, description="the smallest "
                                      "difference (points) the page calls meaningful: a control "
                                      "within ±this of the student is equivalent to it (two "
                                      "one-sided tests at 5%)")
    premise_seeds: int = Field(0, ge=0, le=100, description="more seeds per declared setting, "
                               "after its judged ones, that train only a teacher and a long "
                               "teacher: they join the premise's convergence test, never the "
                               "verdict")
    planning_sd: float = Field(0.6, gt=0.0, le=100.0, description="the paired standard "
                               "deviation of a student's gain (points) that the seeds were "
                               "planned with (stats.seeds_for: the seeds whose minimum detectable "
                               "effect at 80% power is at most equivalence_margin); name its "
                               "source in the parameters")
    knowledge_controls: list[str] = Field([], description="declared settings whose seeds also "
                                          "train the class-mean-teacher and shuffled-teacher "
                                          "students (names; empty: none)")

    @model_validator(mode="after")
    def _margins_and_names(self) -> "Config":
        if self.convergence_margin > self.equivalence_margin:
            raise ValueError(f"parameter 'convergence_margin': {self.convergence_margin} exceeds "
                             f"equivalence_margin {self.equivalence_margin}; a teacher that more "
                             "training improves by a meaningful gain is not converged")
        self.check_declared("knowledge_controls")
        return self


def seed_specs(setting: Config, seed: int, knowledge: bool = False) -> dict[str, ModelSpec]:
    """Every trained role of a declared setting at ``seed`` (``roles.seed_specs``)."""
    return roles.seed_specs(setting, seed, setting.generations, knowledge)


def judged(config: Config) -> list[tuple[str, Config, int, str]]:
    """(setting, its config, seed, block) for every judged seed of every declared setting."""
    return [(name, setting, seed, block) for name, setting in config.declared()
            for seed, block in seed_blocks(setting).items()]


def premise_only(config: Config) -> list[tuple[str, Config, int]]:
    """(setting, its config, seed) for every premise seed (after the setting's judged ones)."""
    return [(name, setting, seed) for name, setting in config.declared()
            for seed in range(setting.first_seed + setting.seeds,
                              setting.first_seed + setting.seeds + config.premise_seeds)]


def plan(config: Config) -> Plan:
    chains = []
    for name, setting, seed, _ in judged(config):
        specs = seed_specs(setting, seed, name in config.knowledge_controls)
        students = [spec for spec in specs.values() if spec.kd and spec.kd.targets == "teacher"]
        chains += [[specs["teacher"], *students],
                   *([specs["teacher"], specs[role]] for role in (SMOOTHED, *KNOWLEDGE)
                     if role in specs), [specs[LONG]]]
    for _, setting, seed in premise_only(config):
        teacher = teacher_spec(setting, seed)
        chains += [[teacher], [long_teacher(teacher)]]
    return chains


def analyse(config: Config, study: Study) -> Result:
    rows = []
    for name, setting, seed, block in judged(config):
        specs = seed_specs(setting, seed, name in config.knowledge_controls)
        rows += [study.row(spec, setting=name, block=block, role=role)
                 for role, spec in specs.items()]
        ensemble = study.lab.ensemble([study[specs["teacher"]], study[specs[STUDENT]]], "logits")
        rows.append(study.row(ensemble, setting=name, block=block, role=ENSEMBLE))
    for name, setting, seed in premise_only(config):
        teacher = teacher_spec(setting, seed)
        rows += [study.row(teacher, setting=name, block="premise", role="teacher"),
                 study.row(long_teacher(teacher), setting=name, block="premise", role=LONG)]
    table = pd.DataFrame(rows)
    comparisons = compare(table[table.block != "premise"], config.equivalence_margin)
    settings = setting_summary(config, table, comparisons)
    verdict, decided = judge(settings)
    settings["decided"] = settings.setting.map(decided)
    return Result({"C1": verdict}, table=table, comparisons=comparisons, settings=settings,
                  generations=generation_gains(table[table.block != "premise"]),
                  margin=config.equivalence_margin)


def compare(table: pd.DataFrame, margin: float) -> pd.DataFrame:
    """Per setting, the paired differences of COMPARISONS (and long teacher − teacher) with 95%
    intervals, the two-sided p-value, the equivalence test at ``margin`` and what each says."""
    pairs = {name: (a, b) for name, (a, b, _) in COMPARISONS.items()}
    pairs["long teacher − teacher"] = (LONG, "teacher")
    out = paired_differences(table, "test_acc", "role", pairs, ["setting"])
    tests = [differences(table, r.setting, *pairs[r.comparison]) for r in out.itertuples()]
    out["p_value"] = [t_test_p(d) for d in tests]
    out["equivalence"] = [equivalence(d, margin)[0] for d in tests]
    out["reading"] = [reading(r.comparison, r.ci_low, r.ci_high, r.equivalence)
                      for r in out.itertuples()]
    return out


def differences(table: pd.DataFrame, setting: str, role: str, baseline: str) -> list[float]:
    """``role`` − ``baseline`` in test accuracy per seed of ``setting`` (seeds having both)."""
    wide = table[table.setting == setting].pivot(index="seed", columns="role", values="test_acc")
    return (wide[role] - wide[baseline]).dropna().tolist()


def reading(comparison: str, low: float, high: float, equivalent: str = "") -> str:
    """What a comparison's 95% interval and equivalence test say, by its stated reading."""
    if comparison not in COMPARISONS:
        return ""
    positive, negative, same, neither = COMPARISONS[comparison][2]
    if low > 0:
        return positive
    if high < 0:
        return negative
    return same if equivalent == "equivalent" else neither


def premise(teachers: pd.DataFrame, margin: float, threshold: float) -> dict[str, Any]:
    """The premise of one setting from its teachers and long teachers alone (rows of roles
    ``teacher`` and LONG, judged and premise seeds): their fit, the convergence test and the
    outcome, ``in scope`` or why not."""
    wide = teachers.pivot(index="seed", columns="role", values="test_acc")
    longer = (wide[LONG] - wide["teacher"]).dropna().tolist()
    own = teachers[teachers.role == "teacher"]
    fit = float(own.train_acc.mean())
    convergence = no_better(longer, margin) if len(longer) > 1 else "undecided"
    mean, low, high = mean_ci(longer)
    upper = t_interval(longer, 0.90)[1]  # the one-sided 95% upper bound
    if fit < threshold:
        why = f"teachers fit {fit:.1f} % of their training images, below {threshold:g} %"
    elif convergence == "better":
        why = (f"a teacher trained twice as long is better, {mean:+.2f} pp [{low:+.2f}, "
               f"{high:+.2f}]")
    elif convergence == "undecided":
        why = (f"a teacher trained twice as long is not shown to be within +{margin:g} pp of it "
               f"(one-sided upper bound {upper:+.2f} pp)")
    else:
        why = ""
    return {"teacher_train_acc": fit, "teacher_train_acc_min": float(own.train_acc.min()),
            "long_minus_teacher": mean, "long_ci_low": low, "long_ci_high": high,
            "long_upper_one_sided": upper, "premise_pairs": len(longer),
            "convergence": convergence, "in_scope": not why,
            "premise": "in scope" if not why else f"out of scope: {why}"}


def setting_summary(config: Config, table: pd.DataFrame,
                    comparisons: pd.DataFrame) -> pd.DataFrame:
    """Per declared setting: what it varies (``FACTORS``), its seeds and blocks, the premise
    (``premise``), the verdict's comparison with its p-value, the blocks' mean gains, the paired
    spread and the minimum detectable effect, the teachers' accuracy beside the reference at full
    size."""
    rows = []
    for name, setting in config.declared():
        own = table[table.setting == name]
        judged_rows = own[own.block != "premise"]
        wide = judged_rows.pivot(index="seed", columns="role", values="test_acc")
        gain = wide[STUDENT] - wide["teacher"]
        blocks = judged_rows.drop_duplicates("seed").set_index("seed").block
        main = comparisons[(comparisons.setting == name)
                           & (comparisons.comparison == MAIN)].iloc[0]
        reference = REFERENCES.get((setting.datasets[0], setting.models[0]))
        full = REFERENCES.get((setting.datasets[0], "resnet18"))
        sd = float(gain.std(ddof=1)) if len(gain) > 1 else np.nan
        rows.append({
            "setting": name, "dataset": setting.datasets[0], "model": setting.models[0],
            "width": setting.width, "train_subset": setting.train_subset,
            "augment": setting.augment, "epochs": setting.epochs,
            "resample_subset": setting.resample_subset, "seeds": len(gain),
            **premise(own[own.role.isin(["teacher", LONG])], config.convergence_margin,
                      config.premise_train_acc),
            "gain": main.difference, "ci_low": main.ci_low, "ci_high": main.ci_high,
            "p_value": main.p_value, "students_better": main.positive,
            **{f"{block}_gain": float(gain[blocks == block].mean())
               for block in ("discovery", "replication") if (blocks == block).any()},
            "paired_sd": sd, "mde_80": minimum_detectable_effect(sd, len(gain)),
            "seeds_planned": seeds_for(config.planning_sd, config.equivalence_margin),
            "teacher_test_acc": float(wide["teacher"].mean()),
            "reference": reference[0] if reference else
            (f"none for {setting.models[0]}; ResNet-18 at full size {full[0]}" if full else "none"),
            "reference_source": (reference or full or ("", ""))[1]})
    return pd.DataFrame(rows)


def judge(settings: pd.DataFrame, alpha: float = 0.05) -> tuple[str, dict[str, str]]:
    """The rule (RULES) applied to ``setting_summary``'s table: the verdict, and per setting
    what it decided (``above 0``, ``below 0``, ``undecided``, or ``out of scope``)."""
    decided = {name: "out of scope" for name in settings.setting}
    scope = settings[settings.in_scope.astype(bool)]
    rejected = holm(scope.p_value.tolist(), alpha) if len(scope) else []
    for row, reject in zip(scope.itertuples(), rejected):
        sign = np.sign(row.gain)
        blocks = [getattr(row, f"{b}_gain", np.nan) for b in ("discovery", "replication")]
        agree = all(np.sign(g) == sign for g in blocks if not np.isnan(g))
        decided[row.setting] = (("above 0" if sign > 0 else "below 0") if reject and agree
                                else "undecided")
    above = scope[scope.setting.map(decided) == "above 0"]
    if any(decided[s] == "below 0" for s in scope.setting):
        return "fails", decided
    if any(differ(a, b) for i, a in enumerate(above.itertuples())
           for b in list(above.itertuples())[i + 1:]):
        return "holds", decided
    return "inconclusive", decided


def differ(a: Any, b: Any) -> bool:
    """Whether two settings differ in something that matters for distillation (``FACTORS``)."""
    return any(getattr(a, f) != getattr(b, f) for f in FACTORS)


def generation_gains(table: pd.DataFrame) -> pd.DataFrame:
    """Born-again generations (our extension): each over the one before and over the teacher."""
    students = sorted(g for g in table.generation.unique() if g > 1)
    chain = table[table.role.isin([generation_name(g) for g in range(0, 1 + max(students,
                                                                               default=1))])]
    pairs = {f"student {g} − student {g - 1}": (generation_name(g), generation_name(g - 1))
             for g in students}
    pairs.update({f"student {g} − teacher": (generation_name(g), "teacher") for g in students})
    return paired_differences(chain, "test_acc", "role", pairs, ["setting"])


def block_table(table: pd.DataFrame) -> pd.DataFrame:
    """Per setting and block (discovery, replication), student − teacher with its interval."""
    judged_rows = table[table.block.isin(["discovery", "replication"])]
    if judged_rows.empty:
        return pd.DataFrame()
    return paired_differences(judged_rows, "test_acc", "role", {MAIN: (STUDENT, "teacher")},
                              ["setting", "block"])


@dataclass
class Result(ClaimResult):
    table: pd.DataFrame  # one row per model (and ensemble) per setting, seed and block
    comparisons: pd.DataFrame  # per setting and comparison: difference, interval, tests, reading
    settings: pd.DataFrame  # per declared setting: premise, the verdict's numbers, power
    generations: pd.DataFrame  # born-again generations, if any
    margin: float  # the equivalence margin the controls were read at

    def judged(self) -> pd.DataFrame:
        """The rows of the judged seeds (without the premise seeds' teachers)."""
        return self.table[self.table.block != "premise"]

    def accuracy_table(self) -> pd.DataFrame:
        """Test accuracy (%) with seeds as rows and roles as columns, per setting."""
        wide = self.table.pivot(index=["setting", "block", "seed"], columns="role",
                                values="test_acc")
        return wide[[r for r in ROLES if r in wide.columns]
                    + sorted(set(wide.columns) - set(ROLES))].round(2)

    def premise_table(self) -> pd.DataFrame:
        """Per setting, the premise from its teachers alone: fit, convergence, outcome."""
        columns = ["setting", "teacher_train_acc", "teacher_train_acc_min", "teacher_test_acc",
                   "reference", "premise_pairs", "long_minus_teacher", "long_ci_low",
                   "long_ci_high", "long_upper_one_sided", "premise"]
        return self.settings[columns].round(2)

    def verdict_table(self) -> pd.DataFrame:
        """Per setting: student − teacher pooled and per block, the p-value, what it decided."""
        columns = ["setting", "premise", "seeds", "gain", "ci_low", "ci_high", "p_value",
                   *[c for c in ("discovery_gain", "replication_gain") if c in self.settings],
                   "students_better", "decided"]
        return self.settings[columns].round(3)

    def controls_table(self) -> pd.DataFrame:
        """Every comparison per setting: mean paired difference (pp), its interval, the seeds
        where it is positive, the equivalence test and what it says."""
        columns = ["setting", "comparison", "seeds", "difference", "ci_low", "ci_high",
                   "positive", "equivalence", "reading"]
        return self.comparisons[columns].round(2)

    def calibration_table(self) -> pd.DataFrame:
        """Per setting and role, means over the judged seeds: test accuracy, NLL and ECE; a
        student's agreement with its teacher (%) and KL(teacher ‖ student) on the test set."""
        columns = ["test_acc", "test_loss", "test_ece", "teacher_agreement", "teacher_kl"]
        means = self.judged().groupby(["setting", "role"], sort=False)[columns].mean()
        return means.rename(columns={"test_loss": "test_nll"}).round(4)

    def power_table(self) -> pd.DataFrame:
        """Per setting: the seeds declared and planned, the gain, its paired spread and the
        minimum detectable effect at 80% power."""
        columns = ["setting", "seeds", "seeds_planned", "gain", "paired_sd", "mde_80"]
        return self.settings[columns].round(3)

    def texts(self) -> dict[str, str]:
        """The sentences the page's prose quotes, computed from the tables."""
        s = self.settings
        scope = s[s.in_scope.astype(bool)]
        controls = [f"in {r.setting}, {r.comparison}: {r.reading} ({r.difference:+.2f} pp "
                    f"[{r.ci_low:+.2f}, {r.ci_high:+.2f}], equivalence at ±{self.margin:g} pp: "
                    f"{r.equivalence})" for r in self.comparisons.itertuples()
                    if r.reading and r.comparison != MAIN]
        power = "; ".join(
            f"{r.setting}: paired sd {r.paired_sd:.2f} pp over {r.seeds} seeds ("
            f"{r.seeds_planned} planned), so {r.mde_80:.2f} pp is the smallest mean gain "
            "detected with 80% power" for r in s.itertuples())
        premises = "; ".join(f"{r.setting}: {r.premise}" for r in s.itertuples())
        return {"c1_settings": f"{len(s)} declared settings, {len(scope)} in scope",
                "c1_premise": premises, "c1_controls": "; ".join(controls) or "none resolved",
                "c1_power": power, "c1_discussion": self.discussion()}

    def discussion(self) -> str:
        """The page's closing paragraph, computed: the verdict and where it came from, the
        boundary settings, and what the controls say in the settings that decided it."""
        s = self.settings
        scope = s[s.in_scope.astype(bool)]
        above = scope[scope.decided == "above 0"]
        parts = [f"C1 {self.verdicts['C1']} at this profile: of {len(s)} declared settings, "
                 f"{len(scope)} are in the claim's scope (teachers that fit their data and that "
                 f"twice the training does not improve by more than the margin)"]
        if len(scope):
            parts.append("in scope, the student was decided better than its teacher in "
                         f"{len(above)} ({', '.join(above.setting) or 'none'}), worse in "
                         f"{int((scope.decided == 'below 0').sum())}, and undecided in "
                         f"{int((scope.decided == 'undecided').sum())}")
        out = s[~s.in_scope.astype(bool)]
        if len(out):
            parts.append("outside it, as boundary results: " + "; ".join(
                f"{r.setting}, {_interval(r.gain, r.ci_low, r.ci_high)} pp, because "
                f"{r.premise.removeprefix('out of scope: ')}" for r in out.itertuples()))
        for r in self.comparisons.itertuples():
            if r.comparison != MAIN and r.setting in set(scope.setting) and r.reading:
                parts.append(f"{r.comparison} in {r.setting}: {r.reading}")
        return "; ".join(parts) + "."

    def headline(self, claim: str = "C1") -> str:
        def one(r: Any) -> str:
            where = f"in scope, {r.decided}" if r.in_scope else "out of scope"
            return (f"{r.setting} ({where}): {r.gain:+.2f} pp [{r.ci_low:+.2f}, {r.ci_high:+.2f}]"
                    f", {r.students_better} of {r.seeds} students better")
        s = self.settings
        decided = int((s.decided == "above 0").sum())
        lead = (f"the student beats its teacher in {decided} in-scope setting(s) of the 2 the "
                "rule needs · " if self.verdicts["C1"] == "inconclusive" and decided else "")
        return lead + "student − teacher · " + "; ".join(one(r) for r in s.itertuples())

    def numbers(self, claim: str = "C1") -> dict[str, Any]:
        return {"headline": self.headline(),
                "settings": self.settings.round(4).to_dict(orient="records"),
                "comparisons": self.comparisons.round(4).to_dict(orient="records"),
                "blocks": block_table(self.table).round(4).to_dict(orient="records"),
                "premise": dict(zip(self.settings.setting, self.settings.premise)),
                "later_generations": {
                    "note": "born-again chains: our extension, not part of the verdict",
                    "gains": self.generations.round(4).to_dict(orient="records")},
                "models": self.table[[c for c in MODEL_COLUMNS if c in self.table]].round(4)
                .to_dict(orient="records")}


ROLES = ("teacher", STUDENT, SMOOTHED, CLASS_MEAN, SHUFFLED, LONG, ENSEMBLE)  # the page's order


def _interval(mean: float, low: float | None, high: float | None) -> str:
    if low is None or high is None or np.isnan(low):
        return f"{mean:+.2f}"
    return f"{mean:+.2f} [{low:+.2f}, {high:+.2f}]"


def missing_settings(record: dict[str, Any], config: Config) -> list[str]:
    """The settings ``config`` declares that a C1 results record does not report."""
    reported = {row["setting"] for row in record["numbers"].get("settings", [])}
    return [name for name, _ in config.declared() if name not in reported]
