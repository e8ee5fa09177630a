"""Docutils tables for the book's directives (the claims dashboard, the parameter reference)."""

from __future__ import annotations

from docutils import nodes


def cell(*children: nodes.Node) -> nodes.entry:
    """A table cell holding one paragraph of ``children`` (an empty one if none)."""
    entry = nodes.entry()
    entry += nodes.paragraph("", "", *children) if children else nodes.paragraph()
    return entry


def _row(cells: list[nodes.entry]) -> nodes.row:
    row = nodes.row()
    row.extend(cells)
    return row


def table(headers: tuple[str, ...], widths: tuple[int, ...], rows: list[list[nodes.entry]],
          css_class: str) -> nodes.table:
    """A table with a header row of ``headers``, relative column ``widths`` and body ``rows``."""
    node = nodes.table(classes=[css_class])
    group = nodes.tgroup(cols=len(headers))
    node += group
    group.extend(nodes.colspec(colwidth=w) for w in widths)
    head, body = nodes.thead(), nodes.tbody()
    head += _row([cell(nodes.Text(h)) for h in headers])
    body.extend(_row(r) for r in rows)
    group += head
    group += body
    return node
