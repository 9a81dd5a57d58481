"""Neural style transfer by optimizing pixels (Gatys, Ecker and Bethge 2016, "Image Style Transfer
Using Convolutional Neural Networks", CVPR).

The style Grams and content features are computed once per resolution; each evaluation is ONE
forward pass through the extractor truncated after its last used layer, and one backward pass
to the pixels only (the extractor's parameters are frozen for the call and come back untouched).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from .._hooks import inspecting
from ..errors import InputError
from ..registry import register_method
from .colors import as_rgb_batch, luminance, match_luminance, recolor, resize_long_side
from .extractors import AUTO, Extractor, LayerTap, get_extractor
from .losses import content_loss, gram_matrix, style_loss, tv_loss

ImageLike = torch.Tensor | str | Path
Callback = Callable[[int, int, Mapping[str, float]], Any]
TERMS = ("content", "style", "tv", "total")


@dataclass(frozen=True)
class StyleSettings:
    """Everything a style transfer ran with (the defaults filled in).

    Attributes:
        extractor: which network gave the features, with its weights (``"random (random weights, offline)"``).
        content_layer, style_layers, style_weights: the layers and each style layer's weight.
        content_weight, style_weight, tv_weight: the weights of the three terms.
        steps: evaluations per level; optimizer, lr: the optimizer and its step size.
        init: ``"content"`` or ``"noise"``; seed: the noise seed.
        size: ``(H, W)`` of the output; levels: resolutions optimized (coarse to fine).
        blend: the weight of each style image; style_scale: style size relative to the output.
        keep_colors: luminance-only transfer; device: where it ran; seconds: wall time.
        precision: ``"bf16"`` or ``"fp32"`` convolutions.
    """

    extractor: str
    content_layer: str
    style_layers: tuple[str, ...]
    style_weights: tuple[float, ...]
    content_weight: float
    style_weight: float
    tv_weight: float
    steps: int
    optimizer: str
    lr: float
    init: str
    seed: int | None
    size: tuple[int, int]
    levels: int
    blend: tuple[float, ...]
    style_scale: float
    keep_colors: bool
    device: str
    seconds: float
    precision: str = "fp32"


@dataclass(frozen=True)
class StyleResult:
    """The stylized images and how the optimization went.

    Attributes:
        image: the result, in [0,1].
        history: per evaluation (all levels in order), the weighted ``content``, ``style``,
            ``tv`` and ``total`` loss.
        settings: what ran.
        snapshots: intermediate images (``snapshots=K`` evenly spaced), at their level's size.
        content: the content image as optimized against (resized to the output size).
        styles: the style images as used (resized by ``style_scale``).

    Shape:
        ``image`` ``(B, 3, H, W)``; each history entry ``(evaluations,)``.
    """

    image: torch.Tensor
    history: dict[str, torch.Tensor]
    settings: StyleSettings
    snapshots: tuple[torch.Tensor, ...]
    content: torch.Tensor
    styles: tuple[torch.Tensor, ...]

    @property
    def extractor(self) -> str:
        """Which network gave the features (shown in every output)."""
        return self.settings.extractor


# --------------------------------------------------------------------------- inputs


def _as_image(value: ImageLike, name: str) -> torch.Tensor:
    if isinstance(value, (str, Path)):
        from ..data.images import load_image

        return load_image(value, channels=3).unsqueeze(0)
    return as_rgb_batch(value, name)


def _styles(style: ImageLike | Sequence[ImageLike]) -> list[torch.Tensor]:
    items: list[ImageLike] = list(style) if isinstance(style, (list, tuple)) else [style]  # type: ignore[list-item]
    if not items:
        raise InputError("give at least one style image")
    images = [_as_image(s, f"style[{i}]" if len(items) > 1 else "style") for i, s in enumerate(items)]
    for i, s in enumerate(images):
        if s.shape[0] != 1:
            raise InputError(f"style image {i} is a batch of {s.shape[0]}; pass several styles as a list")
    return images


def _blend(blend: Sequence[float] | None, count: int) -> tuple[float, ...]:
    weights = [1.0] * count if blend is None else [float(b) for b in blend]
    if len(weights) != count:
        raise InputError(f"{count} style images but {len(weights)} blend weights; give one weight per style")
    if any(w < 0 for w in weights) or sum(weights) <= 0:
        raise InputError(f"blend weights must be non-negative and not all zero, got {weights}")
    total = sum(weights)
    return tuple(w / total for w in weights)


def _level_sizes(height: int, width: int, levels: int) -> list[tuple[int, int]]:
    sizes = []
    for k in range(levels - 1, -1, -1):
        f = 2**k
        sizes.append((max(16, round(height / f)), max(16, round(width / f))))
    return sizes


# --------------------------------------------------------------------------- one level


@dataclass
class _Targets:
    content: torch.Tensor
    grams: list[torch.Tensor]
    content_scale: float
    gram_scales: list[float]
    tv_scale: float


def _features(tap: LayerTap, image: torch.Tensor, bf16: bool) -> list[torch.Tensor]:
    """One forward pass: channels-last input (faster convolutions on CPU and GPU), the
    convolutions in bfloat16 under autocast when ``bf16``, the features back in float32."""
    with torch.autocast(image.device.type, dtype=torch.bfloat16, enabled=bf16):
        feats = tap(image.contiguous(memory_format=torch.channels_last))
    return [f.float() for f in feats] if bf16 else feats


def use_bf16(precision: str, device: torch.device) -> bool:
    """Whether ``precision`` means bfloat16 convolutions on ``device`` (``"auto"``: where the hardware has them)."""
    if precision not in ("auto", "fp32", "bf16"):
        raise InputError(f"precision must be 'auto', 'fp32' or 'bf16', got {precision!r}")
    if precision != "auto":
        return precision == "bf16"
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    if device.type == "cpu":
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    return False


def _targets(
    tap: LayerTap,
    content: torch.Tensor,
    styles: list[torch.Tensor],
    blend: tuple[float, ...],
    n_style: int,
    bf16: bool,
) -> _Targets:
    """Content features and blended style Grams, computed once; each term's normalizer."""
    with torch.no_grad():
        content_feats = _features(tap, content, bf16)[-1]
        grams: list[torch.Tensor] = []
        for style, share in zip(styles, blend, strict=False):
            feats = _features(tap, style, bf16)[:n_style]
            for i, f in enumerate(feats):
                g = share * gram_matrix(f)
                if len(grams) <= i:
                    grams.append(g)
                else:
                    grams[i] = grams[i] + g
        content_scale = 1.0 / max(float(content_feats.pow(2).sum()), 1e-12)
        gram_scales = [1.0 / max(float(g.pow(2).sum()) * content.shape[0], 1e-12) for g in grams]
        tv_scale = 1.0 / max(float(tv_loss(content)), 1e-6)
    return _Targets(content_feats.detach(), [g.detach() for g in grams], content_scale, gram_scales, tv_scale)


class _StepsUsed(Exception):
    """Raised inside L-BFGS when every evaluation is used (its line search has no budget of its own)."""


def _optimize(
    tap: LayerTap,
    start: torch.Tensor,
    targets: _Targets,
    weights: tuple[float, float, float, tuple[float, ...]],
    steps: int,
    optimizer: str,
    lr: float,
    on_step: Callable[[torch.Tensor, dict[str, torch.Tensor]], None],
    bf16: bool,
    line_search: bool = True,
) -> torch.Tensor:
    """Optimize the pixels for ``steps`` evaluations (one forward and one backward each).

    L-BFGS runs on the unclamped pixels with a strong-Wolfe line search (without one, its steps
    now and then blow the loss up by orders of magnitude; clamping between its steps breaks the
    curvature pairs it learns from and made noisier pictures here). ``line_search=False`` is the
    PyTorch tutorial's variant: no line search, pixels clamped before each evaluation (faster
    in the first tens of steps on VGG features, less stable). Adam is always projected. The
    image returned is the one with the lowest loss seen, clamped to [0,1].
    """
    content_weight, style_weight, tv_weight, layer_weights = weights
    w_content = content_weight * targets.content_scale
    w_layers = [style_weight * w * s for w, s in zip(layer_weights, targets.gram_scales, strict=False)]
    w_tv = tv_weight * targets.tv_scale
    x = start.detach().clone(memory_format=torch.contiguous_format).requires_grad_(True)
    evaluations = [0]
    project = optimizer == "adam" or not line_search
    best: list[torch.Tensor] = [x.detach().clone(), torch.tensor(float("inf"), device=x.device)]

    def evaluate() -> torch.Tensor:
        if evaluations[0] >= steps:
            raise _StepsUsed  # the line search wants more evaluations than are left
        evaluations[0] += 1
        if project:
            with torch.no_grad():
                x.clamp_(0, 1)  # projected: the pixels stay in [0,1]
        feats = _features(tap, x, bf16)
        terms = {
            "content": content_loss(feats[-1], targets.content, w_content),
            "style": style_loss(feats[:-1], targets.grams, w_layers),
            "tv": tv_loss(x, w_tv),
        }
        total = terms["content"] + terms["style"] + terms["tv"]
        with torch.no_grad():  # keep the best image seen (without a sync: torch.where on the device)
            better = total.detach() < best[1]
            best[0] = torch.where(better, x.detach(), best[0])
            best[1] = torch.where(better, total.detach(), best[1])
        (grad,) = torch.autograd.grad(total, x)
        x.grad = grad
        terms["total"] = total
        on_step(x, {k: v.detach() for k, v in terms.items()})
        return total.detach()

    if optimizer == "lbfgs":
        while evaluations[0] < steps:
            # L-BFGS stops early where it cannot descend further; restart it until every step is used
            left = steps - evaluations[0]
            opt: torch.optim.Optimizer = torch.optim.LBFGS(
                [x],
                lr=lr,
                max_iter=left,
                max_eval=left,
                history_size=50,
                tolerance_grad=0.0,
                tolerance_change=0.0,
                line_search_fn="strong_wolfe" if line_search else None,
            )
            try:
                opt.step(evaluate)  # type: ignore[arg-type]
            except _StepsUsed:
                break
    else:
        opt = torch.optim.Adam([x], lr=lr)
        for _ in range(steps):
            evaluate()
            opt.step()
    return best[0].clamp(0, 1)


# --------------------------------------------------------------------------- the transfer


@register_method(
    "style-transfer", kind="style", output="image",
    summary="repaints the content image with the style image's textures and colours",
    paper="Gatys, Ecker and Bethge 2016, Image Style Transfer Using Convolutional Neural Networks",
)  # fmt: skip
def style_transfer(
    content: ImageLike,
    style: ImageLike | Sequence[ImageLike],
    *,
    extractor: str | Extractor = AUTO,
    content_layer: str | None = None,
    style_layers: Sequence[str] | None = None,
    style_weights: Sequence[float] | None = None,
    content_weight: float = 1.0,
    style_weight: float = 20.0,
    tv_weight: float = 0.2,
    steps: int = 200,
    optimizer: str = "lbfgs",
    lr: float | None = None,
    init: str = "content",
    size: int | None = None,
    seed: int | None = None,
    callback: Callback | None = None,
    blend: Sequence[float] | None = None,
    style_scale: float = 1.0,
    keep_colors: bool = False,
    levels: int = 1,
    snapshots: int = 0,
    device: str | torch.device | None = None,
    download: bool = False,
    precision: str = "auto",
    line_search: bool = True,
) -> StyleResult:
    """Repaint ``content`` in the style of ``style`` (Gatys et al. 2016).

    Minimizes ``content_weight · Lc + style_weight · Σ_l w_l · Ls_l + tv_weight · Ltv`` over the
    pixels, where each term is relative: the content loss is divided by ``Σ P²`` (the content
    features' energy), each layer's style loss by ``Σ A_l²`` (its target Gram's energy) and the
    total variation by the content image's own, so the same weights suit any extractor, layer
    and image size.

    Args:
        content: the photograph: a tensor ``(C,H,W)``/``(B,C,H,W)`` in [0,1] (grey, RGB or RGBA)
            or an image file. A batch is stylized in one run.
        style: the style image (tensor or file, any size and aspect ratio) or a list of them.
        extractor: ``"auto"`` (SqueezeNet 1.1 when its weights are cached, else ``"random"``),
            ``"random"``, ``"squeezenet1_1"``, ``"vgg16"``, ``"vgg19"`` or an :class:`Extractor`.
        content_layer: default: the extractor's.
        style_layers: default: the extractor's.
        style_weights: weight of each style layer (aligned with ``style_layers``).
        content_weight: weight of the content term.
        style_weight: weight of the style term (higher: more style, less content).
        tv_weight: weight of the total-variation term (higher: smoother).
        steps: loss evaluations per level (each one forward and one backward pass).
        optimizer: ``"lbfgs"`` (Gatys et al.'s choice) or ``"adam"``.
        lr: step size; default 1 for L-BFGS, 0.02 for Adam.
        init: ``"content"`` or ``"noise"`` (uniform noise from ``seed``).
        size: the output's longer side in pixels; default the content's.
        seed: seed of the noise (a fixed seed gives the same image every run).
        callback: called after each evaluation as ``callback(step, total_steps, losses)``.
        blend: with several styles, the weight of each (normalized to sum to 1); their Grams are mixed.
        style_scale: the style images' longer side relative to the output's (larger: bigger brush strokes).
        keep_colors: transfer luminance only and keep the content's colours (Gatys et al. 2016b).
        levels: optimize at ``levels`` resolutions, each twice the previous, starting from the
            upsampled previous result (coarse to fine, for large outputs).
        snapshots: keep this many intermediate images, evenly spaced.
        device: where to compute (default: the content tensor's; the extractor's for a given one).
        download: allow downloading published weights for a named extractor.
        line_search: L-BFGS with a strong-Wolfe line search on free pixels (stable); ``False``:
            no line search, pixels clamped before every evaluation (the PyTorch tutorial's way).
        precision: ``"fp32"``, ``"bf16"`` (convolutions in bfloat16 under autocast; losses, Grams
            and pixels stay float32) or ``"auto"`` (bf16 where the CPU or GPU computes it natively).

    Returns:
        A :class:`StyleResult` (``.image``, ``.history``, ``.settings``, ``.snapshots``).

    Shape:
        ``content`` ``(B, C, H, W)`` → ``image`` ``(B, 3, H', W')`` with the content's aspect ratio.
    """
    started = time.perf_counter()
    content_img = _as_image(content, "content")
    style_imgs = _styles(style)
    share = _blend(blend, len(style_imgs))
    if optimizer not in ("lbfgs", "adam"):
        raise InputError(f"optimizer must be 'lbfgs' or 'adam', got {optimizer!r}")
    if init not in ("content", "noise"):
        raise InputError(f"init must be 'content' or 'noise', got {init!r}")
    if steps < 1 or levels < 1 or snapshots < 0 or style_scale <= 0 or (size is not None and size < 16):
        raise InputError("steps and levels must be >= 1, snapshots >= 0, style_scale > 0 and size >= 16")
    if min(content_weight, style_weight, tv_weight) < 0:
        raise InputError("content_weight, style_weight and tv_weight must be non-negative")
    ex = extractor if isinstance(extractor, Extractor) else get_extractor(extractor, download=download)
    given = ex.weights == "given"
    from .._checks import model_device

    if given:
        target = model_device(ex.layers)
    else:
        target = torch.device(device) if device is not None else content_img.device
        ex = dataclasses.replace(ex, layers=ex.layers.to(target))
    bf16 = use_bf16(precision, target)
    c_layer = content_layer or ex.content_layer
    s_layers = tuple(style_layers) if style_layers is not None else ex.style_layers
    if not s_layers:
        raise InputError("give at least one style layer")
    weights = tuple(float(w) for w in style_weights) if style_weights is not None else None
    if weights is None:
        weights = ex.style_weights if style_layers is None else (1.0,) * len(s_layers)
    if len(weights) != len(s_layers):
        raise InputError(f"{len(s_layers)} style layers but {len(weights)} style weights; give one per layer")
    lr_value = float(lr) if lr is not None else (1.0 if optimizer == "lbfgs" else 0.02)

    content_img = content_img.to(target)
    style_imgs = [s.to(target) for s in style_imgs]
    full = content_img if size is None else resize_long_side(content_img, size)
    sizes = _level_sizes(full.shape[-2], full.shape[-1], levels)
    total_steps = steps * levels
    keep_at = {round((k + 1) * total_steps / snapshots) for k in range(snapshots)} if snapshots else set()
    history: dict[str, list[torch.Tensor]] = {k: [] for k in TERMS}
    shots: list[torch.Tensor] = []
    count = [0]

    def on_step(x: torch.Tensor, terms: dict[str, torch.Tensor]) -> None:
        count[0] += 1
        for k in TERMS:
            history[k].append(terms[k])
        if count[0] in keep_at:
            shot = x.detach().clamp(0, 1)
            shots.append(recolor(shot, level_content) if keep_colors else shot.clone())
        if callback is not None:
            callback(count[0], total_steps, {k: float(v) for k, v in terms.items()})

    tap = LayerTap(ex, [*s_layers, c_layer])
    result: torch.Tensor | None = None
    used_styles: list[torch.Tensor] = []
    with inspecting(ex.layers):
        for h, w in sizes:
            level_content = F.interpolate(full, size=(h, w), mode="bilinear", align_corners=False, antialias=True)
            level_styles = [resize_long_side(s, max(16, round(style_scale * max(h, w)))) for s in style_imgs]
            if keep_colors:
                level_styles = [match_luminance(s, level_content) for s in level_styles]
                optimized_content = luminance(level_content)
            else:
                optimized_content = level_content
            used_styles = level_styles
            targets = _targets(tap, optimized_content, level_styles, share, len(s_layers), bf16)
            if result is not None:
                start = F.interpolate(result, size=(h, w), mode="bilinear", align_corners=False)
                start = luminance(start) if keep_colors else start
            elif init == "noise":
                gen = torch.Generator().manual_seed(0 if seed is None else seed)
                start = torch.rand(optimized_content.shape, generator=gen).to(target)
            else:
                start = optimized_content
            out = _optimize(
                tap, start, targets, (content_weight, style_weight, tv_weight, weights), steps, optimizer, lr_value,
                on_step, bf16, line_search,
            )  # fmt: skip
            result = recolor(out, level_content) if keep_colors else out
    assert result is not None
    settings = StyleSettings(
        ex.label, c_layer, s_layers, weights, content_weight, style_weight, tv_weight, steps, optimizer, lr_value,
        init, seed, sizes[-1], levels, share, style_scale, keep_colors, str(target), time.perf_counter() - started,
        "bf16" if bf16 else "fp32",
    )  # fmt: skip
    return StyleResult(
        result, {k: torch.stack(v).cpu() for k, v in history.items()}, settings, tuple(shots), full.detach(),
        tuple(s.detach() for s in used_styles),
    )  # fmt: skip


__all__ = ["StyleResult", "StyleSettings", "style_transfer"]
