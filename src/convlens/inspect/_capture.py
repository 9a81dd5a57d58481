"""One forward pass with hooks that live for the call: which layers to look at, and what they output."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import TypeVar

import torch
from torch import nn
from torch.nn.modules import activation, pooling

from .._checks import resolve_layer
from .._hooks import eval_mode
from ..errors import InputError

T = TypeVar("T")
Layers = None | str | nn.Module | Sequence[str | nn.Module]

POOLING = (
    pooling._MaxPoolNd, pooling._AvgPoolNd, pooling._AdaptiveAvgPoolNd, pooling._AdaptiveMaxPoolNd,
    pooling._LPPoolNd, pooling._MaxUnpoolNd, nn.FractionalMaxPool2d, nn.FractionalMaxPool3d,
)  # fmt: skip
ACTIVATIONS = (
    nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.PReLU, nn.ELU, nn.SELU, nn.CELU, nn.GELU, nn.SiLU, nn.Mish,
    nn.Hardswish, nn.Sigmoid, nn.Tanh, activation.Hardtanh,
)  # fmt: skip


def is_conv(module: nn.Module) -> bool:
    """Whether ``module`` is a convolution: a ``torch.nn`` one, or any module with a 4-D ``weight`` and a
    ``kernel_size`` (convlens' own from-scratch :class:`convlens.layers.Conv2d` included)."""
    if isinstance(module, nn.modules.conv._ConvNd):
        return True
    weight = getattr(module, "weight", None)
    return isinstance(weight, torch.Tensor) and weight.dim() == 4 and hasattr(module, "kernel_size")


def is_pool(module: nn.Module) -> bool:
    """Whether ``module`` is a pooling layer (max, average, adaptive, LP, fractional)."""
    return isinstance(module, POOLING)


def conv_and_pool_layers(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """Every convolution and pooling module of ``model``, in ``named_modules()`` order."""
    return [(n, m) for n, m in model.named_modules() if n and (is_conv(m) or is_pool(m))]


def stats_layers(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """Convolutions, pooling, fully connected and activation modules: the layers worth a statistic."""
    return [
        (n, m) for n, m in model.named_modules()
        if n and (is_conv(m) or is_pool(m) or isinstance(m, (nn.Linear, *ACTIVATIONS)))
    ]  # fmt: skip


def resolve_layers(model: nn.Module, layers: Layers) -> list[tuple[str, nn.Module]]:
    """Named layers (names or modules; one or a sequence) as ``(name, module)`` pairs, duplicates dropped."""
    items: Iterable[str | nn.Module] = [layers] if isinstance(layers, (str, nn.Module)) else layers  # type: ignore[assignment]
    found: dict[str, nn.Module] = {}
    for layer in items:
        name, module = resolve_layer(model, layer)
        found.setdefault(name, module)
    if not found:
        raise InputError("layers is empty: pass None (every conv and pool layer) or at least one layer name")
    return list(found.items())


def capture(
    model: nn.Module, x: torch.Tensor, layers: list[tuple[str, nn.Module]], reduce: Callable[[str, torch.Tensor], T]
) -> dict[str, T]:
    """Run ``model`` once on ``x`` (eval mode, no autograd) and ``reduce`` what each layer outputs.

    Hooks are registered for this call only and removed in ``finally``; training flags come back.
    ``reduce`` runs inside the hook, before any later in-place operation (``ReLU(inplace=True)``)
    can change the output. A module that runs several times gets ``name``, ``name#2``, ...

    Returns:
        ``{name: reduce(name, output)}`` in the order the layers finished (execution order).
    """
    results: dict[str, T] = {}
    calls: dict[str, int] = {}

    def make_hook(name: str) -> Callable[[nn.Module, object, object], None]:
        def hook(_module: nn.Module, _inputs: object, output: object) -> None:
            if not isinstance(output, torch.Tensor) or not output.is_floating_point():
                raise InputError(f"layer {name!r} returns {type(output).__name__}, not a float tensor; choose another")
            calls[name] = calls.get(name, 0) + 1
            key = name if calls[name] == 1 else f"{name}#{calls[name]}"
            results[key] = reduce(key, output.detach())

        return hook

    handles = []
    try:
        for name, module in layers:
            handles.append(module.register_forward_hook(make_hook(name)))
        with torch.no_grad(), eval_mode(model):
            model(x)
    finally:
        for handle in handles:
            handle.remove()
    return results
