"""Command line: ``python -m sdcore COMMAND`` (``python -m sdcore COMMAND --help`` for its
options, ``python -m sdcore --version`` for sdcore's version).

- ``reproduce --profile P [--all] [--only NAME ...] [--no-build] [--output DIR]
  [--executor E ...]``: (train the profile's models as jobs, then) run the notebooks that are not
  current with papermill and build the book;
- ``status [--profile P ...] [--check]``: each notebook's results at each profile: fresh, stale
  (and what changed) or missing; when they were made and which parameters changed since;
- ``run NOTEBOOK --profile P --set KEY=VALUE ... [--as NAME] [--jobs N]``: one notebook with
  parameters of your own: train what it is missing on N processes, execute it, and write its
  record and executed notebook to ``results/own/<name>/``, never over the book's;
- ``plan --profile P [--only NAME ...]``: every model the notebooks need, its state and cost;
- ``train --profile P --executor local|slurm|debug [...]``: train what the plan is missing;
- ``parameters --profile P NAME``: print a notebook's merged parameters (for ``papermill -f``),
  validated by its config;
- ``parameters-cells``: rewrite every notebook's parameters cell from its config;
- ``new-claim NAME --claim ID [--statement TEXT]``: scaffold and register a claim notebook;
- ``export --profile P DEST [--zip]``: the profile's trained models, from the run store, as an
  archive others can fetch (safetensors weights and a manifest with their sha256s);
- ``fetch SOURCE [--sha256 HEX] [--runs DIR]``: check an archive (a folder, a .zip or its URL),
  then fill the run store with its models;
- ``pdf [--html DIR]``: the book as one PDF, ``_build/pdf/book.pdf``, printed by headless Chromium;
- ``lock [--check]``: write ``requirements.lock`` from the running environment's distributions,
  or name what differs between the two.

Every command works in the checkout of the book that holds the working directory (the nearest
folder at or above it with ``_toc.yml``) and refuses to run outside one, except ``fetch`` into a
named run store (``--runs`` or ``$SDCORE_RUNS``), which needs no checkout. Before anything is
done, a ``--profile`` must be a folder of ``parameters/`` and the parameters of the notebooks the
command works on (NOTEBOOK, ``--only``'s, else all) must validate there; ``status``, which
reports parameters that no longer validate, checks only that its profiles exist. Every expected
failure (an unknown command, option, profile or notebook, with the closest name suggested; a
parameters file that is not YAML or does not validate; a refused archive; a path that cannot be
written; ...) prints one line, ``error: ...``, and exits with status 1; ``status --check`` and
``lock --check`` exit with status 1 when something is not current.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NoReturn

import pandas as pd
import yaml

from .. import __version__
from ..claims import NOTEBOOKS
from ..claims.config import ConfigError
from ..engine.lab import MissingModels
from ..paths import RUNS_VARIABLE, CheckoutError, checkout_root, runs_root
from ..project.archive import MANIFEST, ArchiveError, export, fetch, sha256
from ..project.book import BuildError
from ..project.browser import BrowserError
from ..project.dispatch import EXECUTORS, DispatchError, Options, train
from ..project.lock import LOCK_FILE, LockError, differences, installed, read_lock, write_lock
from ..project.pages import ExecutionError
from ..project.plan import UnitsError, load_units, plan_table, profile_plan, summary
from ..project.profiles import ProfileError, check_profile, unknown
from ..project.records import OWN_RUNS_VARIABLE
from ..project.run import NotebookRun, notebook_runs
from .pdf import PdfError, book_pdf
from .reproduce import ReproduceError, reproduce
from .run import overrides, run_notebook
from .scaffold import ScaffoldError, new_claim, write_parameters_cells
from .status import report, statuses

NAMES = [nb.name for nb in NOTEBOOKS]
UNITS = ("benchmarks/gpu_check_h100.json", "fast, 4 at once")  # measured per-model-epoch seconds
COMMANDS = {  # each command's help line in the list of commands, and its description
    "reproduce": "run the claim notebooks with papermill, then build the book into _build/html",
    "run": "run one claim notebook with parameters of your own: validate them, train the models "
           "it is missing on --jobs processes, execute it with papermill; its record and the "
           "executed notebook go to results/own/<name>/, never over the book's results",
    "plan": "every model the profile's notebooks need: key, setting, state (stored, training, "
            "missing) and estimated cost",
    "train": "train what the plan is missing, one job per chain",
    "parameters": "print a notebook's parameters at a profile: the shared file with its own over "
                  "it, as YAML, once its config validates them",
    "status": "whether each notebook's results at each profile are fresh, stale (naming what "
              "changed: parameters, rule, code, data, models) or missing; when they were made "
              "and which parameters changed since",
    "parameters-cells": "rewrite every notebook's parameters cell from its config, with the cpu "
                        "profile's values as defaults",
    "new-claim": "scaffold a claim notebook: its module in sdcore/claims/, the notebook in "
                 "book/claims/, a parameters file per profile; register it and regenerate "
                 "_toc.yml",
    "export": "write every model the profile's notebooks use, from the run store, into an "
              "archive others can fetch: safetensors weights and a manifest (keys, specs, "
              "metrics, sha256s, and the fingerprints of the results records they back)",
    "fetch": "check an archive that export wrote (every sha256, every key against its spec), "
             "then fill the run store with its models; a refused archive leaves the store as it "
             "was",
    "pdf": "the book as one PDF, _build/pdf/book.pdf: built on one page (jupyter-book's "
           "singlehtml builder, into _build/singlehtml), then printed by headless Chromium once "
           "MathJax has typeset it",
    "lock": f"write {LOCK_FILE}: every distribution installed in the running environment at its "
            "exact version, sorted (without sdcore, editable installs and pip)",
}
Command = Callable[[argparse.Namespace], int | None]  # runs a parsed command; its exit status


class UsageError(ValueError):
    """A malformed command line: an unknown command or option, a missing or bad value."""


class Parser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose usage errors raise ``UsageError`` (``main`` prints one line
    and returns 1) instead of printing the usage and exiting with status 2."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{message} (see {self.prog} --help)")


def notebook_name(name: str) -> str:
    """``name`` if a notebook has it (the type of NOTEBOOK and ``--only``), else an argparse
    error that suggests the closest name."""
    if name not in NAMES:
        raise argparse.ArgumentTypeError(unknown("notebook", name, NAMES))
    return name


def add_command(commands: argparse._SubParsersAction, name: str, handler: Command) -> Parser:
    """Command ``name``, run by ``handler``, with its ``COMMANDS`` text as help and
    description."""
    command = commands.add_parser(name, help=COMMANDS[name], description=COMMANDS[name])
    command.set_defaults(handler=handler)
    return command


def add_profile(parser: argparse.ArgumentParser, only: bool = True) -> None:
    """``--profile`` and, with ``only``, ``--only``."""
    parser.add_argument("--profile", default="cpu",
                        help="parameters/<profile>/ to use: smoke, cpu, gpu or paper "
                        "(default: cpu)")
    if only:
        parser.add_argument("--only", nargs="+", metavar="NAME", type=notebook_name,
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
    """The ``dispatch.Options`` that ``add_executor``'s options give."""
    return Options(args.executor, args.jobs, args.partition, args.account, args.gpus_per_job,
                   args.cpus_per_job, args.time_min, args.array_parallelism)


def parser() -> Parser:
    """The command line: sdcore's version and every command of ``COMMANDS`` with its options."""
    main = Parser(prog="python -m sdcore", description=__doc__,
                  formatter_class=argparse.RawDescriptionHelpFormatter)
    main.add_argument("--version", action="version", version=f"sdcore {__version__}")
    commands = main.add_subparsers(dest="command", required=True)
    rep = add_command(commands, "reproduce", run_reproduce)
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
    own = add_command(commands, "run", run_own)
    own.add_argument("notebook", type=notebook_name, metavar="NOTEBOOK", help="one of: "
                     + ", ".join(NAMES))
    add_profile(own, only=False)
    own.add_argument("--set", action="append", default=[], dest="sets", metavar="KEY=VALUE",
                     help="a parameter over the profile's, its value read as YAML (2.0, false, "
                     "[a, b]); repeat for more")
    own.add_argument("--as", dest="run_name", default="", metavar="NAME",
                     help="the run's name, its folder in results/own/ (default: the profile "
                     "and the keys it changes, e.g. cpu-temperature=2.0)")
    own.add_argument("--jobs", type=int, default=1,
                     help="training processes at once, each with its share of the CPU threads "
                     "(default 1)")
    pln = add_command(commands, "plan", print_plan)
    add_profile(pln)
    pln.add_argument("--units", type=Path,
                     help=f"measured costs (a gpu_check report; default {UNITS[0]})")
    pln.add_argument("--units-path", default=UNITS[1], metavar="PATH",
                     help=f"which of the report's training paths prices the models (default "
                     f"{UNITS[1]!r}; e.g. 'compiled, 4 at once')")
    pln.add_argument("--summary", action="store_true", help="the per-notebook summary only")
    trn = add_command(commands, "train", run_train)
    add_profile(trn)
    add_executor(trn, required=True)
    trn.add_argument("--no-wait", action="store_true",
                     help="slurm: return once submitted (follow progress with plan)")
    par = add_command(commands, "parameters", print_parameters)
    add_profile(par, only=False)
    par.add_argument("notebook", type=notebook_name, metavar="NOTEBOOK", help="one of: "
                     + ", ".join(NAMES))
    sta = add_command(commands, "status", print_status)
    sta.add_argument("--profile", nargs="+", metavar="P", dest="profiles",
                     help="these profiles (default: every profile with results)")
    sta.add_argument("--check", action="store_true",
                     help="exit with status 1 if any notebook is stale or missing")
    add_command(commands, "parameters-cells", print_parameters_cells)
    new = add_command(commands, "new-claim", print_new_claim)
    new.add_argument("name", help="notebook name, e.g. wider_students (numbered after the last "
                     "notebook) or 05_wider_students")
    new.add_argument("--claim", action="append", required=True, dest="claims", metavar="ID",
                     help="a claim it judges, e.g. C1 or a new C5 (repeat for more; the first is "
                     "its main one)")
    new.add_argument("--statement", default="", help="the claim's statement, for a new claim id")
    exp = add_command(commands, "export", print_export)
    add_profile(exp, only=False)
    exp.add_argument("dest", type=Path, metavar="DEST",
                     help="the archive folder to create (new, or an empty folder)")
    exp.add_argument("--zip", action="store_true", dest="zipped",
                     help="also write DEST.zip, one file to publish (e.g. on Zenodo)")
    fet = add_command(commands, "fetch", print_fetch)
    fet.add_argument("source", metavar="SOURCE",
                     help="the archive: its folder, its .zip, or the .zip's URL (https://... or "
                     "doi:10.5281/zenodo.N/FILE.zip, downloaded with pooch into its cache)")
    fet.add_argument("--sha256", metavar="HEX",
                     help=f"the sha256 of the archive's {MANIFEST} that export printed: refuse "
                     "the archive if it differs")
    fet.add_argument("--runs", type=Path, metavar="DIR",
                     help=f"the run store to fill (default: ${RUNS_VARIABLE}, else the "
                     "checkout's runs/)")
    pdf = add_command(commands, "pdf", print_pdf)
    pdf.add_argument("--html", type=Path, metavar="DIR",
                     help="print the single-page site already built in DIR (e.g. "
                     "_build/singlehtml) instead of building it")
    lck = add_command(commands, "lock", run_lock)
    lck.add_argument("--check", action="store_true",
                     help=f"write nothing; exit with status 1 naming each distribution whose "
                     f"version here differs from {LOCK_FILE}'s")
    return main


def project(args: argparse.Namespace) -> Path:
    """The checkout a command works in (``paths.checkout_root``), once the profile it names, if
    any, exists there."""
    root = checkout_root()
    if "profile" in args:
        check_profile(root, args.profile)
    return root


def notebook_runs_of(args: argparse.Namespace, root: Path,
                     given: dict[str, Any] | None = None) -> list[NotebookRun]:
    """The runs of the notebooks a command works on (NOTEBOOK, ``--only``'s, else all) at its
    profile (with the parameters ``given`` over it), each validated once (a ``ProfileError``
    naming the files and the key where the profile's parameters do not validate): the runs the
    command then uses."""
    chosen = [args.notebook] if "notebook" in args else getattr(args, "only", None)
    runs = notebook_runs(root, args.profile, chosen, given)
    for run in runs:
        run.declared  # noqa: B018 - validates, once: the run keeps it
    return runs


def run_reproduce(args: argparse.Namespace) -> None:
    root = project(args)
    jobs = None if args.executor is None else options(args)
    reproduce(notebook_runs_of(args, root), asked=args.everything or bool(args.only),
              build=not args.no_build, output=args.output, jobs=jobs, logs=args.logs)


def run_own(args: argparse.Namespace) -> None:
    root = project(args)
    run = notebook_runs_of(args, root, overrides(args.sets, args.run_name))[0]
    ran = run_notebook(run, args.jobs)
    print(f"record: {ran.record.relative_to(root)}\nexecuted notebook: "
          f"{ran.notebook.relative_to(root)}")
    if ran.place.own:
        print(f"to see it on the dashboard: {OWN_RUNS_VARIABLE}={ran.place.name} jupyter-book "
              "build .")


def run_train(args: argparse.Namespace) -> None:
    root = project(args)
    train(notebook_runs_of(args, root), options(args), args.logs, not args.no_wait)


def print_plan(args: argparse.Namespace) -> None:
    root = project(args)
    measured = args.units or Path(UNITS[0])  # the default report may be absent; a chosen one not
    units = (load_units(root / measured, args.units_path)
             if args.units or (root / measured).is_file() else None)
    plan = profile_plan(notebook_runs_of(args, root), units)
    with pd.option_context("display.width", 200, "display.max_rows", None,
                           "display.max_colwidth", 40):
        if not args.summary:
            print(plan_table(plan).to_string(index=False), end="\n\n")
        print(summary(plan).to_string())
    if units:
        print(f"\nestimates: training only, at the units of {measured} ({args.units_path})")


def print_parameters(args: argparse.Namespace) -> None:
    run = notebook_runs_of(args, project(args))[0]
    print(yaml.safe_dump(run.parameters, sort_keys=False), end="")


def print_status(args: argparse.Namespace) -> int:
    """``status``: 1 with ``--check`` if any notebook is stale or missing."""
    root = project(args)
    rows = statuses(root, args.profiles)
    print(report(root, rows))
    return int(args.check and any(state.state != "fresh" for _, state in rows))


def print_parameters_cells(args: argparse.Namespace) -> None:
    changed = write_parameters_cells(notebook_runs(project(args), "cpu"))
    print(f"rewrote: {', '.join(changed)}" if changed else "every cell is up to date")


def print_new_claim(args: argparse.Namespace) -> None:
    root = project(args)
    for path in new_claim(root, args.name, args.claims, args.statement):
        print(f"wrote {path.relative_to(root)}")


def print_export(args: argparse.Namespace) -> None:
    manifest = export(notebook_runs_of(args, project(args)), args.dest, args.zipped)
    print(f"exported {len(manifest['models'])} models of the {args.profile} profile to "
          f"{args.dest}{f' and {args.dest}.zip' if args.zipped else ''}, backing "
          f"{len(manifest['records'])} results record(s)")
    if manifest["records_not_backed"]:
        print("not backed (their models are not the plan's: stale records): "
              + ", ".join(manifest["records_not_backed"]))
    print(f"sha256 of {MANIFEST}: {sha256((args.dest / MANIFEST).read_bytes())}")


def print_fetch(args: argparse.Namespace) -> None:
    """``fetch``: into ``--runs``, else ``$SDCORE_RUNS``, else the checkout's run store (so only
    then in a checkout)."""
    runs = args.runs
    if runs is None and not os.environ.get(RUNS_VARIABLE):
        runs = runs_root(root=project(args))
    done = fetch(args.source, runs, args.sha256)
    print(f"stored {len(done.stored)} models in {done.store} ({len(done.present)} were there "
          f"already, identical); python -m sdcore reproduce --profile {done.profile} now trains "
          "none of them")


def print_pdf(args: argparse.Namespace) -> None:
    book_pdf(project(args), args.html)


def run_lock(args: argparse.Namespace) -> int:
    """``lock``: write the lock, or with ``--check`` compare it with the running environment
    (1 if they differ)."""
    path = project(args) / LOCK_FILE
    if not args.check:
        print(f"wrote {LOCK_FILE}: {len(write_lock(path))} distributions")
        return 0
    changed = differences(read_lock(path), installed())
    if not changed:
        print(f"this environment matches {LOCK_FILE}")
        return 0
    print(f"this environment differs from {LOCK_FILE} (python -m sdcore lock rewrites it):")
    print("\n".join(f"  {line}" for line in changed))
    return 1


def check_command(argv: Sequence[str]) -> None:
    """A ``UsageError`` that suggests the closest command if ``argv`` starts with an unknown
    one (argparse before Python 3.12 suggests none)."""
    if argv and not argv[0].startswith("-") and argv[0] not in COMMANDS:
        raise UsageError(unknown("command", argv[0], list(COMMANDS)))


FAILURES = (UsageError, CheckoutError, ProfileError, ConfigError, ReproduceError, ExecutionError,
            BuildError, DispatchError,
            MissingModels, UnitsError, ScaffoldError, ArchiveError, BrowserError, PdfError,
            LockError, OSError)  # what a user can cause and mend: no traceback


def describe(err: BaseException) -> str:
    """An expected failure as one sentence; an ``OSError`` as ``PATH: why``."""
    if isinstance(err, OSError) and err.filename and err.strerror:
        return f"{err.filename}: {err.strerror}"
    return str(err)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line ``argv`` (default: the process's); its exit status."""
    argv = sys.argv[1:] if argv is None else argv
    try:
        check_command(argv)
        args = parser().parse_args(argv)
        return args.handler(args) or 0
    except FAILURES as err:
        print(f"error: {describe(err)}", file=sys.stderr)
        return 1
