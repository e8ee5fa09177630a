"""Shared fixtures: a throwaway copy of the project, so tests never touch the committed files."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOT_COPIED = shutil.ignore_patterns(".git", ".venv", "runs", "_build", "data", "__pycache__",
                                    "*.egg-info", ".pytest_cache", ".whl")


@pytest.fixture
def project_copy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of the repository (sources, book, parameters) with its own results and run store."""
    copy = tmp_path / "project"
    shutil.copytree(ROOT, copy, ignore=NOT_COPIED)
    shutil.rmtree(copy / "results" / "smoke", ignore_errors=True)
    monkeypatch.setenv("SDCORE_RUNS", str(tmp_path / "runs"))
    monkeypatch.chdir(copy)
    return copy


@pytest.fixture(scope="session")
def smoke_book(tmp_path_factory: pytest.TempPathFactory
               ) -> tuple[Path, subprocess.CompletedProcess]:
    """A copy of the project in which ``python -m sdcore reproduce --profile smoke`` has run (every
    notebook, then the book build); shared by the tests that read its outputs."""
    base = tmp_path_factory.mktemp("smoke_book")
    copy = base / "project"
    shutil.copytree(ROOT, copy, ignore=NOT_COPIED)
    shutil.rmtree(copy / "results" / "smoke", ignore_errors=True)
    env = {**os.environ, "SDCORE_RUNS": str(base / "runs")}
    done = subprocess.run([sys.executable, "-m", "sdcore", "reproduce", "--profile", "smoke"],
                          cwd=copy, capture_output=True, text=True, env=env)
    return copy, done
