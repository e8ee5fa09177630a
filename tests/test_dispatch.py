"""Training a profile's plan as jobs: the local executor in separate processes, Slurm through fake
sbatch/squeue/sacct, racing processes on one run store, a requeued job, and bad options."""

from __future__ import annotations

import io
import os
import re
import signal
import stat
import subprocess
import sys
import time
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import pytest
import submitit
import torch

from sdcore.commands.cli import main
from sdcore.engine.store import RunStore
from sdcore.project.dispatch import DispatchError, Options, TrainChain, threads_per_job
from sdcore.project.run import chains_of, notebook_runs

sys.path.insert(0, str(Path(__file__).parent / "helpers"))
from chain import lab_and_chain, train_chain  # noqa: E402

WORKER = Path(__file__).parent / "helpers" / "chain.py"


def cli(cwd: Path, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    """``python -m sdcore ARGS`` in ``cwd`` with ``env`` over the environment, run in this
    process (a new interpreter spends seconds importing torch)."""
    out, err = io.StringIO(), io.StringIO()
    with pytest.MonkeyPatch.context() as patch, redirect_stdout(out), redirect_stderr(err):
        patch.chdir(cwd)
        for name, value in (env or {}).items():
            patch.setenv(name, value)
        code = main(list(args))
    return subprocess.CompletedProcess(list(args), code, out.getvalue(), err.getvalue())


@pytest.mark.parametrize("args, message", [
    (["--executor", "pbs"], "invalid choice: 'pbs'"),
    (["--executor", "local", "--partition", "gpu"], "--partition only apply with --executor slurm"),
    (["--executor", "local", "--jobs", "0"], "--jobs must be at least 1, got 0"),
    (["--executor", "slurm", "--jobs", "2"], "--jobs applies to --executor local"),
    (["--executor", "local", "--time", "0"], "--time-min must be at least 1"),
])
def test_bad_options_stop_before_anything_is_submitted(project_copy, args, message):
    done = cli(project_copy, "train", "--profile", "smoke", *args)
    assert done.returncode != 0 and message in done.stderr
    assert not (project_copy / "_build" / "jobs").exists()


def test_slurm_without_slurm_says_so(project_copy, tmp_path):
    done = cli(project_copy, "train", "--profile", "smoke", "--executor", "slurm", "--no-wait",
               env={"PATH": f"{tmp_path}:/usr/bin:/bin"})
    assert done.returncode == 1 and "--executor slurm needs a Slurm cluster" in done.stderr


def test_a_store_that_cannot_be_written_is_named(project_copy, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    done = cli(project_copy, "train", "--profile", "smoke", "--executor", "local",
               env={"SDCORE_RUNS": str(blocker / "runs")})
    assert done.returncode == 1
    assert f"the run store {blocker / 'runs'} is not writable" in done.stderr


def test_local_jobs_share_the_cores():
    assert threads_per_job(2, cores=2) == 1 and threads_per_job(1, cores=2) == 2
    assert threads_per_job(4, cores=2) == 1 and threads_per_job(3, cores=16) == 5


FAKE = {"sbatch": 'cat "$1" > "$FAKE_SLURM/script.sh"; echo "$@" >> "$FAKE_SLURM/sbatch.args"\n'
                  'echo "Submitted batch job 4242"',
        "squeue": 'echo "$@" >> "$FAKE_SLURM/squeue.args"',
        "sacct": 'echo "$@" >> "$FAKE_SLURM/sacct.args"',
        "srun": 'exec "$@"'}


def test_slurm_submission_carries_the_options_and_one_job_per_chain(project_copy, tmp_path):
    bin_dir, record = tmp_path / "bin", tmp_path / "record"
    bin_dir.mkdir()
    record.mkdir()
    for name, body in FAKE.items():
        path = bin_dir / name
        path.write_text(f"#!/bin/sh\n{body}\n")
        path.chmod(path.stat().st_mode | stat.S_IEXEC)
    done = cli(project_copy, "train", "--profile", "smoke", "--executor", "slurm", "--partition",
               "gpu", "--account", "lab", "--time", "30", "--array-parallelism", "4",
               "--gpus-per-job", "1", "--cpus-per-job", "6", "--no-wait",
               env={"PATH": f"{bin_dir}:{os.environ['PATH']}", "FAKE_SLURM": str(record)})
    assert done.returncode == 0, done.stderr
    chains = {c.specs[0].key for c in smoke_chains(project_copy)}
    script = (record / "script.sh").read_text()
    for line in ("#SBATCH --partition=gpu", "#SBATCH --account=lab", "#SBATCH --time=30",
                 "#SBATCH --cpus-per-task=6", "#SBATCH --gpus-per-node=1",
                 f"#SBATCH --array=0-{script_array_size(done.stdout) - 1}%4"):
        assert line in script, (line, script)
    assert 0 < script_array_size(done.stdout) <= len(chains) + 20
    assert "submitted job array 4242" in done.stdout and "logs in" in done.stdout


def script_array_size(stdout: str) -> int:
    """The number of jobs the train command said it submitted."""
    line = next(line for line in stdout.splitlines() if line.startswith("submitted job array"))
    return int(line.split("(")[1].split()[0])


def test_racing_processes_train_each_model_once(tmp_path):
    reference = train_chain(tmp_path / "reference")
    store = tmp_path / "shared"
    workers = [subprocess.Popen([sys.executable, str(WORKER), str(store)], stdout=subprocess.PIPE,
                                text=True) for _ in range(3)]
    outputs = [w.communicate(timeout=600)[0] for w in workers]
    assert all(w.returncode == 0 for w in workers), outputs
    trained = [line.split()[1] for out in outputs for line in out.splitlines()
               if line.startswith("trained ")]
    assert sorted(trained) == sorted(t.key for t in reference)  # each exactly once
    for ref, got in zip(reference, train_chain(store)):
        assert all(torch.equal(a, b) for a, b in zip(ref.model.state_dict().values(),
                                                     got.model.state_dict().values()))
    for t in reference:
        assert sorted(p.name for p in RunStore(store).folder(t.key).iterdir()) == [
            "metrics.json", "model.pt", "spec.json"]


def test_a_killed_lock_holder_does_not_block_the_next_process(tmp_path):
    store = RunStore(tmp_path / "store")
    _, specs = lab_and_chain(tmp_path / "store")
    holder = subprocess.Popen([sys.executable, str(WORKER), str(store.root)],
                              stdout=subprocess.PIPE, text=True)
    lock, owner = (store.folder(specs[0].key) / name for name in (".lock", ".owner.json"))
    deadline = time.monotonic() + 120
    while not owner.exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert lock.exists() and owner.exists()
    os.kill(holder.pid, signal.SIGKILL)
    holder.wait()
    assert store.lock(specs[0].key).held_elsewhere() is None  # its holder is dead: stale
    after = subprocess.run([sys.executable, str(WORKER), str(store.root)], capture_output=True,
                           text=True, timeout=600)
    assert after.returncode == 0 and f"trained {specs[0].key}" in after.stdout
    assert not lock.exists()


def signal_once_training_has_begun(store: RunStore, job: submitit.Job,
                                   timeout_s: float = 600) -> None:
    """Send the job's training process the signal a time limit sends (SIGUSR2) once a model has
    written a checkpoint (it has trained an epoch), whatever the machine's speed; the process is
    the holder named in that model's run lock."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and not job.done():
        for checkpoint in store.root.glob("*/checkpoint.pt"):
            owner = store.lock(checkpoint.parent.name).held_elsewhere()
            if owner is not None:
                os.kill(int(owner["pid"]), signal.SIGUSR2)
                return
        time.sleep(0.05)
    raise AssertionError("the job ended or stalled before any model wrote a checkpoint")


def test_a_timed_out_job_is_requeued_and_ends_with_the_same_weights(project_copy, tmp_path):
    """A job signalled as its time limit would signal it checkpoints, is requeued, resumes from
    the run store's checkpoints and ends as an uninterrupted run. The signal is sent on
    progress (a checkpoint written), not after a fixed time, so machine speed does not matter."""
    params = project_copy / "parameters" / "smoke" / "_shared.yaml"
    params.write_text(params.read_text().replace("epochs: 2", "epochs: 6"))
    chains = smoke_chains(project_copy)
    chain = chains[0]
    executor = submitit.LocalExecutor(folder=tmp_path / "jobs", max_num_timeout=3)
    executor.update_parameters(timeout_min=60)  # never reached: the test sends the signal
    job = executor.submit(TrainChain(chains, 0, threads=1))
    signal_once_training_has_begun(chain.store, job)
    trained = job.result()
    log = job.stdout() + job.stderr()
    assert "Requeued job" in log, log[-2000:]
    assert set(trained) <= {spec.key for spec in chain.specs}  # the last attempt's share
    assert all(chain.store.is_complete(spec.key) for spec in chain.specs)
    reference = tmp_path / "reference"
    os.environ["SDCORE_RUNS"], runs = str(reference), os.environ["SDCORE_RUNS"]
    try:
        TrainChain(chains, 0, threads=1)()
    finally:
        os.environ["SDCORE_RUNS"] = runs
    for spec in chain.specs:
        a = torch.load(chain.store.folder(spec.key) / "model.pt", weights_only=True)
        b = torch.load(reference / spec.key / "model.pt", weights_only=True)
        assert all(torch.equal(a[k], b[k]) for k in a), spec.key
        assert not chain.store.checkpoint_path(spec.key).exists()


def test_a_job_of_some_notebooks_trains_their_chains(project_copy, monkeypatch):
    """A job trains the chains it carries (of the notebooks it was given), and what they depend
    on, without reading the parameters again or needing the checkout as working directory."""
    from sdcore.project.dispatch import with_dependencies
    name = smoke_chains(project_copy)[-1].notebook
    chains = chains_of(notebook_runs(project_copy, "smoke", [name]))
    assert chains[0].specs != smoke_chains(project_copy)[0].specs
    meant = {spec.key for spec in with_dependencies(chains[0].specs, chains)}
    monkeypatch.chdir(project_copy.parent)  # not the checkout
    trained = TrainChain(chains, 0, threads=1)()
    assert trained and set(trained) <= meant


def smoke_chains(root):
    return chains_of(notebook_runs(root, "smoke"))


def test_options_defaults_are_valid():
    Options().check()
    with pytest.raises(DispatchError, match="unknown executor 'pbs'"):
        Options(executor="pbs").check()


def test_the_paper_plan_on_the_reproducing_page_is_what_plan_prints(tmp_path):
    """benchmarks/plan_paper.txt, shown on the reproducing page, is the planner's output for an
    empty run store (regenerate: SDCORE_RUNS=<empty> python -m sdcore plan --profile paper)."""
    root = Path(__file__).resolve().parents[1]
    done = cli(root, "plan", "--profile", "paper", env={"SDCORE_RUNS": str(tmp_path)})
    assert done.returncode == 0, done.stderr
    assert done.stdout == (root / "benchmarks" / "plan_paper.txt").read_text()


def test_plan_prices_at_a_chosen_path_of_the_report_and_names_bad_choices(tmp_path):
    root = Path(__file__).resolve().parents[1]
    env = {"SDCORE_RUNS": str(tmp_path)}
    plain = cli(root, "plan", "--profile", "paper", "--summary", "--units-path", "plain", env=env)
    assert plain.returncode == 0, plain.stderr
    assert re.search(r"^total\s+176\s+0\s+0\s+176\s+48\.65$", plain.stdout, re.M), plain.stdout
    assert "(plain)" in plain.stdout
    bad = cli(root, "plan", "--profile", "paper", "--units-path", "fastest", env=env)
    assert bad.returncode == 1
    assert "has no path 'fastest'; it has: 'plain', 'fast', 'fast, 4 at once'" in bad.stderr
    missing = cli(root, "plan", "--profile", "paper", "--units", str(tmp_path / "none.json"),
                  env=env)
    assert missing.returncode == 1
    assert "none.json: not a readable gpu_check report" in missing.stderr


def test_jobs_group_the_chains_that_share_a_model(project_copy):
    from sdcore.project.dispatch import tasks

    chains = smoke_chains(project_copy)
    todo = list(range(len(chains)))
    groups = tasks(chains, todo)
    assert sorted(i for g in groups for i in g) == todo
    owner = {}
    for g, group in enumerate(groups):
        for i in group:
            for spec in chains[i].specs:
                for key in [spec.key, *spec.teacher_keys]:
                    assert owner.setdefault(key, g) == g, "a model in two jobs"
    assert len(groups) < len(chains)  # C1's teacher, student and label-smoothing student: one
    packed = tasks(chains, todo, bins=2)
    assert len(packed) == 2 and sorted(i for g in packed for i in g) == todo
    assert all(any(set(g) <= set(p) for p in packed) for g in groups)  # groups stay whole
