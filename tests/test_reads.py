"""One ``NotebookRun`` per notebook per command: each command reads a notebook's parameter files
once, plans it once, and works from any folder."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest

from sdcore.claims import NOTEBOOKS
from sdcore.commands import cli, reproduce
from sdcore.project import dispatch, profiles


@pytest.fixture
def reads(project_copy: Path, monkeypatch: pytest.MonkeyPatch) -> Counter:
    """Every parameters file read (``profiles.read_mapping``) and every notebook's plan made (its
    claim module's ``plan``), counted; nothing trained or executed (the jobs and papermill are
    stood in for)."""
    counted: Counter = Counter()
    real_read = profiles.read_mapping

    def read_mapping(path: Path) -> dict:
        counted[path.relative_to(project_copy).as_posix()] += 1
        return real_read(path)

    def counting(name: str, plan: Callable) -> Callable:
        def planned(config):
            counted[f"plan {name}"] += 1
            return plan(config)
        return planned

    monkeypatch.setattr(profiles, "read_mapping", read_mapping)
    for nb in NOTEBOOKS:
        monkeypatch.setattr(nb.module, "plan", counting(nb.name, nb.module.plan))
    monkeypatch.setattr(dispatch, "_run_at_most", lambda executor, work, at_once: [])
    monkeypatch.setattr(reproduce, "execute", lambda notebook_run, dest: dest)
    return counted


@pytest.mark.parametrize("command", [
    ["status", "--profile", "cpu"],  # the copy keeps the cpu records: each is checked
    ["plan", "--profile", "smoke"],
    ["train", "--profile", "smoke", "--executor", "local", "--jobs", "2"],
    ["reproduce", "--profile", "smoke", "--no-build", "--executor", "local"],
    ["parameters", "--profile", "smoke", NOTEBOOKS[0].name],
])
def test_each_command_reads_a_notebooks_parameters_and_plans_it_once(reads, project_copy,
                                                                     monkeypatch, command):
    """From a folder inside the checkout (not its root): the parameter files of each notebook the
    command works on are read once, and its plan made at most once (``reproduce --executor``
    planned C1 four times before: freshness, jobs, training times, fingerprint)."""
    monkeypatch.chdir(project_copy / "book")
    assert cli.main(command) == 0
    names = [NOTEBOOKS[0].name] if command[0] == "parameters" else [nb.name for nb in NOTEBOOKS]
    profile = command[command.index("--profile") + 1]
    shared = f"parameters/{profile}/{profiles.SHARED}"
    own = [f"parameters/{profile}/{name}.yaml" for name in names]
    assert {path: reads[path] for path in own} == {path: 1 for path in own}
    assert reads[shared] == len(names)
    plans = {name: reads[f"plan {name}"] for name in names}
    assert set(plans.values()) <= {0, 1}, plans
    assert set(reads) <= {*own, shared, *(f"plan {name}" for name in names)}


def test_all_with_only_runs_the_notebooks_named_whatever_their_state(reads, project_copy):
    """``reproduce --all --only NAME`` executes NAME alone (papermill stood in for)."""
    name = NOTEBOOKS[-1].name
    assert cli.main(["reproduce", "--profile", "smoke", "--no-build", "--all", "--only",
                     name]) == 0
    ran = json.loads((project_copy / "results" / "smoke" / "reproduce.json").read_text())["ran"]
    assert list(ran) == [name]
