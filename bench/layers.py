"""Forward time of convlens' from-scratch Conv2d (fast and reference) against ``torch.nn.Conv2d``.

The shapes are those of every convolution in ``mnist-cnn`` and ``cifar-cnn`` (found by running
each model once with hooks), at batch 64, in inference mode. Each of our two implementations
is timed against ``torch.nn.Conv2d`` side by side, with the same weights and input, in the same
process: a round runs ``nn.Conv2d`` ``--inner`` times and ours ``--inner`` times back to back
(which goes first alternates; each block starts with one untimed call, so that neither pays
for the memory the other just freed) and records each one's mean per call. Reported per shape:

* the median over rounds of each one's time, in ms;
* **ratio**: the median over rounds of (ours / nn.Conv2d) within the same round — the two
  runs of a round are a few milliseconds apart, so on a shared machine they see about the
  same load from other processes;
* **best**: the fastest round of ours over the fastest round of nn.Conv2d, a floor that other
  processes can only raise.

The whole models (``torch.nn`` against ``convlens.layers.convert(model)``) are timed the same
way. For comparison, the plain vectorization (``F.unfold`` + one matmul, used nowhere in
convlens) is timed on each shape too. Target: fast Conv2d within 2.0x of ``torch.nn.Conv2d`` on 2 CPU threads.

Run: ``.venv/bin/python bench/layers.py [--threads 2] [--batch 64] [--rounds 40] [--inner 5] [--json PATH]``
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from collections.abc import Callable

import torch
from torch import nn
from torch.nn import functional as F

from convlens.layers import Conv2d, convert
from convlens.models import create_model

MODELS = ("mnist-cnn", "cifar-cnn")


def conv_inputs(model: nn.Module, batch: int, input_size: tuple[int, int, int]) -> list[tuple[str, nn.Conv2d, tuple]]:
    """``(name, layer, input shape)`` of every ``nn.Conv2d`` in ``model`` for a batch of ``batch``."""
    found: list[tuple[str, nn.Conv2d, tuple]] = []
    handles = [
        module.register_forward_hook(lambda m, args, out, name=name: found.append((name, m, tuple(args[0].shape))))
        for name, module in model.named_modules()
        if isinstance(module, nn.Conv2d)
    ]
    try:
        with torch.inference_mode():
            model(torch.rand(batch, *input_size))
    finally:
        for handle in handles:
            handle.remove()
    return found


def paired(default: Callable[[], object], own: Callable[[], object], rounds: int, inner: int) -> dict[str, float]:
    """Time ``own`` against ``default`` round by round; see the module docstring for the figures."""
    for _ in range(3):  # warm-up
        default()
        own()
    times: tuple[list[float], list[float]] = ([], [])
    for r in range(rounds):
        order = ((0, default), (1, own)) if r % 2 == 0 else ((1, own), (0, default))
        for index, run in order:
            run()  # untimed: lets the allocator settle after the other variant's buffers
            start = time.perf_counter()
            for _ in range(inner):
                run()
            times[index].append((time.perf_counter() - start) / inner)
    ratios = [b / a for a, b in zip(*times, strict=False)]
    return {
        "default_ms": 1e3 * statistics.median(times[0]), "own_ms": 1e3 * statistics.median(times[1]),
        "ratio": statistics.median(ratios), "best": min(times[1]) / min(times[0]),
    }  # fmt: skip


def unfold_matmul(layer: nn.Conv2d, x: torch.Tensor) -> torch.Tensor:
    """The textbook vectorization the issue measured: ``F.unfold`` + one matmul (groups 1 only)."""
    out_channels, _, kh, kw = layer.weight.shape
    cols = F.unfold(x, (kh, kw), layer.dilation, layer.padding, layer.stride)  # (B, C*kh*kw, L)
    out = layer.weight.view(out_channels, -1) @ cols + layer.bias.view(1, -1, 1)
    h = (x.shape[2] + 2 * layer.padding[0] - layer.dilation[0] * (kh - 1) - 1) // layer.stride[0] + 1
    return out.view(x.shape[0], out_channels, h, -1)


def measure(default: Callable[[], object], fast: Callable[[], object], reference: Callable[[], object],
            args: argparse.Namespace, plain: Callable[[], object] | None = None) -> dict[str, float]:  # fmt: skip
    """Fast, reference (and plain unfold) against the default; the slower ones get fewer rounds."""
    f = paired(default, fast, args.rounds, args.inner)
    r = paired(default, reference, max(5, args.rounds // 4), 1)
    out = {"nn_ms": f["default_ms"], "fast_ms": f["own_ms"], "fast_ratio": f["ratio"], "fast_best": f["best"],
           "reference_ms": r["own_ms"], "reference_ratio": r["ratio"], "reference_best": r["best"]}  # fmt: skip
    if plain is not None:
        u = paired(default, plain, max(5, args.rounds // 4), 1)
        out.update({"unfold_ms": u["own_ms"], "unfold_ratio": u["ratio"]})
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=40)
    parser.add_argument("--inner", type=int, default=5)
    parser.add_argument("--json", default=None, help="also write the figures to this JSON file")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {platform.machine()}, batch {args.batch}, "
          f"{args.rounds} rounds x {args.inner} calls")  # fmt: skip
    rows = []
    print(
        "| layer | input | nn.Conv2d ms | fast ms | fast / nn | best | reference ms | reference / nn "
        "| F.unfold+matmul / nn |"
    )
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|")
    for model_name in MODELS:
        model = create_model(model_name)
        for name, layer, shape in conv_inputs(model, args.batch, model.convlens_info.input_size):
            x = torch.rand(shape)
            fast = Conv2d.from_torch(layer, "fast")
            reference = Conv2d.from_torch(layer, "reference")
            with torch.inference_mode():
                for own in (fast, reference, lambda x: unfold_matmul(layer, x)):
                    torch.testing.assert_close(own(x), layer(x), rtol=1e-4, atol=1e-4)
                t = measure(lambda: layer(x), lambda: fast(x), lambda: reference(x), args,
                            plain=lambda: unfold_matmul(layer, x))  # fmt: skip
            kh, kw = layer.kernel_size
            label = (f"{model_name} {name} ({layer.in_channels}->{layer.out_channels}, {kh}x{kw}, "
                     f"pad {layer.padding[0]})")  # fmt: skip
            rows.append({"model": model_name, "layer": name, "input": list(shape), **t})
            print(f"| {label} | {'x'.join(map(str, shape))} | {t['nn_ms']:.3f} | {t['fast_ms']:.3f} | "
                  f"{t['fast_ratio']:.2f}x | {t['fast_best']:.2f}x | {t['reference_ms']:.3f} | "
                  f"{t['reference_ratio']:.2f}x | {t['unfold_ratio']:.2f}x |")  # fmt: skip
    print()
    print("| model (whole forward) | torch.nn ms | convert(fast) ms | ratio | best | convert(reference) ms | ratio |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for model_name in MODELS:
        model = create_model(model_name)
        fast, reference = convert(model, implementation="fast"), convert(model, implementation="reference")
        x = torch.rand(args.batch, *model.convlens_info.input_size)
        with torch.inference_mode():
            t = measure(lambda: model(x), lambda: fast(x), lambda: reference(x), args)
        rows.append({"model": model_name, "layer": "(whole model)", "input": list(x.shape), **t})
        print(f"| {model_name} | {t['nn_ms']:.3f} | {t['fast_ms']:.3f} | {t['fast_ratio']:.2f}x | "
              f"{t['fast_best']:.2f}x | {t['reference_ms']:.3f} | {t['reference_ratio']:.2f}x |")  # fmt: skip
    if args.json:
        with open(args.json, "w", encoding="utf-8") as handle:
            json.dump({"threads": args.threads, "batch": args.batch, "rounds": args.rounds, "inner": args.inner,
                       "torch": torch.__version__, "rows": rows}, handle, indent=2)  # fmt: skip


if __name__ == "__main__":
    main()
