from pathlib import Path

import pytest
import yaml

from sdcore.config import ConfigError, StudentBeatsTeacherConfig as Config

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


@pytest.mark.parametrize("path", sorted(ROOT.glob("parameters/*/01_student_beats_teacher.yaml")),
                         ids=lambda p: p.parent.name)
def test_every_profile_file_validates(path):
    config = Config.from_params(yaml.safe_load(path.read_text()))
    assert config.profile == path.parent.name


def test_reference_documents_every_parameter():
    rows = Config.reference()
    assert [r["name"] for r in rows][-1] == "generations"
    assert all(r["help"] for r in rows)
