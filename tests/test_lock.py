"""The environment lock: written from the running environment, checked against it, named by each
results record, and noted (never made stale) by ``status``."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from sdcore.claims import NOTEBOOKS
from sdcore.commands.cli import main
from sdcore.project.lock import (
    LOCK_FILE,
    LockError,
    differences,
    installed,
    lock_notes,
    lock_provenance,
    parse,
    render,
)
from sdcore.project.fingerprint import freshness
from sdcore.project.run import NotebookRun

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def checkout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty project root (it has a ``_toc.yml``), the working directory."""
    (tmp_path / "_toc.yml").write_text("root: book/intro\n")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_the_lock_pins_this_environment_but_not_the_checkout_or_the_installer():
    pins = {name.lower(): version for name, version in installed().items()}
    assert pins["torch"].startswith("2.14.1") and "numpy" in pins and "pytest" in pins
    assert "sdcore" not in pins and "pip" not in pins and "setuptools" in pins


def test_render_sorts_the_pins_under_a_header_that_parse_skips():
    text = render({"zipp": "3.0", "Jinja2": "3.1.4", "attrs": "25.1"})
    header = [line for line in text.splitlines() if line.startswith("#")]
    assert any("python -m sdcore lock" in line for line in header)
    assert text.splitlines()[len(header):] == ["attrs==25.1", "Jinja2==3.1.4", "zipp==3.0"]
    assert parse(text) == {"zipp": "3.0", "Jinja2": "3.1.4", "attrs": "25.1"}


def test_a_line_that_is_no_exact_pin_is_refused_with_its_place():
    with pytest.raises(LockError, match=r"requirements.lock line 2: .*'numpy>=2'"):
        parse("torch==2.14.1\nnumpy>=2\n")


def test_differences_name_changed_missing_and_unlocked_distributions():
    locked = {"numpy": "2.0.0", "scipy": "1.14.0", "Jinja2": "3.1.4"}
    here = {"numpy": "2.1.0", "jinja2": "3.1.4", "tqdm": "4.67.0"}
    assert differences(locked, here) == ["numpy: locked 2.0.0, installed 2.1.0",
                                         "scipy: locked 1.14.0, not installed",
                                         "tqdm: installed 4.67.0, not locked"]
    assert differences(here, here) == []


def test_lock_then_check_passes_and_an_edited_pin_fails_naming_it(checkout, capsys):
    assert main(["lock"]) == 0
    assert main(["lock", "--check"]) == 0
    lock = checkout / LOCK_FILE
    pins = parse(lock.read_text())
    assert pins == installed()
    lock.write_text(lock.read_text().replace(f"numpy=={pins['numpy']}", "numpy==0.0.1"))
    capsys.readouterr()
    assert main(["lock", "--check"]) == 1
    assert f"numpy: locked 0.0.1, installed {pins['numpy']}" in capsys.readouterr().out


def test_check_without_a_lock_says_how_to_write_one(checkout, capsys):
    assert main(["lock", "--check"]) == 1
    assert "python -m sdcore lock" in capsys.readouterr().err


def test_a_record_names_its_lock_and_whether_the_environment_matched(checkout):
    assert lock_provenance(checkout) is None
    main(["lock"])
    named = lock_provenance(checkout)
    assert named["file"] == LOCK_FILE and len(named["sha256"]) == 64
    assert named["environment_matches"] is True
    assert lock_notes(named, checkout) == [] and lock_notes(None, checkout) == []
    (checkout / LOCK_FILE).write_text("numpy==0.0.1\n")
    assert lock_provenance(checkout)["environment_matches"] is False
    assert lock_notes(named, checkout) == [
        f"made with another {LOCK_FILE} (sha256 {named['sha256'][:12]}, the checkout's "
        f"{lock_provenance(checkout)['sha256'][:12]})"]


def test_another_lock_is_noted_but_does_not_make_a_record_stale():
    name = NOTEBOOKS[0].name
    record = json.loads((ROOT / "results" / "cpu" / f"{name}.json").read_text())
    as_committed = freshness(record, NotebookRun(ROOT, "cpu", name))
    other = copy.deepcopy(record)
    other["provenance"]["lock"] = {"file": LOCK_FILE, "sha256": "0" * 64,
                                   "environment_matches": False}
    noted = freshness(other, NotebookRun(ROOT, "cpu", name))
    assert (noted.state, noted.reasons) == (as_committed.state, as_committed.reasons)
    assert f"made in an environment that differed from its {LOCK_FILE}" in noted.notes
    assert any(f"{LOCK_FILE}" in note and "000000000000" in note for note in noted.notes[1:])
