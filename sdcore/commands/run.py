"""``python -m sdcore run NOTEBOOK --profile P --set KEY=VALUE ... [--as NAME] [--jobs N]``: one
claim notebook with parameters of your own.

The profile's merged parameters with each ``--set`` over them (values read as YAML: ``2.0``,
``false``, ``[a, b]``) are validated first, as the notebook would, and a key the declared settings
override is refused (``project.own_runs``), so nothing trains on a mistake. Then the models the run
needs and the store lacks train as ``jobs`` local processes (``dispatch.train``), and papermill
executes the notebook, which only loads them. A run with other parameters than the profile's is a
run of your own: its record and its executed notebook go to ``results/own/<name>/``, never to
``results/<profile>/`` or ``book/claims/``. The same run by hand: ``papermill
book/claims/<notebook>.ipynb out.ipynb -f parameters/<profile>/_shared.yaml -f
parameters/<profile>/<notebook>.yaml -p KEY VALUE``. Cost: the missing models' training, then
the notebook's analysis.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from ..claims.config import ConfigError
from ..project.dispatch import Options, train
from ..project.own_runs import RunPlace, check_overrides, place
from ..project.pages import execute
from ..project.run import NotebookRun


@dataclass(frozen=True)
class Ran:
    """What ``run_notebook`` wrote."""

    place: RunPlace
    record: Path
    notebook: Path


def parse_sets(sets: list[str]) -> dict[str, Any]:
    """``KEY=VALUE`` pairs, each value read as YAML."""
    values = {}
    for item in sets:
        key, sep, text = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--set {item!r}: expected KEY=VALUE, e.g. --set temperature=2.0")
        try:
            values[key.strip()] = yaml.safe_load(text)
        except yaml.YAMLError as err:
            raise ConfigError(f"--set {item!r}: the value is not YAML ({err})") from None
    return values


def run_notebook(run: NotebookRun, jobs: int = 1) -> Ran:
    """Validate ``run`` (a notebook at a profile with its overrides: ``--set``, ``--as``), train
    what is missing on ``jobs`` processes, execute; see the module's text."""
    check_overrides(run)
    where = place(run)
    print(where.describe(run.root), flush=True)
    train([run], Options("local", jobs))
    folder = where.folder if where.own else run.root / "_build" / "run" / run.profile
    executed = execute(run, folder / f"{run.name}.ipynb")
    return Ran(where, where.folder / f"{run.name}.json", executed)


def overrides(sets: list[str], run_name: str = "") -> dict[str, Any]:
    """The parameters ``--set KEY=VALUE`` and ``--as NAME`` give."""
    return {**parse_sets(sets), **({"run_name": run_name} if run_name else {})}
