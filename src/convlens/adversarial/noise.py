"""Additive noise per target class (the third classic MNIST exercise) and its transfer to other images."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from .._checks import Target
from .._hooks import inspecting
from .._outputs import OutputSpec
from .._runner import ModelRunner, finish, gradients_on, outside_inference_mode, prepare_input
from ..errors import InputError
from ..registry import register_method
from ._common import AttackResult, build_result, check_pixels, count, nan_history, positive, recheck
from .fooling import _target_list


@dataclass(frozen=True, kw_only=True)
class NoiseResult(AttackResult):
    """An :class:`AttackResult` of :func:`additive_noise`, plus the noise learned for each target.

    Attributes:
        noise: one noise tensor per target class; ``images[k·B + i] = clamp(x[i] + noise[k], 0, 1)``.
        noise_target: the target class of each noise.

    Shape:
        noise: (K,C,H,W); noise_target: (K,); images, original: (K·B,C,H,W).
    """

    noise: torch.Tensor
    noise_target: torch.Tensor


@dataclass(frozen=True)
class TransferResult:
    """What the model predicts for fixed images with each class's noise added.

    Attributes:
        predicted: the class predicted for image ``i`` plus noise ``k`` at ``[i, k]``.
        probability: the softmax probability of that prediction.
        clean: the class predicted for each image without noise.
        labels: the true class of each image, or ``None`` if not given.
        noise_target: the target class of each noise, or ``None`` if unknown.

    Shape:
        predicted, probability: (N, K); clean, labels: (N,); noise_target: (K,).
    """

    predicted: torch.Tensor
    probability: torch.Tensor
    clean: torch.Tensor
    labels: torch.Tensor | None
    noise_target: torch.Tensor | None

    @property
    def hit_rate(self) -> torch.Tensor:
        """Per noise, the fraction of images predicted as the noise's target class, shape (K,)."""
        if self.noise_target is None:
            raise InputError("the noises' target classes are unknown: pass the NoiseResult to noise_transfer")
        return (self.predicted == self.noise_target[None, :]).float().mean(dim=0)


@register_method(
    "noise",
    kind="attack",
    output="image",
    summary="one additive noise per target class, learned on a batch so that image + noise is classified as the target",
    paper="Szegedy et al. 2014, Intriguing properties of neural networks (additive-noise exercise)",
)
@outside_inference_mode
def additive_noise(
    model: nn.Module, x: torch.Tensor, target: Target, *, steps: int = 50, alpha: float | None = None,
    max_abs: float | None = 0.4, output: OutputSpec = None,
) -> NoiseResult:  # fmt: skip
    """Learn, for each target class, one noise that makes the model classify every ``x + noise`` as it.

    The third classic MNIST exercise. Only the noise is updated: ``noise += α·d`` with ``d`` the
    gradient, with respect to the noise, of the summed log-probability of the target over the
    batch of images (``clamp(x + noise, 0, 1)``), and ``α = 1/(std(d) + 1e-8)`` by default, so
    each step changes the noise by about one standard deviation before ``max_abs`` clips it.
    All targets are learned in one batch; a noise stops once every image of its batch is
    classified as its target.

    Args:
        model: any classifier taking [0,1] images; given back unchanged.
        x: the images the noise is learned on (typically images of one class), in [0,1].
        target: a target class, or a sequence of them (one noise each).
        steps: the most updates per noise.
        alpha: the step size (> 0); ``None`` = ``1/(std(d) + 1e-8)`` at every step.
        max_abs: clip every noise value to ``[-max_abs, max_abs]`` (``None``: no limit).
        output: where the logits are in the model's output.

    Returns:
        A :class:`NoiseResult`: ``noise`` (one per target), and the K·B noisy images with their
        predictions, success (classified as the noise's target) and log-probability history.

    Shape:
        x: (B,C,H,W); result.noise: (K,C,H,W); result.images: (K·B,C,H,W).
    """
    steps = count(steps, "steps")
    step = None if alpha is None else positive(alpha, "alpha")
    limit = None if max_abs is None else positive(max_abs, "max_abs")
    if target is None:
        raise InputError("additive_noise needs a target class (an int, or a sequence of classes)")
    xin = check_pixels(prepare_input(model, x))
    batch = xin.shape[0]
    with inspecting(model), gradients_on():
        run = ModelRunner(model, xin, output)
        with torch.no_grad():
            targets = _target_list(target, run(xin[:1]))
        k = len(targets)
        per_image = targets.repeat_interleave(batch)
        noise = torch.zeros((k, *xin.shape[1:]), device=xin.device, dtype=xin.dtype)
        history = nan_history(k * batch, steps, xin.device)
        taken = torch.zeros(k, dtype=torch.long, device=xin.device)
        active = torch.arange(k, device=xin.device)
        for t in range(steps):
            leaf = noise[active].requires_grad_(True)
            images = (xin[None] + leaf[:, None]).clamp(0.0, 1.0).flatten(0, 1)
            logits = run(images)
            wanted = targets[active].repeat_interleave(batch)
            log_prob = -F.cross_entropy(logits.float(), wanted, reduction="none")
            rows = (active[:, None] * batch + torch.arange(batch, device=xin.device)).flatten()
            history[rows, t] = log_prob.detach()
            going = (logits.detach().argmax(dim=1) != wanted).view(-1, batch).any(dim=1)
            if not bool(going.any()):
                break
            (grad,) = torch.autograd.grad(log_prob.sum(), leaf)
            grad = grad[going]
            active = active[going]
            size = (1.0 / (grad.flatten(1).std(dim=1) + 1e-8)).view(-1, 1, 1, 1) if step is None else step
            updated = noise[active] + size * grad
            noise[active] = updated if limit is None else updated.clamp(-limit, limit)
            taken[active] += 1
        final = (xin[None] + noise[:, None]).clamp(0.0, 1.0).flatten(0, 1)
        check = recheck(run, final, per_image, targeted=True)
    return build_result(  # type: ignore[return-value]
        NoiseResult, like=x, images=final, original=xin.repeat(k, 1, 1, 1), target=per_image, targeted=True,
        check=check, steps=taken.repeat_interleave(batch), history=history, method="noise",
        noise=finish(noise, x), noise_target=targets.to(x.device),
    )  # fmt: skip


@outside_inference_mode
def noise_transfer(
    model: nn.Module, noises: torch.Tensor | NoiseResult, images: torch.Tensor, *,
    labels: torch.Tensor | None = None, output: OutputSpec = None,
) -> TransferResult:  # fmt: skip
    """Add each noise to each of a fixed set of images and record what the model predicts.

    Shows whether a noise learned on some images (by :func:`additive_noise`) also moves other
    images, of other classes, to its target: the 10×10 table of the MNIST exercise when there
    is one noise per digit and one test image per digit.

    Args:
        model: any classifier taking [0,1] images; given back unchanged.
        noises: a (K,C,H,W) tensor, or the :class:`NoiseResult` that learned them (which also
            gives each noise's target class).
        images: the fixed images, in [0,1].
        labels: their true classes, for the table (optional).
        output: where the logits are in the model's output.

    Returns:
        A :class:`TransferResult`.

    Shape:
        images: (N,C,H,W); result.predicted: (N, K).
    """
    noise_target = noises.noise_target if isinstance(noises, NoiseResult) else None
    noise = noises.noise if isinstance(noises, NoiseResult) else noises
    xin = check_pixels(prepare_input(model, images, "images"), "images")
    if not isinstance(noise, torch.Tensor) or noise.dim() != 4 or tuple(noise.shape[1:]) != tuple(xin.shape[1:]):
        got = tuple(noise.shape) if isinstance(noise, torch.Tensor) else type(noise).__name__
        raise InputError(f"noises must have shape (K, {', '.join(map(str, xin.shape[1:]))}) like the images, got {got}")
    if not bool(torch.isfinite(noise).all()):
        raise InputError("noises contain NaN or infinite values")
    noise = noise.detach().to(xin.device, xin.dtype)
    n, k = xin.shape[0], noise.shape[0]
    with inspecting(model), torch.no_grad():
        run = ModelRunner(model, xin, output)
        clean = run(xin).argmax(dim=1)
        logits = run((xin[:, None] + noise[None]).clamp(0.0, 1.0).flatten(0, 1)).float()
    probs = torch.softmax(logits, dim=1)
    predicted = logits.argmax(dim=1)
    probability = probs.gather(1, predicted[:, None])[:, 0]
    device = images.device
    return TransferResult(
        predicted.view(n, k).to(device), probability.view(n, k).to(device), clean.to(device),
        None if labels is None else torch.as_tensor(labels).to(device),
        None if noise_target is None else noise_target.to(device),
    )  # fmt: skip
