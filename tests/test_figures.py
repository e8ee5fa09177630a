"""sdcore.report.figures: one module of figures per claim module, named as it is, and the
flatness measures' forest drawn from the relative change the claim computed."""

from __future__ import annotations

import importlib
import math
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd
import pytest

from sdcore.claims import NOTEBOOKS
from sdcore.report.figures import common

FIGURES = Path(common.__file__).parent


def test_every_claim_module_has_its_figures_module_and_nothing_else_is_there():
    claims = {nb.module.__name__.rsplit(".", 1)[1] for nb in NOTEBOOKS}
    modules = {p.stem for p in FIGURES.glob("*.py")} - {"__init__", "common"}
    assert modules == claims
    for name in modules:
        importlib.import_module(f"sdcore.report.figures.{name}")


def test_measures_forest_draws_the_claims_relative_change():
    """The point is the claim's ``relative`` (not a change and a baseline rounded apart), its
    interval on the same scale; a zero baseline has none."""
    table = pd.DataFrame({
        "setting": ["s", "s"], "measure": ["trace", "rise"], "seeds": [3, 3],
        "baseline": [0.0003, 0.0], "change": [0.0004, 0.0], "ci_low": [-0.0003, -0.1],
        "ci_high": [0.0011, 0.1], "p": [0.5, 1.0], "students_flatter": [1, 1],
        "relative": [1.1642, math.nan], "decision": ["unresolved", "reported"]})
    figure = common.measures_forest(table)
    (ax,) = figure.axes
    points = [bar.lines[0].get_xdata()[0] for bar in ax.containers]  # each errorbar's point
    assert points[0] == pytest.approx(116.42)
    (low, _), (high, _) = ax.containers[0].lines[2][0].get_segments()[0]
    ratio = 100 * 1.1642 / 0.0004  # the claim's relative / change: the point's scale
    assert (low, high) == pytest.approx((-0.0003 * ratio, 0.0011 * ratio))
    assert low < points[0] < high
    assert math.isnan(points[1])
    plt.close(figure)
