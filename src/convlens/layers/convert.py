"""Rebuild a network from the from-scratch layers (and back), keeping its weights."""

from __future__ import annotations

import copy
from collections.abc import Callable

import torch
from torch import nn

from ..errors import InputError
from ._geometry import check_implementation
from .conv import Conv2d
from .linear import Linear


def convert(model: nn.Module, *, implementation: str = "fast") -> nn.Module:
    """A copy of ``model`` with every ``torch.nn.Linear``/``torch.nn.Conv2d`` replaced by ours.

    The copy has the same weights (copied, not shared: the original is never touched), the same
    ``state_dict`` keys, training flags, devices and dtypes, so it computes the same
    predictions. Only layers whose class is exactly ``nn.Linear`` or ``nn.Conv2d`` are replaced;
    subclasses (which may change ``forward``), layers with hooks and layers whose weight is
    computed (weight norm, parametrizations) are kept as they are. Layers used twice stay
    shared, and tied parameters stay tied.

    Args:
        model: any ``nn.Module`` (not a TorchScript module).
        implementation: the convolution implementation, ``"fast"`` or ``"reference"``.

    Returns:
        The converted copy (or the converted layer itself when ``model`` is one).
    """
    check_implementation(implementation)

    def replace(module: nn.Module) -> nn.Module | None:
        if not _replaceable(module):
            return None
        if type(module) is nn.Conv2d:
            return Conv2d.from_torch(module, implementation)
        return Linear.from_torch(module)  # type: ignore[arg-type]

    return _swap(model, replace)


_HOOK_DICTS = ("_forward_hooks", "_forward_pre_hooks", "_backward_hooks", "_backward_pre_hooks")


def _replaceable(module: nn.Module) -> bool:
    """Exactly ``nn.Conv2d``/``nn.Linear``, with plain parameters and no hooks (e.g. not weight-normed)."""
    if type(module) not in (nn.Conv2d, nn.Linear):
        return False
    if not isinstance(module.weight, nn.Parameter) or not isinstance(module.bias, (nn.Parameter, type(None))):
        return False
    return not any(getattr(module, name, None) for name in _HOOK_DICTS)


def to_torch(model: nn.Module) -> nn.Module:
    """The inverse of :func:`convert`: a copy with our ``Linear``/``Conv2d`` back as ``torch.nn`` layers.

    Args:
        model: a model that contains :class:`~convlens.layers.Linear`/:class:`~convlens.layers.Conv2d`.

    Returns:
        The converted copy (the original is not touched).
    """

    def replace(module: nn.Module) -> nn.Module | None:
        return module.to_torch() if isinstance(module, (Conv2d, Linear)) else None

    return _swap(model, replace)


def _swap(model: nn.Module, replace: Callable[[nn.Module], nn.Module | None]) -> nn.Module:
    """Deep-copy ``model`` and replace each module for which ``replace`` returns a new one."""
    if not isinstance(model, nn.Module):
        raise InputError(f"expected a torch.nn.Module, got {type(model).__name__}")
    if isinstance(model, torch.jit.ScriptModule):
        raise InputError("TorchScript models cannot be converted; pass the original Python nn.Module")
    try:
        twin = copy.deepcopy(model)
    except (RuntimeError, TypeError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InputError(
            f"the model cannot be copied with copy.deepcopy ({first[:160]}); make it copyable (for weight "
            "norm use torch.nn.utils.parametrizations.weight_norm) and convert again"
        ) from None
    done: dict[int, nn.Module] = {}  # id(old module) -> its replacement, so shared layers stay shared

    def visit(module: nn.Module) -> nn.Module:
        if id(module) in done:
            return done[id(module)]
        new = replace(module)
        if new is None:
            done[id(module)] = module
            for name, child in list(module._modules.items()):  # not named_children(): it skips repeats
                if child is None:
                    continue
                swapped = visit(child)
                if swapped is not child:
                    module._modules[name] = swapped
            return module
        done[id(module)] = new
        return new

    return visit(twin)
