"""Data sets, image files, the bundled offline sample and normalization."""

from __future__ import annotations

from pathlib import Path

from ..errors import UnknownNameError
from .cifar import load_cifar10
from .dataset import ImageDataset, Splits, stratified_split, train_val_test
from .folder import load_image_folder
from .images import load_image, load_images, save_image
from .mnist import load_mnist, read_idx
from .sample import load_sample, sample_splits
from .transforms import Normalize

DATASETS = ("sample", "mnist", "cifar10")


def load_dataset(name: str, root: str | Path = "data", split: str = "train", download: bool = False) -> ImageDataset:
    """A data set by name: ``sample`` (bundled, offline), ``mnist``, ``cifar10``, or an image folder path.

    Args:
        name: one of :data:`DATASETS` or a folder with one sub-folder per class (28×28 grayscale
            is not assumed: folder images are read at 32×32 RGB; use ``load_image_folder`` for control).
        root: where MNIST/CIFAR-10 files live (or are downloaded to).
        split: ``"train"`` or ``"test"`` (ignored by ``sample`` and folders).
        download: fetch missing MNIST/CIFAR-10 files (checksums verified).
    """
    if name == "sample":
        return load_sample()
    if name == "mnist":
        return load_mnist(Path(root) / "mnist", split, download)
    if name == "cifar10":
        return load_cifar10(Path(root) / "cifar10", split, download)
    if Path(name).is_dir():
        return load_image_folder(name, (32, 32), 3)
    raise UnknownNameError(f"unknown data set {name!r}; choose from {', '.join(DATASETS)} or an image folder path")


__all__ = [
    "DATASETS", "ImageDataset", "Normalize", "Splits", "load_cifar10", "load_dataset",
    "load_image", "load_image_folder", "load_images", "load_mnist", "load_sample", "read_idx",
    "sample_splits", "save_image", "stratified_split", "train_val_test",
]  # fmt: skip
