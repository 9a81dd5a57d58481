"""From-scratch ``Linear`` and ``Conv2d`` layers, twins of ``torch.nn``'s, and tools to compare them.

``Linear`` and ``Conv2d`` are drop-in and ``state_dict``-compatible replacements written without
``torch.nn.Linear``/``Conv2d`` or their functional forms; :func:`convert` rebuilds any network
from them, and :func:`compare_layers` measures how closely and how fast the twin matches the
original.
"""

from .compare import DiffStats, LayersComparison, compare_layers
from .conv import Conv2d
from .convert import convert, to_torch
from .fast import conv2d_fast
from .functional import conv2d, linear
from .linear import Linear
from .reference import conv2d_reference

__all__ = [
    "Conv2d", "DiffStats", "LayersComparison", "Linear", "compare_layers", "conv2d", "conv2d_fast",
    "conv2d_reference", "convert", "linear", "to_torch",
]  # fmt: skip
