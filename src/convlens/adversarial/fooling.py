"""Images made by gradient ascent on a class score: fooling images, class images from noise, look-alikes.

All three ascend the model's raw score (logit) of a target class with respect to the pixels and
keep the image in [0,1]; they differ in where they start and what else the objective holds.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from .._checks import Target, check_images, model_device
from .._hooks import inspecting
from .._outputs import OutputSpec
from .._runner import ModelRunner, gradients_on, model_dtype, outside_inference_mode, prepare_input
from ..errors import InputError
from ..registry import register_method
from ._common import (
    AttackResult,
    build_result,
    check_pixels,
    class_indices,
    count,
    generator_for,
    nan_history,
    non_negative,
    positive,
    recheck,
    scores,
)


def _score_gradient(
    run: ModelRunner, images: torch.Tensor, index: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Target logits (B,), their input gradient (B,C,H,W) and all logits (B,K), in one forward and backward."""
    leaf = images.detach().requires_grad_(True)
    logits = run(leaf)
    score = scores(logits, index)
    (grad,) = torch.autograd.grad(score.sum(), leaf)
    return score.detach(), grad, logits.detach()


def _per_image(values: torch.Tensor) -> torch.Tensor:
    return values.view(-1, 1, 1, 1)


@register_method(
    "fooling",
    kind="attack",
    output="image",
    summary="normalized gradient ascent on the target's score until the model predicts the target",
    paper="Szegedy et al. 2014, Intriguing properties of neural networks",
)
@outside_inference_mode
def fooling_image(
    model: nn.Module, x: torch.Tensor, target: Target, *, step: float = 1.0, max_steps: int = 100,
    output: OutputSpec = None,
) -> AttackResult:  # fmt: skip
    """Change images just enough that the model predicts ``target``.

    From Szegedy et al. 2014, "Intriguing properties of neural networks" (the fooling-image
    exercise): gradient ascent on the target's raw score with a step of fixed Euclidean length,
    ``x ← clamp(x + step·g/‖g‖₂, 0, 1)``, where ``g`` is the score's gradient. Each image stops
    as soon as the model predicts its target; the others go on in the same batch.

    Args:
        model: any classifier taking [0,1] images; given back unchanged.
        x: images in [0,1].
        target: the class to reach: an int for all images or one class per image.
        step: the Euclidean length of each step in pixel units (> 0).
        max_steps: the most steps per image.
        output: where the logits are in the model's output.

    Returns:
        An :class:`AttackResult`; ``history`` holds the target's score before each step.

    Shape:
        x: (B,C,H,W); result.images: (B,C,H,W); result.history: (B, max_steps).
    """
    step, max_steps = positive(step, "step"), count(max_steps, "max_steps")
    if target is None:
        raise InputError("fooling_image needs a target class (an int, or one class per image)")
    xin = check_pixels(prepare_input(model, x))
    batch = xin.shape[0]
    with inspecting(model), gradients_on():
        run = ModelRunner(model, xin, output)
        with torch.no_grad():
            index = class_indices(target, run(xin[:1]).expand(batch, -1))
        images = run.layout(xin).clone()
        history = nan_history(batch, max_steps, xin.device)
        taken = torch.zeros(batch, dtype=torch.long, device=xin.device)
        active = torch.arange(batch, device=xin.device)
        for t in range(max_steps):
            current = images[active]
            score, grad, logits = _score_gradient(run, current, index[active])
            history[active, t] = score
            going = logits.argmax(dim=1) != index[active]
            if not bool(going.all()):  # images that reached their target stop here
                active, current, grad = active[going], current[going], grad[going]
                if active.numel() == 0:
                    break
            length = grad.flatten(1).norm(dim=1).clamp_min(1e-12)
            images[active] = (current + step * grad / _per_image(length)).clamp(0.0, 1.0)
            taken[active] += 1
        check = recheck(run, images, index, targeted=True)
    return build_result(
        AttackResult, like=x, images=images, original=xin, target=index, targeted=True, check=check, steps=taken,
        history=history, method="fooling",
    )  # fmt: skip


def _image_size(model: nn.Module, image_size: Sequence[int] | None) -> tuple[int, int, int]:
    """``(C, H, W)``: the argument, or the input size recorded with a convlens model."""
    if image_size is None:
        from ..models.info import get_info

        info = get_info(model)
        if info is None:
            raise InputError("this model has no recorded input size: pass image_size=(C, H, W)")
        return tuple(info.input_size)  # type: ignore[return-value]
    size = tuple(image_size)
    if len(size) != 3 or not all(isinstance(s, int) and not isinstance(s, bool) and s > 0 for s in size):
        raise InputError(f"image_size must be (C, H, W) with positive ints, got {image_size!r}")
    return size


def _ascend(
    run: ModelRunner, start: torch.Tensor, index: torch.Tensor, *, steps: int, step: float,
    look_like: torch.Tensor | None = None, beta: float = 0.0, confidence: float | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:  # fmt: skip
    """Plain gradient steps ``x ← clamp(x + step·d, 0, 1)`` on ``logit[target] - beta·MSE(x, look_like)``.

    With ``confidence``, an image stops once the model gives its target at least that
    probability; the others go on in the same batch.

    Returns the final images, the updates per image, and the objective before each step (B, steps).
    """
    images = start.clone()
    history = nan_history(start.shape[0], steps, start.device)
    taken = torch.zeros(start.shape[0], dtype=torch.long, device=start.device)
    active = torch.arange(start.shape[0], device=start.device)
    for t in range(steps):
        leaf = images[active].requires_grad_(True)
        logits = run(leaf)
        objective = scores(logits, index[active])
        if look_like is not None:
            objective = objective - beta * (leaf - look_like[active]).pow(2).flatten(1).mean(dim=1)
        history[active, t] = objective.detach()
        going = None
        if confidence is not None:
            going = scores(torch.softmax(logits.detach().float(), dim=1), index[active]) < confidence
            if not bool(going.any()):
                break
        (grad,) = torch.autograd.grad(objective.sum(), leaf)
        current = leaf.detach()
        if going is not None and not bool(going.all()):
            active, current, grad = active[going], current[going], grad[going]
        images[active] = (current + step * grad).clamp(0.0, 1.0)
        taken[active] += 1
    return images, taken, history


def _noise_start(
    shape: tuple[int, ...], std: float, seed: int | None, device: torch.device, dtype: torch.dtype
) -> torch.Tensor:
    generator = generator_for(seed, device)
    return (0.5 + std * torch.randn(shape, generator=generator, device=device, dtype=dtype)).clamp(0.0, 1.0)


@register_method(
    "from-noise",
    kind="attack",
    output="image",
    summary="a class image grown from mid-grey noise by gradient ascent on the class score",
    paper="Simonyan, Vedaldi & Zisserman 2014, Deep Inside Convolutional Networks (class model visualization)",
)
@outside_inference_mode
def image_from_noise(
    model: nn.Module, target: Target = None, *, image_size: Sequence[int] | None = None, steps: int = 100,
    step: float = 0.05, std: float = 0.1, seed: int | None = 0, output: OutputSpec = None,
) -> AttackResult:  # fmt: skip
    """Grow an image of each target class from Gaussian noise centred at mid-grey.

    The first classic MNIST exercise: start from ``clamp(0.5 + std·N(0,1), 0, 1)`` and ascend the
    raw score ``logits[target]`` with ``x ← clamp(x + step·d, 0, 1)``, ``d`` its gradient, for
    ``steps`` steps, all targets in one batch. The model ends up very confident, yet the images
    seldom look like the digit: a classifier's score can be raised by patterns no person would
    call a digit (Nguyen, Yosinski & Clune 2015, "Deep Neural Networks are Easily Fooled").

    Args:
        model: any classifier taking [0,1] images; given back unchanged.
        target: the classes to draw (an int or a sequence); ``None`` = every class of the model.
        image_size: ``(C, H, W)``; ``None`` = the input size of a convlens model.
        steps: gradient steps.
        step: the step size (> 0), multiplying the raw gradient.
        std: the standard deviation of the starting noise, in pixel units.
        seed: seed of the starting noise (``None``: the global RNG).
        output: where the logits are in the model's output.

    Returns:
        An :class:`AttackResult` with one image per target; ``original`` is the starting noise,
        ``history`` the target's score before each step, ``success`` whether the model predicts
        the target, ``target_probability`` its confidence.

    Shape:
        result.images: (T,C,H,W) for T targets; result.history: (T, steps).
    """
    steps, step, std = count(steps, "steps"), positive(step, "step"), non_negative(std, "std")
    size = _image_size(model, image_size)
    device, dtype = model_device(model), model_dtype(model)
    probe = torch.full((1, *size), 0.5, device=device, dtype=dtype)
    with inspecting(model), gradients_on():
        run = ModelRunner(model, probe, output)
        with torch.no_grad():
            logits = run(probe)
        if target is None:
            index = torch.arange(logits.shape[1], device=device)
        else:
            index = _target_list(target, logits)
        start = _noise_start((len(index), *size), std, seed, device, dtype)
        images, taken, history = _ascend(run, run.layout(start), index, steps=steps, step=step)
        check = recheck(run, images, index, targeted=True)
    return build_result(
        AttackResult, like=start, images=images, original=start, target=index, targeted=True, check=check,
        steps=taken, history=history, method="from-noise",
    )  # fmt: skip


def _target_list(target: Target, logits: torch.Tensor) -> torch.Tensor:
    """Classes from an int or a sequence (their number sets the batch), range-checked against ``logits``."""
    if isinstance(target, int) and not isinstance(target, bool):
        target = [target]
    if isinstance(target, torch.Tensor) and target.dim() == 0:
        target = target[None]
    try:
        n = len(target)  # type: ignore[arg-type]
    except TypeError:
        raise InputError(f"target must be an int or a sequence of class indices, got {type(target).__name__}") from None
    if n == 0:
        raise InputError("target is empty: give at least one class")
    return class_indices(target, logits.expand(n, -1))


@register_method(
    "lookalike",
    kind="attack",
    output="image",
    summary="an image classified as the target that still looks like another image (score minus beta times MSE)",
    paper="Szegedy et al. 2014, Intriguing properties of neural networks (targeted look-alike exercise)",
)
@outside_inference_mode
def lookalike(
    model: nn.Module, target: Target, look_like: torch.Tensor, *, beta: float = 0.0001 * 255**2, steps: int = 200,
    step: float = 0.02, confidence: float | None = 0.9, start: str = "look_like", std: float = 0.1,
    seed: int | None = 0, output: OutputSpec = None,
) -> AttackResult:  # fmt: skip
    """An image that the model classifies as ``target`` but that looks like ``look_like``.

    The second classic MNIST exercise: ascend ``logits[target] − β·MSE(x, look_like)`` with
    ``x ← clamp(x + step·d, 0, 1)``, starting from ``look_like`` itself (or from mid-grey noise).
    The MSE is the mean over pixels in [0,1] units; the exercise's β ≈ 0.0001 is for 0–255
    pixels, where the squared error is 255² times larger, so the default is ``0.0001·255²`` ≈ 6.5.
    Each image stops once the model gives the target ``confidence``; on the demo model the
    defaults reach the target with an MSE to the look-alike well below 0.05. From noise the same
    β leaves an MSE near 0.25 (the score wins), and a β large enough to pull a noise start close
    to the look-alike (≈ 1000) no longer reaches the target for most images.

    Args:
        model: any classifier taking [0,1] images; given back unchanged.
        target: the class to reach: an int or one class per look-alike image.
        look_like: the images to imitate, in [0,1].
        beta: the weight of the mean squared error (≥ 0).
        steps: gradient steps.
        step: the step size (> 0), multiplying the raw gradient.
        confidence: stop each image once the model gives the target at least this probability
            (``None``: take every step; the score then keeps pulling the image away).
        start: ``"look_like"`` (start from the image to imitate) or ``"noise"`` (mid-grey noise).
        std: the standard deviation of the starting noise around mid-grey (``start="noise"``).
        seed: seed of the starting noise (``None``: the global RNG).
        output: where the logits are in the model's output.

    Returns:
        An :class:`AttackResult` (``original`` is ``look_like``); ``history`` holds the
        objective before each step. ``((images - original)**2).mean((1,2,3))`` is the MSE.

    Shape:
        look_like: (B,C,H,W); result.images: (B,C,H,W); result.history: (B, steps).
    """
    steps, step = count(steps, "steps"), positive(step, "step")
    beta, std = non_negative(beta, "beta"), non_negative(std, "std")
    if confidence is not None and not 0 < positive(confidence, "confidence") <= 1:
        raise InputError(f"confidence must be in (0, 1] or None, got {confidence}")
    if target is None:
        raise InputError("lookalike needs a target class (an int, or one class per look-alike image)")
    check_images(look_like, "look_like")
    like = check_pixels(prepare_input(model, look_like, "look_like"), "look_like")
    with inspecting(model), gradients_on():
        run = ModelRunner(model, like, output)
        with torch.no_grad():
            index = class_indices(target, run(like[:1]).expand(like.shape[0], -1))
        if start == "noise":
            begin = run.layout(_noise_start(tuple(like.shape), std, seed, like.device, like.dtype))
        elif start == "look_like":
            begin = run.layout(like).clone()
        else:
            raise InputError(f"start must be 'noise' or 'look_like', got {start!r}")
        images, taken, history = _ascend(
            run, begin, index, steps=steps, step=step, look_like=run.layout(like), beta=beta, confidence=confidence
        )
        check = recheck(run, images, index, targeted=True)
    return build_result(
        AttackResult, like=look_like, images=images, original=like, target=index, targeted=True, check=check,
        steps=taken, history=history, method="lookalike",
    )  # fmt: skip
