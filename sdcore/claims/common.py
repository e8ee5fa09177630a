"""What every claim module shares: the specs of a config's settings, its lab, and the result face.

A claim module has a ``Config``, ``plan(config)`` (the chains of model specs its notebook needs,
computed without training or loading anything), ``analyse(config, study)`` returning a
``ClaimResult`` with a verdict per claim, and ``RULES`` (the rule text of each claim it judges);
``runner.run`` does the rest. Cost: nothing here trains.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator

from ..engine.lab import Lab
from ..engine.specs import KDWeights, ModelSpec, Recipe, chain_specs
from ..engine.speed import Speed, on_device, resolve_device
from ..engine.store import RunStore
from ..paths import data_root, project_root, runs_root
from .config import ChainsConfig, ExperimentConfig

Plan = list[list[ModelSpec]]  # chains: a teacher, then the models distilled from it, in order


def seed_blocks(setting: ExperimentConfig) -> dict[int, str]:
    """The block of each seed of a declared setting: ``discovery`` and ``replication``
    (``discovery_seeds``), or ``pooled`` for all when it declares one block."""
    seeds = range(setting.first_seed, setting.first_seed + setting.seeds)
    if not setting.discovery_seeds:
        return {seed: "pooled" for seed in seeds}
    return {seed: "discovery" if i < setting.discovery_seeds else "replication"
            for i, seed in enumerate(seeds)}


def settings_and_seeds(config: ExperimentConfig
                       ) -> Iterator[tuple[str, ExperimentConfig, int]]:
    """(name, config, seed) for every declared setting of ``config`` (``declared()``: one
    dataset and one model each) and each of its seeds."""
    for name, setting in config.declared():
        for seed in range(setting.first_seed, setting.first_seed + setting.seeds):
            yield name, setting, seed


def teacher_spec(setting: ExperimentConfig, seed: int) -> ModelSpec:
    """The teacher spec of a declared setting (``declared()``) at ``seed``."""
    return base_spec(setting, setting.datasets[0], setting.models[0], seed)


def base_spec(config: ExperimentConfig, dataset: str, model: str, seed: int) -> ModelSpec:
    """The teacher spec of one setting and seed of ``config`` (with ``resample_subset``, its
    training images are drawn from the seed)."""
    recipe = Recipe(config.epochs, config.batch_size, config.lr, config.momentum, config.nesterov,
                    config.weight_decay, config.schedule, config.augment, config.precision,
                    config.torch_compile)
    image_size = config.image_size if dataset.startswith("imagefolder:") else 0
    return ModelSpec(dataset, config.train_subset, image_size, model, config.width, recipe, seed,
                     test_subset=config.test_subset,
                     subset_seed=seed if config.resample_subset and config.train_subset else 0)


def kd_weights(config: ExperimentConfig) -> KDWeights:
    return KDWeights(config.weight_ce, config.weight_kd, config.temperature)


def self_distillation_chains(config: ChainsConfig,
                             seeds: int = 0) -> list[tuple[str, list[ModelSpec]]]:
    """Per declared setting and seed (the first ``seeds`` of each, if not 0): the setting's name,
    and a teacher with ``generations`` students, each distilled from the one before (C1's models,
    which the flatness notebooks measure too)."""
    return [(name, chain_specs(teacher_spec(setting, seed), config.generations,
                               kd_weights(setting)))
            for name, setting, seed in settings_and_seeds(config)
            if not seeds or seed < setting.first_seed + seeds]


def unique_specs(plan: Plan) -> list[ModelSpec]:
    """The plan's specs, each once, in order."""
    return list({spec.key: spec for chain in plan for spec in chain}.values())


def store_for(config: ExperimentConfig, root: Path | None = None) -> RunStore:
    """The run store of ``config``: its parameter, else $SDCORE_RUNS, else <root>/runs (``root``:
    the checkout, default ``paths.project_root()``)."""
    return RunStore(runs_root(config.run_store, root))


def lab_for(config: ExperimentConfig, root: Path | None = None) -> Lab:
    """The lab of ``config``: its run store, device, data and speed switches (folders not
    configured resolve against ``root``, as in ``store_for``)."""
    device = resolve_device(config.device)
    speed = Speed(cuda_graphs=config.cuda_graphs, models_at_once=config.models_at_once)
    hint = (f"Train them first, e.g. `python -m sdcore train --profile {config.profile}`, or set "
            "train_missing: true.")
    return Lab(store_for(config, root), device, data_root(config.data_root, root),
               config.download, on_device(speed, device), config.train_missing, hint)


def now() -> datetime:
    return datetime.now(timezone.utc)


def generation_name(generation: int) -> str:
    """``teacher`` for generation 0, ``student k`` for generation k."""
    return "teacher" if generation == 0 else f"student {generation}"


@dataclass
class ClaimResult:
    """The face every claim's result shows the book: a verdict, a headline and the numbers for
    each claim the notebook judges; subclasses add their tables. ``runner.run`` fills in the
    rules, the device, when the run started and how long its phases took."""

    verdicts: dict[str, str]
    rules: dict[str, str] = field(init=False, default_factory=dict)
    device: str = field(init=False, default="")
    started: datetime = field(init=False, default_factory=now)  # the record's wall time
    phases: dict[str, float] = field(init=False, default_factory=dict)  # seconds by phase

    def headline(self, claim: str) -> str:
        raise NotImplementedError

    def numbers(self, claim: str) -> dict[str, Any]:
        raise NotImplementedError


def exploration_path(notebook: str, root: Path | None = None, kind: str = "") -> Path:
    """Where an experiment behind a notebook keeps its results: the setting search
    (``<notebook>.json``) or another ``kind`` of it (``<notebook>.<kind>.json``)."""
    name = f"{notebook}.{kind}.json" if kind else f"{notebook}.json"
    return (root or project_root()) / "experiments" / "results" / name


def read_exploration(notebook: str, root: Path | None = None, kind: str = "") -> Any:
    """An experiment's results for a notebook, as measured (empty if never run)."""
    path = exploration_path(notebook, root, kind)
    return json.loads(path.read_text()) if path.exists() else []
