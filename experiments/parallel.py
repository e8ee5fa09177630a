"""Train lists of models in a few processes at once, for the experiments (one thread each, so that
every model is a function of its store key); the run store's locks make it safe to share."""

from __future__ import annotations

from concurrent.futures import ProcessPoolExecutor

import torch

from sdcore.claims.common import lab_for
from sdcore.claims.config import ExperimentConfig
from sdcore.engine.specs import ModelSpec


def _train(config_type: type, config_json: dict, specs: list[dict]) -> None:
    torch.set_num_threads(1)
    config = config_type.model_validate(config_json)
    lab_for(config).obtain([ModelSpec.from_json(s) for s in specs])


def train_stages(config: ExperimentConfig, stages: list[list[ModelSpec]], jobs: int) -> None:
    """Each stage's models split over ``jobs`` processes, a stage after the one before (a
    student's teacher in an earlier stage)."""
    with ProcessPoolExecutor(jobs) as pool:
        for stage in stages:
            futures = [pool.submit(_train, type(config), config.model_dump(),
                                   [s.as_json() for s in stage[i::jobs]])
                       for i in range(jobs) if stage[i::jobs]]
            for future in futures:
                future.result()
