"""convlens: see inside convolutional neural networks.

Train them, count and plot what is in them, explain their decisions, fool them, make them
dream and restyle images with them. Sub-packages: ``data``, ``models``, ``layers``, ``train``,
``attribution``, ``viz``, ``report``; the command line is ``convlens`` (``python -m convlens``).
"""

from .errors import ConvlensError, DataFileError, DownloadError, InputError, UnknownNameError

__version__ = "0.1.0"

__all__ = ["ConvlensError", "DataFileError", "DownloadError", "InputError", "UnknownNameError", "__version__"]
