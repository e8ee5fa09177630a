"""Claim C2 against the multi-view account of self-distillation (Allen-Zhu & Li 2020).

Per declared setting and seed s: the teacher and its self-distilled student, an independently
trained network of the same architecture (the teacher of seed s + seeds, so partners never
coincide with the experiment's own teachers), their explicit ensemble, a student distilled from
that ensemble, a student distilled from the teacher that starts from the teacher's own initial
weights, and a label-smoothing student (C1's control: the teacher's softness without its dark
knowledge; a feature-noise pattern can act as instance-specific label smoothing). ``analyse``
checks the manipulation the theory's test needs — does the same-init student stay with its
teacher (test agreement, loss barrier on the straight line between them) more than the fresh one
does? — and tests the theory's predictions so that each can be borne out or contradicted
(``predictions``: Holm's correction over the page's family, each decisive outcome replicated in
both blocks of seeds): (M1) the student does not exceed the ensemble; (M2) the same-init student
gains less than the fresh one, tested only where the manipulation worked; (M3) with
``views_contrast``, data with many views per class give a larger gain than data with one view,
tested only where that manipulation worked on the judged data (``views_checks``: the two
settings' teachers matched in accuracy within ``views_margin``, and the explicit ensemble gaining
more on many views than on one), raw and as the student's share of the ensemble's gain. Cost per
setting and seed: at most six trainings, minus those already in the run store.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd
from pydantic import Field, model_validator

from ..engine.calibration import agreement
from ..engine.inference import predict_logits
from ..engine.mechanisms import loss_barrier
from ..engine.specs import AVERAGES, ModelSpec, ensemble_key
from ..engine.stats import equivalence, one_sided_p, p_text, paired_differences
from .common import ClaimResult, Plan, kd_weights, seed_blocks, settings_and_seeds, teacher_spec
from .config import ExperimentConfig
from .predictions import Prediction, c2_verdict, judge_family
from .runner import Study

ROLES = ("teacher", "partner", "ensemble", "student", "ensemble student", "same-init student",
         "label-smoothing student")
COMPARISONS = {  # name: (model, baseline), paired by seed
    "student vs teacher": ("student", "teacher"),
    "student vs ensemble": ("student", "ensemble"),
    "same-init vs fresh student": ("same-init student", "student"),
    "same-init student vs teacher": ("same-init student", "teacher"),
    "ensemble vs teacher": ("ensemble", "teacher"),
    "ensemble student vs student": ("ensemble student", "student"),
    "student vs label-smoothing student": ("student", "label-smoothing student"),
}
RULES = {"C2": (
    "the multi-view account's predictions, per declared setting: (M1) the self-distilled "
    "student does not exceed the explicit ensemble of its teacher and an independent network "
    "(borne out: student − ensemble below +ensemble_margin by a one-sided test; contradicted: "
    "above 0); (M2) a student started from the teacher's own initial weights gains less than one "
    "started fresh (same-init − fresh below 0; contradicted: above 0), tested only in settings "
    "where that student stays with its teacher (higher test agreement and lower loss barrier "
    "than the fresh one, one-sided 5% each); (M3) with views_contrast, the student's gain over "
    "its teacher on data with many views per class exceeds its gain on data with one view, "
    "as it is and as the student's share of the explicit ensemble's gain, tested only where the "
    "manipulation worked on the judged data: the two settings' teachers equivalent in test "
    "accuracy within ±views_margin (two one-sided tests) and the ensemble's gain over the teacher "
    "larger on many views than on one (one-sided 5%); else untestable here. All of the page's "
    "p-values under Holm's correction at a family-wise 5%, a rejection deciding only if the "
    "discovery and replication blocks of seeds both agree with it. C2 holds (a contradicting "
    "example) if some prediction is contradicted; fails if every testable prediction is borne "
    "out; inconclusive otherwise")}


class Config(ExperimentConfig):
    """Claim C2 against Allen-Zhu & Li 2020: ensembles, the student's starting point, views."""

    ABOUT_SETTINGS = ("settings", "views_contrast")

    ensemble_average: Literal[AVERAGES] = Field(  # type: ignore[valid-type]
        "logits", description="how the ensemble of teacher and independent network averages: "
        "logits (the networks' outputs, as in Allen-Zhu & Li) or probabilities")
    ensemble_margin: float = Field(1.0, gt=0.0, description="(M1) the student counts as not "
                                   "exceeding the ensemble if student − ensemble is below this "
                                   "many points (one-sided 95%)")
    barrier_points: int = Field(11, ge=3, description="points on the straight line between a "
                                "student and its teacher where the loss barrier is read")
    barrier_samples: int = Field(500, ge=1, description="training images the loss barrier is "
                                 "read on")
    views_contrast: list[str] = Field([], description="(M3) two declared settings: data with many "
                                      "views per class, then data with one view meant to match "
                                      "its difficulty; empty: no such test")
    views_margin: float = Field(1.0, gt=0.0, description="(M3) the two settings' teachers count "
                                "as matched in test accuracy within ± this many points (two "
                                "one-sided tests over seeds paired by order)")

    @model_validator(mode="after")
    def _contrast_declared(self) -> "Config":
        names = self.setting_names()
        if self.views_contrast and (len(self.views_contrast) != 2
                                    or not set(self.views_contrast) <= set(names)):
            raise ValueError(f"parameter 'views_contrast': two of the declared settings "
                             f"({', '.join(names)}), got {self.views_contrast}")
        return self


def seed_specs(setting: Config, seed: int) -> dict[str, ModelSpec]:
    """The spec of every trained role in a declared setting at ``seed``."""
    kd = kd_weights(setting)
    teacher = teacher_spec(setting, seed)
    # an independent network on the teacher's own images: another seed, the same subset
    partner = dataclasses.replace(teacher_spec(setting, seed + setting.seeds),
                                  subset_seed=teacher.subset_seed)
    student = teacher.student(teacher.key, kd)
    return {"teacher": teacher, "partner": partner, "student": student,
            "same-init student": dataclasses.replace(student, init_seed=teacher.training_seed),
            "ensemble student": teacher.student(
                ensemble_key([teacher.key, partner.key], setting.ensemble_average), kd),
            "label-smoothing student": teacher.student(
                teacher.key, dataclasses.replace(kd, targets="label smoothing"))}


def _all_specs(config: Config) -> list[tuple[str, int, dict[str, ModelSpec]]]:
    """(setting, seed, role specs) of every declared setting and seed."""
    return [(name, seed, seed_specs(setting, seed))
            for name, setting, seed in settings_and_seeds(config)]


def plan(config: Config) -> Plan:
    chains = []
    for *_, specs in _all_specs(config):
        chains += [[specs["teacher"], specs["student"], specs["same-init student"],
                    specs["label-smoothing student"]], [specs["partner"]],
                   [specs["ensemble student"]]]
    return chains


def staying(study: Study, specs: dict[str, ModelSpec], config: Config) -> dict[str, float]:
    """How close each student stays to its teacher: test agreement (%) and the loss barrier on
    the straight line between them, for the same-init and the fresh student."""
    teacher = study[specs["teacher"]].model
    data = study.lab.data(specs["teacher"])
    x, y = study.lab.training_sample(specs["teacher"], config.barrier_samples)
    reference = predict_logits(teacher, data.test_x, study.lab.speed.eval_batch)
    out = {}
    for role, label in (("same-init student", "same_init"), ("student", "fresh")):
        model = study[specs[role]].model
        out[f"{label}_agreement"] = agreement(
            predict_logits(model, data.test_x, study.lab.speed.eval_batch), reference)
        out[f"{label}_barrier"] = loss_barrier(teacher, model, x, y, config.barrier_points)
    return out


def analyse(config: Config, study: Study) -> Result:
    rows, checks = [], []
    for name, seed, specs in _all_specs(config):
        roles = {role: study[spec] for role, spec in specs.items()}
        roles["ensemble"] = study.lab.ensemble([roles["teacher"], roles["partner"]],
                                               config.ensemble_average)
        # paired by the setting's seed (a partner is trained with another)
        rows += [{**study.row(roles[role], setting=name, role=role), "seed": seed}
                 for role in ROLES]
        checks.append({"setting": name, "seed": seed, **staying(study, specs, config)})
    table = pd.DataFrame(rows)
    comparisons = role_comparisons(table)
    manipulation = manipulation_checks(pd.DataFrame(checks))
    views = views_checks(config, table)
    tests = judge_family(predictions(config, table, manipulation, views))
    return Result({"C2": c2_verdict(tests)}, table=table, comparisons=comparisons,
                  checks=pd.DataFrame(checks), manipulation=manipulation, views=views,
                  tests=tests)


def role_comparisons(table: pd.DataFrame) -> pd.DataFrame:
    """Per setting, the paired differences of COMPARISONS with 95% intervals."""
    return paired_differences(table, "test_acc", "role", COMPARISONS, ["setting"])


def manipulation_checks(checks: pd.DataFrame) -> pd.DataFrame:
    """Per setting: whether the same-init student stays with its teacher more than the fresh one
    (agreement higher, barrier lower, each by a one-sided paired t-test at 5%): ``worked``,
    ``failed`` (it stays less, significantly) or ``undecided``."""
    rows = []
    for setting, group in checks.groupby("setting", sort=False):
        agree = (group.same_init_agreement - group.fresh_agreement).tolist()
        barrier = (group.same_init_barrier - group.fresh_barrier).tolist()
        closer = one_sided_p(agree, greater=True) < 0.05 and one_sided_p(barrier,
                                                                          greater=False) < 0.05
        farther = one_sided_p(agree, greater=False) < 0.05 or one_sided_p(barrier,
                                                                           greater=True) < 0.05
        rows.append({"setting": setting, "seeds": len(group),
                     "agreement_same_init": group.same_init_agreement.mean(),
                     "agreement_fresh": group.fresh_agreement.mean(),
                     "barrier_same_init": group.same_init_barrier.mean(),
                     "barrier_fresh": group.fresh_barrier.mean(),
                     "manipulation": "worked" if closer else "failed" if farther
                     else "undecided"})
    return pd.DataFrame(rows)


def _differences(table: pd.DataFrame, setting: str, a: str, b: str | None = None) -> pd.Series:
    """Per seed of ``setting``, role ``a``'s test accuracy minus role ``b``'s (or ``a``'s)."""
    rows = table[table.setting == setting]
    wide = rows.pivot(index="seed", columns="role", values="test_acc")
    return (wide[a] - (wide[b] if b else 0.0)).dropna()


def _by_order(many: pd.Series, one: pd.Series) -> np.ndarray:
    """``many`` − ``one`` over the two settings' seeds matched by their order."""
    paired = min(len(many), len(one))
    return many.iloc[:paired].to_numpy() - one.iloc[:paired].to_numpy()


def views_checks(config: Config, table: pd.DataFrame) -> dict[str, Any]:
    """(M3)'s manipulation on the judged data: are the two settings' teachers matched in test
    accuracy (equivalent within ±views_margin), and does the explicit ensemble gain more on many
    views than on one (one-sided t-test at 5%)? The outcome, ``worked`` or why not."""
    if not config.views_contrast:
        return {}
    many, one = config.views_contrast
    teachers = _by_order(*(_differences(table, s, "teacher") for s in (many, one)))
    ensemble = _by_order(*(_differences(table, s, "ensemble", "teacher") for s in (many, one)))
    matched, _ = equivalence(teachers.tolist(), config.views_margin)
    p = one_sided_p(ensemble.tolist(), greater=True)
    why = []
    if matched != "equivalent":
        why.append(f"the teachers are not matched: {many} − {one} {teachers.mean():+.2f} pp "
                   f"({matched} within ±{config.views_margin:g})")
    if not p < 0.05:
        why.append(f"the ensemble does not gain more on {many} than on {one} "
                   f"({ensemble.mean():+.2f} pp, {p_text(p, 'one-sided')})")
    return {"teachers_many_minus_one": float(teachers.mean()), "teachers_matched": matched,
            "ensemble_gain_many_minus_one": float(ensemble.mean()), "ensemble_p": p,
            "outcome": "worked" if not why else "; ".join(why)}


def predictions(config: Config, table: pd.DataFrame, manipulation: pd.DataFrame,
                views: dict[str, Any]) -> list[Prediction]:
    """The page's family of predictions (see RULES)."""
    worked = dict(zip(manipulation.setting, manipulation.manipulation == "worked"))
    out = []
    for name, setting in config.declared():
        blocks = seed_blocks(setting)

        def p(label: str, kind: str, d: pd.Series, margin: float = 0.0) -> Prediction:
            return Prediction(label, kind, tuple(d), margin, name,
                              tuple(blocks[s] for s in d.index) if setting.discovery_seeds
                              else ())

        out.append(p("M1: student − ensemble", "at most",
                     _differences(table, name, "student", "ensemble"), setting.ensemble_margin))
        if worked.get(name):
            out.append(p("M2: same-init − fresh student", "below",
                         _differences(table, name, "same-init student", "student")))
    if config.views_contrast:
        many, one = config.views_contrast
        first = dict(config.declared())[many]
        blocks = seed_blocks(first)
        gains = [_differences(table, s, "student", "teacher") for s in (many, one)]
        ensemble = [_differences(table, s, "ensemble", "teacher") for s in (many, one)]
        shares = [g / e for g, e in zip(gains, ensemble)]
        undefined = any((e <= 0).any() for e in ensemble)
        why = "" if views["outcome"] == "worked" else views["outcome"]
        labels = (tuple(blocks[s] for s in gains[0].index[:min(map(len, gains))])
                  if first.discovery_seeds else ())
        out += [Prediction(f"M3: gain on {many} − gain on {one}", "above",
                           tuple(_by_order(*gains)), setting=f"{many} vs {one}", blocks=labels,
                           untestable=why),
                Prediction(f"M3: student's share of the ensemble's gain, {many} − {one}",
                           "above", tuple(_by_order(*shares)), setting=f"{many} vs {one}",
                           blocks=labels, untestable=why or (
                               "an ensemble that does not gain over its teacher in some seed "
                               "leaves the share undefined" if undefined else ""))]
    return out


@dataclass
class Result(ClaimResult):
    table: pd.DataFrame  # one row per model (or ensemble) per setting and seed
    comparisons: pd.DataFrame  # per setting and comparison: paired difference with its interval
    checks: pd.DataFrame  # per setting and seed: how close each student stays to its teacher
    manipulation: pd.DataFrame  # per setting: did the same-init manipulation work
    views: dict[str, Any]  # (M3)'s manipulation: matched teachers, the ensemble's contrast
    tests: pd.DataFrame  # the family of predictions, each with its outcome

    def accuracy_table(self) -> pd.DataFrame:
        """Test accuracy (%) with seeds as rows and roles as columns, per setting."""
        wide = self.table.pivot(index=["setting", "seed"], columns="role",
                                values="test_acc")
        return wide[list(ROLES)].round(2)

    def trained_now(self) -> pd.DataFrame:
        """How many models of each role were trained by this run."""
        return self.table.groupby("role", sort=False).trained_now.sum().to_frame("trained now")

    def headline(self, claim: str = "C2") -> str:
        counts = self.tests.outcome.value_counts()
        parts = "; ".join(f"{r.prediction} ({r.setting}) {r.mean:+.2f} [{r.ci_low:+.2f}, "
                          f"{r.ci_high:+.2f}] {r.outcome}" for r in self.tests.itertuples())
        return (f"of {len(self.tests)} predictions, {counts.get('borne out', 0)} borne out, "
                f"{counts.get('contradicted', 0)} contradicted: {parts}")

    def texts(self) -> dict[str, str]:
        """The sentences the page's prose quotes, computed from the tables."""
        manip = "; ".join(
            f"{r.setting}: test agreement with the teacher {r.agreement_same_init:.1f}% "
            f"(same init) against {r.agreement_fresh:.1f}% (fresh), loss barrier "
            f"{r.barrier_same_init:.3g} against {r.barrier_fresh:.3g} nats: the manipulation "
            f"{r.manipulation}" for r in self.manipulation.itertuples())
        smoothing = "; ".join(
            f"{r.setting}: {r.difference:+.2f} pp [{r.ci_low:+.2f}, {r.ci_high:+.2f}]"
            for r in self.comparisons.itertuples()
            if r.comparison == "student vs label-smoothing student")
        v = self.views
        views = ("no views contrast is declared" if not v else
                 f"the teachers' test accuracy, many views − one, {v['teachers_many_minus_one']:+.2f}"
                 f" pp ({v['teachers_matched']}); the explicit ensemble's gain over its teacher, "
                 f"many views − one, {v['ensemble_gain_many_minus_one']:+.2f} pp (one-sided p = "
                 f"{v['ensemble_p']:.3f}): M3's manipulation "
                 + ("worked" if v["outcome"] == "worked" else f"did not work ({v['outcome']})"))
        return {"c2_manipulation": manip, "c2_smoothing": smoothing, "c2_views": views}

    def numbers(self, claim: str = "C2") -> dict[str, Any]:
        models = self.table[["setting", "seed", "role", "test_acc", "train_acc", "test_loss",
                             "train_loss"]]
        return {"headline": self.headline(),
                "tests": self.tests.round(6).to_dict(orient="records"),
                "manipulation": self.manipulation.round(4).to_dict(orient="records"),
                "views_checks": self.views,
                "checks": self.checks.round(4).to_dict(orient="records"),
                "comparisons": self.comparisons.round(4).to_dict(orient="records"),
                "models": models.round(4).to_dict(orient="records")}


def exploration_table(explored: list[dict[str, Any]]) -> pd.DataFrame:
    """The multi-view exploration that led to the declared multi-view settings (records of
    ``experiments/explore_c2_multiview.py``, as measured): each comparison's mean difference and
    interval (pp) per dataset."""
    if not explored:
        return pd.DataFrame({"note": ["no exploration results: run python "
                                      "experiments/explore_c2_multiview.py"]})
    rows = [{"dataset": r["setting"], "seeds": c["seeds"], "comparison": c["comparison"],
             "difference": c["difference"], "ci_low": c["ci_low"], "ci_high": c["ci_high"]}
            for r in explored for c in r["comparisons"]]
    return pd.DataFrame(rows).round(2)
