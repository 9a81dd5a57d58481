"""CIFAR-10 in its official "python version" batch format (Krizhevsky 2009)."""

from __future__ import annotations

import io
import pickle
import tarfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..errors import DataFileError, InputError
from .dataset import ImageDataset
from .download import download

URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
MD5 = "c58f30108f718f92721af3b95e74349a"
ARCHIVE = "cifar-10-python.tar.gz"
FOLDER = "cifar-10-batches-py"
BATCHES = {"train": [f"data_batch_{i}" for i in range(1, 6)], "test": ["test_batch"]}


class _SafeUnpickler(pickle.Unpickler):
    """Unpickles only what CIFAR batches contain: dicts, lists, bytes and numpy arrays."""

    _ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"), ("numpy", "dtype"), ("numpy.core.multiarray", "scalar"),
        ("numpy._core.multiarray", "scalar"), ("_codecs", "encode"),
    }  # fmt: skip

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in self._ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to load {module}.{name}")


def read_batch(data: bytes, source: str) -> dict[str, Any]:
    """Parse one CIFAR batch file's bytes into a dict with ``str`` keys (safely)."""
    try:
        batch = _SafeUnpickler(io.BytesIO(data), encoding="bytes").load()
    except Exception as exc:  # any unpickling failure means a corrupt or foreign file
        raise DataFileError(f"{source} is not a CIFAR-10 batch ({exc.__class__.__name__}: {exc})") from None
    if not isinstance(batch, dict):
        raise DataFileError(f"{source} is not a CIFAR-10 batch (expected a dict)")
    return {k.decode() if isinstance(k, bytes) else k: v for k, v in batch.items()}


def _members(root: Path, download_missing: bool) -> dict[str, bytes]:
    """The batch files' bytes, from the unpacked folder or straight from the archive."""
    folder = root / FOLDER
    if folder.is_dir():
        return {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()}
    archive = root / ARCHIVE
    if not archive.exists():
        if not download_missing:
            raise DataFileError(f"{archive} is missing; pass --download (or download_missing=True) to fetch CIFAR-10")
        download([URL], archive, MD5)
    try:
        with tarfile.open(archive, "r:gz") as tar:
            return {
                Path(m.name).name: tar.extractfile(m).read()  # type: ignore[union-attr]
                for m in tar.getmembers()
                if m.isfile() and Path(m.name).parent.name == FOLDER
            }
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise DataFileError(f"{archive} is corrupt or truncated ({exc}); delete it and download again") from None


def load_cifar10(root: str | Path, split: str = "train", download_missing: bool = False) -> ImageDataset:
    """CIFAR-10 from ``root`` (the official archive or its unpacked ``cifar-10-batches-py``).

    Returns:
        ``uint8`` images of shape (N, 3, 32, 32) and their labels.
    """
    if split not in BATCHES:
        raise InputError(f"CIFAR-10 split must be 'train' or 'test', got {split!r}")
    root = Path(root)
    members = _members(root, download_missing)
    images, labels = [], []
    for name in BATCHES[split]:
        if name not in members:
            raise DataFileError(f"CIFAR-10 batch {name} is missing from {root}")
        batch = read_batch(members[name], f"{root}/{name}")
        data = np.asarray(batch.get("data"))
        lab = np.asarray(batch.get("labels"), dtype=np.int64)
        if data.ndim != 2 or data.shape[1] != 3072 or len(data) != len(lab):
            raise DataFileError(f"{root}/{name} has data of shape {data.shape}, expected (N, 3072) with N labels")
        images.append(data.reshape(-1, 3, 32, 32).astype(np.uint8))
        labels.append(lab)
    classes: tuple[str, ...] = (
        "airplane",
        "automobile",
        "bird",
        "cat",
        "deer",
        "dog",
        "frog",
        "horse",
        "ship",
        "truck",
    )
    if "batches.meta" in members:
        meta = read_batch(members["batches.meta"], f"{root}/batches.meta")
        names = meta.get("label_names")
        if isinstance(names, list) and len(names) == 10:
            classes = tuple(n.decode() if isinstance(n, bytes) else str(n) for n in names)
    return ImageDataset(
        torch.from_numpy(np.concatenate(images)), torch.from_numpy(np.concatenate(labels)), classes, f"CIFAR-10 {split}"
    )
