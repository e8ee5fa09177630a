"""The judged effects of the results records: each estimate a verdict reads, with what it is
judged against and what the record decided of it.

``judged_effects`` gives one row per judged effect: claim, notebook, setting, the effect's short
label, its estimate and 95% interval, the threshold it is judged against (0), a ``margin`` and the
prediction's ``kind`` where a test has one (an equivalence ``null`` within ±margin; an ``at most``
below +margin), the unit, the outcome in a word and its ``side``, the colour class: whether the
outcome favours the claim, counts against it, leaves it undecided or lies outside the verdict.

- C1: each declared setting's first student − teacher test-accuracy gain (pp): student better,
  student worse, undecided, or out of scope (its premise failed);
- C2: each prediction of the page's family: contradicted (for C2 a contradicting example, so it
  favours the claim), borne out, undecided, or untestable. Accuracy differences are in pp; a
  prediction that names another quantity (``KD only: test entropy, last − first student``) is in
  that quantity's unit (``OWN``);
- C3: each judged measure's change from the teacher to the distilled student, as a flattening:
  relative to the teachers' mean and signed so that + is flatter (%): flatter, sharper, or
  unresolved, as Holm's correction decided;
- C4: each component of the contrast (a role's flattening on a judged measure, relative as for
  C3): flatter, sharper, undecided, or *flatter, no gain* where the role is flatter on every
  judged measure without gaining (which makes C4 fail); and the distilled student's gain (pp).

A record made before the premise, the predictions and the contrast existed states only
intervals: its effects are decided as its rule said, by the interval against 0. Cost: trivial.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from typing import Any, Callable

import pandas as pd

from ..claims import CLAIMS, notebooks_of
from ..claims.flatness import ALPHA
from ..claims.roles import STUDENT, TEACHER
from ..claims.student_beats_teacher import MAIN
from ..project.records import latest_record

FAVOURS, AGAINST, UNDECIDED, OUTSIDE = "favours", "against", "undecided", "outside"
SIDES = {FAVOURS: "favours the claim", AGAINST: "counts against it",
         UNDECIDED: "undecided", OUTSIDE: "outside the verdict"}  # side: legend
COLOURS = {FAVOURS: "#1a7f37", AGAINST: "#cf222e", UNDECIDED: "#9a6700",
           OUTSIDE: "#8c959f"}  # as the verdicts of book/_static/dashboard.css; outside: lighter
PP = "test-accuracy difference (pp)"
FLATTENING = "flattening: change relative to the teachers' mean (%), + flatter"
OWN = "difference in the quantity the effect names (its own unit)"
RHO = "Spearman's ρ"
COLUMNS = ["claim", "notebook", "setting", "effect", "estimate", "ci_low", "ci_high",
           "threshold", "margin", "kind", "unit", "outcome", "side"]
RECORD_COLUMNS = [*COLUMNS[:2], "profile", *COLUMNS[2:]]  # record_effects
QUANTITY = re.compile(r"^[^:,]*:\s*([^,−]+),")  # "<context>: <quantity>, <difference>"
# what a record decided: its word -> (the outcome's word, its side)
C1_DECIDED = {"above 0": ("student better", FAVOURS), "below 0": ("student worse", AGAINST),
              "undecided": ("undecided", UNDECIDED), "out of scope": ("out of scope", OUTSIDE)}
C2_SIDES = {"contradicted": FAVOURS, "borne out": AGAINST, "undecided": UNDECIDED,
            "untestable": OUTSIDE}
FLATNESS_SIDES = {"flatter": FAVOURS, "sharper": AGAINST, "unresolved": UNDECIDED,
                  "undecided": UNDECIDED}


def notebook_number(notebook: str) -> str:
    """A notebook's number: ``02a`` for ``02a_<name>``."""
    return notebook.split("_")[0]


def _number(value: Any) -> float:
    return math.nan if value is None else float(value)


def _effect(setting: str, effect: str, estimate: Any, low: Any, high: Any, unit: str,
            outcome: tuple[str, str], margin: Any = None, kind: str = "") -> dict[str, Any]:
    return {"setting": setting, "effect": effect, "estimate": _number(estimate),
            "ci_low": _number(low), "ci_high": _number(high), "threshold": 0.0,
            "margin": _number(margin), "kind": kind, "unit": unit, "outcome": outcome[0],
            "side": outcome[1]}


def _by_interval(low: Any, high: Any, above: tuple[str, str],
                 below: tuple[str, str]) -> tuple[str, str]:
    """The outcome of an interval against 0, for a rule that reads only the interval."""
    if low is not None and low > 0:
        return above
    if high is not None and high < 0:
        return below
    return "undecided", UNDECIDED


def _flattening(change: Any, low: Any, high: Any, sign: float, base: Any
                ) -> tuple[float, float, float]:
    """A change from the teacher (``sign``: +1 where higher is flatter, −1 where lower is) as a
    flattening relative to the teachers' mean ``base`` (%): estimate, interval."""
    scale = 100 * sign / abs(base) if base else math.nan
    ends = sorted(_number(v) * scale for v in (low, high))
    return _number(change) * scale, ends[0], ends[1]


def _c1(numbers: dict[str, Any]) -> list[dict[str, Any]]:
    if "settings" in numbers:
        return [_effect(s["setting"], MAIN, s["gain"], s["ci_low"], s["ci_high"], PP,
                        C1_DECIDED[s["decided"]]) for s in numbers["settings"]]
    return [_effect(f"{g['dataset']} · {g['model']}", f"generation {g['generation']} − its "
                    "teacher", g["gain"], g["ci_low"], g["ci_high"], PP,
                    _by_interval(g["ci_low"], g["ci_high"], ("student better", FAVOURS),
                                 ("student worse", AGAINST)))
            for g in numbers.get("gains", [])]


def _c2_unit(prediction: str) -> str:
    return OWN if QUANTITY.match(prediction) else PP


def _c2(numbers: dict[str, Any]) -> list[dict[str, Any]]:
    if "tests" in numbers:
        return [_effect(t["setting"], t["prediction"], t["mean"], t["ci_low"], t["ci_high"],
                        _c2_unit(t["prediction"]), (t["outcome"], C2_SIDES[t["outcome"]]),
                        t.get("margin"), t["kind"]) for t in numbers["tests"]]
    decided = (("contradicted", FAVOURS), ("borne out", AGAINST))  # older rules: above, below 0
    legacy = [(f"{p['dataset']} · {p['model']}", label, p[key], p[f"{key}_low"],
               p[f"{key}_high"])
              for p in numbers.get("predictions", [])
              for key, label in (("kd_only_last", "KD only: last generation − teacher"),
                                 ("no_decay_gain", "no weight decay: first student − teacher"))]
    legacy += [(f"{c['dataset']} · {c['model']}", c["comparison"], c["difference"], c["ci_low"],
                c["ci_high"]) for c in numbers.get("comparisons", [])
               if c["comparison"] in ("student vs ensemble", "same-init vs fresh student")]
    return [_effect(setting, label, value, low, high, PP, _by_interval(low, high, *decided))
            for setting, label, value, low, high in legacy]


def _c3(numbers: dict[str, Any]) -> list[dict[str, Any]]:
    if "tests" in numbers:
        return [_effect(t["setting"], f"{t['measure']}: {t['role']} − {TEACHER}",
                        *_flattening(t["change"], t["ci_low"], t["ci_high"], t["flatter_sign"],
                                     t.get("baseline")), FLATTENING,
                        (t["decision"], FLATNESS_SIDES[t["decision"]]))
                for t in numbers["tests"]]
    rows = []
    for c in numbers.get("changes", []):  # older rules: lower is flatter, by the interval
        flat = _flattening(c["change"], c["ci_low"], c["ci_high"], -1,
                           c["change"] / c["relative"] if c.get("relative") else None)
        rows.append(_effect(f"{c['dataset']} · {c['model']}",
                            f"{c['measure']}: generation {c['generation']} − its teacher", *flat,
                            FLATTENING, _by_interval(flat[1], flat[2], ("flatter", FAVOURS),
                                                     ("sharper", AGAINST))))
    return rows


def _c4(numbers: dict[str, Any]) -> list[dict[str, Any]]:
    if "contrast" not in numbers:  # the older rule: sharpness's correlation with accuracy
        return [_effect(f"all {c['models']} models", f"ρ({c['measure']}, test accuracy)", c["rho"],
                        c["ci_low"], c["ci_high"], RHO,
                        _by_interval(c["ci_low"], c["ci_high"], ("positive", AGAINST),
                                     ("negative", FAVOURS)))
                for c in numbers.get("correlations", []) if c["target"] == "test_acc"]
    components = pd.DataFrame(numbers["contrast"])
    if components.empty:
        return []
    base = {(c["setting"], c["role"], c["measure"]): c["baseline"]
            for c in numbers.get("changes", [])}
    by_role = components.groupby(["setting", "role"])
    gain = by_role[["gain_high", "gain_equivalence"]].first()
    flat_without_gain = (by_role.p_flatter.max() < ALPHA) & (
        (gain.gain_high < 0) | (gain.gain_equivalence == "equivalent"))
    rows = []
    for c in components.itertuples():
        outcome = ("flatter, no gain", AGAINST) if (
            c.reading == "flatter" and flat_without_gain[(c.setting, c.role)]) else (
            c.reading, FLATNESS_SIDES[c.reading])
        rows.append(_effect(c.setting, f"{c.measure}: {c.role} − {TEACHER}",
                            *_flattening(c.flattening, c.flat_low, c.flat_high, 1,
                                         base.get((c.setting, c.role, c.measure))),
                            FLATTENING, outcome))
    rows += [_effect(g["setting"], f"{STUDENT} − {TEACHER}", g["gain"], g["ci_low"],
                     g["ci_high"], PP, ("no gain", UNDECIDED) if g.get("equivalence") ==
                     "equivalent" else _by_interval(g["ci_low"], g["ci_high"], ("gains", FAVOURS),
                                                    ("no gain", UNDECIDED)))
             for g in numbers.get("gains", []) if g["role"] == STUDENT]
    return rows


READERS: dict[str, Callable[[dict[str, Any]], list[dict[str, Any]]]] = {
    "C1": _c1, "C2": _c2, "C3": _c3, "C4": _c4}


def judged_effects(claim: str, notebook: str, numbers: dict[str, Any]) -> pd.DataFrame:
    """The effects the verdict of ``claim`` reads in a record's ``numbers`` (see the module's
    doc); none for a claim without a reader here."""
    reader = READERS.get(claim)
    rows = reader(numbers) if reader else []
    return pd.DataFrame([{"claim": claim, "notebook": notebook, **r} for r in rows],
                        columns=COLUMNS)


def record_effects(record: dict[str, Any]) -> pd.DataFrame:
    """``judged_effects`` of a results record, with its profile."""
    effects = judged_effects(record["claim"], record["notebook"], record["numbers"])
    effects.insert(2, "profile", record["profile"])
    return effects


def latest_effects(records: list[dict[str, Any]], profile: str) -> pd.DataFrame:
    """The judged effects of every claim's notebooks' latest records at ``profile``."""
    frames = [record_effects(r) for claim in CLAIMS for nb in notebooks_of(claim)
              if (r := latest_record(records, nb.name, claim, profile)) is not None]
    frames = [f for f in frames if not f.empty]
    return (pd.concat(frames, ignore_index=True) if frames
            else pd.DataFrame(columns=RECORD_COLUMNS))


def tally(effects: pd.DataFrame) -> str:
    """How many effects came out each way: ``flatter 1 · gains 1 · undecided 19``, in the order
    of ``SIDES``."""
    ordered = effects.assign(order=effects.side.map(list(SIDES).index)).sort_values(
        "order", kind="stable")
    return " · ".join(f"{outcome} {n}" for outcome, n in Counter(ordered.outcome).items())
