"""Runs of your own (``project.own_runs``): where a run's record goes, the name it gets, and the
keys a declared setting would override, refused before anything trains."""

import json

import pytest
from papermill.inspection import inspect_notebook

from sdcore.claims import NOTEBOOKS, student_beats_teacher
from sdcore.claims.config import ConfigError
from sdcore.paths import project_root
from sdcore.project.own_runs import check_overrides, derived_name, place
from sdcore.project.profiles import merged
from sdcore.project.run import NotebookRun, parameters_cell_values

C1 = NOTEBOOKS[0]


def smoke_config(**changes):
    root = project_root()
    params = {**parameters_cell_values(root / f"{C1.path}.ipynb"),
              **merged(root, "smoke", C1.name), **changes}
    return student_beats_teacher.Config.from_params(params)


def smoke_run(**changes):
    """The run a kernel makes of the smoke profile's C1 notebook with ``changes`` injected."""
    return NotebookRun.of_config(smoke_config(**changes), project_root())


def test_the_profiles_own_parameters_write_the_profiles_results():
    where = place(smoke_run(run_store="/elsewhere", train_missing=False, device="cpu"))
    assert not where.own and where.folder == project_root() / "results" / "smoke"
    assert "its profile's parameters" in where.describe(project_root())


def test_a_changed_key_makes_a_run_of_your_own_named_by_it():
    where = place(smoke_run(temperature=2.0, generations=1))
    assert where.own and where.name == "smoke-temperature=2.0-generations=1"
    assert where.folder == project_root() / "results" / "own" / where.name
    assert where.changes == {"temperature": (4.0, 2.0), "generations": (2, 1)}
    text = where.describe(project_root())
    assert "temperature: 4.0 → 2.0" in text and "never to the book's results/" in text


def test_a_given_name_is_used_even_with_the_profiles_parameters():
    where = place(smoke_run(run_name="mine"))
    assert where.own and where.folder.name == "mine" and not where.changes


def test_a_profile_without_parameters_files_is_a_run_of_your_own():
    where = place(smoke_run(profile="laptop"))
    assert where.own and where.name == "laptop"


def test_long_names_are_cut_with_a_digest():
    changed = {f"key{i}": (0, i * 1000) for i in range(30)}
    name = derived_name("cpu", changed)
    assert len(name) == 80 and name != derived_name("cpu", {**changed, "key0": (0, 1)})
    assert derived_name("cpu", {"settings": ([], [{"name": "a"}])}) == "cpu-settings=changed"


def test_a_key_the_settings_set_themselves_is_refused_with_the_fix():
    with pytest.raises(ConfigError) as refused:
        check_overrides(smoke_run(seeds=3))
    message = str(refused.value)
    assert "parameter 'seeds' = 3 would change nothing" in message
    assert "synthetic-noaug: 4" in message and "name: synthetic-noaug, augment: false, seeds: 3" \
        in message
    check_overrides(smoke_run(temperature=2.0))  # no setting sets it: applies to all


def test_yes_and_no_given_as_text_are_answers():
    assert smoke_config(train_missing="false").train_missing is False
    assert smoke_config(augment="True").augment is True
    with pytest.raises(ConfigError, match="'train_missing': expected bool, got str 'no'"):
        smoke_config(train_missing="no")


def test_an_unknown_key_suggests_the_close_one():
    with pytest.raises(ConfigError, match=r"unknown parameter\(s\) 'temprature' \(did you mean "
                                          r"'temperature'\?\)"):
        smoke_config(temprature=2.0)


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda nb: nb.name)
def test_papermill_help_lists_each_parameters_type(notebook):
    inferred = inspect_notebook(str(project_root() / f"{notebook.path}.ipynb"))
    types = {name: p["inferred_type_name"] for name, p in inferred.items()}
    assert types and "None" not in types.values(), types
    rows = {row["name"]: row["type"] for row in notebook.config.reference()}
    assert types == rows


def test_the_record_of_an_own_run_names_it(project_copy):
    from datetime import datetime, timezone

    from sdcore.project.records import write_record

    where = place(smoke_run(temperature=2.0))
    record = write_record(claim="C1", notebook=C1.name, profile="smoke", verdict="holds",
                          rule="r", numbers={}, params={}, parameters="p", device="cpu",
                          started=datetime.now(timezone.utc), fingerprint={},
                          folder=where.folder, run=where.name)
    stored = json.loads((where.folder / f"{C1.name}.json").read_text())
    assert stored["run"] == record["run"] == "smoke-temperature=2.0"
    assert not (project_copy / "results" / "smoke").exists()


def test_the_dashboard_reads_runs_of_your_own_only_when_asked(tmp_path):
    from sdcore.project.records import own_records

    folder = tmp_path / "results" / "own" / "t2"
    folder.mkdir(parents=True)
    (folder / f"{C1.name}.json").write_text(json.dumps(
        {"claim": "C1", "notebook": C1.name, "profile": "cpu", "verdict": "holds", "run": "t2"}))
    assert own_records(tmp_path, "") == []
    assert [r["profile"] for r in own_records(tmp_path, "all")] == ["t2 (cpu)"]
    assert own_records(tmp_path, " t2 ")[0]["verdict"] == "holds"
    with pytest.raises(ValueError, match="no run of your own called 't3' .* there are: t2"):
        own_records(tmp_path, "t2,t3")
