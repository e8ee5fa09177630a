"""The papermill driver: run every claim notebook of a profile, then build the book.

``reproduce(profile)`` executes the registry's notebooks in order, each with its profile's merged
parameters (``profiles.merged``: ``_shared.yaml`` under the notebook's own file, written to
``_build/parameters/<profile>/`` and printed), in a kernel named explicitly and with its output
logged. A notebook that fails stops the run with its name and cell; its partial output is kept
under ``_build/papermill/`` and the committed notebook is left as it was. Executed notebooks replace
those in ``book/claims/`` (atomically, papermill's injected-parameters cell collapsed), then
``jupyter-book build . -W`` makes ``_build/html``, and every internal link of it is checked.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import yaml

from .claims import NOTEBOOKS
from .claims import notebook as notebook_entry
from .dispatch import Options, train
from .linkcheck import broken_links
from .paths import project_root
from .profiles import ProfileError, merged, parameter_files, read_mapping
from .report.notebook import parameters_cell

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


def execute(notebook: Path, parameters: Path, root: Path, dest: Path | None = None) -> Path:
    """Run ``notebook`` with ``parameters`` through papermill; if it succeeds, write the executed
    notebook to ``dest`` (default: replace ``notebook``)."""
    import nbformat
    import papermill
    from papermill.exceptions import PapermillExecutionError

    params = read_mapping(parameters)
    out = root / "_build" / "papermill" / notebook.name
    out.parent.mkdir(parents=True, exist_ok=True)
    try:
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
    nbformat.write(collapse_injected_parameters(nbformat.read(out, as_version=4)), tmp)
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


def build_book(root: Path) -> None:
    """``jupyter-book build . -W``: warnings are errors."""
    exe = Path(sys.executable).with_name("jupyter-book")
    cmd = [str(exe) if exe.exists() else "jupyter-book", "build", str(root), "-W", "-n",
           "--keep-going"]
    print("$", " ".join(cmd), flush=True)
    if subprocess.run(cmd, cwd=root).returncode != 0:
        raise ReproduceError("jupyter-book build failed (warnings count as errors); see above")
    broken = broken_links(root / "_build" / "html")
    if broken:
        raise ReproduceError("broken internal links in the built book:\n  " + "\n  ".join(broken))


def reproduce(profile: str, only: list[str] | None = None, build: bool = True,
              root: Path | None = None, output: Path | None = None,
              jobs: Options | None = None, logs: Path | None = None) -> None:
    """Run the notebooks of ``profile`` (``only`` these), replacing those of the book and building
    it; with ``output``, write the executed notebooks there instead and build nothing. With
    ``jobs``, the models are first trained as jobs (``dispatch.train``), so the notebooks load."""
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
    if jobs is not None:
        train(root, profile, jobs, selected, logs, wait=True)
    for name in selected:
        start = time.perf_counter()
        notebook = root / f"{notebook_entry(name).path}.ipynb"
        print(f"== {name} ({profile}), parameters {files[name].relative_to(root)}", flush=True)
        execute(notebook, files[name], root, None if output is None else output / notebook.name)
        print(f"== {name} done in {time.perf_counter() - start:.0f} s", flush=True)
    if build and output is None:
        build_book(root)
        print(f"book: {root / '_build' / 'html' / 'index.html'}")
