"""Notebook plumbing: the injected parameters, publishing a claim's verdicts, gluing text.

``configure(Config, scope)`` is a notebook's validation cell: the parameters validated, a key the
declared settings would override refused, and where the run's record will go printed (the
profile's ``results/<profile>/``, or ``results/own/<name>/`` for a run of your own:
``project.own_runs``). ``publish(result, config)`` is its verdict cell: it writes the results
record of every claim the notebook judges there and glues, per claim, the verdict, the headline
and the rule, so that the page's text and admonitions show them. Cost: a few small files.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
import yaml

from ..claims import notebook_of
from ..claims.common import ClaimResult, read_exploration
from ..claims.config import Config
from ..paths import project_root
from ..project.fingerprint import fingerprint
from ..project.own_runs import check_overrides, parameters_source, place
from ..project.records import write_record
from ..project.run import NotebookRun
from .effects import judged_effects

_IPYTHON_NAMES = {"In", "Out", "get_ipython", "exit", "quit", "open"}


class ParameterScope:
    """Snapshot of a notebook's globals taken before its parameters cell.

    ``parameters()`` then returns every public name assigned since: the parameters cell's own and
    any papermill injected, so a misspelt injected key reaches validation instead of being ignored.
    """

    def __init__(self, namespace: dict[str, Any]):
        self.namespace = namespace
        self.before = set(namespace)

    def parameters(self) -> dict[str, Any]:
        return {k: v for k, v in self.namespace.items()
                if k not in self.before and not k.startswith("_") and k not in _IPYTHON_NAMES
                and v is not self}


def glue(name: str, value: Any, display: bool = True) -> None:
    """``myst_nb.glue`` where myst-nb is installed (the book build); a plain display elsewhere."""
    try:
        from myst_nb import glue as myst_glue
    except ImportError:
        if display:
            from IPython.display import display as show
            show(value)
        return
    myst_glue(name, value, display=display)


def glue_texts(texts: dict[str, str]) -> None:
    """Glue each named text for the page's prose, without showing it here."""
    for name, text in texts.items():
        glue(name, text, display=False)


_RUNS: list[NotebookRun] = []  # the kernel's runs, made by ``configure``, found by ``publish``


def run_of(config: Config) -> NotebookRun:
    """The kernel's ``NotebookRun`` of ``config``: the one ``configure`` made, else a new one."""
    found = next((run for run in _RUNS if run.config is config), None)
    if found is None:
        found = NotebookRun.of_config(config, project_root())
        _RUNS.append(found)
    return found


def configure(config: type[Config], scope: ParameterScope) -> Config:
    """The parameters of ``scope`` validated into ``config``, with no key that a declared
    setting overrides (``own_runs.check_overrides``); prints where the run's record will go."""
    run = run_of(config.from_params(scope.parameters()))
    check_overrides(run)
    print(place(run).describe(run.root))
    return run.config


def publish(result: ClaimResult, config: Config) -> dict[str, Any]:
    """Write the results record of each claim the notebook judges (the first to
    ``<notebook>.json``, others to ``<notebook>.<claim>.json``) where ``own_runs.place`` says,
    glue ``<claim>_verdict``, ``<claim>_headline`` and ``<claim>_rule`` (claim in lower case),
    print them, and return the main record."""
    run = run_of(config)
    made_by, where, source = fingerprint(run), place(run), parameters_source(run)
    records = []
    for i, claim in enumerate(run.entry.claims):
        records.append(write_record(
            claim=claim, notebook=run.name, profile=config.profile,
            verdict=result.verdicts[claim], rule=result.rules[claim],
            numbers=result.numbers(claim), params=config.as_dict(), parameters=source,
            device=result.device, started=result.started, fingerprint=made_by,
            folder=where.folder, secondary=i > 0, phases=result.phases, run=where.name))
        key = claim.lower()
        glue_texts({f"{key}_verdict": result.verdicts[claim],
                    f"{key}_headline": result.headline(claim), f"{key}_rule": result.rules[claim]})
        print(f"{claim}: {result.verdicts[claim]} — {result.headline(claim)}")
    if where.own:
        print(where.describe(run.root))
    return records[0]


def judged(result: ClaimResult, config: Config) -> pd.DataFrame:
    """Every effect the verdicts of the notebook's claims read (``effects.judged_effects``): the
    rows of the page's forest plot, as of the dashboard's."""
    notebook = notebook_of(config)
    return pd.concat([judged_effects(claim, notebook.name, result.numbers(claim))
                      for claim in notebook.claims], ignore_index=True)


def explorations(config: Config, kind: str = "") -> Any:
    """An experiment behind this notebook (the setting search, or another ``kind`` of it), as
    measured (empty if never run)."""
    return read_exploration(notebook_of(config).name, kind=kind)


def experiment_notes(name: str) -> dict[str, Any]:
    """``experiments/<name>.yaml``: what the experiments' records do not hold (empty if none)."""
    path = project_root() / "experiments" / f"{name}.yaml"
    return yaml.safe_load(path.read_text()) if path.is_file() else {}


def parameters_cell(config: type[Config], values: dict[str, Any]) -> str:
    """The source of a notebook's parameters cell: one literal per line with its help text, in the
    order of ``config``'s fields, each value from ``values`` or else the field's default."""
    return "\n".join(f"{row['name']}: {row['type']} = {values.get(row['name'], row['default'])!r}"
                     f"  # {row['help']}" for row in config.reference())
