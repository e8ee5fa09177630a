"""``python -m sdcore pdf``: the smoke book printed to one PDF with every claim page in it, and the
wait for MathJax on small pages of its own (typeset late, never, or not loaded at all).

Skipped like tests/test_browser.py where Chromium or playwright is missing, except in CI.
"""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path

import nbformat
import pytest
from conftest import browser_or_skip, run_sdcore

from sdcore.claims import CLAIMS, NOTEBOOKS
from sdcore.commands import pdf

pytestmark = pytest.mark.browser
FORMULA = r'<span class="math notranslate nohighlight">\(\varepsilon\)</span>'
LATE_MATHJAX = """<script>window.MathJax = {startup: {promise: new Promise(resolve => setTimeout(
  () => { document.querySelector('.math').innerHTML = '<mjx-container>e</mjx-container>';
          resolve(); }, 500))}};</script>"""
STUCK_MATHJAX = "<script>window.MathJax = {startup: {promise: new Promise(() => {})}};</script>"


def title(notebook: Path) -> str:
    """The first heading of a notebook's first markdown cell."""
    cell = next(c for c in nbformat.read(notebook, as_version=4).cells
                if c.cell_type == "markdown")
    return cell.source.splitlines()[0].lstrip("# ")


def words(text: str) -> str:
    """``text`` with its ligatures undone (NFKC), its white space single spaces, and no line
    break after a hyphen (``multi-<newline>view``)."""
    return re.sub(r"-\s+", "-", " ".join(unicodedata.normalize("NFKC", text).split()))


@pytest.mark.slow
def test_the_book_prints_to_one_pdf_in_the_order_of_its_pages(smoke_book):
    browser_or_skip()
    from pypdf import PdfReader

    copy = smoke_book.copy
    assert smoke_book.done.returncode == 0, smoke_book.done.stderr[-3000:]
    done = run_sdcore(copy, smoke_book.runs, "pdf")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "singlehtml" in done.stdout and f"{pdf.PDF} (" in done.stdout
    reader = PdfReader(copy / pdf.PDF)
    text = words(" ".join(page.extract_text() for page in reader.pages))
    titles = [words(title(copy / f"{nb.path}.ipynb")) for nb in NOTEBOOKS]
    missing = [t for t in titles if text.count(t) < 2]  # in the contents, and heading its page
    assert missing == [], f"claim pages missing from the PDF: {missing}"
    headings = [text.index(t, text.index(t) + 1) for t in titles]  # the first is the contents'
    assert headings == sorted(headings)
    assert all(words(statement) in text for statement in CLAIMS.values())  # the dashboard
    assert r"\varepsilon" not in text  # typeset by MathJax, not raw TeX
    assert len(reader.pages) > len(NOTEBOOKS) and reader.outline  # headings as bookmarks


@pytest.mark.slow
def test_a_multi_page_site_is_refused(smoke_book):
    copy = smoke_book.copy
    done = run_sdcore(copy, smoke_book.runs, "pdf", "--html", "_build/html")
    assert done.returncode == 1
    assert "one page per file" in done.stderr and "--builder singlehtml" in done.stderr


def site(folder: Path, head: str) -> Path:
    folder.mkdir()
    (folder / "index.html").write_text(f"<html><head>{head}</head><body><h1>Book</h1>"
                                       f"<p>{FORMULA}</p></body></html>")
    return folder


def test_printing_waits_for_mathjax_to_typeset(tmp_path):
    browser_or_skip()
    out = tmp_path / "book.pdf"
    pdf.print_site(site(tmp_path / "late", LATE_MATHJAX), out)
    assert out.read_bytes().startswith(b"%PDF")


def test_math_left_raw_is_an_error(tmp_path):
    browser_or_skip()
    with pytest.raises(pdf.PdfError, match=r"1 formula\(s\) not typeset.*script is missing"):
        pdf.print_site(site(tmp_path / "raw", ""), tmp_path / "book.pdf")
    assert not (tmp_path / "book.pdf").exists()


def test_mathjax_that_never_finishes_is_an_error(tmp_path, monkeypatch):
    browser_or_skip()
    monkeypatch.setattr(pdf, "MATH_TIMEOUT_S", 1)
    with pytest.raises(pdf.PdfError, match="MathJax did not finish within 1 s"):
        pdf.print_site(site(tmp_path / "stuck", STUCK_MATHJAX), tmp_path / "book.pdf")
