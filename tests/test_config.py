from pathlib import Path

import pytest
import yaml

import dataclasses

from sdcore.config import (NOTEBOOK_CONFIGS, ConfigError, ExperimentConfig,
                           StudentBeatsTeacherConfig as Config)

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("params, message", [
    ({"epoch": 3}, "unknown parameter(s) 'epoch'; allowed: profile"),
    ({"epochs": -1}, "'epochs': -1 is below its minimum 1"),
    ({"epochs": "3"}, "'epochs': expected int, got str '3'"),
    ({"epochs": 2.5}, "'epochs': expected int, got float"),
    ({"seeds": True}, "'seeds': expected int, got bool"),
    ({"augment": 1}, "'augment': expected bool, got int"),
    ({"datasets": ["mnist"]}, "unknown dataset 'mnist'; allowed: synthetic, multiview:<views>[:<feature noise>]"),
    ({"datasets": ["multiview:0"]}, "unknown dataset 'multiview:0'"),
    ({"datasets": "cifar10"}, "'datasets': expected a non-empty list of str"),
    ({"datasets": []}, "'datasets': expected a non-empty list"),
    ({"models": ["resnet50"]}, "unknown model 'resnet50'"),
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


def test_good_parameters_are_frozen_and_coerced():
    config = Config.from_params({"lr": 1, "datasets": ["imagefolder:/data/pets"]})
    assert config.lr == 1.0 and isinstance(config.lr, float)
    with pytest.raises(AttributeError):
        config.lr = 0.5


PARAMETER_FILES = sorted(ROOT.glob("parameters/*/*.yaml"))


@pytest.mark.parametrize("path", PARAMETER_FILES, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_every_parameters_file_validates(path):
    config = NOTEBOOK_CONFIGS[path.stem].from_params(yaml.safe_load(path.read_text()))
    assert config.profile == path.parent.name


def training_params(path: Path) -> dict:
    """The resolved shared parameters (data, model, recipe, seeds) of a parameters file."""
    names = {f.name for f in dataclasses.fields(ExperimentConfig)}
    params = yaml.safe_load(path.read_text())
    return ExperimentConfig.from_params({k: v for k, v in params.items() if k in names}).as_dict()


# notebook: the notebook whose models it loads from the run store (same profile); the gpu profile's
# 02b takes C1's full-data models instead of 02a's subset.
REUSES = {"02b_multi_view": "02a_amplified_regularization",
          "03_flatter_minima": "01_student_beats_teacher",
          "04_loss_landscape": "01_student_beats_teacher"}
REUSES_BY_PROFILE = {"gpu": {**REUSES, "02b_multi_view": "01_student_beats_teacher"}}


@pytest.mark.parametrize("path", [p for p in PARAMETER_FILES if p.stem in REUSES],
                         ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_later_notebooks_reuse_the_models_of_an_earlier_one(path):
    """Same training keys as the notebook they build on, so the run store serves its models."""
    reused = REUSES_BY_PROFILE.get(path.parent.name, REUSES)[path.stem]
    ours = training_params(path)
    theirs = training_params(path.with_name(f"{reused}.yaml"))
    our_seeds, their_seeds = ours.pop("seeds"), theirs.pop("seeds")
    if reused == "01_student_beats_teacher":  # the Hessian and landscape measure C1's
        assert our_seeds <= their_seeds
    assert ours == theirs


@pytest.mark.parametrize("stem", ["02a_amplified_regularization", "02b_multi_view"])
def test_paper_profile_of_c2_reuses_c1s_models(stem):
    ours = training_params(ROOT / "parameters" / "paper" / f"{stem}.yaml")
    c1 = training_params(ROOT / "parameters" / "paper" / "01_student_beats_teacher.yaml")
    for key in ("datasets", "models"):
        assert set(ours.pop(key)) <= set(c1.pop(key))
    assert ours == c1


def test_reference_documents_every_parameter():
    rows = Config.reference()
    assert [r["name"] for r in rows][-1] == "generations"
    assert all(r["help"] for r in rows)


@pytest.mark.parametrize("path", PARAMETER_FILES, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_parameters_files_name_every_training_key(path):
    """Notebook defaults must never decide which models a profile trains."""
    optional = {"data_root", "download", "run_store", "cuda_graphs", "models_at_once"}
    training = {f.name for f in dataclasses.fields(ExperimentConfig)} | {"generations"}
    own = {f.name for f in dataclasses.fields(NOTEBOOK_CONFIGS[path.stem])}
    required = (own & training) - optional
    assert required <= set(yaml.safe_load(path.read_text())), sorted(
        required - set(yaml.safe_load(path.read_text())))


def test_landscape_radii_are_checked_before_any_work():
    from sdcore.config import LossLandscapeConfig

    with pytest.raises(ConfigError, match="'sharpness_radius': must not exceed 'line_radius'"):
        LossLandscapeConfig.from_params({"line_radius": 0.5, "sharpness_radius": 1.0})


@pytest.mark.parametrize("params, message", [
    ({"weight_ce": 0.0}, "'weight_ce': must be > 0 here"),
    ({"weight_decay": 0.0}, "'weight_decay': must be > 0 here"),
    ({"kernel_mix": 0.0}, "'kernel_mix': 0.0 is below its minimum"),
])
def test_amplified_regularization_variants_need_something_to_compare_with_zero(params, message):
    from sdcore.config import AmplifiedRegularizationConfig

    with pytest.raises(ConfigError, match=message):
        AmplifiedRegularizationConfig.from_params(params)


def test_multi_view_average_must_be_known():
    from sdcore.config import MultiViewConfig

    with pytest.raises(ConfigError, match="allowed: logits, probabilities"):
        MultiViewConfig.from_params({"ensemble_average": "votes"})


FLOAT_PARAMETERS = sorted({(notebook, row["name"]) for notebook, config in NOTEBOOK_CONFIGS.items()
                           for row in config.reference() if row["type"] == "float"})


@pytest.mark.parametrize("notebook, key", FLOAT_PARAMETERS)
def test_every_float_parameter_refuses_nan_and_infinities(notebook, key):
    for bad in (float("nan"), float("inf"), float("-inf")):
        with pytest.raises(ConfigError, match=f"parameter '{key}': .* must be a finite number"):
            NOTEBOOK_CONFIGS[notebook].from_params({key: bad})
