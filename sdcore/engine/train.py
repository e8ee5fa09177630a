"""Training and evaluation loops: SGD on device-resident data, resumable, several models at once.

``fit_many`` trains models for their ``Recipe``s with any per-batch loss. Every run checkpoints
atomically, so that an interrupted run resumes and ends bit-identical to an uninterrupted one on the
CPU (the batch order and augmentation of epoch e depend only on (seed, e)). On the CPU it is the
plain loop, one model after another, on one thread (``CPU_TRAINING_THREADS``). On CUDA, ``Speed``
adds what pays on a GPU, each with a switch: the whole training step (forward, backward, fused SGD)
captured once as a CUDA graph and replayed, so that a step costs a few launches instead of
hundreds; several models in lockstep, each on its own CUDA stream, so that their kernels fill the
GPU together; cuDNN autotuning; large evaluation batches; checkpoints every ``checkpoint_s``
seconds instead of every epoch; nothing syncs with the host inside an epoch. On every device the
recipe decides the precision (bf16 autocast, BatchNorm's weights and statistics and the losses in
fp32; a CPU without native bf16 warns once, ``hardware``) and whether each forward pass is
``torch.compile``d (TorchInductor fuses BatchNorm, ReLU and residual adds; on CUDA before the
graph capture). Models and inputs are channels_last where safe (``models.memory_format``).
Cost: epochs × N forward-backward passes per model (plus a teacher forward per batch when
distilling online; twice that with sharpness-aware minimization, ``engine.sam``);
``benchmarks/cpu_step.py`` gives a step's time in each precision.
"""

from __future__ import annotations

import time
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

import torch
import torch.nn as nn
from torch import Tensor

from .data import ImageData, random_crop_flip
from .hardware import warn_without_native_bf16
from .inference import as_input, autocast
from .models import memory_format
from .progress import Progress
from .sam import sharpness_aware_gradients
from .specs import Recipe
from .speed import PLAIN, Speed, compiled, cudnn_benchmark, on_device
from .store import atomic_torch_save

# (logits, labels, inputs, indices of the batch's images in the training set) -> loss
BatchLoss = Callable[[Tensor, Tensor, Tensor, Tensor], Tensor]


class TrainingDiverged(RuntimeError):
    """A model's training loss became NaN or infinite; ``histories`` holds the per-epoch history
    of every job of the call that did finish (None for those that diverged)."""

    def __init__(self, message: str, histories: list | None = None):
        super().__init__(message)
        self.histories = histories


def epoch_generator(seed: int, epoch: int, device: torch.device) -> torch.Generator:
    return torch.Generator(device=device).manual_seed(seed * 1_000_003 + epoch)


# PyTorch's CPU kernels split some reductions (convolution and linear weight gradients) by thread,
# so the weights a CPU training ends with depend on the number of threads. One thread makes them a
# function of the model's key alone, whatever the process or machine layout; processes, not
# threads, then train several CPU models at once (``python -m sdcore train --jobs N``).
CPU_TRAINING_THREADS = 1


@contextmanager
def torch_threads(n: int) -> Iterator[None]:
    """Run the block with ``n`` intra-op threads, restoring the count afterwards."""
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


@dataclass
class Job:
    """One model to train: ``model`` (on ``data``'s device), its recipe, seed and batch loss."""

    model: nn.Module
    data: ImageData
    recipe: Recipe
    seed: int
    loss_fn: BatchLoss
    checkpoint: Path | None = None  # resumed from if it exists; rewritten atomically
    desc: str = "train"


def make_optimizer(model: nn.Module, recipe: Recipe, lr: float | Tensor,
                   fused: bool = False) -> torch.optim.SGD:
    """SGD with weight decay on weights of 2+ dimensions only (not BatchNorm, not biases)."""
    decay, no_decay = [], []
    for p in model.parameters():
        (no_decay if p.ndim <= 1 else decay).append(p)
    return torch.optim.SGD([{"params": decay, "weight_decay": recipe.weight_decay},
                            {"params": no_decay, "weight_decay": 0.0}], lr=lr,
                           momentum=recipe.momentum, nesterov=recipe.nesterov,
                           **({"fused": True} if fused else {}))


# (step, warm-up steps, what to do between warm-up and capture, device) -> the step's replay
GraphMaker = Callable[[Callable[[], None], int, Callable[[], None], torch.device],
                      Callable[[], None]]


def cuda_graph(step: Callable[[], None], warmup: int, before_capture: Callable[[], None],
               device: torch.device) -> Callable[[], None]:
    """Run ``step`` ``warmup`` times on a side stream (cuDNN autotuning, lazy initialization),
    then ``before_capture()``, then capture ``step`` as a CUDA graph; return its replay."""
    side = torch.cuda.Stream(device)
    side.wait_stream(torch.cuda.current_stream(device))
    with torch.cuda.stream(side):
        for _ in range(warmup):
            step()
    torch.cuda.current_stream(device).wait_stream(side)
    before_capture()
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        step()
    return graph.replay


class _Run:
    """One job in progress: its optimizer, history and position; ``step()`` trains one batch.

    With CUDA graphs, the step (forward, loss, backward, fused SGD with a learning-rate tensor, the
    epoch's loss and accuracy sums) is captured once on static tensors; each batch is then copied
    into them and the graph replayed.
    """

    WARMUP_STEPS = 3  # eager steps before capture (cuDNN autotuning, lazy initialization)

    def __init__(self, job: Job, speed: Speed, graph_maker: GraphMaker | None = None):
        self.job, self.speed, self.graph_maker = job, speed, graph_maker
        self.model, self.data, self.recipe = job.model, job.data, job.recipe
        self.device = job.data.train_x.device
        self.graphed = graph_maker is not None
        self.n = len(self.data.train_y)
        self.steps = max(1, self.n // self.recipe.batch_size)  # drop the last partial batch
        # The graph reads the learning rate from a tensor that each step refills.
        self.lr = torch.tensor(self.recipe.lr, device=self.device) if self.graphed else None
        self.optimizer = make_optimizer(self.model, self.recipe,
                                        self.recipe.lr if self.lr is None else self.lr,
                                        fused=self.graphed)
        if self.lr is not None:
            for group in self.optimizer.param_groups:
                group["lr"] = self.lr
        self.history: list[dict[str, float]] = []
        if job.checkpoint is not None and job.checkpoint.exists():
            self._resume(job.checkpoint)
        self.layout = memory_format(self.model, self.device)
        self.model.to(memory_format=self.layout)
        self.forward = compiled(self.model, self.recipe.compile)
        self.pad = self.data.image_shape[-1] // 8 if self.recipe.augment else 0
        self.loss_sum = torch.zeros((), device=self.device)
        self.correct = torch.zeros((), device=self.device, dtype=torch.long)
        # The epoch's step count and its first step with a non-finite loss (-1: none), kept on
        # the device so that watching for divergence costs no sync.
        self.steps_taken = torch.zeros((), device=self.device, dtype=torch.long)
        self.first_nonfinite = torch.full((), -1, device=self.device, dtype=torch.long)
        self.checkpointed = len(self.history)  # the epochs the checkpoint on disk holds
        self.stream = torch.cuda.Stream(self.device) if self.device.type == "cuda" else None
        self.replay: Callable[[], None] | None = None
        self.error: TrainingDiverged | None = None
        self.step_index = 0
        self.last_checkpoint = time.perf_counter()

    def _resume(self, checkpoint: Path) -> None:
        state = torch.load(checkpoint, map_location=self.device, weights_only=True)
        self.model.load_state_dict(state["model"])
        own = [{k: g[k] for k in ("lr", "foreach", "fused")} for g in self.optimizer.param_groups]
        self.optimizer.load_state_dict(state["optimizer"])
        for group, keep in zip(self.optimizer.param_groups, own):
            group.update(keep)  # the checkpoint may come from the other path (graphs on or off)
        self.history = state["history"]

    @property
    def done(self) -> bool:
        return len(self.history) >= self.recipe.epochs

    def stream_context(self):
        return torch.cuda.stream(self.stream) if self.stream is not None else nullcontext()

    def _loss(self, inputs: Tensor, y: Tensor, idx: Tensor) -> tuple[Tensor, Tensor]:
        with autocast(self.device, self.recipe.precision, cache=not self.graphed):
            logits = self.forward(inputs)
            return logits, self.job.loss_fn(logits.float(), y, inputs, idx)

    def _train_batch(self, inputs: Tensor, y: Tensor, idx: Tensor) -> None:
        logits, loss = self._loss(inputs, y, idx)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if self.recipe.sam_rho:
            sharpness_aware_gradients(self.model, lambda: self._loss(inputs, y, idx)[1],
                                      self.recipe.sam_rho)
        self.optimizer.step()
        self.loss_sum += loss.detach()
        self.correct += (logits.argmax(1) == y).sum()
        seen = torch.isfinite(loss.detach()) | (self.first_nonfinite >= 0)
        self.first_nonfinite.copy_(torch.where(seen, self.first_nonfinite, self.steps_taken))
        self.steps_taken += 1

    def _state(self) -> list[Tensor]:
        """Every tensor a training step changes."""
        buffers = [s["momentum_buffer"] for s in self.optimizer.state.values()
                   if s.get("momentum_buffer") is not None]
        return [*self.model.state_dict().values(), *buffers, self.loss_sum, self.correct,
                self.steps_taken, self.first_nonfinite]

    def capture(self) -> None:
        """Capture the training step as a graph, leaving the model's state as it was."""
        b = min(self.recipe.batch_size, self.n)
        self.static_x = as_input(self.data.train_x[:b], self.layout)  # warm-up batch: no RNG used
        self.static_y = self.data.train_y[:b].clone()
        self.static_idx = torch.arange(b, device=self.device)
        if self.recipe.momentum:  # zeros: what SGD's first step would make of a missing buffer
            for group in self.optimizer.param_groups:
                for p in group["params"]:
                    self.optimizer.state[p].setdefault("momentum_buffer", torch.zeros_like(p))
        saved = [t.clone() for t in self._state()]
        self.model.train()
        self.replay = self.graph_maker(
            lambda: self._train_batch(self.static_x, self.static_y, self.static_idx),
            self.WARMUP_STEPS, lambda: self.optimizer.zero_grad(set_to_none=True), self.device)
        with torch.no_grad():
            for tensor, value in zip(self._state(), saved):
                tensor.copy_(value)

    def release(self) -> None:
        """Free the graph and its memory (the gradients live in its pool)."""
        if self.replay is not None:
            self.replay = None
            self.optimizer.zero_grad(set_to_none=True)

    def _begin_epoch(self) -> None:
        self.model.train()
        epoch = len(self.history)
        self.generator = epoch_generator(self.job.seed, epoch, self.device)
        self.order = torch.randperm(self.n, device=self.device, generator=self.generator)
        self.loss_sum.zero_()
        self.correct.zero_()
        self.steps_taken.zero_()
        self.first_nonfinite.fill_(-1)
        self.epoch_start = time.perf_counter()

    def step(self) -> bool:
        """Train the next batch; True when it ended an epoch."""
        i = self.step_index
        if i == 0:
            self._begin_epoch()
        idx = self.order[i * self.recipe.batch_size:(i + 1) * self.recipe.batch_size]
        x, y = self.data.train_x[idx], self.data.train_y[idx]
        if self.recipe.augment:
            x = random_crop_flip(x, self.pad, self.data.flip, self.generator)
        inputs = as_input(x, self.layout)
        lr = self.recipe.lr_at(len(self.history) * self.steps + i, self.steps)
        if self.replay is None:
            for group in self.optimizer.param_groups:
                group["lr"] = lr
            self._train_batch(inputs, y, idx)
        else:
            self.static_x.copy_(inputs)
            self.static_y.copy_(y)
            self.static_idx.copy_(idx)
            self.lr.fill_(lr)
            self.replay()
        self.step_index = (i + 1) % self.steps
        if self.step_index == 0:
            self._end_epoch()
            return True
        return False

    def _end_epoch(self) -> None:
        bad_step = int(self.first_nonfinite.item())
        if bad_step >= 0:
            raise TrainingDiverged(self._divergence(bad_step))
        self.history.append({
            "epoch": len(self.history) + 1, "loss": self.loss_sum.item() / self.steps,
            "train_acc": 100.0 * self.correct.item() / (self.steps * self.recipe.batch_size),
            "seconds": time.perf_counter() - self.epoch_start})
        if self.job.checkpoint is None:
            return
        due = time.perf_counter() - self.last_checkpoint >= self.speed.checkpoint_s
        # Every epoch (the plain loop), or when due and the run is not over (its caller stores
        # the finished model).
        if self.speed.checkpoint_s == 0 or (due and not self.done):
            atomic_torch_save({"model": self.model.state_dict(),
                               "optimizer": self.optimizer.state_dict(),
                               "history": self.history}, self.job.checkpoint)
            self.last_checkpoint = time.perf_counter()
            self.checkpointed = len(self.history)

    def _divergence(self, bad_step: int) -> str:
        """What happened, what was kept and what to change, for a loss that became non-finite."""
        if self.job.checkpoint is not None and self.checkpointed > 0:
            kept = (f"the checkpoint after epoch {self.checkpointed}, the last one written, is "
                    f"kept for inspection at {self.job.checkpoint}")
        else:
            kept = "no checkpoint had been written yet"
        return (f"{self.job.desc}: the training loss became NaN or infinite at epoch "
                f"{len(self.history) + 1} of {self.recipe.epochs}, step {bad_step + 1} of "
                f"{self.steps}. Nothing was stored as complete; {kept}. Try a lower learning "
                f"rate (lr is {self.recipe.lr:g}); a very large weight_decay or temperature, or "
                f"non-finite inputs, do the same.")


def fit(model: nn.Module, data: ImageData, recipe: Recipe, seed: int, loss_fn: BatchLoss,
        checkpoint: Path | None = None, desc: str = "train",
        speed: Speed = PLAIN) -> list[dict[str, float]]:
    """Train one model (already on ``data``'s device) and return its per-epoch history."""
    return fit_many([Job(model, data, recipe, seed, loss_fn, checkpoint, desc)], speed)[0]


def fit_many(jobs: list[Job], speed: Speed = PLAIN,
             progress: Progress | None = None) -> list[list[dict[str, float]]]:
    """Train every job and return each one's per-epoch history; models are left in eval mode.

    On CUDA all jobs train together (keep them to ``speed.models_at_once``); elsewhere one after
    another with the plain loop, on ``CPU_TRAINING_THREADS`` threads. A job whose loss turns NaN
    or infinite stops; the others finish, then ``TrainingDiverged`` is raised with their
    histories. Each epoch advances ``progress`` (by default a bar of its own over the jobs).
    """
    if not jobs:
        return []
    device = jobs[0].data.train_x.device
    speed = on_device(speed, device)
    if device.type == "cpu" and any(job.recipe.precision == "bf16" for job in jobs):
        warn_without_native_bf16()
    with cudnn_benchmark(speed.cudnn_benchmark) if device.type == "cuda" else nullcontext():
        graphs = cuda_graph if device.type == "cuda" and speed.cuda_graphs else None
        runs = [_Run(job, speed, graphs) for job in jobs]
        own = progress is None
        if own:
            desc = jobs[0].desc + (f" (+{len(jobs) - 1} more)" if len(jobs) > 1 else "")
            progress = Progress(sum(r.recipe.epochs for r in runs), desc, "epoch")
        resumed = sum(len(r.history) for r in runs)  # epochs that checkpoints already hold
        if resumed:
            progress.update(resumed)
        try:
            if device.type != "cuda":
                with torch_threads(CPU_TRAINING_THREADS):
                    for run in runs:
                        _train_together([run], progress)
                        if run.error is not None:
                            break
            else:
                _train_together(runs, progress)
                torch.cuda.synchronize(device)
        finally:
            if own:
                progress.close()
    errors = [run.error for run in runs if run.error is not None]
    if errors:
        others = f" ({len(errors) - 1} more diverged)" if len(errors) > 1 else ""
        raise TrainingDiverged(str(errors[0]) + others,
                               [run.history if run.done else None for run in runs])
    return [run.history for run in runs]


def _train_together(runs: list[_Run], progress: Progress) -> None:
    """Step ``runs`` round-robin until each has trained all its epochs or diverged."""
    active = [r for r in runs if not r.done]
    for run in active:
        if run.graphed:
            with run.stream_context():
                run.capture()
    while active:
        for run in active:
            with run.stream_context():
                try:
                    ended_epoch = run.step()
                except TrainingDiverged as err:
                    run.error = err
                    continue
            if ended_epoch:
                last = run.history[-1]
                progress.update(1, model=run.job.desc, loss=f"{last['loss']:.3f}",
                                acc=f"{last['train_acc']:.1f}")
        active = [r for r in active if not r.done and r.error is None]
    for run in runs:
        run.release()
        run.model.eval()
