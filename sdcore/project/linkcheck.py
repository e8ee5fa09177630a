"""Internal link check of a built HTML book: every relative link must reach a file and an anchor.

Sphinx's ``-n -W`` catches broken cross-references in the sources; this catches what reaches the
HTML another way (raw links in notebooks and markdown, theme links, launch buttons' local paths).
External links (with a scheme, e.g. ``https:``) are not fetched. Cost: one parse of every page.
"""

from __future__ import annotations

from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

ASSET_FOLDERS = ("_static", "_sources", "_images")  # theme templates and copies, not pages


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.links: list[str] = []
        self.ids: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        for key in ("id", "name"):
            if values.get(key):
                self.ids.add(values[key])
        for key in ("href", "src"):
            if values.get(key) and (tag != "link" or key == "href"):
                self.links.append(values[key])


def _parse(path: Path) -> _Links:
    parser = _Links()
    parser.feed(path.read_text(encoding="utf-8", errors="replace"))
    return parser


def broken_links(html_dir: Path) -> list[str]:
    """``"page: link"`` for every relative link of every page that misses its file or anchor."""
    html_dir = html_dir.resolve()
    pages = {p: _parse(p) for p in sorted(html_dir.rglob("*.html"))
             if p.relative_to(html_dir).parts[0] not in ASSET_FOLDERS}
    broken = []
    for page, parsed in pages.items():
        for link in parsed.links:
            parts = urlsplit(link)
            if parts.scheme or parts.netloc:  # external, mailto: or javascript:
                continue
            target = (page.parent / unquote(parts.path)).resolve() if parts.path else page
            if target.is_dir():
                target = target / "index.html"
            ok = target.exists()
            if ok and parts.fragment and target.suffix == ".html":
                anchors = pages[target].ids if target in pages else _parse(target).ids
                ok = unquote(parts.fragment) in anchors
            if not ok:
                broken.append(f"{page.relative_to(html_dir)}: {link}")
    return broken
