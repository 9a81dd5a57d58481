"""Build the from-scratch twin of a network and measure it against the original."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import torch
from torch import nn

from .._checks import check_images, model_device
from .._hooks import eval_mode
from ..errors import InputError
from ..models.info import get_info
from .conv import Conv2d
from .convert import convert
from .linear import Linear

EVAL_BATCH = 256  # images per forward pass when measuring accuracy and differences


@dataclass(frozen=True)
class DiffStats:
    """How far apart two models' outputs are on the same inputs.

    Attributes:
        images: number of inputs compared.
        mean_abs: mean absolute difference over all output values (logits).
        max_abs: largest absolute difference.
        same_prediction: fraction of inputs on which both predict the same class.
    """

    images: int
    mean_abs: float
    max_abs: float
    same_prediction: float


@dataclass(frozen=True)
class LayersComparison:
    """A network against its twin built from :mod:`convlens.layers` (see :func:`compare_layers`).

    Attributes:
        model_name: registry name, or the model's class name.
        implementation: the convolution implementation of the twin.
        replaced: ``(layer name, description)`` of every replaced layer.
        random: output differences on random inputs in [0,1].
        real: output differences on the real images, or ``None`` when none were given.
        data_name: where the real images came from.
        accuracy_default: accuracy of the original on the real images (``None`` without labels).
        accuracy_own: accuracy of the twin on the same images.
        time_default_ms: mean time of one forward pass of the original, in milliseconds.
        time_own_ms: the same for the twin.
        time_default_median_ms: median of the original's times.
        time_own_median_ms: median of the twin's times.
        timing_batch: images per timed forward pass.
        repeats: timed passes of each model.
        threads: ``torch.get_num_threads()`` during the timing.
        device: where the models ran.
        weights: what the weights are (a checkpoint path, or "untrained ...").
        notes: remarks for the reader (untrained weights, no real data, ...).
    """

    model_name: str
    implementation: str
    replaced: tuple[tuple[str, str], ...]
    random: DiffStats
    real: DiffStats | None
    data_name: str
    accuracy_default: float | None
    accuracy_own: float | None
    time_default_ms: float
    time_own_ms: float
    time_default_median_ms: float
    time_own_median_ms: float
    timing_batch: int
    repeats: int
    threads: int
    device: str
    weights: str = ""
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def time_ratio(self) -> float:
        """Mean forward time of the twin divided by the original's (own/default)."""
        return self.time_own_ms / self.time_default_ms if self.time_default_ms > 0 else float("nan")

    def to_dict(self) -> dict[str, object]:
        """Every figure as plain JSON-ready values (``time_ratio`` included)."""
        out = asdict(self)
        out["time_ratio"] = self.time_ratio
        return out

    def lines(self) -> list[str]:
        """The figures as lines of text for a terminal."""
        lines = [
            f"{self.model_name}: {len(self.replaced)} layers rebuilt with convlens.layers "
            f"({self.implementation} convolution): " + ", ".join(name for name, _ in self.replaced),
        ]
        if self.weights:
            lines.append(f"weights: {self.weights}")
        lines.append(_diff_line("random inputs", self.random))
        if self.real is not None:
            lines.append(_diff_line(self.data_name, self.real))
        if self.accuracy_default is not None and self.accuracy_own is not None and self.real is not None:
            lines.append(
                f"accuracy on {self.data_name} ({self.real.images} images): torch.nn {self.accuracy_default:.2%}, "
                f"convlens.layers {self.accuracy_own:.2%}"
            )
        lines.append(
            f"inference time, batch {self.timing_batch}, {self.threads} thread(s), mean of {self.repeats}: "
            f"torch.nn {self.time_default_ms:.2f} ms, convlens.layers {self.time_own_ms:.2f} ms, "
            f"ratio own/default {self.time_ratio:.2f}x"
        )
        lines += [f"note: {note}" for note in self.notes]
        return lines


def _diff_line(what: str, diff: DiffStats) -> str:
    return (
        f"output difference on {what} ({diff.images} images): mean |Δ| {diff.mean_abs:.3g}, "
        f"max |Δ| {diff.max_abs:.3g}, same prediction {diff.same_prediction:.2%}"
    )


def compare_layers(
    model: nn.Module,
    images: torch.Tensor | None = None,
    labels: torch.Tensor | None = None,
    *,
    implementation: str = "fast",
    input_size: tuple[int, int, int] | None = None,
    random_images: int = 64,
    timing_batch: int = 64,
    repeats: int = 20,
    data_name: str = "real test images",
    weights: str = "",
    notes: tuple[str, ...] = (),
    seed: int = 0,
) -> LayersComparison:
    """Rebuild ``model`` with :func:`~convlens.layers.convert` and measure the twin against it.

    Both models run in eval mode without gradients; ``model`` comes back exactly as it was.

    Args:
        model: any CNN; its ``nn.Linear``/``nn.Conv2d`` layers are the ones replaced.
        images: real images in [0,1] to compare on (optional).
        labels: their classes, for the accuracy of both models (optional).
        implementation: ``"fast"`` or ``"reference"`` convolution in the twin.
        input_size: ``(C, H, W)`` of the random inputs; default the size recorded by
            :func:`convlens.models.create_model`.
        random_images: number of random inputs (uniform in [0,1]).
        timing_batch: images per timed forward pass.
        repeats: timed forward passes of each model, alternating between the two (each after
            an untimed one).
        data_name: what the real images are, for the text (counts are added where needed).
        weights: what the weights are, for the text.
        notes: remarks carried into the result.
        seed: seed of the random inputs.

    Returns:
        The differences, accuracies and times.

    Shape:
        ``images`` ``(N, C, H, W)``; ``labels`` ``(N,)``.
    """
    size = _input_size(model, input_size, images)
    for name, value in (("random_images", random_images), ("timing_batch", timing_batch), ("repeats", repeats)):
        if value < 1:
            raise InputError(f"{name} must be at least 1, got {value}")
    if images is not None:
        check_images(images, "images")
        if labels is not None and (labels.dim() != 1 or len(labels) != len(images)):
            raise InputError(f"labels must have shape ({len(images)},), got {tuple(labels.shape)}")
    device = model_device(model)
    twin = convert(model, implementation=implementation).eval()
    replaced = _replaced_layers(twin)
    gen = torch.Generator().manual_seed(seed)
    random_input = torch.rand(random_images, *size, generator=gen).to(device)
    timing_input = torch.rand(timing_batch, *size, generator=gen).to(device)

    with eval_mode(model), torch.inference_mode():
        random_diff, _, _ = _differences(model, twin, random_input, None)
        real_diff = acc_default = acc_own = None
        if images is not None:
            real_diff, acc_default, acc_own = _differences(model, twin, images, labels)
        times_default, times_own = _time_pair(model, twin, timing_input, repeats)
    info = get_info(model)
    return LayersComparison(
        model_name=info.name if info is not None else type(model).__name__, implementation=implementation,
        replaced=replaced, random=random_diff, real=real_diff, data_name=data_name,
        accuracy_default=acc_default, accuracy_own=acc_own,
        time_default_ms=1e3 * statistics.fmean(times_default), time_own_ms=1e3 * statistics.fmean(times_own),
        time_default_median_ms=1e3 * statistics.median(times_default),
        time_own_median_ms=1e3 * statistics.median(times_own),
        timing_batch=timing_batch, repeats=repeats, threads=torch.get_num_threads(), device=str(device),
        weights=weights, notes=tuple(notes),
    )  # fmt: skip


def _input_size(
    model: nn.Module, input_size: tuple[int, int, int] | None, images: torch.Tensor | None
) -> tuple[int, int, int]:
    if input_size is not None:
        if len(input_size) != 3 or min(input_size) < 1:
            raise InputError(f"input_size must be (C, H, W) with positive entries, got {input_size}")
        return tuple(int(v) for v in input_size)  # type: ignore[return-value]
    info = get_info(model)
    if info is not None:
        return info.input_size
    if images is not None and images.dim() == 4:
        return tuple(images.shape[1:])  # type: ignore[return-value]
    raise InputError("pass input_size=(C, H, W): the model was not built by convlens, so its input size is unknown")


def _replaced_layers(twin: nn.Module) -> tuple[tuple[str, str], ...]:
    rows = []
    for name, module in twin.named_modules():
        if isinstance(module, Conv2d):
            kh, kw = module.kernel_size
            rows.append((name, f"Conv2d {module.in_channels}->{module.out_channels} {kh}x{kw}"))
        elif isinstance(module, Linear):
            rows.append((name, f"Linear {module.in_features}->{module.out_features}"))
    return tuple(rows)


def _differences(
    model: nn.Module, twin: nn.Module, images: torch.Tensor, labels: torch.Tensor | None
) -> tuple[DiffStats, float | None, float | None]:
    """Output differences (and accuracies when labels are given), in batches."""
    device = model_device(model)
    total = maximum = 0.0
    values = same = right_default = right_own = 0
    for start in range(0, len(images), EVAL_BATCH):
        x = images[start : start + EVAL_BATCH].to(device)
        a, b = model(x), twin(x)
        if a.shape != b.shape:
            raise InputError(f"the twin returned shape {tuple(b.shape)} instead of {tuple(a.shape)}")
        delta = (a.double() - b.double()).abs()
        total += float(delta.sum())
        maximum = max(maximum, float(delta.max()))
        values += delta.numel()
        pa, pb = a.flatten(1).argmax(1), b.flatten(1).argmax(1)
        same += int((pa == pb).sum())
        if labels is not None:
            y = labels[start : start + EVAL_BATCH].to(device)
            right_default += int((pa == y).sum())
            right_own += int((pb == y).sum())
    n = len(images)
    stats = DiffStats(images=n, mean_abs=total / max(values, 1), max_abs=maximum, same_prediction=same / n)
    if labels is None:
        return stats, None, None
    return stats, right_default / n, right_own / n


def _time_pair(
    first: Callable[[torch.Tensor], object], second: Callable[[torch.Tensor], object], x: torch.Tensor, repeats: int
) -> tuple[list[float], list[float]]:
    """Seconds per forward pass of each model, measured side by side in alternating order.

    Each timed pass follows an untimed one of the same model: switching models changes what the
    memory allocator has cached, and the first pass after a switch would pay for it.
    """
    sync = torch.cuda.synchronize if x.is_cuda else (lambda: None)
    for _ in range(2):  # warm-up: allocator, caches, lazy initialisation
        first(x)
        second(x)
    times: tuple[list[float], list[float]] = ([], [])
    for r in range(repeats):
        order = ((0, first), (1, second)) if r % 2 == 0 else ((1, second), (0, first))
        for index, run in order:
            run(x)  # untimed: neither model pays for memory the other one just freed
            sync()
            start = time.perf_counter()
            run(x)
            sync()
            times[index].append(time.perf_counter() - start)
    return times
