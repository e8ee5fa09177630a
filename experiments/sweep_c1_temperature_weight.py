"""A temperature × loss-weight sweep of C1's principal cpu setting, on seeds no profile judges.

For every distillation temperature T in TEMPERATURES and soft-target weight w in WEIGHTS (the
label weight is 1 − w), each seed's teacher of the cpu profile's first declared setting (trained
once, shared by every cell) gets a student, and the cell records the paired gains (student −
teacher, test accuracy) with their 95% interval. Seeds start at 1000, disjoint from every seed a
profile judges. The C1 page shows the result as a heatmap; it is an exploration, outside the
verdict. Models go to the run store shared with the book, trained ``--jobs`` at a time in separate
processes (one thread each). Run: python experiments/sweep_c1_temperature_weight.py [--seeds 3]
[--first-seed 1000] [--jobs 2]. Cost: seeds × (1 + 9) trainings of the setting's recipe.
"""

from __future__ import annotations

import argparse
import dataclasses

from parallel import train_stages

from sdcore.claims import notebook_of_module, student_beats_teacher
from sdcore.claims.common import exploration_path, lab_for, teacher_spec
from sdcore.engine.specs import KDWeights, ModelSpec
from sdcore.engine.stats import mean_ci
from sdcore.engine.store import atomic_write_json
from sdcore.paths import project_root
from sdcore.project.profiles import merged

TEMPERATURES = (1.0, 4.0, 8.0)
WEIGHTS = (0.25, 0.5, 0.9)  # weight of the soft term; the label term gets 1 − w


def principal(seeds: int, first_seed: int) -> tuple[str, student_beats_teacher.Config]:
    """The cpu profile's first declared C1 setting, with the sweep's seeds."""
    name = notebook_of_module(student_beats_teacher).name
    config = student_beats_teacher.Config.from_params(merged(project_root(), "cpu", name))
    setting_name, setting = config.declared()[0]
    return setting_name, setting.model_copy(update={"seeds": seeds, "first_seed": first_seed,
                                                    "profile": "exploration"})


def cells(setting: student_beats_teacher.Config) -> dict[tuple[float, float], list[ModelSpec]]:
    """(T, w) -> the students of every seed; each student's teacher is the seed's teacher."""
    teachers = [teacher_spec(setting, s) for s in range(setting.first_seed,
                                                        setting.first_seed + setting.seeds)]
    return {(t, w): [teacher.student(teacher.key, KDWeights(round(1 - w, 6), w, t))
                     for teacher in teachers]
            for t in TEMPERATURES for w in WEIGHTS}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--first-seed", type=int, default=1000)
    parser.add_argument("--jobs", type=int, default=2, help="processes training at once")
    args = parser.parse_args()
    name, setting = principal(args.seeds, args.first_seed)
    grid = cells(setting)
    teachers = [teacher_spec(setting, s) for s in range(setting.first_seed,
                                                        setting.first_seed + setting.seeds)]
    train_stages(setting, [teachers, [s for students in grid.values() for s in students]],
                 args.jobs)
    lab = lab_for(setting)
    teacher_acc = [lab.get(t).metrics["test_acc"] for t in teachers]
    rows = []
    for (t, w), students in grid.items():
        student_acc = [lab.get(s).metrics["test_acc"] for s in students]
        gains = [s - a for s, a in zip(student_acc, teacher_acc)]
        mean, low, high = mean_ci(gains)
        rows.append({"temperature": t, "weight_kd": w, "weight_ce": round(1 - w, 6),
                     "student_acc": student_acc, "gains": gains, "mean_gain": mean,
                     "ci_low": low, "ci_high": high})
        print(f"T={t:g} w={w:g}: {mean:+.2f} [{low:+.2f}, {high:+.2f}]", flush=True)
    path = exploration_path(notebook_of_module(student_beats_teacher).name)
    atomic_write_json({"setting": name, "parameters": {
        k: v for k, v in dataclasses.asdict(teachers[0].recipe).items()},
        "train_subset": setting.train_subset, "model": setting.models[0],
        "seeds": list(range(setting.first_seed, setting.first_seed + setting.seeds)),
        "teacher_acc": teacher_acc, "cells": rows}, path.with_suffix(".sweep.json"))


if __name__ == "__main__":
    main()
