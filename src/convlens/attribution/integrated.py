"""Integrated gradients (Sundararajan, Taly & Yan 2017)."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from .._checks import Target, is_multi
from .._hooks import inspecting
from .._outputs import OutputSpec
from ..errors import InputError
from ..registry import register_method
from ._common import (
    ChunkPlan,
    ModelRunner,
    Scorer,
    broadcast_like,
    clean_forward,
    finish,
    gradients_on,
    input_gradient,
    outside_inference_mode,
    per_class,
    positive_int,
    prepare_input,
)

QUADRATURES = ("gausslegendre", "riemann_right", "riemann_left", "riemann_middle", "riemann_trapezoid")


def quadrature(method: str, steps: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Points ``alpha`` in [0,1] and weights for integrating over the straight-line path.

    Args:
        method: ``"gausslegendre"`` (default; exact for polynomials of degree < 2·steps),
            ``"riemann_right"`` (the paper's sum), ``"riemann_left"``, ``"riemann_middle"`` or
            ``"riemann_trapezoid"`` (needs steps ≥ 2). The names are Captum's, and four rules
            are the same as Captum's; ``"riemann_trapezoid"`` is not: ours is the textbook
            trapezoid rule on ``steps`` equally spaced points including both ends (weights
            ``1/(2(n−1)), 1/(n−1), …, 1/(2(n−1))``, summing to 1), while Captum's weights sum to
            ``(n−1)/n``, so its attributions are scaled by that factor and break completeness.
        steps: number of points.
        output: where the logits are in the model's output: an index, a key or a callable
            (:mod:`convlens._outputs`).

    Returns:
        ``(alphas, weights)``, float64 tensors of shape (steps,), weights summing to 1.
    """
    n = steps
    if method == "gausslegendre":
        nodes, weights = np.polynomial.legendre.leggauss(n)
        return torch.from_numpy(0.5 * (nodes + 1.0)), torch.from_numpy(0.5 * weights)
    if method == "riemann_trapezoid":
        if n < 2:
            raise InputError("riemann_trapezoid needs steps >= 2")
        w = torch.full((n,), 1.0 / (n - 1), dtype=torch.float64)
        w[0] = w[-1] = 0.5 / (n - 1)
        return torch.linspace(0.0, 1.0, n, dtype=torch.float64), w
    offsets = {"riemann_left": 0.0, "riemann_middle": 0.5, "riemann_right": 1.0}
    if method not in offsets:
        raise InputError(f"unknown quadrature {method!r}; choose from: {', '.join(QUADRATURES)}")
    alphas = (torch.arange(n, dtype=torch.float64) + offsets[method]) / n
    return alphas, torch.full((n,), 1.0 / n, dtype=torch.float64)


@register_method(
    "integrated-gradients",
    kind="attribution",
    output="pixel",
    signed=True,
    summary="gradients integrated along the straight path from a baseline image",
    paper="Sundararajan, Taly & Yan 2017, Axiomatic Attribution for Deep Networks",
)
@outside_inference_mode
def integrated_gradients(
    model: nn.Module,
    x: torch.Tensor,
    target: Target = None,
    *,
    baseline: float | torch.Tensor = 0.0,
    steps: int = 50,
    batch_size: int | None = None,
    method: str = "gausslegendre",
    return_delta: bool = False,
    top: int | None = None,
    output: OutputSpec = None,
) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
    """Integrated gradients: ``(x - x') · ∫₀¹ dS(x' + α(x - x'))/dx dα``, by quadrature.

    From Sundararajan, Taly & Yan 2017, "Axiomatic Attribution for Deep Networks". All
    ``steps × B`` points on the paths are stacked and run in a few large forward/backward
    passes of ``batch_size`` copies each (no loop over images). Completeness: the attributions
    of an image sum to ``S(x) - S(x')``; ``return_delta=True`` also returns the gap
    ``sum(attributions) - (S(x) - S(x'))`` per image, which shrinks as ``steps`` grows. Only
    ``target=None`` and ``return_delta`` need a forward pass of the clean images first.

    Args:
        model: any classifier taking [0,1] images.
        x: images in [0,1].
        target: None (the predicted class of each clean image), an int, one class per image,
            or a callable from logits to scores that works row by row.
        baseline: the reference image x': a number (0.0 is black) or a tensor broadcastable
            to ``x``.
        steps: quadrature points on the path.
        batch_size: copies per forward pass; default chosen from the model's activation size
            so that one pass keeps about 32 MiB of float32 activations (cache-sized chunks run
            fastest on the CPU), and at least 8 copies.
        method: quadrature rule, see :func:`quadrature` (Captum's names and default; our
            ``"riemann_trapezoid"`` is the textbook rule, which differs from Captum's).
        return_delta: also return the completeness gap.
        top: explain each image's ``top`` highest-scoring classes (or pass a (B, K) target):
            one run per class, results stacked at dim 1.
        output: where the logits are in the model's output: an index, a key or a callable
            (:mod:`convlens._outputs`).

    Returns:
        The attributions (signed, detached, on ``x``'s device), or ``(attributions, delta)``.

    Shape:
        ``x``: (B,C,H,W); attributions: (B,C,H,W); delta: (B,); with K classes per image
        (B,K,C,H,W) and (B,K).
    """
    if is_multi(target, top):
        options = dict(baseline=baseline, steps=steps, batch_size=batch_size, method=method, return_delta=return_delta)
        return per_class(integrated_gradients, model, x, target, top, output, **options)
    xin = prepare_input(model, x)
    steps = positive_int(steps, "steps")
    if batch_size is not None:
        positive_int(batch_size, "batch_size")
    base = broadcast_like(baseline, xin, "baseline")
    alphas, weights = quadrature(method, steps)
    alphas = alphas.to(device=xin.device, dtype=xin.dtype)
    weights = weights.to(device=xin.device, dtype=xin.dtype)
    batch = xin.shape[0]
    with inspecting(model):
        run = ModelRunner(model, xin, output)
        scorer: Scorer | None = None
        per_image: int | None = None
        if return_delta or target is None:  # needs the clean scores (or predictions) first
            logits, per_image = clean_forward(run, torch.cat([xin, base]) if return_delta else xin)
            scorer = Scorer(target, logits[:batch])
        plan = ChunkPlan(steps * batch, batch_size, per_image, grad=True)
        base, diff = run.layout(base), run.layout(xin - base)
        total = torch.zeros_like(diff)
        with gradients_on():
            for start, stop in plan:
                flat = torch.arange(start, stop, device=xin.device)
                step, image = flat // batch, flat % batch
                points = torch.addcmul(base[image], alphas[step].view(-1, 1, 1, 1), diff[image])
                points.requires_grad_(True)
                with plan.measuring(model, stop - start):
                    out = run(points)
                if scorer is None:  # a class target: the first pass tells the number of classes
                    scorer = Scorer(target, out.detach()[:1].expand(batch, -1))
                grad = input_gradient(scorer.logit(out, image), points)
                total.index_add_(0, image, grad.mul_(weights[step].view(-1, 1, 1, 1)))
        attributions = diff * total
        if not return_delta:
            return finish(attributions, x)
        assert scorer is not None
        with torch.no_grad():
            image = torch.arange(batch, device=xin.device)
            gap = scorer.logit(logits[:batch], image) - scorer.logit(logits[batch:], image)
        delta = attributions.flatten(1).sum(1) - gap
    return finish(attributions, x), finish(delta, x)
