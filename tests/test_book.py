"""End to end, in a copy of the project: the smoke profile through papermill, and the book build."""

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import completed_runs, copy_project

from sdcore.claims import NOTEBOOKS, notebooks_of

pytestmark = pytest.mark.slow
C1 = NOTEBOOKS[0]
NOTEBOOK = f"{C1.path}.ipynb"
SMOKE = ["-f", "parameters/smoke/_shared.yaml", "-f", f"parameters/smoke/{C1.name}.yaml"]


def run(args, cwd, env=None):
    return subprocess.run(args, cwd=cwd, capture_output=True, text=True,
                          env=env or os.environ.copy())


def papermill_exe() -> str:
    return os.path.join(os.path.dirname(sys.executable), "papermill")


def papermill(cwd, *extra):
    return run([papermill_exe(), NOTEBOOK, "out.ipynb", *SMOKE, "--log-output", *extra], cwd)


def test_smoke_profile_runs_every_notebook_and_builds_the_book(smoke_book):
    copy, done = smoke_book.copy, smoke_book.done
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    record = json.loads((copy / f"results/smoke/{C1.name}.json").read_text())
    assert record["claim"] == "C1" and record["profile"] == "smoke"
    assert record["verdict"] in ("holds", "fails", "inconclusive") and record["rule"]
    assert record["params"]["datasets"] == ["synthetic"]
    assert {"parameters", "git_commit", "git_dirty", "torch", "device", "wall_s"} <= set(
        record["provenance"])
    assert record["provenance"]["precision"] == record["params"]["precision"] == "bf16"
    assert "flags: " in record["provenance"]["cpu"]
    assert set(record["provenance"]["phases"]) == {"models_s", "analysis_s"}
    assert record["provenance"]["parameters"] == " + ".join(SMOKE[1::2])
    for notebook in (copy / "book" / "claims").glob("*.ipynb"):
        executed = json.loads(notebook.read_text())
        cells = executed["cells"]
        assert all(c.get("outputs") is not None for c in cells if c["cell_type"] == "code")
        injected = [c for c in cells if "injected-parameters" in c["metadata"].get("tags", [])]
        assert len(injected) == 1 and "hide-cell" in injected[0]["metadata"]["tags"], notebook
    c2 = {r["notebook"] for r in map(json.loads, map(Path.read_text, (copy / "results" /
                                                                    "smoke").glob("*.json")))
          if r.get("claim") == "C2"}
    assert c2 == {nb.name for nb in notebooks_of("C2")}
    html = copy / "_build" / "html"
    intro = (html / "book" / "intro.html").read_text()
    assert "claims-dashboard" in intro and f"verdict-{record['verdict']}" in intro
    assert all(f"{nb.name}.html" in intro for nb in NOTEBOOKS)
    page = (html / f"{C1.path}.html").read_text()
    assert "<img" in page and "verdict-badge" in page and "smoke profile" in page
    assert "Hinton" in page
    bibliography = (html / "book" / "bibliography.html").read_text()
    assert all(name in bibliography for name in ("Mobahi", "Allen-Zhu", "Furlanello", "PyHessian"))
    reference = (html / "book" / "reproducing.html").read_text()
    assert "kernel_ridge" in reference and "ensemble_average" in reference
    # the fake environment planted in the copy stayed out of the book
    assert (copy / "venv").is_dir() and not list(html.rglob("*somepackage*"))
    assert "venv" not in {p.name for p in html.iterdir()}
    assert "The outputs on this page come from the smoke profile." in page
    for nb in NOTEBOOKS:  # every claim page opens with the summary computed from the records
        built = (html / f"{nb.path}.html").read_text()
        start = built.index('class="claim-summary')
        summary = built[start:built.index("</table>", start)]
        assert start < built.index("verdict-badges") and "smoke" in summary, nb.name
        for claim in nb.claims:
            smoke = json.loads((copy / "results" / "smoke" / (
                f"{nb.name}.json" if claim == nb.claims[0] else f"{nb.name}.{claim}.json"))
                .read_text())
            assert claim in summary and f"verdict-{smoke['verdict']}" in summary, nb.name


def tree(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file()}


@dataclass
class OwnRuns:
    """C1 at the smoke profile with temperature 2.0 and one generation, run twice, each in its
    own project copy and run store: ``papermill`` (the kernel trains every model into an empty
    store) and then ``sdcore run --jobs 2`` (its store given the kernel's teachers: two local jobs
    train every student, the notebook only loads)."""

    kernel: Path  # the project copy papermill ran in
    kernel_before: dict[str, bytes]  # its results/ before the run
    kernel_done: subprocess.CompletedProcess
    jobs: Path  # the project copy sdcore run ran in
    jobs_before: dict[str, bytes]
    jobs_done: subprocess.CompletedProcess


def teachers(store: Path, into: Path) -> None:
    """Copy the models of ``store`` that learnt from labels alone (no teacher) ``into`` another."""
    for spec in store.glob("*/spec.json"):
        if json.loads(spec.read_text()).get("teacher") is None:
            shutil.copytree(spec.parent, into / spec.parent.name)


@pytest.fixture(scope="module")
def own_runs(tmp_path_factory) -> OwnRuns:
    copies = []
    for kind in ("kernel", "jobs"):
        base = tmp_path_factory.mktemp(f"own_{kind}")
        copy_project(base / "project")
        shutil.rmtree(base / "project" / "results" / "smoke", ignore_errors=True)
        copies.append((base / "project", tree(base / "project" / "results")))
    env = {**os.environ, "SDCORE_RUNS": str(copies[0][0].parent / "runs")}
    kernel = run([papermill_exe(), NOTEBOOK, "out.ipynb", *SMOKE, "--log-output", "-p",
                  "temperature", "2.0", "-p", "generations", "1", "-p", "train_missing", "true"],
                 copies[0][0], env)
    teachers(copies[0][0].parent / "runs", copies[1][0].parent / "runs")
    env = {**os.environ, "SDCORE_RUNS": str(copies[1][0].parent / "runs")}
    jobs = run([sys.executable, "-m", "sdcore", "run", C1.name, "--profile", "smoke", "--set",
                "temperature=2.0", "--set", "generations=1", "--as", "t2", "--jobs", "2"],
               copies[1][0], env)
    return OwnRuns(*copies[0], kernel, *copies[1], jobs)


def test_a_run_of_your_own_never_writes_the_books_results(own_runs):
    """New parameters through papermill: the record goes to results/own/<name>/, the first output
    says so, and every file of results/ is left byte for byte as it was."""
    copy, done = own_runs.kernel, own_runs.kernel_done
    assert done.returncode == 0, done.stderr[-3000:]
    after = tree(copy / "results")
    name = "smoke-temperature=2.0-generations=1"
    own = {k: v for k, v in after.items() if k.startswith(f"own/{name}/")}
    assert {k: v for k, v in after.items() if k not in own} == own_runs.kernel_before
    record = json.loads(own[f"own/{name}/{C1.name}.json"])
    assert record["run"] == name and record["params"]["temperature"] == 2.0
    assert "with temperature=2.0" in record["provenance"]["parameters"]
    executed = json.loads((copy / "out.ipynb").read_text())
    first = next(o for c in executed["cells"] if c["cell_type"] == "code" for o in c["outputs"])
    assert f"Your own run {name!r} (temperature: 4.0 → 2.0" in "".join(first["text"])


def test_sdcore_run_trains_on_two_processes_then_writes_only_its_own_folder(own_runs):
    """``python -m sdcore run`` with new parameters: validation first, the missing models as two
    local jobs, then the notebook, which only loads; results/ is left as it was but for the
    run's own folder, which holds its record and executed notebook."""
    copy, ran = own_runs.jobs, own_runs.jobs_done
    assert ran.returncode == 0, ran.stdout[-3000:] + ran.stderr[-3000:]
    assert "Your own run 't2' (temperature: 4.0 → 2.0" in ran.stdout
    assert "chains of the smoke profile have models to train" in ran.stdout
    assert "executor local" in ran.stdout and ran.stdout.count(" model(s) trained") >= 2
    after = tree(copy / "results")
    assert {k: v for k, v in after.items() if not k.startswith("own/t2/")} == own_runs.jobs_before
    assert {k for k in after if k.startswith("own/t2/")} == {f"own/t2/{C1.name}.json",
                                                             f"own/t2/{C1.name}.ipynb"}
    assert f"results/own/t2/{C1.name}.json" in ran.stdout
    executed = (copy / "results" / "own" / "t2" / f"{C1.name}.ipynb").read_text()
    assert "none trained by this notebook" in executed  # the jobs trained them all
    refused = run([sys.executable, "-m", "sdcore", "run", C1.name, "--profile", "smoke",
                   "--set", "seeds=3"], copy)
    assert refused.returncode == 1 and refused.stderr.startswith("error: parameter 'seeds' = 3")


def test_jobs_give_the_results_of_the_kernel(own_runs):
    """A model is a function of its key however it was trained: the jobs' run and the kernel's
    give the same numbers and verdict (durations aside)."""
    kernel = json.loads(next((own_runs.kernel / "results" / "own").glob(
        f"*/{C1.name}.json")).read_text())
    jobs = json.loads((own_runs.jobs / "results" / "own" / "t2" / f"{C1.name}.json").read_text())
    assert untimed(jobs["numbers"]) == untimed(kernel["numbers"])
    assert jobs["verdict"] == kernel["verdict"]


@pytest.mark.parametrize("extra, message", [  # every message is checked in test_config.py;
    # here, what papermill's injection adds: a text for a list, nan from the command line, and
    # the refusal of a key the declared settings set themselves
    (["-p", "datasets", "mnist"], "give lists as YAML, -y 'datasets: [a, b]'"),
    (["-p", "lr", "nan"], "'lr': nan is not allowed; it must be a finite number"),
    (["-p", "seeds", "3"], "parameter 'seeds' = 3 would change nothing in the declared "
                           "setting(s) that set their own (synthetic-noaug: 4)"),
])
def test_bad_parameter_stops_in_validation_and_trains_nothing(project_copy, tmp_path, extra,
                                                              message):
    done = papermill(project_copy, *extra)
    assert done.returncode != 0
    assert message in done.stderr
    assert not (tmp_path / "runs").exists()
    assert not (project_copy / "results" / "smoke").exists()


def test_a_diverging_model_stops_the_notebook_with_its_message(project_copy, tmp_path):
    done = papermill(project_copy, "-p", "lr", "1.0e6", "-p", "epochs", "4")
    assert done.returncode != 0
    assert "TrainingDiverged" in done.stderr
    assert ("synthetic · resnet8 · seed 0 · generation 0: the training loss became NaN"
            in done.stderr)
    assert "Try a lower learning rate (lr is 1e+06)" in done.stderr
    assert not (project_copy / "results" / "smoke").exists()


def test_local_jobs_trained_everything_the_notebooks_then_loaded(smoke_book):
    """``train --executor local --jobs 2`` trained the smoke plan in separate processes; the
    notebooks that ran after it trained nothing."""
    assert smoke_book.train.returncode == 0, smoke_book.train.stderr[-3000:]
    assert "job " in smoke_book.train.stdout and "logs in" in smoke_book.train.stdout
    assert smoke_book.trained, "the jobs stored no model"
    assert completed_runs(smoke_book.runs) == smoke_book.trained  # nothing new, nothing retrained


def untimed(value):
    """``value`` without its measured durations (keys ending in _s), which no two runs share."""
    if isinstance(value, dict):
        return {k: untimed(v) for k, v in value.items() if not k.endswith("_s")}
    if isinstance(value, list):
        return [untimed(v) for v in value]
    return value


