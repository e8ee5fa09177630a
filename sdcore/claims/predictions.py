"""A theory's predictions put to the test, each able to come out either way, as a family.

A ``Prediction`` is a paired difference (per seed) and what the theory says of it:

- ``below``: it is negative (borne out: one-sided t-test of mean < 0; contradicted: of mean > 0);
- ``null``: it is 0 (borne out: equivalence within ±``margin`` by two one-sided tests,
  Schuirmann 1987; contradicted: a gain, one-sided t-test of mean > 0);
- ``at most``: it does not exceed 0 (borne out: non-superiority, mean < ``margin`` by a one-sided
  test; contradicted: mean > 0);
- ``above``: it is positive (borne out: mean > 0; contradicted: mean < 0).

Every p-value of a page's family goes through Holm's correction together (family-wise 5%), and
each prediction is then *borne out*, *contradicted* or *undecided*. The page's C2 verdict: *holds*
(the theory meets a contradicting example) if some prediction is contradicted; *fails* if every
prediction is borne out, the nulls included; *inconclusive* otherwise. Cost: trivial.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from ..engine.stats import equivalence, holm, mean_ci, one_sided_p

KINDS = ("below", "null", "at most", "above")
ALPHA = 0.05
OUTCOMES = ("borne out", "contradicted", "undecided")


@dataclass(frozen=True)
class Prediction:
    """What a theory predicts of a paired difference (see the module's doc)."""

    name: str
    kind: str
    differences: tuple[float, ...]
    margin: float = 0.0  # for null and at most
    setting: str = ""

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown kind {self.kind!r}; allowed: {', '.join(KINDS)}")
        if self.kind in ("null", "at most") and self.margin <= 0:
            raise ValueError(f"prediction {self.name!r}: a {self.kind} needs a margin > 0")

    def p_values(self) -> tuple[float, float]:
        """(p that it is borne out, p that it is contradicted)."""
        d = list(self.differences)
        if self.kind == "below":
            return one_sided_p(d, greater=False), one_sided_p(d, greater=True)
        if self.kind == "above":
            return one_sided_p(d, greater=True), one_sided_p(d, greater=False)
        if self.kind == "null":
            return equivalence(d, self.margin)[1], one_sided_p(d, greater=True)
        return one_sided_p(d, greater=False, shift=self.margin), one_sided_p(d, greater=True)


def judge_family(predictions: list[Prediction]) -> pd.DataFrame:
    """Every prediction with its mean and 95% interval, both p-values, and its outcome after
    Holm's correction over all of the family's p-values."""
    ps = [p for prediction in predictions for p in prediction.p_values()]
    rejected = holm(ps, ALPHA)
    rows = []
    for i, p in enumerate(predictions):
        mean, low, high = mean_ci(list(p.differences)) if p.differences else (float("nan"),) * 3
        borne, contra = rejected[2 * i], rejected[2 * i + 1]
        rows.append({"setting": p.setting, "prediction": p.name, "kind": p.kind,
                     "margin": p.margin if p.kind in ("null", "at most") else None,
                     "seeds": len(p.differences), "mean": mean, "ci_low": low, "ci_high": high,
                     "p_borne_out": ps[2 * i], "p_contradicted": ps[2 * i + 1],
                     "outcome": "contradicted" if contra else "borne out" if borne
                     else "undecided"})
    return pd.DataFrame(rows)


def c2_verdict(tests: pd.DataFrame) -> str:
    """holds if some prediction is contradicted, fails if every one is borne out."""
    outcomes = set(tests.outcome)
    if "contradicted" in outcomes:
        return "holds"
    return "fails" if outcomes == {"borne out"} else "inconclusive"
