from pathlib import Path

import pytest
import yaml

import dataclasses

from sdcore.config import NOTEBOOK_CONFIGS, ConfigError, StudentBeatsTeacherConfig as Config

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("params, message", [
    ({"epoch": 3}, "unknown parameter(s) 'epoch'; allowed: profile"),
    ({"epochs": -1}, "'epochs': -1 is below its minimum 1"),
    ({"epochs": "3"}, "'epochs': expected int, got str '3'"),
    ({"epochs": 2.5}, "'epochs': expected int, got float"),
    ({"seeds": True}, "'seeds': expected int, got bool"),
    ({"augment": 1}, "'augment': expected bool, got int"),
    ({"datasets": ["mnist"]}, "unknown dataset 'mnist'; allowed: synthetic, fashion-mnist"),
    ({"datasets": "cifar10"}, "'datasets': expected a non-empty list of str"),
    ({"datasets": []}, "'datasets': expected a non-empty list"),
    ({"models": ["resnet50"]}, "unknown model 'resnet50'"),
    ({"schedule": "linear"}, "'linear' is not allowed; allowed: cosine, step"),
    ({"momentum": 1.5}, "'momentum': 1.5 is above its maximum 1.0"),
    ({"device": "tpu"}, "unknown device 'tpu'"),
    ({"profile": "../x"}, "'profile': '../x' is not a plain name"),
    ({"weight_ce": 0.0, "weight_kd": 0.0}, "at least one must be > 0"),
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
    """The resolved C1 parameters (data, model, recipe, seeds) of a parameters file."""
    names = {f.name for f in dataclasses.fields(Config)}
    params = yaml.safe_load(path.read_text())
    return Config.from_params({k: v for k, v in params.items() if k in names}).as_dict()


@pytest.mark.parametrize("path", [p for p in PARAMETER_FILES
                                  if p.stem != "01_student_beats_teacher"],
                         ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_later_notebooks_reuse_the_models_of_c1(path):
    """Same training keys as 01 in the same profile (at most as many seeds), so the run store
    serves their models."""
    ours = training_params(path)
    c1 = training_params(path.with_name("01_student_beats_teacher.yaml"))
    assert ours.pop("seeds") <= c1.pop("seeds")
    assert ours == c1


def test_reference_documents_every_parameter():
    rows = Config.reference()
    assert [r["name"] for r in rows][-1] == "generations"
    assert all(r["help"] for r in rows)


@pytest.mark.parametrize("path", PARAMETER_FILES, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_parameters_files_name_every_training_key(path):
    """Notebook defaults must never decide which models a profile trains."""
    optional = {"data_root", "download", "run_store"}
    required = {f.name for f in dataclasses.fields(Config)} - optional
    assert required <= set(yaml.safe_load(path.read_text())), sorted(
        required - set(yaml.safe_load(path.read_text())))


def test_landscape_radii_are_checked_before_any_work():
    from sdcore.config import LossLandscapeConfig

    with pytest.raises(ConfigError, match="'sharpness_radius': must not exceed 'line_radius'"):
        LossLandscapeConfig.from_params({"line_radius": 0.5, "sharpness_radius": 1.0})
