"""Normalization as a module, so that it is part of the model and images stay in [0,1]."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn


class Normalize(nn.Module):
    """Subtract a per-channel mean and divide by a per-channel standard deviation.

    The statistics are non-persistent buffers: they follow the model to its device but do not
    appear in its ``state_dict``, so weight files of the published architectures load unchanged.

    Args:
        mean: one value per channel.
        std: one value per channel, all positive.

    Shape:
        input and output ``(B, C, H, W)`` with ``C == len(mean)``.
    """

    def __init__(self, mean: Sequence[float], std: Sequence[float]) -> None:
        super().__init__()
        if len(mean) != len(std) or any(s <= 0 for s in std):
            raise ValueError("mean and std need one value per channel and std must be positive")
        self.register_buffer("mean", torch.tensor(list(mean)).view(1, -1, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(list(std)).view(1, -1, 1, 1), persistent=False)

    mean: torch.Tensor
    std: torch.Tensor

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std

    def extra_repr(self) -> str:
        return f"mean={self.mean.flatten().tolist()}, std={self.std.flatten().tolist()}"
