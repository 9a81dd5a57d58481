"""What actually runs in a model: one traced forward pass, and the default layer for CAM methods.

Registration order (``named_modules()``) says little about what a model computes: a ResNet
block registers its projection shortcut after its last convolution, and an auxiliary head that
runs only in training is registered beside the main path. So convlens decides such things from
one forward pass of one image in eval mode, recording every module call in the order the calls
finish.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import torch
from torch import nn

from ._hooks import eval_mode
from ._outputs import OutputSpec, select_logits
from .errors import InputError


@dataclass(frozen=True)
class ModuleCall:
    """One call of a module during a traced forward pass.

    Attributes:
        name: the module's ``named_modules()`` name.
        module: the module.
        output: what the call returned (a tensor for most layers).
    """

    name: str
    module: nn.Module
    output: object

    @property
    def spatial(self) -> bool:
        """Whether the output is a float (B,C,h,w) map with more than one position."""
        out = self.output
        return (
            isinstance(out, torch.Tensor)
            and out.dim() == 4
            and out.is_floating_point()
            and out.shape[2] * out.shape[3] > 1
        )


def trace(model: nn.Module, x: torch.Tensor) -> tuple[list[ModuleCall], object]:
    """Run ``model`` once on ``x`` without autograd, in eval mode, recording every module call.

    The model's training flags and hooks are restored afterwards.

    Args:
        model: any module.
        x: its input (one image is enough), on the model's device and dtype.

    Returns:
        The calls in the order they finished, and the model's raw output.
    """
    calls: list[ModuleCall] = []
    handles = []

    def make_hook(name: str):
        def hook(module: nn.Module, _inputs: object, output: object) -> None:
            calls.append(ModuleCall(name, module, output))

        return hook

    try:
        for name, module in model.named_modules():
            if name:
                handles.append(module.register_forward_hook(make_hook(name)))
        with torch.no_grad(), eval_mode(model):
            raw = model(x)
    finally:
        for handle in handles:
            handle.remove()
    return calls, raw


def default_cam_layer(model: nn.Module, x: torch.Tensor, output: OutputSpec = None) -> str:
    """The layer a CAM method looks at when none is given, found by one probe forward pass.

    The last feature map the network computes: among the modules that ran exactly once and
    returned a (B,C,h,w) map with more than one position, the one that finished last, skipping
    maps with one channel per class (a class-score head such as SqueezeNet's final convolution).
    When several modules return that same tensor (a block, its container, a Dropout that passes
    it on), the first one to produce it is named. So a ResNet gets its last block's output after
    the residual addition (not the projection shortcut), SqueezeNet its last Fire module, and an
    auxiliary head that runs only in training is never chosen.

    Args:
        model: any classifier.
        x: one or more images on the model's device and dtype (only the first is used).
        output: where the logits are in the model's output.

    Returns:
        A ``named_modules()`` name.

    Raises:
        InputError: no module returns a spatial map (pass ``layer=`` explicitly).
    """
    calls, raw = trace(model, x[:1])
    classes = select_logits(raw, output).shape[1]
    runs = Counter(id(c.module) for c in calls)
    once = [c for c in calls if c.spatial and runs[id(c.module)] == 1]
    features = [c for c in once if c.output.shape[1] != classes] or once  # type: ignore[attr-defined]
    if not features:
        raise InputError("no layer of the model returns a (B,C,h,w) feature map; pass layer=NAME explicitly")
    last = features[-1].output
    return next(c.name for c in features if c.output is last)


def spatial_layers(model: nn.Module, x: torch.Tensor) -> list[str]:
    """Names of the modules whose output is a (B,C,h,w) map, in ``named_modules()`` order (one probe pass)."""
    calls, _ = trace(model, x[:1])
    found = {c.name for c in calls if isinstance(c.output, torch.Tensor) and c.output.dim() == 4}
    return [name for name, _ in model.named_modules() if name in found]


def check_spatial_layer(model: nn.Module, x: torch.Tensor, layer: str) -> None:
    """An unknown or non-spatial ``layer`` raises an error listing the layers CAM methods can use."""
    import difflib

    from .errors import UnknownNameError

    valid = spatial_layers(model, x)
    if layer in valid:
        return
    exists = layer in dict(model.named_modules()) and layer != ""
    problem = f"layer {layer!r} has no (B,C,H,W) output" if exists else f"unknown layer {layer!r}"
    if len(valid) > 25:
        listing = f"closest of {len(valid)}: {', '.join(difflib.get_close_matches(layer, valid, n=10, cutoff=0.0))}"
    else:
        listing = ", ".join(valid)
    raise UnknownNameError(f"{problem}; layers with spatial outputs: {listing}")


__all__ = ["ModuleCall", "check_spatial_layer", "default_cam_layer", "spatial_layers", "trace"]
