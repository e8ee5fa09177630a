"""Fixes to the stock Jupyter Book 1 theme stack that show up in a browser.

- sphinx-thebe registers its inline configuration script on every ``env-before-read-docs``, which
  fires more than once in a Jupyter Book build, so pages declared ``const THEBE_JS_URL`` twice (a
  console error). Identical scripts are kept once per page.
- pydata-sphinx-theme sets the colour mode from ``localStorage`` or ``default_mode``; with neither,
  a first visit logs "Got invalid theme mode". ``default_mode`` is set to ``light`` (figures are
  drawn on white) unless the book's config sets it.
"""

from __future__ import annotations

from typing import Any

from sphinx.application import Sphinx


def _script_key(script: Any) -> tuple:
    """What makes two scripts the same; inline ones come with filename None or ""."""
    return (getattr(script, "filename", str(script)) or "",
            tuple(sorted((k, str(v)) for k, v in getattr(script, "attributes", {}).items())))


def dedupe_scripts(app: Sphinx, pagename: str, templatename: str, context: dict,
                   doctree: Any) -> None:
    """Keep the first of any identical ``<script>`` entries of a page."""
    seen, kept = set(), []
    for script in context.get("script_files", []):
        key = _script_key(script)
        if key not in seen:
            seen.add(key)
            kept.append(script)
    context["script_files"] = kept


def default_light_mode(app: Sphinx) -> None:
    app.config.html_context.setdefault("default_mode", "light")


def setup(app: Sphinx) -> None:
    app.connect("builder-inited", default_light_mode)
    app.connect("html-page-context", dedupe_scripts, priority=900)  # after the themes' handlers
