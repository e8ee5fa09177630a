"""Architectures named by library (``torchvision:<name>``, ``timm:<name>``): validation before any
training, the small-image stem, gray inputs, the head the features are read from, and the built-in
architectures' store keys and weights, which must stay what they were."""

import hashlib
import sys

import pytest
import torch
import torch.nn as nn

from sdcore.claims import student_beats_teacher
from sdcore.claims.config import ConfigError
from sdcore.engine import named_models
from sdcore.engine.mechanisms import penultimate
from sdcore.engine.models import build_model
from sdcore.engine.specs import KDWeights, ModelSpec, Recipe

Config = student_beats_teacher.Config


def weights_digest(model: nn.Module) -> str:
    digest = hashlib.sha256()
    for name, tensor in model.state_dict().items():
        digest.update(name.encode())
        digest.update(tensor.numpy().tobytes())
    return digest.hexdigest()[:16]


def test_built_in_store_keys_and_weights_are_those_from_before_named_models():
    """Computed with the code before named architectures existed (commit dc43f96)."""
    recipe = Recipe(15, 128, 0.1, 0.9, True, 5e-4, "cosine", True)
    teacher = ModelSpec("fashion-mnist", 1000, 0, "resnet8", 1.0, recipe, 100)
    student = teacher.student(teacher.key, KDWeights(0.5, 0.5, 4.0))
    assert (teacher.key, student.key) == ("dd25c5d46e7707af", "f3c0e9180d792dbf")
    before = {("resnet8", 1, 10): "348ac22370deca21", ("resnet18", 3, 100): "eda09d539054039b",
              ("vgg11", 1, 10): "030a1c851d205ba7"}
    for (name, channels, classes), digest in before.items():
        torch.manual_seed(7)
        assert weights_digest(build_model(name, channels, classes, 0.5)) == digest, name


@pytest.mark.parametrize("params, message", [
    ({"models": ["keras:resnet18"]}, "unknown model 'keras:resnet18'; allowed: resnet8"),
    ({"models": ["torchvision:resnet19"]},
     "'torchvision:resnet19': 'resnet19' is not among the"),
    ({"models": ["torchvision:resnet19"]}, "did you mean torchvision:resnet18"),
    ({"models": ["torchvision:"]}, "unknown model 'torchvision:'"),
    ({"models": ["torchvision:resnet18"], "width": 0.5},
     "'width': torchvision:resnet18 has no width multiplier; width must be 1.0, not 0.5"),
    ({"models": ["torchvision:mobilenet_v3_small"]},
     "'models', on fashion-mnist: torchvision:mobilenet_v3_small has no small-image stem"),
    ({"models": ["torchvision:vit_b_16"], "datasets": ["imagefolder:/pets"], "image_size": 128},
     "torchvision:vit_b_16 does not run on 1×128×128 images"),
    ({"models": ["resnet8"], "settings": [{"name": "mobile", "width": 1.0,
                                            "model": "torchvision:mobilenet_v3_small"}]},
     "'settings' (entry 1, 'mobile'): parameter 'models', on fashion-mnist"),
])
def test_bad_named_models_stop_in_validation(params, message):
    with pytest.raises(ConfigError) as err:
        Config.from_params(params)
    assert message in str(err.value)


def test_named_models_validate_where_they_fit():
    config = Config.from_params({"models": ["resnet8", "torchvision:resnet18",
                                            "torchvision:shufflenet_v2_x0_5"],
                                 "datasets": ["fashion-mnist", "cifar100", "synthetic"]})
    assert len(config.declared()) == 9
    large = {"datasets": ["imagefolder:/pets"], "image_size": 96}  # no stem needed
    assert Config.from_params({**large, "models": ["torchvision:mobilenet_v3_small"]})


def test_timm_names_without_timm_ask_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "timm", None)  # import timm raises ImportError
    named_models.library_names.cache_clear()
    try:
        with pytest.raises(ConfigError) as err:
            Config.from_params({"models": ["timm:resnet18"]})
    finally:
        named_models.library_names.cache_clear()
    assert "'models': timm:<name> architectures need timm, which is not installed: " \
           "pip install timm" in str(err.value)


def stem(model: nn.Module) -> nn.Conv2d:
    conv1 = model.features.conv1
    return conv1[0] if isinstance(conv1, nn.Sequential) else conv1


@pytest.mark.parametrize("name", ["torchvision:resnet18", "torchvision:shufflenet_v2_x0_5"])
@pytest.mark.parametrize("channels, side, classes", [(1, 28, 10), (3, 32, 100)])
def test_small_images_get_a_3x3_stride_1_stem_without_max_pool(name, channels, side, classes):
    model = build_model(name, channels, classes, image_side=side).eval()
    conv = stem(model)
    assert (conv.kernel_size, conv.stride, conv.in_channels) == ((3, 3), (1, 1), channels)
    assert isinstance(model.features.maxpool, nn.Identity)
    with torch.no_grad():
        assert model(torch.zeros(2, channels, side, side)).shape == (2, classes)


def test_large_images_keep_the_libraries_stem():
    model = build_model("torchvision:resnet18", 3, 10, image_side=96)
    assert (stem(model).kernel_size, stem(model).stride) == ((7, 7), (2, 2))
    assert isinstance(model.features.maxpool, nn.MaxPool2d)


def test_gray_images_meet_the_rgb_model_on_the_image_repeated_as_rgb():
    torch.manual_seed(0)
    gray = build_model("torchvision:resnet18", 1, 10, image_side=28).eval()
    torch.manual_seed(0)
    rgb = build_model("torchvision:resnet18", 3, 10, image_side=28).eval()
    x = torch.rand(4, 1, 28, 28) * 255
    with torch.no_grad():
        assert torch.allclose(gray(x), rgb(x.expand(-1, 3, -1, -1)), rtol=1e-4, atol=1e-4)


def test_penultimate_features_are_what_the_named_head_reads():
    model = build_model("torchvision:resnet18", 1, 10, image_side=16).eval()
    images = torch.randint(0, 256, (6, 1, 16, 16), dtype=torch.uint8)
    features, logits = penultimate(model, images, batch_size=4)
    assert features.shape == (6, 512) and model.classifier.in_features == 512
    assert logits.shape == (6, 10)
    with torch.no_grad():
        assert torch.allclose(model.classifier(features), model(images.float()), atol=1e-4)


def test_timm_models_get_the_small_image_stem_and_their_own_input_channels():
    pytest.importorskip("timm")
    model = build_model("timm:resnet18", 1, 10, image_side=28).eval()
    assert (stem(model).kernel_size, stem(model).stride, stem(model).in_channels) == (
        (3, 3), (1, 1), 1)
    assert isinstance(model.features.maxpool, nn.Identity)
    images = torch.randint(0, 256, (3, 1, 28, 28), dtype=torch.uint8)
    assert penultimate(model, images).shape == (3, 512)
    with torch.no_grad():
        assert model(images.float()).shape == (3, 10)
    assert Config.from_params({"models": ["timm:resnet18"]})
    with pytest.raises(ConfigError, match="timm:mobilenetv3_small_100 has no small-image stem"):
        Config.from_params({"models": ["timm:mobilenetv3_small_100"]})
