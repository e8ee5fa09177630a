"""The package's layers import only downwards: engine ← claims ← report ← sphinxext and commands."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "sdcore"
# layer -> the sdcore layers it may import (besides itself and the leaf modules below)
ALLOWED = {"engine": set(), "claims": {"engine"}, "report": {"engine", "claims"},
           "sphinxext": {"engine", "claims", "report"}}
LEAVES = {"paths", "profiles"}  # small helpers every layer may use


def sdcore_imports(path: Path) -> set[str]:
    """The top-level sdcore modules or packages that ``path`` imports."""
    layer_depth = len(path.relative_to(PACKAGE).parts) - 1
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against sdcore/<layer>/
                parts = path.relative_to(PACKAGE).parts[:-1][:max(0, layer_depth - node.level + 1)]
                target = [*parts, *(node.module or "").split(".")] if node.module else [*parts]
                names = [target[0]] if target and target[0] else [a.name for a in node.names]
            elif node.module and node.module.startswith("sdcore."):
                names = [node.module.split(".")[1]]
            else:
                continue
            found.update(n for n in names if n)
    return found


@pytest.mark.parametrize("layer", ALLOWED)
def test_layers_import_only_downwards(layer):
    for path in (PACKAGE / layer).glob("*.py"):
        imported = sdcore_imports(path) - {layer} - LEAVES - {"__init__"}
        imported = {m for m in imported if (PACKAGE / m).is_dir() or m in ALLOWED}
        assert imported <= ALLOWED[layer], f"{path.name} imports {imported - ALLOWED[layer]}"


def test_no_claim_module_imports_another():
    """What claims share lives in claims/common.py, runner.py, flatness.py and the engine."""
    from sdcore.claims import NOTEBOOKS, module_name

    claim_modules = {module_name(nb.name) for nb in NOTEBOOKS}
    for name in claim_modules:
        tree = ast.parse((PACKAGE / "claims" / f"{name}.py").read_text())
        imported = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                module = (node.module or "").split(".")[-1]
                imported |= {module} | {a.name for a in node.names}
            elif isinstance(node, ast.Import):
                imported |= {a.name.split(".")[-1] for a in node.names}
        assert not imported & (claim_modules - {name}), (name, imported & claim_modules)
