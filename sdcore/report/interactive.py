"""Interactive figures for the book, each shown together with its static matplotlib figure.

A ``ScreenAndPrint`` displays as one HTML output holding a plotly figure (values on hover, zoom,
rotation of 3D surfaces) and the matplotlib figure as a PNG; ``book/_static/figures.css`` shows
the plotly figure on screen and the PNG in print. The HTML loads no script: the book serves
plotly.js itself (``sdcore.sphinxext.offline_assets``). Renderers without HTML show the PNG.
"""

from __future__ import annotations

import base64
import hashlib
import io
from html import escape

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import plotly.graph_objects as go
from matplotlib.figure import Figure
from plotly.colors import diverging
from plotly.subplots import make_subplots

from . import plots
from .effects import COLOURS, SIDES

SCREEN_CLASS = "figure-screen"  # the plotly figure, shown on screen
PRINT_CLASS = "figure-print"  # the matplotlib PNG, shown in print
PRINT_DPI = 150


class ScreenAndPrint:
    """A plotly figure for the screen and a matplotlib figure for print, displayed as one.

    The matplotlib figure is drawn to PNG and closed at once, so that the notebook's inline
    backend does not show it a second time."""

    def __init__(self, screen: go.Figure, printed: Figure, description: str):
        self.screen = screen
        self.description = description
        buffer = io.BytesIO()
        printed.savefig(buffer, format="png", dpi=PRINT_DPI, bbox_inches="tight")
        plt.close(printed)
        self.png = base64.b64encode(buffer.getvalue()).decode("ascii")

    def html(self) -> str:
        """The plotly figure (its id fixed by its content, so reruns give the same page) and the
        PNG, each in its class."""
        spec = self.screen.to_json()
        div_id = "figure-" + hashlib.sha256(spec.encode()).hexdigest()[:16]
        drawn = self.screen.to_html(full_html=False, include_plotlyjs=False, div_id=div_id,
                                    config={"displaylogo": False, "responsive": True})
        return (f'<div class="{SCREEN_CLASS}">{drawn}</div>\n'
                f'<img class="{PRINT_CLASS}" alt="{escape(self.description)}" '
                f'src="data:image/png;base64,{self.png}">')

    def _repr_mimebundle_(self, include=None, exclude=None) -> dict[str, str]:
        return {"text/html": self.html(), "image/png": self.png, "text/plain": self.description}


def sweep_heatmap(sweep: dict) -> ScreenAndPrint | Figure:
    """``plots.sweep_heatmap`` with a heatmap to explore: each cell's gain, interval and seeds'
    gains on hover; cells whose interval excludes 0 framed. Without a sweep, its note."""
    if not sweep:
        return plots.note(plots.NO_SWEEP)
    grid = plots.SweepGrid.of(sweep)
    at = {grid.position(c): c for c in grid.cells.itertuples()}
    rows, cols = range(len(grid.temperatures)), range(len(grid.weights))
    labels = [[grid.label(at[i, j], "<br>") if (i, j) in at else "" for j in cols] for i in rows]
    details = [[[grid.interval(at[i, j]), ", ".join(f"{g:+.2f}" for g in at[i, j].gains)]
                if (i, j) in at else ["", ""] for j in cols] for i in rows]
    fig = go.Figure(go.Heatmap(
        z=grid.gains, x=grid.weight_labels, y=grid.temperature_labels, zmin=-grid.bound,
        zmax=grid.bound, colorscale=diverging.RdBu, text=labels, texttemplate="%{text}",
        customdata=details, colorbar={"title": {"text": "mean gain (pp)"}},
        hovertemplate=("T = %{y}, soft weight %{x}<br>mean gain %{z:+.2f} pp, "
                       "95% CI %{customdata[0]}<br>seeds' gains: %{customdata[1]}"
                       "<extra></extra>")))
    for cell in grid.cells.itertuples():
        if grid.resolved(cell):
            i, j = grid.position(cell)
            fig.add_shape(type="rect", x0=j - 0.5, x1=j + 0.5, y0=i - 0.5, y1=i + 0.5,
                          line={"color": "black", "width": 3})
    fig.update_layout(title={"text": grid.title, "font": {"size": 13}}, template="plotly_white",
                      height=140 + 90 * len(grid.temperatures),
                      xaxis={"title": {"text": plots.SWEEP_AXES[0]}, "type": "category"},
                      yaxis={"title": {"text": plots.SWEEP_AXES[1]}, "type": "category",
                             "autorange": "reversed"})
    return ScreenAndPrint(fig, plots.sweep_heatmap(sweep),
                          "mean paired gain of each temperature and soft-term weight")


def landscape_planes(planes: dict) -> ScreenAndPrint:
    """``plots.landscape_planes`` as 3D surfaces to rotate, on one shared loss range (losses
    above it drawn at its top), with each point's loss and accuracy on hover and the trained
    model marked."""
    low, high = plots.plane_loss_range(planes)
    fig = make_subplots(rows=1, cols=len(planes), specs=[[{"type": "surface"}] * len(planes)],
                        subplot_titles=[f"{name}: training loss" for name in planes],
                        horizontal_spacing=0.04)
    for col, (name, s) in enumerate(planes.items(), start=1):
        loss, accuracy = s.loss.T, s.accuracy.T  # rows: direction 2, columns: direction 1
        drawn = np.where(np.isfinite(loss), np.minimum(loss, high), high)
        hover = [[f"{v:.4g}, accuracy {a:.1f}%" for v, a in zip(*row)]
                 for row in zip(loss, accuracy)]
        fig.add_trace(go.Surface(
            x=s.coords[0], y=s.coords[1], z=drawn, cmin=low, cmax=high, colorscale="Viridis",
            showscale=col == 1, customdata=hover, name=name,
            colorbar={"title": {"text": "training loss"}, "len": 0.8},
            contours={"z": {"show": True, "usecolormap": True, "project": {"z": True}}},
            hovertemplate="direction 1 %{x:.3g}, direction 2 %{y:.3g}<br>loss %{customdata}"
                          "<extra>%{fullData.name}</extra>"), row=1, col=col)
        j, i = np.abs(s.coords[1]).argmin(), np.abs(s.coords[0]).argmin()
        fig.add_trace(go.Scatter3d(
            x=[s.coords[0][i]], y=[s.coords[1][j]], z=[drawn[j, i]], mode="markers",
            marker={"color": "red", "size": 5, "symbol": "diamond"}, showlegend=False,
            name=f"{name}, the trained model", hovertemplate="%{fullData.name}<extra></extra>"),
            row=1, col=col)
    fig.update_scenes(xaxis_title_text="direction 1", yaxis_title_text="direction 2",
                      zaxis_title_text="training loss", zaxis_range=[low, high],
                      camera_eye={"x": 1.7, "y": -1.7, "z": 1.1})  # far enough for the labels
    fig.update_layout(template="plotly_white", height=480, margin={"l": 0, "r": 0, "t": 40,
                                                                  "b": 0})
    return ScreenAndPrint(fig, plots.landscape_planes(planes),
                          "training loss around a teacher and its student")


def _interval(low: float, high: float) -> str:
    return f"[{low:+.3g}, {high:+.3g}]" if low == low and high == high else "none (one seed)"


def forest(effects: pd.DataFrame) -> ScreenAndPrint | Figure:
    """``plots.forest`` to explore: the same panels, colours and marks, each effect's whole
    label, estimate, interval, threshold, margin and outcome on hover. Without effects, a
    note."""
    if effects.empty:
        return plots.note(plots.NO_EFFECTS)
    panels = plots.ForestPanel.of(effects)
    heights = [p.height for p in panels]
    height = 90 + 19 * sum(heights) + 60 * (len(panels) - 1)  # px; 60 between panels
    fig = make_subplots(rows=len(panels), cols=1, row_heights=heights,
                        vertical_spacing=60 / height)
    shown: set[str] = set()
    for row, panel in enumerate(panels, start=1):
        axes = {"xref": f"x{row if row > 1 else ''} domain", "yref": f"y{row if row > 1 else ''}"}
        for r in panel.effects.itertuples():
            if r.margin == r.margin:
                fig.add_shape(type="rect" if r.kind == "null" else "line",
                              x0=-r.margin if r.kind == "null" else r.margin, x1=r.margin,
                              y0=r.y - 0.4, y1=r.y + 0.4, fillcolor="#e0e0e0",
                              line={"color": "#666", "width": 1}, layer="below", row=row, col=1)
            fig.add_annotation(x=1.01, y=r.y, text=r.outcome, showarrow=False, xanchor="left",
                               font={"size": 10, "color": COLOURS[r.side]}, **axes)
        for side, group in panel.effects.dropna(subset=["estimate"]).groupby("side", sort=False):
            details = [[r.group, r.effect, _interval(r.ci_low, r.ci_high), r.outcome,
                        f"judged against {r.threshold:g}" + (
                            f", margin {'±' if r.kind == 'null' else '+'}{r.margin:g} "
                            f"({r.kind})" if r.margin == r.margin else "")]
                       for r in group.itertuples()]
            fig.add_trace(go.Scatter(
                x=group.estimate, y=group.y, mode="markers", name=SIDES[side],
                legendgroup=side, showlegend=side not in shown,
                legendrank=list(SIDES).index(side),
                marker={"color": COLOURS[side], "size": 8},
                error_x={"type": "data", "symmetric": False, "thickness": 1.5,
                         "array": (group.ci_high - group.estimate).fillna(0),
                         "arrayminus": (group.estimate - group.ci_low).fillna(0)},
                customdata=details,
                hovertemplate=("<b>%{customdata[0]}</b><br>%{customdata[1]}<br>"
                               "estimate %{x:+.3g}, 95% CI %{customdata[2]}<br>"
                               "%{customdata[4]}: %{customdata[3]}<extra></extra>")),
                row=row, col=1)
            shown.add(side)
        for threshold in panel.effects.threshold.unique():
            fig.add_vline(x=threshold, line={"color": "black", "width": 1}, row=row, col=1)
        fig.update_yaxes(tickvals=list(range(len(panel.labels))), ticktext=[
            f"<b>{label}</b>" if i in panel.headers else label
            for i, label in enumerate(panel.labels)], range=[len(panel.labels) - 0.5, -0.5],
            tickfont={"size": 10}, row=row, col=1)
        fig.update_xaxes(title={"text": panel.unit, "font": {"size": 11}}, zeroline=False,
                         row=row, col=1)
    fig.update_layout(template="plotly_white", height=height,
                      margin={"l": 10, "r": 100, "t": 50, "b": 10},
                      legend={"orientation": "h", "xref": "container", "yref": "container",
                              "x": 0, "y": 1, "yanchor": "top"})
    return ScreenAndPrint(fig, plots.forest(effects), "every judged effect, with its 95% "
                          "interval and the threshold it is judged against")
