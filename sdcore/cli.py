"""Command line: ``python -m sdcore COMMAND``.

- ``reproduce --profile P [--only NAME ...] [--no-build] [--output DIR]``: run the notebooks, build;
- ``parameters --profile P NAME``: print a notebook's merged parameters (for ``papermill -f``);
- ``parameters-cells``: rewrite every notebook's parameters cell from its config.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import yaml

from .claims import NOTEBOOKS
from .paths import project_root
from .profiles import ProfileError, merged
from .reproduce import ReproduceError, reproduce, write_parameters_cells


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sdcore", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    rep = commands.add_parser("reproduce", help="run the claim notebooks with papermill, then "
                              "build the book into _build/html")
    rep.add_argument("--profile", default="cpu",
                     help="parameters/<profile>/ to use: smoke, cpu, gpu or paper (default: cpu)")
    rep.add_argument("--only", nargs="+", metavar="NAME", help="run only these notebooks")
    rep.add_argument("--no-build", action="store_true", help="skip the book build")
    rep.add_argument("--output", type=Path, metavar="DIR",
                     help="write the executed notebooks into DIR instead of replacing the book's "
                     "(no build): e.g. a GPU profile's run kept beside the book")
    par = commands.add_parser("parameters", help="print a notebook's parameters at a profile: "
                              "the shared file with its own over it, as YAML")
    par.add_argument("--profile", default="cpu")
    par.add_argument("notebook", choices=[nb.name for nb in NOTEBOOKS], metavar="NOTEBOOK",
                     help="one of: " + ", ".join(nb.name for nb in NOTEBOOKS))
    commands.add_parser("parameters-cells", help="rewrite every notebook's parameters cell from "
                        "its config, with the cpu profile's values as defaults")
    args = parser.parse_args(argv)
    try:
        if args.command == "reproduce":
            reproduce(args.profile, args.only, build=not args.no_build, output=args.output)
        elif args.command == "parameters":
            print(yaml.safe_dump(merged(project_root(), args.profile, args.notebook),
                                 sort_keys=False), end="")
        else:
            changed = write_parameters_cells(project_root())
            print(f"rewrote: {', '.join(changed)}" if changed else "every cell is up to date")
    except (ReproduceError, ProfileError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    return 0
