"""Small networks shared by the attribution tests (this module holds no tests itself).

``TinyNet`` comes in four ReLU styles with identical parameter names, so one set of weights can
be loaded into each: ReLU modules, ``inplace=True`` ReLU modules, functional calls in
``forward`` (``F.relu``, ``x.relu_()``, ``F.relu(x, inplace=True)``) and one ReLU module reused
three times. A ReLU follows the Grad-CAM layer (``conv2``) in the classifier, so guided and
ordinary gradients at that layer differ.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

STYLES = ("module", "inplace", "functional", "shared")


class TinyNet(nn.Module):
    """conv6 → ReLU → pool → conv8 → ReLU → pool → fc16 → ReLU → fc5, for (B,3,16,16)."""

    def __init__(self, style: str = "module") -> None:
        super().__init__()
        self.style = style
        self.conv1 = nn.Conv2d(3, 6, 3, padding=1)
        self.conv2 = nn.Conv2d(6, 8, 3, padding=1)
        self.fc1 = nn.Linear(8 * 4 * 4, 16)
        self.fc2 = nn.Linear(16, 5)
        if style == "shared":
            self.relu = nn.ReLU()
        elif style in ("module", "inplace"):
            inplace = style == "inplace"
            self.relu1, self.relu2, self.relu3 = nn.ReLU(inplace), nn.ReLU(inplace), nn.ReLU(inplace)

    def act(self, i: int, x: torch.Tensor) -> torch.Tensor:
        if self.style == "shared":
            return self.relu(x)
        if self.style == "functional":
            return _functional(i, x)
        return getattr(self, f"relu{i + 1}")(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.max_pool2d(self.act(0, self.conv1(x)), 2)
        x = F.max_pool2d(self.act(1, self.conv2(x)), 2)
        return self.fc2(self.act(2, self.fc1(x.flatten(1))))


def _functional(i: int, x: torch.Tensor) -> torch.Tensor:
    if i == 0:
        return F.relu(x)
    if i == 1:
        return x.relu_()
    return F.relu(x, inplace=True)


def tiny(style: str, seed: int = 0, dtype: torch.dtype = torch.float64) -> TinyNet:
    """A ``TinyNet`` of the given style; the same seed gives the same weights in every style."""
    torch.manual_seed(seed)
    reference = TinyNet("module")
    model = TinyNet(style)
    model.load_state_dict(reference.state_dict())
    return model.to(dtype).eval()


class GapNet(nn.Module):
    """conv → ReLU → conv → ReLU (``features``) → global average pool → linear: the CAM setting."""

    def __init__(self, classes: int = 4) -> None:
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(3, 5, 3, padding=1), nn.ReLU(), nn.Conv2d(5, 6, 3), nn.ReLU())
        self.fc = nn.Linear(6, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.features(x).mean(dim=(2, 3)))


class ViewNet(nn.Module):
    """Flattens with ``x.view(B, -1)`` right after a convolution, as many tutorial models do."""

    def __init__(self, use_view: bool = True) -> None:
        super().__init__()
        self.use_view = use_view
        self.conv = nn.Conv2d(3, 4, 3)
        self.fc = nn.Linear(4 * 6 * 6, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = torch.relu(self.conv(x))
        h = h.view(h.shape[0], -1) if self.use_view else h.reshape(h.shape[0], -1)
        return self.fc(h)
