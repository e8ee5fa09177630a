"""The papermill driver: run the claim notebooks of a profile that are not current, then build.

``reproduce(runs)`` takes the notebook runs of one profile (``project.run.NotebookRun``, in the
registry's order) and executes each one whose results are not current (``project.fingerprint``:
its records are stale or missing, or the page does not show that run), or every one when
``asked``, each with its profile's merged parameters (``_shared.yaml`` under the notebook's own
file, read once by its run, written to ``_build/parameters/<profile>/`` and printed), in a kernel
named explicitly and with its output logged (``project.pages.execute``). A notebook that fails stops the run with its name and cell; its partial output is kept
under ``_build/papermill/`` and the committed notebook is left as it was. Executed notebooks replace
those in ``book/claims/`` (atomically, papermill's injected-parameters cell collapsed, the run's
fingerprint stamped in the metadata), then ``jupyter-book build . -W`` makes ``_build/html``, and
every internal link of it is checked. What ran and where the time went goes to
``results/<profile>/reproduce.json``: the whole run's wall time; the training jobs' wall time and,
per notebook, the training seconds of the models it is the first to plan that this run stored
(one core each); each notebook's kernel time with its record's phases (obtaining the models, the
analysis); the book build's.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import yaml

from ..engine.store import atomic_write_json
from ..project.book import build_book
from ..project.dispatch import Options, train
from ..project.pages import execute, why_run
from ..project.records import latest_record, read_records
from ..project.run import NotebookRun, chains_of


class ReproduceError(RuntimeError):
    """The notebooks asked for are not of one profile."""


def parameters_file(run: NotebookRun) -> Path:
    """Write ``run``'s merged parameters where papermill can read them (``-f``) and the user can
    see what ran; the path."""
    path = run.root / "_build" / "parameters" / run.profile / f"{run.name}.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"# merged from {run.sources()}\n"
                    + yaml.safe_dump(run.parameters, sort_keys=False))
    return path


def training_seconds(runs: list[NotebookRun], since: float) -> dict[str, float]:
    """Per notebook of ``runs``, the training seconds (``wall_s`` in each model's metrics) of
    the models it is the first to plan that were stored at or after ``since`` (a ``time.time()``)."""
    seconds: dict[str, float] = {}
    seen: set[str] = set()
    for chain in chains_of(runs):
        for spec in chain.specs:
            if spec.key in seen:
                continue
            seen.add(spec.key)
            metrics = chain.store.folder(spec.key) / "metrics.json"
            if metrics.is_file() and metrics.stat().st_mtime >= since:
                seconds[chain.notebook] = round(seconds.get(chain.notebook, 0.0) + json.loads(
                    metrics.read_text()).get("wall_s", 0.0), 1)
    return seconds


def reproduce(runs: list[NotebookRun], asked: bool = False, build: bool = True,
              output: Path | None = None, jobs: Options | None = None,
              logs: Path | None = None) -> list[str]:
    """Execute the notebook ``runs`` (of one profile) that are not current, or all of them when
    ``asked``, replacing the book's pages and building it; with ``output``, write the executed
    notebooks there instead and build nothing. With ``jobs``, the models are first trained as
    jobs (``dispatch.train``), so the notebooks load. Returns the notebooks that ran."""
    start, since = time.perf_counter(), time.time()
    if len({(run.root, run.profile) for run in runs}) > 1:
        raise ReproduceError("reproduce runs the notebooks of one profile in one checkout")
    if not runs:
        return []
    root, profile = runs[0].root, runs[0].profile
    files = {run.name: parameters_file(run) for run in runs}
    dests = {run.name: run.page if output is None else output / run.page.name for run in runs}
    records = read_records(root)
    todo = []
    for run in runs:
        why = "asked for" if asked else why_run(run, records, dests[run.name])
        print(f"== {run.name} ({profile}): " + (f"runs ({why})" if why else "current, skipped"),
              flush=True)
        if why:
            todo.append(run)
    training_wall = 0.0
    if jobs is not None and todo:
        train(todo, jobs, logs, wait=True)
        training_wall = round(time.perf_counter() - start, 1)
    seconds = {}
    for run in todo:
        began = time.perf_counter()
        print(f"== {run.name} ({profile}), parameters {files[run.name].relative_to(root)}",
              flush=True)
        execute(run, dests[run.name])
        seconds[run.name] = round(time.perf_counter() - began, 1)
        print(f"== {run.name} done in {seconds[run.name]:.0f} s", flush=True)
    built = time.perf_counter()
    if build and output is None:
        build_book(root)
        print(f"book: {root / '_build' / 'html' / 'index.html'}")
    records = read_records(root)
    phases = {run.name: (latest_record(records, run.name, run.entry.claims[0], profile)
                         or {}).get("provenance", {}).get("phases", {}) for run in todo}
    atomic_write_json({"profile": profile, "ran": seconds, "phases": phases,
                       "skipped": [run.name for run in runs if run not in todo],
                       "training": {"wall_s": training_wall,
                                    "seconds": training_seconds(todo, since)},
                       "build": build and output is None,
                       "build_s": round(time.perf_counter() - built, 1),
                       "wall_s": round(time.perf_counter() - start, 1)},
                      root / "results" / profile / "reproduce.json")
    return [run.name for run in todo]
