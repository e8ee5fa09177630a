"""Command line: ``python -m sdcore reproduce --profile P [--only NAME ...] [--no-build]``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .reproduce import ReproduceError, reproduce


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sdcore", description=__doc__)
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
    args = parser.parse_args(argv)
    try:
        reproduce(args.profile, args.only, build=not args.no_build, output=args.output)
    except ReproduceError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    return 0
