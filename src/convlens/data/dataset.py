"""In-memory image data sets and deterministic, stratified splits."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import torch

from ..errors import InputError


@dataclass(frozen=True)
class ImageDataset:
    """Images and labels held in memory.

    Attributes:
        images: ``uint8`` (0..255) or float (0..1) tensor of shape (N, C, H, W).
        labels: ``int64`` tensor of shape (N,).
        classes: one name per class index.
        name: where the data came from (shown in reports).
    """

    images: torch.Tensor
    labels: torch.Tensor
    classes: tuple[str, ...]
    name: str = "data"

    def __post_init__(self) -> None:
        if self.images.dim() != 4 or self.labels.dim() != 1 or len(self.images) != len(self.labels):
            raise InputError(
                f"{self.name}: need images (N,C,H,W) and labels (N,), got {tuple(self.images.shape)} "
                f"and {tuple(self.labels.shape)}"
            )
        if len(self.labels) and (int(self.labels.min()) < 0 or int(self.labels.max()) >= len(self.classes)):
            raise InputError(f"{self.name}: labels must lie in 0..{len(self.classes) - 1}")

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def image_size(self) -> tuple[int, int, int]:
        return tuple(self.images.shape[1:])  # type: ignore[return-value]

    def to_float(self, images: torch.Tensor) -> torch.Tensor:
        """Convert stored images to float pixels in [0,1]."""
        return images.float().div_(255.0) if images.dtype == torch.uint8 else images.float()

    def batch(self, index: torch.Tensor | Sequence[int] | slice) -> tuple[torch.Tensor, torch.Tensor]:
        """Float images in [0,1] and labels for the given indices."""
        return self.to_float(self.images[index]), self.labels[index]

    def batches(
        self, batch_size: int, order: torch.Tensor | None = None
    ) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """Iterate over the data in ``order`` (default: stored order) in batches."""
        order = torch.arange(len(self)) if order is None else order
        for start in range(0, len(order), batch_size):
            yield self.batch(order[start : start + batch_size])

    def subset(self, index: torch.Tensor, name: str | None = None) -> ImageDataset:
        return ImageDataset(self.images[index], self.labels[index], self.classes, name or self.name)


@dataclass(frozen=True)
class Splits:
    """Train, validation and test parts of one data set."""

    train: ImageDataset
    val: ImageDataset
    test: ImageDataset


def stratified_split(data: ImageDataset, fractions: Sequence[float], seed: int = 0) -> list[ImageDataset]:
    """Split ``data`` into parts with the same class proportions, deterministically.

    Args:
        data: the data set.
        fractions: the share of each part but the last; the last part takes the rest.
        seed: the shuffling seed (same seed, same split, on every machine).

    Returns:
        ``len(fractions) + 1`` data sets, each in a seeded random order (so that its first
        images are of mixed classes, not all of the first class).
    """
    if any(f <= 0 for f in fractions) or sum(fractions) >= 1:
        raise InputError(f"split fractions must be positive and sum to less than 1, got {list(fractions)}")
    gen = torch.Generator().manual_seed(seed)
    parts: list[list[torch.Tensor]] = [[] for _ in range(len(fractions) + 1)]
    for cls in range(len(data.classes)):
        idx = torch.nonzero(data.labels == cls).flatten()
        idx = idx[torch.randperm(len(idx), generator=gen)]
        start = 0
        for p, f in enumerate(fractions):
            count = round(f * len(idx))
            parts[p].append(idx[start : start + count])
            start += count
        parts[-1].append(idx[start:])
    out = []
    for p, chunks in enumerate(parts):
        index = torch.cat(chunks)
        index = index[torch.randperm(len(index), generator=gen)]
        out.append(data.subset(index, f"{data.name}[{p}]"))
    return out


def train_val_test(data: ImageDataset, val: float = 0.1, test: float = 0.2, seed: int = 0) -> Splits:
    """Deterministic stratified train/validation/test split (defaults 70/10/20), each part shuffled."""
    test_part, val_part, train_part = stratified_split(data, [test, val], seed)
    return Splits(
        train=train_part.subset(torch.arange(len(train_part)), f"{data.name} train"),
        val=val_part.subset(torch.arange(len(val_part)), f"{data.name} validation"),
        test=test_part.subset(torch.arange(len(test_part)), f"{data.name} test"),
    )
