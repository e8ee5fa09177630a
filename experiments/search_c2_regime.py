"""Search for the regime where 02a's prediction P3 can be tested, on seeds no page judges.

P3 ("weight decay is what self-distillation amplifies") is a statement about students that fit
their data; at 16 epochs the first students with weight decay fit 79 % of their 200 training
images. This search trains, per candidate number of epochs and seed (from 4000: disjoint from every
judged seed and every other search), 02a's teacher and its first students with and without weight
decay, and, for each candidate accurate teacher, the first KD-only student of it and of the plain
teacher. It reads only the students' fit to their training images and whether the accurate
teacher's first student is more accurate than the plain one's (P2's control), never a
prediction's outcome. Rules fixed before it ran: the fewest epochs whose first students with
weight decay fit at least 99 % of their training images on average; the cheapest accurate teacher
(images × epochs) whose first student beats the plain teacher's by at least 1 pp on average.
Run: python experiments/search_c2_regime.py [--jobs 2]   (a few minutes on 2 cores).
"""

from __future__ import annotations

import argparse
import itertools

from parallel import train_stages

from sdcore.claims import amplified_regularization as c2a
from sdcore.claims import notebook_of_module
from sdcore.claims.common import exploration_path, lab_for
from sdcore.engine.store import atomic_write_json
from sdcore.paths import project_root
from sdcore.project.profiles import merged

EPOCHS = (24, 40, 60)
ACCURATE = ((2000, 12), (5000, 20))  # (training images, epochs) of the accurate teacher
FIRST_SEED, SEEDS = 4000, 3


def config(epochs: int, accurate: tuple[int, int]) -> c2a.Config:
    base = merged(project_root(), "cpu", notebook_of_module(c2a).name)
    return c2a.Config.from_params({
        **base, "settings": [], "epochs": epochs, "generations": 1, "seeds": SEEDS,
        "first_seed": FIRST_SEED, "discovery_seeds": 0, "accurate_subset": accurate[0],
        "accurate_epochs": accurate[1], "profile": "exploration"})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=2, help="processes training at once")
    args = parser.parse_args()
    seeds = range(FIRST_SEED, FIRST_SEED + SEEDS)
    cells = list(itertools.product(EPOCHS, ACCURATE))
    chains = {cell: {s: c2a.variant_chains(config(*cell), s) for s in seeds} for cell in cells}
    teachers = {spec.key: spec for by_seed in chains.values() for variants in by_seed.values()
                for chain in variants.values() for spec in chain[:1]}
    students = {spec.key: spec for by_seed in chains.values() for variants in by_seed.values()
                for chain in variants.values() for spec in chain[1:2]}
    first = config(*cells[0])
    train_stages(first, [list(teachers.values()), list(students.values())], args.jobs)
    lab = lab_for(first)
    rows = []
    for (epochs, accurate), by_seed in chains.items():
        fit, better = [], []
        for variants in by_seed.values():
            fit.append(lab.get(variants[c2a.WITH_LABELS][1]).metrics["train_acc"])
            better.append(lab.get(variants[c2a.KD_ACCURATE][1]).metrics["test_acc"]
                          - lab.get(variants[c2a.KD_ONLY][1]).metrics["test_acc"])
        rows.append({"epochs": epochs, "accurate_subset": accurate[0],
                     "accurate_epochs": accurate[1], "seeds": list(seeds),
                     "students_train_acc": fit, "accurate_minus_plain_first_student": better})
        print(f"epochs {epochs}, accurate teacher {accurate}: students fit "
              f"{sum(fit) / len(fit):.1f} %, accurate − plain first student "
              f"{sum(better) / len(better):+.2f} pp", flush=True)
    atomic_write_json(rows, exploration_path(notebook_of_module(c2a).name, kind="regime"))


if __name__ == "__main__":
    main()
