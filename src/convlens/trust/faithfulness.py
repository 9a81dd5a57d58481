"""Faithfulness of attribution maps: does removing what the map calls important hurt the model?

Deletion and insertion curves (Petsiuk, Das & Saenko 2018, "RISE: Randomized Input Sampling
for Explanation of Black-box Models") and average drop / increase in confidence (Chattopadhyay,
Sarkar, Howlader & Balasubramanian 2018, "Grad-CAM++"). Every perturbed copy of every image is
evaluated in large batched forward passes without autograd, on the model's device.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .._checks import Target, check_images, target_indices
from .._hooks import activation_size, inspecting
from .._outputs import OutputSpec
from .._runner import ModelRunner, finish, prepare_input
from ..errors import InputError

# Activation elements one forward pass may produce (no autograd: few are alive at once); chunks
# that stay in the CPU's caches run fastest.
NO_GRAD_BUDGET = 1 << 24
MIN_BATCH, MAX_BATCH = 8, 4096


@dataclass(frozen=True)
class DeletionInsertion:
    """Deletion and insertion curves of one batch of maps (Petsiuk et al. 2018).

    Attributes:
        fractions: the fraction of pixels removed (deletion) or inserted (insertion) at each
            point, (N+1,), from 0 to 1.
        deletion: probability of the class as the most important pixels are removed first, (B, N+1).
        insertion: probability of the class as they are inserted first into the blank image, (B, N+1).
        deletion_auc: area under each deletion curve, (B,); lower is better (faithful maps
            point at pixels whose removal quickly destroys the prediction).
        insertion_auc: area under each insertion curve, (B,); higher is better.
        target: the class whose probability is tracked, (B,).
    """

    fractions: torch.Tensor
    deletion: torch.Tensor
    insertion: torch.Tensor
    deletion_auc: torch.Tensor
    insertion_auc: torch.Tensor
    target: torch.Tensor


@dataclass(frozen=True)
class DropIncrease:
    """Average drop and increase in confidence (Chattopadhyay et al. 2018).

    Attributes:
        drop: per image, ``max(0, Y − O) / Y`` where Y is the class probability of the image and
            O that of the image masked by its map, (B,).
        increase: per image, whether ``O > Y``, (B,) bool.
        average_drop: ``100 · mean(drop)`` in percent; lower is better.
        increase_in_confidence: ``100 · mean(increase)`` in percent; higher is better.
        target: the class, (B,).
    """

    drop: torch.Tensor
    increase: torch.Tensor
    average_drop: float
    increase_in_confidence: float
    target: torch.Tensor


def _importance(maps: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """One importance value per pixel, (B, H·W): the map summed over channels, resized to the image.

    Accepts (B,C,H,W) and (B,1,h,w) maps and (B,rows,cols) grids (a coarser map is resized
    bilinearly to the image size).
    """
    if not isinstance(maps, torch.Tensor) or maps.dim() not in (3, 4):
        raise InputError("maps must be a tensor of shape (B,C,H,W), (B,1,h,w) or (B,rows,cols)")
    if maps.shape[0] != x.shape[0]:
        raise InputError(f"maps hold {maps.shape[0]} images but x holds {x.shape[0]}")
    m = maps.detach().to(device=x.device, dtype=x.dtype)
    m = m[:, None] if m.dim() == 3 else m.sum(dim=1, keepdim=True)
    if not bool(torch.isfinite(m).all()):
        raise InputError("maps contain NaN or infinite values")
    if m.shape[-2:] != x.shape[-2:]:
        m = F.interpolate(m, size=tuple(x.shape[-2:]), mode="bilinear", align_corners=False)
    return m.flatten(1)


def pixel_ranks(maps: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Each pixel's place in the order of importance (0 = most important), (B, H·W) long.

    Ties keep the pixels' reading order (a stable sort), so equal values are removed from the
    top left.
    """
    order = _importance(maps, x).argsort(dim=1, descending=True, stable=True)
    ranks = torch.empty_like(order)
    ranks.scatter_(1, order, torch.arange(order.shape[1], device=order.device).expand_as(order))
    return ranks


def random_maps(x: torch.Tensor, seed: int = 0) -> torch.Tensor:
    """Maps of uniform noise, the random-order baseline of the faithfulness metrics.

    Shape:
        ``x``: (B,C,H,W); result: (B,1,H,W) on ``x``'s device.
    """
    check_images(x)
    gen = torch.Generator().manual_seed(seed)
    return torch.rand((x.shape[0], 1, *x.shape[2:]), generator=gen).to(device=x.device, dtype=x.dtype)


def _fill(fill: float | torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    if isinstance(fill, bool) or not isinstance(fill, (int, float, torch.Tensor)):
        raise InputError("fill must be a number or a tensor broadcastable to the images")
    value = torch.as_tensor(fill, dtype=x.dtype).to(x.device)
    try:
        return torch.broadcast_to(value, x.shape)
    except RuntimeError:
        raise InputError(f"fill of shape {tuple(value.shape)} does not broadcast to {tuple(x.shape)}") from None


def copies_per_pass(run: ModelRunner, x: torch.Tensor, batch_size: int | None) -> tuple[int, torch.Tensor]:
    """Copies per forward pass and the clean logits (the clean pass also measures activations)."""
    with torch.no_grad(), activation_size(run.model) as total:
        logits = run(x)
    if batch_size is not None:
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise InputError(f"batch_size must be a positive integer, got {batch_size!r}")
        return batch_size, logits
    per_image = max(1, total[0] // x.shape[0])
    return max(MIN_BATCH, min(MAX_BATCH, NO_GRAD_BUDGET // per_image)), logits


def _chunks(total: int, size: int) -> Iterator[tuple[int, int]]:
    for start in range(0, total, size):
        yield start, min(start + size, total)


def _probabilities(run: ModelRunner, images: torch.Tensor, classes: torch.Tensor) -> torch.Tensor:
    return torch.softmax(run(images).float(), dim=1).gather(1, classes[:, None])[:, 0]


def _auc(curve: torch.Tensor) -> torch.Tensor:
    """Trapezoidal area under curves sampled at N+1 evenly spaced points of [0,1], (B, N+1) → (B,)."""
    steps = curve.shape[1] - 1
    return (curve.sum(dim=1) - 0.5 * (curve[:, 0] + curve[:, -1])) / steps


@torch.no_grad()
def deletion_insertion(
    model: nn.Module,
    x: torch.Tensor,
    maps: torch.Tensor,
    *,
    steps: int = 28,
    target: Target = None,
    fill: float | torch.Tensor = 0.0,
    batch_size: int | None = None,
    output: OutputSpec = None,
) -> DeletionInsertion:
    """Deletion and insertion curves and their areas (Petsiuk et al. 2018, section 4.1).

    Pixels are ordered by the map (summed over channels, resized to the image; most positive
    first). Deletion replaces the first ``k·H·W/N`` pixels by ``fill`` and tracks the softmax
    probability of the class; insertion starts from the ``fill`` image and puts back the first
    ``k·H·W/N`` pixels, for k = 0..N. Both curves share their end points (the clean and the
    blank image), so each image needs exactly ``2·N`` forward passes; all ``2·N·B`` copies are
    built on the device and run in a few large batches without autograd. A faithful map has a
    low deletion AUC and a high insertion AUC; compare with :func:`random_maps` for the baseline.

    Args:
        model: any classifier taking [0,1] images; given back unchanged.
        x: images in [0,1].
        maps: one map per image: (B,C,H,W), (B,1,h,w) or (B,rows,cols).
        steps: N, the number of steps of each curve.
        target: None (each image's predicted class), an int or one class per image.
        fill: what removed pixels become (0.0 = black; Petsiuk et al. start insertion from a
            blurred image: pass it as a (B,C,H,W) tensor).
        batch_size: copies per forward pass; default chosen from the model's activation size.
        output: where the logits are in the model's output.

    Returns:
        A :class:`DeletionInsertion`.

    Shape:
        ``x``: (B,C,H,W); curves: (B, N+1); AUCs: (B,).
    """
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise InputError(f"steps must be a positive integer, got {steps!r}")
    xin = prepare_input(model, x)
    batch, pixels = xin.shape[0], xin.shape[2] * xin.shape[3]
    ranks = pixel_ranks(maps, xin).view(batch, 1, *xin.shape[2:])
    blank = _fill(fill, xin)
    counts = (torch.arange(steps, device=xin.device) * pixels) // steps  # pixels changed at k = 0..N-1
    with inspecting(model):
        run = ModelRunner(model, xin, output)
        size, logits = copies_per_pass(run, xin, batch_size)
        classes = target_indices(target, logits)
        # copy j: kind = j // (N·B) (0 deletion, 1 insertion), step k = (j // B) % N, image b = j % B
        probs = torch.empty(2 * steps * batch, dtype=torch.float32, device=xin.device)
        for start, stop in _chunks(2 * steps * batch, size):
            j = torch.arange(start, stop, device=xin.device)
            b, k, insert = j % batch, (j // batch) % steps, j >= steps * batch
            changed = ranks[b] < counts[k].view(-1, 1, 1, 1)
            keep = changed == insert.view(-1, 1, 1, 1)  # deletion keeps unchanged pixels, insertion changed ones
            copies = torch.where(keep, xin[b], blank[b])
            probs[start:stop] = _probabilities(run, copies, classes[b])
    probs = probs.view(2, steps, batch)
    deletion = torch.cat([probs[0], probs[1, :1]]).T  # the blank image ends the deletion curve
    insertion = torch.cat([probs[1], probs[0, :1]]).T  # the clean image ends the insertion curve
    fractions = torch.arange(steps + 1, dtype=torch.float64) / steps
    return DeletionInsertion(
        fractions, finish(deletion, x), finish(insertion, x), finish(_auc(deletion), x), finish(_auc(insertion), x),
        classes.to(x.device),
    )  # fmt: skip


@torch.no_grad()
def average_drop_increase(
    model: nn.Module,
    x: torch.Tensor,
    maps: torch.Tensor,
    *,
    target: Target = None,
    output: OutputSpec = None,
) -> DropIncrease:
    """Average drop and increase in confidence (Chattopadhyay et al. 2018, section 5.1).

    Each image is multiplied by its map — its positive part, summed over channels, resized to
    the image and scaled to [0,1] by its maximum — so only what the map calls evidence stays
    visible; then the class probability of the masked image (O) is compared with that of the
    image (Y). Two batched forward passes.

    Args:
        model: any classifier taking [0,1] images; given back unchanged.
        x: images in [0,1].
        maps: one map per image: (B,C,H,W), (B,1,h,w) or (B,rows,cols).
        target: None (each image's predicted class), an int or one class per image.
        output: where the logits are in the model's output.

    Returns:
        A :class:`DropIncrease`.

    Shape:
        ``x``: (B,C,H,W); per-image fields (B,).
    """
    xin = prepare_input(model, x)
    weight = _importance(maps, xin).clamp_min(0)
    top = weight.amax(dim=1, keepdim=True)
    weight = (weight / torch.where(top > 0, top, torch.ones_like(top))).view(xin.shape[0], 1, *xin.shape[2:])
    with inspecting(model):
        run = ModelRunner(model, xin, output)
        logits = run(xin)
        classes = target_indices(target, logits)
        y = torch.softmax(logits.float(), dim=1).gather(1, classes[:, None])[:, 0]
        o = _probabilities(run, xin * weight, classes)
    drop = (y - o).clamp_min(0) / y.clamp_min(1e-12)
    increase = o > y
    return DropIncrease(
        finish(drop, x), increase.to(x.device), 100.0 * float(drop.mean()), 100.0 * float(increase.float().mean()),
        classes.to(x.device),
    )  # fmt: skip


@dataclass(frozen=True)
class MethodsFaithfulness:
    """Faithfulness of several methods' maps of one batch, with the random-order baseline.

    Attributes:
        curves: method name → :class:`DeletionInsertion`; the baseline is under ``baseline``.
        drop: method name → :class:`DropIncrease` (the baseline too).
        baseline: the key of the random-order baseline (maps of uniform noise).
        skipped: requested methods whose output is not an importance map (grids of
            probabilities such as occlusion sensitivity, where low means important).
        steps: N, the steps of each curve.
    """

    curves: dict[str, DeletionInsertion]
    drop: dict[str, DropIncrease]
    baseline: str
    skipped: tuple[str, ...]
    steps: int


RANDOM = "random order"


def methods_faithfulness(
    model: nn.Module,
    x: torch.Tensor,
    methods: str | Sequence[str] | None = None,
    *,
    steps: int = 28,
    target: Target = None,
    fill: float | torch.Tensor = 0.0,
    seed: int = 0,
    output: OutputSpec = None,
    progress: Callable[[str], None] | None = None,
    **options: object,
) -> MethodsFaithfulness:
    """Deletion/insertion curves and average drop/increase of every method's maps, and of random maps.

    The maps come from :func:`convlens.attribution.explain` for one class per image (each
    image's prediction by default); the random-order baseline uses uniform noise maps drawn
    with ``seed``, so the AUCs have something to be compared with.

    Args:
        model: any classifier taking [0,1] images; given back unchanged.
        x: images in [0,1].
        methods: registered attribution names, or None for all per-pixel ones.
        steps: N of :func:`deletion_insertion`.
        target: None (each image's predicted class), an int or one class per image.
        fill: what removed pixels become.
        seed: seed of the random baseline (and SmoothGrad's noise).
        output: where the logits are in the model's output.
        progress: called with each method's name before it runs.
        **options: method options, as for :func:`convlens.attribution.explain`.

    Returns:
        A :class:`MethodsFaithfulness`.
    """
    from ._common import class_targets, compute_maps, method_specs

    specs = method_specs(methods)
    used = [s for s in specs if s.output != "grid"]
    skipped = tuple(s.name for s in specs if s.output == "grid")
    classes = class_targets(model, x, target, output)
    if progress:
        progress("maps")
    extra = {"seed": seed} if any("seed" in s.parameters for s in used) else {}
    maps, _ = compute_maps(model, x, used, classes, output, {**options, **extra}) if used else ({}, None)
    maps[RANDOM] = random_maps(x, seed)
    curves: dict[str, DeletionInsertion] = {}
    drops: dict[str, DropIncrease] = {}
    for name, m in maps.items():
        if progress:
            progress(name)
        curves[name] = deletion_insertion(model, x, m, steps=steps, target=classes, fill=fill, output=output)
        drops[name] = average_drop_increase(model, x, m, target=classes, output=output)
    return MethodsFaithfulness(curves, drops, RANDOM, skipped, steps)


__all__ = [
    "RANDOM", "DeletionInsertion", "DropIncrease", "MethodsFaithfulness", "average_drop_increase", "copies_per_pass",
    "deletion_insertion", "methods_faithfulness", "pixel_ranks", "random_maps",
]  # fmt: skip
