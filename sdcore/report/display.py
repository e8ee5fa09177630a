"""Tables as a reader meets them on a claim page.

``readable(table)`` shows a results table without the frame's 0, 1, 2… index, with every text
whole (no column cut mid-word) and numbers rounded alike: two decimals per column, or three
significant digits in a column of small magnitudes (curvatures, shrinkage factors), and
p-values as ``stats.p_text`` writes them. ``training_line(table)`` is the one line that stands
for the per-model training table: how many models, how many this run trained and how long that
took. ``provenance_table(record)`` is a page's provenance block. Cost: formatting only.
"""

from __future__ import annotations

import hashlib
import numbers
from typing import Any

import numpy as np
import pandas as pd
from IPython.display import Markdown
from pandas.io.formats.style import Styler

from ..engine.stats import p_text
from ..project.lock import describe

SMALL = 0.01  # a column whose largest magnitude is below this gets significant digits


def _is_p(column: object) -> bool:
    name = str(column).lower()
    return name in ("p", "p_value", "p value") or name.startswith(("p_", "p "))


def _number_format(values: pd.Series, p_value: bool):
    """The formatter of one numeric column."""
    finite = values[np.isfinite(values.astype(float))].abs()
    small = not finite.empty and 0 < finite.max() < SMALL

    def shown(x: object) -> str:
        if not isinstance(x, numbers.Real) or isinstance(x, bool) or not np.isfinite(x):
            return "" if x is None or (isinstance(x, float) and np.isnan(x)) else str(x)
        if p_value:
            return p_text(x).removeprefix("p ").removeprefix("= ")
        if isinstance(x, numbers.Integral):
            return str(x)
        return f"{x:.3g}" if small else f"{x:.2f}"
    return shown


def readable(table: pd.DataFrame) -> Styler:
    """``table`` for the page: no positional index, whole texts, numbers rounded alike."""
    shown = table if not isinstance(table.index, pd.RangeIndex) else table.reset_index(drop=True)
    formats = {c: _number_format(shown[c], _is_p(c)) for c in shown.columns
               if pd.api.types.is_float_dtype(shown[c])}
    tag = hashlib.sha256(shown.to_csv().encode()).hexdigest()[:8]
    style = shown.style.format(formats, na_rep="").set_uuid(tag)  # reruns give the same page
    if isinstance(table.index, pd.RangeIndex):
        style = style.hide(axis="index")
    return style.set_table_attributes('class="sdcore-table"')


def training_line(table: pd.DataFrame) -> Markdown:
    """"N models: k trained by this notebook in M min of training, the rest loaded from the run
    store", from a table with ``trained_now`` and ``wall_s`` per model."""
    trained = table[table.trained_now.astype(bool)] if "trained_now" in table else table.iloc[:0]
    if trained.empty:
        return Markdown(f"**{len(table)} models**, all loaded from the run store (none trained "
                        "by this notebook).")
    minutes = float(trained.wall_s.sum()) / 60 if "wall_s" in trained else 0.0
    return Markdown(f"**{len(table)} models**: {len(trained)} trained by this notebook in "
                    f"{minutes:.1f} min of training, {len(table) - len(trained)} loaded from "
                    "the run store.")


PROVENANCE_ROWS = {"profile": "profile", "parameters": "parameters",
                   "git_commit": "git commit", "git_dirty": "uncommitted changes",
                   "sdcore_version": "sdcore", "torch": "torch", "torchvision": "torchvision",
                   "numpy": "numpy", "python": "python", "lock": "environment lock",
                   "device": "device", "cpu": "CPU", "precision": "training precision",
                   "wall_s": "wall time (s)", "started": "date (UTC)"}


def provenance_table(record: dict[str, Any]) -> pd.DataFrame:
    """The provenance block of a claim page: one labelled row per fact of ``record``."""
    facts = {"profile": record["profile"], **record["provenance"]}
    facts["lock"] = describe(facts.get("lock"))
    return pd.DataFrame({"": [facts.get(k) for k in PROVENANCE_ROWS]},
                        index=pd.Index(list(PROVENANCE_ROWS.values()), name="provenance"))
