"""Where the project's folders are: the repository root, the data root, the run store, results.

The root is the nearest folder at or above the working directory that holds ``_toc.yml``, so a
notebook run from ``book/claims/``, the repository root, or a papermill output path elsewhere in the
tree all find the same folders; outside a checkout (e.g. Colab) it is the working directory.
"""

from __future__ import annotations

import os
from pathlib import Path


def project_root(start: Path | None = None) -> Path:
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / "_toc.yml").is_file():
            return folder
    return here


def data_root(configured: str = "") -> Path:
    return Path(configured).expanduser() if configured else project_root() / "data"


def runs_root(configured: str = "") -> Path:
    """The parameter if given, else ``$SDCORE_RUNS``, else ``<root>/runs``."""
    chosen = configured or os.environ.get("SDCORE_RUNS", "")
    return Path(chosen).expanduser() if chosen else project_root() / "runs"


def results_dir(profile: str) -> Path:
    return project_root() / "results" / profile
