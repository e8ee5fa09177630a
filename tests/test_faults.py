"""Faults tried on purpose: a model is a function of its key however its chain was reached (in
one process or two, killed and resumed), divergence stops training, and untracked folders do not
count as changed code."""

from __future__ import annotations

import os
import random
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import torch

from sdcore.claims import student_beats_teacher
from sdcore.claims.common import base_spec, lab_for, now
from sdcore.engine.data import make_synthetic
from sdcore.engine.distill import cross_entropy_loss
from sdcore.engine.models import build_model
from sdcore.engine.specs import Recipe
from sdcore.engine.store import RunStore
from sdcore.engine.train import TrainingDiverged, fit
from sdcore.project.records import provenance

sys.path.insert(0, str(Path(__file__).parent / "helpers"))
from chain import train_chain  # noqa: E402

WORKER = Path(__file__).parent / "helpers" / "chain.py"


def reference_chain(store: Path):
    """The chain trained in this process, teacher kept in memory for its student."""
    return train_chain(store)


def same_weights(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    return all(torch.equal(x, y) for x, y in zip(a.state_dict().values(),
                                                 b.state_dict().values()))


def worker(store: Path, *args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, str(WORKER), str(store), *args],
                            stdout=subprocess.PIPE, text=True)


def test_a_chain_split_over_two_processes_equals_one_process(tmp_path):
    reference = reference_chain(tmp_path / "one")
    assert worker(tmp_path / "two", "teacher").wait() == 0  # the teacher, in another process
    split = train_chain(tmp_path / "two")
    assert not split[0].trained_now and split[1].trained_now  # the teacher came from the store
    for ref, got in zip(reference, split):
        assert ref.key == got.key and same_weights(ref.model, got.model)
        assert ref.metrics["test_acc"] == got.metrics["test_acc"]


def checkpoint_state(path: Path) -> tuple | None:
    """What identifies the checkpoint written last (each epoch's is a new file), or None."""
    try:
        stat = path.stat()
    except FileNotFoundError:
        return None
    return stat.st_ino, stat.st_mtime_ns


def test_a_chain_killed_at_random_moments_resumes_to_the_uninterrupted_result(tmp_path):
    """Each life is killed at a random moment after it has written a new checkpoint (an epoch
    done), so every kill interrupts an epoch in progress and the number of kills does not depend
    on the machine's speed: 2 in the teacher, then 2 in its student (each life costs a
    process's start, about 4 s)."""
    reference = reference_chain(tmp_path / "reference")
    store_root = tmp_path / "store"
    store = RunStore(store_root)
    teacher_key, student_key = reference[0].key, reference[1].key
    rng = random.Random(0)
    kills = {"teacher": 0, "student": 0}
    for _ in range(4):
        role = "teacher" if kills["teacher"] < 2 else "student"
        checkpoint = store.checkpoint_path(teacher_key if role == "teacher" else student_key)
        before = checkpoint_state(checkpoint)
        process = worker(store_root)
        assert process.stdout.readline().strip() == "ready"
        while checkpoint_state(checkpoint) in (before, None) and process.poll() is None:
            time.sleep(0.005)
        time.sleep(rng.uniform(0.0, 0.1))
        assert process.poll() is None, "the chain ended before its planned kills"
        kills[role] += 1
        os.kill(process.pid, signal.SIGKILL)
        process.wait()
    assert kills == {"teacher": 2, "student": 2}
    assert worker(store_root).wait() == 0  # the last life runs to the end
    resumed = train_chain(store_root)
    assert not any(t.trained_now for t in resumed)
    for ref, got in zip(reference, resumed):
        assert same_weights(ref.model, got.model)
        assert ref.metrics["test_acc"] == got.metrics["test_acc"]
    for key in (teacher_key, student_key):
        assert sorted(p.name for p in store.folder(key).iterdir()) == [
            "metrics.json", "model.pt", "spec.json"]


def test_a_diverging_model_stops_names_itself_and_is_not_stored(tmp_path):
    config = student_beats_teacher.Config.from_params({
        "datasets": ["synthetic"], "width": 0.5, "epochs": 3, "train_subset": 300,
        "device": "cpu", "lr": 1.0e6, "run_store": str(tmp_path)})
    spec = base_spec(config, "synthetic", "resnet8", 0)
    try:
        lab_for(config).get(spec)
    except TrainingDiverged as err:
        message = str(err)
    else:
        raise AssertionError("training with lr 1e6 did not stop")
    assert "synthetic · resnet8 · seed 0 · generation 0" in message
    assert re.search(r"at epoch \d of 3, step \d of 2\. Nothing was stored as complete", message)
    assert "Try a lower learning rate (lr is 1e+06)" in message
    assert not RunStore(tmp_path).is_complete(spec.key)


def test_divergence_keeps_the_checkpoint_of_the_last_finite_epoch(tmp_path):
    data = make_synthetic(n_train=200, n_test=50)
    calls = {"n": 0}

    def loss_turning_nan(*args):  # 2 batches an epoch: NaN from the second batch of epoch 3
        calls["n"] += 1
        loss = cross_entropy_loss(*args)
        return loss * float("nan") if calls["n"] >= 6 else loss

    checkpoint = tmp_path / "checkpoint.pt"
    recipe = Recipe(5, 100, 0.1, 0.9, True, 5e-4, "cosine", False)
    torch.manual_seed(0)
    try:
        fit(build_model("resnet8", 1, 10, 0.5), data, recipe, 0, loss_turning_nan, checkpoint,
            desc="the model")
    except TrainingDiverged as err:
        message = str(err)
    else:
        raise AssertionError("a NaN loss did not stop training")
    assert message.startswith("the model: the training loss became NaN or infinite at epoch 3 "
                              "of 5, step 2 of 2.")
    assert f"the checkpoint after epoch 2, the last one written, is kept for inspection at " \
           f"{checkpoint}" in message
    saved = torch.load(checkpoint, weights_only=True)
    assert len(saved["history"]) == 2
    assert all(torch.isfinite(v).all() for v in saved["model"].values() if v.is_floating_point())


def test_untracked_environments_do_not_make_the_code_dirty(tmp_path, monkeypatch):
    def git(*args: str) -> None:
        subprocess.run(["git", *args], cwd=tmp_path, check=True, capture_output=True)

    (tmp_path / "_toc.yml").write_text("root: book/intro\n")
    (tmp_path / "sdcore").mkdir()
    (tmp_path / "sdcore" / "lab.py").write_text("x = 1\n")
    git("init", "-q")
    git("add", ".")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "start")
    monkeypatch.chdir(tmp_path)
    (tmp_path / "venv" / "lib").mkdir(parents=True)
    (tmp_path / "venv" / "lib" / "site.py").write_text("")
    assert provenance("cpu", now(), 0.0)["git_dirty"] is False
    (tmp_path / "sdcore" / "new.py").write_text("")  # new code, not yet committed
    assert provenance("cpu", now(), 0.0)["git_dirty"] is True
    (tmp_path / "sdcore" / "new.py").unlink()
    (tmp_path / "sdcore" / "lab.py").write_text("x = 2\n")
    assert provenance("cpu", now(), 0.0)["git_dirty"] is True
