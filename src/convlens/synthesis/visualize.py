"""Class model visualization and channel/neuron maximization: images a network wants most.

Both optimize a batch of images by gradient ascent (all targets and seeds at once) with the
machinery of :mod:`convlens.synthesis._optimize`; the model is only read (eval mode, frozen
parameters, gradients with ``torch.autograd.grad`` on the images), and comes back exactly as given.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

from .._checks import LayerRef, model_device, resolve_layer
from .._hooks import inspecting
from .._outputs import OutputSpec
from .._runner import ModelRunner, model_dtype, outside_inference_mode
from ..errors import InputError
from ..registry import register_method
from ._optimize import Options, Progress, optimize, resolve_options, seed_list
from .presets import DEFAULT_PRESET, Preset

Targets = int | Sequence[int] | torch.Tensor
ImageSize = None | int | Sequence[int]


@dataclass(frozen=True)
class SynthesisResult:
    """Images synthesized for a set of targets (classes, channels or units) and seeds.

    Attributes:
        images: one image per (target, seed), targets outer, in [0,1], shape (N, C, H, W).
        history: the objective (score − λ‖I‖²) at each step for each image, shape (steps, N).
        targets: the class (or channel / unit) of each image, shape (N,).
        seeds: the seed of each image, shape (N,).
        score: the raw score (class logit or activation) of each returned image, shape (N,).
        probability: the softmax probability of each image's class (class visualization), else ``None``.
        predicted: the class the model predicts for each image (class visualization), else ``None``.
        objective: what was maximized, in words (``"class logit"``, ``"features.3 channel mean"``).
        options: the settings used (a preset with overrides).
        seconds: wall time of the optimization.
    """

    images: torch.Tensor
    history: torch.Tensor
    targets: torch.Tensor
    seeds: torch.Tensor
    score: torch.Tensor
    probability: torch.Tensor | None
    predicted: torch.Tensor | None
    objective: str
    options: Options
    seconds: float

    @property
    def preset(self) -> str:
        """The preset the settings started from."""
        return self.options.preset


def _image_size(model: nn.Module, image_size: ImageSize) -> tuple[int, int, int]:
    """``(C, H, W)`` from ``image_size`` (an int side, (H, W) or (C, H, W)) and the model's metadata."""
    from ..models.info import get_info

    info = get_info(model)
    if image_size is None:
        if info is None:
            raise InputError("this model carries no input size; pass image_size=(C, H, W), e.g. (3, 224, 224)")
        return tuple(info.input_size)  # type: ignore[return-value]
    dims = [image_size] if isinstance(image_size, int) else list(image_size)
    if len(dims) == 1:
        dims = [dims[0], dims[0]]
    if len(dims) == 2:
        channels = info.input_size[0] if info is not None else _first_conv_channels(model)
        dims = [channels, *dims]
    if len(dims) != 3 or any(isinstance(d, bool) or not isinstance(d, int) or d < 1 for d in dims):
        raise InputError(f"image_size must be a side, (H, W) or (C, H, W) of positive ints, got {image_size!r}")
    return dims[0], dims[1], dims[2]


def _first_conv_channels(model: nn.Module) -> int:
    for m in model.modules():
        if isinstance(m, nn.modules.conv._ConvNd):
            return int(m.in_channels)
    raise InputError("cannot tell how many channels the model's images have; pass image_size=(C, H, W)")


def _as_list(values: Targets, what: str) -> list[int]:
    if isinstance(values, bool):
        raise InputError(f"{what} must be an int or a sequence of ints, not a bool")
    if isinstance(values, torch.Tensor):
        values = values.reshape(-1).tolist()
    items = [values] if isinstance(values, int) else list(values)
    if not items or any(isinstance(v, bool) or not isinstance(v, int) for v in items):
        raise InputError(f"{what} must be an int or a non-empty sequence of ints, got {values!r}")
    return items


def _spread(targets: list[int], seeds: list[int], device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """Every (target, seed) pair, targets outer: shapes (N,) and (N,)."""
    t = torch.tensor(targets, dtype=torch.long).repeat_interleave(len(seeds))
    s = torch.tensor(seeds, dtype=torch.long).repeat(len(targets))
    return t.to(device), s


@register_method(
    "class-visualization", kind="synthesis", output="image",
    summary="the image each class wants most: gradient ascent on the raw class score with image priors",
    paper="Simonyan, Vedaldi & Zisserman 2014, Deep Inside Convolutional Networks",
)  # fmt: skip
@outside_inference_mode
def class_visualization(
    model: nn.Module, target: Targets, *, image_size: ImageSize = None, steps: int | None = None,
    lr: float | None = None, l2: float | None = None, blur_every: int | None = None, blur_sigma: float | None = None,
    jitter: int | None = None, start: str | None = None, preset: str | Preset = DEFAULT_PRESET,
    seed: int | Sequence[int] | None = None, output: OutputSpec = None, progress: Progress | None = None,
) -> SynthesisResult:  # fmt: skip
    """Images that maximize the raw score of each target class (class model visualization).

    Maximizes J(I) = S_c(I) − λ‖I‖² over images I in [0,1] (the class logit S_c, not the
    probability, so the image cannot win by lowering the other classes) with the preset's image
    priors: periodic Gaussian blur, random jitter and clamping (Simonyan et al. 2014; Yosinski
    et al. 2015) or a decorrelated Fourier parameterization with transformation robustness
    (Olah et al. 2017, the default). Options left at ``None`` take the preset's value.

    Args:
        model: a classifier of images in [0,1]; comes back exactly as given.
        target: one class or several; every (class, seed) pair is one image, all in ONE batch.
        image_size: side, (H, W) or (C, H, W); ``None`` reads it from the model's metadata.
        steps: optimization steps.
        lr: step size (pixel presets: RMS pixel change per step; ``fourier``: Adam's rate).
        l2: weight λ of the L2 penalty.
        blur_every: Gaussian blur every this many steps (pixel presets; 0 = never).
        blur_sigma: the blur's standard deviation in pixels.
        jitter: largest random shift per step, in pixels.
        start: ``"zeros"`` or ``"noise"``.
        preset: ``"simonyan2014"``, ``"yosinski2015"`` or ``"fourier"`` (see :mod:`.presets`).
        seed: an int, a sequence (one image per seed and class) or ``None`` (drawn from torch's RNG).
        output: where the logits are in the model's output.
        progress: called with the number of finished steps after each step.

    Returns:
        A :class:`SynthesisResult` with ``images``, ``history``, ``probability`` and ``predicted``.

    Shape:
        images: (len(target) · len(seed), C, H, W).
    """
    classes, seeds = _as_list(target, "target"), seed_list(seed)
    size = _image_size(model, image_size)
    opts = resolve_options(preset, size, steps=steps, lr=lr, l2=l2, blur_every=blur_every,
                           blur_sigma=blur_sigma, jitter=jitter, start=start)  # fmt: skip
    device, dtype = model_device(model), model_dtype(model)
    started = time.perf_counter()
    with inspecting(model):
        run = ModelRunner(model, torch.zeros(1, *size, device=device, dtype=dtype), output)
        with torch.no_grad():
            count = run(torch.zeros(1, *size, device=device, dtype=dtype)).shape[1]
        bad = [c for c in classes if not 0 <= c < count]
        if bad:
            raise InputError(f"target class {bad[0]} is out of range: the model has classes 0..{count - 1}")
        targets, seed_of = _spread(classes, seeds, device)
        index = targets[:, None]

        def objective(x: torch.Tensor) -> torch.Tensor:
            return run(x).gather(1, index)[:, 0]

        images, history = optimize(objective, size, seed_of.tolist(), opts, device=device, dtype=dtype,
                                   progress=progress)  # fmt: skip
        with torch.no_grad():
            logits = run(images)
    seconds = time.perf_counter() - started
    probs = logits.float().softmax(dim=1)
    return SynthesisResult(
        images, history, targets, seed_of, logits.gather(1, index)[:, 0], probs.gather(1, index)[:, 0],
        logits.argmax(dim=1), "class logit", opts, seconds,
    )  # fmt: skip


class _Stop(Exception):
    """Raised by the layer hook once the layer has run: the rest of the network is not needed."""


def _layer_shape(model: nn.Module, module: nn.Module, x: torch.Tensor) -> tuple[int, ...]:
    shape: list[tuple[int, ...]] = []

    def hook(_m: nn.Module, _i: object, out: object) -> None:
        if not isinstance(out, torch.Tensor) or out.dim() not in (2, 4):
            got = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
            raise InputError(f"the layer must return (B, C, h, w) or (B, F) activations, got {got}")
        shape.append(tuple(out.shape[1:]))
        raise _Stop

    handle = module.register_forward_hook(hook)
    try:
        with torch.no_grad():
            model(x)
    except _Stop:
        pass
    finally:
        handle.remove()
    if not shape:
        raise InputError("the layer did not run in a forward pass of the model; choose a layer that does")
    return shape[0]


def check_unit(
    model: nn.Module,
    layer: str | nn.Module,
    channel: Targets | None = None,
    neuron: object = None,
    image_size: ImageSize = None,
) -> list[int]:
    """Check what :func:`maximize` would maximize, with one forward pass stopped at the layer.

    An unknown layer lists the closest names; a channel out of range says the layer's count.

    Returns:
        The channel (or feature) indices.
    """
    name, module = resolve_layer(model, layer)
    with inspecting(model):
        units, _, _ = _layer_units(model, name, module, _image_size(model, image_size), channel, neuron)
    return units


def _layer_units(
    model: nn.Module, name: str, module: nn.Module, size: tuple[int, int, int], channel: Targets | None, neuron: object
) -> tuple[list[int], str, object]:
    """:func:`_units` of the layer's output shape, probed on one blank image (call under ``inspecting``)."""
    blank = torch.zeros(1, *size, device=model_device(model), dtype=model_dtype(model))
    return _units(_layer_shape(model, module, blank), name, channel, neuron)


def _units(shape: tuple[int, ...], name: str, channel: Targets | None, neuron: object) -> tuple[list[int], str, object]:
    """The channels (or features) to maximize, a description, and the position of a single unit."""
    count = shape[0]
    if len(shape) == 1:  # (B, F): a fully connected layer; channel and neuron both name a feature
        if channel is not None and neuron is not None:
            raise InputError(f"layer {name!r} is fully connected: give channel OR neuron (a feature index), not both")
        picked, what, where = (channel if channel is not None else neuron), f"{name} unit", None
    else:
        picked, what = channel, f"{name} channel mean"
        where = None
        if neuron is not None:
            h, w = shape[1:]
            where = (h // 2, w // 2) if neuron == "center" else tuple(neuron)  # type: ignore[arg-type]
            if len(where) != 2 or not (0 <= where[0] < h and 0 <= where[1] < w):
                raise InputError(f"neuron must be 'center' or (y, x) inside the {h}x{w} map of layer {name!r}")
            what = f"{name} unit at (y, x) = {where}"
    if picked is None:
        raise InputError(f"pass channel= (layer {name!r} has {count} channels, 0..{count - 1})")
    units = _as_list(picked, "channel")  # type: ignore[arg-type]
    bad = [u for u in units if not 0 <= u < count]
    if bad:
        raise InputError(f"channel {bad[0]} is out of range: layer {name!r} has {count} channels (0..{count - 1})")
    return units, what, where


@register_method(
    "maximize", kind="synthesis", output="image",
    summary="the image that most excites one channel or unit of an inner layer",
    paper="Erhan, Bengio, Courville & Vincent 2009, Visualizing Higher-Layer Features of a Deep Network; "
    "Olah, Mordvintsev & Schubert 2017, Feature Visualization",
)  # fmt: skip
@outside_inference_mode
def maximize(
    model: nn.Module, layer: LayerRef, *, channel: Targets | None = None, neuron: object = None,
    image_size: ImageSize = None, steps: int | None = None, lr: float | None = None, l2: float | None = None,
    blur_every: int | None = None, blur_sigma: float | None = None, jitter: int | None = None,
    start: str | None = None, preset: str | Preset = DEFAULT_PRESET, seed: int | Sequence[int] | None = None,
    progress: Progress | None = None,
) -> SynthesisResult:  # fmt: skip
    """Images that maximize a channel's mean activation or one unit of an inner layer.

    The same machinery and options as :func:`class_visualization`; the forward pass stops at the
    layer (the rest of the network is not run).

    Args:
        model: any model of images in [0,1]; comes back exactly as given.
        layer: a layer name or module with (B, C, h, w) or (B, F) output.
        channel: one channel or several (one image per channel and seed, in ONE batch); for a
            fully connected layer, the feature index.
        neuron: ``None`` (maximize the channel's mean), ``"center"`` or ``(y, x)``: the single unit
            of the channel at that position; for a fully connected layer, a feature index.
        image_size, steps, lr, l2, blur_every, blur_sigma, jitter, start, preset, seed, progress:
            as in :func:`class_visualization`.

    Returns:
        A :class:`SynthesisResult` (``probability`` and ``predicted`` are ``None``; ``score`` is the
        activation of each returned image).
    """
    name, module = resolve_layer(model, layer)
    seeds = seed_list(seed)
    size = _image_size(model, image_size)
    opts = resolve_options(preset, size, steps=steps, lr=lr, l2=l2, blur_every=blur_every,
                           blur_sigma=blur_sigma, jitter=jitter, start=start)  # fmt: skip
    device, dtype = model_device(model), model_dtype(model)
    started = time.perf_counter()
    with inspecting(model):
        units, what, where = _layer_units(model, name, module, size, channel, neuron)
        targets, seed_of = _spread(units, seeds, device)
        recorded: list[torch.Tensor] = []

        def hook(_m: nn.Module, _i: object, out: torch.Tensor) -> None:
            recorded.append(out)
            raise _Stop

        def objective(x: torch.Tensor) -> torch.Tensor:
            recorded.clear()
            try:
                model(x)
            except _Stop:
                pass
            act = recorded[0]
            if act.dim() == 2:
                return act.gather(1, targets[:, None])[:, 0]
            if where is not None:
                act = act[:, :, where[0], where[1]]  # type: ignore[index]
            else:
                act = act.mean(dim=(2, 3))
            return act.gather(1, targets[:, None])[:, 0]

        handle = module.register_forward_hook(hook)
        try:
            images, history = optimize(objective, size, seed_of.tolist(), opts, device=device, dtype=dtype,
                                       progress=progress)  # fmt: skip
            with torch.no_grad():
                score = objective(images)
        finally:
            handle.remove()
    return SynthesisResult(images, history, targets, seed_of, score, None, None, what, opts,
                           time.perf_counter() - started)  # fmt: skip


__all__ = ["SynthesisResult", "class_visualization", "maximize"]
