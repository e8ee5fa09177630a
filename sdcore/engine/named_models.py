"""Architectures named by the library that defines them: ``torchvision:<name>`` and ``timm:<name>``.

``torchvision:<name>`` is ``torchvision.models.get_model(name, weights=None, num_classes=K)`` for a
name in ``torchvision.models.list_models(module=torchvision.models)``; ``timm:<name>`` is
``timm.create_model(name, pretrained=False, num_classes=K, in_chans=C)`` for a name in
``timm.list_models()`` (timm is optional: ``pip install timm``). Then, in this order:

- small images (a side of ``SMALL_IMAGE_SIDE`` = 64 pixels or less): an ImageNet stem (a 7×7
  stride-2 convolution, then a 3×3 stride-2 max-pool) shrinks a 32×32 image to 8×8 before the first
  block, so the stem becomes the one CIFAR ResNets use: the stem convolution (``conv1``, or the
  first convolution in ``conv1``) is replaced by a 3×3 stride-1 one (Kaiming-normal, fan-out, as
  torchvision's and timm's ResNets initialize theirs) and ``maxpool`` by nothing. It is defined
  for models with ``conv1`` and a ``maxpool`` max-pool (torchvision's ResNet, ResNeXt, Wide ResNet
  and ShuffleNetV2; timm's ResNet family); any other name is refused at small images.
- gray images (1 channel; timm adapts its models itself through ``in_chans``): the first
  convolution of a torchvision model has its weights summed over RGB, so that it computes what the
  RGB model computes on the gray image repeated three times.
- the head: the last-registered linear layer with K outputs becomes ``classifier``, the model
  with an identity in its place ``features`` (a ``Headed``), so that ``model.features`` gives the
  features the head reads, as it does for the built-in architectures.

``check_named`` builds a named model on the meta device (no memory, no weights) and runs it on a
gray and an RGB batch, so that each of these failures is found in validation, before any training.
"""

from __future__ import annotations

import difflib
from functools import lru_cache
from typing import Any

import torch
import torch.nn as nn
from torch import Tensor

LIBRARIES = ("torchvision", "timm")
SMALL_IMAGE_SIDE = 64  # images this small or smaller get the small-image stem
NAMED_FORMS = ("torchvision:<name> (a name in torchvision.models.list_models())",
               "timm:<name> (a name in timm.list_models(); needs pip install timm)")
INSTALL_TIMM = "pip install timm (or pip install -e '.[timm]')"


class NamedModelError(ValueError):
    """A named architecture is unknown, its library is missing, or it cannot take the images."""


class Headed(nn.Module):
    """A named model split as the built-in ones are: ``features``, then the ``classifier`` head."""

    def __init__(self, features: nn.Module, classifier: nn.Linear):
        super().__init__()
        self.features = features
        self.classifier = classifier

    def forward(self, x: Tensor) -> Tensor:
        return self.classifier(self.features(x))


def is_named(name: str) -> bool:
    """Whether ``name`` has the form ``<library>:<architecture>`` of a known library."""
    library, colon, _ = name.partition(":")
    return bool(colon) and library in LIBRARIES


def _timm() -> Any:
    try:
        import timm
    except ImportError:
        raise NamedModelError(f"timm:<name> architectures need timm, which is not installed: "
                              f"{INSTALL_TIMM}") from None
    return timm


@lru_cache(maxsize=None)
def library_names(library: str) -> frozenset[str]:
    """The classification architectures ``library`` can build by name."""
    if library == "timm":
        return frozenset(_timm().list_models())
    import torchvision
    return frozenset(torchvision.models.list_models(module=torchvision.models))


def check_name(name: str) -> str:
    """``name`` if its library can build it by that name, else a ``NamedModelError`` that says
    what is allowed (and the closest names)."""
    library, _, architecture = name.partition(":")
    known = library_names(library)
    if architecture in known:
        return name
    close = difflib.get_close_matches(architecture, sorted(known), n=3)
    hint = f"; did you mean {', '.join(f'{library}:{c}' for c in close)}?" if close else ""
    call = ("torchvision.models.list_models()" if library == "torchvision"
            else "timm.list_models()")
    raise NamedModelError(f"unknown model {name!r}: {architecture!r} is not among the "
                          f"{len(known)} names of {call}{hint}")


def _construct(name: str, in_channels: int, num_classes: int) -> nn.Module:
    library, _, architecture = check_name(name).partition(":")
    if library == "timm":
        return _timm().create_model(architecture, pretrained=False, num_classes=num_classes,
                                    in_chans=in_channels)
    import torchvision
    return torchvision.models.get_model(architecture, weights=None, num_classes=num_classes)


def _replace(model: nn.Module, old: nn.Module, new: nn.Module) -> None:
    """Put ``new`` where the submodule ``old`` is in ``model``."""
    path = next(n for n, m in model.named_modules() if m is old)
    parent, _, attribute = path.rpartition(".")
    setattr(model.get_submodule(parent), attribute, new)


def _small_image_stem(model: nn.Module, name: str) -> None:
    """A 3×3 stride-1 stem convolution in place of ``conv1``'s, and no max-pool."""
    conv1, pool = getattr(model, "conv1", None), getattr(model, "maxpool", None)
    stem = conv1[0] if isinstance(conv1, nn.Sequential) and len(conv1) else conv1
    if not isinstance(stem, nn.Conv2d) or not isinstance(pool, nn.MaxPool2d):
        raise NamedModelError(
            f"{name} has no small-image stem: only models with a conv1 convolution and a maxpool "
            f"max-pool (e.g. torchvision:resnet18, torchvision:shufflenet_v2_x0_5, "
            f"timm:resnet18) are allowed on images of {SMALL_IMAGE_SIDE} pixels or less, where "
            "an ImageNet stem would shrink them to a few pixels; use a built-in architecture, or "
            f"an imagefolder dataset with image_size > {SMALL_IMAGE_SIDE}")
    small = nn.Conv2d(stem.in_channels, stem.out_channels, 3, 1, 1, bias=stem.bias is not None)
    nn.init.kaiming_normal_(small.weight, mode="fan_out", nonlinearity="relu")
    _replace(model, stem, small)
    model.maxpool = nn.Identity()


def _gray_input(model: nn.Module, name: str) -> None:
    """The first convolution's weights summed over its 3 input channels."""
    rgb = next((m for m in model.modules() if isinstance(m, nn.Conv2d)), None)
    if rgb is None or rgb.in_channels != 3:
        raise NamedModelError(f"{name}: found no first convolution with 3 input channels to "
                              "adapt to gray images")
    gray = nn.Conv2d(1, rgb.out_channels, rgb.kernel_size, rgb.stride, rgb.padding, rgb.dilation,
                     rgb.groups, rgb.bias is not None, rgb.padding_mode)
    with torch.no_grad():
        gray.weight.copy_(rgb.weight.sum(1, keepdim=True))
        if rgb.bias is not None:
            gray.bias.copy_(rgb.bias)
    _replace(model, rgb, gray)


def _split_head(model: nn.Module, name: str, num_classes: int) -> Headed:
    heads = [m for m in model.modules() if isinstance(m, nn.Linear)
             and m.out_features == num_classes]
    if not heads:
        raise NamedModelError(f"{name} has no linear head with {num_classes} outputs to read "
                              "its features from")
    _replace(model, heads[-1], nn.Identity())
    return Headed(model, heads[-1])


def build_named(name: str, in_channels: int, num_classes: int, image_side: int) -> Headed:
    """A freshly initialized named model for ``in_channels`` × ``image_side`` × ``image_side``
    images and ``num_classes`` classes (the library's init; seed the global RNG first)."""
    if in_channels not in (1, 3):
        raise NamedModelError(f"{name}: images must have 1 or 3 channels, not {in_channels}")
    model = _construct(name, in_channels, num_classes)
    if image_side <= SMALL_IMAGE_SIDE:
        _small_image_stem(model, name)
    if in_channels == 1 and name.startswith("torchvision:"):
        _gray_input(model, name)
    return _split_head(model, name, num_classes)


@lru_cache(maxsize=None)
def check_named(name: str, image_side: int, num_classes: int = 10) -> str:
    """``name`` if it builds and gives ``num_classes`` logits from its features for gray and RGB
    images of side ``image_side`` (in training mode, on the meta device: no memory, no weights),
    else a ``NamedModelError`` that says why."""
    for channels in (1, 3):
        with torch.device("meta"):
            model = build_named(name, channels, num_classes, image_side)
            x = torch.empty(2, channels, image_side, image_side)
            try:
                features = model.features(x)
                logits = model.classifier(features)
            except Exception as err:  # the library's own message says what does not fit
                raise NamedModelError(f"{name} does not run on {channels}×{image_side}×"
                                      f"{image_side} images: {err}") from None
        shape = tuple(logits.shape) if isinstance(logits, Tensor) else type(logits).__name__
        if shape != (2, num_classes):
            raise NamedModelError(f"{name} does not give one row of {num_classes} logits per "
                                  f"image: it gives {shape} for 2 images")
    return name
