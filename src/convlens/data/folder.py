"""Any image folder with one sub-folder per class (``root/cat/001.png``)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch

from ..errors import DataFileError
from .dataset import ImageDataset
from .images import IMAGE_SUFFIXES, load_image


def load_image_folder(root: str | Path, size: Sequence[int], channels: int = 3) -> ImageDataset:
    """Read every image under ``root/<class>/`` resized to ``size``; classes sorted by name.

    A file that is not a readable image raises :class:`DataFileError` naming it.
    """
    root = Path(root)
    if not root.is_dir():
        raise DataFileError(f"image folder {root} does not exist")
    class_dirs = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not class_dirs:
        raise DataFileError(f"{root} has no class sub-folders; put images in {root}/<class name>/")
    images, labels = [], []
    for label, folder in enumerate(class_dirs):
        for path in sorted(folder.rglob("*")):
            if path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES:
                images.append(load_image(path, size, channels))
                labels.append(label)
    if not images:
        raise DataFileError(f"no images ({', '.join(sorted(IMAGE_SUFFIXES))}) found under {root}")
    stacked = (torch.stack(images) * 255).round().to(torch.uint8)
    return ImageDataset(stacked, torch.tensor(labels), tuple(p.name for p in class_dirs), root.name)
