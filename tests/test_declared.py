"""Evidence declared before it is gathered: C1's settings resolve from the parameters, the seeds a
profile judges are disjoint from every search's, and a record that omits a declared setting is
caught."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sdcore.claims import notebook_of_module, student_beats_teacher
from sdcore.claims.common import read_exploration, settings_and_seeds
from sdcore.claims.config import ConfigError
from sdcore.profiles import merged, profiles
from sdcore.report.fingerprint import freshness

ROOT = Path(__file__).resolve().parents[1]
C1 = notebook_of_module(student_beats_teacher).name


def c1_config(profile: str) -> student_beats_teacher.Config:
    return student_beats_teacher.Config.from_params(merged(ROOT, profile, C1))


def test_declared_settings_resolve_with_their_own_seeds():
    config = student_beats_teacher.Config.from_params({"settings": [
        {"name": "a", "train_subset": 1000, "seeds": 4},
        {"name": "b", "dataset": "synthetic", "augment": False, "first_seed": 50}]})
    declared = dict(config.declared())
    assert declared["a"].train_subset == 1000 and declared["a"].seeds == 4
    assert declared["b"].datasets == ["synthetic"] and not declared["b"].augment
    seeds = [(name, seed) for name, _, seed in settings_and_seeds(config)]
    assert seeds == [("a", s) for s in range(0, 4)] + [("b", s) for s in range(50, 53)]


@pytest.mark.parametrize("settings, message", [
    ([{"name": "a", "epochs": -1}], "'settings' (entry 1, 'a'): parameter 'epochs': -1 is below"),
    ([{"name": "a", "epoch": 3}], "unknown key(s) 'epoch'"),
    ([{"epochs": 3}], "each setting needs a 'name'"),
    ([{"name": "a"}, {"name": "a"}], "the name 'a' is used twice"),
    ([{"name": "a", "dataset": "mnist"}], "unknown dataset 'mnist'"),
])
def test_a_bad_setting_is_named_before_anything_runs(settings, message):
    with pytest.raises(ConfigError, match=None) as err:
        student_beats_teacher.Config.from_params({"settings": settings})
    assert message in str(err.value)


def searched_seeds() -> set[int]:
    """Every seed a C1 search or sweep used, from their records."""
    seeds = {s for r in read_exploration(C1) for s in r.get("seeds", [])}
    sweep = read_exploration(C1, kind="sweep")
    return seeds | set(sweep.get("seeds", []) if sweep else [])


def test_searches_record_their_seeds():
    assert all("seeds" in r for r in read_exploration(C1))
    assert searched_seeds()


@pytest.mark.parametrize("profile", [p for p in profiles(ROOT) if p != "smoke"])
def test_judged_seeds_are_disjoint_from_every_search(profile):
    judged = {seed for _, _, seed in settings_and_seeds(c1_config(profile))}
    assert not judged & searched_seeds(), sorted(judged & searched_seeds())


def test_the_cpu_profile_declares_two_settings_one_with_twelve_seeds():
    declared = c1_config("cpu").declared()
    assert len(declared) >= 2 and max(s.seeds for _, s in declared) >= 12
    differ = {k for k in ("train_subset", "augment", "models") if len(
        {str(getattr(s, k)) for _, s in declared}) > 1}
    assert differ, "the settings must differ in data size, augmentation or architecture"


def test_a_declared_setting_missing_from_the_record_is_caught():
    config = student_beats_teacher.Config.from_params({"settings": [
        {"name": "a"}, {"name": "b", "train_subset": 500}]})
    record = {"numbers": {"settings": [{"setting": "a"}]}}
    assert student_beats_teacher.missing_settings(record, config) == ["b"]
    record["numbers"]["settings"].append({"setting": "b"})
    assert student_beats_teacher.missing_settings(record, config) == []


@pytest.mark.parametrize("profile", [p for p in profiles(ROOT) if p != "smoke"])
def test_every_current_c1_record_reports_every_declared_setting(profile):
    path = ROOT / "results" / profile / f"{C1}.json"
    if not path.is_file():
        pytest.skip(f"no C1 record at the {profile} profile")
    record = json.loads(path.read_text())
    if freshness(record, ROOT, profile, C1).state != "fresh":
        pytest.skip(f"the {profile} record is stale: made by other code or parameters")
    assert student_beats_teacher.missing_settings(record, c1_config(profile)) == []
    seeds = {(m["setting"], m["seed"]) for m in record["numbers"]["models"]}
    assert len(seeds) == sum(s.seeds for _, s in c1_config(profile).declared())
