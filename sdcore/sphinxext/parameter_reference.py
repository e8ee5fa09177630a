"""Sphinx extension: the ``parameter-reference`` directive, every notebook parameter in tables.

The rows come from the configs (``Config.reference()``: name, type, default, allowed
values, help text) at build time, so the book's reference cannot drift from what validation accepts.
One table holds the parameters every notebook shares; one table per notebook, under a rubric with
its name, holds its own.
"""

from __future__ import annotations

from docutils import nodes
from docutils.parsers.rst import Directive
from sphinx.application import Sphinx

from ..claims import NOTEBOOKS
from ..claims.config import ExperimentConfig
from . import tables
from .tables import cell

HEADERS = ("parameter", "type", "default", "allowed", "meaning")
WIDTHS = (16, 10, 14, 16, 44)


def table(rows: list[dict]) -> nodes.table:
    """One docutils table of ``Config.reference()`` rows."""
    def literal(text: str) -> nodes.entry:
        return cell(nodes.literal(text, text))

    def text(value: str) -> nodes.entry:
        return cell(nodes.Text(value))

    return tables.table(HEADERS, WIDTHS, [
        [literal(r["name"]), text(r["type"]), literal(repr(r["default"])), text(r["allowed"]),
         text(r["help"])] for r in rows], "parameter-reference")


class ParameterReference(Directive):
    """Shared parameters, then each notebook's own, straight from the configs."""

    def run(self) -> list[nodes.Node]:
        shared = set(ExperimentConfig.model_fields)
        out: list[nodes.Node] = [
            nodes.rubric(text="Shared by every notebook"),
            nodes.paragraph(text="Every claim notebook takes these parameters."),
            table(ExperimentConfig.reference())]
        for notebook in NOTEBOOKS:
            config = notebook.config
            own = [r for r in config.reference() if r["name"] not in shared]
            text = f"{config.__doc__.strip()} Its own parameters, beside the shared ones:"
            out += [nodes.rubric(text=notebook.name), nodes.paragraph(text=text), table(own)]
        return out


def setup(app: Sphinx) -> None:
    app.add_directive("parameter-reference", ParameterReference)
