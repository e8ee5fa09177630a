"""The built smoke book in a real browser: headless Chromium (Debian's ``chromium``) driven by
Playwright. Every page of the table of contents must load without console errors, with every image
loaded; the dashboard has one row per claim; launch buttons point at the page's own notebook.

Runs wherever Chromium is installed; CI installs it (``.ci/run``) and sets CI=true, under which a
missing browser fails the test instead of skipping it.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import browser_or_skip

from sdcore.browser import chromium, served
from sdcore.claims import CLAIMS, NOTEBOOKS

pytestmark = [pytest.mark.slow, pytest.mark.browser]
REPOSITORY = "sdcore-book/revisiting-self-distillation"


@pytest.fixture(scope="module")
def served_book(smoke_book):
    """``_build/html`` of the smoke book on a loopback port; yields (base URL, project copy)."""
    copy, done = smoke_book.copy, smoke_book.done
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    with served(copy / "_build" / "html") as base:
        yield base, copy


def test_every_page_loads_in_headless_chromium(served_book, tmp_path):
    browser_or_skip()
    base, copy = served_book
    pages = ["book/intro", *(nb.path for nb in NOTEBOOKS), "book/reproducing",
             "book/bibliography"]
    external: set[str] = set()
    with chromium() as browser:
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        # No internet here or in CI: answer external requests (fonts, MathJax) with an empty
        # response, so that what is tested is the book's own pages and assets.
        page.route(lambda url: not url.startswith(base),
                   lambda route: (external.add(route.request.url),
                                  route.fulfill(status=200, body="")))
        errors: list[str] = []
        page.on("console", lambda m: errors.append(f"{m.type}: {m.text}")
                if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(f"page error: {e}"))
        for doc in pages:
            errors.clear()
            response = page.goto(f"{base}/{doc}.html", wait_until="load")
            page.wait_for_load_state("networkidle")
            assert response is not None and response.ok, doc
            assert errors == [], f"{doc}: {errors}"
            images = page.eval_on_selector_all(
                "img", "imgs => imgs.map(i => [i.getAttribute('src'), i.complete, i.naturalWidth])")
            bad = [src for src, complete, width in images if not complete or width == 0]
            assert bad == [], f"{doc}: images that did not load: {bad}"
            page.screenshot(path=str(tmp_path / f"{Path(doc).name}.png"), full_page=True)
            if doc.startswith("book/claims/"):
                _check_launch_buttons(page, doc)
                assert page.locator(".verdict-badge").count() >= 1, doc
        page.goto(f"{base}/book/intro.html")
        rows = page.locator("table.claims-dashboard tbody tr")
        assert rows.count() == len(CLAIMS)
        assert [rows.nth(i).locator("td").first.inner_text().split()[0]
                for i in range(rows.count())] == list(CLAIMS)
    assert sorted(p.name for p in tmp_path.glob("*.png")) == sorted(
        f"{Path(doc).name}.png" for doc in pages)


def _check_launch_buttons(page, doc: str) -> None:
    """Binder and Colab links of a notebook page open that notebook in the book's repository."""
    hrefs = page.eval_on_selector_all("a", "links => links.map(a => a.href)")
    binder = [h for h in hrefs if "mybinder.org" in h]
    colab = [h for h in hrefs if "colab.research.google.com" in h]
    assert binder and colab, f"{doc}: no launch buttons"
    notebook = f"{doc}.ipynb"
    assert all(REPOSITORY in h and h.endswith(notebook) for h in binder + colab), (
        doc, binder, colab)
