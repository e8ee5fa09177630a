"""What determines a notebook's numbers, and whether a results record still matches it.

A fingerprint names, for one run of a claim notebook: the digest of its resolved parameters,
of the rule text of each claim it judges, of the code of every source file its numbers depend on
(the claim module and the ``sdcore`` modules it imports, transitively, found by reading their
imports, each without comments and docstrings; and the notebook's own code cells), of its data
(the dataset's files, or the tensors of a generated dataset) and the store keys of the models it
used. ``fingerprint(run)`` makes one for a ``run.NotebookRun`` (the one a rerun would have now,
or, in a kernel, the run being made); ``compare`` says which parts of a recorded one no longer
match. The environment lock a record names
(in its provenance) is no part of a fingerprint: another lock makes no record stale, ``freshness``
only notes it. Cost: reading the sources, the parameters and the dataset's files (a second for
Fashion-MNIST), and planning (no training).
"""

from __future__ import annotations

import ast
import hashlib
import json
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import nbformat
import torch

from ..engine.data import DatasetNotFound, load_dataset, source_files
from ..paths import data_root
from .lock import lock_notes
from .run import NotebookRun

PACKAGE = Path(__file__).resolve().parents[1]  # the sdcore package folder
GENERATED_CELLS = {"parameters", "injected-parameters"}  # their effect is in the parameters


def digest(value: Any) -> str:
    """A short stable hash of a JSON-serializable value."""
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _file_digest(path: Path) -> str:
    sha = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            sha.update(block)
    return sha.hexdigest()[:16]


def source_digest(path: Path) -> str:
    """The digest of a Python file's code: its syntax tree without docstrings, so that comments,
    docstrings and layout can change without making results stale."""
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        first = body[0] if isinstance(body, list) and body else None
        if (isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant)
                and isinstance(first.value.value, str)):
            node.body = body[1:] or [ast.Pass()]
    return digest(ast.dump(tree))


def _module_file(dotted: str) -> Path | None:
    """The source file of ``sdcore...`` module ``dotted`` (a package's ``__init__.py``)."""
    parts = dotted.split(".")[1:]
    base = PACKAGE.joinpath(*parts)
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _dotted(path: Path) -> str:
    relative = path.relative_to(PACKAGE.parent).with_suffix("")
    parts = relative.parts[:-1] if relative.name == "__init__" else relative.parts
    return ".".join(parts)


def _imported(path: Path) -> set[str]:
    """The ``sdcore`` modules that ``path`` imports (package inits included)."""
    package = _dotted(path) if path.name == "__init__.py" else _dotted(path).rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            bases = [alias.name for alias in node.names]
            names: list[str] = []
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                anchor = package.split(".")[:len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            bases, names = [base], [alias.name for alias in node.names]
        else:
            continue
        for base in bases:
            if base != "sdcore" and not base.startswith("sdcore."):
                continue
            for depth in range(1, base.count(".") + 2):  # the packages on the way
                found.add(".".join(base.split(".")[:depth]))
            found.update(f"{base}.{n}" for n in names if _module_file(f"{base}.{n}"))
    return found


def code_files(module_file: Path) -> list[Path]:
    """``module_file`` and every ``sdcore`` source file it imports, transitively, sorted."""
    seen: set[Path] = set()
    todo = [module_file.resolve()]
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        seen.add(path)
        todo += [f for f in map(_module_file, _imported(path)) if f is not None]
    return sorted(seen)


def notebook_code(path: Path) -> str:
    """The digest of a notebook's code cells, outputs and generated parameter cells left out."""
    cells = nbformat.read(path, as_version=4).cells
    return digest([c.source for c in cells if c.cell_type == "code"
                   and not GENERATED_CELLS & set(c.metadata.get("tags", []))])


@lru_cache(maxsize=None)
def data_digest(dataset: str, root: str) -> str | None:
    """The digest of ``dataset``'s files under ``root`` (names and contents), or of its tensors
    if it is generated; None where its files are not here."""
    try:
        files = source_files(dataset, root)
    except DatasetNotFound:
        return None
    if files is None:
        data = load_dataset(dataset, root, download=False)
        sha = hashlib.sha256()
        for tensor in (data.train_x, data.train_y, data.test_x, data.test_y):
            sha.update(tensor.contiguous().numpy().tobytes())
        return sha.hexdigest()[:16]
    return digest([[f.name, _file_digest(f)] for f in files])


def fingerprint(run: NotebookRun) -> dict[str, Any]:
    """What determines the numbers of notebook ``run`` with its config."""
    config, nb = run.config, run.entry
    files = {str(f.relative_to(PACKAGE.parent)): source_digest(f)
             for f in code_files(Path(nb.module.__file__))}
    if run.page.is_file():
        files[f"{nb.path}.ipynb (code cells)"] = notebook_code(run.page)
    place = str(data_root(getattr(config, "data_root", ""), run.root))
    return {"parameters": digest(config.as_dict()),
            "rules": {claim: digest(text) for claim, text in nb.module.RULES.items()},
            "code": files,
            "data": {name: data_digest(name, place) for name in getattr(config, "datasets", [])},
            "models": sorted({s.key for chain in run.chains for s in chain.specs}),
            "torch": torch.__version__}


@dataclass
class Freshness:
    """Whether a record matches what a rerun would use now: ``fresh``, ``stale`` (with the
    parts that changed) or ``missing``; ``notes`` say what could not be checked here."""

    state: str
    reasons: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def describe(self) -> str:
        text = self.state + (f": {'; '.join(self.reasons)}" if self.reasons else "")
        return text + (f" ({'; '.join(self.notes)})" if self.notes else "")


def compare(recorded: dict[str, Any], now: dict[str, Any]) -> Freshness:
    """Which parts of a ``recorded`` fingerprint differ from ``now``."""
    reasons, notes = [], []
    if recorded.get("parameters") != now["parameters"]:
        reasons.append("parameters changed")
    old_rules = recorded.get("rules", {})
    changed = sorted(c for c in {*old_rules, *now["rules"]}
                     if old_rules.get(c) != now["rules"].get(c))
    if changed:
        reasons.append(f"rule of {', '.join(changed)} changed")
    old_code = recorded.get("code", {})
    files = sorted(f for f in {*old_code, *now["code"]} if old_code.get(f) != now["code"].get(f))
    if files:
        reasons.append(f"code changed ({', '.join(files)})")
    old_data = recorded.get("data", {})
    for name, value in now["data"].items():
        if value is None:
            notes.append(f"data {name} not checked: not found here")
        elif old_data.get(name) != value:
            reasons.append(f"data {name} changed")
    if recorded.get("models") != now["models"]:
        reasons.append("models changed")
    if recorded.get("torch") != now["torch"]:
        notes.append(f"made with torch {recorded.get('torch')}, here {now['torch']}")
    return Freshness("stale" if reasons else "fresh", reasons, notes)


def freshness(record: dict[str, Any] | None, run: NotebookRun) -> Freshness:
    """``compare`` of a record of ``run``'s notebook with what a rerun would use now."""
    if record is None:
        return Freshness("missing")
    try:
        config = run.config
    except Exception as err:  # noqa: BLE001 - a profile that no longer validates is stale
        return Freshness("stale", [f"parameters no longer validate ({err})"])
    if record.get("fingerprint"):
        result = compare(record["fingerprint"], fingerprint(run))
        result.notes += lock_notes(record.get("provenance", {}).get("lock"), run.root)
        return result
    commit = (record.get("provenance", {}).get("git_commit") or "an unknown commit")[:7]
    reasons = [f"made at {commit} by other code, before records had fingerprints"]
    if record.get("params") != config.as_dict():
        reasons.append("parameters changed")
    if record.get("rule") != run.entry.module.RULES.get(record.get("claim")):
        reasons.append(f"rule of {record.get('claim')} changed")
    return Freshness("stale", reasons)


def notebook_freshness(records: list[dict[str, Any]], run: NotebookRun) -> Freshness:
    """Whether the records of ``run``'s notebook at its profile (one per claim it judges, among
    ``records``) match what a rerun would use now."""
    from .records import latest_record

    own = {claim: latest_record(records, run.name, claim, run.profile)
           for claim in run.entry.claims}
    found = [r for r in own.values() if r is not None]
    if not found:
        return Freshness("missing")
    result = freshness(found[0], run)
    for claim, record in own.items():
        if record is None:
            result.state = "stale"
            result.reasons.append(f"no record of {claim}")
        elif record is not found[0] and record.get("fingerprint") != found[0].get("fingerprint"):
            result.state = "stale"
            result.reasons.append(f"the record of {claim} comes from another run")
    return result
