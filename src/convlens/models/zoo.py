"""torchvision and timm models by name, when those optional packages are installed."""

from __future__ import annotations

import importlib

from torch import nn

from ..data.transforms import Normalize
from ..errors import InputError, UnknownNameError
from .info import ModelInfo, attach_info


class _Normalized(nn.Module):
    """A zoo model behind an ImageNet ``Normalize`` front, taking [0,1] images."""

    def __init__(self, net: nn.Module, mean: tuple[float, ...], std: tuple[float, ...]) -> None:
        super().__init__()
        self.normalize = Normalize(mean, std)
        self.net = net

    def forward(self, x):
        return self.net(self.normalize(x))


def create_zoo_model(name: str, *, num_classes: int | None = None, pretrained: bool = False) -> nn.Module:
    """Build ``torchvision.NAME`` or ``timm.NAME`` wrapped with its normalization.

    Raises:
        InputError: the package is not installed.
        UnknownNameError: the package has no such model.
    """
    from .registry import imagenet_classes
    from .squeezenet import IMAGENET_MEAN, IMAGENET_STD

    package, _, arch = name.partition(".")
    try:
        module = importlib.import_module("torchvision.models" if package == "torchvision" else "timm")
    except Exception as exc:  # torchvision may be installed but broken against this torch
        raise InputError(f"{name} needs the optional package {package!r} ({exc}); install it first") from None
    kwargs = {} if num_classes is None else {"num_classes": num_classes}
    if package == "torchvision":
        try:
            net = module.get_model(arch, weights="DEFAULT" if pretrained else None, **kwargs)
        except ValueError:
            raise UnknownNameError(f"torchvision has no model {arch!r}; see torchvision.models.list_models()") from None
    else:
        if arch not in module.list_models():
            raise UnknownNameError(f"timm has no model {arch!r}; see timm.list_models()")
        net = module.create_model(arch, pretrained=pretrained, **kwargs)
    model = _Normalized(net, IMAGENET_MEAN, IMAGENET_STD).eval()
    outputs = num_classes or 1000
    classes = imagenet_classes() if outputs == 1000 else tuple(str(i) for i in range(outputs))
    # No recorded CAM layer: a probe forward pass finds the last feature map (convlens._probe).
    info = ModelInfo(
        name, (3, 224, 224), IMAGENET_MEAN, IMAGENET_STD, classes, "", weights="published" if pretrained else "random"
    )
    return attach_info(model, info)
