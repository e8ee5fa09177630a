"""The models C1 trains per declared setting and seed, by role: C1's page judges them, the flatness
pages (03, 04) measure them.

- ``teacher``, then ``student 1`` (distilled from it; ``student k`` from student k−1 with more
  generations);
- the controls in the same recipe: ``label-smoothing student`` (smoothed labels whose non-target
  mass matches the teacher's), ``class-mean student`` and ``shuffled-teacher student`` (targets
  that keep part of the teacher: ``engine.distill``), ``long teacher`` (twice the epochs);
- ``SAM teacher`` (sharpness-aware minimization, ``engine.sam``) and ``student of SAM`` (distilled
  from it), for C4's intervention.
The students share the first student's initialization and data order; every role of a seed
trains on the same images. Cost: nothing here trains.
"""

from __future__ import annotations

import dataclasses

from ..engine.specs import ModelSpec, chain_specs
from .common import generation_name, kd_weights, teacher_spec
from .config import ExperimentConfig

TEACHER, STUDENT, SMOOTHED, LONG = ("teacher", "student 1", "label-smoothing student",
                                    "long teacher")
CLASS_MEAN, SHUFFLED = "class-mean student", "shuffled-teacher student"
SAM_TEACHER, SAM_STUDENT = "SAM teacher", "student of SAM"
KNOWLEDGE = {CLASS_MEAN: "class-mean teacher", SHUFFLED: "shuffled teacher"}  # role: targets


def long_teacher(teacher: ModelSpec) -> ModelSpec:
    """The teacher trained twice as long (the teacher's initialization, data and order)."""
    return dataclasses.replace(teacher, recipe=dataclasses.replace(
        teacher.recipe, epochs=2 * teacher.recipe.epochs))


def seed_specs(setting: ExperimentConfig, seed: int, generations: int = 1,
               knowledge: bool = False, sam_rho: float = 0.0) -> dict[str, ModelSpec]:
    """Every trained role of a declared setting at ``seed``: the teacher, its students by
    generation, the label-smoothing student and the long teacher; with ``knowledge`` the two
    knowledge-control students; with ``sam_rho`` the SAM teacher and its student."""
    kd = kd_weights(setting)
    chain = chain_specs(teacher_spec(setting, seed), generations, kd)
    teacher = chain[0]
    specs = {generation_name(spec.generation): spec for spec in chain}
    specs[SMOOTHED] = teacher.student(teacher.key, dataclasses.replace(
        kd, targets="label smoothing"))
    if knowledge:
        for role, targets in KNOWLEDGE.items():
            specs[role] = teacher.student(teacher.key, dataclasses.replace(kd, targets=targets))
    specs[LONG] = long_teacher(teacher)
    if sam_rho:
        sam = dataclasses.replace(teacher, recipe=dataclasses.replace(teacher.recipe,
                                                                       sam_rho=sam_rho))
        specs[SAM_TEACHER] = sam  # its student trains plainly, as every other student
        specs[SAM_STUDENT] = dataclasses.replace(sam.student(sam.key, kd), recipe=teacher.recipe)
    return specs
