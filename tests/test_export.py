"""Archives of trained models: export the smoke profile's models, fetch them into an empty store
(they load equal to the originals and the plan misses nothing), and refuse a tampered archive
with the file named and the store left as it was."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import shutil
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch
from conftest import Background, copy_project, run_sdcore

from sdcore.claims import NOTEBOOKS
from sdcore.claims.common import lab_for
from sdcore.commands.cli import main
from sdcore.engine.lab import Lab
from sdcore.engine.specs import ModelSpec
from sdcore.engine.store import RunStore, spec_key
from sdcore.project.archive import MANIFEST, ArchiveError, export, fetch, model_file, sha256
from sdcore.project.plan import profile_plan
from sdcore.project.run import chains_of, notebook_runs


@dataclass
class Exported:
    """A project copy whose run store holds every model of the smoke plan, and its archive."""

    copy: Path
    runs: Path
    archive: Path  # the folder; ``archive.zip`` beside it
    models: dict[str, tuple[ModelSpec, Lab]]  # key -> spec, and a lab of its notebook's config
    backed: Path  # a results record whose models are all in the archive
    manifest: dict


def store_untrained(root: Path) -> dict[str, tuple[ModelSpec, Lab]]:
    """Store every model of the smoke plan as training stores it, with its initial weights and
    made-up metrics: all that export and fetch see of a trained model, at no training cost."""
    models: dict[str, tuple[ModelSpec, Lab]] = {}
    labs: dict[int, Lab] = {}
    for chain in chains_of(notebook_runs(root, "smoke")):
        lab = labs.setdefault(id(chain.config), lab_for(chain.config))
        for spec in chain.specs:
            if spec.key in models:
                continue
            models[spec.key] = (spec, lab)
            state = {k: v.cpu() for k, v in lab.new_model(spec).state_dict().items()}
            lab.store.begin(spec.key, spec.as_json())
            lab.store.finish(spec.key, state, {"test_acc": 50.0 + len(models), "train_acc": 60.0,
                                               "history": [{"epoch": 1, "loss": 0.1}]})
    return models


def write_record(root: Path, notebook: int, models: list[str]) -> Path:
    """A results record of the smoke profile whose fingerprint names ``models``."""
    nb = NOTEBOOKS[notebook]
    path = root / "results" / "smoke" / f"{nb.name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"claim": nb.claims[0], "notebook": nb.name, "profile": "smoke",
                                "verdict": "holds", "provenance": {"git_commit": "abc1234"},
                                "fingerprint": {"parameters": "p", "models": models}}))
    return path


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> Exported:
    base = tmp_path_factory.mktemp("export")
    copy, runs = base / "project", base / "runs"
    copy_project(copy)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SDCORE_RUNS", str(runs))
        patch.chdir(copy)
        models = store_untrained(copy)
        first = sorted({s.key for chain in chains_of(notebook_runs(copy, "smoke", [NOTEBOOKS[0].name]))
                        for s in chain.specs})
        backed = write_record(copy, 0, first)
        write_record(copy, 1, ["0000000000000000"])  # stale: a model the plan no longer has
        manifest = export(notebook_runs(copy, "smoke"), base / "archive", zipped=True)
    return Exported(copy, runs, base / "archive", models, backed, manifest)


def snapshot(root: Path) -> dict[str, str | None]:
    """Every path under ``root``, with the sha256 of each file's bytes."""
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            if p.is_file() else None for p in sorted(root.rglob("*"))}


def test_the_manifest_gives_keys_specs_metrics_hashes_and_the_records_backed(exported):
    manifest, archive = exported.manifest, exported.archive
    assert manifest["profile"] == "smoke"
    assert [m["key"] for m in manifest["models"]] == list(exported.models)
    for entry in manifest["models"]:
        assert spec_key(entry["spec"]) == entry["key"]
        assert entry["metrics"]["train_acc"] == 60.0
        data = (archive / model_file(entry["key"])).read_bytes()
        assert entry["files"] == {"model.safetensors": sha256(data)}
    [record] = manifest["records"]
    recorded = json.loads(exported.backed.read_text())
    assert record["record"] == exported.backed.relative_to(exported.copy).as_posix()
    assert record["fingerprint"] == recorded["fingerprint"]
    assert {m["key"] for m in manifest["models"] if m["records"]} == set(
        recorded["fingerprint"]["models"])
    assert manifest["records_not_backed"] == [f"results/smoke/{NOTEBOOKS[1].name}.json"]


def test_fetch_fills_an_empty_store_with_the_models_as_trained(exported, tmp_path, monkeypatch):
    fetched = tmp_path / "fetched"
    done = fetch(str(exported.archive.with_name("archive.zip")), fetched)
    assert sorted(done.stored) == sorted(exported.models) and done.present == []
    original, copy = RunStore(exported.runs), RunStore(fetched)
    for key, (spec, lab) in exported.models.items():
        assert sorted(p.name for p in copy.folder(key).iterdir()) == sorted(
            p.name for p in original.folder(key).iterdir()) == ["metrics.json", "model.pt",
                                                                 "spec.json"]
        for name in ("spec.json", "metrics.json"):
            assert (copy.folder(key) / name).read_bytes() == (original.folder(key) / name
                                                               ).read_bytes()
        ours = lab.load(spec)
        theirs = dataclasses.replace(lab, store=copy).load(spec)
        assert ours.metrics == theirs.metrics
        pairs = zip(ours.model.state_dict().items(), theirs.model.state_dict().items())
        assert all(a == b and torch.equal(x, y) for (a, x), (b, y) in pairs)
    monkeypatch.setenv("SDCORE_RUNS", str(fetched))
    assert {p.state for p in profile_plan(notebook_runs(exported.copy, "smoke"))} == {"stored"}
    before = snapshot(fetched)
    again = fetch(str(exported.archive), fetched)  # the folder this time
    assert again.stored == [] and sorted(again.present) == sorted(exported.models)
    assert snapshot(fetched) == before


def test_the_commands_export_and_fetch(exported, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("SDCORE_RUNS", str(exported.runs))
    monkeypatch.chdir(exported.copy)
    dest = tmp_path / "models"
    assert main(["export", "--profile", "smoke", str(dest)]) == 0
    out = capsys.readouterr().out
    digest = sha256((dest / MANIFEST).read_bytes())
    assert f"exported {len(exported.models)} models of the smoke profile" in out and digest in out
    assert main(["fetch", str(dest), "--runs", str(tmp_path / "bad"), "--sha256", "0" * 64]) == 1
    assert f"{MANIFEST}: its sha256 is {digest}" in capsys.readouterr().err
    assert not (tmp_path / "bad").exists()
    assert main(["fetch", str(dest), "--runs", str(tmp_path / "runs"), "--sha256", digest]) == 0
    assert (f"stored {len(exported.models)} models in {tmp_path / 'runs'}"
            in capsys.readouterr().out)


def test_export_names_the_missing_models_and_the_command_that_trains_them(exported, tmp_path,
                                                                          monkeypatch):
    monkeypatch.setenv("SDCORE_RUNS", str(tmp_path / "empty"))
    with pytest.raises(ArchiveError) as refused:
        export(notebook_runs(exported.copy, "smoke"), tmp_path / "archive")
    message = str(refused.value)
    assert next(iter(exported.models)) in message
    assert "python -m sdcore reproduce --profile smoke" in message
    assert not (tmp_path / "archive").exists()


def change_a_byte(path: Path, at: int) -> None:
    data = bytearray(path.read_bytes())
    data[at] ^= 0xFF
    path.write_bytes(bytes(data))


def data_offset(zipped: Path, name: str) -> int:
    """Where member ``name``'s bytes start in ``zipped``: after its local header."""
    with zipfile.ZipFile(zipped) as archive:
        start = archive.getinfo(name).header_offset
    header = zipped.read_bytes()[start:start + 30]
    return start + 30 + int.from_bytes(header[26:28], "little") + int.from_bytes(header[28:30],
                                                                                "little")


def tamper(how: str, archive: Path, store: Path, key: str) -> tuple[Path, str]:
    """Spoil the archive (or the store) ``how``; the source to fetch and what the refusal names."""
    weights = archive / model_file(key)
    if how == "a changed byte":
        change_a_byte(weights, weights.stat().st_size // 2)
    elif how == "a missing file":
        weights.unlink()
    elif how == "a changed byte in the zip":
        zipped = archive.with_name("archive.zip")
        change_a_byte(zipped, data_offset(zipped, model_file(key)) + 200)
        return zipped, model_file(key)
    elif how == "a key that does not match its spec":
        manifest = json.loads((archive / MANIFEST).read_text())
        entry = next(e for e in manifest["models"] if e["key"] == key)
        entry["spec"]["seed"] += 1
        (archive / MANIFEST).write_text(json.dumps(manifest))
        return archive, f"{MANIFEST}: model {key}: the key does not match its spec"
    else:  # a model in the store that differs from the archive's
        key = sorted(p.name for p in store.iterdir())[0]
        (store / key / "metrics.json").write_text('{"test_acc": 1.0}')
        return archive, f"{store / key}: the stored model differs from the archive's"
    return archive, model_file(key)


@pytest.mark.parametrize("how", ["a changed byte", "a missing file", "a changed byte in the zip",
                                 "a key that does not match its spec",
                                 "a stored model that differs"])
def test_a_spoiled_archive_is_refused_naming_the_file_and_the_store_is_unchanged(
        exported, tmp_path, how):
    archive, store = tmp_path / "archive", tmp_path / "store"
    shutil.copytree(exported.archive, archive)
    shutil.copy(exported.archive.with_name("archive.zip"), tmp_path / "archive.zip")
    keys = list(exported.models)
    for key in keys[:3]:  # a store that holds some of the models already
        shutil.copytree(exported.runs / key, store / key)
    source, named = tamper(how, archive, store, keys[-1])
    before = snapshot(store)
    with pytest.raises(ArchiveError) as refused:
        fetch(str(source), store)
    assert named in str(refused.value) and "nothing was written" in str(refused.value)
    assert snapshot(store) == before


@pytest.mark.slow
def test_an_archive_fetched_into_an_empty_store_reproduces_the_records_training_nothing(
        smoke_book, tmp_path):
    """The smoke book's models exported, then fetched into an empty store of a fresh copy:
    ``reproduce --profile smoke --all --only <C1's notebook>`` there trains no model (the store is
    unchanged) and writes the records the smoke book's own run wrote (but for the seconds its
    measurements took). One notebook, the one with the most models, keeps the suite short."""
    assert smoke_book.done.returncode == 0, smoke_book.done.stderr[-3000:]
    archive, copy, fetched = tmp_path / "archive", tmp_path / "project", tmp_path / "fetched"
    exported = run_sdcore(smoke_book.copy, smoke_book.runs, "export", "--profile", "smoke",
                          str(archive))
    assert exported.returncode == 0, exported.stderr[-3000:]
    copy_project(copy)
    shutil.rmtree(copy / "results" / "smoke", ignore_errors=True)
    got = run_sdcore(copy, fetched, "fetch", str(archive))
    assert got.returncode == 0, got.stderr[-3000:]
    before = snapshot(fetched)
    # On one thread, as the smoke book's kernels ran: a measurement's last bits follow the threads.
    done = Background(copy, fetched, "reproduce", "--profile", "smoke", "--all", "--only",
                      NOTEBOOKS[0].name, "--no-build").wait()
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert snapshot(fetched) == before
    for nb in NOTEBOOKS[:1]:
        for ours in sorted((smoke_book.copy / "results" / "smoke").glob(f"{nb.name}*.json")):
            theirs = json.loads((copy / "results" / "smoke" / ours.name).read_text())
            mine = json.loads(ours.read_text())
            assert theirs["verdict"] == mine["verdict"], ours.name
            assert untimed(theirs["numbers"]) == untimed(mine["numbers"]), ours.name


def untimed(numbers: object) -> object:
    """``numbers`` without the seconds a measurement took (keys ending in ``_s``)."""
    if isinstance(numbers, dict):
        return {k: untimed(v) for k, v in numbers.items() if not k.endswith("_s")}
    if isinstance(numbers, list):
        return [untimed(v) for v in numbers]
    return numbers
