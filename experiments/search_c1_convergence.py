"""Search for a cpu setting of C1 whose teacher is converged, on seeds no profile judges.

C1's qualifier ("even when the teacher is highly accurate") needs a declared setting in which a
teacher trained twice as long is no better (``stats.no_better`` at the profile's margin). This
search trains, for each candidate, a teacher and a teacher with twice the epochs per seed (seeds
from 1000) and records the paired difference and the test's outcome; it trains no student and
reads nothing of C1's gain, so it cannot select a setting for the claim's result. The rule fixed
before it ran: the cheapest candidate (image-epochs per model) whose teacher is "no better" is
declared; if none is, the most-trained candidate is. The C1 page shows every candidate in its
selection history. Run: python experiments/search_c1_convergence.py [--seeds 3] [--jobs 2].
Cost: seeds × 3 trainings of each candidate's recipe.
"""

from __future__ import annotations

import argparse
import dataclasses

from parallel import train_stages

from sdcore.claims import notebook_of_module, student_beats_teacher
from sdcore.claims.common import exploration_path, lab_for, teacher_spec
from sdcore.engine.stats import mean_ci, no_better
from sdcore.engine.store import atomic_write_json
from sdcore.paths import project_root
from sdcore.profiles import merged

CANDIDATES = {  # name: what differs from the cpu profile's shared parameters
    "1k-w1-b32-e12-noaug-T4": {"train_subset": 1000, "augment": False, "batch_size": 32,
                               "epochs": 12},
    "1k-w1-b32-e20-noaug-T4": {"train_subset": 1000, "augment": False, "batch_size": 32,
                               "epochs": 20},
    "1k-w1-b128-e40-noaug-T4": {"train_subset": 1000, "augment": False, "batch_size": 128,
                                "epochs": 40},
}


def candidate(name: str, seeds: int, first_seed: int) -> student_beats_teacher.Config:
    base = merged(project_root(), "cpu", notebook_of_module(student_beats_teacher).name)
    return student_beats_teacher.Config.from_params({
        **base, "settings": [], **CANDIDATES[name], "seeds": seeds, "first_seed": first_seed,
        "profile": "exploration"})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--first-seed", type=int, default=1000)
    parser.add_argument("--jobs", type=int, default=2, help="processes training at once")
    args = parser.parse_args()
    rows = []
    for name in CANDIDATES:
        config = candidate(name, args.seeds, args.first_seed)
        seeds = list(range(config.first_seed, config.first_seed + config.seeds))
        teachers = [teacher_spec(config, s) for s in seeds]
        longer = [dataclasses.replace(t, recipe=dataclasses.replace(
            t.recipe, epochs=2 * t.recipe.epochs)) for t in teachers]
        train_stages(config, [teachers + longer], args.jobs)
        lab = lab_for(config)
        acc = [lab.get(t).metrics for t in teachers]
        long_acc = [lab.get(t).metrics for t in longer]
        diffs = [b["test_acc"] - a["test_acc"] for a, b in zip(acc, long_acc)]
        mean, low, high = mean_ci(diffs)
        margin = student_beats_teacher.Config.from_params(
            merged(project_root(), "cpu", notebook_of_module(student_beats_teacher).name)
        ).convergence_margin
        rows.append({"setting": name, "parameters": CANDIDATES[name], "seeds": seeds,
                     "image_epochs": config.train_subset * config.epochs,
                     "teacher_train_acc": [a["train_acc"] for a in acc],
                     "teacher_acc": [a["test_acc"] for a in acc],
                     "long_teacher_acc": [b["test_acc"] for b in long_acc],
                     "long_minus_teacher": diffs, "mean": mean, "ci_low": low, "ci_high": high,
                     "margin": margin, "outcome": no_better(diffs, margin)})
        print(f"{name}: long − teacher {mean:+.2f} [{low:+.2f}, {high:+.2f}] → "
              f"{rows[-1]['outcome']}", flush=True)
    atomic_write_json(rows, exploration_path(notebook_of_module(student_beats_teacher).name,
                                             kind="convergence"))


if __name__ == "__main__":
    main()
