"""``python -m sdcore status``: whether each notebook's results at each profile are current.

A notebook's records at a profile are *fresh* when their fingerprint (``project.fingerprint``)
matches what a rerun would use now, *stale* when some part changed (parameters, a rule, code,
data, models: each named), *missing* when the notebook has not run there. Under each notebook that
has records, a second line gives when they were made and each parameter a rerun would set
otherwise (``key: old → new``). A note says when a record was made with another
``requirements.lock`` than the checkout's, or in an environment that differed from its lock; that
alone does not make it stale. Cost: reading the records, the sources and each dataset's files
once.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ..project.fingerprint import Freshness, notebook_freshness
from ..project.own_runs import differing
from ..project.profiles import check_profile
from ..project.records import latest_record, profiles_of, read_records
from ..project.run import NotebookRun, notebook_runs


def statuses(root: Path, profiles: list[str] | None = None
             ) -> list[tuple[NotebookRun, Freshness]]:
    """Each notebook's run at each of ``profiles`` (default: the profiles that have records)
    with its freshness; a ``ProfileError`` for a profile that does not exist."""
    for profile in profiles or []:
        check_profile(root, profile)
    records = read_records(root)
    runs = [run for profile in profiles or profiles_of(records)
            for run in notebook_runs(root, profile)]
    return [(run, notebook_freshness(records, run)) for run in runs]


def made_record(records: list[dict[str, Any]], run: NotebookRun) -> dict[str, Any] | None:
    """The latest record of ``run``'s notebook at its profile: its main claim's, else another's."""
    found = (latest_record(records, run.name, claim, run.profile) for claim in run.entry.claims)
    return next((record for record in found if record is not None), None)


def changed_parameters(record: dict[str, Any], run: NotebookRun) -> list[str]:
    """``key: old → new`` for each parameter of ``record`` that ``run`` would set otherwise
    (none where the profile's parameters no longer validate: the state says so); compared as
    JSON, as the record keeps them."""
    try:
        now = json.loads(json.dumps(run.config.as_dict(), default=str))
    except Exception:  # noqa: BLE001 - as in freshness, whose state names the failure
        return []
    old = record.get("params", {})
    return [f"{key}: {shown(old, key)} → {shown(now, key)}" for key in differing(old, now)]


def shown(params: dict[str, Any], key: str, width: int = 60) -> str:
    """The value of ``params[key]`` as Python writes it (cut at ``width`` characters), or
    ``(absent)``."""
    if key not in params:
        return "(absent)"
    text = repr(params[key])
    return text if len(text) <= width else text[:width - 1] + "…"


def when(record: dict[str, Any]) -> str:
    """When ``record``'s run started, in UTC to the minute."""
    started = record.get("provenance", {}).get("started")
    if not started:
        return "at an unknown date"
    return datetime.fromisoformat(started).astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def details(record: dict[str, Any], run: NotebookRun) -> str:
    """The second line of a notebook with records: when they were made, and the parameters a
    rerun would change."""
    changed = changed_parameters(record, run)
    since = f"; parameters changed since: {', '.join(changed)}" if changed else ""
    return f"made {when(record)}{since}"


def report(root: Path, rows: list[tuple[NotebookRun, Freshness]]) -> str:
    """One line per row (profile, notebook, then its state and why), and under each notebook
    with records its ``details``."""
    records = read_records(root)
    width = max((len(run.name) for run, _ in rows), default=0)
    lines = []
    for run, state in rows:
        lines.append(f"{run.profile:<6} {run.name:<{width}}  {state.describe()}")
        record = made_record(records, run)
        if record is not None:
            lines.append(f"{'':<6} {details(record, run)}")
    return "\n".join(lines)
