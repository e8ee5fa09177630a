"""Where the project's folders are: the repository root, the data root, the run store, results.

The root is the nearest folder at or above the working directory that holds ``_toc.yml``, so a
notebook run from ``book/claims/``, the repository root, or a papermill output path elsewhere in the
tree all find the same folders; outside a checkout (e.g. Colab) ``project_root`` is the working
directory, while ``checkout_root`` (the command line's) refuses to guess.
"""

from __future__ import annotations

import os
from pathlib import Path

MARKER = "_toc.yml"  # the file at the top of a checkout of the book
RUNS_VARIABLE = "SDCORE_RUNS"  # the run store, where no parameter names one


class CheckoutError(ValueError):
    """The working directory is not inside a checkout of the book."""


def _marked(here: Path) -> Path | None:
    """The nearest folder at or above ``here`` that holds ``MARKER``, if any."""
    return next((folder for folder in (here, *here.parents) if (folder / MARKER).is_file()), None)


def project_root(start: Path | None = None) -> Path:
    """The checkout's root, or outside a checkout the working directory (or ``start``)."""
    here = (start or Path.cwd()).resolve()
    return _marked(here) or here


def checkout_root(start: Path | None = None) -> Path:
    """The checkout's root; a ``CheckoutError`` outside a checkout."""
    here = (start or Path.cwd()).resolve()
    root = _marked(here)
    if root is None:
        raise CheckoutError(f"{here} is not inside a checkout of the book (no {MARKER} here or "
                            "above); run python -m sdcore in the repository or a folder in it")
    return root


def data_root(configured: str = "", root: Path | None = None) -> Path:
    """The parameter if given, else ``<root>/data`` (``root``: default ``project_root()``)."""
    return Path(configured).expanduser() if configured else (root or project_root()) / "data"


def runs_root(configured: str = "", root: Path | None = None) -> Path:
    """The parameter if given, else ``$SDCORE_RUNS``, else ``<root>/runs`` (``root``: default
    ``project_root()``)."""
    chosen = configured or os.environ.get(RUNS_VARIABLE, "")
    return Path(chosen).expanduser() if chosen else (root or project_root()) / "runs"
