"""Teachers, students and chains of generations, trained once and then loaded from the run store.

A ``ModelSpec`` names everything that determines a trained model (data, subset, architecture,
recipe, seed, generation, distillation weights, the teacher's key); its hash is the store key, so
any notebook asking for the same model gets the stored one. ``Lab`` caches datasets in memory and
trains what is missing; the cost is one ``train.fit`` per model not yet in the store.
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
from .models import build_model
from .paths import data_root, runs_root
from .store import RunStore, spec_key
from .train import Recipe, as_input, evaluate, fit, resolve_device


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
    _data: dict[tuple, ImageData] = field(default_factory=dict)

    @classmethod
    def from_config(cls, config: ExperimentConfig) -> "Lab":
        return cls(RunStore(runs_root(config.run_store)), resolve_device(config.device),
                   data_root(config.data_root), config.download)

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
        data = self.data(spec)
        torch.manual_seed(spec.training_seed if spec.init_seed is None else spec.init_seed)
        return build_model(spec.model, data.image_shape[0], data.num_classes,
                           spec.width).to(self.device)

    def get(self, spec: ModelSpec, teacher: Trained | None = None) -> Trained:
        """The model of ``spec``: loaded if stored, else trained (resuming a checkpoint)."""
        key = spec.key
        if self.store.is_complete(key):
            _, state, metrics = self.store.load(key)
            model = self.new_model(spec)
            model.load_state_dict(state)
            return Trained(spec, key, model.eval(), metrics)
        if spec.teacher is not None and (teacher is None or teacher.key != spec.teacher):
            raise ValueError(f"student {key} needs its teacher {spec.teacher}")
        data = self.data(spec)
        model = self.new_model(spec)
        loss = (cross_entropy_loss if teacher is None else distillation_loss(
            teacher.model, spec.kd, None if spec.recipe.augment else data.train_x))
        self.store.begin(key, spec.as_json())
        start = time.perf_counter()
        desc = f"{spec.model} seed {spec.seed} gen {spec.generation}"
        history = fit(model, data, spec.recipe, spec.training_seed, loss,
                      self.store.checkpoint_path(key), desc)
        metrics = self.measure(model, data)
        metrics.update(history=history, wall_s=time.perf_counter() - start,
                       device=str(self.device),
                       parameters=sum(p.numel() for p in model.parameters()))
        self.store.finish(key, {k: v.cpu() for k, v in model.state_dict().items()}, metrics)
        return Trained(spec, key, model, metrics, trained_now=True)

    def ensemble(self, members: list[Trained], average: str) -> Trained:
        """The members as one model (their logits or probabilities averaged), measured on the
        members' data; its key joins theirs, so a student distilled from it is stored apart."""
        spec = members[0].spec
        model = Ensemble([m.model for m in members], average).eval()
        return Trained(spec, "+".join(m.key for m in members), model,
                       self.measure(model, self.data(spec)))

    @staticmethod
    def measure(model: nn.Module, data: ImageData) -> dict[str, float]:
        test, train = evaluate(model, data.test_x, data.test_y), evaluate(model, data.train_x,
                                                                          data.train_y)
        return {"test_acc": test["accuracy"], "test_loss": test["loss"],
                "train_acc": train["accuracy"], "train_loss": train["loss"]}

    def all_chains(self, config: StudentBeatsTeacherConfig) -> list[tuple[str, str, int,
                                                                         list[Trained]]]:
        """(dataset, model, seed, chain) for every setting and seed of ``config``."""
        return [(dataset, model, seed, self.chain(base_spec(config, dataset, model, seed),
                                                  config.generations, kd_weights(config)))
                for dataset, model, seed in settings_and_seeds(config)]

    def chain(self, teacher_spec: ModelSpec, generations: int, kd: KDWeights) -> list[Trained]:
        """The teacher and ``generations`` students, each distilled from the one before."""
        models = [self.get(teacher_spec)]
        for _ in range(generations):
            spec = models[-1].spec.student(models[-1].key, kd)
            models.append(self.get(spec, teacher=models[-1]))
        return models
