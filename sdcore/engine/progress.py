"""Progress of long work: live where a person watches, a few lines where a log keeps it.

``Progress(total, desc, unit)`` picks its form from where it runs (``SDCORE_PROGRESS`` overrides:
``live``, ``lines`` or ``off``):

- in a terminal, a tqdm bar on stderr, redrawn in place;
- in a Jupyter kernel, one display output updated in place (an IPython display handle), so that
  an interactive notebook shows a live bar and one executed by papermill keeps a single line per
  bar, its final state, instead of one stderr output per redraw;
- elsewhere (a job's log file, a pipe), a line at the start, at each quarter and at the end.

Cost: a redraw at most every ``MIN_INTERVAL_S`` seconds.
"""

from __future__ import annotations

import os
import sys
import time
from typing import Any

from tqdm import tqdm

MODES = ("live", "lines", "off")
MIN_INTERVAL_S = 0.5


def _in_kernel() -> bool:
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and type(shell).__name__ == "ZMQInteractiveShell"


def mode() -> str:
    """``live``, ``lines`` or ``off``: ``$SDCORE_PROGRESS`` if set, else live in a terminal or a
    Jupyter kernel, lines elsewhere."""
    chosen = os.environ.get("SDCORE_PROGRESS", "")
    if chosen:
        if chosen not in MODES:
            raise ValueError(f"SDCORE_PROGRESS={chosen!r}; allowed: {', '.join(MODES)}")
        return chosen
    return "live" if _in_kernel() or sys.stderr.isatty() else "lines"


class Progress:
    """A progress bar over ``total`` units of work; ``update(n, **postfix)`` advances it."""

    def __init__(self, total: int, desc: str, unit: str = "it", initial: int = 0):
        self.total, self.desc, self.unit, self.n = total, desc, unit, initial
        self.postfix: dict[str, Any] = {}
        self.start = time.perf_counter()
        self.mode = mode()
        self._bar: tqdm | None = None
        self._handle: Any = None
        self._drawn = 0.0
        self._quarter = 4 * initial // max(total, 1)
        if self.mode == "live" and _in_kernel():
            from IPython.display import display
            self._handle = display(self._raw(), raw=True, display_id=True)
        elif self.mode == "live":
            self._bar = tqdm(total=total, initial=initial, desc=desc, unit=unit, ncols=100,
                             mininterval=MIN_INTERVAL_S)
        elif self.mode == "lines":
            self._line()

    def _text(self) -> str:
        postfix = ", ".join(f"{k}={v}" for k, v in self.postfix.items())
        return tqdm.format_meter(self.n, self.total, time.perf_counter() - self.start,
                                 prefix=self.desc, unit=self.unit, postfix=postfix or None)

    def _raw(self) -> dict[str, str]:
        return {"text/plain": self._text()}

    def _line(self) -> None:
        print(self._text(), file=sys.stderr, flush=True)

    def update(self, n: int = 1, **postfix: Any) -> None:
        self.n += n
        self.postfix.update(postfix)
        if self._bar is not None:
            self._bar.set_postfix(postfix, refresh=False)
            self._bar.update(n)
        elif self._handle is not None:
            if time.perf_counter() - self._drawn >= MIN_INTERVAL_S:
                self._handle.update(self._raw(), raw=True)
                self._drawn = time.perf_counter()
        elif self.mode == "lines":
            quarter = 4 * self.n // max(self.total, 1)
            if quarter > self._quarter and self.n < self.total:
                self._line()
            self._quarter = quarter

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
        elif self._handle is not None:
            self._handle.update(self._raw(), raw=True)
        elif self.mode == "lines":
            self._line()

    def __enter__(self) -> "Progress":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
