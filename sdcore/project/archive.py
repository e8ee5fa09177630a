"""Trained models others can download and check: ``export`` a profile's models from the run store
into an archive, ``fetch`` an archive into a run store.

An archive is a folder, optionally zipped too (``DEST.zip``, the same files at its top):
``manifest.json`` and ``models/<key>/model.safetensors`` for every model the profile's notebooks
plan. The manifest gives each model's store key, spec, metrics and the sha256 of its files, and the
fingerprints of the results records (``results/<profile>/*.json``) that the archived models back.
``fetch`` checks the whole archive first (every file against its sha256, every key against its
spec, every model already in the store against the archive's), refusing it with the files named
and nothing written; then it stores each model as training does (``RunStore.begin``, then
``finish``: weights, then the metrics that mark the run complete, each written atomically, under
the model's run lock). Models already stored and identical are skipped. A destination or run
store that cannot be written is refused before anything is read or downloaded, and a downloaded
archive that is refused is removed from pooch's cache, so that the next ``fetch`` downloads it
anew. Cost: reading and writing each model's weights once (fetch: reading them twice).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import torch

from .. import __version__
from ..engine.locks import describe
from ..engine.progress import Progress, mode
from ..engine.specs import ModelSpec
from ..engine.store import STORE_FORMAT, RunStore, atomic_write_json
from ..paths import runs_root
from .fingerprint import digest
from .run import NotebookRun, chains_of

FORMAT = 1  # of the archive's layout and manifest; bump when either changes
MANIFEST = "manifest.json"
WEIGHTS = "model.safetensors"


class ArchiveError(ValueError):
    """An archive that cannot be written (models missing from the store) or that is refused (a
    file missing or changed, a key that does not match its spec, a stored model that differs)."""


def model_file(key: str) -> str:
    """Where the weights of model ``key`` lie in an archive."""
    return f"models/{key}/{WEIGHTS}"


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def check_writable(folder: Path, what: str) -> None:
    """An ``ArchiveError`` naming ``what`` unless ``folder`` is, or can be made, a folder that
    this process may write in (its nearest existing folder at or above it is writable)."""
    existing = next(p for p in (folder, *folder.parents) if p.exists())
    why = ("is not a folder" if not existing.is_dir()
           else "" if os.access(existing, os.W_OK | os.X_OK) else "is not writable")
    if why:
        raise ArchiveError(f"cannot write {what}: {existing} {why}")


def discard(path: Path) -> None:
    """Remove the file or folder ``path``, if it is there."""
    if path.is_dir():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


@contextmanager
def staged(dest: Path) -> Iterator[Path]:
    """A hidden path beside ``dest`` to write, then moved onto ``dest`` (a new path or an empty
    folder), so that a failure leaves nothing behind; a failure to write it is an
    ``ArchiveError`` that names ``dest``, not the hidden path."""
    stage = dest.with_name(f".{dest.name}.partial")
    discard(stage)
    try:
        yield stage
        if dest.is_dir():
            dest.rmdir()
        os.replace(stage, dest)
    except BaseException as err:
        discard(stage)
        if isinstance(err, OSError) and str(err.filename).startswith(str(stage)):
            raise ArchiveError(f"cannot write {dest}: {err.strerror or err}") from None
        raise


def profile_models(runs: list[NotebookRun]) -> dict[str, RunStore]:
    """The key of every model the notebook ``runs`` plan, with the run store it is kept in."""
    models: dict[str, RunStore] = {}
    for chain in chains_of(runs):
        for spec in chain.specs:
            models.setdefault(spec.key, chain.store)
    return models


def backed_records(root: Path, profile: str, keys: set[str]) -> tuple[list[dict], list[str]]:
    """The results records of ``profile`` whose models are all among ``keys`` (path, notebook,
    claim, verdict, commit, the fingerprint and its digest), and the paths of the others."""
    backed, others = [], []
    for path in sorted((root / "results" / profile).glob("*.json")):
        record = json.loads(path.read_text())
        if not isinstance(record, dict) or "verdict" not in record:
            continue  # reproduce.json: a run's log, not a results record
        name = path.relative_to(root).as_posix()
        found = record.get("fingerprint") or {}
        if not found.get("models") or not set(found["models"]) <= keys:
            others.append(name)
            continue
        backed.append({"record": name, "notebook": record["notebook"], "claim": record["claim"],
                       "verdict": record["verdict"],
                       "git_commit": record.get("provenance", {}).get("git_commit"),
                       "digest": digest(found), "fingerprint": found})
    return backed, others


def export(runs: list[NotebookRun], dest: Path, zipped: bool = False) -> dict[str, Any]:
    """Write the archive of the models of ``runs`` (a profile's notebooks) to the new (or empty)
    folder ``dest``, and with ``zipped`` to ``dest``.zip too; return its manifest. Written beside
    ``dest`` and renamed into place, so that a failed export leaves nothing behind."""
    if not runs:
        raise ArchiveError("no notebooks to export the models of")
    root, profile, dest = runs[0].root, runs[0].profile, Path(dest)
    archive_zip = dest.with_name(dest.name + ".zip")
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise ArchiveError(f"{dest} exists and is not an empty folder; choose another DEST")
    if zipped and archive_zip.exists():
        raise ArchiveError(f"{archive_zip} exists; remove it or choose another DEST")
    check_writable(dest.parent, str(dest))
    models = profile_models(runs)
    missing = [key for key, store in models.items() if not store.is_complete(key)]
    if missing:
        stores = ", ".join(sorted({str(models[key].root) for key in missing}))
        more = f" and {len(missing) - 10} more" if len(missing) > 10 else ""
        raise ArchiveError(
            f"{len(missing)} of the {len(models)} models of the {profile} profile are not in the "
            f"run store {stores}: {', '.join(missing[:10])}{more}. Train them first: "
            f"python -m sdcore reproduce --profile {profile}")
    # safetensors and pooch are imported where they are used, so that the other commands run
    # without them (on a lent GPU machine, say, with only benchmarks/device_wheels.txt added)
    import safetensors.torch

    records, others = backed_records(root, profile, set(models))
    with staged(dest) as partial:
        entries = []
        with Progress(len(models), f"exporting {len(models)} models", "model") as progress:
            for key, store in models.items():
                spec, state, metrics = store.load(key)
                path = partial / model_file(key)
                path.parent.mkdir(parents=True)
                safetensors.torch.save_file({n: t.contiguous() for n, t in state.items()}, path)
                entries.append({"key": key, "spec": spec, "metrics": metrics,
                                "files": {WEIGHTS: sha256(path.read_bytes())},
                                "records": [r["record"] for r in records
                                            if key in r["fingerprint"]["models"]]})
                progress.update()
        manifest = {"format": FORMAT, "store_format": STORE_FORMAT, "profile": profile,
                    "sdcore": __version__, "torch": torch.__version__,
                    "created": datetime.now(UTC).isoformat(timespec="seconds"),
                    "models": entries, "records": records, "records_not_backed": others}
        atomic_write_json(manifest, partial / MANIFEST)
    if zipped:
        write_zip(dest, archive_zip)
    return manifest


def write_zip(folder: Path, path: Path) -> None:
    """``folder``'s files, stored uncompressed (weights barely compress) at the top of ``path``."""
    with staged(path) as tmp, zipfile.ZipFile(tmp, "w", zipfile.ZIP_STORED) as archive:
        for file in sorted(p for p in folder.rglob("*") if p.is_file()):
            archive.write(file, file.relative_to(folder).as_posix())


class Archive:
    """The files of an archive: a folder, or a .zip with the manifest at its top or in one
    folder."""

    def __init__(self, path: Path):
        self.path, self._zip, self._base = path, None, ""
        if path.is_dir():
            return
        if not zipfile.is_zipfile(path):
            raise ArchiveError(f"{path}: neither a folder nor a .zip archive")
        self._zip = zipfile.ZipFile(path)
        manifests = [n for n in self._zip.namelist() if n.split("/")[-1] == MANIFEST]
        if not manifests:
            raise ArchiveError(f"{path}: no {MANIFEST} in the archive")
        self._base = min(manifests, key=len)[:-len(MANIFEST)]

    def read(self, name: str) -> bytes:
        """The bytes of file ``name`` (a path inside the archive)."""
        try:
            if self._zip is None:
                return (self.path / name).read_bytes()
            return self._zip.read(self._base + name)
        except (FileNotFoundError, KeyError):
            raise ArchiveError(f"{name}: missing from the archive {self.path}") from None
        except zipfile.BadZipFile as err:  # a changed byte fails the zip's own CRC check
            raise ArchiveError(f"{name}: damaged in the archive {self.path} ({err})") from None


def is_url(source: str) -> bool:
    """Whether ``source`` names an archive to download (``https://...`` or ``doi:...``)."""
    return "://" in source or source.startswith("doi:")


def local_path(source: str) -> Path:
    """``source`` itself, or the file that the URL (``is_url``) names, downloaded by pooch into
    its cache for sdcore."""
    if is_url(source):
        import pooch

        try:
            return Path(pooch.retrieve(source, known_hash=None, path=pooch.os_cache("sdcore"),
                                       progressbar=mode() == "live"))
        except (OSError, ValueError) as err:  # requests' errors are OSErrors
            raise ArchiveError(f"{source}: the download failed ({err})") from None
    path = Path(source).expanduser()
    if not path.exists():
        raise ArchiveError(f"{source}: no such file or folder")
    return path


def read_manifest(archive: Archive, expected_sha256: str | None) -> dict[str, Any]:
    """The archive's manifest, refused if its sha256 is not ``expected_sha256`` (when given) or
    if this sdcore cannot read its layout or its models' keys."""
    raw = archive.read(MANIFEST)
    if expected_sha256 and sha256(raw) != expected_sha256.lower():
        raise ArchiveError(f"{MANIFEST}: its sha256 is {sha256(raw)}, not the "
                           f"{expected_sha256} expected")
    try:
        manifest = json.loads(raw)
    except ValueError as err:
        raise ArchiveError(f"{MANIFEST}: not JSON ({err})") from None
    if not isinstance(manifest, dict):
        raise ArchiveError(f"{MANIFEST}: not a mapping; not the manifest of an sdcore archive")
    if manifest.get("format") != FORMAT:
        raise ArchiveError(f"{MANIFEST}: archive format {manifest.get('format')!r}; this sdcore "
                           f"reads format {FORMAT}")
    if manifest.get("store_format") != STORE_FORMAT:
        raise ArchiveError(f"{MANIFEST}: models of store format {manifest.get('store_format')!r};"
                           f" this sdcore's run store is format {STORE_FORMAT}")
    return manifest


def checked_spec(entry: dict[str, Any]) -> dict[str, Any]:
    """The spec of a manifest entry as the store writes it, refused unless its key is the
    entry's and the entry lists the files of a model."""
    if not isinstance(entry, dict):
        raise ArchiveError(f"{MANIFEST}: a model entry is not a mapping: {entry!r:.60}")
    key = entry.get("key")
    try:
        spec = ModelSpec.from_json(entry["spec"])
    except (KeyError, TypeError, ValueError) as err:
        raise ArchiveError(f"{MANIFEST}: model {key}: not a spec this sdcore reads "
                           f"({err})") from None
    if spec.key != key:
        raise ArchiveError(f"{MANIFEST}: model {key}: the key does not match its spec (whose key "
                           f"is {spec.key})")
    if set(entry.get("files", {})) != {WEIGHTS} or not isinstance(entry.get("metrics"), dict):
        raise ArchiveError(f"{MANIFEST}: model {key}: it must give metrics and the sha256 of "
                           f"{WEIGHTS}")
    return spec.as_json()


def weights(archive: Archive, entry: dict[str, Any]) -> dict[str, torch.Tensor]:
    """The weights of a (checked) manifest entry, read and matched against its sha256."""
    import safetensors.torch

    name = model_file(entry["key"])
    data = archive.read(name)
    if sha256(data) != entry["files"][WEIGHTS]:
        raise ArchiveError(f"{name}: its sha256 does not match the manifest's (the file was "
                           "changed or damaged)")
    try:
        return safetensors.torch.load(data)
    except safetensors.SafetensorError as err:
        raise ArchiveError(f"{name}: not a safetensors file ({err})") from None


def identical(store: RunStore, key: str, spec: dict[str, Any], state: dict[str, torch.Tensor],
              metrics: dict[str, Any]) -> bool:
    """Whether the store's complete run ``key`` has this spec, these weights and these metrics
    (read as ``RunStore.load`` reads them, without its tidying: a refused fetch changes
    nothing)."""
    folder = store.folder(key)
    stored_spec = json.loads((folder / "spec.json").read_text())
    stored_metrics = json.loads((folder / "metrics.json").read_text())
    stored_state = torch.load(folder / "model.pt", map_location="cpu", weights_only=True)
    same_weights = stored_state.keys() == state.keys() and all(
        t.dtype == stored_state[n].dtype and torch.equal(t, stored_state[n])
        for n, t in state.items())
    return (same_weights and stored_spec == spec
            and json.dumps(stored_metrics, sort_keys=True) == json.dumps(metrics, sort_keys=True))


def already_stored(archive: Archive, store: RunStore, entry: dict[str, Any]) -> bool:
    """Check a manifest entry and its file: whether the store holds its model already (the same
    one), or else may take it; an ``ArchiveError`` naming the file or model if neither."""
    spec = checked_spec(entry)
    state = weights(archive, entry)
    key = entry["key"]
    if store.is_complete(key):
        if identical(store, key, spec, state, entry["metrics"]):
            return True
        raise ArchiveError(f"{store.folder(key)}: the stored model differs from the archive's; "
                           "remove that folder to take the archive's")
    owner = store.lock(key).held_elsewhere()
    if owner is not None:
        raise ArchiveError(f"model {key} is being trained now ({describe(owner)}); fetch again "
                           "once it is done")
    return False


def store_model(archive: Archive, store: RunStore, entry: dict[str, Any]) -> None:
    """Store a checked entry's model as training does, under its run lock; the weights are read
    and matched against their sha256 again, so that what is stored is what was checked."""
    key, state = entry["key"], weights(archive, entry)
    lock = store.lock(key)
    if not lock.try_acquire():
        raise ArchiveError(f"model {key}: another process took its run lock during the fetch; "
                           "fetch again once it is done")
    try:
        if not store.is_complete(key):
            store.begin(key, checked_spec(entry))
            store.finish(key, state, entry["metrics"])
    finally:
        lock.release()


@dataclass(frozen=True)
class Fetched:
    """What ``fetch`` did: the store it filled, the keys it stored and those already there."""

    store: Path
    profile: str
    stored: list[str]
    present: list[str]


def fetch(source: str, runs: Path | None = None, expected_sha256: str | None = None) -> Fetched:
    """Check the archive at ``source`` (a folder, a .zip, or its URL) as a whole, then store its
    models in the run store ``runs`` (default: ``paths.runs_root()``). A refused archive raises
    an ``ArchiveError`` naming every problem, with nothing written; if it was downloaded, it is
    removed from pooch's cache, which would otherwise hand it out again."""
    store = RunStore(runs or runs_root())
    check_writable(store.root, f"the run store {store.root}")
    path = local_path(source)
    try:
        return fill(store, Archive(path), source, expected_sha256)
    except ArchiveError:
        if is_url(source):
            path.unlink(missing_ok=True)
        raise


def fill(store: RunStore, archive: Archive, source: str,
         expected_sha256: str | None) -> Fetched:
    """``fetch``'s work once the archive is here: check it all, then store its models."""
    manifest = read_manifest(archive, expected_sha256)
    entries = manifest.get("models", [])
    todo, present, problems = [], [], []
    with Progress(len(entries), f"checking {len(entries)} models", "model") as progress:
        for entry in entries:
            try:
                (present if already_stored(archive, store, entry) else todo).append(entry)
            except ArchiveError as err:
                problems.append(str(err))
            progress.update()
    if problems:
        raise ArchiveError(f"the archive {source} is refused and nothing was written:\n  "
                           + "\n  ".join(problems))
    if todo:
        with Progress(len(todo), f"storing {len(todo)} models", "model") as progress:
            for entry in todo:
                store_model(archive, store, entry)
                progress.update()
    return Fetched(store.root, manifest.get("profile", ""), [e["key"] for e in todo],
                   [e["key"] for e in present])
