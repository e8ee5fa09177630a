"""Command line: ``python -m sdcore COMMAND``.

- ``reproduce --profile P [--all] [--only NAME ...] [--no-build] [--output DIR]
  [--executor E ...]``: (train the profile's models as jobs, then) run the notebooks that are not
  current with papermill and build the book;
- ``status [--profile P ...] [--check]``: each notebook's results at each profile: fresh, stale
  (and what changed) or missing;
- ``plan --profile P [--only NAME ...]``: every model the notebooks need, its state and cost;
- ``train --profile P --executor local|slurm|debug [...]``: train what the plan is missing;
- ``parameters --profile P NAME``: print a notebook's merged parameters (for ``papermill -f``);
- ``parameters-cells``: rewrite every notebook's parameters cell from its config;
- ``new-claim NAME --claim ID [--statement TEXT]``: scaffold and register a claim notebook;
- ``export --profile P DEST [--zip]``: the profile's trained models, from the run store, as an
  archive others can fetch (safetensors weights and a manifest with their sha256s);
- ``fetch SOURCE [--sha256 HEX] [--runs DIR]``: check an archive (a folder, a .zip or its URL),
  then fill the run store with its models;
- ``pdf [--html DIR]``: the book as one PDF, ``_build/pdf/book.pdf``, printed by headless Chromium;
- ``lock [--check]``: write ``requirements.lock`` from the running environment's distributions,
  or name what differs between the two.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd
import yaml

from .archive import MANIFEST, ArchiveError, export, fetch, sha256
from .browser import BrowserError
from .claims import NOTEBOOKS
from .dispatch import EXECUTORS, DispatchError, Options, train
from .engine.lab import MissingModels
from .lock import LOCK_FILE, LockError, differences, installed, read_lock, write_lock
from .paths import project_root
from .pdf import PdfError, book_pdf
from .plan import UnitsError, load_units, plan_table, profile_plan, summary
from .profiles import ProfileError, merged
from .reproduce import ReproduceError, reproduce, write_parameters_cells
from .scaffold import ScaffoldError, new_claim
from .status import report, statuses

NAMES = [nb.name for nb in NOTEBOOKS]
UNITS = ("benchmarks/gpu_check_h100.json", "fast, 4 at once")  # measured per-model-epoch seconds


def add_profile(parser: argparse.ArgumentParser, only: bool = True) -> None:
    parser.add_argument("--profile", default="cpu",
                        help="parameters/<profile>/ to use: smoke, cpu, gpu or paper "
                        "(default: cpu)")
    if only:
        parser.add_argument("--only", nargs="+", metavar="NAME", choices=NAMES,
                            help="these notebooks only: " + ", ".join(NAMES))


def add_executor(parser: argparse.ArgumentParser, required: bool) -> None:
    """The options of ``dispatch.Options``, all documented in ``--help``."""
    defaults = Options()
    parser.add_argument("--executor", choices=EXECUTORS, required=required,
                        help="local: jobs on this machine (they share its GPU); slurm: a job "
                        "array on a Slurm cluster; debug: in this process"
                        + ("" if required else " (default: no jobs, the notebooks train)"))
    parser.add_argument("--jobs", type=int, default=defaults.jobs,
                        help=f"local: jobs at once, each with its share of the CPU threads "
                        f"(default {defaults.jobs})")
    parser.add_argument("--partition", help="slurm: the partition (default: the cluster's)")
    parser.add_argument("--account", help="slurm: the account to charge")
    parser.add_argument("--gpus-per-job", type=int, default=defaults.gpus_per_job,
                        help=f"slurm: GPUs per job (default {defaults.gpus_per_job})")
    parser.add_argument("--cpus-per-job", type=int, default=defaults.cpus_per_job,
                        help=f"slurm: CPU cores per job (default {defaults.cpus_per_job})")
    parser.add_argument("--time", type=int, default=defaults.time_min, dest="time_min",
                        metavar="MINUTES", help="minutes a job runs before it is checkpointed "
                        f"and requeued (default {defaults.time_min})")
    parser.add_argument("--array-parallelism", type=int, default=defaults.array_parallelism,
                        help="slurm: jobs of the array running at once (default "
                        f"{defaults.array_parallelism})")
    parser.add_argument("--logs", type=Path, help="the jobs' logs and submitit files (default: "
                        "_build/jobs/<profile>/)")


def options(args: argparse.Namespace) -> Options:
    return Options(args.executor, args.jobs, args.partition, args.account, args.gpus_per_job,
                   args.cpus_per_job, args.time_min, args.array_parallelism)


def parser() -> argparse.ArgumentParser:
    main = argparse.ArgumentParser(prog="python -m sdcore", description=__doc__,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = main.add_subparsers(dest="command", required=True)
    rep = commands.add_parser("reproduce", help="run the claim notebooks with papermill, then "
                              "build the book into _build/html")
    add_profile(rep)
    rep.add_argument("--all", action="store_true", dest="everything",
                     help="run every notebook, current or not (default: only those whose "
                     "records are stale or missing, or whose page shows another run; see "
                     "status)")
    rep.add_argument("--no-build", action="store_true", help="skip the book build")
    rep.add_argument("--output", type=Path, metavar="DIR",
                     help="write the executed notebooks into DIR instead of replacing the book's "
                     "(no build): e.g. a GPU profile's run kept beside the book")
    add_executor(rep, required=False)
    pln = commands.add_parser("plan", help="every model the profile's notebooks need: key, "
                              "setting, state (stored, training, missing) and estimated cost")
    add_profile(pln)
    pln.add_argument("--units", type=Path,
                     help=f"measured costs (a gpu_check report; default {UNITS[0]})")
    pln.add_argument("--units-path", default=UNITS[1], metavar="PATH",
                     help=f"which of the report's training paths prices the models (default "
                     f"{UNITS[1]!r}; e.g. 'compiled, 4 at once')")
    pln.add_argument("--summary", action="store_true", help="the per-notebook summary only")
    trn = commands.add_parser("train", help="train what the plan is missing, one job per chain")
    add_profile(trn)
    add_executor(trn, required=True)
    trn.add_argument("--no-wait", action="store_true",
                     help="slurm: return once submitted (follow progress with plan)")
    par = commands.add_parser("parameters", help="print a notebook's parameters at a profile: "
                              "the shared file with its own over it, as YAML")
    add_profile(par, only=False)
    par.add_argument("notebook", choices=NAMES, metavar="NOTEBOOK", help="one of: "
                     + ", ".join(NAMES))
    sta = commands.add_parser("status", help="whether each notebook's results at each profile "
                              "are fresh, stale (naming what changed: parameters, rule, code, "
                              "data, models) or missing")
    sta.add_argument("--profile", nargs="+", metavar="P",
                     help="these profiles (default: every profile with results)")
    sta.add_argument("--check", action="store_true",
                     help="exit with status 1 if any notebook is stale or missing")
    commands.add_parser("parameters-cells", help="rewrite every notebook's parameters cell from "
                        "its config, with the cpu profile's values as defaults")
    new = commands.add_parser("new-claim", help="scaffold a claim notebook: its module in "
                              "sdcore/claims/, the notebook in book/claims/, a parameters file "
                              "per profile; register it and regenerate _toc.yml")
    new.add_argument("name", help="notebook name, e.g. wider_students (numbered after the last "
                     "notebook) or 05_wider_students")
    new.add_argument("--claim", action="append", required=True, dest="claims", metavar="ID",
                     help="a claim it judges, e.g. C1 or a new C5 (repeat for more; the first is "
                     "its main one)")
    new.add_argument("--statement", default="", help="the claim's statement, for a new claim id")
    exp = commands.add_parser("export", help="write every model the profile's notebooks use, "
                              "from the run store, into an archive others can fetch: safetensors "
                              "weights and a manifest (keys, specs, metrics, sha256s, and the "
                              "fingerprints of the results records they back)")
    add_profile(exp, only=False)
    exp.add_argument("dest", type=Path, metavar="DEST",
                     help="the archive folder to create (new, or an empty folder)")
    exp.add_argument("--zip", action="store_true", dest="zipped",
                     help="also write DEST.zip, one file to publish (e.g. on Zenodo)")
    fet = commands.add_parser("fetch", help="check an archive that export wrote (every sha256, "
                              "every key against its spec), then fill the run store with its "
                              "models; a refused archive leaves the store as it was")
    fet.add_argument("source", metavar="SOURCE",
                     help="the archive: its folder, its .zip, or the .zip's URL (https://... or "
                     "doi:10.5281/zenodo.N/FILE.zip, downloaded with pooch into its cache)")
    fet.add_argument("--sha256", metavar="HEX",
                     help=f"the sha256 of the archive's {MANIFEST} that export printed: refuse "
                     "the archive if it differs")
    fet.add_argument("--runs", type=Path, metavar="DIR",
                     help="the run store to fill (default: $SDCORE_RUNS, else runs/)")
    pdf = commands.add_parser("pdf", help="the book as one PDF, _build/pdf/book.pdf: built on one "
                              "page (jupyter-book's singlehtml builder, into _build/singlehtml), "
                              "then printed by headless Chromium once MathJax has typeset it")
    pdf.add_argument("--html", type=Path, metavar="DIR",
                     help="print the single-page site already built in DIR (e.g. "
                     "_build/singlehtml) instead of building it")
    lck = commands.add_parser("lock", help=f"write {LOCK_FILE}: every distribution installed in "
                              "the running environment at its exact version, sorted (without "
                              "sdcore, editable installs and pip)")
    lck.add_argument("--check", action="store_true",
                     help=f"write nothing; exit with status 1 naming each distribution whose "
                     f"version here differs from {LOCK_FILE}'s")
    return main


def lock(root: Path, check: bool) -> int:
    """``lock``: write the lock, or with ``check`` compare it with the running environment."""
    path = root / LOCK_FILE
    if not check:
        print(f"wrote {LOCK_FILE}: {len(write_lock(path))} distributions")
        return 0
    changed = differences(read_lock(path), installed())
    if not changed:
        print(f"this environment matches {LOCK_FILE}")
        return 0
    print(f"this environment differs from {LOCK_FILE} (python -m sdcore lock rewrites it):")
    print("\n".join(f"  {line}" for line in changed))
    return 1


def print_export(args: argparse.Namespace, root: Path) -> None:
    manifest = export(root, args.profile, args.dest, args.zipped)
    print(f"exported {len(manifest['models'])} models of the {args.profile} profile to "
          f"{args.dest}{f' and {args.dest}.zip' if args.zipped else ''}, backing "
          f"{len(manifest['records'])} results record(s)")
    if manifest["records_not_backed"]:
        print("not backed (their models are not the plan's: stale records): "
              + ", ".join(manifest["records_not_backed"]))
    print(f"sha256 of {MANIFEST}: {sha256((args.dest / MANIFEST).read_bytes())}")


def print_fetch(args: argparse.Namespace) -> None:
    done = fetch(args.source, args.runs, args.sha256)
    print(f"stored {len(done.stored)} models in {done.store} ({len(done.present)} were there "
          f"already, identical); python -m sdcore reproduce --profile {done.profile} now trains "
          "none of them")


def print_plan(args: argparse.Namespace, root: Path) -> None:
    report = args.units or Path(UNITS[0])  # the default report may be absent; a chosen one not
    units = (load_units(root / report, args.units_path)
             if args.units or (root / report).is_file() else None)
    plan = profile_plan(root, args.profile, args.only, units)
    with pd.option_context("display.width", 200, "display.max_rows", None,
                           "display.max_colwidth", 40):
        if not args.summary:
            print(plan_table(plan).to_string(index=False), end="\n\n")
        print(summary(plan).to_string())
    if units:
        print(f"\nestimates: training only, at the units of {report} ({args.units_path})")


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    root = project_root()
    try:
        if args.command == "reproduce":
            jobs = None if args.executor is None else options(args)
            reproduce(args.profile, args.only, build=not args.no_build, output=args.output,
                      jobs=jobs, logs=args.logs, everything=args.everything)
        elif args.command == "plan":
            print_plan(args, root)
        elif args.command == "train":
            train(root, args.profile, options(args), args.only, args.logs, not args.no_wait)
        elif args.command == "status":
            rows = statuses(root, args.profile)
            print(report(rows))
            if args.check and any(state.state != "fresh" for *_, state in rows):
                return 1
        elif args.command == "parameters":
            print(yaml.safe_dump(merged(root, args.profile, args.notebook), sort_keys=False),
                  end="")
        elif args.command == "export":
            print_export(args, root)
        elif args.command == "fetch":
            print_fetch(args)
        elif args.command == "pdf":
            book_pdf(root, args.html)
        elif args.command == "lock":
            return lock(root, args.check)
        elif args.command == "new-claim":
            for path in new_claim(root, args.name, args.claims, args.statement):
                print(f"wrote {path.relative_to(root)}")
        else:
            changed = write_parameters_cells(root)
            print(f"rewrote: {', '.join(changed)}" if changed else "every cell is up to date")
    except (ReproduceError, ProfileError, DispatchError, MissingModels, UnitsError,
            ScaffoldError, ArchiveError, BrowserError, PdfError, LockError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    return 0
