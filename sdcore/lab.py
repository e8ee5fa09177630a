"""Teachers, students and chains of generations, trained once and then loaded from the run store.

A ``ModelSpec`` names everything that determines a trained model (data, subset, architecture,
recipe, seed, generation, distillation weights, the teacher's key); its hash is the store key, so
any notebook asking for the same model gets the stored one. ``Lab`` caches datasets in memory and
trains what is missing, several models at once on CUDA (``train.Speed``); ``chains`` asks for the
models of many chains one generation at a time, so that independent models train together. The cost
is one training per model not yet in the store.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import torch
import torch.nn as nn

from .config import ExperimentConfig, StudentBeatsTeacherConfig
from .data import ImageData, load_dataset
from .distill import Ensemble, KDWeights, cross_entropy_loss, distillation_loss
from .models import build_model, memory_format
from .paths import data_root, runs_root
from .store import RunStore, spec_key
from .train import (Job, Recipe, Speed, TrainingDiverged, as_input, evaluate, fit_many, on_device,
                    resolve_device)


@dataclass(frozen=True)
class ModelSpec:
    """Everything that determines one trained model."""

    dataset: str
    train_subset: int
    image_size: int  # only used by imagefolder datasets, 0 otherwise
    model: str
    width: float
    recipe: Recipe
    seed: int
    generation: int = 0  # 0 = teacher trained on labels; k = k-th distilled student
    kd: KDWeights | None = None
    teacher: str | None = None  # store key of the teacher ("k1+k2" for an ensemble of teachers)
    init_seed: int | None = None  # seeds the initial weights instead of training_seed
    test_subset: int = 0  # evaluate on this many test images (0: all of them)

    @property
    def training_seed(self) -> int:
        """Seeds initialization, batch order and augmentation: fresh for every generation."""
        return self.seed * 100 + self.generation

    def as_json(self) -> dict[str, Any]:
        """The spec as stored; fields added later appear only when set, so older keys stay valid."""
        spec = dataclasses.asdict(self)
        for name, unset in LATER_FIELDS.items():
            if spec[name] == unset:
                del spec[name]
        return spec

    @property
    def key(self) -> str:
        return spec_key(self.as_json())

    def student(self, teacher_key: str, kd: KDWeights) -> "ModelSpec":
        return dataclasses.replace(self, generation=self.generation + 1, kd=kd,
                                   teacher=teacher_key)


LATER_FIELDS = {"init_seed": None, "test_subset": 0}  # ModelSpec fields and their unset values


@dataclass
class Trained:
    spec: ModelSpec
    key: str
    model: nn.Module
    metrics: dict[str, Any]
    trained_now: bool = False

    def row(self) -> dict[str, Any]:
        """The metrics every claim's table records for a model."""
        return {"test_acc": self.metrics["test_acc"], "train_acc": self.metrics["train_acc"],
                "trained_now": self.trained_now, "key": self.key}


def settings_and_seeds(config: ExperimentConfig) -> Iterator[tuple[str, str, int]]:
    """(dataset, model, seed) for every setting of ``config`` and each of its seeds."""
    for dataset in config.datasets:
        for model in config.models:
            for seed in range(config.first_seed, config.first_seed + config.seeds):
                yield dataset, model, seed


def base_spec(config: ExperimentConfig, dataset: str, model: str, seed: int) -> ModelSpec:
    """The teacher spec of one setting and seed of ``config``."""
    recipe = Recipe(config.epochs, config.batch_size, config.lr, config.momentum, config.nesterov,
                    config.weight_decay, config.schedule, config.augment)
    image_size = config.image_size if dataset.startswith("imagefolder:") else 0
    return ModelSpec(dataset, config.train_subset, image_size, model, config.width, recipe, seed,
                     test_subset=config.test_subset)


def kd_weights(config: ExperimentConfig) -> KDWeights:
    return KDWeights(config.weight_ce, config.weight_kd, config.temperature)


@dataclass
class Lab:
    """Datasets and trained models for one experiment."""

    store: RunStore
    device: torch.device
    data_root: Path
    download: bool = True
    speed: Speed = Speed()
    _data: dict[tuple, ImageData] = field(default_factory=dict)

    @classmethod
    def from_config(cls, config: ExperimentConfig) -> "Lab":
        device = resolve_device(config.device)
        speed = Speed(cuda_graphs=config.cuda_graphs, models_at_once=config.models_at_once)
        return cls(RunStore(runs_root(config.run_store)), device, data_root(config.data_root),
                   config.download, on_device(speed, device))

    def data(self, spec: ModelSpec) -> ImageData:
        """The (subset of the) dataset of ``spec``, on the lab's device; loaded once."""
        k = (spec.dataset, spec.train_subset, spec.image_size, spec.test_subset)
        if k not in self._data:
            data = load_dataset(spec.dataset, self.data_root, self.download,
                                spec.image_size or 32, spec.train_subset, spec.test_subset)
            self._data[k] = data.to(self.device)
        return self._data[k]

    def training_sample(self, spec: ModelSpec, n: int) -> tuple[torch.Tensor, torch.Tensor]:
        """The first ``n`` training images of ``spec``'s data (unaugmented inputs) and labels."""
        data = self.data(spec)
        n = min(n, len(data.train_y))
        return as_input(data.train_x[:n]), data.train_y[:n]

    def new_model(self, spec: ModelSpec) -> nn.Module:
        """``spec``'s model, freshly initialized, on the lab's device in its memory layout (the
        layout training uses), so that a model loaded into it computes bit for bit what the
        model that was trained and kept in memory computes."""
        data = self.data(spec)
        torch.manual_seed(spec.training_seed if spec.init_seed is None else spec.init_seed)
        model = build_model(spec.model, data.image_shape[0], data.num_classes, spec.width)
        return model.to(self.device, memory_format=memory_format(model, self.device))

    def get(self, spec: ModelSpec, teacher: Trained | None = None) -> Trained:
        """The model of ``spec``: loaded if stored, else trained (resuming a checkpoint)."""
        return self.get_many([spec], [teacher])[0]

    def get_many(self, specs: list[ModelSpec],
                 teachers: list[Trained | None] | None = None) -> list[Trained]:
        """The models of ``specs`` (``teachers[i]`` distils ``specs[i]``): stored ones are loaded,
        the missing ones trained, ``speed.models_at_once`` at a time."""
        teachers = teachers or [None] * len(specs)
        models: dict[str, Trained] = {}
        missing: list[tuple[ModelSpec, Trained | None]] = []
        for spec, teacher in zip(specs, teachers, strict=True):
            key = spec.key
            if key in models or any(s.key == key for s, _ in missing):
                continue
            if self.store.is_complete(key):
                models[key] = self.load(spec)
            elif spec.teacher is not None and (teacher is None or teacher.key != spec.teacher):
                raise ValueError(f"student {key} needs its teacher {spec.teacher}")
            else:
                missing.append((spec, teacher))
        step = self.speed.models_at_once
        for i in range(0, len(missing), step):
            models.update((t.key, t) for t in self._train(missing[i:i + step]))
        return [models[spec.key] for spec in specs]

    def load(self, spec: ModelSpec) -> Trained:
        """The stored model of ``spec``."""
        _, state, metrics = self.store.load(spec.key)
        model = self.new_model(spec)
        model.load_state_dict(state)
        return Trained(spec, spec.key, model.eval(), metrics)

    def _train(self, pending: list[tuple[ModelSpec, Trained | None]]) -> list[Trained]:
        """Train ``pending`` together (resuming checkpoints) and store each model."""
        jobs = []
        for spec, teacher in pending:
            data = self.data(spec)
            loss = (cross_entropy_loss if teacher is None else distillation_loss(
                teacher.model, spec.kd, None if spec.recipe.augment else data.train_x,
                self.speed.eval_batch))
            self.store.begin(spec.key, spec.as_json())
            jobs.append(Job(self.new_model(spec), data, spec.recipe, spec.training_seed, loss,
                            self.store.checkpoint_path(spec.key),
                            f"{spec.dataset} · {spec.model} · seed {spec.seed} · generation "
                            f"{spec.generation}"))
        start = time.perf_counter()
        try:
            histories = fit_many(jobs, self.speed)
        except TrainingDiverged as err:  # store those that finished, then stop
            self._store(pending, jobs, err.histories, time.perf_counter() - start)
            raise
        return self._store(pending, jobs, histories, time.perf_counter() - start)

    def _store(self, pending: list[tuple[ModelSpec, Trained | None]], jobs: list[Job],
               histories: list, wall_s: float) -> list[Trained]:
        """Measure and store every job that finished (its history is not None)."""
        trained = []
        for (spec, _), job, history in zip(pending, jobs, histories):
            if history is None:
                continue
            metrics = self.measure(job.model, job.data)
            metrics.update(history=history, wall_s=wall_s, device=str(self.device),
                           parameters=sum(p.numel() for p in job.model.parameters()))
            if len(jobs) > 1:
                metrics["trained_with"] = len(jobs)  # wall_s is the whole group's
            self.store.finish(spec.key, {k: v.cpu() for k, v in job.model.state_dict().items()},
                              metrics)
            trained.append(Trained(spec, spec.key, job.model, metrics, trained_now=True))
        return trained

    def ensemble(self, members: list[Trained], average: str) -> Trained:
        """The members as one model (their logits or probabilities averaged), measured on the
        members' data; its key joins theirs, so a student distilled from it is stored apart."""
        spec = members[0].spec
        model = Ensemble([m.model for m in members], average).eval()
        return Trained(spec, "+".join(m.key for m in members), model,
                       self.measure(model, self.data(spec)))

    def measure(self, model: nn.Module, data: ImageData) -> dict[str, float]:
        batch = self.speed.eval_batch
        test = evaluate(model, data.test_x, data.test_y, batch)
        train = evaluate(model, data.train_x, data.train_y, batch)
        return {"test_acc": test["accuracy"], "test_loss": test["loss"],
                "train_acc": train["accuracy"], "train_loss": train["loss"]}

    def all_chains(self, config: StudentBeatsTeacherConfig) -> list[tuple[str, str, int,
                                                                         list[Trained]]]:
        """(dataset, model, seed, chain) for every setting and seed of ``config``."""
        settings = list(settings_and_seeds(config))
        chains = self.chains([base_spec(config, *s) for s in settings], config.generations,
                             kd_weights(config))
        return [(*setting, chain) for setting, chain in zip(settings, chains)]

    def chains(self, teacher_specs: list[ModelSpec], generations: int,
               kd: KDWeights | list[KDWeights]) -> list[list[Trained]]:
        """For each teacher spec, the teacher and ``generations`` students, each distilled from
        the one before with ``kd`` (one for all chains, or one per chain); generation by
        generation, so that the models of one generation can train together."""
        kds = kd if isinstance(kd, list) else [kd] * len(teacher_specs)
        chains = [[t] for t in self.get_many(teacher_specs)]
        for _ in range(generations):
            last = [chain[-1] for chain in chains]
            students = self.get_many([t.spec.student(t.key, k) for t, k in zip(last, kds)], last)
            for chain, student in zip(chains, students):
                chain.append(student)
        return chains

    def chain(self, teacher_spec: ModelSpec, generations: int, kd: KDWeights) -> list[Trained]:
        """The teacher and ``generations`` students, each distilled from the one before."""
        return self.chains([teacher_spec], generations, kd)[0]
