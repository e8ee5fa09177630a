"""The package's layers import only downwards, and every module is in one:
engine ← claims ← project ← report ← sphinxext ← commands, with ``paths`` (a leaf every layer may
use) and ``__main__`` (the command line's entry) the only modules at the package root."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "sdcore"
ORDER = ("engine", "claims", "project", "report", "sphinxext", "commands")  # lowest first
ROOT_MODULES = {"__init__": set(), "paths": set(), "__main__": {"commands"}}  # what each may use


def layer_of(module: str) -> str:
    """The layer (or root module) of ``module``, a path under sdcore/ such as ``project/run``."""
    return module.split("/")[0]


def sdcore_imports(path: Path, package: Path = PACKAGE) -> set[str]:
    """The layers and root modules of sdcore that the file ``path`` imports, absolute or
    relative, at any depth (a function's own imports included)."""
    parts = path.relative_to(package).parts[:-1]  # its folder under sdcore/
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = list(parts[:len(parts) - node.level + 1])
                target = base + (node.module.split(".") if node.module else [])
                names = [target[0]] if target else [a.name for a in node.names]
            elif node.module == "sdcore":
                names = [a.name for a in node.names]
            elif node.module and node.module.startswith("sdcore."):
                names = [node.module.split(".")[1]]
            else:
                continue
        elif isinstance(node, ast.Import):
            names = [a.name.split(".")[1] for a in node.names
                     if a.name.startswith("sdcore.")]
        else:
            continue
        found.update(names)
    return found - {"__version__"}


def allowed(layer: str) -> set[str]:
    """What a module of ``layer`` may import: its own layer, those below it and ``paths``."""
    if layer in ROOT_MODULES:
        return ROOT_MODULES[layer] | {layer}
    return set(ORDER[:ORDER.index(layer) + 1]) | {"paths", "__init__"}


def violations(package: Path = PACKAGE) -> list[str]:
    """Every module of ``package`` outside the layers, and every import upwards."""
    found = []
    for path in sorted(package.rglob("*.py")):
        module = path.relative_to(package).with_suffix("").as_posix()
        layer = layer_of(module)
        if layer not in ORDER and layer not in ROOT_MODULES:
            found.append(f"{module}: in no layer (the root holds only {sorted(ROOT_MODULES)})")
            continue
        upward = sdcore_imports(path, package) - allowed(layer)
        if upward:
            found.append(f"{module} imports {sorted(upward)}")
    return found


def test_every_module_is_in_a_layer_and_imports_only_downwards():
    assert violations() == []


@pytest.mark.parametrize("module, line", [
    ("paths.py", "from .commands.cli import main\n"),
    ("claims/extra.py", "from ..project.run import NotebookRun\n"),
    ("engine/extra.py", "def f():\n    from sdcore.report import display\n"),
    ("leftover.py", "import json\n"),
])
def test_an_upward_import_or_a_module_at_the_root_is_caught(tmp_path, module, line):
    """The check fails on a constructed violation: an upward import at the package root, in a
    layer, inside a function, and a module left at the root."""
    copy = tmp_path / "sdcore"
    for path in PACKAGE.rglob("*.py"):
        target = copy / path.relative_to(PACKAGE)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(path.read_text())
    target = copy / module
    target.write_text((target.read_text() if target.exists() else "") + line)
    assert len(violations(copy)) == 1 and violations(copy)[0].startswith(module[:-3])


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
