"""Any model, any output: find the (B, classes) logits in whatever a model's forward returns.

Models from hubs and research code often return a tuple (logits, aux), a dict
(``{"logits": ..., "features": ...}``) or an object with a ``.logits`` attribute (Hugging Face
style). Every convlens function that runs a model takes ``output=`` to say where the logits are:

- ``None``: a tensor is used as it is; a 1-tuple or 1-list, a mapping with exactly one tensor
  value, and an object with a tensor ``.logits`` are unwrapped; anything else is ambiguous and
  raises an :class:`convlens.errors.InputError` that says to pass ``output=``.
- an ``int``: an index into a tuple or list;
- a ``str``: a key of a mapping, or an attribute name;
- a callable: from the raw output to the (B, classes) logits.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Union

import torch

from .errors import InputError

OutputSpec = Union[None, int, str, Callable[[Any], torch.Tensor]]


def _describe(raw: object) -> str:
    if isinstance(raw, torch.Tensor):
        return f"a tensor of shape {tuple(raw.shape)}"
    if isinstance(raw, Mapping):
        return f"a {type(raw).__name__} with keys {', '.join(map(repr, list(raw)[:6]))}"
    if isinstance(raw, (tuple, list)):
        return f"a {type(raw).__name__} of {len(raw)} items"
    return f"a {type(raw).__name__}"


def _default(raw: object) -> torch.Tensor:
    """The obvious logits of ``raw``, or an error that says to pass ``output=``."""
    if isinstance(raw, torch.Tensor):
        return raw
    if isinstance(raw, (tuple, list)) and len(raw) == 1 and isinstance(raw[0], torch.Tensor):
        return raw[0]
    if isinstance(raw, Mapping):
        tensors = [v for v in raw.values() if isinstance(v, torch.Tensor)]
        if len(tensors) == 1:
            return tensors[0]
        if isinstance(raw.get("logits"), torch.Tensor):
            return raw["logits"]
    logits = getattr(raw, "logits", None)
    if isinstance(logits, torch.Tensor):
        return logits
    raise InputError(
        f"the model returns {_describe(raw)}; pass output= (an index, a key or a callable) to say which "
        "part holds the (B, classes) logits"
    )


def _select(raw: object, output: OutputSpec) -> object:
    if callable(output):
        return output(raw)
    if isinstance(output, bool) or not isinstance(output, (int, str)):
        raise InputError(f"output must be None, an int index, a str key or a callable, got {type(output).__name__}")
    if isinstance(output, int):
        if not isinstance(raw, Sequence) or isinstance(raw, (str, bytes)):
            raise InputError(f"output={output} indexes a tuple, but the model returns {_describe(raw)}")
        if not -len(raw) <= output < len(raw):
            raise InputError(f"output={output} is out of range: the model returns {_describe(raw)}")
        return raw[output]
    if isinstance(raw, Mapping):
        if output not in raw:
            raise InputError(f"output={output!r} is not a key of what the model returns ({_describe(raw)})")
        return raw[output]
    if not hasattr(raw, output):
        raise InputError(f"output={output!r}: the model returns {_describe(raw)}, which has no such key or attribute")
    return getattr(raw, output)


def select_logits(raw: object, output: OutputSpec = None) -> torch.Tensor:
    """The (B, classes) logits in a model's raw output.

    Args:
        raw: what ``model(x)`` returned.
        output: where the logits are (see the module docstring).

    Returns:
        The logits tensor itself (no copy).

    Shape:
        result: (B, classes).
    """
    logits = _default(raw) if output is None else _select(raw, output)
    if not isinstance(logits, torch.Tensor) or logits.dim() != 2:
        got = f"shape {tuple(logits.shape)}" if isinstance(logits, torch.Tensor) else type(logits).__name__
        where = "" if output is None else f" (output={output!r})"
        raise InputError(f"the model's logits{where} must have shape (B, classes), got {got}")
    return logits


def check_output_spec(output: object) -> OutputSpec:
    """``output`` if it is a valid ``output=`` argument, else an :class:`InputError`."""
    if output is None or callable(output) or (isinstance(output, (int, str)) and not isinstance(output, bool)):
        return output
    raise InputError(f"output must be None, an int index, a str key or a callable, got {type(output).__name__}")


__all__ = ["OutputSpec", "check_output_spec", "select_logits"]
