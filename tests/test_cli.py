"""The command line fails cleanly: every expected failure is one ``error: ...`` line on stderr and
exit status 1, never a traceback, naming the file, key, profile or path and what is allowed."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest

from sdcore import __version__
from sdcore.claims import NOTEBOOKS, multi_view
from sdcore.commands.cli import COMMANDS, main
from sdcore.project.archive import ArchiveError, staged

FIRST = NOTEBOOKS[0].name
MULTI_VIEW = next(nb.name for nb in NOTEBOOKS if nb.module is multi_view)
PROFILES = "(profiles with parameter files: cpu, gpu, paper, smoke)"


def error_line(capsys: pytest.CaptureFixture[str]) -> str:
    """What ``main`` printed on stderr, which must be one ``error:`` line and no traceback."""
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1, err
    return err.strip()


def test_version(capsys):
    with pytest.raises(SystemExit) as done:
        main(["--version"])
    assert done.value.code == 0 and capsys.readouterr().out == f"sdcore {__version__}\n"


@pytest.mark.parametrize("name", list(COMMANDS))
def test_each_command_describes_itself_in_its_help(name, capsys):
    with pytest.raises(SystemExit) as done:
        main([name, "--help"])
    assert done.value.code == 0
    assert " ".join(COMMANDS[name].split()) in " ".join(capsys.readouterr().out.split())


def test_an_unknown_command_suggests_the_closest(capsys):
    assert main(["reproduc"]) == 1
    assert error_line(capsys).startswith(
        "error: unknown command 'reproduc'; did you mean 'reproduce'? (commands: reproduce, ")


def test_a_usage_error_exits_with_status_1(capsys):
    assert main(["train", "--executor", "pbs"]) == 1
    assert "invalid choice: 'pbs'" in error_line(capsys)


@pytest.mark.parametrize("args", [
    ["status", "--profile", "smoke", "nosuch"], ["plan", "--profile", "nosuch"],
    ["train", "--profile", "nosuch", "--executor", "debug"],
    ["reproduce", "--profile", "nosuch", "--no-build"],
    ["parameters", "--profile", "nosuch", FIRST], ["export", "--profile", "nosuch", "archive"]])
def test_an_unknown_profile_is_refused_before_anything_is_done(project_copy, args, capsys):
    before = sorted(project_copy.rglob("*"))
    assert main(args) == 1
    assert error_line(capsys) == f"error: unknown profile 'nosuch' {PROFILES}"
    assert sorted(project_copy.rglob("*")) == before


def test_a_misspelt_profile_or_notebook_suggests_the_closest(project_copy, capsys):
    assert main(["status", "--profile", "cpuu"]) == 1
    assert error_line(capsys) == f"error: unknown profile 'cpuu'; did you mean 'cpu'? {PROFILES}"
    assert main(["parameters", "--profile", "cpu", FIRST[:10]]) == 1
    assert f"unknown notebook '{FIRST[:10]}'; did you mean '{FIRST}'?" in error_line(capsys)
    assert main(["plan", "--only", MULTI_VIEW[:3]]) == 1
    assert f"did you mean '{MULTI_VIEW}'?" in error_line(capsys)


@pytest.mark.parametrize("args", [
    ["status", "--check"], ["plan"], ["train", "--executor", "debug"], ["reproduce"],
    ["parameters", FIRST], ["parameters-cells"], ["export", "archive"], ["fetch", "archive"],
    ["pdf"], ["lock", "--check"], ["new-claim", "wider", "--claim", "C1"]])
def test_outside_a_checkout_every_command_fails(tmp_path, monkeypatch, args, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("SDCORE_RUNS", raising=False)
    assert main(args) == 1
    assert error_line(capsys).startswith(
        f"error: {tmp_path.resolve()} is not inside a checkout of the book (no _toc.yml here or "
        "above)")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("line, message", [
    ("epochz: 3", "unknown parameter(s) 'epochz'"),
    ("epochs: three", "parameter 'epochs': expected int, got str 'three'")])
def test_a_parameter_that_does_not_validate_is_named_with_its_file(project_copy, line, message,
                                                                    capsys):
    own = project_copy / "parameters" / "cpu" / f"{FIRST}.yaml"
    own.write_text(own.read_text() + f"{line}\n")
    for args in (["parameters", "--profile", "cpu", FIRST], ["plan", "--profile", "cpu"]):
        assert main(args) == 1
        error = error_line(capsys)
        assert error.startswith(f"error: parameters/cpu/_shared.yaml + parameters/cpu/{FIRST}"
                                ".yaml: ") and message in error, error
    assert capsys.readouterr().out == ""


def test_a_parameters_file_that_is_not_yaml_is_named_with_its_line(project_copy, capsys):
    shared = project_copy / "parameters" / "cpu" / "_shared.yaml"
    lines = shared.read_text().count("\n")
    shared.write_text(shared.read_text() + "seeds: [1, 2\n")
    assert main(["parameters", "--profile", "cpu", FIRST]) == 1
    assert error_line(capsys) == (
        f"error: {shared} line {lines + 2}: not valid YAML (while parsing a flow sequence from "
        f"line {lines + 1}: expected ',' or ']', but got '<stream end>')")


def test_an_export_that_cannot_be_written_names_its_destination(project_copy, tmp_path, capsys):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    dest = blocker / "archive"
    assert main(["export", "--profile", "smoke", str(dest)]) == 1
    assert error_line(capsys) == f"error: cannot write {dest}: {blocker} is not a folder"


def test_a_failed_write_names_the_destination_not_its_staging_path(tmp_path):
    dest = tmp_path / "archive"
    with pytest.raises(ArchiveError) as refused, staged(dest) as stage:
        (stage / "models").mkdir(parents=True)
        raise OSError(28, "No space left on device", str(stage / "models" / "x"))
    assert str(refused.value) == f"cannot write {dest}: No space left on device"
    assert list(tmp_path.iterdir()) == []


def test_a_run_store_that_cannot_be_written_is_refused_before_the_download(tmp_path, monkeypatch,
                                                                            capsys):
    monkeypatch.chdir(tmp_path)  # fetch into a named run store needs no checkout
    monkeypatch.setattr("pooch.retrieve", lambda *a, **k: pytest.fail("downloaded"))
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    runs = blocker / "runs"
    assert main(["fetch", "https://example.org/archive.zip", "--runs", str(runs)]) == 1
    assert error_line(capsys) == (f"error: cannot write the run store {runs}: {blocker} is not "
                                  "a folder")


def damaged_zip(path: Path) -> None:
    path.write_bytes(b"PK\x03\x04 not the rest of a zip")


def wrong_manifest(path: Path) -> None:
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("manifest.json", json.dumps({"format": 1, "models": []}))


@pytest.mark.parametrize("write, message", [
    (damaged_zip, "neither a folder nor a .zip archive"),
    (wrong_manifest, "manifest.json: its sha256 is ")])
def test_a_refused_download_leaves_pooch_s_cache(tmp_path, monkeypatch, write, message, capsys):
    cache = tmp_path / "cache"
    cache.mkdir()

    def download(url: str, known_hash: None, path: Path, progressbar: bool) -> str:
        write(cache / "archive.zip")
        return str(cache / "archive.zip")

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("pooch.retrieve", download)
    assert main(["fetch", "https://example.org/archive.zip", "--sha256", "0" * 64,
                 "--runs", str(tmp_path / "runs")]) == 1
    assert message in error_line(capsys)
    assert list(cache.iterdir()) == [] and not (tmp_path / "runs").exists()


def test_a_refused_local_archive_is_kept(tmp_path, capsys):
    archive = tmp_path / "archive.zip"
    damaged_zip(archive)
    assert main(["fetch", str(archive), "--runs", str(tmp_path / "runs")]) == 1
    assert "neither a folder nor a .zip archive" in error_line(capsys)
    assert archive.is_file()


def test_status_names_each_records_date_and_the_parameters_changed(project_copy, capsys):
    path = project_copy / "results" / "cpu" / f"{MULTI_VIEW}.json"
    record = json.loads(path.read_text())
    record["provenance"]["started"] = "2026-01-02T04:04:05+01:00"
    path.write_text(json.dumps(record))
    own = project_copy / "parameters" / "cpu" / f"{MULTI_VIEW}.yaml"
    own.write_text(own.read_text() + "views_margin: 2.5\n")
    assert main(["status", "--profile", "cpu"]) == 0
    lines = capsys.readouterr().out.splitlines()
    at = next(i for i, line in enumerate(lines) if line.split()[1] == MULTI_VIEW)
    assert "stale: parameters changed" in lines[at]
    assert lines[at + 1].split()[:4] == ["made", "2026-01-02", "03:04", "UTC;"]
    assert f"views_margin: {record['params']['views_margin']!r} → 2.5" in lines[at + 1]
