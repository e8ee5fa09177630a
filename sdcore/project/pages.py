"""Executing a claim notebook with papermill and stamping the page with the run it shows.

``execute`` runs a notebook in the kernel ``KERNEL`` (the checkout first on ``PYTHONPATH``) and, if it
succeeds, writes the executed notebook atomically, papermill's injected-parameters cell collapsed and
the stamp of the run it made (its record's fingerprint) in its ``sdcore`` metadata; ``why_run`` says
why a page is not current. Cost: the notebook's own run.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from .book import checkout_first
from .fingerprint import digest, notebook_freshness
from .records import latest_record, read_records
from .run import NotebookRun

KERNEL = "python3"


class ExecutionError(RuntimeError):
    """A notebook failed in papermill."""


def execute(run: NotebookRun, dest: Path | None = None) -> Path:
    """Run ``run``'s page through papermill with its parameters (``NotebookRun.injected``); if it
    succeeds, write the executed notebook to ``dest`` (default: replace the page), the stamp of
    the run it made (``run_stamp``) in its ``sdcore`` metadata."""
    import nbformat
    import papermill
    from papermill.exceptions import PapermillExecutionError

    notebook, root = run.page, run.root

    out = root / "_build" / "papermill" / notebook.name
    out.parent.mkdir(parents=True, exist_ok=True)
    try:
        with checkout_first(root):
            papermill.execute_notebook(str(notebook), str(out), parameters=run.injected,
                                       kernel_name=KERNEL, log_output=True, progress_bar=False,
                                       cwd=str(root))
    except PapermillExecutionError as err:
        raise ExecutionError(
            f"notebook {notebook.stem} failed in cell {err.cell_index} ({err.ename}: "
            f"{err.evalue}); its partial output is in {out}; {notebook} is unchanged") from err
    dest = dest or notebook
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.tmp")
    executed = collapse_injected_parameters(nbformat.read(out, as_version=4))
    executed.metadata["sdcore"] = run_stamp(run, read_records(root))
    relative_paths(executed.metadata.get("papermill", {}), root)
    nbformat.write(executed, tmp)
    os.replace(tmp, dest)
    return dest


def relative_paths(papermill: dict[str, Any], root: Path) -> None:
    """Papermill's ``input_path`` and ``output_path`` made relative to the checkout: no machine's
    folders in a committed notebook."""
    for key in ("input_path", "output_path"):
        path = Path(papermill.get(key) or "")
        if path.is_absolute() and path.is_relative_to(root):
            papermill[key] = path.relative_to(root).as_posix()


def collapse_injected_parameters(nb: Any) -> Any:
    """Tag papermill's injected-parameters cell ``hide-cell``: kept, but collapsed on the page."""
    for cell in nb.cells:
        tags = cell.metadata.get("tags", [])
        if "injected-parameters" in tags and "hide-cell" not in tags:
            cell.metadata["tags"] = [*tags, "hide-cell"]
    return nb


def page_stamp(page: Path) -> dict[str, Any] | None:
    """The ``sdcore`` metadata of an executed notebook: the profile and fingerprint of its run."""
    import nbformat
    try:
        return nbformat.read(page, as_version=4).metadata.get("sdcore")
    except (OSError, ValueError):
        return None


def run_stamp(run: NotebookRun, records: list[dict[str, Any]]) -> dict[str, Any]:
    """The stamp of ``run``'s notebook's latest run at its profile, among ``records``
    (``read_records``): its record's fingerprint."""
    record = latest_record(records, run.name, run.entry.claims[0], run.profile)
    made_by = (record or {}).get("fingerprint")
    return {"profile": run.profile, "fingerprint": None if made_by is None else digest(made_by)}


def why_run(run: NotebookRun, records: list[dict[str, Any]], page: Path) -> str | None:
    """Why ``run`` must execute to update ``page``, or None if it is current: its records
    (among ``records``) fresh, and the page showing that run."""
    state = notebook_freshness(records, run)
    if state.state != "fresh":
        return state.describe()
    if page_stamp(page) != run_stamp(run, records):
        shown = page.relative_to(run.root) if page.is_relative_to(run.root) else page
        return f"fresh records, but {shown} does not show that run"
    return None
