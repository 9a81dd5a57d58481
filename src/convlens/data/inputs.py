"""The one way commands read what to work on: image files and folders, or a data set by name."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from ..errors import DataFileError, InputError, UnknownNameError
from .dataset import ImageDataset
from .images import IMAGE_SUFFIXES, load_images

DATASETS = ("sample", "mnist", "cifar10")


@dataclass(frozen=True)
class Inputs:
    """Images to work on, their names, and (for a data set) their labels.

    Attributes:
        images: (N,C,H,W) float in [0,1].
        names: a name per image (file name, or ``#index`` in a data set).
        labels: (N,) true classes for a data set, else None.
        source: a phrase for reports ("3 image files", "the bundled MNIST sample (test split)").
        classes: the data set's class names, when known.
    """

    images: torch.Tensor
    names: list[str]
    labels: torch.Tensor | None
    source: str
    classes: tuple[str, ...] | None = None

    def dataset(self, classes: Sequence[str] | None = None) -> ImageDataset:
        """The inputs as a labelled :class:`ImageDataset` (data sets only)."""
        if self.labels is None:
            raise InputError("these inputs have no labels; pass a data set instead of image files")
        names = tuple(classes or self.classes or (str(i) for i in range(int(self.labels.max()) + 1)))
        return ImageDataset(self.images, self.labels, names, self.source)


def image_files(paths: Sequence[str | Path]) -> list[Path]:
    """The image files named by ``paths``: files as given, folders expanded (sorted)."""
    files: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            inside = sorted(f for f in p.iterdir() if f.suffix.lower() in IMAGE_SUFFIXES and f.is_file())
            if not inside:
                raise DataFileError(f"folder {p} holds no image files ({', '.join(sorted(IMAGE_SUFFIXES))})")
            files += inside
        elif not p.is_file():
            raise DataFileError(f"image file {p} does not exist")
        else:
            files.append(p)
    if not files:
        raise InputError("no image files given")
    return files


def read_image_files(paths: Sequence[str | Path], input_size: Sequence[int]) -> Inputs:
    """Image files (or folders of them) converted to the model's channels and size.

    Args:
        paths: files or folders.
        input_size: the model's ``(C, H, W)``.
    """
    files = image_files(paths)
    channels, height, width = input_size
    images = load_images(files, (height, width), channels)
    source = files[0].name if len(files) == 1 else f"{len(files)} image files"
    return Inputs(images, [f.name for f in files], None, source)


def read_dataset(name: str, input_size: Sequence[int], root: str | Path = "data", split: str = "test") -> Inputs:
    """A data set's part that fits the model: ``sample``, ``mnist``, ``cifar10`` or a class-folder path.

    Args:
        name: the data set.
        input_size: the model's ``(C, H, W)``; a data set of another size is an error.
        root: where the MNIST/CIFAR-10 files live.
        split: ``"test"`` or ``"train"`` (the sample's test part for ``sample``).
    """
    from . import load_dataset, sample_splits
    from .folder import load_image_folder

    if name == "sample":
        splits = sample_splits()
        data = splits.test if split == "test" else splits.train
        source = f"the bundled MNIST sample ({split} split)"
    elif name in DATASETS:
        data = load_dataset(name, root, split=split)
        source = f"{name} {split} set"
    elif Path(name).is_dir():
        channels, height, width = input_size
        data = load_image_folder(name, (height, width), channels)
        source = f"image folder {name}"
    else:
        raise UnknownNameError(
            f"unknown data set {name!r}; choose from {', '.join(DATASETS)} or a folder of class folders"
        )
    if tuple(data.image_size) != tuple(input_size):
        shape = "x".join(map(str, data.image_size))
        want = "x".join(map(str, input_size))
        raise InputError(f"{name} has {shape} images but the model expects {want}; use a matching model or image files")
    images, labels = data.batch(slice(None))
    return Inputs(images, [f"#{i}" for i in range(len(labels))], labels, source, tuple(data.classes))


__all__ = ["DATASETS", "Inputs", "image_files", "read_dataset", "read_image_files"]
