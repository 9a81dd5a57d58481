"""Plumbing shared by the trust checks: which methods, which classes, and their maps."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import nn

from .._checks import Target, target_indices
from .._hooks import inspecting
from .._outputs import OutputSpec
from .._runner import ModelRunner, prepare_input
from ..errors import InputError
from ..registry import MethodSpec, get_method, list_methods


def method_specs(methods: str | Sequence[str] | None) -> list[MethodSpec]:
    """The registered attribution methods (all of them for ``None``), without repeats, in order."""
    if methods is None:
        return list_methods("attribution")
    names = [methods] if isinstance(methods, str) else list(dict.fromkeys(methods))
    if not names:
        raise InputError("pass at least one attribution method name, or methods=None for all of them")
    return [get_method(name, kind="attribution") for name in names]


def class_targets(model: nn.Module, x: torch.Tensor, target: Target, output: OutputSpec) -> torch.Tensor:
    """The class each image is explained for, (B,) long on the model's device.

    ``None`` is each image's predicted class; a callable target has no class and is refused
    (the trust checks compare maps of one class across models and read its probability).
    """
    if callable(target) and not isinstance(target, torch.Tensor):
        raise InputError("the trust checks need a class per image: pass None, an int or one class per image")
    xin = prepare_input(model, x)
    with inspecting(model), torch.no_grad():
        logits = ModelRunner(model, xin, output)(xin)
    return target_indices(target, logits)


def option_settings(spec: MethodSpec, options: Mapping[str, object]) -> dict[str, object]:
    """The options one method runs with: its defaults, overridden by those of ``options`` it accepts."""
    accepted = spec.parameters
    return {**spec.defaults, **{k: v for k, v in options.items() if k in accepted}}


def compute_maps(
    model: nn.Module,
    x: torch.Tensor,
    specs: Sequence[MethodSpec],
    classes: torch.Tensor,
    output: OutputSpec,
    options: Mapping[str, object],
) -> tuple[dict[str, torch.Tensor], str | None]:
    """Every method's maps of ``x`` for ``classes``, and the CAM layer used (if any).

    Runs :func:`convlens.attribution.explain` (one batch per method, the CAM layer resolved
    once), which gives the model back unchanged.
    """
    from ..attribution import explain

    kept: dict[str, Any] = {k: v for k, v in options.items() if k != "output"}  # explain rejects unknown options
    result = explain(model, x, [s.name for s in specs], target=classes, output=output, **kept)
    return dict(result.maps), result.layer


__all__ = ["class_targets", "compute_maps", "method_specs", "option_settings"]
