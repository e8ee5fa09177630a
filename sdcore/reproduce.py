"""The papermill driver: run the claim notebooks of a profile that are not current, then build.

``reproduce(profile)`` takes the registry's notebooks in order and runs each one whose results
are not current (``report.fingerprint``: its records are stale or missing, or the page does not
show that run), or every one with ``everything``, each with its profile's merged parameters
(``profiles.merged``: ``_shared.yaml`` under the notebook's own file, written to
``_build/parameters/<profile>/`` and printed), in a kernel named explicitly and with its output
logged. A notebook that fails stops the run with its name and cell; its partial output is kept
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
import os
import shutil
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import yaml

from .claims import NOTEBOOKS
from .claims import notebook as notebook_entry
from .dispatch import Options, train
from .engine.store import atomic_write_json
from .linkcheck import broken_links
from .paths import project_root
from .plan import profile_chains
from .profiles import ProfileError, merged, parameter_files, read_mapping
from .report.fingerprint import digest, notebook_freshness
from .report.notebook import parameters_cell
from .report.records import latest_record, read_records

KERNEL = "python3"


class ReproduceError(RuntimeError):
    """A profile, notebook or parameters file is missing, or a notebook failed."""


def merged_parameters_file(root: Path, profile: str, notebook: str) -> Path:
    """Write ``notebook``'s merged parameters at ``profile`` where papermill can read them."""
    path = root / "_build" / "parameters" / profile / f"{notebook}.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    sources = " + ".join(str(p.relative_to(root)) for p in parameter_files(root, profile, notebook))
    path.write_text(f"# merged from {sources}\n"
                    + yaml.safe_dump(merged(root, profile, notebook), sort_keys=False))
    return path


@contextmanager
def checkout_first(root: Path) -> Iterator[None]:
    """Put ``root`` first on ``PYTHONPATH`` for the block, so that the kernels and the book
    build it starts import the checkout's own sdcore, whatever is installed."""
    before = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(root), before]))
    try:
        yield
    finally:
        if before is None:
            del os.environ["PYTHONPATH"]
        else:
            os.environ["PYTHONPATH"] = before


def execute(notebook: Path, params: dict[str, Any], root: Path, dest: Path | None = None) -> Path:
    """Run ``notebook`` with ``params`` through papermill; if it succeeds, write the executed
    notebook to ``dest`` (default: replace ``notebook``), the stamp of the run it made
    (``run_stamp``) in its ``sdcore`` metadata."""
    import nbformat
    import papermill
    from papermill.exceptions import PapermillExecutionError

    out = root / "_build" / "papermill" / notebook.name
    out.parent.mkdir(parents=True, exist_ok=True)
    try:
        with checkout_first(root):
            papermill.execute_notebook(str(notebook), str(out), parameters=params,
                                       kernel_name=KERNEL, log_output=True, progress_bar=False,
                                       cwd=str(root))
    except PapermillExecutionError as err:
        raise ReproduceError(
            f"notebook {notebook.stem} failed in cell {err.cell_index} ({err.ename}: "
            f"{err.evalue}); its partial output is in {out}; {notebook} is unchanged") from err
    dest = dest or notebook
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.tmp")
    executed = collapse_injected_parameters(nbformat.read(out, as_version=4))
    executed.metadata["sdcore"] = run_stamp(root, params.get("profile", ""), notebook.stem)
    nbformat.write(executed, tmp)
    os.replace(tmp, dest)
    return dest


def write_parameters_cells(root: Path, profile: str = "cpu") -> list[str]:
    """Rewrite each notebook's parameters cell from its config (``report.notebook.
    parameters_cell``) with ``profile``'s values as defaults; return the notebooks changed."""
    import nbformat
    changed = []
    for nb in NOTEBOOKS:
        path = root / f"{nb.path}.ipynb"
        notebook = nbformat.read(path, as_version=4)
        cell = next(c for c in notebook.cells if "parameters" in c.metadata.get("tags", []))
        source = parameters_cell(nb.config, merged(root, profile, nb.name))
        if cell.source != source:
            cell.source = source
            nbformat.write(notebook, path)
            changed.append(nb.name)
    return changed


def collapse_injected_parameters(nb: Any) -> Any:
    """Tag papermill's injected-parameters cell ``hide-cell``: kept, but collapsed on the page."""
    for cell in nb.cells:
        tags = cell.metadata.get("tags", [])
        if "injected-parameters" in tags and "hide-cell" not in tags:
            cell.metadata["tags"] = [*tags, "hide-cell"]
    return nb


def build_book(root: Path, builder: str = "html") -> Path:
    """``jupyter-book build . -W`` (warnings are errors) with a Sphinx builder of jupyter-book's
    (``html``: one page per file; ``singlehtml``: the whole book on one page); its output folder,
    ``_build/<builder>``. The internal links of an ``html`` build are then checked (a singlehtml
    page lies at its root document's path, its links written for the top folder: ``pdf``)."""
    exe = Path(sys.executable).with_name("jupyter-book")
    if not exe.exists() and shutil.which("jupyter-book") is None:
        raise ReproduceError("building the book needs jupyter-book, in sdcore's book extra: pip "
                             "install -e '.[book]' (or give --no-build)")
    cmd = [str(exe) if exe.exists() else "jupyter-book", "build", str(root), "-W", "-n",
           "--keep-going", *(["--builder", builder] if builder != "html" else [])]
    print("$", " ".join(cmd), flush=True)
    with checkout_first(root):  # the book's extension (dashboard, badges) imports sdcore
        built = subprocess.run(cmd, cwd=root).returncode == 0
    if not built:
        raise ReproduceError("jupyter-book build failed (warnings count as errors); see above")
    output = root / "_build" / builder
    broken = broken_links(output) if builder == "html" else []
    if broken:
        raise ReproduceError("broken internal links in the built book:\n  " + "\n  ".join(broken))
    return output


def page_stamp(page: Path) -> dict[str, Any] | None:
    """The ``sdcore`` metadata of an executed notebook: the profile and fingerprint of its run."""
    import nbformat
    try:
        return nbformat.read(page, as_version=4).metadata.get("sdcore")
    except (OSError, ValueError):
        return None


def run_stamp(root: Path, profile: str, name: str) -> dict[str, Any]:
    """The stamp of notebook ``name``'s latest run at ``profile``: its record's fingerprint."""
    record = latest_record(read_records(root), name, notebook_entry(name).claims[0], profile)
    made_by = (record or {}).get("fingerprint")
    return {"profile": profile, "fingerprint": None if made_by is None else digest(made_by)}


def why_run(root: Path, profile: str, name: str, page: Path) -> str | None:
    """Why notebook ``name`` must run at ``profile`` to update ``page``, or None if it is
    current: its records fresh, and the page showing that run."""
    state = notebook_freshness(read_records(root), root, profile, name)
    if state.state != "fresh":
        return state.describe()
    if page_stamp(page) != run_stamp(root, profile, name):
        shown = page.relative_to(root) if page.is_relative_to(root) else page
        return f"fresh records, but {shown} does not show that run"
    return None


def training_seconds(root: Path, profile: str, names: list[str], since: float) -> dict[str, float]:
    """Per notebook of ``names``, the training seconds (``wall_s`` in each model's metrics) of
    the models it is the first to plan that were stored at or after ``since`` (a ``time.time()``)."""
    seconds: dict[str, float] = {}
    seen: set[str] = set()
    for chain in profile_chains(root, profile, names):
        for spec in chain.specs:
            if spec.key in seen:
                continue
            seen.add(spec.key)
            metrics = chain.store.folder(spec.key) / "metrics.json"
            if metrics.is_file() and metrics.stat().st_mtime >= since:
                seconds[chain.notebook] = round(seconds.get(chain.notebook, 0.0) + json.loads(
                    metrics.read_text()).get("wall_s", 0.0), 1)
    return seconds


def reproduce(profile: str, only: list[str] | None = None, build: bool = True,
              root: Path | None = None, output: Path | None = None,
              jobs: Options | None = None, logs: Path | None = None,
              everything: bool = False) -> list[str]:
    """Run the notebooks of ``profile`` (``only`` these) that are not current, or all of them
    with ``everything`` (``only`` names notebooks to run whatever their state), replacing those
    of the book and building it; with ``output``, write the executed notebooks there instead and
    build nothing. With ``jobs``, the models are first trained as jobs (``dispatch.train``), so
    the notebooks load. Returns the notebooks that ran."""
    start, since = time.perf_counter(), time.time()
    root = root or project_root()
    names = [nb.name for nb in NOTEBOOKS]
    unknown = sorted(set(only or []) - set(names))
    if unknown:
        raise ReproduceError(f"--only: unknown notebook(s) {', '.join(unknown)}; "
                             f"the book has: {', '.join(names)}")
    selected = [name for name in names if not only or name in only]
    try:
        files = {name: merged_parameters_file(root, profile, name) for name in selected}
    except ProfileError as err:
        raise ReproduceError(str(err)) from None
    pages = {name: root / f"{notebook_entry(name).path}.ipynb" for name in selected}
    dests = {name: pages[name] if output is None else output / pages[name].name
             for name in selected}
    todo = []
    for name in selected:
        why = "asked for" if everything or only else why_run(root, profile, name, dests[name])
        print(f"== {name} ({profile}): " + (f"runs ({why})" if why else "current, skipped"),
              flush=True)
        if why:
            todo.append(name)
    training_wall = 0.0
    if jobs is not None and todo:
        train(root, profile, jobs, todo, logs, wait=True)
        training_wall = round(time.perf_counter() - start, 1)
    seconds = {}
    for name in todo:
        began = time.perf_counter()
        print(f"== {name} ({profile}), parameters {files[name].relative_to(root)}", flush=True)
        execute(pages[name], read_mapping(files[name]), root, dests[name])
        seconds[name] = round(time.perf_counter() - began, 1)
        print(f"== {name} done in {seconds[name]:.0f} s", flush=True)
    built = time.perf_counter()
    if build and output is None:
        build_book(root)
        print(f"book: {root / '_build' / 'html' / 'index.html'}")
    records = read_records(root)
    phases = {name: (latest_record(records, name, notebook_entry(name).claims[0], profile)
                     or {}).get("provenance", {}).get("phases", {}) for name in todo}
    atomic_write_json({"profile": profile, "ran": seconds, "phases": phases,
                       "skipped": [n for n in selected if n not in todo],
                       "training": {"wall_s": training_wall,
                                    "seconds": training_seconds(root, profile, todo, since)},
                       "build": build and output is None,
                       "build_s": round(time.perf_counter() - built, 1),
                       "wall_s": round(time.perf_counter() - start, 1)},
                      root / "results" / profile / "reproduce.json")
    return todo
