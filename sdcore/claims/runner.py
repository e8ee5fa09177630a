"""The one runner every claim notebook goes through: ``run(module, config)``.

It does what every claim shares: the device, the run store and the lab (``common.lab_for``), the
claim's plan, training or loading its models, the standard per-model rows, and when the result
was made, on which device and by which rules, and how long its two phases took (obtaining the
models: loading, or training those missing; the analysis: Hessians, landscapes, tables). The claim module contributes the rest: ``Config``,
``plan(config)``, ``analyse(config, study)`` and ``RULES``. Cost: the claim's trainings (minus
those already stored) and its analysis.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import pandas as pd

from ..engine.lab import Lab, Trained
from ..engine.specs import ModelSpec
from .common import ClaimResult, Plan, lab_for, now, unique_specs
from .config import ExperimentConfig


@dataclass
class Study:
    """What ``analyse`` works on: the lab, the plan and every planned model, trained or loaded."""

    lab: Lab
    plan: Plan
    models: dict[str, Trained]  # by store key

    def __getitem__(self, spec: ModelSpec) -> Trained:
        return self.models[spec.key]

    def row(self, model: ModelSpec | Trained, **labels: Any) -> dict[str, Any]:
        """The standard row of a planned model, given by its spec, or of an ensemble
        (``Trained.row``), with ``labels`` after its dataset, model, seed and generation."""
        row = (self[model] if isinstance(model, ModelSpec) else model).row()
        head = {k: row.pop(k) for k in ("dataset", "model", "seed", "generation")}
        return {**head, **labels, **row}

    def table(self) -> pd.DataFrame:
        """The standard rows of every planned model, each once, in plan order."""
        return pd.DataFrame([self.row(spec) for spec in unique_specs(self.plan)])


def run(module: ModuleType, config: ExperimentConfig) -> ClaimResult:
    """Run claim ``module`` (its plan, then its analysis) with ``config``."""
    started, begun = now(), time.perf_counter()
    lab = lab_for(config)
    plan = module.plan(config)
    study = Study(lab, plan, lab.obtain(unique_specs(plan)))
    obtained = time.perf_counter()
    result = module.analyse(config, study)
    missing = set(module.RULES) ^ set(result.verdicts)
    if missing:
        raise ValueError(f"{module.__name__}: verdicts and RULES differ in {sorted(missing)}")
    result.rules, result.device, result.started = dict(module.RULES), str(lab.device), started
    result.phases = {"models_s": round(obtained - begun, 1),
                     "analysis_s": round(time.perf_counter() - obtained, 1)}
    return result
