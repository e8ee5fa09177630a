import pytest
import torch

from sdcore.engine.models import MODEL_NAMES as MODELS
from sdcore.engine.models import build_model, memory_format

SHAPES = {"fashion-mnist": (1, 28, 28, 10), "cifar10": (3, 32, 32, 10),
          "cifar100": (3, 32, 32, 100), "synthetic": (1, 16, 16, 10)}


@pytest.mark.parametrize("name", MODELS)
@pytest.mark.parametrize("dataset", SHAPES)
def test_output_shape_follows_the_dataset(name, dataset):
    channels, h, w, classes = SHAPES[dataset]
    model = build_model(name, channels, classes, width=0.25).eval()
    with torch.no_grad():
        assert model(torch.zeros(2, channels, h, w)).shape == (2, classes)


def test_width_scales_channels():
    small = sum(p.numel() for p in build_model("resnet8", 1, 10, 0.5).parameters())
    large = sum(p.numel() for p in build_model("resnet8", 1, 10, 1.0).parameters())
    assert 3 < large / small < 5  # conv weights scale with width squared


def test_narrow_models_avoid_channels_last_on_cpu():
    cpu = torch.device("cpu")
    assert memory_format(build_model("resnet8", 1, 10, 0.25), cpu) == torch.contiguous_format
    assert memory_format(build_model("resnet8", 1, 10, 1.0), cpu) == torch.channels_last
