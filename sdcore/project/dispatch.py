"""``python -m sdcore train``: train the models a profile needs, as jobs, via submitit.

A job trains some chains of the profile's plan (a chain: a teacher and the students distilled from
it) and the models they depend on (an ensemble's members, a teacher planned in another chain):
stored ones are loaded, those another job is training are waited for, the rest trained here.
Chains that share a model (a teacher and its several students, say) go to the same job
(``tasks``), so that jobs seldom wait for each other; on one machine the groups are packed into a
few jobs of about equal cost, so that few processes start. The run store's locks train every
model once however the jobs overlap, so jobs need no dependencies between them.

Executors: ``slurm`` (submitit's AutoExecutor: one job array on a Slurm cluster), ``local``
(submitit's LocalExecutor: ``jobs`` processes at once on this machine, e.g. several chains on one
GPU, each with its share of the CPU threads), ``debug`` (in this process). Jobs are checkpointable:
a preempted or timed-out job is requeued and resumes from its models' last checkpoints.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import submitit
import torch

from ..engine.lab import Lab
from ..engine.specs import ModelSpec
from .plan import DATASET_SHAPES
from .run import Chain, NotebookRun, chains_of

EXECUTORS = ("local", "slurm", "debug")
JOBS_PER_WORKER = 3  # local: jobs per process slot, so that the slots finish about together


class DispatchError(ValueError):
    """Options that cannot work, found before anything is submitted."""


@dataclass(frozen=True)
class Options:
    """How the jobs run; every field is a ``train`` command-line option."""

    executor: str = "local"  # local, slurm or debug
    jobs: int = 1  # local: jobs running at once on this machine
    partition: str | None = None  # slurm: partition (default: the cluster's)
    account: str | None = None  # slurm: account to charge
    gpus_per_job: int = 1  # slurm: GPUs per job (local: jobs share the visible GPU)
    cpus_per_job: int = 8  # slurm: CPU cores per job
    time_min: int = 240  # minutes a job may run before it is checkpointed and requeued
    array_parallelism: int = 16  # slurm: jobs of the array running at once

    def check(self) -> None:
        """Refuse impossible or contradictory options, naming them."""
        if self.executor not in EXECUTORS:
            raise DispatchError(f"unknown executor {self.executor!r}; allowed: "
                                f"{', '.join(EXECUTORS)}")
        for name in ("jobs", "gpus_per_job", "cpus_per_job", "time_min", "array_parallelism"):
            if getattr(self, name) < (0 if name == "gpus_per_job" else 1):
                raise DispatchError(f"--{name.replace('_', '-')} must be at least "
                                    f"{0 if name == 'gpus_per_job' else 1}, got "
                                    f"{getattr(self, name)}")
        if self.executor != "slurm":
            given = [f"--{n}" for n in ("partition", "account") if getattr(self, n)]
            if given:
                raise DispatchError(f"{', '.join(given)} only apply with --executor slurm")
        if self.executor != "local" and self.jobs != 1:
            raise DispatchError("--jobs applies to --executor local (slurm: "
                                "--array-parallelism)")


def threads_per_job(jobs: int, cores: int | None = None) -> int:
    """Each local job's share of the CPU threads (two torch processes at full threads on the
    same cores slow each other many times over)."""
    return max(1, (cores or os.cpu_count() or 1) // jobs)


class TrainChain(submitit.helpers.Checkpointable):
    """A job: train the chains ``indices`` of ``chains`` (a plan's, every chain of it: a chain's
    teachers may be planned in another) and what they depend on, a chain at a time; requeued as
    it is when preempted or out of time (``Checkpointable``), it resumes from the checkpoints.
    The chains travel with the job (pickled), so it reads no parameters and needs no working
    directory."""

    def __init__(self, chains: list[Chain], indices: int | list[int], threads: int | None = None):
        self.chains, self.threads = list(chains), threads
        self.indices = [indices] if isinstance(indices, int) else list(indices)

    def __call__(self) -> list[str]:
        """The keys of the models this job trained."""
        if self.threads:
            torch.set_num_threads(self.threads)
        labs: dict[int, Lab] = {}  # one per notebook's config: data and teachers' logits kept
        trained = []
        for index in self.indices:
            chain = self.chains[index]
            if id(chain.config) not in labs:
                labs[id(chain.config)] = chain.lab()
            models = labs[id(chain.config)].obtain(with_dependencies(chain.specs, self.chains))
            trained += [key for key, model in models.items() if model.trained_now]
        return trained


def with_dependencies(specs: list[ModelSpec], chains: list[Chain]) -> list[ModelSpec]:
    """``specs`` and, before them, every planned model they are distilled from, recursively."""
    planned = {s.key: s for chain in chains for s in chain.specs}
    ordered: dict[str, ModelSpec] = {}

    def add(spec: ModelSpec) -> None:
        for key in spec.teacher_keys:
            if key in planned and key not in ordered:
                add(planned[key])
        ordered.setdefault(spec.key, spec)

    for spec in specs:
        add(spec)
    return list(ordered.values())


def chains_to_train(chains: list[Chain]) -> list[int]:
    """The chains that are the first to plan some model missing from the store."""
    owners: dict[str, int] = {}
    for index, chain in enumerate(chains):
        for spec in chain.specs:
            owners.setdefault(spec.key, index)
    return sorted({index for key, index in owners.items()
                   if not chains[index].store.is_complete(key)})


def chain_cost(chain: Chain) -> float:
    """A chain's training cost in image-epochs of its models (a distilled student with an online
    teacher counts 1.6x), for packing jobs of about equal cost."""
    cost = 0.0
    for spec in chain.specs:
        images = spec.train_subset or DATASET_SHAPES.get(spec.dataset, (50_000, 32))[0]
        online = spec.teacher is not None and spec.recipe.augment
        cost += spec.recipe.epochs * images * (1.6 if online else 1.0)
    return cost


def tasks(chains: list[Chain], todo: list[int], bins: int | None = None) -> list[list[int]]:
    """The chains ``todo`` grouped into jobs: chains that share a model (directly or through
    other chains) are one group, in plan order; with ``bins``, the groups are packed, the most
    costly first, into at most that many jobs of about equal cost (``chain_cost``)."""
    parent = {i: i for i in todo}

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    first: dict[str, int] = {}
    for i in todo:
        for key in [s.key for s in chains[i].specs] + [k for s in chains[i].specs
                                                        for k in s.teacher_keys]:
            if key in first:
                parent[find(i)] = find(first[key])
            else:
                first[key] = i
    groups: dict[int, list[int]] = {}
    for i in todo:
        groups.setdefault(find(i), []).append(i)
    found = list(groups.values())
    if bins is None or len(found) <= bins:
        return found
    packed: list[list[int]] = [[] for _ in range(bins)]
    load = [0.0] * bins
    for group in sorted(found, key=lambda g: -sum(chain_cost(chains[i]) for i in g)):
        lightest = load.index(min(load))
        packed[lightest] += group
        load[lightest] += sum(chain_cost(chains[i]) for i in group)
    return [sorted(job) for job in packed if job]


def check_stores_writable(chains: list[Chain]) -> None:
    for root in {chain.store.root for chain in chains}:
        try:
            root.mkdir(parents=True, exist_ok=True)
            probe = root / f".write-test-{os.getpid()}"
            probe.write_text("")
            probe.unlink()
        except OSError as err:
            raise DispatchError(f"the run store {root} is not writable ({err.strerror}); set "
                                "run_store or SDCORE_RUNS to a folder the jobs can write") from None


def executor_for(options: Options, logs: Path, name: str) -> submitit.Executor:
    if options.executor == "debug":
        return submitit.DebugExecutor(folder=logs)
    if options.executor == "local":
        executor = submitit.LocalExecutor(folder=logs)
        gpus = 1 if torch.cuda.is_available() else 0  # local jobs share this machine's GPU
        executor.update_parameters(timeout_min=options.time_min, gpus_per_node=gpus)
        return executor
    try:
        executor = submitit.AutoExecutor(folder=logs, cluster="slurm")
    except RuntimeError as err:  # submitit finds no srun
        raise DispatchError(f"--executor slurm needs a Slurm cluster (sbatch and srun on PATH): "
                            f"{err}") from None
    executor.update_parameters(
        name=name, timeout_min=options.time_min, gpus_per_node=options.gpus_per_job,
        cpus_per_task=options.cpus_per_job, slurm_array_parallelism=options.array_parallelism,
        **({"slurm_partition": options.partition} if options.partition else {}),
        **({"slurm_account": options.account} if options.account else {}))
    return executor


def train(runs: Sequence[NotebookRun], options: Options, logs: Path | None = None,
          wait: bool = True) -> list[submitit.Job]:
    """Submit jobs for the chains of ``runs`` (notebooks at one profile) that have missing
    models; with ``wait``, return once all are done (raising on a failed job), else right after
    submitting."""
    options.check()
    if not runs:
        return []
    root, profile = runs[0].root, runs[0].profile
    chains = chains_of(runs)
    check_stores_writable(chains)
    todo = chains_to_train(chains)
    logs = logs or root / "_build" / "jobs" / profile
    groups = tasks(chains, todo, JOBS_PER_WORKER * options.jobs
                   if options.executor == "local" else None)
    print(f"{len(todo)} of {len(chains)} chains of the {profile} profile have models to train, "
          f"in {len(groups)} job(s); executor {options.executor}, logs in {logs}", flush=True)
    if not todo:
        return []
    executor = executor_for(options, logs, f"sdcore-{profile}")
    threads = threads_per_job(options.jobs) if options.executor == "local" else None
    work = [TrainChain(chains, group, threads) for group in groups]
    if options.executor == "slurm":
        jobs = executor.submit_array(work)
        print(f"submitted job array {jobs[0].job_id.split('_')[0]} ({len(jobs)} jobs); "
              f"follow it with: python -m sdcore plan --profile {profile}", flush=True)
        if wait:
            _wait(jobs)
        return jobs
    return _run_at_most(executor, work, options.jobs)


def _run_at_most(executor: submitit.Executor, tasks: list[TrainChain],
                 at_once: int) -> list[submitit.Job]:
    """Run ``tasks`` with at most ``at_once`` jobs running; raise on the first failure."""
    queue, running, finished = list(tasks), [], []
    while queue or running:
        while queue and len(running) < at_once:
            task = queue.pop(0)
            job = executor.submit(task)
            print(f"job {job.job_id}: chain(s) {', '.join(map(str, task.indices))}, log "
                  f"{job.paths.stdout}", flush=True)
            running.append(job)
        done = [job for job in running if job.done()]
        for job in done:
            running.remove(job)
            finished.append(job)
            trained = job.result()  # raises the job's error, with its log
            print(f"job {job.job_id} done: {len(trained)} model(s) trained", flush=True)
        if running and not done:
            time.sleep(1.0)
    return finished


def _wait(jobs: list[submitit.Job]) -> None:
    for job in jobs:
        job.result()
