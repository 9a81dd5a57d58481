"""One forward and one backward pass shared by every gradient CAM method.

Grad-CAM, Grad-CAM++, XGrad-CAM, LayerCAM and HiRes-CAM all start from the same two tensors:
a layer's activation ``A`` (B,C,h,w) and the gradient of the class score with respect to it.
:func:`layer_pass` computes them once per (model, images, target, layers) and, inside
:func:`sharing_passes` (which :func:`convlens.attribution.explain` enters), hands the same pass
to every method that asks, so asking for five CAMs costs one forward and one backward pass.

Several classes per image (a (B, K) target or ``top=K``) reuse the forward pass: the K backward
passes of the head (from the scores down to the layer only) run on the retained graph.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from .._checks import LayerRef, Target, is_multi, target_scores
from .._hooks import inspecting, layer_output
from .._outputs import OutputSpec
from ..errors import InputError
from ._common import ModelRunner, finish, gradients_on

INTERPOLATIONS = ("bilinear", "nearest", "bicubic", "area")


@dataclass(frozen=True)
class LayerPass:
    """Activations and class-score gradients of one or more layers, from one forward pass.

    Attributes:
        names: the layers' names.
        activations: per layer, (B,C,h,w), detached.
        gradients: per layer, (B,K,C,h,w): the gradient of each of the K class scores.
        multi: whether the caller asked for several classes (results keep the K dimension).
        size: the input's (H, W).
    """

    names: tuple[str, ...]
    activations: tuple[torch.Tensor, ...]
    gradients: tuple[torch.Tensor, ...]
    multi: bool
    size: tuple[int, int]


_SHARED: list[dict[tuple[Any, ...], tuple[Any, ...]]] = []


@contextmanager
def sharing_passes() -> Iterator[None]:
    """Inside the block, gradient CAM calls on the same model, images, target and layer share one pass.

    The key holds the identity of the model, the images (and their version counter), the target
    and the output spec, so a modified tensor or another target computes a new pass.
    """
    _SHARED.append({})
    try:
        yield
    finally:
        _SHARED.pop()


def _target_key(target: Target) -> object:
    if target is None or isinstance(target, int):
        return target
    if isinstance(target, torch.Tensor):
        return ("tensor", id(target), target._version)
    if isinstance(target, (list, tuple)):
        return ("seq", repr(target))
    return ("other", id(target))


def _key(
    model: nn.Module, x: torch.Tensor, target: Target, top: int | None, names: tuple[Any, ...], output: object
) -> tuple[Any, ...]:
    return (id(model), id(x), x._version, _target_key(target), top, names, id(output))


def shared_pass(key: tuple[Any, ...], model: nn.Module, x: torch.Tensor) -> LayerPass | None:
    """The pass already computed for ``key`` inside :func:`sharing_passes`, or None."""
    if _SHARED and key in _SHARED[-1]:
        cached = _SHARED[-1][key]
        if cached[0] is model and cached[1] is x:
            result: LayerPass = cached[2]
            return result
    return None


def one_activation(recorded: list[torch.Tensor], name: str) -> torch.Tensor:
    """The single (B,C,H,W) activation the layer produced in one forward pass."""
    if not recorded:
        raise InputError(f"layer {name!r} did not run in the forward pass; pick a layer the model uses")
    if len(recorded) > 1:
        raise InputError(f"layer {name!r} runs {len(recorded)} times in one forward pass; pick a layer that runs once")
    act = recorded[0]
    if not isinstance(act, torch.Tensor) or act.dim() != 4:
        shape = tuple(act.shape) if isinstance(act, torch.Tensor) else type(act).__name__
        raise InputError(f"a CAM method needs a layer with (B,C,H,W) output; {name!r} gives {shape}: pick a conv layer")
    return act


def class_gradients(scores: torch.Tensor, inputs: Sequence[torch.Tensor], *, retain_graph: bool) -> list[torch.Tensor]:
    """Gradients of each column of ``scores`` (B,K) with respect to ``inputs``, one backward pass each.

    Returns:
        Per input, (B,K,*input.shape[1:]); zeros where an input does not affect a score.
    """
    classes = scores.shape[1]
    out: list[list[torch.Tensor]] = [[] for _ in inputs]
    for k in range(classes):
        keep = retain_graph or k < classes - 1
        grads: tuple[torch.Tensor | None, ...] = tuple(None for _ in inputs)
        if scores.requires_grad:
            grads = torch.autograd.grad(scores[:, k].sum(), list(inputs), retain_graph=keep, allow_unused=True)
        for slot, grad, inp in zip(out, grads, inputs, strict=True):
            slot.append(torch.zeros_like(inp) if grad is None else grad)
    return [torch.stack(slot, dim=1) for slot in out]


def layer_pass(
    model: nn.Module,
    x: torch.Tensor,
    xin: torch.Tensor,
    target: Target,
    layers: Sequence[tuple[str, nn.Module]],
    *,
    top: int | None = None,
    output: OutputSpec = None,
) -> LayerPass:
    """Activations of ``layers`` and the gradients of the K class scores, from one forward pass.

    Run inside :func:`convlens._hooks.inspecting`. ``x`` is the caller's tensor (only its
    identity is used, to share the pass); ``xin`` its prepared copy.
    """
    key = _key(model, x, target, top, tuple(n for n, _ in layers), output)
    cached = shared_pass(key, model, x)
    if cached is not None:
        return cached
    run = ModelRunner(model, xin, output)
    with gradients_on(), ExitStack() as stack:
        recorded = [stack.enter_context(layer_output(module, stop_gradient=False)) for _, module in layers]
        logits = run(xin)
        acts = [one_activation(rec, name) for rec, (name, _) in zip(recorded, layers, strict=True)]
        scores = target_scores(target, logits, top)
        for act, (name, _) in zip(acts, layers, strict=True):
            if scores.requires_grad and act.requires_grad:
                continue
            raise InputError(f"the score does not depend on layer {name!r}; pick a layer on the path to the output")
        grads = class_gradients(scores, acts, retain_graph=False)
    result = LayerPass(
        names=tuple(n for n, _ in layers),
        activations=tuple(a.detach() for a in acts),
        gradients=tuple(grads),
        multi=is_multi(target, top),
        size=(int(xin.shape[-2]), int(xin.shape[-1])),
    )
    if _SHARED:
        _SHARED[-1][key] = (model, x, result)
    return result


def check_interpolation(mode: object) -> None:
    if mode not in INTERPOLATIONS:
        raise InputError(f"interpolation must be one of {', '.join(INTERPOLATIONS)}, got {mode!r}")


def upsample(heat: torch.Tensor, size: tuple[int, int], mode: str) -> torch.Tensor:
    """Resize (N,1,h,w) maps (or (N,K,1,h,w)) to ``size``."""
    if tuple(heat.shape[-2:]) == tuple(size):
        return heat
    lead = heat.shape[:-2]
    flat = heat.reshape(-1, 1, *heat.shape[-2:])
    align = False if mode in ("bilinear", "bicubic") else None
    return F.interpolate(flat, size=size, mode=mode, align_corners=align).reshape(*lead, *size)


def finish_cam(heat: torch.Tensor, lp: LayerPass, up: bool, interpolation: str, x: torch.Tensor) -> torch.Tensor:
    """(B,K,1,h,w) maps → upsampled if asked, K dimension dropped for a single target, on ``x``'s device."""
    return finish_map(heat, lp.multi, lp.size, up, interpolation, x)


def finish_map(
    heat: torch.Tensor, multi: bool, size: tuple[int, int], up: bool, interpolation: str, x: torch.Tensor
) -> torch.Tensor:
    """(B,K,1,h,w) maps → resized to ``size`` if ``up``, K dimension dropped unless ``multi``, on ``x``'s device."""
    if up:
        heat = upsample(heat, size, interpolation)
    if not multi:
        heat = heat[:, 0]
    return finish(heat, x)


def weighted_channels(activation: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """``relu(Σ_c w_kc A_c)``: activation (B,C,h,w), weights (B,K,C) → maps (B,K,1,h,w)."""
    return torch.relu(torch.einsum("bkc,bchw->bkhw", weights, activation))[:, :, None]


def run_cam(
    model: nn.Module,
    x: torch.Tensor,
    target: Target,
    layer: LayerRef,
    top: int | None,
    output: OutputSpec,
    formula: Any,
    upsample_map: bool,
    interpolation: str,
) -> torch.Tensor:
    """Compute a single-layer gradient CAM: shared pass, then ``formula(act, grads)`` → (B,K,1,h,w)."""
    from ._common import prepare_input
    from .gradcam import gradcam_layer

    check_interpolation(interpolation)
    lp = shared_pass(_key(model, x, target, top, (layer,), output), model, x) if isinstance(layer, str) else None
    if lp is None:  # not computed yet by another CAM method in the same explain call
        xin = prepare_input(model, x)
        with inspecting(model):
            resolved = gradcam_layer(model, layer, xin, output)
            lp = layer_pass(model, x, xin, target, [resolved], top=top, output=output)
    act, grads = lp.activations[0], lp.gradients[0]
    heat = formula(act[:, None], grads)
    return finish_cam(heat, lp, upsample_map, interpolation, x)


__all__ = [
    "INTERPOLATIONS", "LayerPass", "check_interpolation", "class_gradients", "finish_cam", "finish_map", "layer_pass",
    "one_activation", "run_cam", "sharing_passes", "upsample", "weighted_channels",
]  # fmt: skip
