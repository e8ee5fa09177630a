"""The claims registry: the paper's claims and, in the book's order, the notebook that judges each.

Every notebook has a module here named as the notebook without its number, with the same face
(``Config``, ``plan``, ``run``, a rule per claim). The table of contents, the dashboard, the
parameter reference, ``reproduce``, the planner and the tests read this registry; nothing else names
a notebook.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import ModuleType

from . import (
    amplified_regularization,
    flatter_minima,
    loss_landscape,
    multi_view,
    student_beats_teacher,
)
from .config import Config

CLAIMS = {  # id: statement, as the paper's abstract makes it
    "C1": "A self-distilled student beats its own, even highly accurate, teacher.",
    "C2": "The best-known theories of why (amplified regularization; multi-view) meet "
          "contradicting examples.",
    "C3": "Self-distillation reaches flatter minima.",
    "C4": "Flatter minima are why the student generalizes better.",
}


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


NOTEBOOKS = (
    Notebook("01_student_beats_teacher", ("C1",), student_beats_teacher),
    Notebook("02a_amplified_regularization", ("C2",), amplified_regularization),
    Notebook("02b_multi_view", ("C2",), multi_view),
    Notebook("03_flatter_minima", ("C3", "C4"), flatter_minima),
    Notebook("04_loss_landscape", ("C3", "C4"), loss_landscape),
)


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
