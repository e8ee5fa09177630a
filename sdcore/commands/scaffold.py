"""``python -m sdcore new-claim NAME --claim ID``: a new claim notebook, ready to run and edit.

It writes the claim module ``sdcore/claims/<module>.py`` (a working start: a teacher and its
self-distilled student per setting and seed, their paired difference in test accuracy and a rule
on it, to be replaced by the claim's own), the notebook ``book/claims/<name>.ipynb`` with the
book's skeleton (title, what would contradict the claim, install cell, parameters generated from
the config, validation, one ``run`` call, table, verdict, provenance), an empty parameters file
per profile (so the shared ones apply), and registers the notebook (``claims/registry.yaml``, and
``_toc.yml`` regenerated from the registry). Nothing is overwritten. Cost: a few small files.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import nbformat
import yaml

from ..claims import CLAIMS, NOTEBOOKS, module_name
from ..claims.config import ChainsConfig
from ..project.profiles import merged, profiles
from ..project.run import NotebookRun

NAME = re.compile(r"^(\d\d[a-z]?_)?[a-z][a-z0-9_]*$")
CLAIM_ID = re.compile(r"^C\d+$")
TOC_HEADER = ("# Table of contents. The claim chapters follow sdcore/claims/registry.yaml:\n"
              "# python -m sdcore new-claim adds one, and tests/test_notebooks.py checks it.\n")


class ScaffoldError(ValueError):
    """A name or claim that cannot be added, or a file that already exists."""


MODULE = '''"""Claim {claims}: {statement}

A start to edit: ``plan`` lists, per setting and seed, a teacher and its self-distilled student
(the chains of C1); ``analyse`` pairs each student with its teacher and gives the mean difference
in test accuracy with a 95% interval over seeds; the rule reads that interval. Replace the plan,
the analysis and the rule with the claim's own. Cost: settings × seeds × 2 trainings, minus those
already in the run store.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd

from ..engine.stats import paired_differences, three_way
from .common import ClaimResult, Plan, self_distillation_chains
from .config import ChainsConfig
from .runner import Study

RULES = {{{rules}}}


class Config(ChainsConfig):
    """Claim {claims}: {statement}"""


@dataclass
class Result(ClaimResult):
    table: pd.DataFrame  # one row per model
    differences: pd.DataFrame  # per setting: student - teacher, paired by seed

    def headline(self, claim: str) -> str:
        r = self.differences.iloc[0]
        return (f"student − teacher {{r.difference:+.2f}} pp [{{r.ci_low:+.2f}}, "
                f"{{r.ci_high:+.2f}}] over {{r.seeds}} seeds")

    def numbers(self, claim: str) -> dict[str, Any]:
        return {{"headline": self.headline(claim),
                "differences": self.differences.round(4).to_dict(orient="records")}}


def plan(config: Config) -> Plan:
    return [chain for _, chain in self_distillation_chains(config)]  # per setting and seed


def analyse(config: Config, study: Study) -> Result:
    table = study.table()
    differences = paired_differences(table, "test_acc", "generation", {{"student": (1, 0)}},
                                     ["dataset", "model"])
    verdict = three_way(differences.ci_low, differences.ci_high)
    return Result({{claim: verdict for claim in RULES}}, table=table, differences=differences)
'''

INSTALL = '''\
# Colab: install sdcore from the book's repository when it is not importable. In a checkout of
# the repository, on Binder or after `pip install -e .`, it is, and this cell does nothing.
# sdcore's dependencies are ranges that Colab's own torch and torchvision fit: pip keeps them.
import importlib.util
import subprocess
import sys

if importlib.util.find_spec("sdcore") is None:
    REPOSITORY = "{repository}"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", f"sdcore @ git+{{REPOSITORY}}"],
                   check=True)'''

SETUP = '''\
# Setup: this page's imports, and a snapshot so that validation sees what papermill injects.
from sdcore.claims import {module} as claim
from sdcore.claims import run
from sdcore.report.notebook import ParameterScope, configure, publish
from sdcore.report.display import provenance_table

scope = ParameterScope(globals())'''


def numbered(name: str) -> str:
    """``name`` with a two-digit number in front, the one after the book's last, if it has none."""
    if re.match(r"^\d\d[a-z]?_", name):
        return name
    last = max((int(nb.name[:2]) for nb in NOTEBOOKS), default=0)
    return f"{last + 1:02d}_{name}"


def notebook_cells(name: str, claims: list[str], statement: str, root: Path) -> list:
    """The cells of a new claim notebook, in the book's skeleton."""
    from ..report.notebook import parameters_cell

    new = nbformat.v4
    repository = yaml.safe_load((root / "_config.yml").read_text())["repository"]["url"]
    badges = " ".join(claims)
    glued = "\n\n".join(
        f"**{c} for this run: {{glue:text}}`{c.lower()}_verdict`** — "
        f"{{glue:text}}`{c.lower()}_headline`.\n\n:::{{admonition}} The rule behind the {c} "
        f"verdict\n:class: note\n{{glue:text}}`{c.lower()}_rule`\n:::" for c in claims)
    return [
        new.new_markdown_cell(
            f"# {badges} · {statement}\n\n**Claim.** {statement}\n\n```{{verdict-badge}} "
            f"{badges}\n```\n\n**What would contradict it.** State it here, before the numbers."
            "\n\n**The experiment.** Describe the models, the comparison and the controls; "
            "say beside each setting whose choice it is."),
        new.new_code_cell(INSTALL.format(repository=repository), metadata={"tags": ["hide-cell"]}),
        new.new_code_cell(SETUP.format(module=module_name(name))),
        new.new_code_cell(parameters_cell(ChainsConfig, merged(root, "cpu", name)),
                          metadata={"tags": ["parameters"]}),
        new.new_markdown_cell("## Parameters, validated"),
        new.new_code_cell("config = configure(claim.Config, scope)\nconfig"),
        new.new_markdown_cell("## Training (or loading) the models"),
        new.new_code_cell("result = run(config)\nresult.table",
                          metadata={"tags": ["remove-stderr"]}),
        new.new_markdown_cell("## Verdict"),
        new.new_code_cell("record = publish(result, config)"),
        new.new_markdown_cell(glued),
        new.new_markdown_cell("## Provenance"),
        new.new_code_cell("provenance_table(record)"),
    ]


def write_parameters_cells(runs: list[NotebookRun]) -> list[str]:
    """Rewrite each run's page's parameters cell from its config (``report.notebook.
    parameters_cell``) with its profile's values as defaults; return the notebooks changed."""
    from ..report.notebook import parameters_cell

    changed = []
    for run in runs:
        notebook = nbformat.read(run.page, as_version=4)
        cell = next(c for c in notebook.cells if "parameters" in c.metadata.get("tags", []))
        source = parameters_cell(run.entry.config, run.parameters)
        if cell.source != source:
            cell.source = source
            nbformat.write(notebook, run.page)
            changed.append(run.name)
    return changed


def write_toc(root: Path, names: list[str]) -> None:
    """Rewrite ``_toc.yml`` with ``names`` as the claim chapters, the rest as it was."""
    toc = yaml.safe_load((root / "_toc.yml").read_text())
    claims_part = next(p for p in toc["parts"] if p.get("caption") == "Claims")
    claims_part["chapters"] = [{"file": f"book/claims/{n}"} for n in names]
    (root / "_toc.yml").write_text(TOC_HEADER + yaml.safe_dump(toc, sort_keys=False))


def register(registry: Path, name: str, claims: list[str], statement: str) -> None:
    """Add the notebook (and a new claim's statement) to the registry file, comments kept."""
    lines = registry.read_text().splitlines()
    new_claims = [c for c in claims if c not in CLAIMS]
    at = next(i for i, line in enumerate(lines) if line.startswith("notebooks:"))
    lines[at:at] = [f"  {c}: {json.dumps(statement)}" for c in new_claims]  # YAML-quoted
    lines.append(f"  {name}: [{', '.join(claims)}]")
    registry.write_text("\n".join(lines) + "\n")


def new_claim(root: Path, name: str, claims: list[str], statement: str = "") -> list[Path]:
    """Scaffold and register claim notebook ``name`` judging ``claims``; return the files
    written. A claim not yet in the registry needs its ``statement``."""
    if not NAME.match(name):
        raise ScaffoldError(f"{name!r} is not a notebook name: lower-case letters, digits and _, "
                            "optionally after a number such as 05_ (e.g. 05_wider_students)")
    name = numbered(name)
    if not claims or not all(CLAIM_ID.match(c) for c in claims):
        raise ScaffoldError(f"--claim takes claim ids such as C1 or C5, got {claims}")
    unknown = [c for c in claims if c not in CLAIMS]
    if unknown and not statement:
        raise ScaffoldError(f"{', '.join(unknown)} not in the registry (it has "
                            f"{', '.join(CLAIMS)}): give its --statement")
    statement = statement or CLAIMS[claims[0]]
    module = root / "sdcore" / "claims" / f"{module_name(name)}.py"
    notebook = root / "book" / "claims" / f"{name}.ipynb"
    params = [root / "parameters" / p / f"{name}.yaml" for p in profiles(root)]
    clash = [p for p in (module, notebook, *params) if p.exists()]
    clash += [Path(nb.path) for nb in NOTEBOOKS if module_name(nb.name) == module_name(name)]
    if clash:
        raise ScaffoldError(f"not overwriting: {', '.join(map(str, clash))} already exist(s)")
    rules = ", ".join(f'"{c}": ("holds if in every setting the mean paired difference '
                      'student − teacher in test accuracy has its 95% interval above 0; fails '
                      'if some interval lies wholly below 0; inconclusive otherwise (the '
                      "scaffold's rule: replace it with the claim's own)\")" for c in claims)
    module.write_text(MODULE.format(claims=", ".join(claims), statement=statement, rules=rules))
    for path in params:
        path.write_text(f"# {path.parent.name}: {name} takes the profile's shared parameters; "
                        "add its own keys here.\n")
    registry = root / "sdcore" / "claims" / "registry.yaml"
    register(registry, name, claims, statement)
    notebook.write_text(nbformat.writes(nbformat.v4.new_notebook(
        cells=notebook_cells(name, claims, statement, root),
        metadata={"kernelspec": {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}})))
    write_toc(root, [nb.name for nb in NOTEBOOKS] + [name])
    return [module, notebook, *params, registry, root / "_toc.yml"]
