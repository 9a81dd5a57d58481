"""Deconvnet (Zeiler & Fergus 2014): the class score projected back to the pixels."""

from __future__ import annotations

import torch
from torch import nn

from .._checks import Target
from .._hooks import ReluRule, reject_scripted
from .._outputs import OutputSpec
from ..registry import register_method
from ._common import finish, outside_inference_mode, prepare_input
from .gradients import _input_gradient, _single


@register_method(
    "deconvnet",
    kind="attribution",
    output="pixel",
    signed=True,
    summary="the score projected back to the pixels with rectified gradients at every ReLU",
    paper="Zeiler & Fergus 2014, Visualizing and Understanding Convolutional Networks",
)
@outside_inference_mode
def deconvnet(
    model: nn.Module, x: torch.Tensor, target: Target = None, *, top: int | None = None, output: OutputSpec = None
) -> torch.Tensor:
    """Deconvnet: the class score projected back to the pixels through "reversed" ReLUs.

    From Zeiler & Fergus 2014, "Visualizing and Understanding Convolutional Networks"
    (section 2.1): the backward pass of every ReLU passes ``relu(gradient)``, ignoring where
    the ReLU's input was positive; max-pooling switches and the transposed filters are the
    ordinary gradients of pooling and convolution. The same ReLUs are seen as in
    :func:`guided_backprop` (modules, ``inplace=True``, reused modules and functional calls).
    Same values as Captum's ``Deconvolution``.

    Args:
        model: any classifier taking [0,1] images (not TorchScript).
        x: images in [0,1].
        target: as in :func:`saliency`.
        top: as in :func:`saliency`.
        output: where the logits are in the model's output.

    Returns:
        The projection, signed, detached, on ``x``'s device.

    Shape:
        ``x``: (B,C,H,W); result: (B,C,H,W), or (B,K,C,H,W) for K classes per image.
    """
    reject_scripted(model, "deconvnet")
    xin = prepare_input(model, x)
    grad = _input_gradient(model, xin, target, ReluRule(guided=False, deconv=True), output, top)
    return finish(_single(grad, target, top), x)
