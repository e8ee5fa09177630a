"""A theory's predictions put to the test, each able to come out either way, as a family.

A ``Prediction`` is a paired difference (per seed) and what the theory says of it:

- ``below``: it is negative (borne out: one-sided t-test of mean < 0; contradicted: of mean > 0);
- ``null``: it is 0 (borne out: equivalence within ±``margin`` by two one-sided tests,
  Schuirmann 1987; contradicted: a gain, one-sided t-test of mean > 0);
- ``at most``: it does not exceed 0 (borne out: non-superiority, mean < ``margin`` by a one-sided
  test; contradicted: mean > 0);
- ``above``: it is positive (borne out: mean > 0; contradicted: mean < 0).

A prediction whose manipulation check failed (``untestable``: the reason) is reported and left out
of the family; each states the smallest mean its seeds detect with 80% power. Every p-value of
the family goes through Holm's correction together (family-wise
5%); a rejected test decides only if the seeds' two blocks (``blocks``: discovery and
replication, fixed before the run) each agree with it (their means on its side: below or above 0,
or within the margin for a null), so a decisive outcome replicates. Each prediction is then
*borne out*, *contradicted*, *undecided* or *untestable*. ``c2_verdict``: *holds* (the theory
meets a contradicting example) if some prediction is contradicted; *fails* if every testable
prediction is borne out, the nulls included; *inconclusive* otherwise. ``decide`` re-decides rows
of several pages as one family (the dashboard's C2 over 02a and 02b). Cost: trivial.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..engine.stats import equivalence, holm, mean_ci, minimum_detectable_effect, one_sided_p

KINDS = ("below", "null", "at most", "above")
ALPHA = 0.05
OUTCOMES = ("borne out", "contradicted", "undecided", "untestable")
BLOCKS = ("discovery", "replication")


@dataclass(frozen=True)
class Prediction:
    """What a theory predicts of a paired difference (see the module's doc)."""

    name: str
    kind: str
    differences: tuple[float, ...]
    margin: float = 0.0  # for null and at most
    setting: str = ""
    blocks: tuple[str, ...] = ()  # each difference's block (empty: one block)
    untestable: str = ""  # why its manipulation check failed (empty: testable)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown kind {self.kind!r}; allowed: {', '.join(KINDS)}")
        if self.kind in ("null", "at most") and self.margin <= 0:
            raise ValueError(f"prediction {self.name!r}: a {self.kind} needs a margin > 0")
        if self.blocks and len(self.blocks) != len(self.differences):
            raise ValueError(f"prediction {self.name!r}: {len(self.blocks)} block labels for "
                             f"{len(self.differences)} differences")

    def p_values(self) -> tuple[float, float]:
        """(p that it is borne out, p that it is contradicted); nan if untestable."""
        d = list(self.differences)
        if self.untestable or not d:
            return math.nan, math.nan
        if self.kind == "below":
            return one_sided_p(d, greater=False), one_sided_p(d, greater=True)
        if self.kind == "above":
            return one_sided_p(d, greater=True), one_sided_p(d, greater=False)
        if self.kind == "null":
            return equivalence(d, self.margin)[1], one_sided_p(d, greater=True)
        return one_sided_p(d, greater=False, shift=self.margin), one_sided_p(d, greater=True)

    def block_means(self) -> dict[str, float]:
        """The mean difference of each block (none without blocks)."""
        values = np.asarray(self.differences, dtype=float)
        labels = np.asarray(self.blocks)
        return {b: float(values[labels == b].mean()) for b in BLOCKS if (labels == b).any()}

    def row(self) -> dict:
        """The prediction's row before the family is decided."""
        mean, low, high = (mean_ci(list(self.differences)) if self.differences
                           else (math.nan,) * 3)
        borne, contra = self.p_values()
        means = self.block_means()
        sd = float(np.std(self.differences, ddof=1)) if len(self.differences) > 1 else math.nan
        return {"setting": self.setting, "prediction": self.name, "kind": self.kind,
                "margin": self.margin if self.kind in ("null", "at most") else None,
                "seeds": len(self.differences), "mean": mean, "ci_low": low, "ci_high": high,
                "mde_80": minimum_detectable_effect(sd, len(self.differences)),
                **{f"{b}_mean": means.get(b, math.nan) for b in BLOCKS},
                "p_borne_out": borne, "p_contradicted": contra,
                "blocks_bear_out": _agree(self.kind, self.margin, means, borne=True),
                "blocks_contradict": _agree(self.kind, self.margin, means, borne=False),
                "untestable": self.untestable}


def _agree(kind: str, margin: float, means: dict[str, float], borne: bool) -> bool:
    """Whether every block's mean lies on the side of an outcome (True without blocks)."""
    def side(m: float) -> bool:
        if not borne:  # a contradiction: the other side of 0 (a gain, for null and at most)
            return m < 0 if kind == "above" else m > 0
        if kind == "below":
            return m < 0
        if kind == "above":
            return m > 0
        return abs(m) < margin if kind == "null" else m < margin
    return all(side(m) for m in means.values())


def decide(rows: pd.DataFrame) -> pd.DataFrame:
    """``rows`` (``Prediction.row``s, of one page or several) with their outcomes: Holm over the
    testable predictions' p-values together, a rejection deciding only where the blocks agree."""
    rows = rows.copy()
    testable = [i for i, u in enumerate(rows.untestable) if not u]
    ps = [p for i in testable for p in (rows.p_borne_out.iloc[i], rows.p_contradicted.iloc[i])]
    rejected = holm(ps, ALPHA)
    outcomes = ["untestable"] * len(rows)
    for k, i in enumerate(testable):
        borne = rejected[2 * k] and rows.blocks_bear_out.iloc[i]
        contra = rejected[2 * k + 1] and rows.blocks_contradict.iloc[i]
        outcomes[i] = "contradicted" if contra else "borne out" if borne else "undecided"
    rows["outcome"] = outcomes
    return rows


def judge_family(predictions: list[Prediction]) -> pd.DataFrame:
    """Every prediction with its mean and 95% interval, its blocks' means, both p-values, and
    its outcome as one family (``decide``)."""
    return decide(pd.DataFrame([p.row() for p in predictions]))


def c2_verdict(tests: pd.DataFrame) -> str:
    """holds if some prediction is contradicted, fails if every testable one is borne out."""
    outcomes = set(tests.outcome) - {"untestable"}
    if "contradicted" in outcomes:
        return "holds"
    return "fails" if outcomes == {"borne out"} else "inconclusive"
