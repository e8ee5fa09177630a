"""Interactive figures for the book, each shown together with its static matplotlib figure.

A ``ScreenAndPrint`` displays as one HTML output holding a plotly figure (values on hover, zoom,
rotation of 3D surfaces) and the matplotlib figure as a PNG; ``book/_static/figures.css`` shows
the plotly figure on screen and the PNG in print. The HTML loads no script: the book serves
plotly.js itself (``sdcore.sphinxext.offline_assets``). Where the book's stylesheet is absent
(Jupyter, Colab, GitHub) the PNG shows. The PNG is stored once, inside the HTML, at the
resolution of the notebooks' other figures and with a palette of colours: a plot's few colours
and their anti-aliased edges look the same in a third of the bytes.

The forest plot of the judged effects (``forest``) is here, as every page and the dashboard draw
it; the interactive figures of one page are in that page's module of ``report.figures``.
"""

from __future__ import annotations

import base64
import hashlib
import io
from html import escape

import matplotlib.pyplot as plt
import pandas as pd
import plotly.graph_objects as go
from matplotlib.figure import Figure
from PIL import Image
from plotly.subplots import make_subplots

from .effects import COLOURS, SIDES
from .figures import common

SCREEN_CLASS = "figure-screen"  # the plotly figure, shown on screen
PRINT_CLASS = "figure-print"  # the matplotlib PNG, shown in print
PRINT_DPI = 100  # as the notebooks' inline figures
PRINT_COLOURS = 256  # the print PNG's palette


def print_png(printed: Figure) -> bytes:
    """``printed`` as a PNG for print: ``PRINT_DPI``, its colours reduced to a palette of
    ``PRINT_COLOURS`` (matplotlib draws on an opaque background)."""
    drawn = io.BytesIO()
    printed.savefig(drawn, format="png", dpi=PRINT_DPI, bbox_inches="tight")
    drawn.seek(0)
    with Image.open(drawn) as image:
        palette = image.convert("RGB").quantize(PRINT_COLOURS)
    buffer = io.BytesIO()
    palette.save(buffer, format="png", optimize=True, dpi=(PRINT_DPI, PRINT_DPI))
    return buffer.getvalue()


class ScreenAndPrint:
    """A plotly figure for the screen and a matplotlib figure for print, displayed as one.

    The matplotlib figure is drawn to PNG (``print_png``) and closed at once, so that the
    notebook's inline backend does not show it a second time."""

    def __init__(self, screen: go.Figure, printed: Figure, description: str):
        self.screen = screen
        self.description = description
        self.png = base64.b64encode(print_png(printed)).decode("ascii")
        plt.close(printed)

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
        """The HTML, and the description for renderers without HTML: no ``image/png`` beside
        the HTML, which holds the PNG already."""
        return {"text/html": self.html(), "text/plain": self.description}


def _interval(low: float, high: float) -> str:
    return f"[{low:+.3g}, {high:+.3g}]" if low == low and high == high else "none (one seed)"


def forest(effects: pd.DataFrame) -> ScreenAndPrint | Figure:
    """``figures.common.forest`` to explore: the same panels, colours and marks, each effect's whole
    label, estimate, interval, threshold, margin and outcome on hover. Without effects, a
    note."""
    if effects.empty:
        return common.note(common.NO_EFFECTS)
    panels = common.ForestPanel.of(effects)
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
    return ScreenAndPrint(fig, common.forest(effects), "every judged effect, with its 95% "
                          "interval and the threshold it is judged against")
