"""convlens: see inside convolutional neural networks.

Train them, count and plot what is in them, explain their decisions, fool them, make them
dream and restyle images with them. Every sub-package is reachable from the package root
(``import convlens; convlens.attribution.grad_cam``); each is imported on first use, so
``import convlens`` stays light. The command line is ``convlens`` (``python -m convlens``).
"""

from __future__ import annotations

import importlib
from types import ModuleType

from .errors import ConvlensError, DataFileError, DownloadError, InputError, UnknownNameError

__version__ = "0.1.0"

# Sub-packages reachable as attributes of the package root, imported on first use.
SUBPACKAGES = (
    "adversarial", "attribution", "data", "inspect", "layers", "models", "registry", "report", "style",
    "synthesis", "train", "trust", "viz",
)  # fmt: skip


def __getattr__(name: str) -> ModuleType:
    if name in SUBPACKAGES:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *SUBPACKAGES])


__all__ = ["ConvlensError", "DataFileError", "DownloadError", "InputError", "UnknownNameError", "__version__"]
