"""The claims registry: the paper's claims and, in the book's order, the notebook that judges each.

The registry is ``registry.yaml`` beside this file. Every notebook has a claim module here named as
the notebook without its number, with the same face (``Config``, ``plan``, ``analyse``, ``RULES``),
run by ``run(config)``. The table of contents, the dashboard, the parameter reference,
``reproduce``, ``status``, the planner and the tests read this registry; nothing else names a
notebook.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import yaml

from . import runner
from .common import ClaimResult
from .config import Config

REGISTRY = Path(__file__).with_name("registry.yaml")


@dataclass(frozen=True)
class Notebook:
    """A claim notebook: ``book/claims/<name>.ipynb``, its parameters and its module."""

    name: str
    claims: tuple[str, ...]  # the claims it judges; the first is its main one
    module: ModuleType

    @property
    def config(self) -> type[Config]:
        return self.module.Config

    @property
    def path(self) -> str:
        """The notebook's path from the repository root, without its suffix (as in _toc.yml)."""
        return f"book/claims/{self.name}"


def module_name(notebook: str) -> str:
    """The claim module of a notebook: its name without the number (``01_x_y`` -> ``x_y``)."""
    return notebook.split("_", 1)[1]


def _load() -> tuple[dict[str, str], tuple[Notebook, ...]]:
    registry = yaml.safe_load(REGISTRY.read_text())
    notebooks = tuple(
        Notebook(name, tuple(claims), importlib.import_module(f"{__name__}.{module_name(name)}"))
        for name, claims in registry["notebooks"].items())
    return dict(registry["claims"]), notebooks


CLAIMS, NOTEBOOKS = _load()


def notebook(name: str) -> Notebook:
    """The notebook called ``name``."""
    for nb in NOTEBOOKS:
        if nb.name == name:
            return nb
    raise KeyError(f"unknown notebook {name!r}; known: {', '.join(n.name for n in NOTEBOOKS)}")


def notebook_of(config: Config) -> Notebook:
    """The notebook whose config ``config`` is."""
    for nb in NOTEBOOKS:
        if type(config) is nb.config:
            return nb
    raise KeyError(f"{type(config).__name__} is no notebook's config")


def notebook_of_module(module: ModuleType) -> Notebook:
    """The notebook whose claim module ``module`` is."""
    for nb in NOTEBOOKS:
        if nb.module is module:
            return nb
    raise KeyError(f"{module.__name__} is no notebook's module")


def notebooks_of(claim: str) -> list[Notebook]:
    """The notebooks that judge ``claim``."""
    return [nb for nb in NOTEBOOKS if claim in nb.claims]


def run(config: Config) -> ClaimResult:
    """Run the claim notebook whose config ``config`` is (``runner.run``)."""
    return runner.run(notebook_of(config).module, config)
