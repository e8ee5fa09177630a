"""Shared fixtures: a throwaway copy of the project, so tests never touch the committed files.

The suite runs on parallel workers (pytest-xdist, ``-n auto`` in pyproject.toml), one per core,
each with one thread (and so every process it starts: ``OMP_NUM_THREADS=1``). A test that uses a
fixture shared beyond one test (the smoke book, a module's fixture) is grouped with the other
tests of that fixture, so that it is built once, on one worker (``pytest_xdist_make_scheduler``).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest

from sdcore.project.browser import missing

ROOT = Path(__file__).resolve().parents[1]
if os.environ.get("PYTEST_XDIST_WORKER"):  # one core per worker: torch here and in its children
    os.environ["OMP_NUM_THREADS"] = "1"
    import torch

    torch.set_num_threads(1)


GROUPS_VARIABLE = "SDCORE_TEST_GROUPS"  # the file where a worker leaves each test's group


def group_of(item: pytest.Item) -> str | None:
    """The group of a test that uses a fixture of this suite's shared beyond one test: "smoke
    book" for the smoke book's, else its module; None for a test that shares nothing."""
    shared = {name for name, defs in getattr(item, "_fixtureinfo").name2fixturedefs.items()
              if defs and defs[-1].scope in ("session", "module")
              and not defs[-1].func.__module__.startswith(("_pytest", "pytest", "xdist"))}
    if "smoke_book" in shared:
        return "smoke book"
    return item.module.__name__ if shared else None


def pytest_configure(config: pytest.Config) -> None:
    """On the controller of parallel workers: a file for the workers to say the groups in."""
    if not os.environ.get("PYTEST_XDIST_WORKER") and config.getoption("numprocesses", None):
        handle, path = tempfile.mkstemp(prefix="sdcore-test-groups-", suffix=".json")
        os.close(handle)
        os.environ[GROUPS_VARIABLE] = path


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """On a worker: write each test's group (``group_of``) where the controller reads it."""
    worker, path = os.environ.get("PYTEST_XDIST_WORKER"), os.environ.get(GROUPS_VARIABLE)
    if worker and path:
        groups = {item.nodeid: group for item in items if (group := group_of(item))}
        Path(f"{path}.{worker}").write_text(json.dumps(groups))
        os.replace(f"{path}.{worker}", path)


@pytest.hookimpl(tryfirst=True)  # before xdist's own
def pytest_xdist_make_scheduler(config: pytest.Config, log: object) -> object:
    """xdist's scope scheduling with the groups of ``group_of`` as scopes: the tests of one
    shared fixture run on one worker, which builds it once (xdist's own ``loadgroup`` cannot
    mark tests under pytest 9, whose node ids are no longer strings to append to)."""
    from xdist.scheduler import LoadScopeScheduling

    class FixtureGroups(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            if not hasattr(self, "groups"):
                self.groups = json.loads(Path(os.environ[GROUPS_VARIABLE]).read_text() or "{}")
            return self.groups.get(nodeid, nodeid)

    return FixtureGroups(config, log)


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
