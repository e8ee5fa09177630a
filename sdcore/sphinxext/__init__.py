"""The book's Sphinx extension (``sdcore.sphinxext`` in ``_config.yml``): the claims dashboard and
verdict badges, the summary atop each claim page, the measured times, the parameter
reference, the JavaScript served offline (MathJax, plotly.js), and fixes to the theme stack."""

from __future__ import annotations

from sphinx.application import Sphinx

from . import claim_summary, dashboard, fixes, measured_times, offline_assets, parameter_reference


def setup(app: Sphinx) -> dict:
    for module in (dashboard, claim_summary, measured_times, parameter_reference, offline_assets,
                   fixes):
        module.setup(app)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
