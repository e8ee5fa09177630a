"""Teachers, students and ensembles, trained once and then loaded from the run store.

A ``ModelSpec`` names everything that determines a trained model (data, subset, architecture,
recipe, seed, generation, distillation weights, the key of its teacher or of the members of an
ensemble teacher); its hash is the store key, so any notebook or job asking for the same model gets
the stored one. ``Lab.obtain(specs)`` loads what is stored and trains what is missing, a generation
at a time (a student waits for its teacher), several models at once on CUDA (``train.Speed``).
Cost: one training per model not yet in the store.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn as nn

from .data import ImageData, load_dataset
from .distill import AVERAGES, Ensemble, KDWeights, cross_entropy_loss, distillation_loss
from .models import build_model, memory_format
from .store import RunStore, spec_key
from .train import Job, Recipe, Speed, TrainingDiverged, as_input, compiled, evaluate, fit_many


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
    teacher: str | None = None  # the teacher's store key, or an ensemble's (``ensemble_key``)
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

    @classmethod
    def from_json(cls, spec: dict[str, Any]) -> "ModelSpec":
        """The spec that ``as_json`` gave."""
        kd = spec.get("kd")
        return cls(**{**spec, "recipe": Recipe(**spec["recipe"]),
                      "kd": None if kd is None else KDWeights(**kd)})

    @property
    def key(self) -> str:
        return spec_key(self.as_json())

    @property
    def teacher_keys(self) -> list[str]:
        """The store keys this model is distilled from (an ensemble's members, or one teacher)."""
        return [] if self.teacher is None else ensemble_members(self.teacher)[0]

    def student(self, teacher_key: str, kd: KDWeights) -> "ModelSpec":
        return dataclasses.replace(self, generation=self.generation + 1, kd=kd,
                                   teacher=teacher_key)


LATER_FIELDS = {"init_seed": None, "test_subset": 0}  # ModelSpec fields and their unset values


def ensemble_key(keys: list[str], average: str) -> str:
    """The key of an ensemble of stored models: ``k1+k2`` averages logits, ``k1+k2@probabilities``
    probabilities, so that students of the two are stored apart."""
    if average not in AVERAGES:
        raise ValueError(f"unknown average {average!r}; allowed: {', '.join(AVERAGES)}")
    return "+".join(keys) + ("" if average == "logits" else f"@{average}")


def ensemble_members(key: str) -> tuple[list[str], str]:
    """The member keys and the average of a teacher key (one member for a single model)."""
    members, _, average = key.partition("@")
    return members.split("+"), average or "logits"


def chain_specs(teacher: ModelSpec, generations: int, kd: KDWeights) -> list[ModelSpec]:
    """A teacher and ``generations`` students, each distilled from the one before."""
    specs = [teacher]
    for _ in range(generations):
        specs.append(specs[-1].student(specs[-1].key, kd))
    return specs


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


class MissingModels(LookupError):
    """Models are not in the run store and this lab may not train them."""


@dataclass
class Lab:
    """Datasets and trained models for one experiment.

    With ``train_missing`` false, a model missing from the store is an error that names it and
    ``missing_hint`` (e.g. the command that trains it), instead of a training.
    """

    store: RunStore
    device: torch.device
    data_root: Path
    download: bool = True
    speed: Speed = Speed()
    train_missing: bool = True
    missing_hint: str = ""
    poll_s: float = 2.0  # how often to look for a model that another process is training
    _data: dict[tuple, ImageData] = field(default_factory=dict)

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

    def get(self, spec: ModelSpec) -> Trained:
        """The model of ``spec`` (its teachers must be stored)."""
        return self.obtain([spec])[spec.key]

    def obtain(self, specs: list[ModelSpec]) -> dict[str, Trained]:
        """The models of ``specs`` by key: stored ones loaded, missing ones trained a generation
        at a time (a student after its teachers), ``speed.models_at_once`` together, each once
        however many processes share the store. A teacher that is not among ``specs`` must be in
        the store."""
        wanted = {spec.key: spec for spec in specs}
        depth: dict[str, int] = {}

        def level(key: str) -> int:
            if key not in depth:
                inner = [level(k) for k in wanted[key].teacher_keys if k in wanted]
                depth[key] = 1 + max(inner, default=-1)
            return depth[key]

        done: dict[str, Trained] = {}
        for current in range(1 + max(map(level, wanted), default=-1)):
            stage = [spec for key, spec in wanted.items() if depth[key] == current]
            self._train_stage(stage, done)
            done.update((spec.key, self.load(spec)) for spec in stage if spec.key not in done)
        return {key: done[key] for key in wanted}

    def _train_stage(self, stage: list[ModelSpec], done: dict[str, Trained]) -> None:
        """Train the models of ``stage`` missing from the store, ``speed.models_at_once`` at a
        time, each under its run lock; wait for those that another process is training."""
        pending = [spec for spec in stage if not self.store.is_complete(spec.key)]
        while pending:
            if not self.train_missing:
                self._refuse_untrained(pending)
            mine, theirs = [], []
            for spec in pending:
                if self.store.is_complete(spec.key):
                    continue
                lock = self.store.lock(spec.key)
                if len(mine) < self.speed.models_at_once and lock.try_acquire():
                    mine.append((spec, lock))
                else:
                    theirs.append(spec)
            if mine:
                try:
                    group = [(spec, self.teacher(spec, done)) for spec, _ in mine]
                    done.update((t.key, t) for t in self._train(group))
                finally:
                    for _, lock in mine:
                        lock.release()
            elif theirs:
                time.sleep(self.poll_s)  # trained elsewhere: wait for it to be stored
            pending = theirs

    def _refuse_untrained(self, specs: list[ModelSpec]) -> None:
        """With ``train_missing`` false: an error naming the missing models nobody is training."""
        missing = [s for s in specs if not self.store.is_complete(s.key)
                   and self.store.lock(s.key).held_elsewhere() is None]
        if missing:
            raise MissingModels(
                f"{len(missing)} model(s) are not in the run store {self.store.root} and "
                f"train_missing is false: {', '.join(s.key for s in missing[:10])}"
                f"{' ...' if len(missing) > 10 else ''}. {self.missing_hint}".strip())

    def load(self, spec: ModelSpec) -> Trained:
        """The stored model of ``spec``."""
        _, state, metrics = self.store.load(spec.key)
        model = self.new_model(spec)
        model.load_state_dict(state)
        return Trained(spec, spec.key, model.eval(), metrics)

    def teacher(self, spec: ModelSpec, known: dict[str, Trained]) -> Trained | None:
        """The model ``spec`` is distilled from: from ``known``, else from the store."""
        if spec.teacher is None:
            return None
        keys, average = ensemble_members(spec.teacher)
        members = []
        for key in keys:
            if key not in known:
                if not self.store.is_complete(key):
                    raise MissingModels(f"student {spec.key} needs its teacher {key}, which is "
                                        f"neither planned nor in the run store {self.store.root}")
                stored, _, _ = self.store.load(key)
                known[key] = self.load(ModelSpec.from_json(stored))
            members.append(known[key])
        return members[0] if len(keys) == 1 else self.ensemble(members, average, measured=False)

    def _train(self, pending: list[tuple[ModelSpec, Trained | None]]) -> list[Trained]:
        """Train ``pending`` together (resuming checkpoints) and store each model."""
        jobs = []
        for spec, teacher in pending:
            data = self.data(spec)
            loss = (cross_entropy_loss if teacher is None else distillation_loss(
                compiled(teacher.model, self.speed), spec.kd,
                None if spec.recipe.augment else data.train_x, self.speed.eval_batch))
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

    def ensemble(self, members: list[Trained], average: str, measured: bool = True) -> Trained:
        """The members as one model (their logits or probabilities averaged), measured on the
        members' data unless only its outputs are wanted (as a teacher); its key is
        ``ensemble_key`` of theirs."""
        spec = members[0].spec
        model = Ensemble([m.model for m in members], average).eval()
        metrics = self.measure(model, self.data(spec)) if measured else {}
        return Trained(spec, ensemble_key([m.key for m in members], average), model, metrics)

    def measure(self, model: nn.Module, data: ImageData) -> dict[str, float]:
        batch = self.speed.eval_batch
        test = evaluate(model, data.test_x, data.test_y, batch)
        train = evaluate(model, data.train_x, data.train_y, batch)
        return {"test_acc": test["accuracy"], "test_loss": test["loss"],
                "train_acc": train["accuracy"], "train_loss": train["loss"]}
