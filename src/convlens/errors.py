"""Errors a user can cause. Every one says what to do next, in one line."""

from __future__ import annotations


class ConvlensError(Exception):
    """Base class of every error a user can cause; the CLI prints it in one line."""


class InputError(ConvlensError, ValueError):
    """A tensor, argument or option has the wrong type, shape or value."""


class UnknownNameError(ConvlensError, LookupError):
    """A model, layer, method, class or data set name that does not exist."""

    def __str__(self) -> str:  # LookupError would quote the message like a KeyError
        return str(self.args[0]) if self.args else ""


class DataFileError(ConvlensError, OSError):
    """A data, image or checkpoint file is missing, corrupt, truncated or of the wrong format."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class DownloadError(ConvlensError, OSError):
    """A download failed or its checksum did not match."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class ConvlensWarning(UserWarning):
    """Something is probably wrong but may be intended (e.g. pixel values slightly outside [0,1])."""
