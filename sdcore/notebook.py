"""Notebook plumbing: which parameters papermill injected, and gluing values into the book's text."""

from __future__ import annotations

from typing import Any

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


def parameters_cell(config: type, values: dict[str, Any]) -> str:
    """The source of a notebook's parameters cell: one literal per line with its help text, in the
    order of ``config``'s fields, each value from ``values`` or else the field's default."""
    return "\n".join(f"{row['name']} = {values.get(row['name'], row['default'])!r}  # {row['help']}"
                     for row in config.reference())
