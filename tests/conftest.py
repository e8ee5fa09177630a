"""Shared fixtures: a throwaway copy of the project, so tests never touch the committed files."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOT_COPIED = shutil.ignore_patterns(".git", ".venv", "venv", "runs", "_build", "data",
                                    "__pycache__", "*.egg-info", ".pytest_cache", ".whl")


def copy_project(destination: Path) -> None:
    """Copy the files git tracks (as they are in the working tree) to ``destination``; outside a
    git checkout, everything but environments, data, run stores and build outputs."""
    listed = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True)
    if listed.returncode != 0:
        shutil.copytree(ROOT, destination, ignore=NOT_COPIED)
        return
    for name in filter(None, listed.stdout.decode().split("\0")):
        source = ROOT / name
        if source.is_file():  # a tracked file deleted in the working tree stays deleted
            (destination / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, destination / name)


@pytest.fixture
def project_copy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of the repository (sources, book, parameters) with its own results and run store."""
    copy = tmp_path / "project"
    copy_project(copy)
    shutil.rmtree(copy / "results" / "smoke", ignore_errors=True)
    monkeypatch.setenv("SDCORE_RUNS", str(tmp_path / "runs"))
    monkeypatch.chdir(copy)
    return copy


def plant_foreign_folder(folder: Path) -> None:
    """A stand-in for a virtual environment inside the repository: pages the book must not read."""
    docs = folder / "lib" / "python3.11" / "site-packages" / "somepackage" / "docs"
    docs.mkdir(parents=True)
    (docs / "index.rst").write_text("Broken :ref:`nowhere`\n=====\n\n.. toctree::\n   missing\n")
    (docs / "README.md").write_text("# A package's readme\n\n[a broken link](nowhere.md)\n")
    (docs / "demo.ipynb").write_text('{"cells": [], "metadata": {}, "nbformat": 4, '
                                     '"nbformat_minor": 5}')


@pytest.fixture(scope="session")
def smoke_book(tmp_path_factory: pytest.TempPathFactory
               ) -> tuple[Path, subprocess.CompletedProcess]:
    """A copy of the project in which ``python -m sdcore reproduce --profile smoke`` has run (every
    notebook, then the book build); shared by the tests that read its outputs. A fake virtual
    environment full of .rst, .md and .ipynb files sits in the copy: the build must ignore it."""
    base = tmp_path_factory.mktemp("smoke_book")
    copy = base / "project"
    copy_project(copy)
    plant_foreign_folder(copy / "venv")
    shutil.rmtree(copy / "results" / "smoke", ignore_errors=True)
    env = {**os.environ, "SDCORE_RUNS": str(base / "runs")}
    done = subprocess.run([sys.executable, "-m", "sdcore", "reproduce", "--profile", "smoke"],
                          cwd=copy, capture_output=True, text=True, env=env)
    return copy, done
