"""Every C1 result the cpu profile committed, read from git.

Every version of ``results/cpu/<C1 notebook>.json`` in the repository's history:
- made by the earlier design (one setting, seeds from 0, overlapping the setting search's): its
  commits (reruns with the same numbers are one row), date, parameters, seeds, verdict and the
  first student's gain with its interval, to ``experiments/results/<C1 notebook>.history.json``;
- made by a design with declared settings: per commit, its date, machine, precision and verdict,
  and per setting its seeds, the teachers' fit and convergence gap and the student's gain with
  its interval, to ``experiments/results/<C1 notebook>.designs.json``.
The C1 page shows both in its selection history and the second in its boundary figure. Run:
python experiments/c1_history.py (needs the git history; cost: seconds).
"""

from __future__ import annotations

import json
import subprocess

from sdcore.claims import notebook_of_module, student_beats_teacher
from sdcore.claims.common import exploration_path
from sdcore.engine.store import atomic_write_json
from sdcore.paths import project_root

SETTING_NUMBERS = ("train_subset", "augment", "epochs", "teacher_train_acc", "long_minus_teacher",
                   "gain", "ci_low", "ci_high", "convergence", "premise")
KEYS = ("datasets", "models", "train_subset", "width", "epochs", "augment", "temperature",
        "weight_ce", "weight_kd")


def git(*args: str) -> str:
    return subprocess.run(["git", *args], cwd=project_root(), capture_output=True, text=True,
                          check=True).stdout


def main() -> None:
    name = notebook_of_module(student_beats_teacher).name
    path = f"results/cpu/{name}.json"
    rows, designs = [], []
    for commit in reversed(git("log", "--format=%H", "--", path).split()):
        record = json.loads(git("show", f"{commit}:{path}"))
        if record["params"].get("settings"):  # declared settings
            designs.append(design_run(commit, record))
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
    atomic_write_json(designs, exploration_path(name).with_suffix(".designs.json"))
    print(f"{len(rows)} C1 records of the earlier design and {len(designs)} of declared settings "
          "at the cpu profile")


def design_run(commit: str, record: dict) -> dict:
    """One committed run of a design with declared settings, a row per setting."""
    provenance, declared = record["provenance"], record["params"]["settings"]
    first_seeds = {s["name"]: s.get("first_seed", record["params"]["first_seed"])
                   for s in declared}
    return {"commit": commit[:7], "date": provenance["started"][:10],
            "device": provenance.get("device"), "cpu": provenance.get("cpu"),
            "precision": record["params"].get("precision", "fp32"), "verdict": record["verdict"],
            "settings": [{"setting": s["setting"], "seeds": s["seeds"],
                          "first_seed": first_seeds.get(s["setting"]),
                          **{k: s.get(k) for k in SETTING_NUMBERS}}
                         for s in record["numbers"]["settings"]]}


if __name__ == "__main__":
    main()
