"""The model planner: every model a profile's notebooks need, its state and its estimated cost.

``profile_plan(runs)`` takes each notebook run's chains (``run.NotebookRun.chains``: its
``plan(config)``, nothing trained or loaded) and lists every model once, under the first notebook
that needs it: store key, setting, seed, generation, teacher, epochs, its chain, whether it
is stored, being trained (by whom, from its run lock) or missing, and the training time estimated
from measured units (``benchmarks/gpu_check_<gpu>.json``: seconds per model-epoch of 50,000 32×32
images, scaled by image count and area). Cost: reading files.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from ..engine.locks import describe
from ..engine.specs import ModelSpec
from ..engine.store import RunStore
from .run import NotebookRun, chains_of

# Training images and side of the datasets whose size is known without reading them.
DATASET_SHAPES = {"cifar10": (50_000, 32), "cifar100": (50_000, 32),
                  "fashion-mnist": (60_000, 28), "synthetic": (2_000, 16)}
UNIT_IMAGES, UNIT_SIDE = 50_000, 32  # the shape the units were measured on


@dataclass(frozen=True)
class Planned:
    """One model of a profile's plan."""

    notebook: str
    chain: int  # index of its chain in the profile's plan
    spec: ModelSpec
    state: str  # "stored", "missing", or "training (<owner>)"
    estimate_s: float | None  # training seconds from measured units, None if unknown

    def row(self) -> dict[str, Any]:
        s = self.spec
        return {"notebook": self.notebook, "chain": self.chain, "key": s.key,
                "dataset": s.dataset, "model": s.model, "seed": s.seed,
                "generation": s.generation, "teacher": s.teacher or "", "epochs": s.recipe.epochs,
                "state": self.state, "estimate_h": None if self.estimate_s is None
                else round(self.estimate_s / 3600, 3)}


def state(store: RunStore, key: str) -> str:
    """``stored``, ``training (<who>)`` or ``missing``."""
    if store.is_complete(key):
        return "stored"
    owner = store.lock(key).held_elsewhere()
    return "missing" if owner is None else f"training ({describe(owner)})"


class UnitsError(ValueError):
    """A gpu_check report that is missing, unreadable or without the path asked for."""


def load_units(path: Path, which: str) -> dict[str, dict[str, float]]:
    """Seconds per model-epoch by architecture and role of path ``which`` (e.g. "fast, 4 at
    once") of a gpu_check report."""
    try:
        paths = json.loads(path.read_text())["units_s"]
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise UnitsError(f"{path}: not a readable gpu_check report (python "
                         f"benchmarks/gpu_check.py writes one): {err}") from err
    if which not in paths:
        raise UnitsError(f"{path} has no path {which!r}; it has: "
                         + ", ".join(repr(p) for p in paths))
    return paths[which]


def estimate(spec: ModelSpec, units: dict[str, dict[str, float]]) -> float | None:
    """Training seconds of ``spec`` from the units, or None where they do not cover it."""
    if spec.model not in units or spec.dataset not in DATASET_SHAPES:
        return None
    images, side = DATASET_SHAPES[spec.dataset]
    if spec.train_subset:
        images = min(images, spec.train_subset)
    unit = units[spec.model]
    online = spec.teacher is not None and spec.recipe.augment  # the teacher runs every batch
    members = len(spec.teacher_keys)
    per_epoch = unit["teacher"] + (members * (unit["student"] - unit["teacher"]) if online else 0)
    return spec.recipe.epochs * per_epoch * images / UNIT_IMAGES * (side / UNIT_SIDE) ** 2


def profile_plan(runs: Sequence[NotebookRun],
                 units: dict[str, dict[str, float]] | None = None) -> list[Planned]:
    """Every model of ``runs`` once, under the first chain that plans it."""
    seen: dict[str, Planned] = {}
    for index, chain in enumerate(chains_of(runs)):
        for spec in chain.specs:
            if spec.key not in seen:
                seen[spec.key] = Planned(chain.notebook, index, spec,
                                         state(chain.store, spec.key),
                                         estimate(spec, units) if units else None)
    return list(seen.values())


def plan_table(plan: list[Planned]) -> pd.DataFrame:
    return pd.DataFrame([p.row() for p in plan])


def summary(plan: list[Planned]) -> pd.DataFrame:
    """Per notebook: models, how many are stored, missing or in training, and estimated hours."""
    table = plan_table(plan)
    if table.empty:
        return table
    table["training"] = table.state.str.startswith("training")
    table["estimate_h"] = pd.to_numeric(table.estimate_h)
    grouped = table.groupby("notebook", sort=False)
    out = pd.DataFrame({
        "models": grouped.size(), "stored": grouped.state.apply(lambda s: (s == "stored").sum()),
        "training": grouped.training.sum(),
        "missing": grouped.state.apply(lambda s: (s == "missing").sum()),
        "estimate_h": grouped.estimate_h.sum(min_count=1).round(2)})
    out.loc["total"] = out.sum(min_count=1)
    return out
