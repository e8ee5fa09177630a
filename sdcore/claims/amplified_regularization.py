"""Claim C2 against "self-distillation amplifies regularization" (Mobahi et al. 2020).

``kernel_study`` runs the theory in its own setting (``engine.theory``: kernel ridge regression on a
noisy sinusoid), pure and with the ground truth mixed back in, and checks its three predictions
there. ``plan`` puts them to deep networks: per declared setting and seed, four chains of
``generations`` students: labels + KD with weight decay (C1's loss); KD only (no labels: pure
self-distillation, the theory's collapsing case); KD only from an *accurate* teacher (trained on
``accurate_subset`` images for ``accurate_epochs``, its students on the setting's own data), so that
a collapse is not merely copied errors; labels + KD without weight decay (nothing explicit to
amplify). Per model ``analyse`` measures the mechanism the theory names: the entropy of the
outputs on the training and test sets (shrinking towards the zero function is predictions
flattening towards uniform), the mean norm of the centred logits (each logit vector less its mean:
a constant shift changes no prediction), and the participation ratio of the penultimate features
on the test set (fewer surviving directions). Then every prediction is tested so that it can be
borne out or contradicted (``predictions``: Holm's correction over the page's family, each
decisive outcome replicated in both blocks of seeds), where its manipulation check passed: (P3)
only if the students with weight decay fit their training images (``converged_train_acc``), the
accurate-teacher prediction only if that chain's first student is more accurate than the plain
KD-only chain's. Cost: per setting and seed, three teachers and 4 × generations students, minus
those stored.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from pydantic import Field, model_validator

from ..engine import theory
from ..engine.inference import predict_logits
from ..engine.mechanisms import output_entropy, participation_ratio, penultimate
from ..engine.specs import KDWeights, ModelSpec, chain_specs
from ..engine.stats import one_sided_p, p_text, paired_differences
from .common import (
    ClaimResult,
    Plan,
    generation_name,
    kd_weights,
    seed_blocks,
    settings_and_seeds,
    teacher_spec,
)
from .config import ChainsConfig
from .predictions import Prediction, c2_verdict, judge_family
from .runner import Study

WITH_LABELS, KD_ONLY, KD_ACCURATE, NO_DECAY = (
    "labels + KD", "KD only", "KD only, accurate teacher", "labels + KD, no weight decay")
VARIANTS = (WITH_LABELS, KD_ONLY, KD_ACCURATE, NO_DECAY)
MECHANISM = ("test_entropy", "train_entropy", "centred_logit_norm", "participation_ratio")

RULES = {"C2": (
    "the theory's predictions, per declared setting: (P2) pure self-distillation (KD only) "
    "collapses: the chain's last generation is below its teacher, and, from an accurate teacher, "
    "below its own first student (tested only if that chain's first student is more accurate "
    "than the plain KD-only chain's, one-sided 5%: else the accurate-teacher control failed and "
    "the prediction is untestable here); (P2, its mechanism) over the KD-only chain, from the "
    "first student to the last, the outputs' entropy on the test set rises, the mean norm of the "
    "centred logits falls and the participation ratio of the penultimate features falls; (P3) "
    "weight decay is what self-distillation amplifies: the first student's gain with weight decay "
    "exceeds its gain without (the interaction, above 0), and without weight decay there is no "
    "gain (0 within ±equivalence_margin, two one-sided tests; a gain contradicts it); both tested "
    "only where the first students with weight decay fit at least converged_train_acc of their "
    "training images (else untestable here). Each prediction is borne out or contradicted by "
    "one-sided t-tests, all of the page's p-values under Holm's correction at a family-wise 5%, "
    "a rejection deciding only if the discovery and replication blocks of seeds both agree with "
    "it. C2 holds (a contradicting example) if some prediction is contradicted; fails if every "
    "testable prediction is borne out, the nulls included; inconclusive otherwise")}


class Config(ChainsConfig):
    """Claim C2 against Mobahi et al. 2020: kernel ridge self-distillation, then deep chains."""

    generations: int = Field(5, ge=1, le=20, description="students per chain in each variant; "
                             "student k is distilled from student k-1, student 1 from the teacher")
    kernel_points: int = Field(11, ge=2, le=1000, description="training points of the toy "
                               "problem (noisy samples of sin(2πx) on [0, 1])")
    kernel_noise: float = Field(0.5, ge=0.0, description="standard deviation of the noise added "
                                "to the toy labels")
    kernel_width: float = Field(0.15, ge=1.0e-3, description="width σ of the RBF kernel "
                                "exp(-(x-x')²/(2σ²))")
    kernel_ridge: float = Field(0.1, ge=1.0e-9, description="ridge c of every round's kernel "
                                "ridge regression")
    kernel_rounds: int = Field(20, ge=2, le=1000, description="self-distillation rounds of the "
                               "toy problem")
    kernel_mix: float = Field(0.3, ge=1.0e-3, le=1.0, description="weight of the ground truth in "
                              "the mixed variant's targets: mix·y + (1 - mix)·previous predictions")
    kernel_seed: int = Field(0, ge=0, description="seed of the toy problem's noise")
    accurate_subset: int = Field(2000, ge=0, description="training images of the accurate "
                                 "teacher of the fourth chain (0: all of them)")
    accurate_epochs: int = Field(12, ge=1, description="epochs of the accurate teacher")
    equivalence_margin: float = Field(1.0, gt=0.0, le=1.0, description="(P3) the first student "
                                      "without weight decay counts as no better and no worse "
                                      "than its teacher within ± this many points (at most 1: a "
                                      "wider margin would call a real gain none)")
    converged_train_acc: float = Field(99.0, ge=0.0, le=100.0, description="(P3) tested only if "
                                       "the first students with weight decay reach this mean "
                                       "accuracy (%) on their own training images")

    @model_validator(mode="after")
    def _variants_differ(self) -> "Config":
        for key in ("weight_ce", "weight_kd", "weight_decay"):
            if getattr(self, key) <= 0:
                raise ValueError(f"parameter {key!r}: must be > 0 here, since the variants "
                                 "compare it with 0 (labels + KD against KD only, weight decay "
                                 "against none)")
        return self


@dataclass
class KernelStudy:
    """The toy problem, its eigenbasis and both chains of rounds (pure and mixed)."""

    problem: theory.ToyProblem
    basis: theory.Eigenbasis
    pure: theory.Rounds
    mixed: theory.Rounds
    mix: float

    def table(self) -> pd.DataFrame:
        """Test error and prediction norm per round, pure and mixed."""
        rounds = np.arange(1, len(self.pure.alpha) + 1)
        return pd.DataFrame({
            "round": rounds,
            "test_mse_pure": self.pure.test_error(self.problem.y_test),
            "norm_pure": self.pure.norms(),
            "test_mse_mixed": self.mixed.test_error(self.problem.y_test),
            "norm_mixed": self.mixed.norms()}).set_index("round")

    def shrinkage(self) -> pd.DataFrame:
        """Per eigen-direction: eigenvalue, factor per round, and what is left after 5 and T."""
        s, rounds = self.basis.shrinkage, len(self.pure.alpha)
        return pd.DataFrame({"eigenvalue": self.basis.eigenvalues, "factor per round": s,
                             "after 5 rounds": s ** 5, f"after {rounds} rounds": s ** rounds},
                            index=pd.RangeIndex(1, len(s) + 1, name="direction"))

    def numbers(self) -> dict:
        table = self.table()
        return {"best_round_pure": int(table.test_mse_pure.idxmin()),
                "mse_round1": float(table.test_mse_pure.iloc[0]),
                "mse_best_pure": float(table.test_mse_pure.min()),
                "mse_last_pure": float(table.test_mse_pure.iloc[-1]),
                "mse_last_mixed": float(table.test_mse_mixed.iloc[-1]),
                "norm_last_over_first_pure": float(table.norm_pure.iloc[-1]
                                                   / table.norm_pure.iloc[0]),
                "norm_last_over_first_mixed": float(table.norm_mixed.iloc[-1]
                                                    / table.norm_mixed.iloc[0])}

    def texts(self) -> dict[str, str]:
        """The sentences the page's prose quotes, computed from the rounds: whether each of the
        theory's predictions shows in its own setting."""
        k = self.numbers()
        rounds = len(self.pure.alpha)
        p1 = (f"a few rounds help and more underfit: the test error is lowest at round "
              f"{k['best_round_pure']} ({k['mse_best_pure']:.3g}, against {k['mse_round1']:.3g} "
              f"at round 1 and {k['mse_last_pure']:.3g} at round {rounds})"
              if 1 < k["best_round_pure"] < rounds else
              f"the test error is lowest at round {k['best_round_pure']} of {rounds}, so the "
              f"prediction that a few rounds help and more underfit does not show here")
        shrinks = k["norm_last_over_first_pure"] < k["norm_last_over_first_mixed"]
        p2 = (f"without the labels the predictions shrink towards the zero function (their norm "
              f"falls to {k['norm_last_over_first_pure']:.2f} of round 1's), and mixing the "
              f"labels back in holds them ({k['norm_last_over_first_mixed']:.2f})" if shrinks
              else f"the predictions' norm falls to {k['norm_last_over_first_pure']:.2f} of round "
                   f"1's without the labels and {k['norm_last_over_first_mixed']:.2f} with them: "
                   f"the collapse the theory predicts does not show here")
        return {"c2_kernel_p1": p1, "c2_kernel_p2": p2}


def kernel_study(config: Config) -> KernelStudy:
    """The theory's own setting: the rounds of kernel ridge self-distillation of ``config``."""
    problem = theory.ToyProblem.sinusoid(config.kernel_points, config.kernel_noise,
                                         config.kernel_seed)
    args = (problem, config.kernel_width, config.kernel_ridge, config.kernel_rounds)
    return KernelStudy(problem,
                       theory.Eigenbasis.of(problem, config.kernel_width, config.kernel_ridge),
                       theory.refit(*args), theory.refit(*args, mix=config.kernel_mix),
                       config.kernel_mix)


def variant_chains(setting: Config, seed: int) -> dict[str, list[ModelSpec]]:
    """Each variant's chain (a teacher, then ``generations`` students) in a declared setting."""
    teacher = teacher_spec(setting, seed)
    kd = kd_weights(setting)
    kd_only = KDWeights(0.0, kd.weight_ce + kd.weight_kd, kd.temperature)
    no_decay = dataclasses.replace(teacher, recipe=dataclasses.replace(teacher.recipe,
                                                                       weight_decay=0.0))
    accurate = dataclasses.replace(
        teacher, train_subset=setting.accurate_subset,
        recipe=dataclasses.replace(teacher.recipe, epochs=setting.accurate_epochs))
    first = dataclasses.replace(accurate.student(accurate.key, kd_only),
                                train_subset=teacher.train_subset, recipe=teacher.recipe)
    return {WITH_LABELS: chain_specs(teacher, setting.generations, kd),
            KD_ONLY: chain_specs(teacher, setting.generations, kd_only),
            KD_ACCURATE: [accurate, *chain_specs(first, setting.generations - 1, kd_only)],
            NO_DECAY: chain_specs(no_decay, setting.generations, kd)}


def _chains(config: Config) -> list[tuple[str, str, list[ModelSpec]]]:
    """(setting, variant, chain) of every declared setting, seed and variant."""
    return [(name, variant, chain) for name, setting, seed in settings_and_seeds(config)
            for variant, chain in variant_chains(setting, seed).items()]


def plan(config: Config) -> Plan:
    return [chain for *_, chain in _chains(config)]


def mechanism(study: Study, spec: ModelSpec, on: ModelSpec) -> dict[str, float]:
    """The theory's mechanism in one model (``spec``'s) on ``on``'s data: output entropy on the
    training and test sets, the mean norm of the centred logits and the participation ratio of
    the penultimate
    features on the test set."""
    model, data = study[spec].model, study.lab.data(on)
    features, test = penultimate(model, data.test_x, study.lab.speed.eval_batch)
    train = predict_logits(model, data.train_x, study.lab.speed.eval_batch)
    centred = test - test.mean(dim=1, keepdim=True)  # a constant shift changes no prediction
    return {"test_entropy": output_entropy(test), "train_entropy": output_entropy(train),
            "centred_logit_norm": float(centred.norm(dim=1).mean()),
            "participation_ratio": participation_ratio(features)}


def analyse(config: Config, study: Study) -> Result:
    rows = []
    for name, variant, chain in _chains(config):
        on = chain[-1]  # every model of a chain is read on its students' data
        block = seed_blocks(dict(config.declared())[name])[chain[0].seed]
        rows += [{**study.row(spec, setting=name, variant=variant, block=block),
                  **mechanism(study, spec, on)} for spec in chain]
    table = pd.DataFrame(rows)
    changes = accuracy_changes(table)
    check = checks(config, table)
    tests = judge_family(predictions(config, table, check))
    return Result({"C2": c2_verdict(tests)}, kernel=kernel_study(config), table=table,
                  changes=changes, checks=check, tests=tests)


def accuracy_changes(table: pd.DataFrame) -> pd.DataFrame:
    """Per setting, variant and student generation: the paired change in test accuracy over the
    chain's own teacher (generation 0) and over the generation before, with 95% intervals."""
    generations = sorted(g for g in table.generation.unique() if g > 0)
    by = ["setting", "variant"]
    over_teacher = paired_differences(table, "test_acc", "generation",
                                      {g: (g, 0) for g in generations}, by)
    over_previous = paired_differences(table, "test_acc", "generation",
                                       {g: (g, g - 1) for g in generations}, by)
    accuracy = table.groupby([*by, "generation"], sort=False).test_acc.mean()
    changes = over_teacher.rename(
        columns={"comparison": "generation", "difference": "over_teacher"}).drop(
        columns=["positive", "negative", "baseline"])
    changes.insert(changes.columns.get_loc("seeds") + 1, "accuracy",
                   [accuracy[(*k, g)] for k, g in zip(changes[by].itertuples(index=False),
                                                      changes.generation)])
    changes["over_previous"] = over_previous.difference.to_numpy()
    changes["prev_ci_low"] = over_previous.ci_low.to_numpy()
    changes["prev_ci_high"] = over_previous.ci_high.to_numpy()
    return changes


def _differences(table: pd.DataFrame, setting: str, variant: str, column: str,
                 late: int, early: int) -> pd.Series:
    """Per seed, ``column`` at generation ``late`` minus at ``early`` in one chain variant."""
    rows = table[(table.setting == setting) & (table.variant == variant)]
    wide = rows.pivot(index="seed", columns="generation", values=column)
    return (wide[late] - wide[early]).dropna()


def checks(config: Config, table: pd.DataFrame) -> pd.DataFrame:
    """Per declared setting, the two manipulation checks: do the first students with weight decay
    fit their training images (P3 needs a converged student), and is the accurate chain's first
    student more accurate than the plain KD-only chain's (one-sided t-test at 5%, paired by
    seed)?"""
    rows = []
    for name, setting in config.declared():
        own = table[(table.setting == name) & (table.generation == 1)]
        fit = float(own[own.variant == WITH_LABELS].train_acc.mean())
        wide = own.pivot(index="seed", columns="variant", values="test_acc")
        better = (wide[KD_ACCURATE] - wide[KD_ONLY]).dropna().tolist()
        p = one_sided_p(better, greater=True)
        rows.append({"setting": name, "students_train_acc": fit,
                     "converged": fit >= setting.converged_train_acc,
                     "accurate_minus_plain_first_student": float(np.mean(better)),
                     "accurate_p": p, "accurate_control": bool(p < 0.05)})
    return pd.DataFrame(rows)


def predictions(config: Config, table: pd.DataFrame, check: pd.DataFrame) -> list[Prediction]:
    """The page's family of predictions, per declared setting (see RULES)."""
    out = []
    passed = check.set_index("setting")
    for name, setting in config.declared():
        last, blocks = setting.generations, seed_blocks(setting)
        own = passed.loc[name]

        def p(label: str, kind: str, d: pd.Series, margin: float = 0.0, why: str = ""):
            return Prediction(label, kind, tuple(d), margin, name,
                              tuple(blocks[s] for s in d.index) if setting.discovery_seeds
                              else (), why)

        d = lambda *args: _differences(table, name, *args)  # noqa: E731
        unconverged = ("" if own.converged else
                       f"the students with weight decay fit {own.students_train_acc:.1f}% of their "
                       f"training images, below {setting.converged_train_acc:g}%")
        interaction = d(WITH_LABELS, "test_acc", 1, 0) - d(NO_DECAY, "test_acc", 1, 0)
        out += [
            p("KD only: last generation − teacher", "below", d(KD_ONLY, "test_acc", last, 0)),
            p("KD only, accurate teacher: last generation − first student", "below",
              d(KD_ACCURATE, "test_acc", last, 1),
              why="" if own.accurate_control else "the accurate teacher's first student is not "
              "shown more accurate than the plain chain's: the control failed"),
            p("KD only: test entropy, last − first student", "above",
              d(KD_ONLY, "test_entropy", last, 1)),
            p("KD only: centred logit norm, last − first student", "below",
              d(KD_ONLY, "centred_logit_norm", last, 1)),
            p("KD only: participation ratio, last − first student", "below",
              d(KD_ONLY, "participation_ratio", last, 1)),
            p("gain with weight decay − gain without", "above", interaction.dropna(),
              why=unconverged),
            p("no weight decay: first student − teacher", "null", d(NO_DECAY, "test_acc", 1, 0),
              setting.equivalence_margin, why=unconverged)]
    return out


@dataclass
class Result(ClaimResult):
    kernel: KernelStudy
    table: pd.DataFrame  # one row per trained model, with its mechanism measures
    changes: pd.DataFrame  # per setting, variant and generation: paired change over the teacher
    checks: pd.DataFrame  # per setting: the students' fit and the accurate-teacher control
    tests: pd.DataFrame  # the family of predictions, each with its outcome

    def accuracy_table(self) -> pd.DataFrame:
        """Mean test accuracy (%) over seeds, variants as rows and generations as columns."""
        return self._by_generation("test_acc").round(2)

    def mechanism_table(self) -> pd.DataFrame:
        """Means over seeds of the mechanism measures, by variant and generation."""
        return self.table.groupby(["setting", "variant", "generation"], sort=False)[
            ["test_acc", *MECHANISM]].mean().round(4)

    def _by_generation(self, column: str) -> pd.DataFrame:
        wide = self.table.pivot_table(index=["setting", "variant"], columns="generation",
                                      values=column, aggfunc="mean", sort=False)
        wide.columns = [generation_name(g) for g in wide.columns]
        return wide

    def trained_now(self) -> pd.DataFrame:
        """How many models of each variant and generation were trained by this run."""
        return self.table.groupby(["variant", "generation"], sort=False).trained_now.sum(
        ).unstack()

    def tests_table(self) -> pd.DataFrame:
        return self.tests.round(4)

    def headline(self, claim: str = "C2") -> str:
        counts = self.tests.outcome.value_counts()
        contradicted = "; ".join(f"{r.prediction} {r.mean:+.2f} [{r.ci_low:+.2f}, "
                                 f"{r.ci_high:+.2f}]" for r in self.tests.itertuples()
                                 if r.outcome == "contradicted")
        return (f"of {len(self.tests)} predictions, {counts.get('borne out', 0)} borne out, "
                f"{counts.get('contradicted', 0)} contradicted, {counts.get('undecided', 0)} "
                f"undecided" + (f"; contradicted: {contradicted}" if contradicted else ""))

    def texts(self) -> dict[str, str]:
        """The sentences the page's prose quotes, computed from the tables (the kernel study's
        are glued where the page shows it)."""
        readings = "; ".join(f"{r.prediction} ({r.setting}): {r.mean:+.3g} [{r.ci_low:+.3g}, "
                             f"{r.ci_high:+.3g}], {r.outcome}" for r in self.tests.itertuples())
        checks = "; ".join(
            f"{r.setting}: the first students with weight decay fit {r.students_train_acc:.1f}% "
            f"of their training images, so P3 is "
            f"{'testable' if r.converged else 'untestable here'}; the accurate teacher's first "
            f"student minus the plain teacher's {r.accurate_minus_plain_first_student:+.2f} pp "
            f"({p_text(r.accurate_p, 'one-sided')}): the control "
            f"{'worked' if r.accurate_control else 'failed'}" for r in self.checks.itertuples())
        return {"c2_predictions": readings, "c2_checks": checks}

    def numbers(self, claim: str = "C2") -> dict[str, Any]:
        columns = ["setting", "variant", "seed", "block", "generation", "test_acc", "train_acc",
                   "test_loss", "train_loss", *MECHANISM]
        return {"headline": self.headline(),
                "tests": self.tests.round(6).to_dict(orient="records"),
                "checks": self.checks.round(4).to_dict(orient="records"),
                "changes": self.changes.round(4).to_dict(orient="records"),
                "kernel": self.kernel.numbers(),
                "models": self.table[columns].round(6).to_dict(orient="records")}
