"""Teachers, students and ensembles, trained once and then loaded from the run store.

``Lab.obtain(specs)`` loads the stored models of ``specs`` (``specs.ModelSpec``: the key schema)
and trains the missing ones a stage at a time (``scheduler``: a student after its teacher),
several at once on CUDA (``speed.Speed``), with one progress bar for the call; ``Lab.ensemble``
joins models into one. Cost: one training per model not yet in the store, one evaluation of the
train and test sets per model trained.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn as nn

from . import scheduler
from .data import ImageData, load_dataset
from .distill import Ensemble, cross_entropy_loss, distillation_loss
from .inference import as_input, evaluate
from .models import build_model, memory_format
from .progress import Progress
from .specs import ModelSpec, ensemble_key, ensemble_members
from .speed import Speed, compiled
from .store import RunStore
from .train import Job, TrainingDiverged, fit_many


@dataclass
class Trained:
    spec: ModelSpec
    key: str
    model: nn.Module
    metrics: dict[str, Any]
    trained_now: bool = False

    def row(self) -> dict[str, Any]:
        """The row every claim's table records for a model: its setting, seed and generation,
        accuracy and loss on train and test, the generalization gap, whether this run trained
        it, its training time (``None`` for an ensemble) and its key."""
        s, m = self.spec, self.metrics
        return {"dataset": s.dataset, "model": s.model, "seed": s.seed,
                "generation": s.generation, "test_acc": m["test_acc"],
                "train_acc": m["train_acc"], "test_loss": m["test_loss"],
                "train_loss": m["train_loss"], "gap": m["train_acc"] - m["test_acc"],
                "trained_now": self.trained_now, "wall_s": m.get("wall_s"), "key": self.key}


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
        """The models of ``specs`` by key: stored ones loaded, missing ones trained a stage at a
        time (a student after its teachers), ``speed.models_at_once`` together, each once
        however many processes share the store. A teacher that is not among ``specs`` must be in
        the store."""
        wanted = {spec.key: spec for spec in specs}
        missing = [s for s in wanted.values() if not self.store.is_complete(s.key)]
        done: dict[str, Trained] = {}
        progress = None
        if missing and self.train_missing:
            progress = Progress(sum(s.recipe.epochs for s in missing),
                                f"training {len(missing)} of {len(wanted)} models", "epoch")
        try:
            for stage in scheduler.stages(list(wanted.values())):
                scheduler.train_stage(
                    stage, self.store,
                    lambda group: done.update((t.key, t) for t in self._train(group, done,
                                                                               progress)),
                    self.speed.models_at_once, self.poll_s,
                    None if self.train_missing else self._refuse_untrained)
                done.update((s.key, self.load(s)) for s in stage if s.key not in done)
        finally:
            if progress is not None:
                progress.close()
        return {key: done[key] for key in wanted}

    def _refuse_untrained(self, specs: list[ModelSpec]) -> None:
        """An error naming the models of ``specs`` that are missing and that nobody trains."""
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

    def _train(self, specs: list[ModelSpec], known: dict[str, Trained],
               progress: Progress | None) -> list[Trained]:
        """Train ``specs`` together (resuming checkpoints; their teachers from ``known`` or the
        store) and store each model."""
        pending = [(spec, self.teacher(spec, known)) for spec in specs]
        jobs = []
        for spec, teacher in pending:
            data = self.data(spec)
            loss = (cross_entropy_loss if teacher is None else distillation_loss(
                compiled(teacher.model, self.speed), spec.kd,
                None if spec.recipe.augment else data.train_x, self.speed.eval_batch))
            self.store.begin(spec.key, spec.as_json())
            jobs.append(Job(self.new_model(spec), data, spec.recipe, spec.training_seed, loss,
                            self.store.checkpoint_path(spec.key), spec.label))
        start = time.perf_counter()
        try:
            histories = fit_many(jobs, self.speed, progress)
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
