"""Multi-view structure and the self-distillation gain: the optional part of claim C2's 02b page.

Allen-Zhu & Li (2020) attribute the gains of ensembles and self-distillation to data whose classes
have several views; data with one view per class should show little gain. This trains the
experiment of the multi-view page (teacher, self-distilled student, independent partner, their
ensemble, a student of the ensemble, a same-init student) on data from
``sdcore.engine.data.make_multiview`` with one shared recipe, and records every paired comparison:
``multiview:4`` (four views per class), ``multiview:1`` (one view: nearly every model is perfect)
and ``multiview:1:0.75`` (one view, with feature noise raised until its teachers are about as
accurate as those of ``multiview:4``, so that the two differ in views and not in difficulty).
Results go to the notebook's file under experiments/results/, which the page shows as the history
of its declared multi-view settings; the run store is shared with the book, so a rerun only
re-reads the models.
Run: python experiments/explore_c2_multiview.py [--seeds N] [--datasets NAME ...]   (about 5 min)
"""

from __future__ import annotations

import argparse

from sdcore.claims import multi_view, notebook_of_module, run
from sdcore.claims.common import exploration_path
from sdcore.engine.store import atomic_write_json

RECIPE = {"models": ["resnet8"], "width": 0.5, "epochs": 20, "batch_size": 64, "lr": 0.05,
          "augment": False, "weight_ce": 0.5, "weight_kd": 0.5, "temperature": 4.0,
          "profile": "exploration"}


DATASETS = ["multiview:1", "multiview:1:0.75", "multiview:4"]


def explore(dataset: str, seeds: int, first_seed: int) -> dict:
    config = multi_view.Config.from_params({**RECIPE, "datasets": [dataset], "seeds": seeds,
                                            "first_seed": first_seed})
    result = run(config)
    return {"setting": dataset, "params": config.as_dict(), "verdict": result.verdicts["C2"],
            "seeds": list(range(first_seed, first_seed + seeds)), **result.numbers()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seeds", type=int, default=4)
    parser.add_argument("--first-seed", type=int, default=1000,
                        help="seeds from here on (default 1000: disjoint from judged seeds; the "
                        "committed results ran on 0-3, before 02b declared these datasets)")
    parser.add_argument("--datasets", nargs="*", default=DATASETS)
    args = parser.parse_args()
    records = [explore(d, args.seeds, args.first_seed) for d in args.datasets]
    path = exploration_path(notebook_of_module(multi_view).name)
    atomic_write_json(records, path)
    for r in records:
        print(f"{r['setting']}: {r['headline']}")
        for c in r["comparisons"]:
            print(f"  {c['comparison']}: {c['difference']:+.2f} [{c['ci_low']:+.2f}, "
                  f"{c['ci_high']:+.2f}]")
    print(f"written to {path}")


if __name__ == "__main__":
    main()
