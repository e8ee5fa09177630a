"""Building the book: ``jupyter-book build . -W`` with the checkout's own sdcore, then every
internal link checked (``linkcheck``)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from .linkcheck import broken_links


class BuildError(RuntimeError):
    """jupyter-book is missing, the build failed, or the built book has broken links."""


@contextmanager
def checkout_first(root: Path) -> Iterator[None]:
    """Put ``root`` first on ``PYTHONPATH`` for the block, so that the kernels and the book
    build it starts import the checkout's own sdcore, whatever is installed."""
    before = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(root), before]))
    try:
        yield
    finally:
        if before is None:
            del os.environ["PYTHONPATH"]
        else:
            os.environ["PYTHONPATH"] = before


def build_book(root: Path, builder: str = "html") -> Path:
    """``jupyter-book build . -W`` (warnings are errors) with a Sphinx builder of jupyter-book's
    (``html``: one page per file; ``singlehtml``: the whole book on one page); its output folder,
    ``_build/<builder>``. The internal links of an ``html`` build are then checked (a singlehtml
    page lies at its root document's path, its links written for the top folder: ``pdf``)."""
    exe = Path(sys.executable).with_name("jupyter-book")
    if not exe.exists() and shutil.which("jupyter-book") is None:
        raise BuildError("building the book needs jupyter-book, in sdcore's book extra: pip "
                             "install -e '.[book]' (or give --no-build)")
    cmd = [str(exe) if exe.exists() else "jupyter-book", "build", str(root), "-W", "-n",
           "--keep-going", *(["--builder", builder] if builder != "html" else [])]
    print("$", " ".join(cmd), flush=True)
    with checkout_first(root):  # the book's extension (dashboard, badges) imports sdcore
        built = subprocess.run(cmd, cwd=root).returncode == 0
    if not built:
        raise BuildError("jupyter-book build failed (warnings count as errors); see above")
    output = root / "_build" / builder
    broken = broken_links(output) if builder == "html" else []
    if broken:
        raise BuildError("broken internal links in the built book:\n  " + "\n  ".join(broken))
    return output
