"""End to end, in a copy of the project: the smoke profile through papermill, and the book build."""

import json
import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.slow
NOTEBOOK = "book/claims/01_student_beats_teacher.ipynb"
SMOKE = "parameters/smoke/01_student_beats_teacher.yaml"


def run(args, cwd):
    return subprocess.run(args, cwd=cwd, capture_output=True, text=True, env=os.environ.copy())


def papermill(cwd, *extra):
    exe = os.path.join(os.path.dirname(sys.executable), "papermill")
    return run([exe, NOTEBOOK, "out.ipynb", "-f", SMOKE, "--log-output", *extra], cwd)


def test_smoke_profile_runs_every_notebook_and_builds_the_book(project_copy):
    done = run([sys.executable, "-m", "sdcore", "reproduce", "--profile", "smoke"], project_copy)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    record = json.loads((project_copy / "results/smoke/01_student_beats_teacher.json").read_text())
    assert record["claim"] == "C1" and record["profile"] == "smoke"
    assert record["verdict"] in ("holds", "fails", "inconclusive") and record["rule"]
    assert record["params"]["datasets"] == ["synthetic"]
    assert {"git_commit", "git_dirty", "torch", "device", "wall_s"} <= set(record["provenance"])
    executed = json.loads((project_copy / NOTEBOOK).read_text())
    assert all(c.get("outputs") is not None for c in executed["cells"] if c["cell_type"] == "code")
    html = project_copy / "_build" / "html"
    intro = (html / "book" / "intro.html").read_text()
    assert "claims-dashboard" in intro and f"verdict-{record['verdict']}" in intro
    assert "01_student_beats_teacher.html" in intro
    page = (html / "book" / "claims" / "01_student_beats_teacher.html").read_text()
    assert "<img" in page and record["verdict"] in page


def test_rerun_with_new_parameters_gives_a_new_result(project_copy):
    done = papermill(project_copy, "-p", "seeds", "3", "-p", "generations", "1")
    assert done.returncode == 0, done.stderr[-3000:]
    record = json.loads((project_copy / "results/smoke/01_student_beats_teacher.json").read_text())
    assert record["params"]["seeds"] == 3
    assert len(record["numbers"]["accuracy"]) == 3 * 2


@pytest.mark.parametrize("extra, message", [
    (["-p", "epochs", "-1"], "'epochs': -1 is below its minimum 1"),
    (["-p", "epoch", "3"], "unknown parameter(s) 'epoch'"),
    (["-y", "datasets: [mnist]"], "unknown dataset 'mnist'"),
    (["-p", "datasets", "mnist"], "give lists as YAML, -y 'datasets: [a, b]'"),
])
def test_bad_parameter_stops_in_validation_and_trains_nothing(project_copy, tmp_path, extra,
                                                              message):
    done = papermill(project_copy, *extra)
    assert done.returncode != 0
    assert message in done.stderr
    assert not (tmp_path / "runs").exists()
    assert not (project_copy / "results" / "smoke").exists()
