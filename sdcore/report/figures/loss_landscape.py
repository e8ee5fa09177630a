"""The figures of page 04 (claims C3 and C4 by the loss landscape, ``claims.loss_landscape``):
the loss and error rises against the radius, 1D loss curves, 2D loss planes (rotatable surfaces on
screen with plotly, contours in print), teacher-to-student interpolation paths, and C4's
contrast."""

from __future__ import annotations

from typing import Callable

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import plotly.graph_objects as go
from matplotlib.figure import Figure
from plotly.subplots import make_subplots

from ..interactive import ScreenAndPrint
from .common import ROLE_ORDER, errbar, note


def radius_rises(table: pd.DataFrame, radii: list[float],
                 columns: Callable[[str, float], str]) -> Figure:
    """The rise of the training loss (left, with ln K, where the network is as good as a guess)
    and of the training error (right) against the radius, teachers and students, per setting
    (means over seeds, each seed faint); ``columns(kind, r)`` names the table's column."""
    fig, (ax_loss, ax_err) = plt.subplots(1, 2, figsize=(10, 3.6))
    for i, ((setting, role), group) in enumerate(table.groupby(["setting", "role"], sort=False)):
        for kind, ax in (("loss", ax_loss), ("error", ax_err)):
            values = group[[columns(kind, r) for r in radii]].to_numpy()
            for row in values:
                ax.plot(radii, row, color=f"C{i}", alpha=0.15, lw=0.8)
            ax.plot(radii, values.mean(0), "o-", color=f"C{i}", ms=4,
                    label=f"{setting} · {role}")
    ax_loss.axhline(np.log(10), color="k", ls="--", lw=0.8, label="ln 10 (a uniform guess)")
    ax_loss.set_yscale("symlog", linthresh=1e-3)
    for ax, label in ((ax_loss, "loss rise (nats)"), (ax_err, "error rise (pp)")):
        ax.set_xscale("log")
        ax.set_xlabel("radius along filter-normalized directions")
        ax.set_ylabel(label)
    ax_loss.legend(fontsize=7)
    fig.tight_layout()
    return fig


def landscape_lines(lines: dict) -> Figure:
    """1D training-loss curves along filter-normalized directions, every role of a seed overlaid,
    one panel per seed (each direction drawn; same-seed directions for every model)."""
    chains = list(dict.fromkeys(k[:2] for k in lines))
    cols = min(3, len(chains))
    rows = -(-len(chains) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(5 * cols, 3.4 * rows), squeeze=False)
    for ax in axes.flat[len(chains):]:
        ax.axis("off")
    for (setting, seed), ax in zip(chains, axes.flat):
        for key in (k for k in lines if k[:2] == (setting, seed)):
            color = f"C{ROLE_ORDER.index(key[2]) % 10 if key[2] in ROLE_ORDER else 9}"
            for i, curve in enumerate(lines[key]):
                ax.plot(curve.coords[0], curve.loss, color=color, lw=1.2, alpha=0.8,
                        label=key[2] if i == 0 else None)
        ax.set_xlabel("step along a filter-normalized direction")
        ax.set_ylabel("training loss")
        ax.set_title(f"{setting} · seed {seed}", fontsize=10)
        ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def plane_loss_range(planes: dict) -> tuple[float, float]:
    """The loss range the planes' figures share: the lowest finite loss to the 95th percentile
    (higher losses, far from the minimum, would flatten the rest)."""
    finite = np.concatenate([s.loss[np.isfinite(s.loss)].ravel() for s in planes.values()])
    return float(finite.min()), float(np.percentile(finite, 95))


def landscape_planes_print(planes: dict) -> Figure:
    """2D training-loss contours of a teacher and its student, side by side, shared levels."""
    fig, axes = plt.subplots(1, len(planes), figsize=(5.2 * len(planes), 4.4), squeeze=False)
    levels = np.linspace(*plane_loss_range(planes), 15)
    for (name, s), ax in zip(planes.items(), axes[0]):
        a, b = np.meshgrid(s.coords[0], s.coords[1], indexing="ij")
        contour = ax.contourf(a, b, s.loss, levels=levels, cmap="viridis", extend="max")
        ax.contour(a, b, s.loss, levels=levels, colors="k", linewidths=0.3)
        ax.plot(0, 0, "r*", ms=10)
        ax.set_title(f"{name}: training loss")
        ax.set_xlabel("direction 1")
        ax.set_ylabel("direction 2")
        ax.set_aspect("equal")
    fig.colorbar(contour, ax=axes[0].tolist(), shrink=0.85)
    return fig


def interpolation_paths(interpolations: dict) -> Figure:
    """Training loss and accuracy on the line from each teacher (t = 0) to its student (t = 1)."""
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(10, 3.6))
    for (setting, seed), s in interpolations.items():
        ax_loss.plot(s.coords[0], s.loss, "o-", ms=3, label=f"{setting} seed {seed}")
        ax_acc.plot(s.coords[0], s.accuracy, "o-", ms=3)
    for ax, label in ((ax_loss, "training loss"), (ax_acc, "training accuracy (%)")):
        ax.axvline(0, color="0.5", lw=0.8)
        ax.axvline(1, color="0.5", lw=0.8)
        ax.set_xlabel("t: (1 − t)·teacher + t·student")
        ax.set_ylabel(label)
    ax_loss.legend(fontsize=8)
    fig.tight_layout()
    return fig


def contrast(components: pd.DataFrame, labels: dict[str, str]) -> Figure:
    """C4 by contrast: per judged measure, each role's flattening against its teacher (right is
    flatter; mean and 95% interval), coloured by what the component says, beside the role's gain
    in test accuracy (95% interval); a role that gains should lie right of 0."""
    if components.empty:
        return note("no contrast: the page measures no role beside the teacher")
    measures = list(dict.fromkeys(components.measure))
    fig, axes = plt.subplots(1, len(measures) + 1, figsize=(3.4 * (len(measures) + 1), 3.6),
                             squeeze=False)
    colors = {"flatter": "C2", "sharper": "C3", "undecided": "C1"}
    for measure, ax in zip(measures, axes[0]):
        rows = components[components.measure == measure].reset_index(drop=True)
        for i, r in rows.iterrows():
            ax.errorbar(r.flattening, i, xerr=errbar(r.flat_low, r.flattening, r.flat_high),
                        fmt="o", color=colors[r.reading], capsize=3)
        ax.axvline(0, color="k", lw=0.8)
        ax.set_yticks(range(len(rows)), list(rows.role) if ax is axes[0][0] else [],
                      fontsize=8)
        ax.invert_yaxis()
        ax.set_title(labels.get(measure, measure), fontsize=8)
        ax.set_xlabel("flattening (→ flatter)", fontsize=8)
    gains = components.drop_duplicates(["setting", "role"]).reset_index(drop=True)
    ax = axes[0][-1]
    for i, r in gains.iterrows():
        ax.errorbar(r.gain, i, xerr=errbar(r.gain_low, r.gain, r.gain_high), fmt="s",
                    color="C2" if r.gains else "0.5", capsize=3)
    ax.axvline(0, color="k", lw=0.8)
    ax.set_yticks(range(len(gains)), list(gains.role), fontsize=8)
    ax.yaxis.tick_right()
    ax.invert_yaxis()
    ax.set_title("gain over the teacher", fontsize=8)
    ax.set_xlabel("test accuracy (pp)", fontsize=8)
    fig.suptitle("green: flatter (one-sided 5%) / gains; red: sharper; orange: undecided",
                 fontsize=9)
    fig.tight_layout()
    return fig


def landscape_planes(planes: dict) -> ScreenAndPrint:
    """``landscape_planes_print`` as 3D surfaces to rotate, on one shared loss range (losses
    above it drawn at its top), with each point's loss and accuracy on hover and the trained
    model marked."""
    low, high = plane_loss_range(planes)
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
    return ScreenAndPrint(fig, landscape_planes_print(planes),
                          "training loss around a teacher and its student")
