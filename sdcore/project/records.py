"""The results record of a claim notebook: ``results/<profile>/<notebook>.json``.

Schema: claim, notebook, profile, verdict ("holds" | "fails" | "inconclusive"), the rule the
verdict was computed by, headline numbers, the resolved parameters, provenance (git commit and
dirty flag, versions, the environment lock: ``requirements.lock``'s sha256 and whether the
environment matched it; device, start time, wall time) and the fingerprint of what determined the
numbers (``fingerprint``: parameters, rules, code, data, models; not the lock). Written
atomically.
"""

from __future__ import annotations

import importlib.metadata
import json
import math
import subprocess
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

import torch

from .. import __version__
from ..engine.hardware import cpu_info
from ..engine.stats import VERDICTS
from ..engine.store import atomic_write_json
from ..paths import project_root
from .lock import lock_provenance

# Files that running the book rewrites; changes there do not make the code "dirty".
GENERATED = (":(exclude)book/claims/*.ipynb", ":(exclude)results", ":(exclude)_build")
# Where a new, untracked file changes what runs; elsewhere (a virtual environment, data, a run
# store) untracked files do not make the code "dirty".
SOURCES = ("sdcore", "book", "parameters", "_toc.yml", "_config.yml", "pyproject.toml")


def _git(*args: str) -> str | None:
    try:
        out = subprocess.run(["git", *args], cwd=project_root(), capture_output=True, text=True,
                             timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def provenance(device: str, started: datetime, wall_s: float, precision: str | None = None,
               phases: dict[str, float] | None = None) -> dict[str, Any]:
    """Where a result came from: code version, software, hardware (the CPU's model and the flags
    that decide bf16 speed, ``hardware.cpu_info``), the training precision and timing (in all,
    and by ``phases``)."""
    changed = _git("status", "--porcelain", "--untracked-files=no", "--", ".", *GENERATED)
    added = _git("status", "--porcelain", "--untracked-files=all", "--", *SOURCES, *GENERATED)
    status = None if changed is None or added is None else changed + added
    if device.startswith("cuda") and torch.cuda.is_available():
        device = f"{device} ({torch.cuda.get_device_name(torch.device(device))})"
    else:
        device = f"{device} ({torch.get_num_threads()} threads)"
    cpu = cpu_info()
    return {"git_commit": _git("rev-parse", "HEAD"),
            "git_dirty": None if status is None else bool(status),
            "sdcore_version": __version__, "torch": torch.__version__,
            "torchvision": _version("torchvision"), "numpy": _version("numpy"),
            "python": sys.version.split()[0], "lock": lock_provenance(project_root()),
            "device": device, "cpu": f"{cpu['model']}; flags: "
            f"{', '.join(cpu['flags']) if cpu['flags'] is not None else 'unknown'}",
            "precision": precision,
            "started": started.isoformat(timespec="seconds"), "wall_s": round(wall_s, 1),
            "phases": phases or {}}


def _version(package: str) -> str | None:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return None


def finite_or_none(value: Any) -> Any:
    """``value`` with every NaN or infinity (e.g. the interval of a single seed) made None."""
    if isinstance(value, dict):
        return {k: finite_or_none(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite_or_none(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def write_record(*, claim: str, notebook: str, profile: str, verdict: str, rule: str,
                 numbers: dict[str, Any], params: dict[str, Any], parameters: str, device: str,
                 started: datetime, fingerprint: dict[str, Any], folder: Path,
                 secondary: bool = False, phases: dict[str, float] | None = None,
                 run: str = "") -> dict[str, Any]:
    """Write and return the results record; ``started`` is when the notebook began.

    A notebook's main claim goes to ``<notebook>.json``; a ``secondary`` claim it also tests
    goes to ``<notebook>.<claim>.json``; both in ``folder`` (``own_runs.place``).
    ``parameters`` says where the parameters came from (``own_runs.parameters_source``); ``run``
    names a run of your own, kept in the record.
    """
    if verdict not in VERDICTS:
        raise ValueError(f"verdict must be one of {VERDICTS}, got {verdict!r}")
    wall_s = (datetime.now(started.tzinfo) - started).total_seconds()
    record = {"claim": claim, "notebook": notebook, "profile": profile, "verdict": verdict,
              "rule": rule, "numbers": finite_or_none(numbers), "params": params,
              "provenance": {"parameters": parameters,
                             **provenance(device, started, wall_s, params.get("precision"),
                                          phases)},
              "fingerprint": fingerprint, **({"run": run} if run else {})}
    name = f"{notebook}.{claim}" if secondary else notebook
    atomic_write_json(record, folder / f"{name}.json")
    return record


PROFILE_ORDER = ("smoke", "cpu", "gpu", "paper")  # smallest scale first; others follow by name


def profiles_of(records: list[dict[str, Any]]) -> list[str]:
    """The profiles that ``records`` come from, smallest scale first."""
    found = {r["profile"] for r in records}
    known = [p for p in PROFILE_ORDER if p in found]
    return known + sorted(found - set(known))


def latest_record(records: list[dict[str, Any]], notebook: str, claim: str,
                  profile: str | None = None) -> dict[str, Any] | None:
    """The most recently started of ``records`` (``read_records()``) of ``notebook`` for ``claim``,
    in ``profile`` (default: across profiles)."""
    own = [r for r in records if r["notebook"] == notebook and r["claim"] == claim
           and profile in (None, r["profile"])]
    return max(own, key=lambda r: r["provenance"].get("started") or "", default=None)


OWN_RUNS_VARIABLE = "SDCORE_OWN_RUNS"  # runs of your own the dashboard shows: names, or "all"


def own_records(root: Path, asked: str) -> list[dict[str, Any]]:
    """The records of the runs of your own under ``results/own/<name>/`` that ``asked`` names (comma-
    separated; ``all``: every one), each with its run as its profile, ``"<run> (<profile>)"``,
    so that it takes a column of its own. Unknown names are a ``ValueError``."""
    base = root / "results" / "own"
    found = sorted(p.name for p in base.iterdir() if p.is_dir()) if base.is_dir() else []
    names = found if asked.strip() == "all" else [n.strip() for n in asked.split(",") if n.strip()]
    unknown = [n for n in names if n not in found]
    if unknown:
        raise ValueError(f"{OWN_RUNS_VARIABLE}: no run of your own called "
                         f"{', '.join(map(repr, unknown))} in {base}; there are: "
                         f"{', '.join(found) or 'none'}")
    records = []
    for name in names:
        for path in sorted((base / name).glob("*.json")):
            record = json.loads(path.read_text())
            if isinstance(record, dict) and "verdict" in record:
                records.append({**record, "profile": f"{name} ({record['profile']})"})
    return records


def read_records(root: Path | None = None) -> list[dict[str, Any]]:
    """Every results record under ``<root>/results``, sorted by claim then profile."""
    base = (root or project_root()) / "results"
    records = [json.loads(p.read_text()) for p in sorted(base.glob("*/*.json"))]
    records = [r for r in records if isinstance(r, dict) and "verdict" in r]
    return sorted(records, key=lambda r: (r["claim"], r["notebook"], r["profile"]))
