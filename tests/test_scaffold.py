"""``new-claim`` scaffolds a claim notebook that runs on the smoke profile as it is, registers it
and regenerates the table of contents; it refuses bad names and never overwrites."""

from __future__ import annotations

import json

import nbformat
import yaml
from conftest import run_sdcore


def test_a_new_claim_is_registered_and_runs_on_the_smoke_profile(project_copy, tmp_path):
    runs = tmp_path / "runs"
    done = run_sdcore(project_copy, runs, "new-claim", "wider_students", "--claim", "C5",
                      "--statement", "Wider students gain more.")
    assert done.returncode == 0, done.stderr
    registry = yaml.safe_load((project_copy / "sdcore/claims/registry.yaml").read_text())
    name = list(registry["notebooks"])[-1]
    assert name.endswith("_wider_students") and registry["notebooks"][name] == ["C5"]
    assert registry["claims"]["C5"] == "Wider students gain more."
    toc = (project_copy / "_toc.yml").read_text()
    assert f"book/claims/{name}" in toc and "book/reproducing" in toc
    assert (project_copy / "sdcore/claims/wider_students.py").is_file()
    for profile in ("smoke", "cpu", "gpu", "paper"):
        assert (project_copy / f"parameters/{profile}/{name}.yaml").is_file()
    cells = nbformat.read(project_copy / f"book/claims/{name}.ipynb", as_version=4).cells
    assert any("parameters" in c.metadata.get("tags", []) for c in cells)
    ran = run_sdcore(project_copy, runs, "reproduce", "--profile", "smoke", "--only", name,
                     "--no-build")
    assert ran.returncode == 0, ran.stdout[-3000:] + ran.stderr[-3000:]
    record = json.loads((project_copy / f"results/smoke/{name}.json").read_text())
    assert record["claim"] == "C5" and record["verdict"] in ("holds", "fails", "inconclusive")
    again = run_sdcore(project_copy, runs, "new-claim", "wider_students", "--claim", "C5")
    assert again.returncode == 1 and "not overwriting" in again.stderr


def test_bad_names_and_unknown_claims_are_refused(project_copy, tmp_path):
    runs = tmp_path / "runs"
    bad = run_sdcore(project_copy, runs, "new-claim", "Wider-Students", "--claim", "C1")
    assert bad.returncode == 1 and "is not a notebook name" in bad.stderr
    unknown = run_sdcore(project_copy, runs, "new-claim", "other", "--claim", "C9")
    assert unknown.returncode == 1 and "C9 not in the registry" in unknown.stderr
    wrong = run_sdcore(project_copy, runs, "new-claim", "other", "--claim", "claim1")
    assert wrong.returncode == 1 and "claim ids such as C1" in wrong.stderr
    assert not list((project_copy / "book/claims").glob("*other*"))
