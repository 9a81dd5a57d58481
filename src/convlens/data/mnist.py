"""MNIST in its official IDX format (LeCun et al. 1998), downloaded with checksums."""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np
import torch

from ..errors import DataFileError, InputError
from .dataset import ImageDataset
from .download import download

MIRRORS = ("https://ossci-datasets.s3.amazonaws.com/mnist/", "http://yann.lecun.com/exdb/mnist/")
FILES = {
    "train": (("train-images-idx3-ubyte.gz", "f68b3c2dcbeaaa9fbdd348bbdeb94873"),
              ("train-labels-idx1-ubyte.gz", "d53e105ee54ea40749a09fcbcd1e9432")),
    "test": (("t10k-images-idx3-ubyte.gz", "9fb629c4189551a2d022fa330f9573f3"),
             ("t10k-labels-idx1-ubyte.gz", "ec29112dd5afa0611ce80d1b7f02629c")),
}  # fmt: skip
_IDX_TYPES: dict[int, str] = {0x08: "u1", 0x09: "i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_idx(path: str | Path) -> np.ndarray:
    """Parse an IDX file (optionally gzip-compressed) into an array.

    The format: two zero bytes, a type code, the number of dimensions, one big-endian
    uint32 per dimension, then the data in C order.
    """
    path = Path(path)
    try:
        opener = gzip.open if path.suffix == ".gz" else open
        with opener(path, "rb") as handle:
            raw = handle.read()
    except FileNotFoundError:
        raise DataFileError(f"{path} does not exist") from None
    except (OSError, EOFError) as exc:
        raise DataFileError(f"{path} is corrupt or truncated ({exc}); delete it and download again") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_TYPES:
        raise DataFileError(f"{path} is not an IDX file (bad magic number)")
    ndim = raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DataFileError(f"{path} is truncated inside its header")
    shape = struct.unpack(f">{ndim}I", raw[4:header])
    dtype = np.dtype(_IDX_TYPES[raw[2]])
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if len(raw) - header != expected:
        raise DataFileError(
            f"{path} is truncated or padded: header says {shape} ({expected} bytes), file has {len(raw) - header}"
        )
    return np.frombuffer(raw, dtype=dtype, offset=header).reshape(shape)


def load_mnist(root: str | Path, split: str = "train", download_missing: bool = False) -> ImageDataset:
    """MNIST from ``root`` (the four official ``.gz`` files, or their unpacked versions).

    Args:
        root: folder that holds (or will hold) the files.
        split: ``"train"`` (60,000 digits) or ``"test"`` (10,000).
        download_missing: fetch missing files from the mirrors, checking their MD5.

    Returns:
        ``uint8`` images of shape (N, 1, 28, 28) and their labels.
    """
    if split not in FILES:
        raise InputError(f"MNIST split must be 'train' or 'test', got {split!r}")
    root = Path(root)
    arrays = []
    for name, md5 in FILES[split]:
        path = root / name
        if not path.exists() and (root / name[:-3]).exists():
            path = root / name[:-3]
        elif not path.exists():
            if not download_missing:
                raise DataFileError(f"{path} is missing; pass --download (or download_missing=True) to fetch MNIST")
            download([m + name for m in MIRRORS], path, md5)
        arrays.append(read_idx(path))
    images, labels = arrays
    if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
        raise DataFileError(f"MNIST files in {root} do not fit together: {images.shape} images, {labels.shape} labels")
    return ImageDataset(
        torch.from_numpy(images.astype(np.uint8)).unsqueeze(1),
        torch.from_numpy(labels.astype(np.int64)),
        tuple(str(i) for i in range(10)),
        f"MNIST {split}",
    )
