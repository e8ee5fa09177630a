"""``python -m sdcore status``: whether each notebook's results at each profile are current.

A notebook's records at a profile are *fresh* when their fingerprint (``report.fingerprint``)
matches what a rerun would use now, *stale* when some part changed (parameters, a rule, code,
data, models: each named), *missing* when the notebook has not run there. A note says when a
record was made with another ``requirements.lock`` than the checkout's, or in an environment that
differed from its lock; that alone does not make it stale. Cost: reading the
records, the sources and each dataset's files once.
"""

from __future__ import annotations

from pathlib import Path

from .claims import NOTEBOOKS
from .report.fingerprint import Freshness, notebook_freshness
from .report.records import profiles_of, read_records


def statuses(root: Path, profiles: list[str] | None = None) -> list[tuple[str, str, Freshness]]:
    """(profile, notebook, freshness) for every notebook at each of ``profiles`` (default: the
    profiles that have records)."""
    records = read_records(root)
    chosen = profiles or profiles_of(records)
    return [(profile, nb.name, notebook_freshness(records, root, profile, nb.name))
            for profile in chosen for nb in NOTEBOOKS]


def report(rows: list[tuple[str, str, Freshness]]) -> str:
    """One line per row: profile, notebook, then its state and why."""
    width = max((len(name) for _, name, _ in rows), default=0)
    return "\n".join(f"{profile:<6} {name:<{width}}  {state.describe()}"
                     for profile, name, state in rows)
