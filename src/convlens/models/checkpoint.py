"""Checkpoint files: written atomically, read with ``weights_only=True`` (never unpickles code)."""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .._io import atomic_write
from ..errors import DataFileError, InputError
from .info import get_info

FORMAT = "convlens-checkpoint-v1"


def atomic_save(obj: Any, path: str | Path) -> Path:
    """``torch.save`` to a temporary file in the same folder, then rename over ``path``."""
    return atomic_write(path, lambda handle: torch.save(obj, handle))


def save_model(model: nn.Module, path: str | Path, **extra: Any) -> Path:
    """Save a convlens model's architecture name, options and weights (plus ``extra`` entries)."""
    info = get_info(model)
    if info is None:
        raise InputError("only models built by convlens.models.create_model can be saved with save_model")
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    payload = {"format": FORMAT, "model": {"name": info.name, **info.options}, "state_dict": state, **extra}
    return atomic_save(payload, path)


def read_checkpoint(path: str | Path) -> dict[str, Any]:
    """Read a checkpoint safely; a missing, corrupt or foreign file raises :class:`DataFileError`."""
    path = Path(path)
    if not path.is_file():
        raise DataFileError(f"checkpoint {path} does not exist")
    try:
        with warnings.catch_warnings():  # foreign pickles make the safe unpickler warn before it refuses
            warnings.simplefilter("ignore")
            payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # pickle, zip and safety errors all mean "not a usable checkpoint"
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DataFileError(f"{path} is not a readable convlens checkpoint ({first[:160]})") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise DataFileError(f"{path} is not a convlens checkpoint; create one with `convlens train`")
    return payload


def load_model(spec: str | Path, *, pretrained: bool = False) -> nn.Module:
    """A model from a registry name or a checkpoint file written by convlens.

    Args:
        spec: ``"mnist-cnn"`` or a path such as ``runs/mnist/checkpoint.pt``.
        pretrained: for a registry name, load the published weights.

    Returns:
        The model in eval mode on the CPU.
    """
    from .registry import create_model

    if isinstance(spec, Path) or Path(str(spec)).suffix in {".pt", ".pth", ".ckpt"} or os.sep in str(spec):
        payload = read_checkpoint(spec)
        options = dict(payload["model"])
        name = options.pop("name")
        model = create_model(name, **options)
        try:
            model.load_state_dict(payload["state_dict"])
        except RuntimeError as exc:
            raise DataFileError(f"{spec}: weights do not fit {name} ({str(exc).splitlines()[0]})") from None
        return model.eval()
    return create_model(str(spec), pretrained=pretrained)
