"""MNIST in its official IDX format (LeCun et al. 1998), downloaded with checksums."""

from __future__ import annotations

import gzip
import struct
import zlib
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


MAX_IDX_BYTES = 1 << 30
"""Largest IDX payload read (1 GiB; MNIST's training images are 47 MB)."""


def read_idx(path: str | Path) -> np.ndarray:
    """Parse an IDX file (optionally gzip-compressed) into an array.

    The format: two zero bytes, a type code, the number of dimensions, one big-endian
    uint32 per dimension, then the data in C order.
    """
    path = Path(path)
    try:
        opener = gzip.open if path.suffix == ".gz" else open
        with opener(path, "rb") as handle:
            head = handle.read(4)
            if len(head) < 4 or head[0] != 0 or head[1] != 0 or head[2] not in _IDX_TYPES:
                raise DataFileError(f"{path} is not an IDX file (bad magic number)")
            dims = handle.read(4 * head[3])
            if len(dims) < 4 * head[3]:
                raise DataFileError(f"{path} is truncated inside its header")
            shape = struct.unpack(f">{head[3]}I", dims)
            dtype = np.dtype(_IDX_TYPES[head[2]])
            expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
            if expected > MAX_IDX_BYTES:
                raise DataFileError(
                    f"{path} declares {expected / 1e9:.1f} GB of data, more than any MNIST-format file; "
                    "it is not an MNIST file (delete it and download again)"
                )
            data = handle.read(expected + 1)  # never more than the header declares (a gzip bomb stops here)
    except FileNotFoundError:
        raise DataFileError(f"{path} does not exist") from None
    except (OSError, EOFError, zlib.error) as exc:
        raise DataFileError(f"{path} is corrupt or truncated ({exc}); delete it and download again") from None
    header = 4 + 4 * len(shape)
    if len(data) != expected:
        size = "more" if len(data) > expected else len(data)
        raise DataFileError(f"{path} is truncated or padded: header says {shape} ({expected} bytes), file has {size}")
    raw = head + dims + data
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
