"""The declared training precision: in every model's key, bf16 autocast where it is asked for,
fp32 wherever a model is measured, and a CPU without native bf16 warned about, not refused.
(Kill-and-resume and racing trainers run in bf16: tests/helpers/chain.py.)"""

from __future__ import annotations

import dataclasses

import pytest
import torch
import torch.nn.functional as F

from sdcore.claims import student_beats_teacher
from sdcore.claims.common import base_spec, lab_for
from sdcore.engine import hardware
from sdcore.engine.inference import as_input, predict_logits
from sdcore.engine.models import memory_format
from sdcore.engine.specs import ModelSpec
from sdcore.engine.store import spec_key

PARAMS = {"datasets": ["synthetic"], "width": 0.5, "epochs": 2, "batch_size": 100,
          "train_subset": 300, "device": "cpu"}


def config(tmp_path, **changes) -> student_beats_teacher.Config:
    return student_beats_teacher.Config.from_params({**PARAMS, "run_store": str(tmp_path),
                                                     **changes})


def test_precision_and_compilation_are_part_of_the_key_and_fp32_keeps_the_old_one(tmp_path):
    fp32 = base_spec(config(tmp_path), "synthetic", "resnet8", 0)
    bf16 = base_spec(config(tmp_path, precision="bf16"), "synthetic", "resnet8", 0)
    compiled = base_spec(config(tmp_path, precision="bf16", torch_compile=True), "synthetic",
                         "resnet8", 0)
    assert len({fp32.key, bf16.key, compiled.key}) == 3
    old = fp32.as_json()  # a key made before the precision was declared had no such fields
    assert "precision" not in old["recipe"] and "compile" not in old["recipe"]
    assert spec_key(old) == fp32.key
    assert ModelSpec.from_json(compiled.as_json()) == compiled
    with pytest.raises(ValueError, match="unknown precision 'fp16'; allowed: fp32, bf16"):
        dataclasses.replace(fp32.recipe, precision="fp16")


def test_bf16_trains_other_bits_keeps_fp32_weights_and_measures_in_fp32(tmp_path):
    lab = lab_for(config(tmp_path, precision="bf16"))
    spec = base_spec(config(tmp_path, precision="bf16"), "synthetic", "resnet8", 0)
    bf16 = lab.get(spec)
    fp32 = lab.get(dataclasses.replace(spec, recipe=dataclasses.replace(spec.recipe,
                                                                        precision="fp32")))
    assert all(t.dtype == torch.float32 for t in bf16.model.state_dict().values()
               if t.is_floating_point())
    assert not all(torch.equal(a, b) for a, b in zip(bf16.model.state_dict().values(),
                                                     fp32.model.state_dict().values()))
    data = lab.data(spec)
    layout = memory_format(bf16.model, lab.device)
    with torch.no_grad():  # the same batches as predict_logits, plainly in fp32
        logits = torch.cat([bf16.model(as_input(data.test_x[i:i + 256], layout))
                            for i in range(0, len(data.test_x), 256)])
        with torch.autocast("cpu", dtype=torch.bfloat16):
            in_bf16 = predict_logits(bf16.model, data.test_x, 256, precision="bf16")
    assert bf16.metrics["test_loss"] == F.cross_entropy(logits, data.test_y).item()
    assert F.cross_entropy(in_bf16, data.test_y).item() != bf16.metrics["test_loss"]


def test_a_cpu_without_native_bf16_warns_once_and_trains(tmp_path, monkeypatch, capsys):
    plain = {"model": "Old CPU", "flags": ["avx2", "avx512f"]}
    monkeypatch.setattr(hardware, "cpu_info", lambda: plain)
    hardware.warn_without_native_bf16.cache_clear()
    try:
        lab = lab_for(config(tmp_path, precision="bf16"))
        for seed in (0, 1):
            model = lab.get(base_spec(config(tmp_path, precision="bf16"), "synthetic",
                                      "resnet8", seed))
            assert model.trained_now
    finally:
        hardware.warn_without_native_bf16.cache_clear()
    err = capsys.readouterr().err
    assert err.count("warning: this CPU (Old CPU) has neither avx512_bf16 nor amx_bf16") == 1
    assert "precision: fp32" in err and f"{hardware.BF16_SLOWDOWN:.1f}x" in err


def test_cpu_flags_are_read_from_cpuinfo(tmp_path):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nmodel name\t: Some Xeon\nflags\t\t: fpu avx2 avx512f "
                       "amx_tile amx_bf16\n\nprocessor\t: 1\nmodel name\t: Some Xeon\n")
    info = hardware.cpu_info.__wrapped__(cpuinfo)
    assert info == {"model": "Some Xeon", "flags": ["avx2", "avx512f", "amx_bf16", "amx_tile"]}
    assert hardware.native_bf16(info) and hardware.bf16_warning(info) is None
    assert hardware.native_bf16({"model": "?", "flags": None}) is None
    assert hardware.bf16_warning({"model": "?", "flags": None}) is None  # unknown: say nothing

