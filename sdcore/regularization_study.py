"""Claim C2 against "self-distillation amplifies regularization" (Mobahi et al. 2020).

``kernel_study`` runs the theory in its own setting (``sdcore.theory``: kernel ridge regression on a
noisy sinusoid), pure and with the ground truth mixed back in. ``run`` then puts its predictions to
deep networks: for each setting and seed, three chains of ``generations`` students from the run
store: labels + KD with weight decay (C1's loss), KD only (no labels: pure self-distillation), and
labels + KD without weight decay (no explicit regularizer to amplify). Cost: per setting and seed,
two teachers and 3 × generations students, minus those already stored (the first chain's teacher
and students are C1's when the settings match).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import pandas as pd

from . import theory
from .config import AmplifiedRegularizationConfig
from .distill import KDWeights
from .lab import Lab, base_spec, kd_weights, settings_and_seeds
from .stats import mean_ci

WITH_LABELS, KD_ONLY, NO_DECAY = "labels + KD", "KD only", "labels + KD, no weight decay"
VARIANTS = (WITH_LABELS, KD_ONLY, NO_DECAY)

RULE = ("the theory predicts that (a) pure self-distillation (KD only) heads for collapse, so "
        "after the last generation the student is below its original teacher, and (b) without an "
        "explicit "
        "regularizer (no weight decay) there is no gain. C2 holds (a contradicting example) if the "
        "KD-only chain's last generation is above its teacher (paired 95% CI above 0) or the first "
        "student without weight decay beats its teacher (CI above 0), in some setting; fails if in "
        "every setting the KD-only chain ends below its teacher (CI below 0) and the no-decay "
        "student's gain has its CI upper end at or below 0; inconclusive otherwise")


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


def kernel_study(config: AmplifiedRegularizationConfig) -> KernelStudy:
    problem = theory.ToyProblem.sinusoid(config.kernel_points, config.kernel_noise,
                                         config.kernel_seed)
    args = (problem, config.kernel_width, config.kernel_ridge, config.kernel_rounds)
    return KernelStudy(problem,
                       theory.Eigenbasis.of(problem, config.kernel_width, config.kernel_ridge),
                       theory.refit(*args), theory.refit(*args, mix=config.kernel_mix),
                       config.kernel_mix)


@dataclass
class ChainsResult:
    table: pd.DataFrame  # one row per trained model
    changes: pd.DataFrame  # per setting, variant and generation: paired change over the teacher
    verdict: str
    device: str
    rule: str = RULE

    def accuracy_table(self) -> pd.DataFrame:
        """Mean test accuracy (%) over seeds, variants as rows and generations as columns."""
        wide = self.table.pivot_table(index=["dataset", "model", "variant"], columns="generation",
                                      values="test_acc", aggfunc="mean", sort=False)
        wide.columns = ["teacher" if g == 0 else f"student {g}" for g in wide.columns]
        return wide.round(2)

    def predictions(self) -> pd.DataFrame:
        """The two tests of the rule, per setting."""
        return predictions(self.changes)

    def headline(self) -> str:
        p = self.predictions().iloc[0]
        return (f"KD-only gen {int(p.last_generation)} vs teacher {p.kd_only_last:+.2f} pp "
                f"[{p.kd_only_last_low:+.2f}, {p.kd_only_last_high:+.2f}]; no-decay gen-1 gain "
                f"{p.no_decay_gain:+.2f} [{p.no_decay_gain_low:+.2f}, {p.no_decay_gain_high:+.2f}]")

    def numbers(self) -> dict:
        return {"headline": self.headline(),
                "predictions": self.predictions().round(4).to_dict(orient="records"),
                "changes": self.changes.round(4).to_dict(orient="records")}


def variant_chains(config: AmplifiedRegularizationConfig, dataset: str, model: str,
                   seed: int) -> dict[str, tuple]:
    """The teacher spec and student loss of each variant."""
    teacher = base_spec(config, dataset, model, seed)
    no_decay = dataclasses.replace(teacher, recipe=dataclasses.replace(teacher.recipe,
                                                                       weight_decay=0.0))
    kd = kd_weights(config)
    kd_only = KDWeights(0.0, kd.weight_ce + kd.weight_kd, kd.temperature)
    return {WITH_LABELS: (teacher, kd), KD_ONLY: (teacher, kd_only), NO_DECAY: (no_decay, kd)}


def run(config: AmplifiedRegularizationConfig, lab: Lab | None = None) -> ChainsResult:
    lab = lab or Lab.from_config(config)
    starts = [(setting, variant, teacher, kd) for setting in settings_and_seeds(config)
              for variant, (teacher, kd) in variant_chains(config, *setting).items()]
    chains = lab.chains([s[2] for s in starts], config.generations, [s[3] for s in starts])
    table = pd.DataFrame([
        {"dataset": dataset, "model": model, "variant": variant, "seed": seed,
         "generation": trained.spec.generation, **trained.row()}
        for ((dataset, model, seed), variant, _, _), chain in zip(starts, chains)
        for trained in chain])
    changes = analyse(table)
    return ChainsResult(table, changes, verdict(predictions(changes)), str(lab.device))


def analyse(table: pd.DataFrame) -> pd.DataFrame:
    """Per setting, variant and student generation: the paired change in test accuracy over the
    chain's own teacher (generation 0) and over the generation before, with 95% intervals."""
    rows = []
    for (dataset, model, variant), group in table.groupby(["dataset", "model", "variant"],
                                                          sort=False):
        acc = group.pivot(index="seed", columns="generation", values="test_acc")
        for g in acc.columns[1:]:
            mean, lo, hi = mean_ci((acc[g] - acc[0]).tolist())
            step, step_lo, step_hi = mean_ci((acc[g] - acc[g - 1]).tolist())
            rows.append({"dataset": dataset, "model": model, "variant": variant,
                         "generation": int(g), "seeds": len(acc), "accuracy": acc[g].mean(),
                         "over_teacher": mean, "ci_low": lo, "ci_high": hi,
                         "over_previous": step, "prev_ci_low": step_lo, "prev_ci_high": step_hi})
    return pd.DataFrame(rows)


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
    """RULE applied to the table of ``predictions``."""
    contradicted = (predictions.kd_only_last_low > 0) | (predictions.no_decay_gain_low > 0)
    if contradicted.any():
        return "holds"
    borne_out = (predictions.kd_only_last_high < 0) & (predictions.no_decay_gain_high <= 0)
    return "fails" if borne_out.all() else "inconclusive"
