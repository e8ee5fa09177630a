"""Config validation: messages that name the key, the parameters files of every profile, and the
models that notebooks share through the run store."""

from pathlib import Path

import pytest
from pydantic import ValidationError

from sdcore.claims import (
    NOTEBOOKS,
    amplified_regularization,
    flatter_minima,
    loss_landscape,
    multi_view,
    student_beats_teacher,
)
from sdcore.claims.common import unique_specs
from sdcore.claims.config import ConfigError, ExperimentConfig
from sdcore.project.profiles import SHARED, merged, profiles

ROOT = Path(__file__).resolve().parents[1]
Config = student_beats_teacher.Config
BY_MODULE = {nb.module: nb for nb in NOTEBOOKS}


@pytest.mark.parametrize("params, message", [
    ({"epoch": 3}, "unknown parameter(s) 'epoch' (did you mean 'epochs'?); allowed: profile"),
    ({"epochs": -1}, "'epochs': -1 is below its minimum 1"),
    ({"epochs": "3"}, "'epochs': expected int, got str '3'"),
    ({"epochs": 2.5}, "'epochs': expected int, got float"),
    ({"epochs": True}, "'epochs': expected int, got bool True"),
    ({"seeds": True}, "'seeds': expected int, got bool"),
    ({"augment": 1}, "'augment': expected bool, got int"),
    ({"datasets": ["mnist"]},
     "unknown dataset 'mnist'; allowed: synthetic, multiview:<views>[:<feature noise>]"),
    ({"datasets": ["multiview:0"]}, "unknown dataset 'multiview:0'"),
    ({"datasets": "cifar10"}, "'datasets': expected a non-empty list"),
    ({"datasets": "fashion-mnist"}, "give lists as YAML, -y 'datasets: [a, b]'"),
    ({"datasets": []}, "'datasets': expected a non-empty list"),
    ({"models": ["resnet50"]}, "'models': unknown model 'resnet50'; allowed: resnet8, resnet14"),
    ({"schedule": "linear"}, "'linear' is not allowed; allowed: cosine, step"),
    ({"momentum": 1.5}, "'momentum': 1.5 is above its maximum 1.0"),
    ({"device": "tpu"}, "unknown device 'tpu'"),
    ({"profile": "../x"}, "'profile': '../x' is not a plain name"),
    ({"weight_ce": 0.0, "weight_kd": 0.0}, "at least one must be > 0"),
    ({"lr": float("nan")}, "'lr': nan is not allowed; it must be a finite number"),
    ({"temperature": float("inf")}, "'temperature': inf is not allowed; it must be a finite"),
    ({"weight_decay": float("-inf")}, "'weight_decay': -inf is not allowed"),
    ({"width": float("nan")}, "'width': nan is not allowed"),
])
def test_bad_parameters_name_the_key_and_what_is_allowed(params, message):
    with pytest.raises(ConfigError) as err:
        Config.from_params(params)
    assert message in str(err.value)


def test_ints_are_floats_and_configs_are_frozen():
    config = Config.from_params({"lr": 1, "datasets": ["imagefolder:/data/pets"]})
    assert config.lr == 1.0 and isinstance(config.lr, float)
    with pytest.raises(ValidationError):
        config.lr = 0.5


PARAMETER_FILES = sorted(p for p in ROOT.glob("parameters/*/*.yaml") if p.name != SHARED)


@pytest.mark.parametrize("path", PARAMETER_FILES, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_every_parameters_file_validates_merged_with_its_profiles_shared_keys(path):
    config = BY_NAME[path.stem].config.from_params(merged(ROOT, path.parent.name, path.stem))
    assert config.profile == path.parent.name


BY_NAME = {nb.name: nb for nb in NOTEBOOKS}


@pytest.mark.parametrize("profile", profiles(ROOT))
def test_every_profile_has_a_file_for_every_notebook_and_shares_its_common_keys(profile):
    assert {p.stem for p in (ROOT / "parameters" / profile).glob("*.yaml")} == {
        *BY_NAME, SHARED.removesuffix(".yaml")}
    shared = merged(ROOT, profile, NOTEBOOKS[0].name).keys() & merged(
        ROOT, profile, NOTEBOOKS[-1].name).keys()
    assert {"profile", "datasets", "epochs", "lr", "device"} <= shared


@pytest.mark.parametrize("path", PARAMETER_FILES, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_parameters_files_name_every_training_key(path):
    """Notebook defaults must never decide which models a profile trains."""
    optional = {"data_root", "download", "run_store", "cuda_graphs", "models_at_once",
                "train_missing", "run_name"}
    training = set(ExperimentConfig.model_fields) | {"generations"}
    required = (set(BY_NAME[path.stem].config.model_fields) & training) - optional
    assert required <= merged(ROOT, path.parent.name, path.stem).keys()


def config_at(profile: str, module):
    nb = BY_MODULE[module]
    return nb.config.from_params(merged(ROOT, profile, nb.name))


def own_models(config, plan, datasets: set[str]) -> set[str]:
    """The keys of the planned models of the experiment's own seeds on ``datasets``, teachers and
    students distilled from one teacher's outputs (no partner, no ensemble student, no
    same-initialization or label-smoothing student)."""
    last = config.first_seed + config.seeds
    sam = {s.key for s in unique_specs(plan) if s.recipe.sam_rho}  # C4's own SAM arm
    return {s.key for s in unique_specs(plan) if s.seed < last and s.init_seed is None
            and len(s.teacher_keys) <= 1 and s.dataset in datasets
            and (s.kd is None or s.kd.targets == "teacher")
            and s.key not in sam and s.teacher not in sam
            and s.subset_seed in (0, s.seed)}  # a partner trains on another seed's images


@pytest.mark.parametrize("profile, reader, owner", [
    *[(p, m, student_beats_teacher) for p in ("smoke", "cpu", "gpu", "paper")
      for m in (flatter_minima, loss_landscape)],
    ("cpu", multi_view, amplified_regularization),
    ("gpu", multi_view, student_beats_teacher),
    ("paper", multi_view, student_beats_teacher),
])
def test_notebooks_load_the_models_of_the_notebook_they_build_on(profile, reader, owner):
    """The models a notebook reads (its own seeds' teachers and students) are planned by the one
    it builds on, with the same keys, so the run store serves them."""
    config = config_at(profile, reader)
    owner_config = config_at(profile, owner)
    owned = unique_specs(owner.plan(owner_config))
    needed = own_models(config, reader.plan(config), {s.dataset for s in owned})
    assert needed and needed <= {s.key for s in owned}


def test_gpu_partners_are_c1s_teachers():
    config = config_at("gpu", multi_view)
    c1 = {s.key for s in unique_specs(student_beats_teacher.plan(config_at("gpu",
                                                                           student_beats_teacher)))}
    assert {s.key for s in unique_specs(multi_view.plan(config)) if s.generation == 0} <= c1


def test_reference_documents_every_parameter():
    rows = Config.reference()
    assert [r["name"] for r in rows][-7:] == [
        "generations", "premise_train_acc", "convergence_margin", "equivalence_margin",
        "premise_seeds", "planning_sd", "knowledge_controls"]
    margin = rows[-5]
    assert margin["allowed"] == "> 0.0, ≤ 100.0" and margin["default"] == 0.5
    assert all(r["help"] for r in rows)
    lr = next(r for r in rows if r["name"] == "lr")
    assert lr["type"] == "float" and lr["allowed"] == "≥ 0.0" and lr["default"] == 0.1
    models = next(r for r in rows if r["name"] == "models")
    assert models["type"] == "list[str]" and "resnet18" in models["allowed"]


@pytest.mark.parametrize("params, message", [
    ({"line_radius": 0.5}, "'radii': each must lie in (0, line_radius = 0.5]"),
    ({"sharpness_radius": 0.2}, "'sharpness_radius': must be one of radii"),
    ({"measured_settings": ["nope"]}, "'measured_settings': 'nope' not declared; declared: "
                                      "fashion-mnist · resnet8"),
])
def test_landscape_parameters_are_checked_before_any_work(params, message):
    with pytest.raises(ConfigError) as err:
        loss_landscape.Config.from_params(params)
    assert message in str(err.value)


@pytest.mark.parametrize("params, message", [
    ({"weight_ce": 0.0}, "'weight_ce': must be > 0 here"),
    ({"weight_decay": 0.0}, "'weight_decay': must be > 0 here"),
    ({"kernel_mix": 0.0}, "'kernel_mix': 0.0 is below its minimum"),
])
def test_amplified_regularization_variants_need_something_to_compare_with_zero(params, message):
    with pytest.raises(ConfigError, match=message):
        amplified_regularization.Config.from_params(params)


def test_multi_view_average_must_be_known():
    with pytest.raises(ConfigError, match="allowed: logits, probabilities"):
        multi_view.Config.from_params({"ensemble_average": "votes"})


FLOAT_PARAMETERS = sorted({(nb.name, row["name"]) for nb in NOTEBOOKS
                           for row in nb.config.reference() if row["type"] == "float"})


@pytest.mark.parametrize("notebook, key", FLOAT_PARAMETERS)
def test_every_float_parameter_refuses_nan_and_infinities(notebook, key):
    for bad in (float("nan"), float("inf"), float("-inf")):
        with pytest.raises(ConfigError, match=f"parameter '{key}': .* must be a finite number"):
            BY_NAME[notebook].config.from_params({key: bad})


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda nb: nb.name)
def test_no_cpu_value_of_the_parameters_cell_leaks_into_another_profile(notebook):
    """Papermill overrides only the keys a profile gives; a key the parameters cell sets to its
    cpu value, and another profile leaves out, would run there with the cpu value."""
    from sdcore.project.run import parameters_cell_values

    root = Path(__file__).resolve().parents[1]
    cell = parameters_cell_values(root / f"{notebook.path}.ipynb")
    defaults = {row["name"]: row["default"] for row in notebook.config.reference()}
    for profile in profiles(root):
        given = merged(root, profile, notebook.name)
        leaked = sorted(k for k, v in cell.items() if k not in given and v != defaults.get(k))
        assert not leaked, f"{profile} profile, {notebook.name}: give {leaked}"
