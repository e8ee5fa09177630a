"""The book as one PDF: ``python -m sdcore pdf`` writes ``_build/pdf/book.pdf``.

Jupyter Book's ``singlehtml`` builder puts every page, in the order of the table of contents, on
one page. It writes that page at the root document's path (``intro.html`` under ``book/``, to
which its ``index.html`` redirects), its links written for the top folder: so the page is served
as the site's ``index.html``, and its links to its own path are made in-page ones (the PDF's
internal links). Headless Chromium (``browser``) opens it on a loopback port with print media emulated, so
that a figure shows what the book keeps for print (``@media print``), waits until MathJax has
typeset every formula (raw TeX in the PDF is an error), and prints it: A4, backgrounds kept, page
numbers at the foot, headings as bookmarks.
"""

from __future__ import annotations

import re
from pathlib import Path

from ..claims import NOTEBOOKS
from ..project.book import build_book
from ..project.browser import chromium, served

PDF = Path("_build") / "pdf" / "book.pdf"
LOAD_TIMEOUT_S = 120
MATH_TIMEOUT_S = 120
REDIRECT = re.compile(r'<meta http-equiv="refresh" content="0; url=([^"]+)"', re.IGNORECASE)
FOOTER = ('<div style="font-size: 8px; width: 100%; text-align: center;">'
          '<span class="pageNumber"></span> / <span class="totalPages"></span></div>')

# Nothing scrolls on paper: a table or a code line wider than the page wraps instead of being cut
# off at its scroll box; a code cell or an image is not split between pages.
PRINT_CSS = """
.output, .cell_output, .pst-scrollable-table-container { overflow: visible !important; }
table.dataframe, .pst-scrollable-table-container table { font-size: 0.75em; }
table.dataframe th, table.dataframe td, .pst-scrollable-table-container td {
  overflow-wrap: anywhere;
}
pre { white-space: pre-wrap; overflow-wrap: anywhere; }
div.cell_input, img { break-inside: avoid; }
"""

# Makes every link to the page's own file (given from the top folder) a link within the page.
IN_PAGE = """(own) => {
  for (const a of document.querySelectorAll('a[href]')) {
    const url = new URL(a.getAttribute('href'), document.baseURI);
    if (url.origin === location.origin && url.pathname === '/' + own && url.hash) {
      a.setAttribute('href', url.hash);
    }
  }
}"""

# Resolves once MathJax (v3: its startup promise; v2: its queue) has typeset the page, or
# rejects after the timeout; then the formulas that are still raw TeX, i.e. without MathJax's
# output inside (v3: mjx-container; v2: span.MathJax and its kin).
TYPESET = """async (timeoutMs) => {
  const mj = window.MathJax;
  const done = mj && mj.startup && mj.startup.promise ? mj.startup.promise
    : mj && mj.Hub && mj.Hub.Queue ? new Promise(resolve => mj.Hub.Queue(resolve))
    : Promise.resolve();
  const late = new Promise((_, reject) => setTimeout(
    () => reject(new Error(`MathJax did not finish within ${timeoutMs / 1000} s`)), timeoutMs));
  await Promise.race([done, late]);
  const raw = [...document.querySelectorAll('.math')].filter(
    e => !e.querySelector('mjx-container, .MathJax, .MathJax_Display, .MathJax_SVG'));
  return {raw: raw.map(e => e.textContent.trim().slice(0, 60)),
          scripts: [...document.scripts].map(s => s.src).filter(s => /mathjax/i.test(s))};
}"""


class PdfError(RuntimeError):
    """The site to print is not a single-page build, or its page did not render."""


def book_pdf(root: Path, html: Path | None = None) -> Path:
    """Print the single-page site in ``html`` (default: build it, into ``_build/singlehtml``)
    into ``root/_build/pdf/book.pdf``; its path."""
    if html is None:
        print("building the book on one page (jupyter-book's singlehtml builder)", flush=True)
        html = build_book(root, "singlehtml")
    else:
        check_single_page(html)
        print(f"printing the site already built in {html} (no build)", flush=True)
    pdf = root / PDF
    print_site(html, pdf)
    return pdf


def single_page(html: Path) -> str:
    """The page of the site in ``html``, from its top: ``index.html``, or where that redirects."""
    index = html / "index.html"
    if not index.is_file():
        raise PdfError(f"{html} has no index.html: give --html the folder of a built site, e.g. "
                       "_build/singlehtml, or leave --html out to build it")
    redirect = REDIRECT.search(index.read_text(encoding="utf-8", errors="replace"))
    page = redirect.group(1) if redirect else "index.html"
    if not (html / page).is_file():
        raise PdfError(f"{index} redirects to {page}, which is not in {html}")
    return page


def check_single_page(html: Path) -> None:
    """``PdfError`` unless ``html`` holds a single-page build of the book."""
    single_page(html)
    pages = [f"{nb.path}.html" for nb in NOTEBOOKS if (html / f"{nb.path}.html").is_file()]
    if pages:
        raise PdfError(f"{html} is a site of one page per file (it has {pages[0]}): its "
                       "index.html is the first page only. Give --html a singlehtml build "
                       "(jupyter-book build . --builder singlehtml), or leave --html out")


def print_site(html: Path, pdf: Path) -> None:
    """Print the single page of the site in ``html`` into ``pdf`` with Chromium, once its math
    is typeset."""
    from playwright.sync_api import Error

    own = single_page(html)
    index = html / own
    with served(html) as base, chromium() as browser:
        page = browser.new_page()
        page.emulate_media(media="print", color_scheme="light")
        page.route(f"{base}/index.html", lambda route: route.fulfill(path=index))
        print(f"opening {index} in headless Chromium", flush=True)
        try:
            response = page.goto(f"{base}/index.html", wait_until="load",
                                 timeout=LOAD_TIMEOUT_S * 1000)
            page.evaluate(IN_PAGE, own)
            page.add_style_tag(content=PRINT_CSS)
            math = page.evaluate(TYPESET, MATH_TIMEOUT_S * 1000)
        except Error as err:
            raise PdfError(f"{index}: {err.message}") from err
        if response is None or not response.ok:
            raise PdfError(f"{index} did not load "
                           f"({response.status if response else 'no response'})")
        if math["raw"]:
            raise PdfError(
                f"{index}: {len(math['raw'])} formula(s) not typeset by MathJax, e.g. "
                f"{math['raw'][0]!r}: the page's MathJax "
                + (f"({', '.join(math['scripts'])}) did not load or run"
                   if math["scripts"] else "script is missing"))
        pdf.parent.mkdir(parents=True, exist_ok=True)
        page.pdf(path=str(pdf), format="A4", print_background=True, outline=True, tagged=True,
                 display_header_footer=True, header_template="<span></span>",
                 footer_template=FOOTER,
                 margin={"top": "15mm", "bottom": "15mm", "left": "12mm", "right": "12mm"})
    print(f"pdf: {pdf} ({pdf.stat().st_size / 1e6:.1f} MB)", flush=True)
