"""The claim notebooks as Colab and Binder users meet them, and the registry that names them: an
install cell that is a no-op where sdcore is importable, parameters cells generated from the
configs, thin code cells, file paths in the docs that exist, and executed pages whose outputs
name no folder of the machine that ran them."""

from __future__ import annotations

import ast
import importlib
import importlib.util
import io
import json
import re
import subprocess
import sys
import tempfile
import tokenize
from pathlib import Path

import nbformat
import pytest
import yaml

from sdcore.claims import CLAIMS, NOTEBOOKS, notebooks_of
from sdcore.project.pages import collapse_injected_parameters
from sdcore.project.profiles import merged
from sdcore.report.notebook import parameters_cell

ROOT = Path(__file__).resolve().parents[1]
PATHS = [ROOT / f"{nb.path}.ipynb" for nb in NOTEBOOKS]


def toc_files(node: object) -> list[str]:
    if isinstance(node, dict):
        return [*(v for k, v in node.items() if k in ("root", "file")),
                *(f for v in node.values() for f in toc_files(v))]
    if isinstance(node, list):
        return [f for item in node for f in toc_files(item)]
    return []


def test_toc_lists_the_registry_in_order_and_every_claim_has_a_notebook():
    files = toc_files(yaml.safe_load((ROOT / "_toc.yml").read_text()))
    assert [f for f in files if f.startswith("book/claims/")] == [nb.path for nb in NOTEBOOKS]
    assert all(notebooks_of(claim) for claim in CLAIMS)
    assert all(set(nb.claims) <= set(CLAIMS) for nb in NOTEBOOKS)
    assert [nb.module.__name__.rsplit(".", 1)[1] for nb in NOTEBOOKS] == [
        nb.name.split("_", 1)[1] for nb in NOTEBOOKS]  # module = notebook name without number


def code_cells(path: Path) -> list:
    return [c for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code"]


@pytest.mark.parametrize("path", PATHS, ids=lambda p: p.stem)
def test_install_cell_points_at_the_books_repository_and_does_nothing_here(path, monkeypatch):
    install = code_cells(path)[0]
    repository = yaml.safe_load((ROOT / "_config.yml").read_text())["repository"]["url"]
    assert f'REPOSITORY = "{repository}"' in install.source
    assert "hide-cell" in install.metadata.get("tags", [])

    def no_install(*args, **kwargs):
        raise AssertionError(f"the install cell ran pip where sdcore is importable: {args}")

    monkeypatch.setattr(subprocess, "run", no_install)
    exec(compile(install.source, "install cell", "exec"), {})


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda nb: nb.name)
def test_parameters_cell_is_generated_from_the_config_with_cpu_defaults(notebook):
    """Help texts live in the configs; `python -m sdcore parameters-cells` rewrites the cells."""
    cell = next(c for c in code_cells(ROOT / f"{notebook.path}.ipynb")
                if "parameters" in c.metadata.get("tags", []))
    assert cell.source == parameters_cell(notebook.config, merged(ROOT, "cpu", notebook.name))


@pytest.mark.parametrize("path", PATHS, ids=lambda p: p.stem)
def test_code_cells_are_thin(path):
    """No function, class, loop or branch, and imports in the setup cell only."""
    cells = [c for c in code_cells(path)[1:]
             if not {"parameters", "injected-parameters"} & set(c.metadata.get("tags", []))]
    for i, cell in enumerate(cells):
        for node in ast.walk(ast.parse(cell.source)):
            assert not isinstance(node, (ast.FunctionDef, ast.Lambda, ast.ClassDef, ast.For,
                                         ast.While, ast.If)), (path.stem, cell.source)
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                assert i == 0, (path.stem, cell.source)


def test_no_notebook_name_is_spelled_outside_the_registry():
    names = [nb.name for nb in NOTEBOOKS]
    tracked = subprocess.run(["git", "ls-files", "*.py", "*.ipynb"], cwd=ROOT,
                             capture_output=True, text=True).stdout.split()
    for name in tracked:
        if (name == "sdcore/claims/__init__.py" or name.startswith("results/")  # run artifacts
                or not (ROOT / name).is_file()):
            continue
        text = re.sub(r"\{doc\}`[^`]*`", "", (ROOT / name).read_text())  # pages link pages
        found = [n for n in names if n in text and not name.endswith(f"{n}.ipynb")]
        assert not found, f"{name} spells {found}; take names from sdcore.claims"


PATH_PATTERN = re.compile(r"(?<![\w/.<>-])((?:book|sdcore|parameters|experiments|benchmarks|"
                          r"results|tests)/[\w./<>*{}-]*[\w>}*])")
MODULE_PATTERN = re.compile(r"(?<![\w./])(sdcore(?:\.\w+)+)")
PROSE = {"parameters/buffers"}  # words that look like paths


def named_paths(text: str) -> list[str]:
    """Repository paths named in ``text`` (placeholders like <profile> or * skipped)."""
    return [p.rstrip("/.") for p in PATH_PATTERN.findall(text)
            if not set("<>*{}") & set(p) and p.rstrip("/.") not in PROSE]


def exists(path: str) -> bool:
    """A file or folder of the repository, or a page named without its suffix (as in _toc.yml)."""
    return any((ROOT / f"{path}{suffix}").exists() for suffix in ("", ".md", ".ipynb"))


def resolves(dotted: str) -> bool:
    """``sdcore.<module>[.<attribute>...]`` names an importable module and, after it, existing
    attributes."""
    parts = dotted.split(".")
    for i in range(len(parts), 0, -1):
        name = ".".join(parts[:i])
        try:
            found = importlib.util.find_spec(name) is not None
        except ModuleNotFoundError:
            found = False
        if found:
            obj = importlib.import_module(name)
            for attr in parts[i:]:
                if not hasattr(obj, attr):
                    return False
                obj = getattr(obj, attr)
            return True
    return False


def python_prose(path: Path) -> str:
    """The docstrings and comments of a Python file."""
    source = path.read_text()
    docs = [ast.get_docstring(node) or "" for node in ast.walk(ast.parse(source))
            if isinstance(node, (ast.Module, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))]
    comments = [tok.string for tok in tokenize.generate_tokens(io.StringIO(source).readline)
                if tok.type == tokenize.COMMENT]
    return "\n".join(docs + comments)


def documentation() -> dict[str, str]:
    """What the repository says in words: its Markdown, YAML and scripts, the docstrings and
    comments of its Python files, and the notebooks' cells (not their outputs)."""
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True,
                             text=True).stdout.split()
    texts = {}
    for name in tracked:
        path = ROOT / name
        if name.startswith("results/") or not path.is_file():  # run artifacts
            continue
        if name.endswith(".py"):
            texts[name] = python_prose(path)
        elif name.endswith(".ipynb"):
            texts[name] = "\n".join(c.source for c in nbformat.read(path, as_version=4).cells)
        elif name.endswith((".md", ".yml", ".yaml", ".sh", ".toml")) or name == ".ci/run":
            texts[name] = path.read_text()
    return texts


def test_every_path_and_module_named_in_the_docs_exists():
    texts = documentation()
    assert {"README.md", "sdcore/engine/train.py", "book/reproducing.md"} <= set(texts)
    missing = {(source, p) for source, text in texts.items() for p in named_paths(text)
               if not exists(p)}
    assert not missing, sorted(missing)
    unknown = {(source, m.rstrip(".")) for source, text in texts.items()
               for m in MODULE_PATTERN.findall(text) if not resolves(m.rstrip("."))}
    assert not unknown, sorted(unknown)


def test_the_docs_check_finds_what_is_missing():
    assert named_paths("see `sdcore/engine/nothing.py` and results/<profile>/x.json") == [
        "sdcore/engine/nothing.py"]
    assert not exists("sdcore/engine/nothing.py") and exists("book/intro")
    assert resolves("sdcore.engine.curvature.Hessian") and not resolves("sdcore.curvature")
    assert not resolves("sdcore.engine.train.no_such_name")


def test_no_claim_notebook_cell_holds_more_than_50_lines_of_stderr():
    for path in PATHS:
        for i, cell in enumerate(code_cells(path)):
            lines = sum(len(re.findall(r"[^\r\n]+", out.get("text", "")))
                        for out in cell.get("outputs", []) if out.get("name") == "stderr")
            assert lines <= 50, f"{path.stem} cell {i}: {lines} lines of stderr"


def test_injected_parameters_cell_is_collapsed_not_removed():
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell("seeds = 3", metadata={"tags": ["injected-parameters"]}),
        nbformat.v4.new_code_cell("x = 1")])
    collapse_injected_parameters(nb)
    assert nb.cells[0].metadata["tags"] == ["injected-parameters", "hide-cell"]
    assert "tags" not in nb.cells[1].metadata


VENV_MARKS = ("/.venv/", "site-packages/")  # an environment's files, wherever it lies


def machine_places(*folders: Path) -> list[str]:
    """The folders of this machine that no committed output may name, each ending in "/":
    ``folders``, the checkout, the Python environment, the user's home and the temp folder."""
    found = {str(f).rstrip("/") + "/" for f in (
        *folders, ROOT, Path(sys.prefix), Path(sys.base_prefix), Path.home(),
        Path(tempfile.gettempdir())) if len(Path(f).parts) > 1}  # never the root, "/"
    return sorted(found)


def machine_paths(path: Path, places: list[str]) -> list[str]:
    """Each line of a notebook's outputs (text, tables, errors; not images) that names a place
    of this machine (``machine_places``) or an environment's files, as "code cell N: line"."""
    found = []
    for i, cell in enumerate(code_cells(path)):
        for out in cell.get("outputs", []):
            data = out.get("data", {})
            texts = [out.get("text", ""), *out.get("traceback", []),
                     *(v for k, v in data.items() if not k.startswith("image/"))]
            for line in "\n".join(t if isinstance(t, str) else str(t) for t in texts).split("\n"):
                if any(mark in line for mark in (*places, *VENV_MARKS)):
                    found.append(f"code cell {i}: {line.strip()[:200]}")
    return found


def test_the_machine_path_check_finds_an_environments_and_a_folders_paths(tmp_path):
    warned = nbformat.v4.new_code_cell("run()", outputs=[nbformat.v4.new_output(
        "stream", name="stderr", text=f"{sys.prefix}/lib/python3.11/site-packages/torch/"
                                      "graph.py:1: UserWarning: ...\n")])
    printed = nbformat.v4.new_code_cell("where()", outputs=[nbformat.v4.new_output(
        "execute_result", data={"text/plain": f"'{tmp_path}/project/results'"})])
    clean = nbformat.v4.new_code_cell("fine()", outputs=[nbformat.v4.new_output(
        "stream", name="stdout", text="records in results/smoke/\n")])
    path = tmp_path / "page.ipynb"
    nbformat.write(nbformat.v4.new_notebook(cells=[warned, printed, clean]), path)
    found = machine_paths(path, machine_places(tmp_path))
    assert [line.split(":")[0] for line in found] == ["code cell 0", "code cell 1"]
    assert "/" not in machine_places() and f"{ROOT}/" in machine_places()


@pytest.mark.slow
def test_executed_notebooks_name_no_path_of_the_machine(smoke_book):
    """No output of an executed claim page names the project's folder, its run store, the Python
    environment (a library's warning names its file), the home or the temp folder: committed
    notebooks are read on other machines."""
    assert smoke_book.done.returncode == 0, smoke_book.done.stderr[-3000:]
    places = machine_places(smoke_book.copy.parent)  # the copy and its run store
    found = {nb.name: machine_paths(smoke_book.copy / f"{nb.path}.ipynb", places)
             for nb in NOTEBOOKS}
    assert not any(found.values()), {name: lines for name, lines in found.items() if lines}
    for nb in NOTEBOOKS:  # papermill's metadata names the input and output: relative to the root
        metadata = json.dumps(json.loads((smoke_book.copy / f"{nb.path}.ipynb").read_text())
                              .get("metadata", {}))
        assert not any(place in metadata for place in places), (nb.name, metadata[:500])
