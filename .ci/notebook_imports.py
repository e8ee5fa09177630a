"""Run every import statement of the claim notebooks' code cells, one notebook at a time.

CI runs it in a virtual environment with `pip install -e .` alone (no extras), so that a module
the notebooks need and the core dependencies lack fails here. The statements are read from the
notebooks themselves (book/claims/*.ipynb), so the check follows them as they change. Standard
library only: it must not need what it checks.
"""

from __future__ import annotations

import ast
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def cell_source(cell: dict) -> str:
    """A code cell's source, IPython's magics and shell escapes left out."""
    source = cell["source"]
    text = source if isinstance(source, str) else "".join(source)
    return "\n".join(line for line in text.splitlines()
                     if not line.lstrip().startswith(("%", "!")))


def imports(notebook: Path) -> list[ast.stmt]:
    """Every ``import`` and ``from ... import`` in the notebook's code cells, in order."""
    cells = json.loads(notebook.read_text(encoding="utf-8"))["cells"]
    found: list[ast.stmt] = []
    for cell in cells:
        if cell["cell_type"] == "code":
            tree = ast.parse(cell_source(cell), filename=str(notebook))
            found += [node for node in ast.walk(tree) if isinstance(node, (ast.Import, ast.ImportFrom))]
    return found


def main() -> int:
    notebooks = sorted((ROOT / "book" / "claims").glob("*.ipynb"))
    if not notebooks:
        print("no notebooks in book/claims/", file=sys.stderr)
        return 1
    failed = 0
    for notebook in notebooks:
        statements = imports(notebook)
        namespace: dict = {}
        for node in statements:
            text = ast.unparse(node)
            try:
                exec(compile(ast.Module([node], type_ignores=[]), notebook.name, "exec"), namespace)
            except Exception as err:  # noqa: BLE001 - report every failing import, then fail
                failed += 1
                print(f"{notebook.name}: {text}: {type(err).__name__}: {err}", file=sys.stderr)
        if not any(isinstance(n, ast.ImportFrom) and (n.module or "").startswith("sdcore")
                   for n in statements):
            failed += 1
            print(f"{notebook.name}: imports nothing from sdcore (is the setup cell gone?)",
                  file=sys.stderr)
        print(f"{notebook.name}: {len(statements)} import statements")
    print(f"{len(notebooks)} notebooks, {failed} failed imports")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
