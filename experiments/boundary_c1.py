"""When does a self-distilled student beat its teacher? A declared study of C1's boundary.

The hypothesis, stated here before the study ran (``HYPOTHESIS``): the student's gain over its
teacher rises with how well the teacher fits its training data. The project's own records suggest
it (every setting whose teachers fit their training set had a positive mean gain, every one below
95 % a negative one); this study tests it on settings and seeds chosen for it. A grid of the cpu
profile's recipe (ResNet-8, T = 4, bf16, each seed on its own training subset) over epochs ×
training images × augmentation (``GRID``), a few seeds per cell from 3000 (disjoint from every
judged seed and every search), trains per seed a teacher, its student and a teacher trained twice
as long. Each cell records the teachers' accuracy on their own clean training images, the
convergence gap (long teacher − teacher) and the student's gain; the C1 page reads the
hypothesis as Kendall's τ between each seed's teacher fit and its student's gain over every cell,
with a bootstrap interval over seeds (``claims.c1_boundary.boundary_test``): borne out if the
interval lies above 0, contradicted if below. Outside the main job. Run:
python experiments/boundary_c1.py [--seeds 3] [--jobs 2]   (about 20 minutes on 2 cores).
"""

from __future__ import annotations

import argparse
import itertools
import time

from parallel import train_stages

from sdcore.claims import notebook_of_module, student_beats_teacher
from sdcore.claims.common import exploration_path, kd_weights, lab_for, teacher_spec
from sdcore.claims.roles import long_teacher
from sdcore.engine.stats import mean_ci
from sdcore.engine.store import atomic_write_json
from sdcore.paths import project_root
from sdcore.project.profiles import merged

HYPOTHESIS = ("the student's gain over its teacher rises with the teacher's accuracy on its own "
              "training images (Kendall's τ > 0 over seeds, 95% bootstrap interval above 0)")
GRID = {"epochs": (5, 10, 20, 40), "train_subset": (500, 2000), "augment": (False, True)}
FIRST_SEED = 3000


def cell_name(epochs: int, images: int, augment: bool) -> str:
    return f"{images // 1000 or images / 1000:g}k-e{epochs}-{'aug' if augment else 'noaug'}"


def cell_config(epochs: int, images: int, augment: bool, seeds: int
                ) -> student_beats_teacher.Config:
    base = merged(project_root(), "cpu", notebook_of_module(student_beats_teacher).name)
    return student_beats_teacher.Config.from_params({
        **base, "settings": [], "knowledge_controls": [], "epochs": epochs,
        "train_subset": images, "augment": augment, "resample_subset": True, "seeds": seeds,
        "first_seed": FIRST_SEED, "discovery_seeds": 0, "profile": "exploration"})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=3, help="seeds per cell")
    parser.add_argument("--jobs", type=int, default=2, help="processes training at once")
    args = parser.parse_args()
    start = time.perf_counter()
    cells = list(itertools.product(*GRID.values()))
    configs = {cell: cell_config(*cell, args.seeds) for cell in cells}
    seeds = range(FIRST_SEED, FIRST_SEED + args.seeds)
    teachers = {cell: [teacher_spec(c, s) for s in seeds] for cell, c in configs.items()}
    students = {cell: [t.student(t.key, kd_weights(configs[cell])) for t in ts]
                for cell, ts in teachers.items()}
    longer = {cell: [long_teacher(t) for t in ts] for cell, ts in teachers.items()}
    first = configs[cells[0]]
    train_stages(first, [sum(teachers.values(), []) + sum(longer.values(), []),
                         sum(students.values(), [])], args.jobs)
    lab = lab_for(first)
    rows = []
    for cell in cells:
        t = [lab.get(s).metrics for s in teachers[cell]]
        st = [lab.get(s).metrics for s in students[cell]]
        lg = [lab.get(s).metrics for s in longer[cell]]
        gains = [b["test_acc"] - a["test_acc"] for a, b in zip(t, st)]
        gaps = [b["test_acc"] - a["test_acc"] for a, b in zip(t, lg)]
        mean, low, high = mean_ci(gains)
        rows.append({"setting": cell_name(*cell), **dict(zip(GRID, cell)), "seeds": list(seeds),
                     "teacher_train_acc": [a["train_acc"] for a in t],
                     "teacher_acc": [a["test_acc"] for a in t], "gains": gains,
                     "long_minus_teacher": mean_ci(gaps)[0], "mean_gain": mean, "ci_low": low,
                     "ci_high": high})
        fit = sum(a["train_acc"] for a in t) / len(t)
        print(f"{rows[-1]['setting']:>14}: teacher fit {fit:5.1f} %, long − teacher "
              f"{rows[-1]['long_minus_teacher']:+.2f}, gain {mean:+.2f} [{low:+.2f}, {high:+.2f}]",
              flush=True)
    atomic_write_json({"hypothesis": HYPOTHESIS, "grid": {k: list(v) for k, v in GRID.items()},
                       "command": f"python experiments/boundary_c1.py --seeds {args.seeds} "
                                  f"--jobs {args.jobs}",
                       "wall_s": round(time.perf_counter() - start, 1), "cells": rows},
                      exploration_path(notebook_of_module(student_beats_teacher).name,
                                       kind="boundary"))


if __name__ == "__main__":
    main()
