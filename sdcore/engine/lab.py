"""Teachers, students and ensembles, trained once and then loaded from the run store.

``Lab.obtain(specs)`` loads the stored models of ``specs`` (``specs.ModelSpec``: the key schema)
and trains the missing ones a stage at a time (``scheduler``: a student after its teacher),
several at once on CUDA (``speed.Speed``), with one progress bar for the call; ``Lab.ensemble``
joins models into one. Cost: one training per model not yet in the store, one evaluation of the
train and test sets per model trained.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn as nn
import torch.nn.functional as F

from . import scheduler
from .calibration import agreement, expected_calibration_error, mean_kl
from .data import ImageData, load_full, subsets
from .distill import (
    Ensemble,
    class_mean_targets,
    cross_entropy_loss,
    distillation_loss,
    fixed_target_loss,
    label_smoothing_loss,
    shuffled_targets,
    smoothing_epsilon,
)
from .inference import as_input, eval_mode, predict_logits
from .models import build_model, memory_format
from .progress import Progress
from .specs import ModelSpec, ensemble_key, ensemble_members
from .speed import Speed, compiled
from .store import RunStore
from .train import BatchLoss, Job, TrainingDiverged, fit_many


@dataclass
class Trained:
    spec: ModelSpec
    key: str
    model: nn.Module
    metrics: dict[str, Any]
    trained_now: bool = False

    def row(self) -> dict[str, Any]:
        """The row every claim's table records for a model: its data, architecture, seed and
        generation, accuracy, loss and calibration on train and test, the generalization gap,
        how saturated its fit is, its fidelity to its teacher (students), whether this run
        trained it, its training time (``None`` for an ensemble) and its key. Measures a model
        stored by older code lacks are NaN."""
        s, m = self.spec, self.metrics
        extra = {k: m.get(k, math.nan) for k in OPTIONAL_METRICS}
        return {"dataset": s.dataset, "model": s.model, "seed": s.seed,
                "generation": s.generation, "test_acc": m["test_acc"],
                "train_acc": m["train_acc"], "test_loss": m["test_loss"],
                "train_loss": m["train_loss"], "gap": m["train_acc"] - m["test_acc"], **extra,
                "trained_now": self.trained_now, "wall_s": m.get("wall_s"), "key": self.key}


OPTIONAL_METRICS = ("test_ece", "train_ece", "train_confidence", "train_logit_norm",
                    "teacher_agreement", "teacher_kl", "smoothing_epsilon")


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
    _full: dict[tuple, ImageData] = field(default_factory=dict)  # whole datasets, on the CPU
    _test_logits: dict[str, torch.Tensor] = field(default_factory=dict)

    def data(self, spec: ModelSpec) -> ImageData:
        """The (subsets of the) dataset of ``spec``, on the lab's device; each dataset is read
        once, each subset taken once."""
        whole = (spec.dataset, spec.image_size)
        k = (*whole, spec.train_subset, spec.test_subset, spec.subset_seed)
        if k not in self._data:
            if whole not in self._full:
                self._full[whole] = load_full(spec.dataset, self.data_root, self.download,
                                              spec.image_size or 32)
            data = subsets(self._full[whole], spec.train_subset, spec.test_subset,
                           spec.subset_seed)
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
        channels, side, _ = data.image_shape
        model = build_model(spec.model, channels, data.num_classes, spec.width, side)
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
        jobs, extras = [], []
        for spec, teacher in pending:
            loss, extra = self._loss(spec, teacher)
            self.store.begin(spec.key, spec.as_json())
            jobs.append(Job(self.new_model(spec), self.data(spec), spec.recipe,
                            spec.training_seed, loss, self.store.checkpoint_path(spec.key),
                            spec.label))
            extras.append(extra)
        start = time.perf_counter()
        try:
            histories = fit_many(jobs, self.speed, progress)
        except TrainingDiverged as err:  # store those that finished, then stop
            self._store(pending, jobs, extras, err.histories, time.perf_counter() - start)
            raise
        return self._store(pending, jobs, extras, histories, time.perf_counter() - start)

    def _loss(self, spec: ModelSpec, teacher: Trained | None) -> tuple[BatchLoss, dict]:
        """``spec``'s batch loss, and what it was made of that its metrics should keep."""
        data = self.data(spec)
        if teacher is None:
            return cross_entropy_loss, {}
        if spec.kd.targets == "label smoothing":
            logits = predict_logits(teacher.model, data.train_x, self.speed.eval_batch)
            epsilon = smoothing_epsilon(logits, data.train_y, spec.kd.temperature)
            return (label_smoothing_loss(spec.kd, epsilon, data.num_classes),
                    {"smoothing_epsilon": epsilon})
        if spec.kd.targets in ("class-mean teacher", "shuffled teacher"):
            logits = predict_logits(teacher.model, data.train_x, self.speed.eval_batch,
                                    spec.recipe.precision)
            t = spec.kd.temperature
            targets = (class_mean_targets(logits, data.train_y, t)
                       if spec.kd.targets == "class-mean teacher" else shuffled_targets(
                           logits, data.train_y, t,
                           torch.Generator().manual_seed(spec.training_seed)))
            return fixed_target_loss(spec.kd, targets), {}
        return distillation_loss(compiled(teacher.model, spec.recipe.compile), spec.kd,
                                 None if spec.recipe.augment else data.train_x,
                                 self.speed.eval_batch, spec.recipe.precision), {}

    def objective(self, spec: ModelSpec, model: nn.Module, x: torch.Tensor,
                  y: torch.Tensor) -> float:
        """The mean training objective of ``model`` (``spec``'s, trained or loaded) on the first
        ``len(y)`` training images ``x``: cross-entropy for a teacher, for a student its own loss
        (its weights, temperature and soft targets, as it was trained), in eval mode and fp32."""
        loss_fn, _ = self._loss(spec, self.teacher(spec, {}))
        idx = torch.arange(len(y), device=y.device)
        with torch.inference_mode(), eval_mode(model):
            logits = model(x.contiguous(memory_format=memory_format(model, x.device))).float()
            return float(loss_fn(logits, y, x, idx))

    def _store(self, pending: list[tuple[ModelSpec, Trained | None]], jobs: list[Job],
               extras: list[dict], histories: list, wall_s: float) -> list[Trained]:
        """Measure and store every job that finished (its history is not None)."""
        trained = []
        for (spec, teacher), job, extra, history in zip(pending, jobs, extras, histories):
            if history is None:
                continue
            metrics = self.measure(job.model, job.data, teacher, spec.key)
            metrics.update(extra, history=history, wall_s=wall_s, device=str(self.device),
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

    def test_logits(self, model: nn.Module, data: ImageData, key: str | None) -> torch.Tensor:
        """``model``'s logits on the test set, kept for the rest of the lab's life under ``key``
        (a teacher's serve each of its students)."""
        if key is not None and key in self._test_logits:
            return self._test_logits[key]
        logits = predict_logits(model, data.test_x, self.speed.eval_batch)
        if key is not None:
            self._test_logits[key] = logits
        return logits

    def measure(self, model: nn.Module, data: ImageData, teacher: Trained | None = None,
                key: str | None = None) -> dict[str, float]:
        """Accuracy (%), mean cross-entropy and ECE on the test and training sets; on the
        training set also the mean top softmax probability and the mean logit norm (how
        saturated the fit is); with ``teacher``, the test-set agreement with it (%) and the
        mean KL(teacher ‖ model). ``key`` keeps the model's test logits for its students."""
        batch = self.speed.eval_batch
        metrics: dict[str, float] = {}
        for split in ("test", "train"):
            x, y = getattr(data, f"{split}_x"), getattr(data, f"{split}_y")
            logits = (self.test_logits(model, data, key) if split == "test"
                      else predict_logits(model, x, batch))
            metrics.update({
                f"{split}_acc": 100.0 * (logits.argmax(1) == y).float().mean().item(),
                f"{split}_loss": F.cross_entropy(logits, y).item(),
                f"{split}_ece": expected_calibration_error(logits, y)})
            if split == "test" and teacher is not None:
                reference = self.test_logits(teacher.model, data, teacher.key)
                metrics.update(teacher_agreement=agreement(logits, reference),
                               teacher_kl=mean_kl(reference, logits))
        metrics.update(train_confidence=float(F.softmax(logits, 1).max(1).values.mean()),
                       train_logit_norm=float(logits.norm(dim=1).mean()))
        return metrics
