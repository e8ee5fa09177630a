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
from sdcore.engine.stats import seeds_for
from sdcore.project.fingerprint import freshness
from sdcore.project.profiles import merged, profiles
from sdcore.project.run import NotebookRun

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
    """Every seed a C1 search, sweep, study or earlier run used, from their records: the first
    search, the convergence searches, the sweep, the boundary study, the runs of the earlier
    design and of every declared design committed (experiments/c1_history.py), the superseded
    design and the precision parity check."""
    seeds = {s for kind in ("", "convergence", "history") for r in read_exploration(C1, kind=kind)
             for s in r.get("seeds", [])}
    sweep = read_exploration(C1, kind="sweep")
    seeds |= set(sweep.get("seeds", []) if sweep else [])
    boundary = read_exploration(C1, kind="boundary")
    seeds |= {s for cell in (boundary or {}).get("cells", []) for s in cell["seeds"]}
    for run in read_exploration(C1, kind="designs"):
        seeds |= {s["first_seed"] + k for s in run["settings"] for k in range(s["seeds"])}
    for entry in read_exploration(C1, kind="superseded"):
        first = entry["record"]["params"]["first_seed"]
        seeds |= {first + k for s in entry["record"]["numbers"]["settings"]
                  for k in range(s["seeds"])}
    parity = json.loads((ROOT / "benchmarks" / "precision_parity.json").read_text())
    seeds |= {seed for block in parity["blocks"] for seed in _seed_range(block)}
    return seeds


def _seed_range(block_name: str) -> range:
    """The seeds a parity block names ("…, seeds 5000-5011")."""
    first, last = block_name.rsplit("seeds ", 1)[1].split("-")
    return range(int(first), int(last) + 1)


def test_searches_record_their_seeds():
    assert all("seeds" in r for r in read_exploration(C1))
    assert searched_seeds()


@pytest.mark.parametrize("profile", [p for p in profiles(ROOT) if p != "smoke"])
def test_judged_seeds_are_disjoint_from_every_search_and_earlier_run(profile):
    config = c1_config(profile)
    judged = {seed for *_, seed, _ in student_beats_teacher.judged(config)}
    judged |= {seed for *_, seed in student_beats_teacher.premise_only(config)}
    assert not judged & searched_seeds(), sorted(judged & searched_seeds())


def test_the_cpu_profile_declares_settings_that_can_make_the_rule_hold():
    """At least two settings that differ in what matters for distillation, each in two blocks of
    at least 4 seeds, each seed on its own training images; the power calculation plans more
    than the budget allows (the reproducing page shows the arithmetic)."""
    config = c1_config("cpu")
    declared = config.declared()
    assert seeds_for(config.planning_sd, config.equivalence_margin) >= 12
    candidates = [s for _, s in declared if min(s.discovery_seeds,
                                                s.seeds - s.discovery_seeds) >= 4]
    assert len(candidates) >= 2 and all(s.resample_subset for s in candidates)
    differ = {k for k in ("train_subset", "augment", "width", "models") if len(
        {str(getattr(s, k)) for s in candidates}) > 1}
    assert differ, "the settings must differ in data size, augmentation, width or depth"


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
    if freshness(record, NotebookRun(ROOT, profile, C1)).state != "fresh":
        pytest.skip(f"the {profile} record is stale: made by other code or parameters")
    assert student_beats_teacher.missing_settings(record, c1_config(profile)) == []
    seeds = {(m["setting"], m["seed"]) for m in record["numbers"]["models"]}
    config = c1_config(profile)
    assert len(seeds) == sum(s.seeds + config.premise_seeds for _, s in config.declared())
