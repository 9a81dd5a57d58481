"""SmoothGrad: saliency averaged over noisy copies (Smilkov et al. 2017)."""

from __future__ import annotations

import torch
from torch import nn

from .._checks import Target, is_multi
from .._hooks import inspecting
from .._outputs import OutputSpec
from ..errors import InputError
from ..registry import register_method
from ._common import (
    ModelRunner,
    batch_size_for,
    chunks,
    finish,
    gradients_on,
    input_gradient,
    outside_inference_mode,
    per_class,
    positive_int,
    prepare_input,
    probe,
)


def _generator(x: torch.Tensor, seed: int | None) -> torch.Generator | None:
    """The random generator SmoothGrad draws from (``None``: torch's global generator)."""
    if seed is None:
        return None
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise InputError(f"seed must be an int or None, got {seed!r}")
    return torch.Generator(device=x.device).manual_seed(seed)


@register_method(
    "smoothgrad",
    kind="attribution",
    output="map",
    signed=False,
    summary="saliency averaged over copies of the image with Gaussian noise",
    paper="Smilkov et al. 2017, SmoothGrad: removing noise by adding noise",
)
@outside_inference_mode
def smoothgrad(
    model: nn.Module,
    x: torch.Tensor,
    target: Target = None,
    *,
    samples: int = 25,
    noise: float = 0.15,
    seed: int | None = None,
    batch_size: int | None = None,
    top: int | None = None,
    output: OutputSpec = None,
) -> torch.Tensor:
    """SmoothGrad of the saliency map: the mean saliency of ``samples`` noisy copies.

    From Smilkov, Thorat, Kim, Viégas & Wattenberg 2017, "SmoothGrad: removing noise by adding
    noise". Copy ``n`` of image ``b`` is ``x_b + ε``, ``ε ~ N(0, σ_b²)`` with
    ``σ_b = noise · (max(x_b) - min(x_b))`` (the paper's noise level, relative to the image's
    range); each copy's saliency ``max_c |dS/dx_c|`` is taken for the class of the clean
    image, and the maps are averaged. All ``samples × B`` copies run in a few large batches.
    Sample ``n``'s noise is one draw of shape (B,C,H,W), in order, so a given ``seed`` gives
    the same result for any ``batch_size``.

    Args:
        model: any classifier taking [0,1] images.
        x: images in [0,1].
        target: None (predicted class of the clean image), an int, one class per image, or a
            callable from logits to scores that works row by row.
        samples: noisy copies per image.
        noise: noise standard deviation as a fraction of each image's value range (≥ 0).
        seed: seed for a private generator (reproducible); None draws from torch's global one.
        batch_size: copies per forward pass; default chosen from the model's activation size.
        top: explain each image's ``top`` highest-scoring classes (or pass a (B, K) target):
            one run per class (each with the same ``seed``), results stacked at dim 1.
        output: where the logits are in the model's output: an index, a key or a callable
            (:mod:`convlens._outputs`).

    Returns:
        The smoothed saliency map (≥ 0), detached, on ``x``'s device.

    Shape:
        ``x``: (B,C,H,W); result: (B,1,H,W), or (B,K,1,H,W) for K classes per image.
    """
    if is_multi(target, top):
        options = dict(samples=samples, noise=noise, seed=seed, batch_size=batch_size)
        return per_class(smoothgrad, model, x, target, top, output, **options)
    xin = prepare_input(model, x)
    samples = positive_int(samples, "samples")
    if isinstance(noise, bool) or not isinstance(noise, (int, float)) or not noise >= 0:
        raise InputError(f"noise must be a number >= 0 (a fraction of the image range), got {noise!r}")
    generator = _generator(xin, seed)
    batch = xin.shape[0]
    sigma = (noise * (xin.amax(dim=(1, 2, 3)) - xin.amin(dim=(1, 2, 3)))).view(-1, 1, 1, 1)
    with inspecting(model):
        run = ModelRunner(model, xin, output)
        scorer, per_image = probe(run, xin, target)
        size = batch_size_for(batch_size, per_image, grad=True)
        group = max(1, size // batch)  # whole samples drawn together
        total = torch.zeros((batch, 1, *xin.shape[2:]), dtype=xin.dtype, device=xin.device)
        with gradients_on():
            for first, last in chunks(samples, group):
                draws = [torch.randn(xin.shape, generator=generator, dtype=xin.dtype, device=xin.device)
                         for _ in range(first, last)]  # fmt: skip
                noisy = run.layout(torch.cat([xin + sigma * eps for eps in draws]))
                for start, stop in chunks(noisy.shape[0], size):
                    image = torch.arange(start, stop, device=xin.device) % batch
                    points = noisy[start:stop].requires_grad_(True)
                    grad = input_gradient(scorer.logit(run(points), image), points)
                    total.index_add_(0, image, grad.abs().amax(dim=1, keepdim=True))
    return finish(total / samples, x)
