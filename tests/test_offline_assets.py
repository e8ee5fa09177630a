"""sdcore.sphinxext.offline_assets: MathJax and plotly.js copied from their installed packages
into a site's _static, and a mathjax_path that names no packaged component refused."""

from __future__ import annotations

import pytest
import yaml
from conftest import ROOT
from sphinx.errors import ConfigError

from sdcore.sphinxext import offline_assets


def test_the_books_mathjax_path_names_a_packaged_component():
    config = yaml.safe_load((ROOT / "_config.yml").read_text())["sphinx"]["config"]
    assert offline_assets.mathjax_component(config["mathjax_path"]) == "tex-mml-chtml.js"


def test_a_url_or_another_path_is_left_alone():
    assert offline_assets.mathjax_component("https://example.org/tex-chtml.js") is None
    assert offline_assets.mathjax_component("js/mathjax.js") is None


def test_an_unknown_component_is_refused_with_the_allowed_ones():
    with pytest.raises(ConfigError, match=r"mathjax_path 'mathjax/tex-nothing\.js'.*allowed: "
                                          r".*mathjax/tex-chtml\.js"):
        offline_assets.mathjax_component("mathjax/tex-nothing.js")


def test_copies_the_component_its_fonts_and_extensions_and_the_licences(tmp_path):
    offline_assets.copy_mathjax("tex-mml-chtml.js", tmp_path)
    offline_assets.copy_plotly(tmp_path)
    mathjax = tmp_path / "mathjax"
    assert (mathjax / "tex-mml-chtml.js").stat().st_size > 100_000
    assert list((mathjax / "output" / "chtml" / "fonts" / "woff-v2").glob("*.woff"))
    assert (mathjax / "input" / "tex" / "extensions" / "cancel.js").is_file()
    assert "Apache License" in (mathjax / "LICENSE").read_text()
    assert not (mathjax / "tex-svg.js").exists()  # the other components stay out
    assert "MIT license" in (tmp_path / offline_assets.PLOTLY_JS).read_text()[:300]
