"""The interactive figures (``sdcore.report.interactive`` and the pages' own in
``sdcore.report.figures``) on small hand-made inputs: each figure is one HTML output with a
plotly figure that loads no script of its own and the matplotlib PNG for print, that PNG stored
once (inside the HTML) and small (a palette image at the print resolution)."""

from __future__ import annotations

import base64
import io
import json

import matplotlib.pyplot as plt
import numpy as np
import pytest
from matplotlib.figure import Figure
from PIL import Image

from sdcore.engine.landscape import Surface
from sdcore.report import interactive
from sdcore.report.figures import loss_landscape, student_beats_teacher


def _cell(temperature: float, weight: float, gains: list[float], low: float, high: float) -> dict:
    return {"temperature": temperature, "weight_kd": weight, "weight_ce": 1 - weight,
            "gains": gains, "mean_gain": float(np.mean(gains)), "ci_low": low, "ci_high": high}


SWEEP = {"setting": "synthetic · resnet8", "seeds": [1000, 1001, 1002], "cells": [
    _cell(1.0, 0.5, [0.1, 0.3, 0.5], -0.2, 0.8),
    _cell(1.0, 0.9, [0.6, 0.7, 0.8], 0.5, 0.9),  # its interval excludes 0: framed
    _cell(4.0, 0.5, [-0.4, -0.1, 0.2], -0.9, 0.5),
    _cell(4.0, 0.9, [-0.9, -0.8, -0.7], -1.0, -0.6),  # framed
]}


def _planes() -> dict[str, Surface]:
    grid = np.linspace(-1, 1, 3)
    bowl = 0.5 + np.add.outer(grid ** 2, 2 * grid ** 2)
    far = bowl.copy()
    far[2, 2] = np.inf  # a diverged point far from the minimum
    return {"teacher": Surface([grid, grid], bowl, 90 - 10 * bowl),
            "student 1": Surface([grid, grid], far, 90 - 10 * bowl)}


def _plotly_spec(html: str) -> tuple[list, dict]:
    """The data and layout that the output's inline script hands to ``Plotly.newPlot``."""
    call = html[html.index("Plotly.newPlot(") + len("Plotly.newPlot("):]
    decoder, args, at = json.JSONDecoder(), [], 0
    for _ in range(3):  # the figure's id, its data, its layout
        at = len(call) - len(call[at:].lstrip(" \n\t,"))
        value, at = decoder.raw_decode(call, at)
        args.append(value)
    return args[1], args[2]


def _array(value) -> np.ndarray:
    """A plotly array: a list, or a typed array (base64 data with its dtype and shape)."""
    if isinstance(value, dict):
        flat = np.frombuffer(base64.b64decode(value["bdata"]), dtype=value["dtype"])
        return flat.reshape([int(n) for n in str(value.get("shape", flat.size)).split(",")])
    return np.asarray(value, dtype=float)


@pytest.fixture(autouse=True)
def no_open_figures():
    """Each test starts with no matplotlib figure open (a worker runs tests of other files
    before these), so that it can check its own are closed."""
    plt.close("all")


def _check_output(shown: interactive.ScreenAndPrint) -> str:
    bundle = shown._repr_mimebundle_()
    html = bundle["text/html"]
    assert f'class="{interactive.SCREEN_CLASS}"' in html
    assert f'class="{interactive.PRINT_CLASS}"' in html and "plotly-graph-div" in html
    screen = html[:html.index("<img")]
    assert "<script src" not in screen and "://" not in screen  # plotly.js comes from the book
    assert set(bundle) == {"text/html", "text/plain"}  # the PNG once: inside the HTML
    png = base64.b64decode(shown.png)
    assert png.startswith(b"\x89PNG") and f"base64,{shown.png}" in html
    with Image.open(io.BytesIO(png)) as image:
        assert image.mode == "P"  # a palette: a third of the bytes of an RGBA image
        assert image.info["dpi"][0] == pytest.approx(interactive.PRINT_DPI, abs=1)
    assert plt.get_fignums() == []  # the static figure was closed: no second inline display
    return html


def test_sweep_heatmap_has_every_cell_hover_values_and_frames_resolved_cells():
    html = _check_output(student_beats_teacher.sweep_heatmap(SWEEP))
    (heatmap,), layout = _plotly_spec(html)
    assert heatmap["x"] == ["0.5", "0.9"] and heatmap["y"] == ["1", "4"]
    assert np.allclose(_array(heatmap["z"]), [[0.3, 0.7], [-0.1, -0.8]])
    assert heatmap["customdata"][1][1] == ["[-1.00, -0.60]", "-0.90, -0.80, -0.70"]
    assert "customdata[1]" in heatmap["hovertemplate"]
    frames = {(s["x0"] + 0.5, s["y0"] + 0.5) for s in layout["shapes"]}
    assert frames == {(1, 0), (1, 1)}  # (column, row) of the two resolved cells
    assert heatmap["zmin"] == -heatmap["zmax"] == pytest.approx(-0.8)  # the largest |gain|


def test_same_input_gives_the_same_output():
    shown = [student_beats_teacher.sweep_heatmap(SWEEP).html() for _ in range(2)]
    assert shown[0] == shown[1]


def test_without_a_sweep_the_note_is_shown():
    assert isinstance(student_beats_teacher.sweep_heatmap([]), Figure)
    plt.close("all")


def test_landscape_surfaces_share_a_range_and_cap_non_finite_losses():
    html = _check_output(loss_landscape.landscape_planes(_planes()))
    data, layout = _plotly_spec(html)
    surfaces = [t for t in data if t["type"] == "surface"]
    assert [s["name"] for s in surfaces] == ["teacher", "student 1"]
    assert len({(s["cmin"], s["cmax"]) for s in surfaces}) == 1
    top = surfaces[0]["cmax"]
    student = _array(surfaces[1]["z"])
    assert np.isfinite(student).all() and student.max() == pytest.approx(top)
    assert surfaces[1]["customdata"][2][2].startswith("inf")  # the hover says what was measured
    markers = [t for t in data if t["type"] == "scatter3d"]
    assert [(m["x"], m["y"]) for m in markers] == [([0.0], [0.0])] * 2  # the trained models
    assert layout["scene"]["zaxis"]["range"] == [surfaces[0]["cmin"], top]
