"""CIFAR-style ResNets and VGG with BatchNorm, for any input channels, image size and class count.

- ``resnet8/14/20``: He et al. (2016) CIFAR ResNets, 3 stages of 16/32/64 channels, (n-2)/6 basic
  blocks each; resnet8 is the cpu profile's model (~78k parameters at width 1).
- ``resnet18/34``: the 4-stage 64..512 ResNets with a 3×3 stem, as commonly used on CIFAR.
- ``vgg11/16``: VGG with BatchNorm; max-pools round up, so 28×28 inputs work as well as 32×32.
``width`` multiplies every channel count. Global average pooling makes the head size-independent.
Architectures of other libraries are named ``torchvision:<name>`` or ``timm:<name>``
(``named_models``); ``check_model`` accepts both kinds of name, ``build_model`` builds both.
"""

from __future__ import annotations

import torch
import torch.nn as nn
from torch import Tensor

from .named_models import NAMED_FORMS, build_named, check_name, is_named

VGG_LAYERS = {
    "vgg11": [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "vgg16": [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M",
              512, 512, 512, "M"],
}
RESNET_STAGES = {  # name: (channels per stage, blocks per stage)
    "resnet8": ((16, 32, 64), (1, 1, 1)),
    "resnet14": ((16, 32, 64), (2, 2, 2)),
    "resnet20": ((16, 32, 64), (3, 3, 3)),
    "resnet18": ((64, 128, 256, 512), (2, 2, 2, 2)),
    "resnet34": ((64, 128, 256, 512), (3, 4, 6, 3)),
}
MODEL_NAMES = (*RESNET_STAGES, *VGG_LAYERS)
ALLOWED_MODELS = ", ".join((*MODEL_NAMES, *NAMED_FORMS))  # what a model name may be


def check_model(name: str) -> str:
    """``name`` if it is a built-in architecture or a named one its library knows, else a
    ``ValueError`` that says what is allowed."""
    if is_named(name):
        return check_name(name)
    if name not in MODEL_NAMES:
        raise ValueError(f"unknown model {name!r}; allowed: {ALLOWED_MODELS}")
    return name


def _conv_bn(c_in: int, c_out: int, stride: int = 1) -> list[nn.Module]:
    return [nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False), nn.BatchNorm2d(c_out)]


class BasicBlock(nn.Module):
    """Two 3×3 conv-BN layers with an identity (or 1×1 projection) shortcut."""

    def __init__(self, c_in: int, c_out: int, stride: int):
        super().__init__()
        self.body = nn.Sequential(*_conv_bn(c_in, c_out, stride), nn.ReLU(inplace=True),
                                  *_conv_bn(c_out, c_out))
        self.shortcut = nn.Identity() if stride == 1 and c_in == c_out else nn.Sequential(
            nn.Conv2d(c_in, c_out, 1, stride, bias=False), nn.BatchNorm2d(c_out))
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: Tensor) -> Tensor:
        return self.relu(self.body(x) + self.shortcut(x))


class ResNet(nn.Module):
    def __init__(self, channels: tuple[int, ...], blocks: tuple[int, ...], in_channels: int,
                 num_classes: int):
        super().__init__()
        layers: list[nn.Module] = [*_conv_bn(in_channels, channels[0]), nn.ReLU(inplace=True)]
        c_in = channels[0]
        for stage, (c_out, n) in enumerate(zip(channels, blocks)):
            for i in range(n):
                layers.append(BasicBlock(c_in, c_out, 2 if stage > 0 and i == 0 else 1))
                c_in = c_out
        self.features = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.classifier = nn.Linear(c_in, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        return self.classifier(self.features(x))


class VGG(nn.Module):
    def __init__(self, layers: list, in_channels: int, num_classes: int):
        super().__init__()
        modules: list[nn.Module] = []
        c_in = in_channels
        for item in layers:
            if item == "M":
                modules.append(nn.MaxPool2d(2, ceil_mode=True))
            else:
                modules += [*_conv_bn(c_in, item), nn.ReLU(inplace=True)]
                c_in = item
        self.features = nn.Sequential(*modules, nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.classifier = nn.Linear(c_in, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        return self.classifier(self.features(x))


def build_model(name: str, in_channels: int, num_classes: int, width: float = 1.0,
                image_side: int = 32) -> nn.Module:
    """A freshly initialized model (PyTorch's default init, a named model its library's; seed the
    global RNG first). ``image_side`` decides a named model's stem; a built-in needs none."""
    if is_named(name):
        if width != 1.0:
            raise ValueError(f"{name} has no width multiplier; width must be 1.0, not {width}")
        return build_named(name, in_channels, num_classes, image_side)
    scale = lambda c: max(1, round(c * width))  # noqa: E731
    if name in RESNET_STAGES:
        channels, blocks = RESNET_STAGES[name]
        return ResNet(tuple(map(scale, channels)), blocks, in_channels, num_classes)
    if name in VGG_LAYERS:
        layers = [x if x == "M" else scale(x) for x in VGG_LAYERS[name]]
        return VGG(layers, in_channels, num_classes)
    raise ValueError(f"unknown model {name!r}; allowed: {ALLOWED_MODELS}")


def memory_format(model: nn.Module, device: torch.device) -> torch.memory_format:
    """channels_last (1.6x faster for resnet8 on 2 CPU cores) where it is safe.

    On the CPU, torch 2.14's channels_last backward of a strided 1×1 convolution with fewer than
    8 input channels corrupts the heap (a crash; seen at width 0.25), so such models stay NCHW.
    """
    if device.type != "cpu":
        return torch.channels_last
    risky = any(isinstance(m, nn.Conv2d) and m.kernel_size == (1, 1) and m.stride != (1, 1)
                and m.in_channels < 8 for m in model.modules())
    return torch.contiguous_format if risky else torch.channels_last
