"""``python -m sdcore train``: train the models a profile needs, one job per chain, via submitit.

A job trains one chain of the profile's plan (a teacher and the students distilled from it) and the
models it depends on (an ensemble's members, a teacher planned in another chain): stored ones are
loaded, those another job is training are waited for, the rest trained here. The run store's locks
train every model once however the jobs overlap, so jobs need no dependencies between them.

Executors: ``slurm`` (submitit's AutoExecutor: one job array on a Slurm cluster), ``local``
(submitit's LocalExecutor: ``jobs`` processes at once on this machine, e.g. several chains on one
GPU, each with its share of the CPU threads), ``debug`` (in this process). Jobs are checkpointable:
a preempted or timed-out job is requeued and resumes from its models' last checkpoints.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

import submitit
import torch

from .claims.common import lab_for, store_for
from .engine.specs import ModelSpec
from .plan import Chain, profile_chains

EXECUTORS = ("local", "slurm", "debug")


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
    """A job: train chain ``index`` of the profile's plan and what it depends on; requeued as it
    is when preempted or out of time (``Checkpointable``), it resumes from the checkpoints."""

    def __init__(self, root: Path, profile: str, index: int, threads: int | None = None):
        self.root, self.profile, self.index, self.threads = Path(root), profile, index, threads

    def __call__(self) -> list[str]:
        """The keys of the models this job trained."""
        os.chdir(self.root)
        if self.threads:
            torch.set_num_threads(self.threads)
        chains = profile_chains(self.root, self.profile)
        chain = chains[self.index]
        models = lab_for(chain.config).obtain(with_dependencies(chain.specs, chains))
        return [key for key, trained in models.items() if trained.trained_now]


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


def check_stores_writable(chains: list[Chain]) -> None:
    for root in {store_for(chain.config).root for chain in chains}:
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


def train(root: Path, profile: str, options: Options, only: list[str] | None = None,
          logs: Path | None = None, wait: bool = True) -> list[submitit.Job]:
    """Submit one job per chain with missing models; with ``wait``, return once all are done
    (raising on a failed job), else right after submitting."""
    options.check()
    chains = profile_chains(root, profile, only)
    check_stores_writable(chains)
    todo = chains_to_train(chains)
    logs = logs or root / "_build" / "jobs" / profile
    print(f"{len(todo)} of {len(chains)} chains of the {profile} profile have models to train; "
          f"executor {options.executor}, logs in {logs}", flush=True)
    if not todo:
        return []
    executor = executor_for(options, logs, f"sdcore-{profile}")
    threads = threads_per_job(options.jobs) if options.executor == "local" else None
    tasks = [TrainChain(root, profile, index, threads) for index in todo]
    if options.executor == "slurm":
        jobs = executor.submit_array(tasks)
        print(f"submitted job array {jobs[0].job_id.split('_')[0]} ({len(jobs)} jobs); "
              f"follow it with: python -m sdcore plan --profile {profile}", flush=True)
        if wait:
            _wait(jobs)
        return jobs
    return _run_at_most(executor, tasks, options.jobs)


def _run_at_most(executor: submitit.Executor, tasks: list[TrainChain],
                 at_once: int) -> list[submitit.Job]:
    """Run ``tasks`` with at most ``at_once`` jobs running; raise on the first failure."""
    queue, running, finished = list(tasks), [], []
    while queue or running:
        while queue and len(running) < at_once:
            task = queue.pop(0)
            job = executor.submit(task)
            print(f"job {job.job_id}: chain {task.index}, log {job.paths.stdout}", flush=True)
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
