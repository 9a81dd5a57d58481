"""The two small teaching networks: ``mnist-cnn`` and ``cifar-cnn``."""

from __future__ import annotations

import torch
from torch import nn

from ..data.transforms import Normalize

MNIST_MEAN = (0.1307,)
MNIST_STD = (0.3081,)
CIFAR_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR_STD = (0.2470, 0.2435, 0.2616)


def _conv_block(cin: int, cout: int, kernel: int, padding: int, batchnorm: bool) -> list[nn.Module]:
    layers: list[nn.Module] = [nn.Conv2d(cin, cout, kernel, padding=padding)]
    if batchnorm:
        layers.append(nn.BatchNorm2d(cout))
    layers += [nn.ReLU(), nn.MaxPool2d(2, 2)]
    return layers


class MnistCNN(nn.Module):
    """conv32 3×3 pad 1, ReLU, maxpool 2, conv32 3×3 pad 1, ReLU, maxpool 2, fc500, ReLU, fc10.

    Args:
        num_classes: output classes (10 for MNIST).
        batchnorm: insert ``BatchNorm2d`` after each convolution.

    Shape:
        input ``(B, 1, 28, 28)`` in [0,1]; output ``(B, num_classes)`` logits.
    """

    def __init__(self, num_classes: int = 10, batchnorm: bool = False) -> None:
        super().__init__()
        self.normalize = Normalize(MNIST_MEAN, MNIST_STD)
        self.features = nn.Sequential(*_conv_block(1, 32, 3, 1, batchnorm), *_conv_block(32, 32, 3, 1, batchnorm))
        self.classifier = nn.Sequential(
            nn.Flatten(), nn.Linear(32 * 7 * 7, 500), nn.ReLU(), nn.Linear(500, num_classes)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(self.normalize(x)))


class CifarCNN(nn.Module):
    """conv8 5×5, ReLU, maxpool 2, conv16 5×5, ReLU, maxpool 2, fc128, ReLU, fc64, ReLU, fc10.

    Args:
        num_classes: output classes (10 for CIFAR-10).
        batchnorm: insert ``BatchNorm2d`` after each convolution.

    Shape:
        input ``(B, 3, 32, 32)`` in [0,1]; output ``(B, num_classes)`` logits.
    """

    def __init__(self, num_classes: int = 10, batchnorm: bool = False) -> None:
        super().__init__()
        self.normalize = Normalize(CIFAR_MEAN, CIFAR_STD)
        self.features = nn.Sequential(*_conv_block(3, 8, 5, 0, batchnorm), *_conv_block(8, 16, 5, 0, batchnorm))
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Linear(16 * 5 * 5, 128),
            nn.ReLU(),
            nn.Linear(128, 64),
            nn.ReLU(),
            nn.Linear(64, num_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(self.normalize(x)))
