"""Records know what made them: a changed rule, parameter or engine module makes exactly the
notebooks that depend on it stale, the book says so, and ``reproduce`` reruns those alone."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
from conftest import run_sdcore

from sdcore.claims import (
    NOTEBOOKS,
    amplified_regularization,
    multi_view,
    notebook,
    notebook_of_module,
    student_beats_teacher,
)
from sdcore.commands.status import statuses
from sdcore.project.book import build_book
from sdcore.project.fingerprint import code_files, source_digest
from sdcore.project.records import read_records

ROOT = Path(__file__).resolve().parents[1]
C1, C2_THEORY, C2_VIEWS = (notebook_of_module(m).name for m in (
    student_beats_teacher, amplified_regularization, multi_view))


def test_a_notebooks_code_is_its_module_and_what_that_imports():
    files = {p.relative_to(ROOT).as_posix() for p in code_files(
        Path(notebook(C2_THEORY).module.__file__))}
    assert {"sdcore/claims/amplified_regularization.py", "sdcore/engine/theory.py",
            "sdcore/engine/train.py", "sdcore/engine/store.py"} <= files
    assert "sdcore/engine/theory.py" not in {p.relative_to(ROOT).as_posix() for p in code_files(
        Path(notebook(C1).module.__file__))}
    assert not any(f.startswith("sdcore/claims/") and f.endswith(("multi_view.py",
                                                                   "flatter_minima.py"))
                   for f in files)


def test_docstrings_and_comments_do_not_change_a_files_digest(tmp_path):
    a, b, c = (tmp_path / n for n in ("a.py", "b.py", "c.py"))
    a.write_text('"""One."""\n\ndef f(x):\n    """Doc."""\n    return x + 1\n')
    b.write_text('"""Two."""\n# a comment\n\ndef f(x):\n    return x + 1  # still\n')
    c.write_text('"""One."""\n\ndef f(x):\n    """Doc."""\n    return x + 2\n')
    assert source_digest(a) == source_digest(b) != source_digest(c)


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, (path, old)
    path.write_text(text.replace(old, new, 1))


@pytest.fixture(scope="module")
def changed_copy(smoke_book, tmp_path_factory):
    """A copy of the smoke book after its run, with three changes: C1's rule text, a parameter
    of 02b, and engine/theory.py (which only 02a imports)."""
    assert smoke_book.done.returncode == 0, smoke_book.done.stderr[-3000:]
    base = tmp_path_factory.mktemp("changed")
    copy, runs = base / "project", base / "runs"
    shutil.copytree(smoke_book.copy, copy, symlinks=True)
    shutil.copytree(smoke_book.runs, runs)  # its own store: the smoke book's stays as it was
    edit(copy / "sdcore/claims/student_beats_teacher.py", "inconclusive otherwise (the headline",
         "inconclusive otherwise (reworded; the headline")
    edit(copy / f"parameters/smoke/{C2_VIEWS}.yaml", "ensemble_average: logits",
         "ensemble_average: probabilities")
    edit(copy / "sdcore/engine/theory.py", "    return np.exp(", "    return 1.0 * np.exp(")
    return copy, runs


def test_after_a_full_run_every_smoke_notebook_is_fresh(smoke_book):
    rows = statuses(smoke_book.copy, ["smoke"])
    assert [(run.name, s.state) for run, s in rows] == [(nb.name, "fresh") for nb in NOTEBOOKS]
    check = run_sdcore(smoke_book.copy, smoke_book.runs, "status", "--profile", "smoke",
                       "--check")
    assert check.returncode == 0, check.stdout + check.stderr


def test_status_names_what_changed_and_check_fails(changed_copy):
    copy, runs = changed_copy
    done = run_sdcore(copy, runs, "status", "--profile", "smoke", "--check")
    assert done.returncode == 1
    lines = {line.split()[1]: line for line in done.stdout.splitlines()}
    assert "stale: rule of C1 changed" in lines[C1]  # and its module's code, which holds it
    assert "stale: parameters changed" in lines[C2_VIEWS]
    assert lines[C2_THEORY].endswith("stale: code changed (sdcore/engine/theory.py)")
    for name in {nb.name for nb in NOTEBOOKS} - {C1, C2_THEORY, C2_VIEWS}:
        assert lines[name].split()[2] == "fresh", lines[name]


def stale_lines(copy: Path, runs: Path) -> list[str]:
    """The stale lines of ``status`` for every profile, as the copy's own code sees them."""
    done = run_sdcore(copy, runs, "status")
    return [line for line in done.stdout.splitlines() if line.split()[2] == "stale:"]


def test_the_built_book_marks_the_stale_verdicts_with_their_reasons(changed_copy):
    copy, runs = changed_copy
    build_book(copy)
    intro = (copy / "_build/html/book/intro.html").read_text()
    beneath = intro[intro.index("Stale at the smoke profile: "):]
    beneath = beneath[:beneath.index(".")]
    assert all(reason in beneath for reason in ("rule of C1 changed", "parameters changed",
                                                "code changed"))
    assert "code changed (sdcore/engine/theory.py)" in intro  # on hover, with the files
    page = (copy / f"_build/html/book/claims/{C1}.html").read_text()
    assert "C1: " in page and "(stale)" in page and "rule of C1 changed" in page
    # every stale record of the committed profiles (e.g. gpu records made by older code) too
    for line in stale_lines(copy, runs):
        first_reason = line.split("stale: ", 1)[1].split("; ")[0]
        first_reason = re.split(r" \((?:made|data) ", first_reason)[0]  # the notes aside
        assert first_reason in intro, line


def test_reproduce_reruns_the_stale_notebooks_alone(changed_copy):
    """C1's rule edited back (its records are fresh again, so C1, the longest, stays out): the
    notebooks of the other two changes rerun, and only they."""
    copy, runs = changed_copy
    edit(copy / "sdcore/claims/student_beats_teacher.py", "inconclusive otherwise (reworded; the "
         "headline", "inconclusive otherwise (the headline")
    before = {n: json.loads((copy / f"results/smoke/{n}.json").read_text())["provenance"]
              ["started"] for n in (nb.name for nb in NOTEBOOKS)}
    done = run_sdcore(copy, runs, "reproduce", "--profile", "smoke", "--no-build")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    timings = json.loads((copy / "results/smoke/reproduce.json").read_text())
    ran = timings["ran"]
    assert sorted(ran) == sorted([C2_THEORY, C2_VIEWS])
    assert sorted(timings["phases"]) == sorted(ran) and timings["build_s"] >= 0
    assert set(timings["training"]["seconds"]) <= set(ran)  # models this run stored, by notebook
    for nb in NOTEBOOKS:
        started = json.loads((copy / f"results/smoke/{nb.name}.json").read_text())[
            "provenance"]["started"]
        assert (started != before[nb.name]) == (nb.name in ran), nb.name
    assert "current, skipped" in done.stdout
    assert not [line for line in stale_lines(copy, runs) if line.startswith("smoke")]
    again = run_sdcore(copy, runs, "reproduce", "--profile", "smoke", "--no-build")
    assert again.returncode == 0
    assert json.loads((copy / "results/smoke/reproduce.json").read_text())["ran"] == {}


def test_records_carry_a_fingerprint_of_what_made_them(smoke_book):
    records = [r for r in read_records(smoke_book.copy) if r["profile"] == "smoke"]
    assert records
    for record in records:
        made = record["fingerprint"]
        assert set(made) >= {"parameters", "rules", "code", "data", "models"}
        assert record["claim"] in made["rules"] and made["data"]["synthetic"]
        assert f"{notebook(record['notebook']).path}.ipynb (code cells)" in made["code"]
        assert "git_commit" in record["provenance"]  # None outside a git checkout
