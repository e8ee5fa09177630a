"""One claim notebook at one profile: ``NotebookRun``, the value every command passes down.

A run knows its notebook (registry entry, page), its profile's parameter files and their merged
parameters (read once, on first use), the config a run validates (the page's parameters cell, the
profile's parameters over it, then any ``overrides``: a run of your own), the config the profile's
own files give (``declared``), and the chains its claim module plans. Each is computed once per
run, so a command that builds one ``NotebookRun`` per notebook reads ``parameters/`` once per
notebook. Nothing here depends on the working directory: the run store and data folder resolve
against ``root``. Cost: reading two small YAML files, the page's parameters cell, and planning.
"""

from __future__ import annotations

import ast
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import nbformat

from ..claims import NOTEBOOKS, Notebook, notebook, notebook_of
from ..claims.common import lab_for, store_for
from ..claims.config import Config, ConfigError, ExperimentConfig
from ..engine.lab import Lab
from ..engine.specs import ModelSpec
from ..engine.store import RunStore
from .profiles import ProfileError, merge, parameter_files, unknown


@dataclass(frozen=True)
class Chain:
    """A chain of a run's plan: a teacher and the models distilled from it, in order."""

    notebook: str
    config: ExperimentConfig  # the notebook's config at the profile
    specs: list[ModelSpec]
    root: Path  # the checkout, which the run store and data folder resolve against

    @property
    def store(self) -> RunStore:
        return store_for(self.config, self.root)

    def lab(self) -> Lab:
        return lab_for(self.config, self.root)


def parameters_cell_values(path: Path) -> dict[str, Any]:
    """The literal assignments of a notebook's ``parameters`` cell (``name: type = value``)."""
    cell = next(c for c in nbformat.read(path, as_version=4).cells
                if "parameters" in c.metadata.get("tags", []))
    values = {}
    for node in ast.parse(cell.source).body:
        targets = (node.targets if isinstance(node, ast.Assign)
                   else [node.target] if isinstance(node, ast.AnnAssign) and node.value else [])
        values.update({t.id: ast.literal_eval(node.value) for t in targets
                       if isinstance(t, ast.Name)})
    return values


@dataclass
class NotebookRun:
    """Notebook ``name`` at ``profile`` in the checkout ``root``, with ``overrides`` over the
    profile's parameters (none: the profile's own run)."""

    root: Path
    profile: str
    name: str
    overrides: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def of_config(cls, config: Config, root: Path) -> NotebookRun:
        """The run a kernel is making with the validated ``config`` (papermill's parameters)."""
        run = cls(root, config.profile, notebook_of(config).name)
        run.__dict__["config"] = config  # cached_property: the kernel's config is the run's
        return run

    @cached_property
    def entry(self) -> Notebook:
        return notebook(self.name)

    @property
    def page(self) -> Path:
        return self.root / f"{self.entry.path}.ipynb"

    @cached_property
    def files(self) -> list[Path]:
        """The parameter files, shared first (a ``ProfileError`` where the profile has none)."""
        return parameter_files(self.root, self.profile, self.name)

    @cached_property
    def parameters(self) -> dict[str, Any]:
        """The profile's merged parameters: the shared file, then the notebook's own over it."""
        return merge(self.files)

    def sources(self) -> str:
        """The parameter files, relative to the root, joined by ``+``."""
        return " + ".join(str(p.relative_to(self.root)) for p in self.files)

    @cached_property
    def cell(self) -> dict[str, Any]:
        """The page's parameters cell: the defaults papermill injects over."""
        return parameters_cell_values(self.page)

    @cached_property
    def declared(self) -> Config:
        """The config of the profile's own run (its files over the parameters cell); a
        ``ProfileError`` naming the files where they do not validate."""
        try:
            return self.entry.config.from_params({**self.cell, **self.parameters})
        except ConfigError as err:
            raise ProfileError(f"{self.sources()}: {err}") from None

    @cached_property
    def config(self) -> Config:
        """The config this run validates: ``declared`` with the overrides over it."""
        if not self.overrides:
            return self.declared
        return self.entry.config.from_params({**self.cell, **self.parameters, **self.overrides})

    @cached_property
    def declared_or_none(self) -> Config | None:
        """``declared``, or None where the profile has no parameter file for the notebook (a
        run of your own, then)."""
        try:
            self.files  # noqa: B018 - a ProfileError where the profile has no file for it
        except ProfileError:
            return None
        return self.declared

    @cached_property
    def chains(self) -> list[Chain]:
        """The chains the notebook's ``plan(config)`` gives (nothing trained or loaded)."""
        return [Chain(self.name, self.config, specs, self.root)
                for specs in self.entry.module.plan(self.config)]

    @property
    def injected(self) -> dict[str, Any]:
        """What papermill injects: the profile's parameters with the overrides over them."""
        return {**self.parameters, **self.overrides}


def notebook_runs(root: Path, profile: str, only: Sequence[str] | None = None,
                  overrides: dict[str, Any] | None = None) -> list[NotebookRun]:
    """A run per notebook of the book (``only`` these), in the registry's order; an unknown
    name is a ``ValueError`` that suggests the closest."""
    names = [nb.name for nb in NOTEBOOKS]
    for name in only or []:
        if name not in names:
            raise ValueError(unknown("notebook", name, names))
    return [NotebookRun(root, profile, name, dict(overrides or {}))
            for name in names if not only or name in only]


def chains_of(runs: Sequence[NotebookRun]) -> list[Chain]:
    """Every chain of ``runs``, in their order."""
    return [chain for run in runs for chain in run.chains]
