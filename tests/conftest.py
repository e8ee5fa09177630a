"""Shared fixtures: a throwaway copy of the project, so tests never touch the committed files.

The suite runs on parallel workers (pytest-xdist, ``-n auto`` in pyproject.toml), one per core,
each with one thread (and so every process it starts: ``OMP_NUM_THREADS=1``). A test that uses a
fixture shared beyond one test (the smoke book, a module's fixture) is grouped with the other
tests of that fixture, so that it is built once, on one worker (``--dist loadgroup``).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from sdcore.project.browser import missing

ROOT = Path(__file__).resolve().parents[1]
if os.environ.get("PYTEST_XDIST_WORKER"):  # one core per worker: torch here and in its children
    os.environ["OMP_NUM_THREADS"] = "1"
    import torch

    torch.set_num_threads(1)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Group each test with the others that share its widest fixture (``xdist_group``): the
    smoke book's tests on one worker, a module's fixture's tests on one worker."""
    for item in items:
        shared = [(defs[-1].scope, name) for name, defs in
                  getattr(item, "_fixtureinfo").name2fixturedefs.items()
                  if defs and defs[-1].scope in ("session", "module")]
        if any(name == "smoke_book" for _, name in shared):
            item.add_marker(pytest.mark.xdist_group("smoke book"))
        elif shared:
            item.add_marker(pytest.mark.xdist_group(item.module.__name__))
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


def browser_or_skip() -> None:
    """Skip a browser test where Chromium or playwright is missing; fail it in CI (CI=true),
    which installs both."""
    message = missing()
    if message and os.environ.get("CI"):
        pytest.fail(f"the browser tests must run in CI: {message}")
    if message:
        pytest.skip(message)


def plant_foreign_folder(folder: Path) -> None:
    """A stand-in for a virtual environment inside the repository: pages the book must not read."""
    docs = folder / "lib" / "python3.11" / "site-packages" / "somepackage" / "docs"
    docs.mkdir(parents=True)
    (docs / "index.rst").write_text("Broken :ref:`nowhere`\n=====\n\n.. toctree::\n   missing\n")
    (docs / "README.md").write_text("# A package's readme\n\n[a broken link](nowhere.md)\n")
    (docs / "demo.ipynb").write_text('{"cells": [], "metadata": {}, "nbformat": 4, '
                                     '"nbformat_minor": 5}')


@dataclass
class SmokeBook:
    """A project copy where the smoke profile's models were trained as local jobs, then
    ``reproduce --profile smoke`` ran every notebook and built the book."""

    copy: Path
    train: subprocess.CompletedProcess  # python -m sdcore train --executor local --jobs 2
    trained: dict[str, float]  # run key -> mtime of its metrics.json after the jobs
    done: subprocess.CompletedProcess  # python -m sdcore reproduce --profile smoke
    runs: Path


def run_sdcore(copy: Path, runs: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "sdcore", *args], cwd=copy, capture_output=True,
                          text=True, env={**os.environ, "SDCORE_RUNS": str(runs)})


class Background:
    """``python -m sdcore ARGS`` started now on one thread, its output in files (a full pipe would
    stall it); ``wait()`` gives its ``CompletedProcess``."""

    def __init__(self, copy: Path, runs: Path, *args: str) -> None:
        self.args, logs = args, runs.parent
        self.out, self.err = (open(logs / f"{name}.log", "w+") for name in ("stdout", "stderr"))
        self.process = subprocess.Popen(
            [sys.executable, "-m", "sdcore", *args], cwd=copy, stdout=self.out, stderr=self.err,
            text=True, env={**os.environ, "SDCORE_RUNS": str(runs), "OMP_NUM_THREADS": "1"})

    def wait(self) -> subprocess.CompletedProcess:
        code = self.process.wait()
        texts = []
        for f in (self.out, self.err):
            f.seek(0)
            texts.append(f.read())
            f.close()
        return subprocess.CompletedProcess(self.args, code, *texts)


def completed_runs(runs: Path) -> dict[str, float]:
    return {p.parent.name: p.stat().st_mtime for p in runs.glob("*/metrics.json")}


@pytest.fixture(scope="session")
def smoke_book(tmp_path_factory: pytest.TempPathFactory) -> SmokeBook:
    """The smoke book (``SmokeBook``), shared by the tests that read its outputs: the smoke
    profile's models trained as two local jobs, then every notebook run and the book built. A
    fake virtual environment full of .rst, .md and .ipynb files sits in the copy: the build must
    ignore it."""
    base = tmp_path_factory.mktemp("smoke_book")
    copy, runs = base / "project", base / "runs"
    copy_project(copy)
    plant_foreign_folder(copy / "venv")
    train = run_sdcore(copy, runs, "train", "--profile", "smoke", "--executor", "local",
                       "--jobs", "2")
    trained = completed_runs(runs)
    done = Background(copy, runs, "reproduce", "--profile", "smoke").wait()
    return SmokeBook(copy, train, trained, done, runs)
