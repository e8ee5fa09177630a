"""The built smoke book in a real browser: headless Chromium (Debian's ``chromium``) driven by
Playwright, with the network blocked. Every page of the table of contents must load without console
errors, with every image loaded; the dashboard is a grid of one verdict per claim and profile, and
its forest plots of the judged effects draw; launch buttons point at the page's own notebook; math
is typeset by the book's own MathJax and the interactive figures draw with its own plotly.js, the
static images taking their place in print.

Runs wherever Chromium is installed; CI installs it (``.ci/run``) and sets CI=true, under which a
missing browser fails the test instead of skipping it.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import browser_or_skip

from sdcore.claims import CLAIMS, NOTEBOOKS, loss_landscape, student_beats_teacher
from sdcore.engine.stats import VERDICTS
from sdcore.project.browser import chromium, served
from sdcore.project.records import profiles_of, read_records

pytestmark = [pytest.mark.slow, pytest.mark.browser]
REPOSITORY = "sdcore-book/revisiting-self-distillation"
# The pages with interactive figures: C1's sweep heatmap, the loss landscape's surfaces.
INTERACTIVE = [nb.path for nb in NOTEBOOKS
               if nb.module in (student_beats_teacher, loss_landscape)]


@pytest.fixture(scope="module")
def served_book(smoke_book):
    """``_build/html`` of the smoke book on a loopback port; yields (base URL, project copy)."""
    copy, done = smoke_book.copy, smoke_book.done
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    with served(copy / "_build" / "html") as base:
        yield base, copy


def _offline_page(browser, base: str, external: set[str]):
    """A page that reaches only the served book: every other request is recorded and aborted."""
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.route(lambda url: not url.startswith(base),
               lambda route: (external.add(route.request.url), route.abort()))
    return page


def _open(page, url: str):
    """Go to ``url`` and wait until its requests are done and it has loaded; its response.
    (Waiting for ``networkidle`` only once the page had loaded was seen to time out on the
    dashboard, with its large inline figures, though no request was left.)"""
    response = page.goto(url, wait_until="networkidle")
    page.wait_for_load_state("load")
    return response


def _fetched_from_outside(external: set[str]) -> list[str]:
    return sorted(u for u in external if "mathjax" in u.lower() or "plotly" in u.lower())


def test_every_page_loads_in_headless_chromium(served_book, tmp_path):
    browser_or_skip()
    base, copy = served_book
    pages = ["book/intro", *(nb.path for nb in NOTEBOOKS), "book/reproducing",
             "book/bibliography"]
    external: set[str] = set()
    with chromium() as browser:
        page = _offline_page(browser, base, external)  # a failed request is a console error
        errors: list[str] = []
        page.on("console", lambda m: errors.append(f"{m.type}: {m.text}")
                if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(f"page error: {e}"))
        for doc in pages:
            errors.clear()
            response = _open(page, f"{base}/{doc}.html")
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
    assert sorted(p.name for p in tmp_path.glob("*.png")) == sorted(
        f"{Path(doc).name}.png" for doc in pages)
    assert _fetched_from_outside(external) == []


def test_math_and_interactive_figures_draw_offline(served_book, tmp_path):
    """With the network blocked: C1's page has its math typeset by the MathJax the site serves,
    no TeX left; both interactive pages draw their plotly figures with the site's plotly.js, on
    screen, and show the static images instead in print."""
    browser_or_skip()
    base, _ = served_book
    assert len(INTERACTIVE) == 2
    external: set[str] = set()
    with chromium() as browser:
        page = _offline_page(browser, base, external)
        page.goto(f"{base}/{INTERACTIVE[0]}.html", wait_until="load")
        page.wait_for_function("() => window.MathJax?.startup?.promise")
        page.evaluate("() => MathJax.startup.promise")
        assert page.evaluate("() => MathJax.version").startswith("3.")
        math = page.eval_on_selector_all(
            "span.math", "spans => spans.map(s => [!!s.querySelector('mjx-container'), "
                         "s.textContent])")
        assert math, "no math on C1's page"
        assert [text for typeset, text in math if not typeset or "\\(" in text or "$" in text
                ] == []
        for doc in INTERACTIVE:
            _open(page, f"{base}/{doc}.html")
            sources = page.eval_on_selector_all("script[src]", "ss => ss.map(s => s.src)")
            assert f"{base}/_static/plotly.min.js" in sources, doc
            figures = page.locator(".figure-screen")
            assert figures.count() >= 1, doc
            drawn = page.eval_on_selector_all(
                ".figure-screen .main-svg",
                "svgs => svgs.map(s => s.getBoundingClientRect()).map(r => r.width * r.height)")
            assert drawn and min(drawn) > 0, (doc, drawn)
            assert "WebGL is not supported" not in figures.first.inner_text(), doc
            assert figures.first.is_visible() and page.locator(".figure-print").first.is_hidden()
            page.screenshot(path=str(tmp_path / f"{Path(doc).name}.png"), full_page=True)
            page.emulate_media(media="print")
            assert figures.first.is_hidden() and page.locator(".figure-print").first.is_visible()
            page.emulate_media(media="screen")
    assert _fetched_from_outside(external) == []


def test_the_dashboard_is_a_grid_of_verdicts_over_a_forest_plot_drawn_offline(served_book):
    """A row per claim, a column per profile with records, each cell one verdict word; then one
    forest plot per profile, drawn by the site's plotly.js on screen, its image in print."""
    browser_or_skip()
    base, copy = served_book
    profiles = profiles_of(read_records(copy))
    external: set[str] = set()
    with chromium() as browser:
        page = _offline_page(browser, base, external)
        _open(page, f"{base}/book/intro.html")
        headers = page.locator("table.claims-dashboard thead th").all_inner_texts()
        assert headers == ["claim", *(f"{p} profile" for p in profiles)]
        rows = page.locator("table.claims-dashboard tbody tr")
        assert rows.count() == len(CLAIMS)
        for i, claim in enumerate(CLAIMS):
            cells = rows.nth(i).locator("td").all_inner_texts()
            assert cells[0].split()[0] == claim and len(cells) == 1 + len(profiles)
            assert all(c.split()[0] in (*VERDICTS, "not") for c in cells[1:]), cells
        assert "smoke" in profiles and page.locator(".dashboard-verdict a").count() >= len(CLAIMS)
        sources = page.eval_on_selector_all("script[src]", "ss => ss.map(s => s.src)")
        assert f"{base}/_static/plotly.min.js" in {s.split("?")[0] for s in sources}
        screens = page.locator(".claims-forest .figure-screen")
        prints = page.locator(".claims-forest .figure-print")
        assert screens.count() == prints.count() == len(profiles)
        drawn = page.eval_on_selector_all(
            ".claims-forest .figure-screen .main-svg",
            "svgs => svgs.map(s => s.getBoundingClientRect()).map(r => r.width * r.height)")
        assert len(drawn) >= len(profiles) and min(drawn) > 0, drawn
        assert screens.first.is_visible() and prints.first.is_hidden()
        page.emulate_media(media="print")
        assert screens.first.is_hidden() and prints.first.is_visible()
        assert page.eval_on_selector_all(
            ".claims-forest .figure-print", "imgs => imgs.every(i => i.complete && "
                                            "i.naturalWidth > 0)")
    assert _fetched_from_outside(external) == []


def _check_launch_buttons(page, doc: str) -> None:
    """Binder and Colab links of a notebook page open that notebook in the book's repository."""
    hrefs = page.eval_on_selector_all("a", "links => links.map(a => a.href)")
    binder = [h for h in hrefs if "mybinder.org" in h]
    colab = [h for h in hrefs if "colab.research.google.com" in h]
    assert binder and colab, f"{doc}: no launch buttons"
    notebook = f"{doc}.ipynb"
    assert all(REPOSITORY in h and h.endswith(notebook) for h in binder + colab), (
        doc, binder, colab)
