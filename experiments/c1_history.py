"""The C1 results the cpu profile committed before its settings were declared, read from git.

Every version of ``results/cpu/<C1 notebook>.json`` in the repository's history made by the
earlier design (one setting, seeds from 0, overlapping the setting search's): its commits (reruns
with the same numbers are one row), date, parameters, seeds, verdict and the first student's gain
with its interval. Written to
``experiments/results/<C1 notebook>.history.json``, which the C1 page shows in its selection
history. Run: python experiments/c1_history.py (needs the git history; cost: seconds).
"""

from __future__ import annotations

import json
import subprocess

from sdcore.claims import notebook_of_module, student_beats_teacher
from sdcore.claims.common import exploration_path
from sdcore.engine.store import atomic_write_json
from sdcore.paths import project_root

KEYS = ("datasets", "models", "train_subset", "width", "epochs", "augment", "temperature",
        "weight_ce", "weight_kd")


def git(*args: str) -> str:
    return subprocess.run(["git", *args], cwd=project_root(), capture_output=True, text=True,
                          check=True).stdout


def main() -> None:
    name = notebook_of_module(student_beats_teacher).name
    path = f"results/cpu/{name}.json"
    rows = []
    for commit in reversed(git("log", "--format=%H", "--", path).split()):
        record = json.loads(git("show", f"{commit}:{path}"))
        if record["params"].get("settings"):  # declared settings: the current design
            continue
        numbers, params = record["numbers"], record["params"]
        first = next(g for g in numbers.get("first_student") or numbers["gains"]
                     if g["generation"] == 1)
        first_seed = params.get("first_seed", 0)
        row = {"commits": [commit[:7]], "date": record["provenance"]["started"][:10],
               "parameters": {k: params.get(k) for k in KEYS},
               "seeds": list(range(first_seed, first_seed + params["seeds"])),
               "mean_gain": first["gain"], "ci_low": first["ci_low"],
               "ci_high": first["ci_high"], "verdict": record["verdict"]}
        same = [r for r in rows if {**r, "commits": [], "date": ""} ==
                {**row, "commits": [], "date": ""}]
        if same:  # a rerun that gave the same numbers: one row, every commit
            same[0]["commits"].append(commit[:7])
        else:
            rows.append(row)
    atomic_write_json(rows, exploration_path(name).with_suffix(".history.json"))
    print(f"{len(rows)} earlier C1 records at the cpu profile")


if __name__ == "__main__":
    main()
