"""Speed of batched class visualization: against one class at a time, and against the model's raw
forward+backward at the same batch, in the same run.

For each preset, ten classes are optimized (a) in ONE batch with ``class_visualization``, (b) one
class per call, ten calls, and (c) a hand-written loop that only runs the model forward and takes
the input gradient of the class scores (eval mode, frozen weights: the least any method must do per
step) on a batch of ten. Repeats are interleaved so machine noise hits all alike; medians are
printed, minima in brackets. Goals (CPU, mnist-cnn): (a) >= 5x faster than (b); (a) per step
within 1.2x of (c).

Run: ``.venv/bin/python bench/synthesis.py [--model mnist-cnn|squeezenet1_1] [--device cpu|cuda]
[--steps 50] [--repeats 3] [--threads 2] [--presets fourier,yosinski2015,simonyan2014]``
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import torch

from convlens._hooks import inspecting
from convlens.models import create_model
from convlens.synthesis import class_visualization, list_presets


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def timed(fn: Callable[[], object], device: torch.device) -> float:
    _sync(device)
    start = time.perf_counter()
    fn()
    _sync(device)
    return time.perf_counter() - start


def raw_steps(model: torch.nn.Module, size: tuple[int, ...], classes: int, steps: int, device: torch.device) -> None:
    """The reference: forward + input gradient of the class scores, ``steps`` times, plain ascent."""
    target = torch.arange(classes, device=device)[:, None]
    x = torch.zeros(classes, *size, device=device)
    with inspecting(model):
        for _ in range(steps):
            x.requires_grad_(True)
            (grad,) = torch.autograd.grad(model(x).gather(1, target).sum(), x)
            x = (x.detach() + 0.01 * grad).clamp_(0, 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="mnist-cnn")
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--classes", type=int, default=10)
    parser.add_argument("--presets", default=",".join(p.name for p in list_presets()))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(("cuda" if torch.cuda.is_available() else "cpu") if args.device == "auto" else args.device)
    torch.manual_seed(0)
    model = create_model(args.model).to(device).eval()  # random weights: the cost does not depend on them
    size = tuple(model.convlens_info.input_size)
    classes, steps = list(range(args.classes)), args.steps
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU, {args.threads} threads"
    print(f"{args.model} {'x'.join(map(str, size))}, {len(classes)} classes, {steps} steps, {name}")
    for preset in args.presets.split(","):
        batched = lambda p=preset: class_visualization(model, classes, preset=p, steps=steps, seed=0)  # noqa: E731
        single = lambda p=preset: [class_visualization(model, c, preset=p, steps=steps, seed=0) for c in classes]  # noqa: E731
        raw = lambda: raw_steps(model, size, len(classes), steps, device)  # noqa: E731
        for fn in (batched, single, raw):  # warm-up (layout probe, allocator, kernels)
            timed(fn, device)
        times: dict[str, list[float]] = {"batched": [], "single": [], "raw": []}
        for _ in range(args.repeats):
            for key, fn in (("batched", batched), ("single", single), ("raw", raw)):
                times[key].append(timed(fn, device))
        med = {k: statistics.median(v) for k, v in times.items()}
        low = {k: min(v) for k, v in times.items()}
        print(
            f"{preset:13s} batched {steps / med['batched']:7.1f} steps/s ({med['batched'] * 1e3 / steps:.2f} ms/step)"
            f" | one class at a time {steps * len(classes) / med['single']:7.1f} image-steps/s"
            f" | speed-up {med['single'] / med['batched']:5.2f}x ({low['single'] / low['batched']:.2f}x)"
            f" | raw fwd+bwd {med['raw'] * 1e3 / steps:.2f} ms/step"
            f" | step / raw {med['batched'] / med['raw']:4.2f}x ({low['batched'] / low['raw']:.2f}x)"
        )


if __name__ == "__main__":
    main()
