"""The internal link check of the built book, on hand-written pages."""

from sdcore.project.linkcheck import broken_links


def test_missing_pages_and_anchors_are_reported_and_external_links_are_not(tmp_path):
    (tmp_path / "book").mkdir()
    (tmp_path / "_static").mkdir()
    (tmp_path / "_static" / "theme.css").write_text("")
    (tmp_path / "_static" / "macros.html").write_text('<a href="{{ pathto(x) }}">template</a>')
    (tmp_path / "index.html").write_text(
        '<link href="_static/theme.css"><a href="book/page.html#results">ok</a>'
        '<a href="book/page.html#nowhere">bad anchor</a><a href="book/gone.html">missing</a>'
        '<a href="https://example.org/x">external</a><a href="#top">self</a><p id="top"></p>'
        '<img src="_static/missing.png">')
    (tmp_path / "book" / "page.html").write_text('<h2 id="results">Results</h2>'
                                                 '<a href="../index.html">up</a>')
    assert broken_links(tmp_path) == ["index.html: book/page.html#nowhere",
                                      "index.html: book/gone.html",
                                      "index.html: _static/missing.png"]
