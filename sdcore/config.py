"""Notebook parameters as frozen, validated dataclasses.

Papermill injects plain literals into a notebook; ``Config.from_params`` turns them into a frozen
config, rejecting unknown keys, wrong types and impossible values with a message that names the key
and what is allowed, before anything is trained or written. Every field carries its own help text,
so the parameter reference of the book is generated from here and cannot drift.
"""

from __future__ import annotations

import dataclasses
import math
import typing
from dataclasses import dataclass, field
from typing import Any, Callable

DATASETS = ("synthetic", "multiview:<views>[:<feature noise>]", "fashion-mnist", "cifar10",
            "cifar100", "imagefolder:<path>")
MODELS = ("resnet8", "resnet14", "resnet20", "resnet18", "resnet34", "vgg11", "vgg16")
SCHEDULES = ("cosine", "step")
AVERAGES = ("logits", "probabilities")  # how an ensemble averages its members


class ConfigError(ValueError):
    """A parameter is unknown, of the wrong type, or out of range."""


def param(default: Any, help: str, *, min: float | None = None, max: float | None = None,
          choices: tuple | None = None, check: Callable[[Any], str | None] | None = None) -> Any:
    """A config field with its help text and the values it allows."""
    meta = {"help": help, "min": min, "max": max, "choices": choices, "check": check}
    if isinstance(default, list):
        return field(default_factory=lambda: list(default), metadata=meta)
    return field(default=default, metadata=meta)


def _is_multiview(argument: str) -> bool:
    """``<views>`` or ``<views>:<feature noise>``: a positive integer, then a number ≥ 0."""
    views, _, noise = argument.partition(":")
    try:
        return views.isdigit() and int(views) >= 1 and (not noise or float(noise) >= 0)
    except ValueError:
        return False


def _check_dataset(name: str) -> str | None:
    kind, _, argument = name.partition(":")
    if (name in DATASETS and not argument) or (kind == "imagefolder" and argument) or (
            kind == "multiview" and _is_multiview(argument)):
        return None
    return f"unknown dataset {name!r}; allowed: {', '.join(DATASETS)}"


def _check_model(name: str) -> str | None:
    return None if name in MODELS else f"unknown model {name!r}; allowed: {', '.join(MODELS)}"


def _check_device(name: str) -> str | None:
    ok = name in ("auto", "cpu", "cuda") or (name.startswith("cuda:") and name[5:].isdigit())
    return None if ok else f"unknown device {name!r}; allowed: auto, cpu, cuda, cuda:N"


def _check_profile(name: str) -> str | None:
    ok = bool(name) and all(c.isalnum() or c in "-_" for c in name)
    return None if ok else f"{name!r} is not a plain name (letters, digits, - and _)"


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", None) if typing.get_origin(tp) is None else str(tp)


def _coerce(key: str, value: Any, tp: Any) -> Any:
    """Check ``value`` against the annotation ``tp``; ints are accepted where floats are expected."""
    origin = typing.get_origin(tp)
    if origin is list:
        (item_tp,) = typing.get_args(tp)
        if not isinstance(value, (list, tuple)) or not value:
            hint = (f" (papermill's -p passes text: give lists as YAML, -y '{key}: [a, b]')"
                    if isinstance(value, str) else "")
            raise ConfigError(f"parameter {key!r}: expected a non-empty list of "
                              f"{_type_name(item_tp)}, got {value!r}{hint}")
        return [_coerce(f"{key}[{i}]", v, item_tp) for i, v in enumerate(value)]
    if tp is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if tp is int and isinstance(value, bool) or not isinstance(value, tp):
        raise ConfigError(f"parameter {key!r}: expected {_type_name(tp)}, "
                          f"got {type(value).__name__} {value!r}")
    return value


def _check_value(key: str, value: Any, meta: dict) -> None:
    items = value if isinstance(value, list) else [value]
    for item in items:
        if isinstance(item, float) and not math.isfinite(item):
            raise ConfigError(f"parameter {key!r}: {item!r} is not allowed; it must be a finite "
                              "number")
        if meta["choices"] is not None and item not in meta["choices"]:
            raise ConfigError(f"parameter {key!r}: {item!r} is not allowed; "
                              f"allowed: {', '.join(map(str, meta['choices']))}")
        if meta["min"] is not None and item < meta["min"]:
            raise ConfigError(f"parameter {key!r}: {item!r} is below its minimum {meta['min']}")
        if meta["max"] is not None and item > meta["max"]:
            raise ConfigError(f"parameter {key!r}: {item!r} is above its maximum {meta['max']}")
        if meta["check"] is not None and (problem := meta["check"](item)):
            raise ConfigError(f"parameter {key!r}: {problem}")


@dataclass(frozen=True)
class Config:
    """Base of every notebook's config: validation and the parameter reference."""

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> "Config":
        """Validate ``params`` (e.g. a notebook's globals after papermill's injection)."""
        fields = {f.name: f for f in dataclasses.fields(cls)}
        unknown = sorted(set(params) - set(fields))
        if unknown:
            raise ConfigError(f"unknown parameter(s) {', '.join(map(repr, unknown))}; "
                              f"allowed: {', '.join(fields)}")
        hints = typing.get_type_hints(cls)
        values = {}
        for key, value in params.items():
            value = _coerce(key, value, hints[key])
            _check_value(key, value, fields[key].metadata)
            values[key] = value
        config = cls(**values)
        config.check()
        return config

    @classmethod
    def from_namespace(cls, namespace: dict[str, Any]) -> "Config":
        """Pick this config's parameters out of a notebook's globals and validate them."""
        names = {f.name for f in dataclasses.fields(cls)}
        return cls.from_params({k: v for k, v in namespace.items() if k in names})

    def check(self) -> None:
        """Checks across fields; subclasses extend it."""

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def reference(cls) -> list[dict[str, Any]]:
        """One row per parameter: name, type, default, allowed values, help."""
        rows = []
        hints = typing.get_type_hints(cls)
        for f in dataclasses.fields(cls):
            meta = f.metadata
            default = f.default_factory() if f.default is dataclasses.MISSING else f.default
            allowed = []
            if meta["choices"]:
                allowed.append(" | ".join(map(str, meta["choices"])))
            if meta["min"] is not None:
                allowed.append(f"≥ {meta['min']}")
            if meta["max"] is not None:
                allowed.append(f"≤ {meta['max']}")
            rows.append({"name": f.name, "type": str(hints[f.name]).replace("<class '", "")
                         .replace("'>", ""), "default": default,
                         "allowed": ", ".join(allowed), "help": meta["help"]})
        return rows


@dataclass(frozen=True)
class ExperimentConfig(Config):
    """Data, model, training recipe, distillation loss and seeds: shared by every claim."""

    profile: str = param("cpu", "profile name; the results record goes to results/<profile>/",
                         check=_check_profile)
    datasets: list[str] = param(["fashion-mnist"], "datasets, one setting each: "
                                + ", ".join(DATASETS), check=_check_dataset)
    models: list[str] = param(["resnet8"], "architectures, one setting each (teacher and "
                              "student share it): " + ", ".join(MODELS), check=_check_model)
    width: float = param(1.0, "width multiplier of the model's channels", min=0.125, max=8.0)
    train_subset: int = param(0, "train on this many training images (a fixed, class-stratified "
                              "subset), or 0 for all of them", min=0)
    test_subset: int = param(0, "evaluate on this many test images (a fixed, class-stratified "
                             "subset), or 0 for all of them", min=0)
    image_size: int = param(32, "side of the square images an imagefolder dataset is resized to",
                            min=8, max=512)
    data_root: str = param("", "where datasets are looked for and downloaded; empty means <repo>/data")
    download: bool = param(True, "download a dataset that is not found offline")
    seeds: int = param(3, "number of seeds (independent teacher/student chains)", min=1, max=100)
    first_seed: int = param(0, "the first seed; seeds are first_seed, first_seed + 1, ...", min=0)
    epochs: int = param(15, "training epochs, the same for teacher and every student", min=1)
    batch_size: int = param(128, "mini-batch size", min=1)
    lr: float = param(0.1, "peak learning rate of SGD", min=0.0)
    momentum: float = param(0.9, "SGD momentum", min=0.0, max=1.0)
    nesterov: bool = param(True, "Nesterov momentum")
    weight_decay: float = param(5.0e-4, "L2 weight decay, added to the gradient (torch.optim.SGD's "
                                "coupled form) of weights with 2+ dimensions; BatchNorm "
                                "parameters and biases get none", min=0.0)
    schedule: str = param("cosine", "learning-rate schedule: cosine (to 0, per step) or step "
                          "(x0.1 at 50% and 75% of the epochs)", choices=SCHEDULES)
    augment: bool = param(True, "random crop (padding 1/8 of the side) and, where the dataset "
                          "allows, horizontal flip")
    weight_ce: float = param(0.5, "student loss weight of cross-entropy with the labels", min=0.0)
    weight_kd: float = param(0.5, "student loss weight of T^2 * KL(teacher || student)", min=0.0)
    temperature: float = param(4.0, "distillation temperature T", min=1.0e-3)
    device: str = param("auto", "auto (cuda if available), cpu, cuda or cuda:N",
                        check=_check_device)
    cuda_graphs: bool = param(True, "on CUDA, capture each model's training step once as a CUDA "
                              "graph and replay it (false: the plain loop); the CPU ignores it")
    models_at_once: int = param(4, "on CUDA, independent models (e.g. the seeds of a setting) "
                                "trained together, each on its own stream; the CPU trains one "
                                "at a time", min=1, max=64)
    run_store: str = param("", "run store folder; empty means $SDCORE_RUNS, else <repo>/runs")

    def check(self) -> None:
        if self.weight_ce + self.weight_kd <= 0:
            raise ConfigError("parameters 'weight_ce' and 'weight_kd': at least one must be > 0")


@dataclass(frozen=True)
class StudentBeatsTeacherConfig(ExperimentConfig):
    """Claim C1: a chain of self-distilled generations per seed."""

    generations: int = param(2, "students per chain; student k is distilled from student k-1 "
                             "(born-again style), student 1 from the teacher", min=1, max=20)


@dataclass(frozen=True)
class AmplifiedRegularizationConfig(StudentBeatsTeacherConfig):
    """Claim C2 against Mobahi et al. 2020: kernel ridge self-distillation, then deep chains."""

    generations: int = param(5, "students per chain in each variant; student k is distilled from "
                             "student k-1, student 1 from the teacher", min=1, max=20)
    kernel_points: int = param(11, "training points of the toy problem (noisy samples of "
                               "sin(2πx) on [0, 1])", min=2, max=1000)
    kernel_noise: float = param(0.5, "standard deviation of the noise added to the toy labels",
                                min=0.0)
    kernel_width: float = param(0.15, "width σ of the RBF kernel exp(-(x-x')²/(2σ²))",
                                min=1.0e-3)
    kernel_ridge: float = param(0.1, "ridge c of every round's kernel ridge regression",
                                min=1.0e-9)
    kernel_rounds: int = param(20, "self-distillation rounds of the toy problem", min=2, max=1000)
    kernel_mix: float = param(0.3, "weight of the ground truth in the mixed variant's targets: "
                              "mix·y + (1 - mix)·previous predictions", min=1.0e-3, max=1.0)
    kernel_seed: int = param(0, "seed of the toy problem's noise", min=0)

    def check(self) -> None:
        super().check()
        for key in ("weight_ce", "weight_kd", "weight_decay"):
            if getattr(self, key) <= 0:
                raise ConfigError(f"parameter {key!r}: must be > 0 here, since the variants "
                                  "compare it with 0 (labels + KD against KD only, weight decay "
                                  "against none)")


@dataclass(frozen=True)
class MultiViewConfig(ExperimentConfig):
    """Claim C2 against Allen-Zhu & Li 2020: ensembles and the student's starting point."""

    ensemble_average: str = param("logits", "how the ensemble of teacher and independent network "
                                  "averages: logits (the networks' outputs, as in Allen-Zhu & Li) "
                                  "or probabilities", choices=AVERAGES)


@dataclass(frozen=True)
class FlatterMinimaConfig(StudentBeatsTeacherConfig):
    """Claims C3 and C4 by the Hessian: the chains of C1, measured at their final weights."""

    hessian_samples: int = param(256, "training images (no augmentation) the Hessian is taken "
                                 "on: the first ones of the training subset", min=2)
    hessian_batch: int = param(256, "images per forward pass inside a Hessian-vector product",
                               min=1)
    top_n: int = param(3, "top Hessian eigenvalues computed by Lanczos", min=1, max=20)
    lanczos_tol: float = param(1.0e-2, "Lanczos stops when every Ritz residual is below "
                               "tol times its eigenvalue (1e-2 gives eigenvalues to about 1e-4 "
                               "relative where they are separated)", min=1.0e-12)
    lanczos_max_iter: int = param(60, "most Lanczos steps for the top eigenvalues", min=1)
    trace_probes: int = param(30, "Rademacher probes of the Hutchinson trace estimate", min=2)
    trace_deflate: int = param(3, "top eigenvectors whose trace is taken exactly before "
                               "Hutchinson runs on the rest (variance reduction)", min=0)
    density_iterations: int = param(40, "Lanczos steps of the spectral density (SLQ)", min=1)
    density_runs: int = param(1, "random starts averaged in the spectral density", min=1)
    density_seeds: int = param(1, "seeds whose chains get a spectral density (it costs most)",
                               min=0)
    crosscheck: bool = param(True, "compare sdcore's top eigenvalue and trace with pyhessian's "
                             "on the first teacher")


@dataclass(frozen=True)
class LossLandscapeConfig(StudentBeatsTeacherConfig):
    """Claims C3 and C4 by the loss landscape: the chains of C1, seen along random directions."""

    landscape_samples: int = param(500, "training images (no augmentation) the landscape loss is "
                                   "computed on: the first ones of the training subset", min=1)
    directions: int = param(2, "filter-normalized random directions per model for the 1D curves",
                            min=1)
    line_points: int = param(21, "points of each 1D curve", min=3)
    line_radius: float = param(1.0, "1D curves span [-radius, radius] along each direction",
                               min=1.0e-6)
    sharpness_radius: float = param(0.5, "flatness measure: mean rise of the training loss at "
                                    "±radius along the directions", min=1.0e-6)
    plane_points: int = param(11, "points per side of the 2D surfaces", min=3)
    plane_radius: float = param(1.0, "2D surfaces span [-radius, radius]^2", min=1.0e-6)
    interpolation_points: int = param(21, "points on the teacher-to-student line", min=3)
    interpolation_margin: float = param(0.25, "the line runs from -margin to 1 + margin", min=0.0)
    direction_seed: int = param(0, "seed of the random directions", min=0)

    def check(self) -> None:
        super().check()
        if self.sharpness_radius > self.line_radius:
            raise ConfigError("parameter 'sharpness_radius': must not exceed 'line_radius' "
                              f"({self.line_radius}), the 1D curves' span")


NOTEBOOK_CONFIGS: dict[str, type[Config]] = {
    "01_student_beats_teacher": StudentBeatsTeacherConfig,
    "02a_amplified_regularization": AmplifiedRegularizationConfig,
    "02b_multi_view": MultiViewConfig,
    "03_flatter_minima": FlatterMinimaConfig,
    "04_loss_landscape": LossLandscapeConfig,
}
