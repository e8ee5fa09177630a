"""The store-key schema: everything that determines a trained model, and the keys derived from it.

A ``ModelSpec`` names the data, subset (and the seed that draws it), architecture, ``Recipe``, seed, generation, distillation
weights (``KDWeights``) and the key of its teacher, or of the members of an ensemble teacher
(``ensemble_key``); its hash (``store.spec_key``) is the model's key in the run store, so any
notebook or job asking for the same model gets the stored one. Cost: hashing a small JSON.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

from .store import spec_key

AVERAGES = ("logits", "probabilities")  # how an ensemble averages its members' predictions
PRECISIONS = ("fp32", "bf16")  # a model's training precision (``Recipe.precision``)


@dataclass(frozen=True)
class Recipe:
    """How a model is trained; part of every run's store key."""

    epochs: int
    batch_size: int
    lr: float
    momentum: float
    nesterov: bool
    weight_decay: float  # applied to weights with 2+ dimensions; BatchNorm and biases get none
    schedule: str  # "cosine" (per step, to 0) or "step" (x0.1 at 50% and 75% of the epochs)
    augment: bool
    # "bf16": forward passes under bf16 autocast (BatchNorm's weights and statistics, the
    # weights and the losses stay fp32); "fp32": none. Either changes a model's last bits.
    precision: str = "fp32"
    compile: bool = False  # torch.compile the forward passes (TorchInductor's fused kernels)
    sam_rho: float = 0.0  # sharpness-aware minimization's radius ρ (0: plain SGD; ``engine.sam``)

    def __post_init__(self) -> None:
        if self.precision not in PRECISIONS:
            raise ValueError(f"unknown precision {self.precision!r}; allowed: "
                             f"{', '.join(PRECISIONS)}")
        if self.sam_rho < 0:
            raise ValueError(f"sam_rho must be ≥ 0, got {self.sam_rho}")

    def lr_at(self, step: int, steps_per_epoch: int) -> float:
        if self.schedule == "cosine":
            return self.lr * 0.5 * (1 + math.cos(math.pi * step / (self.epochs * steps_per_epoch)))
        epoch = step // steps_per_epoch
        return self.lr * 0.1 ** sum(epoch >= f * self.epochs for f in (0.5, 0.75))


# what a student's soft term is distilled from (``distill``: the knowledge controls)
TARGETS = ("teacher", "label smoothing", "class-mean teacher", "shuffled teacher")


@dataclass(frozen=True)
class KDWeights:
    """Weights of the student's loss and what its soft targets are; part of every student's store
    key. ``targets``: ``teacher`` (its softened outputs: distillation); ``label smoothing``
    (smoothed labels whose non-target mass matches the teacher's: the control that carries no
    dark knowledge; ``distill.smoothing_epsilon``); ``class-mean teacher`` (each image's target is
    the teacher's mean softened output over the training images of its class: class similarities
    without per-image knowledge); ``shuffled teacher`` (the teacher's own softened output with its
    non-target probabilities permuted at random: per-image confidence without class structure)."""

    weight_ce: float
    weight_kd: float
    temperature: float
    targets: str = "teacher"

    def __post_init__(self) -> None:
        if self.targets not in TARGETS:
            raise ValueError(f"unknown targets {self.targets!r}; allowed: {', '.join(TARGETS)}")


@dataclass(frozen=True)
class ModelSpec:
    """Everything that determines one trained model."""

    dataset: str
    train_subset: int
    image_size: int  # only used by imagefolder datasets, 0 otherwise
    model: str
    width: float
    recipe: Recipe
    seed: int
    generation: int = 0  # 0 = teacher trained on labels; k = k-th distilled student
    kd: KDWeights | None = None
    teacher: str | None = None  # the teacher's store key, or an ensemble's (``ensemble_key``)
    init_seed: int | None = None  # seeds the initial weights instead of training_seed
    test_subset: int = 0  # evaluate on this many test images (0: all of them)
    subset_seed: int = 0  # draws the train_subset images (0: the fixed subset every seed shares)

    @property
    def training_seed(self) -> int:
        """Seeds initialization, batch order and augmentation: fresh for every generation."""
        return self.seed * 100 + self.generation

    def as_json(self) -> dict[str, Any]:
        """The spec as stored; fields added later appear only when set, so older keys stay valid."""
        spec = dataclasses.asdict(self)
        for fields, unset in ((spec, LATER_FIELDS), (spec["recipe"], LATER_RECIPE_FIELDS)):
            for name, value in unset.items():
                if fields[name] == value:
                    del fields[name]
        if spec["kd"] is not None and spec["kd"]["targets"] == "teacher":
            del spec["kd"]["targets"]  # added later too: distilled students keep their keys
        return spec

    @classmethod
    def from_json(cls, spec: dict[str, Any]) -> "ModelSpec":
        """The spec that ``as_json`` gave."""
        kd = spec.get("kd")
        return cls(**{**spec, "recipe": Recipe(**spec["recipe"]),
                      "kd": None if kd is None else KDWeights(**kd)})

    @property
    def key(self) -> str:
        return spec_key(self.as_json())

    @property
    def teacher_keys(self) -> list[str]:
        """The store keys this model is distilled from (an ensemble's members, or one teacher)."""
        return [] if self.teacher is None else ensemble_members(self.teacher)[0]

    @property
    def label(self) -> str:
        """How progress and error messages name the model."""
        return f"{self.dataset} · {self.model} · seed {self.seed} · generation {self.generation}"

    def student(self, teacher_key: str, kd: KDWeights) -> "ModelSpec":
        return dataclasses.replace(self, generation=self.generation + 1, kd=kd,
                                   teacher=teacher_key)


LATER_FIELDS = {"init_seed": None, "test_subset": 0, "subset_seed": 0}  # ModelSpec's, unset
LATER_RECIPE_FIELDS = {"precision": "fp32", "compile": False, "sam_rho": 0.0}  # Recipe's


def ensemble_key(keys: list[str], average: str) -> str:
    """The key of an ensemble of stored models: ``k1+k2`` averages logits, ``k1+k2@probabilities``
    probabilities, so that students of the two are stored apart."""
    if average not in AVERAGES:
        raise ValueError(f"unknown average {average!r}; allowed: {', '.join(AVERAGES)}")
    return "+".join(keys) + ("" if average == "logits" else f"@{average}")


def ensemble_members(key: str) -> tuple[list[str], str]:
    """The member keys and the average of a teacher key (one member for a single model)."""
    members, _, average = key.partition("@")
    return members.split("+"), average or "logits"


def chain_specs(teacher: ModelSpec, generations: int, kd: KDWeights) -> list[ModelSpec]:
    """A teacher and ``generations`` students, each distilled from the one before."""
    specs = [teacher]
    for _ in range(generations):
        specs.append(specs[-1].student(specs[-1].key, kd))
    return specs
