"""Claim C2 against "self-distillation amplifies regularization" (Mobahi et al. 2020).

``kernel_study`` runs the theory in its own setting (``engine.theory``: kernel ridge regression on a
noisy sinusoid), pure and with the ground truth mixed back in. ``plan`` then puts its predictions to
deep networks: for each setting and seed, three chains of ``generations`` students: labels + KD
with weight decay (C1's loss), KD only (no labels: pure self-distillation), and labels + KD without
weight decay (no explicit regularizer to amplify). ``analyse`` reads both. Cost: per setting and
seed, two teachers and 3 × generations students, minus those already stored (the first chain's teacher
and students are C1's when the settings match).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from pydantic import Field, model_validator

from ..engine import theory
from ..engine.specs import KDWeights, ModelSpec, chain_specs
from ..engine.stats import paired_differences, three_way
from .common import ClaimResult, Plan, base_spec, generation_name, kd_weights, settings_and_seeds
from .config import ChainsConfig
from .runner import Study

WITH_LABELS, KD_ONLY, NO_DECAY = "labels + KD", "KD only", "labels + KD, no weight decay"
VARIANTS = (WITH_LABELS, KD_ONLY, NO_DECAY)

RULES = {"C2": (
    "the theory predicts that (a) pure self-distillation (KD only) heads for collapse, so "
        "after the last generation the student is below its original teacher, and (b) without an "
        "explicit regularizer (no weight decay) there is no gain. C2 holds (a contradicting "
        "example) if in some setting the KD-only chain's last generation is above its teacher "
        "(paired 95% CI above 0) or the first student without weight decay beats its teacher (CI "
        "above 0); fails if in every setting both intervals lie wholly below 0; inconclusive "
        "otherwise")}


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
        """The numbers the page's prose quotes, formatted."""
        k = self.numbers()
        return {"c2_best_round": str(k["best_round_pure"]),
                "c2_norm_pure": f"{k['norm_last_over_first_pure']:.2f}",
                "c2_norm_mixed": f"{k['norm_last_over_first_mixed']:.2f}"}


def kernel_study(config: Config) -> KernelStudy:
    problem = theory.ToyProblem.sinusoid(config.kernel_points, config.kernel_noise,
                                         config.kernel_seed)
    args = (problem, config.kernel_width, config.kernel_ridge, config.kernel_rounds)
    return KernelStudy(problem,
                       theory.Eigenbasis.of(problem, config.kernel_width, config.kernel_ridge),
                       theory.refit(*args), theory.refit(*args, mix=config.kernel_mix),
                       config.kernel_mix)


@dataclass
class Result(ClaimResult):
    kernel: KernelStudy
    table: pd.DataFrame  # one row per trained model
    changes: pd.DataFrame  # per setting, variant and generation: paired change over the teacher

    def accuracy_table(self) -> pd.DataFrame:
        """Mean test accuracy (%) over seeds, variants as rows and generations as columns."""
        wide = self.table.pivot_table(index=["dataset", "model", "variant"], columns="generation",
                                      values="test_acc", aggfunc="mean", sort=False)
        wide.columns = [generation_name(g) for g in wide.columns]
        return wide.round(2)

    def trained_now(self) -> pd.DataFrame:
        """How many models of each variant and generation were trained by this run."""
        return self.table.groupby(["variant", "generation"], sort=False).trained_now.sum(
        ).unstack()

    def predictions(self) -> pd.DataFrame:
        """The two tests of the rule, per setting."""
        return predictions(self.changes)

    def headline(self, claim: str = "C2") -> str:
        p = self.predictions().iloc[0]
        return (f"KD-only gen {int(p.last_generation)} vs teacher {p.kd_only_last:+.2f} pp "
                f"[{p.kd_only_last_low:+.2f}, {p.kd_only_last_high:+.2f}]; no-decay gen-1 gain "
                f"{p.no_decay_gain:+.2f} [{p.no_decay_gain_low:+.2f}, {p.no_decay_gain_high:+.2f}]")

    def numbers(self, claim: str = "C2") -> dict[str, Any]:
        return {"headline": self.headline(),
                "predictions": self.predictions().round(4).to_dict(orient="records"),
                "changes": self.changes.round(4).to_dict(orient="records"),
                "kernel": self.kernel.numbers()}


def variant_starts(config: Config, dataset: str, model: str,
                   seed: int) -> dict[str, tuple[ModelSpec, KDWeights]]:
    """The teacher spec and student loss of each variant."""
    teacher = base_spec(config, dataset, model, seed)
    no_decay = dataclasses.replace(teacher, recipe=dataclasses.replace(teacher.recipe,
                                                                       weight_decay=0.0))
    kd = kd_weights(config)
    kd_only = KDWeights(0.0, kd.weight_ce + kd.weight_kd, kd.temperature)
    return {WITH_LABELS: (teacher, kd), KD_ONLY: (teacher, kd_only), NO_DECAY: (no_decay, kd)}


def _variant_chains(config: Config) -> list[tuple[str, list[ModelSpec]]]:
    return [(variant, chain_specs(teacher, config.generations, kd))
            for setting in settings_and_seeds(config)
            for variant, (teacher, kd) in variant_starts(config, *setting).items()]


def plan(config: Config) -> Plan:
    return [chain for _, chain in _variant_chains(config)]


def analyse(config: Config, study: Study) -> Result:
    table = pd.DataFrame([study.row(spec, variant=variant)
                          for variant, chain in _variant_chains(config) for spec in chain])
    changes = accuracy_changes(table)
    return Result({"C2": verdict(predictions(changes))}, kernel=kernel_study(config),
                  table=table, changes=changes)


def accuracy_changes(table: pd.DataFrame) -> pd.DataFrame:
    """Per setting, variant and student generation: the paired change in test accuracy over the
    chain's own teacher (generation 0) and over the generation before, with 95% intervals."""
    generations = sorted(g for g in table.generation.unique() if g > 0)
    by = ["dataset", "model", "variant"]
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


def predictions(changes: pd.DataFrame) -> pd.DataFrame:
    """Per setting: the KD-only chain's last generation and the no-decay first student, each
    against its own teacher, beside the first student of the chain with labels and weight decay."""
    rows = []
    for (dataset, model), group in changes.groupby(["dataset", "model"], sort=False):
        def at(variant: str, generation: int) -> pd.Series:
            return group[(group.variant == variant) & (group.generation == generation)].iloc[0]
        last = int(group.generation.max())
        kd_only, no_decay, base = at(KD_ONLY, last), at(NO_DECAY, 1), at(WITH_LABELS, 1)
        rows.append({"dataset": dataset, "model": model, "last_generation": last,
                     "kd_only_last": kd_only.over_teacher, "kd_only_last_low": kd_only.ci_low,
                     "kd_only_last_high": kd_only.ci_high,
                     "no_decay_gain": no_decay.over_teacher, "no_decay_gain_low": no_decay.ci_low,
                     "no_decay_gain_high": no_decay.ci_high,
                     "with_decay_gain": base.over_teacher, "with_decay_gain_low": base.ci_low,
                     "with_decay_gain_high": base.ci_high})
    return pd.DataFrame(rows)


def verdict(predictions: pd.DataFrame) -> str:
    """The rule applied to the table of ``predictions``: a contradicting example suffices."""
    lows = [*predictions.kd_only_last_low, *predictions.no_decay_gain_low]
    highs = [*predictions.kd_only_last_high, *predictions.no_decay_gain_high]
    return three_way(lows, highs, sign=1, need="any")
