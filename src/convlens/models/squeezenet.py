"""SqueezeNet 1.0 and 1.1 (Iandola et al. 2016, "SqueezeNet: AlexNet-level accuracy with 50x
fewer parameters and <0.5MB model size"), with ``state_dict`` keys identical to torchvision's
so that its ImageNet weight files load unchanged."""

from __future__ import annotations

import torch
from torch import nn

from ..data.transforms import Normalize

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

# torchvision's published ImageNet weights; the hex part of the file name is the SHA-256 prefix
WEIGHT_URLS = {
    "1_0": "https://download.pytorch.org/models/squeezenet1_0-b66bff10.pth",
    "1_1": "https://download.pytorch.org/models/squeezenet1_1-b8a52dc0.pth",
}


class Fire(nn.Module):
    """Squeeze with 1×1 convolutions, then expand with parallel 1×1 and 3×3 convolutions.

    Shape:
        input ``(B, inplanes, H, W)``; output ``(B, expand1x1 + expand3x3, H, W)``.
    """

    def __init__(self, inplanes: int, squeeze: int, expand1x1: int, expand3x3: int) -> None:
        super().__init__()
        self.squeeze = nn.Conv2d(inplanes, squeeze, kernel_size=1)
        self.squeeze_activation = nn.ReLU(inplace=True)
        self.expand1x1 = nn.Conv2d(squeeze, expand1x1, kernel_size=1)
        self.expand1x1_activation = nn.ReLU(inplace=True)
        self.expand3x3 = nn.Conv2d(squeeze, expand3x3, kernel_size=3, padding=1)
        self.expand3x3_activation = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = self.squeeze_activation(self.squeeze(x))
        return torch.cat(
            [self.expand1x1_activation(self.expand1x1(s)), self.expand3x3_activation(self.expand3x3(s))], 1
        )


def _features(version: str) -> nn.Sequential:
    pool = lambda: nn.MaxPool2d(kernel_size=3, stride=2, ceil_mode=True)  # noqa: E731
    if version == "1_0":
        return nn.Sequential(
            nn.Conv2d(3, 96, kernel_size=7, stride=2), nn.ReLU(inplace=True), pool(),
            Fire(96, 16, 64, 64), Fire(128, 16, 64, 64), Fire(128, 32, 128, 128), pool(),
            Fire(256, 32, 128, 128), Fire(256, 48, 192, 192), Fire(384, 48, 192, 192),
            Fire(384, 64, 256, 256), pool(),
            Fire(512, 64, 256, 256),
        )  # fmt: skip
    return nn.Sequential(
        nn.Conv2d(3, 64, kernel_size=3, stride=2), nn.ReLU(inplace=True), pool(),
        Fire(64, 16, 64, 64), Fire(128, 16, 64, 64), pool(),
        Fire(128, 32, 128, 128), Fire(256, 32, 128, 128), pool(),
        Fire(256, 48, 192, 192), Fire(384, 48, 192, 192), Fire(384, 64, 256, 256),
        Fire(512, 64, 256, 256),
    )  # fmt: skip


class SqueezeNet(nn.Module):
    """SqueezeNet with a ``Normalize`` front for [0,1] images.

    Args:
        version: ``"1_0"`` or ``"1_1"``.
        num_classes: outputs of the final 1×1 convolution (1000 for ImageNet).
        dropout: dropout probability before the final convolution.

    Shape:
        input ``(B, 3, H, W)`` in [0,1] (224×224 for ImageNet); output ``(B, num_classes)``.
    """

    def __init__(self, version: str = "1_0", num_classes: int = 1000, dropout: float = 0.5) -> None:
        super().__init__()
        if version not in WEIGHT_URLS:
            raise ValueError(f"unsupported SqueezeNet version {version!r}: use '1_0' or '1_1'")
        self.num_classes = num_classes
        self.normalize = Normalize(IMAGENET_MEAN, IMAGENET_STD)
        self.features = _features(version)
        final_conv = nn.Conv2d(512, num_classes, kernel_size=1)
        self.classifier = nn.Sequential(
            nn.Dropout(p=dropout), final_conv, nn.ReLU(inplace=True), nn.AdaptiveAvgPool2d((1, 1))
        )
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                if m is final_conv:
                    nn.init.normal_(m.weight, mean=0.0, std=0.01)
                else:
                    nn.init.kaiming_uniform_(m.weight)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.flatten(self.classifier(self.features(self.normalize(x))), 1)
