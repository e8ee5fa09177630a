"""Sphinx extension: the book's JavaScript served by the site itself, so that it reads offline.

- MathJax 3 from the django-static-mathjax package (Apache-2.0; its licence goes along).
  ``mathjax_path`` (``_config.yml``) names a component as ``mathjax/<component>.js``, relative to
  ``_static``; the HTML build copies that component, the folders it loads fonts and extensions
  from, and the licence to ``_static/mathjax/``. A URL or any other path is left alone.
- plotly.js from the plotly package (MIT, the licence in the file's header), copied to
  ``_static/plotly.min.js`` and loaded, before the page's own scripts, by every page that draws a
  plotly figure (``sdcore.report.interactive``).
"""

from __future__ import annotations

import shutil
from importlib.metadata import PackageNotFoundError, distribution
from importlib.resources import files
from pathlib import Path
from typing import Any

from sphinx.application import Sphinx
from sphinx.errors import ConfigError, ExtensionError

MATHJAX_PACKAGE = "django-static-mathjax"
MATHJAX_FOLDER = "mathjax"  # under _static
PLOTLY_JS = "plotly.min.js"
PLOTLY_MARKER = 'class="plotly-graph-div"'  # what plotly's HTML puts on every figure


def mathjax_distribution() -> Path:
    """The installed MathJax: the folder holding its ``es5`` build and its LICENSE."""
    try:
        installed = distribution(MATHJAX_PACKAGE)
    except PackageNotFoundError:
        raise ExtensionError(f"the book serves MathJax from the {MATHJAX_PACKAGE} package, which "
                             "is not installed: pip install -e '.[book]'") from None
    return Path(str(installed.locate_file("mathjax/static/mathjax")))


def mathjax_component(mathjax_path: str) -> str | None:
    """The component file that ``mathjax_path`` names in ``mathjax/``, checked against the
    installed MathJax; None for a path elsewhere (a URL, another file)."""
    prefix = f"{MATHJAX_FOLDER}/"
    if not mathjax_path.startswith(prefix):
        return None
    name = mathjax_path.removeprefix(prefix)
    components = sorted(p.name for p in (mathjax_distribution() / "es5").glob("*.js"))
    if name not in components:
        raise ConfigError(f"mathjax_path {mathjax_path!r}: the installed MathJax "
                          f"({MATHJAX_PACKAGE}) has no component {name!r}; allowed: "
                          + ", ".join(prefix + c for c in components))
    return name


def copy_mathjax(component: str, static: Path) -> None:
    """``component``, every folder of the MathJax build (what it loads on demand) and the
    licence, to ``static/mathjax``."""
    source, target = mathjax_distribution(), static / MATHJAX_FOLDER
    target.mkdir(parents=True, exist_ok=True)
    shutil.copy2(source / "es5" / component, target / component)
    for folder in (p for p in (source / "es5").iterdir() if p.is_dir()):
        shutil.copytree(folder, target / folder.name, dirs_exist_ok=True)
    shutil.copy2(source / "LICENSE", target / "LICENSE")


def copy_plotly(static: Path) -> None:
    static.mkdir(parents=True, exist_ok=True)
    shutil.copy2(Path(str(files("plotly") / "package_data" / PLOTLY_JS)), static / PLOTLY_JS)


def check_mathjax_path(app: Sphinx) -> None:
    """Stop a build whose ``mathjax_path`` names no packaged component before any page."""
    if app.builder.format == "html":
        mathjax_component(app.config.mathjax_path)


def load_plotly_where_drawn(app: Sphinx, pagename: str, templatename: str, context: dict,
                            doctree: Any) -> None:
    """Give plotly.js to the pages with a plotly figure (a blocking script in the head, so it
    is there when the figures' inline scripts run)."""
    if PLOTLY_MARKER in context.get("body", ""):
        app.builder.add_js_file(PLOTLY_JS)


def copy_assets(app: Sphinx, exception: Exception | None) -> None:
    if exception is not None or app.builder.format != "html":
        return
    static = Path(app.outdir) / "_static"
    component = mathjax_component(app.config.mathjax_path)
    if component is not None:
        copy_mathjax(component, static)
    copy_plotly(static)


def setup(app: Sphinx) -> None:
    app.connect("builder-inited", check_mathjax_path)
    app.connect("html-page-context", load_plotly_where_drawn)
    app.connect("build-finished", copy_assets)
