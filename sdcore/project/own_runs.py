"""Runs of your own: a notebook run with other parameters than its profile's never writes the
book's results.

Only a profile's own parameters (``parameters/<profile>/``) write ``results/<profile>/``. A run
whose resolved parameters differ from them in a key that can change a number, or that is given a
``run_name``, is *your own run*: its record goes to ``results/own/<name>/`` (git-ignored; the
dashboard and ``status`` read ``results/<profile>/`` only), named by ``run_name`` or else by the
profile and the keys it changes (``cpu-temperature=2.0``). A run at a profile with no parameters
file for the notebook is one too, named by the profile.

A key the run changes that a declared setting sets to another value for itself would change
nothing the setting runs; ``check_overrides`` refuses it, naming the settings and printing the ``-y`` that changes
them instead. Cost: what the ``NotebookRun`` reads once (two small YAML files), and validating.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ..claims.config import SETTING_KEYS, ConfigError
from .run import NotebookRun

OWN = "own"  # results/own/<run name>/: runs of your own
# How a run is carried out, not what it computes: changing these keeps a run the profile's.
OPERATIONAL = frozenset({"run_store", "train_missing", "data_root", "download", "device",
                         "run_name"})
NAME_CHARS = 80  # a derived name longer than this is cut and given a digest


@dataclass(frozen=True)
class RunPlace:
    """Where a notebook's run writes its record, and why."""

    folder: Path
    name: str = ""  # the own run's name; empty for the profile's own run
    changes: dict[str, tuple[Any, Any]] = field(default_factory=dict)  # key: (profile's, run's)

    @property
    def own(self) -> bool:
        return bool(self.name)

    def describe(self, root: Path) -> str:
        """One sentence for the notebook's first output and the command line."""
        where = self.folder.relative_to(root) if self.folder.is_relative_to(root) else self.folder
        if not self.own:
            return f"This run has its profile's parameters: its record goes to {where}/."
        changed = "; ".join(f"{k}: {old!r} → {new!r}" for k, (old, new) in self.changes.items())
        return (f"Your own run {self.name!r}"
                + (f" ({changed})" if changed else "")
                + f": its record goes to {where}/, never to the book's results/.")


ABSENT = object()  # a key one side of ``differing`` lacks


def differing(old: dict[str, Any], new: dict[str, Any]) -> dict[str, tuple[Any, Any]]:
    """key → (old value, new value) for each key whose value differs between two parameter
    mappings, in ``new``'s order and then ``old``'s; a key one of them lacks has ``ABSENT``."""
    keys = [*new, *(k for k in old if k not in new)]
    return {k: (old.get(k, ABSENT), new.get(k, ABSENT)) for k in keys
            if k not in old or k not in new or old[k] != new[k]}


def changes(run: NotebookRun) -> dict[str, tuple[Any, Any]]:
    """The keys where ``run``'s config departs from its profile's own (``declared``),
    operational ones aside: key → (profile's value, run's value)."""
    profile = run.declared_or_none
    if profile is None:
        return {}
    return {k: pair for k, pair in differing(profile.as_dict(), run.config.as_dict()).items()
            if k not in OPERATIONAL}


def derived_name(profile: str, changed: dict[str, tuple[Any, Any]]) -> str:
    """``<profile>-<key>=<value>-...``, in characters a folder name takes; cut, with a digest of
    the whole, where long."""
    parts = [profile, *(f"{k}={_compact(new)}" for k, (_, new) in changed.items())]
    name = "".join(c if c.isalnum() or c in "-_.=" else "_" for c in "-".join(parts))
    if len(name) <= NAME_CHARS:
        return name
    tag = hashlib.sha256(name.encode()).hexdigest()[:8]
    return f"{name[:NAME_CHARS - 9]}-{tag}"


def _compact(value: Any) -> str:
    if isinstance(value, (list, dict)):
        return "changed"  # settings and lists: named by the key alone, the digest tells apart
    return str(value)


def place(run: NotebookRun) -> RunPlace:
    """Where ``run`` writes its record: ``results/<profile>/`` for the profile's own
    parameters, else ``results/own/<name>/``."""
    changed = changes(run)
    name = getattr(run.config, "run_name", "") or (
        derived_name(run.profile, changed) if changed or run.declared_or_none is None else "")
    if not name:
        return RunPlace(run.root / "results" / run.profile)
    return RunPlace(run.root / "results" / OWN / name, name, changed)


def check_overrides(run: NotebookRun) -> None:
    """Refuse a key the run changes that a declared setting sets itself: it would change nothing
    that setting runs. The message gives the ``-y`` that changes the settings instead."""
    settings = getattr(run.config, "settings", [])
    if not settings:
        return
    keys = {"datasets": "dataset", "models": "model"}
    for key, (_, new) in changes(run).items():
        in_setting = keys.get(key, key)
        if in_setting not in SETTING_KEYS:
            continue
        value = new[0] if key in keys and len(new) == 1 else new
        setters = [s for s in settings if in_setting in s and s[in_setting] != value]
        if not setters:
            continue
        fixed = [{**s, in_setting: value} if in_setting in s else s for s in settings]
        listed = ", ".join(f"{s['name']}: {s[in_setting]!r}" for s in setters)
        flow = yaml.safe_dump(fixed, default_flow_style=True, width=10**6, sort_keys=False)
        raise ConfigError(
            f"parameter {key!r} = {new!r} would change nothing in the declared setting(s) that "
            f"set their own ({listed}); change it in the settings instead, e.g. papermill -y "
            f"\"settings: {flow.strip()}\" (or edit a copy of the parameters file and pass it "
            "with -f)")


def parameters_source(run: NotebookRun) -> str:
    """Where ``run``'s parameters came from, for its record: the profile's files, naming the
    keys the run changes (``changes``), or the notebook's defaults where the profile has none."""
    if run.declared_or_none is None:
        return (f"none (parameters/{run.profile}/ has no file for this notebook): the notebook's "
                "defaults and injected values")
    changed = [f"{k}={new!r}" for k, (_, new) in changes(run).items()]
    return run.sources() + (f" with {', '.join(changed)}" if changed else "")
