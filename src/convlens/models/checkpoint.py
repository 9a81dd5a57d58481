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
        raise DataFileError(
            f"{path} is not a readable convlens checkpoint ({_why_unreadable(exc)}); "
            "write one with `convlens train` (convlens never loads files that could run code)"
        ) from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise DataFileError(f"{path} is not a convlens checkpoint; create one with `convlens train`")
    return payload


CHECKPOINT_NAME = "checkpoint.pt"  # the file a training folder holds
CHECKPOINT_SUFFIXES = (".pt", ".pth", ".ckpt")


def checkpoint_path(spec: str | Path) -> Path | None:
    """The checkpoint file ``spec`` names (a file, or a training folder holding one), or None for a name.

    A path that looks like a file (a known suffix or a folder separator) but does not exist
    raises :class:`DataFileError`, so a typo is not taken for a registry name.
    """
    path = Path(spec)
    if path.is_dir():
        if not (path / CHECKPOINT_NAME).is_file():
            raise DataFileError(
                f"{path} holds no {CHECKPOINT_NAME}; pass a checkpoint file, a training folder or a model name"
            )
        return path / CHECKPOINT_NAME
    if path.is_file() or isinstance(spec, Path) or path.suffix in CHECKPOINT_SUFFIXES or os.sep in str(spec):
        return path
    return None


def _why_unreadable(exc: Exception) -> str:
    """A short, complete reason a file could not be unpickled safely (no advice to disable safety)."""
    text = " ".join(str(exc).split())
    if "weights_only" in text or "Unsupported global" in text or "WeightsUnpickler" in text:
        return "it holds Python objects other than tensors, which a safe load refuses"
    if "zip" in text.lower() or "EOF" in text or "magic number" in text.lower() or "truncated" in text.lower():
        return "it is truncated or not a PyTorch file"
    return type(exc).__name__


def _shapes_fit(model: nn.Module, payload: dict[str, Any]) -> bool:
    state = payload.get("state_dict")
    if not isinstance(state, dict):
        return False
    own = model.state_dict()
    return all(k not in own or tuple(own[k].shape) == tuple(v.shape) for k, v in state.items() if hasattr(v, "shape"))


def _mismatch(model: nn.Module, state: object) -> str:
    """Which keys are missing, unexpected or of another shape, in one line."""
    if not isinstance(state, dict):
        return "no state_dict in the file"
    own = model.state_dict()
    missing = [k for k in own if k not in state]
    extra = [k for k in state if k not in own]
    shaped = [k for k in own if k in state and tuple(own[k].shape) != tuple(getattr(state[k], "shape", ()))]
    parts = [f"{len(v)} {what} key(s), e.g. {v[0]}" for what, v in (("missing", missing), ("unexpected", extra),
             ("wrongly shaped", shaped)) if v]  # fmt: skip
    return "; ".join(parts) or "no differences found"


def load_model(spec: str | Path, *, pretrained: bool = False) -> nn.Module:
    """A model from a registry name, a checkpoint file or a training folder written by convlens.

    Where the weights came from is recorded in the model's :class:`ModelInfo` (``weights``:
    ``"random"``, ``"published"`` or ``"checkpoint PATH"``), so a caller can warn about an
    untrained model.

    Args:
        spec: ``"mnist-cnn"``, a file such as ``runs/mnist/checkpoint.pt``, or the folder
            ``runs/mnist`` that holds it.
        pretrained: for a registry name, load the published weights.

    Returns:
        The model in eval mode on the CPU.
    """
    import dataclasses

    from .info import attach_info
    from .registry import create_model

    path = checkpoint_path(spec)
    if path is not None:
        if pretrained:
            raise InputError("pretrained=True applies to registry names, not to checkpoint files; drop it")
        payload = read_checkpoint(path)
        options = dict(payload["model"])
        name = options.pop("name")
        model = create_model(name, **options)
        result = model.load_state_dict(payload["state_dict"], strict=False) if _shapes_fit(model, payload) else None
        if result is None or result.missing_keys or result.unexpected_keys:
            raise DataFileError(f"{path}: the weights do not fit {name} ({_mismatch(model, payload['state_dict'])})")
        bad = next((k for k, v in model.state_dict().items() if v.is_floating_point() and not v.isfinite().all()), None)
        if bad is not None:
            raise DataFileError(
                f"{path} holds NaN or infinite weights ({bad}), so every output would be NaN; the run diverged: "
                "train again with a lower --lr"
            )
        info = get_info(model)
        if info is not None:
            attach_info(model, dataclasses.replace(info, weights=f"checkpoint {path}"))
        return model.eval()
    return create_model(str(spec), pretrained=pretrained)
