"""The GPU check's report, re-priced from saved units: the script runs, and its paper hours are
the planner's at each path's units (measuring needs a GPU; ``--quick`` tries it anywhere)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from sdcore.project.plan import profile_plan, summary
from sdcore.project.run import notebook_runs

ROOT = Path(__file__).resolve().parents[1]
REPORT = ROOT / "benchmarks" / "gpu_check_h100.json"


def test_gpu_check_reprices_the_paper_profile_from_a_saved_report(tmp_path):
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "gpu_check.py"),
                           "--from-report", str(REPORT), "--out", str(tmp_path)], cwd=tmp_path,
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    report = json.loads((tmp_path / "gpu_check_h100.json").read_text())
    saved = json.loads(REPORT.read_text())
    assert report["units_s"] == saved["units_s"]
    for path, units in saved["units_s"].items():
        hours = summary(profile_plan(notebook_runs(ROOT, "paper"), units=units)).estimate_h
        assert report["paper_hours"][path] == {nb: float(h) for nb, h in hours.items()
                                               if nb != "total"}
        assert f"{path:<24} total {hours['total']:.1f} h" in done.stdout
    assert (tmp_path / "gpu_check_h100.log").read_text() == done.stdout
    assert "N = 4:   51,922 images/s" in done.stdout  # the fast path's scaling table
