"""Plain and guided input gradients: saliency maps and guided backpropagation."""

from __future__ import annotations

from contextlib import nullcontext

import torch
from torch import nn

from .._checks import Target, is_multi, target_scores
from .._hooks import ReluRule, inspecting, reject_scripted, relu_gradient
from .._outputs import OutputSpec
from ..registry import register_method
from ._camgrad import class_gradients
from ._common import ModelRunner, finish, gradients_on, outside_inference_mode, prepare_input


def _input_gradient(
    model: nn.Module, xin: torch.Tensor, target: Target, rule: ReluRule | None, output: OutputSpec, top: int | None
) -> torch.Tensor:
    """``d score / d x`` for every image, (B,K,C,H,W): one forward pass, one backward pass per class."""
    with inspecting(model), gradients_on():
        run = ModelRunner(model, xin, output)
        leaf = run.layout(xin).requires_grad_(True)
        with relu_gradient(rule) if rule is not None else nullcontext():
            logits = run(leaf)
        (grad,) = class_gradients(target_scores(target, logits, top), [leaf], retain_graph=False)
        return grad


def _single(result: torch.Tensor, target: Target, top: int | None) -> torch.Tensor:
    """Drop the K dimension of a (B,K,...) result unless several classes were asked for."""
    return result if is_multi(target, top) else result[:, 0]


@register_method(
    "saliency",
    kind="attribution",
    output="map",
    signed=False,
    summary="largest absolute input gradient of the class score over the channels",
    paper="Simonyan, Vedaldi & Zisserman 2014, Deep Inside Convolutional Networks",
)
@outside_inference_mode
def saliency(
    model: nn.Module, x: torch.Tensor, target: Target = None, *, top: int | None = None, output: OutputSpec = None
) -> torch.Tensor:
    """Saliency map: the largest absolute gradient of the class score over the colour channels.

    From Simonyan, Vedaldi & Zisserman 2014, "Deep Inside Convolutional Networks: Visualising
    Image Classification Models and Saliency Maps".

    Args:
        model: any classifier taking [0,1] images; run in eval mode and given back unchanged.
        x: images in [0,1].
        target: None (predicted class), an int, one class per image, a (B, K) tensor of K
            classes per image, or a callable from logits to (B,) scores.
        top: explain each image's ``top`` highest-scoring classes (then ``target`` must be None).
        output: where the logits are in the model's output: an index, a key or a callable
            (:mod:`convlens._outputs`).

    Returns:
        ``max_c |d score / d x_c|``, detached, on ``x``'s device.

    Shape:
        ``x``: (B,C,H,W); result: (B,1,H,W), or (B,K,1,H,W) for K classes per image (one
        forward pass and K backward passes).
    """
    xin = prepare_input(model, x)
    grad = _input_gradient(model, xin, target, None, output, top)
    return finish(_single(grad.abs().amax(dim=2, keepdim=True), target, top), x)


@register_method(
    "guided-backprop",
    kind="attribution",
    output="pixel",
    signed=True,
    summary="input gradient with negative gradients stopped at every ReLU",
    paper="Springenberg et al. 2015, Striving for Simplicity: The All Convolutional Net",
)
@outside_inference_mode
def guided_backprop(
    model: nn.Module, x: torch.Tensor, target: Target = None, *, top: int | None = None, output: OutputSpec = None
) -> torch.Tensor:
    """Guided backpropagation: the input gradient with negative gradients stopped at every ReLU.

    From Springenberg, Dosovitskiy, Brox & Riedmiller 2015, "Striving for Simplicity: The All
    Convolutional Net". Every ReLU that runs in the forward pass follows the guided rule:
    ``nn.ReLU`` modules (also ``inplace=True`` and one module reused in several places) and
    functional calls (``F.relu``, ``torch.relu``, ``x.relu_()``). Modules are not swapped and
    nothing in ``torch`` is patched: a thread-local torch-function mode is active during the
    forward pass only.

    Args:
        model: any classifier taking [0,1] images (not TorchScript).
        x: images in [0,1].
        target: as in :func:`saliency`.
        top: as in :func:`saliency`.
        output: where the logits are in the model's output: an index, a key or a callable
            (:mod:`convlens._outputs`).

    Returns:
        The guided gradient, signed, detached, on ``x``'s device.

    Shape:
        ``x``: (B,C,H,W); result: (B,C,H,W), or (B,K,C,H,W) for K classes per image.
    """
    reject_scripted(model, "guided backprop")
    xin = prepare_input(model, x)
    grad = _input_gradient(model, xin, target, ReluRule(guided=True), output, top)
    return finish(_single(grad, target, top), x)
