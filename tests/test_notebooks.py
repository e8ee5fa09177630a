"""The claim notebooks as Colab and Binder users meet them, and the registry that names them: an
install cell that is a no-op where sdcore is importable, parameters cells generated from the
configs, thin code cells, and file paths in the docs that exist."""

from __future__ import annotations

import ast
import re
import subprocess
from pathlib import Path

import nbformat
import pytest
import yaml

from sdcore.claims import CLAIMS, NOTEBOOKS, notebooks_of
from sdcore.profiles import merged
from sdcore.report.notebook import parameters_cell
from sdcore.reproduce import collapse_injected_parameters

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
        text = (ROOT / name).read_text()
        found = [n for n in names if n in text and not name.endswith(f"{n}.ipynb")]
        assert not found, f"{name} spells {found}; take names from sdcore.claims"


PATH_PATTERN = re.compile(r"`((?:book|sdcore|parameters|experiments|benchmarks|results|tests)"
                          r"/[\w./<>-]*)`")


def named_paths(text: str) -> list[str]:
    """Backquoted repository paths named in ``text`` (placeholders like <profile> skipped)."""
    return [p.rstrip("/.") for p in PATH_PATTERN.findall(text) if "<" not in p]


def test_every_file_path_named_in_the_docs_exists():
    docs = [ROOT / "README.md", *(ROOT / "book").glob("*.md")]
    texts = {str(p.relative_to(ROOT)): p.read_text() for p in docs}
    texts["_config.yml"] = (ROOT / "_config.yml").read_text()
    for path in PATHS:
        texts[path.stem] = "\n".join(c.source for c in nbformat.read(path, as_version=4).cells
                                     if c.cell_type == "markdown")
    missing = {source: p for source, text in texts.items() for p in named_paths(text)
               if not (ROOT / p).exists()}
    assert not missing, missing
    config_refs = re.findall(r"tests/\w+\.py", texts["_config.yml"])
    assert all((ROOT / ref).is_file() for ref in config_refs), config_refs


def test_injected_parameters_cell_is_collapsed_not_removed():
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell("seeds = 3", metadata={"tags": ["injected-parameters"]}),
        nbformat.v4.new_code_cell("x = 1")])
    collapse_injected_parameters(nb)
    assert nb.cells[0].metadata["tags"] == ["injected-parameters", "hide-cell"]
    assert "tags" not in nb.cells[1].metadata
