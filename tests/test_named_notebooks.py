"""Every claim notebook end to end with an architecture named by library (slow): the smoke profile,
in a copy of the project, with a torchvision model in place of the built-in one and the fewest
images that still run every code path."""

import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import pytest

from sdcore.claims import (
    NOTEBOOKS,
    amplified_regularization,
    flatter_minima,
    loss_landscape,
    multi_view,
)

pytestmark = pytest.mark.slow
NAMED = "torchvision:shufflenet_v2_x0_5"  # it has the conv1 + maxpool stem the small images need
OVERRIDES = ["-y", f"models: ['{NAMED}']", "-p", "width", "1.0", "-p", "train_subset", "100",
             "-p", "test_subset", "100", "-p", "epochs", "1", "-p", "run_name", "named"]
OWN_OVERRIDES = {  # the smoke budgets that a model of about 70 times the smoke resnet8's size slows
    amplified_regularization: ["-p", "accurate_subset", "100", "-p", "accurate_epochs", "1"],
    flatter_minima: ["-p", "hessian_samples", "16", "-p", "hessian_batch", "16", "-p",
                     "measured_seeds", "2", "-p", "crosscheck", "false"],
    loss_landscape: ["-p", "measured_seeds", "2"],
    multi_view: ["-y", "settings: [{name: multiview-4, dataset: 'multiview:4', train_subset: 100},"
                 " {name: multiview-1, dataset: 'multiview:1:0.75', train_subset: 100}]"]}


def test_every_notebook_runs_with_a_named_torchvision_model(project_copy, tmp_path):
    papermill = os.path.join(os.path.dirname(sys.executable), "papermill")
    # Two notebooks at a time, one thread each: their small models gain little from a second
    # thread, and the run store lets two kernels that need one model train it once.
    env = {**os.environ, "PYTHONPATH": str(project_copy), "OMP_NUM_THREADS": "1"}

    def execute(nb):
        return nb, subprocess.run(
            [papermill, f"{nb.path}.ipynb", str(tmp_path / f"{nb.name}.ipynb"),
             "-f", "parameters/smoke/_shared.yaml", "-f", f"parameters/smoke/{nb.name}.yaml",
             *OVERRIDES, *OWN_OVERRIDES.get(nb.module, [])], cwd=project_copy,
            capture_output=True, text=True, env=env)  # the copy's sdcore

    with ThreadPoolExecutor(max_workers=2) as pool:
        for nb, done in pool.map(execute, NOTEBOOKS):
            assert done.returncode == 0, f"{nb.name}: {done.stderr[-3000:]}"
            record = json.loads((project_copy / f"results/own/named/{nb.name}.json").read_text())
            assert record["params"]["models"] == [NAMED], nb.name
            rows = record["numbers"].get("models", [])
            assert all(row.get("model", NAMED) == NAMED for row in rows), nb.name
    stored = [json.loads(p.read_text()) for p in (tmp_path / "runs").glob("*/spec.json")]
    assert stored and {spec["model"] for spec in stored} == {NAMED}
