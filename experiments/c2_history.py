"""Every C2 result the cpu profile committed, read from git, for the pages' design histories.

Every version of ``results/cpu/<notebook>.json`` of the two C2 pages in the repository's history:
its commit, date, machine and precision, its design (seeds, epochs, generations, data, declared
settings), its verdict and headline, and each prediction's outcome with its interval where the
record has them. Written to ``experiments/results/<notebook>.designs.json``; each page joins it
with ``experiments/c2_selection.yaml`` (why each design was replaced) into its history table.
Run: python experiments/c2_history.py (needs the git history; cost: seconds).
"""

from __future__ import annotations

import json
import subprocess

from sdcore.claims import amplified_regularization, multi_view, notebook_of_module
from sdcore.claims.common import exploration_path
from sdcore.engine.store import atomic_write_json
from sdcore.paths import project_root

DESIGN_KEYS = ("first_seed", "seeds", "epochs", "generations", "train_subset", "test_subset",
               "width", "batch_size", "discovery_seeds", "resample_subset")


def git(*args: str) -> str:
    return subprocess.run(["git", *args], cwd=project_root(), capture_output=True, text=True,
                          check=True).stdout


def run_row(commit: str, record: dict) -> dict:
    """One committed run: where and how it was made, its design, verdict and predictions."""
    params, provenance = record["params"], record["provenance"]
    tests = [{k: t.get(k) for k in ("setting", "prediction", "mean", "ci_low", "ci_high",
                                    "outcome")} for t in record["numbers"].get("tests", [])]
    return {"commit": commit[:7], "date": provenance["started"][:10],
            "machine": provenance.get("cpu") or provenance.get("device"),
            "precision": params.get("precision", "fp32"),
            "design": {k: params.get(k) for k in DESIGN_KEYS if k in params},
            "settings": [{k: v for k, v in s.items()} for s in params.get("settings", [])],
            "verdict": record["verdict"], "headline": record["numbers"].get("headline", ""),
            "tests": tests}


def main() -> None:
    for module in (amplified_regularization, multi_view):
        name = notebook_of_module(module).name
        path = f"results/cpu/{name}.json"
        rows = [run_row(commit, json.loads(git("show", f"{commit}:{path}")))
                for commit in reversed(git("log", "--format=%H", "--", path).split())]
        atomic_write_json(rows, exploration_path(name, kind="designs"))
        print(f"{name}: {len(rows)} committed runs")


if __name__ == "__main__":
    main()
