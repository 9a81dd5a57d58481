"""Budgeted gradient attacks: FGSM and PGD (L∞ and L2, random start, restarts), in pixel units.

Images are [0,1] pixels and normalization is inside the model (DESIGN.md), so ``eps`` and
``step`` are pixel budgets: ``eps=0.3`` on MNIST moves each pixel by at most 0.3 (L∞). Every
result stays inside its eps-ball around the input and inside [0,1].
"""

from __future__ import annotations

from dataclasses import replace

import torch
from torch import nn
from torch.nn import functional as F

from .._checks import Target
from .._hooks import inspecting
from .._outputs import OutputSpec
from .._runner import ModelRunner, gradients_on, outside_inference_mode, prepare_input
from ..errors import InputError
from ..registry import register_method
from ._common import (
    AttackResult,
    Check,
    build_result,
    check_pixels,
    class_indices,
    count,
    generator_for,
    nan_history,
    non_negative,
    norm_name,
    positive,
    recheck,
)

# Added to gradient norms before dividing (L2 steps), as in common PGD implementations.
NORM_FLOOR = 1e-10


def _labels(run: ModelRunner, x: torch.Tensor, label: Target, targeted: bool) -> torch.Tensor:
    """The (B,) classes to move away from (or towards); ``None`` = each image's clean prediction."""
    if label is None and targeted:
        raise InputError("a targeted attack needs the target class: pass label=<class> (an int or one per image)")
    with torch.no_grad():
        logits = run(x if label is None else x[:1])
    return class_indices(label, logits if label is None else logits.expand(x.shape[0], -1), "label")


def _objective(logits: torch.Tensor, index: torch.Tensor, targeted: bool) -> torch.Tensor:
    """Per-image objective to ascend: the cross-entropy of the label, or minus that of the target."""
    loss = F.cross_entropy(logits.float(), index, reduction="none")
    return -loss if targeted else loss


def _loss_gradient(
    run: ModelRunner, adv: torch.Tensor, index: torch.Tensor, targeted: bool
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Objective (B,), its input gradient (B,C,H,W) and the logits (B,K), from one forward and backward."""
    leaf = adv.detach().requires_grad_(True)
    logits = run(leaf)
    objective = _objective(logits, index, targeted)
    (grad,) = torch.autograd.grad(objective.sum(), leaf)
    return objective.detach(), grad, logits.detach()


def _per_image(values: torch.Tensor) -> torch.Tensor:
    """A (B,) tensor reshaped to broadcast over (B,C,H,W)."""
    return values.view(-1, 1, 1, 1)


def _l2(t: torch.Tensor) -> torch.Tensor:
    return t.flatten(1).norm(p=2, dim=1)


def project(adv: torch.Tensor, x: torch.Tensor, eps: float, norm: str) -> torch.Tensor:
    """``adv`` moved into the eps-ball around ``x`` (L∞: clip each pixel; L2: shrink the whole
    perturbation), then into [0,1].

    Shape:
        adv, x: (B,C,H,W); result: (B,C,H,W).
    """
    delta = adv - x
    if norm == "inf":
        delta.clamp_(-eps, eps)
    else:
        delta.mul_(_per_image((eps / _l2(delta).clamp_min(1e-12)).clamp(max=1.0)))
    return delta.add_(x).clamp_(0.0, 1.0)  # x + delta, in delta's memory


def random_start_point(x: torch.Tensor, eps: float, norm: str, generator: torch.Generator | None) -> torch.Tensor:
    """A random point of the eps-ball around ``x`` (uniform in the ball), clipped to [0,1].

    L∞: every pixel offset uniform in [-eps, eps]. L2: a uniform direction and a radius
    ``eps · u^(1/n)`` with ``u`` uniform and ``n`` the number of pixel values, which is uniform in
    the ball.
    """
    if norm == "inf":
        noise = torch.rand(x.shape, generator=generator, device=x.device, dtype=x.dtype)
        delta = (noise * 2.0 - 1.0) * eps
    else:
        direction = torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)
        direction = direction / _per_image(_l2(direction).clamp_min(1e-12))
        u = torch.rand(x.shape[0], generator=generator, device=x.device, dtype=x.dtype)
        radius = eps * u.pow(1.0 / x[0].numel())
        delta = direction * _per_image(radius)
    return (x + delta).clamp(0.0, 1.0)


def _ascent(adv: torch.Tensor, grad: torch.Tensor, x: torch.Tensor, eps: float, step: float, norm: str) -> torch.Tensor:
    """One PGD step: L∞ moves by ``step·sign(grad)``; L2 by ``step`` along the normalized gradient."""
    if norm == "inf":
        moved = grad.sign_().mul_(step).add_(adv)  # adv + step·sign(grad), in grad's memory
    else:
        moved = grad.div_(_per_image(_l2(grad) + NORM_FLOOR)).mul_(step).add_(adv)
    return project(moved, x, eps, norm)


def _run_pgd(
    run: ModelRunner, x: torch.Tensor, index: torch.Tensor, *, targeted: bool, eps: float, step: float, steps: int,
    norm: str, random_start: bool, early_stop: bool, generator: torch.Generator | None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:  # fmt: skip
    """One PGD run on a batch: final images, updates per image, and the objective history (B, steps)."""
    batch = x.shape[0]
    adv = random_start_point(x, eps, norm, generator) if random_start and eps > 0 else x.clone()
    history = nan_history(batch, steps, x.device)
    taken = torch.zeros(batch, dtype=torch.long, device=x.device)
    if not early_stop:
        for t in range(steps):
            objective, grad, _ = _loss_gradient(run, adv, index, targeted)
            history[:, t] = objective
            adv = _ascent(adv, grad, x, eps, step, norm)
        taken += steps
        return adv, taken, history
    active = torch.arange(batch, device=x.device)
    for t in range(steps):
        current = adv[active]
        objective, grad, logits = _loss_gradient(run, current, index[active], targeted)
        history[active, t] = objective
        predicted = logits.argmax(dim=1)
        going = predicted != index[active] if targeted else predicted == index[active]
        if not bool(going.all()):  # images the model already gets wrong (or right, if targeted) stop here
            active, current, grad = active[going], current[going], grad[going]
            if active.numel() == 0:
                break
        adv[active] = _ascent(current, grad, x[active], eps, step, norm)
        taken[active] += 1
    return adv, taken, history


@register_method(
    "fgsm",
    kind="attack",
    output="image",
    summary="one step of eps times the sign of the loss gradient (fast gradient sign method)",
    paper="Goodfellow, Shlens & Szegedy 2015, Explaining and Harnessing Adversarial Examples",
)
@outside_inference_mode
def fgsm(
    model: nn.Module, x: torch.Tensor, label: Target = None, *, eps: float = 0.3, targeted: bool = False,
    output: OutputSpec = None,
) -> AttackResult:  # fmt: skip
    """Fast gradient sign method: ``clamp(x + eps·sign(∂loss/∂x), 0, 1)``.

    From Goodfellow, Shlens & Szegedy 2015, "Explaining and Harnessing Adversarial Examples".
    The loss is the cross-entropy of ``label``; with ``targeted=True`` the step goes down the
    cross-entropy of the target class instead (``x - eps·sign(∂loss_target/∂x)``).

    Args:
        model: any classifier taking [0,1] images; given back unchanged.
        x: images in [0,1].
        label: the true class of each image (an int or one per image; ``None`` = the model's
            prediction), or the target class when ``targeted``.
        eps: the L∞ budget in pixel units (≥ 0); 0.3 is the usual MNIST budget.
        targeted: push towards ``label`` instead of away from it.
        output: where the logits are in the model's output.

    Returns:
        An :class:`AttackResult` (``steps`` is 1 per image, ``history`` the loss at ``x``).

    Shape:
        x: (B,C,H,W); result.images: (B,C,H,W).
    """
    eps = non_negative(eps, "eps")
    xin = check_pixels(prepare_input(model, x))
    with inspecting(model), gradients_on():
        run = ModelRunner(model, xin, output)
        index = _labels(run, xin, label, bool(targeted))
        objective, grad, _ = _loss_gradient(run, xin, index, bool(targeted))
        images = (xin + eps * grad.sign()).clamp(0.0, 1.0)
        check = recheck(run, images, index, bool(targeted))
    steps = torch.ones(xin.shape[0], dtype=torch.long)
    return build_result(
        AttackResult, like=x, images=images, original=xin, target=index, targeted=bool(targeted), check=check,
        steps=steps, history=objective[:, None], method="fgsm", eps=eps, norm="inf",
    )  # fmt: skip


@register_method(
    "pgd",
    kind="attack",
    output="image",
    summary="projected gradient descent: many small signed (or L2) steps, projected back into the eps-ball",
    paper="Madry et al. 2018, Towards Deep Learning Models Resistant to Adversarial Attacks",
)
@outside_inference_mode
def pgd(
    model: nn.Module, x: torch.Tensor, label: Target = None, *, eps: float = 0.3, step: float | None = None,
    steps: int = 20, norm: str = "inf", targeted: bool = False, random_start: bool = True, restarts: int = 1,
    early_stop: bool = False, seed: int | None = None, output: OutputSpec = None,
) -> AttackResult:  # fmt: skip
    """Projected gradient descent on the cross-entropy, inside an L∞ or L2 ball of radius ``eps``.

    From Madry, Makelov, Schmidt, Tsipras & Vladu 2018, "Towards Deep Learning Models Resistant
    to Adversarial Attacks". Each step ascends the cross-entropy of ``label`` (descends that of
    the target when ``targeted``): L∞ by ``step·sign(g)``, L2 by ``step·g/‖g‖₂``; then projects
    into the ball around ``x`` and into [0,1]. With ``random_start`` the walk starts at a random
    point of the ball. With ``restarts > 1`` the images the attack has not fooled yet are
    attacked again from new random starts, and each image keeps its first successful
    adversarial (or, if none, the one with the highest loss).

    Args:
        model: any classifier taking [0,1] images; given back unchanged.
        x: images in [0,1].
        label: the true class of each image (``None`` = the model's clean prediction), or the
            target class when ``targeted``.
        eps: the budget in pixel units (≥ 0): the largest pixel change (L∞; 0.3 is the usual
            MNIST budget) or the largest Euclidean norm of the whole perturbation (L2).
        step: the step size in pixel units (> 0); ``None`` = ``2.5·eps/steps`` (Madry et al.).
        steps: iterations per restart.
        norm: ``"inf"`` or ``"2"``.
        targeted: move towards ``label`` instead of away from it.
        random_start: start from a uniform random point of the ball (else from ``x``).
        restarts: independent runs from new random starts (with ``random_start`` and ``eps > 0``);
            later runs attack only the images not fooled yet.
        early_stop: stop each image once the model gets it wrong (targeted: predicts the target);
            the images still take their steps together in one batch.
        seed: seed of the random starts (``None``: the global RNG).
        output: where the logits are in the model's output.

    Returns:
        An :class:`AttackResult`; ``steps`` counts the updates over all restarts, ``history`` is
        the objective (cross-entropy, negated when targeted) of the run each image kept.

    Shape:
        x: (B,C,H,W); result.images: (B,C,H,W); result.history: (B, steps).
    """
    eps = non_negative(eps, "eps")
    steps, restarts, norm = count(steps, "steps"), count(restarts, "restarts"), norm_name(norm)
    step = (2.5 * eps / steps if eps > 0 else 1.0) if step is None else positive(step, "step")
    targeted = bool(targeted)
    xin = check_pixels(prepare_input(model, x))
    generator = generator_for(seed, xin.device)
    with inspecting(model), gradients_on():
        run = ModelRunner(model, xin, output)
        index = _labels(run, xin, label, targeted)
        xl = run.layout(xin)
        options = dict(targeted=targeted, eps=eps, step=step, steps=steps, norm=norm, random_start=random_start,
                       early_stop=early_stop, generator=generator)  # fmt: skip
        images, taken, history = _run_pgd(run, xl, index, **options)  # type: ignore[arg-type]
        check = recheck(run, images, index, targeted)
        for _ in range(restarts - 1):
            todo = (~check.success).nonzero()[:, 0]
            if todo.numel() == 0 or not random_start or eps == 0:
                break
            more, more_taken, more_history = _run_pgd(run, xl[todo], index[todo], **options)  # type: ignore[arg-type]
            again = recheck(run, more, index[todo], targeted)
            better = again.success | (_goal(again.loss, targeted) > _goal(check.loss[todo], targeted))
            keep = todo[better]
            taken[todo] += more_taken
            images[keep] = more[better]
            history[keep] = more_history[better]
            check = _merge(check, again, keep, better)
    return build_result(
        AttackResult, like=x, images=images, original=xin, target=index, targeted=targeted, check=check, steps=taken,
        history=history, method="pgd", eps=eps, norm=norm,
    )  # fmt: skip


def _goal(loss: torch.Tensor, targeted: bool) -> torch.Tensor:
    """What the attack maximizes, from the re-check's cross-entropy."""
    return -loss if targeted else loss


def _merge(check: Check, again: Check, keep: torch.Tensor, better: torch.Tensor) -> Check:
    """``check`` with the images ``keep`` replaced by the rows ``better`` of a later re-check."""
    merged = {}
    for name in ("success", "predicted", "probability", "target_probability", "loss"):
        values = getattr(check, name).clone()
        values[keep] = getattr(again, name)[better]
        merged[name] = values
    return replace(check, **merged)
