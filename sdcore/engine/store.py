"""The run store: every trained model under ``runs/<key>/``, keyed by a hash of what determines it.

A run folder holds ``spec.json`` (what was trained), ``model.pt`` (final weights) and
``metrics.json`` (written last: its presence marks the run complete), and, while training,
``checkpoint.pt`` (removed once the run completes). Every file is written to a temporary file in the
same folder and renamed into place, so a crash never leaves a half-written file behind; the
temporaries and checkpoint a killed process leaves are removed when the run is next begun, finished
or loaded. While a model trains, ``.lock`` and ``.owner.json`` say who trains it (``locks``).
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Callable

import torch

from .locks import RunLock

# Bump when training semantics change, so that old runs are not mistaken for new ones.
# 2: CPU training on one thread (train.CPU_TRAINING_THREADS), whatever the process's thread count.
STORE_FORMAT = 2


def _atomic_write(path: Path, write: Callable[[Any], None], mode: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, mode) as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_json(obj: Any, path: Path) -> None:
    _atomic_write(path, lambda f: json.dump(obj, f, indent=2, sort_keys=True), "w")


def atomic_torch_save(obj: Any, path: Path) -> None:
    _atomic_write(path, lambda f: torch.save(obj, f), "wb")


def spec_key(spec: dict[str, Any]) -> str:
    """A short stable hash of a JSON-serializable run spec."""
    canonical = json.dumps({"format": STORE_FORMAT, **spec}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


class RunStore:
    """Runs on disk under ``root``, one folder per key (``folder(key)``)."""

    def __init__(self, root: str | Path):
        self.root = Path(root)

    def folder(self, key: str) -> Path:
        return self.root / key

    def is_complete(self, key: str) -> bool:
        return (self.folder(key) / "metrics.json").is_file()

    def lock(self, key: str) -> RunLock:
        """The training lock of run ``key`` (``locks.RunLock``)."""
        return RunLock(self.folder(key))

    def checkpoint_path(self, key: str) -> Path:
        return self.folder(key) / "checkpoint.pt"

    def load(self, key: str) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
        """(spec, state_dict, metrics) of a complete run."""
        folder = self.folder(key)
        if not self.is_complete(key):
            raise KeyError(f"run {key} is not in the store at {self.root}")
        spec = json.loads((folder / "spec.json").read_text())
        metrics = json.loads((folder / "metrics.json").read_text())
        state = torch.load(folder / "model.pt", map_location="cpu", weights_only=True)
        self.tidy(key)
        return spec, state, metrics

    def begin(self, key: str, spec: dict[str, Any]) -> None:
        """Record the spec of a run about to be trained (idempotent), clearing the temporaries
        an interrupted writer left."""
        self._remove_temporaries(key)
        atomic_write_json(spec, self.folder(key) / "spec.json")

    def finish(self, key: str, state: dict[str, Any], metrics: dict[str, Any]) -> None:
        """Store final weights, then metrics (the completion mark), then drop the checkpoint."""
        folder = self.folder(key)
        atomic_torch_save(state, folder / "model.pt")
        atomic_write_json(metrics, folder / "metrics.json")
        self.tidy(key)

    def tidy(self, key: str) -> None:
        """Remove what a complete run no longer needs: its checkpoint and stray temporaries
        (a process killed between writing the completion mark and cleaning up leaves them)."""
        if self.is_complete(key):
            self.checkpoint_path(key).unlink(missing_ok=True)
            self._remove_temporaries(key)

    def _remove_temporaries(self, key: str) -> None:
        folder = self.folder(key)
        if folder.is_dir():
            for tmp in folder.glob(".*.tmp"):
                tmp.unlink(missing_ok=True)
