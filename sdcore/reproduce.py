"""The papermill driver: run every claim notebook of a profile, then build the book.

``reproduce(profile)`` executes the notebooks listed in ``_toc.yml`` in order, each with
``parameters/<profile>/<name>.yaml``, in a kernel named explicitly and with its output logged. A
notebook that fails stops the run with its name and cell; its partial output is kept under
``_build/papermill/`` and the committed notebook is left as it was. Executed notebooks replace those
in ``book/claims/`` (atomically, papermill's injected-parameters cell collapsed), then
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

from .linkcheck import broken_links
from .paths import project_root

KERNEL = "python3"


class ReproduceError(RuntimeError):
    """A profile, notebook or parameters file is missing, or a notebook failed."""


def toc_notebooks(root: Path) -> list[Path]:
    """The notebooks of ``_toc.yml``, in table-of-contents order."""
    toc = yaml.safe_load((root / "_toc.yml").read_text())
    found: list[Path] = []

    def walk(node: object) -> None:
        if isinstance(node, dict):
            for key in ("root", "file"):
                if isinstance(node.get(key), str):
                    path = root / node[key]
                    path = path if path.suffix else path.with_suffix(".ipynb")
                    if path.suffix == ".ipynb" and path.exists():
                        found.append(path)
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(toc)
    return found


def parameters_file(root: Path, profile: str, notebook: Path) -> Path:
    return root / "parameters" / profile / f"{notebook.stem}.yaml"


def execute(notebook: Path, parameters: Path, root: Path, dest: Path | None = None) -> Path:
    """Run ``notebook`` with ``parameters`` through papermill; if it succeeds, write the executed
    notebook to ``dest`` (default: replace ``notebook``)."""
    import nbformat
    import papermill
    from papermill.exceptions import PapermillExecutionError

    params = yaml.safe_load(parameters.read_text()) or {}
    if not isinstance(params, dict):
        raise ReproduceError(f"{parameters}: expected a mapping of parameter names to values")
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
              root: Path | None = None, output: Path | None = None) -> None:
    """Run the notebooks of ``profile`` (``only`` these), replacing those of the book and building
    it; with ``output``, write the executed notebooks there instead and build nothing."""
    root = root or project_root()
    notebooks = toc_notebooks(root)
    names = [nb.stem for nb in notebooks]
    unknown = sorted(set(only or []) - set(names))
    if unknown:
        raise ReproduceError(f"--only: unknown notebook(s) {', '.join(unknown)}; "
                             f"the table of contents has: {', '.join(names)}")
    selected = [nb for nb in notebooks if not only or nb.stem in only]
    missing = [str(parameters_file(root, profile, nb)) for nb in selected
               if not parameters_file(root, profile, nb).is_file()]
    if missing:
        profiles = sorted(p.name for p in (root / "parameters").iterdir() if p.is_dir())
        raise ReproduceError(f"profile {profile!r}: missing {', '.join(missing)} "
                             f"(profiles with parameter files: {', '.join(profiles)})")
    for nb in selected:
        start = time.perf_counter()
        print(f"== {nb.stem} ({profile})", flush=True)
        execute(nb, parameters_file(root, profile, nb), root,
                None if output is None else output / nb.name)
        print(f"== {nb.stem} done in {time.perf_counter() - start:.0f} s", flush=True)
    if build and output is None:
        build_book(root)
        print(f"book: {root / '_build' / 'html' / 'index.html'}")
