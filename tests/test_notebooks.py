"""The claim notebooks as Colab and Binder users meet them: an install cell that is a no-op where
sdcore is importable, quick parameter defaults, and the skeleton the book relies on."""

from __future__ import annotations

import subprocess
from pathlib import Path

import nbformat
import pytest
import yaml

from sdcore.config import NOTEBOOK_CONFIGS
from sdcore.dashboard import CLAIMS
from sdcore.reproduce import collapse_injected_parameters, toc_notebooks

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = toc_notebooks(ROOT)


def test_every_notebook_of_the_toc_has_a_config_a_claim_and_parameters():
    names = {nb.stem for nb in NOTEBOOKS}
    assert names == set(NOTEBOOK_CONFIGS)
    assert names == {nb for _, notebooks in CLAIMS.values() for nb in notebooks}
    for profile in ("smoke", "cpu", "paper"):
        assert all((ROOT / "parameters" / profile / f"{n}.yaml").is_file() for n in names)


def code_cells(path: Path) -> list:
    return [c for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_install_cell_points_at_the_books_repository_and_does_nothing_here(path, monkeypatch):
    install = code_cells(path)[0]
    repository = yaml.safe_load((ROOT / "_config.yml").read_text())["repository"]["url"]
    assert f'REPOSITORY = "{repository}"' in install.source
    assert "hide-cell" in install.metadata.get("tags", [])

    def no_install(*args, **kwargs):
        raise AssertionError(f"the install cell ran pip where sdcore is importable: {args}")

    monkeypatch.setattr(subprocess, "run", no_install)
    exec(compile(install.source, "install cell", "exec"), {})


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_parameters_cell_defaults_are_the_quick_cpu_profile(path):
    cell = next(c for c in code_cells(path) if "parameters" in c.metadata.get("tags", []))
    namespace: dict = {}
    exec(cell.source, namespace)
    defaults = {k: v for k, v in namespace.items() if not k.startswith("__")}
    config = NOTEBOOK_CONFIGS[path.stem]
    assert set(defaults) == {r["name"] for r in config.reference()}
    cpu = yaml.safe_load((ROOT / "parameters" / "cpu" / f"{path.stem}.yaml").read_text())
    assert {k: defaults[k] for k in cpu} == cpu


def test_injected_parameters_cell_is_collapsed_not_removed():
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell("seeds = 3", metadata={"tags": ["injected-parameters"]}),
        nbformat.v4.new_code_cell("x = 1")])
    collapse_injected_parameters(nb)
    assert nb.cells[0].metadata["tags"] == ["injected-parameters", "hide-cell"]
    assert "tags" not in nb.cells[1].metadata
