"""The run store: hits, misses, atomic writes, and resuming an interrupted training."""

import json
from dataclasses import replace

import pytest
import torch

from sdcore.claims import student_beats_teacher
from sdcore.claims.common import base_spec, kd_weights, lab_for
from sdcore.engine import lab as lab_module
from sdcore.engine.lab import Lab, MissingModels
from sdcore.engine.specs import ModelSpec
from sdcore.engine.store import RunStore, atomic_write_json

PARAMS = {"datasets": ["synthetic"], "width": 0.5, "epochs": 3, "batch_size": 100,
          "train_subset": 600, "device": "cpu"}


def make_lab(root) -> tuple[Lab, student_beats_teacher.Config]:
    config = student_beats_teacher.Config.from_params({**PARAMS, "run_store": str(root)})
    return lab_for(config), config


def test_second_request_loads_the_same_model(tmp_path):
    lab, config = make_lab(tmp_path)
    spec = base_spec(config, "synthetic", "resnet8", 0)
    first = lab.get(spec)
    second = make_lab(tmp_path)[0].get(spec)
    assert first.trained_now and not second.trained_now
    assert second.metrics["test_acc"] == first.metrics["test_acc"]
    for a, b in zip(first.model.state_dict().values(), second.model.state_dict().values()):
        assert torch.equal(a.cpu(), b)
    assert sorted(p.name for p in (tmp_path / first.key).iterdir()) == [
        "metrics.json", "model.pt", "spec.json"]


def test_different_settings_miss(tmp_path):
    _, config = make_lab(tmp_path)
    spec = base_spec(config, "synthetic", "resnet8", 0)
    keys = {spec.key, replace(spec, seed=1).key, replace(spec, width=1.0).key,
            spec.student(spec.key, kd_weights(config)).key,
            replace(spec, recipe=replace(spec.recipe, lr=0.05)).key}
    assert len(keys) == 5


def test_student_needs_its_teacher(tmp_path):
    lab, config = make_lab(tmp_path)
    spec = base_spec(config, "synthetic", "resnet8", 0)
    with pytest.raises(MissingModels, match="needs its teacher"):
        lab.get(spec.student(spec.key, kd_weights(config)))


def test_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path):
    path = tmp_path / "run" / "metrics.json"
    atomic_write_json({"a": 1}, path)
    with pytest.raises(TypeError):
        atomic_write_json({"a": object()}, path)
    assert json.loads(path.read_text()) == {"a": 1}
    assert [p.name for p in path.parent.iterdir()] == ["metrics.json"]


def test_interrupted_training_resumes_to_the_same_result(tmp_path, monkeypatch):
    reference_lab, config = make_lab(tmp_path / "reference")
    spec = base_spec(config, "synthetic", "resnet8", 0)
    reference = reference_lab.get(spec)

    real_fit, calls = lab_module.fit_many, {"n": 0}

    def interrupted_fit(jobs, speed, progress):
        def interrupting(loss_fn):
            def loss(*args):
                calls["n"] += 1
                if calls["n"] == 2 * 6 + 3:  # 6 batches an epoch: stop inside the third epoch
                    raise KeyboardInterrupt
                return loss_fn(*args)
            return loss
        return real_fit([replace(job, loss_fn=interrupting(job.loss_fn)) for job in jobs], speed,
                        progress)

    monkeypatch.setattr(lab_module, "fit_many", interrupted_fit)
    lab, _ = make_lab(tmp_path / "store")
    with pytest.raises(KeyboardInterrupt):
        lab.get(spec)
    store = RunStore(tmp_path / "store")
    assert not store.is_complete(spec.key)
    saved = torch.load(store.checkpoint_path(spec.key), weights_only=True)
    assert len(saved["history"]) == 2
    assert not [p for p in store.folder(spec.key).iterdir() if p.name.endswith(".tmp")]

    monkeypatch.setattr(lab_module, "fit_many", real_fit)
    resumed = make_lab(tmp_path / "store")[0].get(spec)
    assert resumed.trained_now and store.is_complete(spec.key)
    assert not store.checkpoint_path(spec.key).exists()
    for a, b in zip(reference.model.state_dict().values(), resumed.model.state_dict().values()):
        assert torch.equal(a, b)
    assert resumed.metrics["test_acc"] == reference.metrics["test_acc"]


def test_a_spec_without_init_seed_keeps_its_store_key():
    """init_seed, added for the same-initialization students, leaves older keys unchanged."""
    _, config = make_lab("unused")
    spec = base_spec(config, "synthetic", "resnet8", 0)
    assert "init_seed" not in spec.as_json()
    assert replace(spec, init_seed=0).key != spec.key


def test_same_init_student_starts_from_the_teachers_weights(tmp_path):
    lab, config = make_lab(tmp_path)
    teacher = base_spec(config, "synthetic", "resnet8", 0)
    fresh = teacher.student("teacher-key", kd_weights(config))
    same = replace(fresh, init_seed=teacher.training_seed)
    start = lab.new_model(teacher).state_dict()
    assert all(torch.equal(a, b) for a, b in zip(start.values(),
                                                 lab.new_model(same).state_dict().values()))
    assert not all(torch.equal(a, b) for a, b in zip(start.values(),
                                                     lab.new_model(fresh).state_dict().values()))


def test_a_student_of_an_ensemble_is_stored_apart_and_reloaded(tmp_path):
    lab, config = make_lab(tmp_path)
    members = [lab.get(base_spec(config, "synthetic", "resnet8", s)) for s in (0, 1)]
    ensemble = lab.ensemble(members, "logits")
    assert ensemble.key == f"{members[0].key}+{members[1].key}"
    spec = members[0].spec.student(ensemble.key, kd_weights(config))
    student = lab.get(spec)
    assert student.trained_now and student.key != members[0].spec.student(
        members[0].key, kd_weights(config)).key
    assert not make_lab(tmp_path)[0].get(spec).trained_now


def test_a_spec_survives_its_json(tmp_path):
    _, config = make_lab(tmp_path)
    teacher = base_spec(config, "synthetic", "resnet8", 3)
    student = replace(teacher.student(teacher.key, kd_weights(config)), init_seed=5)
    for spec in (teacher, student):
        assert ModelSpec.from_json(spec.as_json()) == spec


def test_without_train_missing_a_missing_model_is_an_error_naming_the_command(tmp_path):
    config = student_beats_teacher.Config.from_params({**PARAMS, "run_store": str(tmp_path),
                                                       "train_missing": False})
    spec = base_spec(config, "synthetic", "resnet8", 0)
    with pytest.raises(MissingModels, match="python -m sdcore train --profile cpu"):
        lab_for(config).get(spec)
    assert not (tmp_path / spec.key).exists()
