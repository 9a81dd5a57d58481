"""Speed of convlens's deletion/insertion curves against the forward-pass floor and a per-image loop.

Deletion and insertion with N steps for B images need 2·N·B forward passes of one image at
best (the two curves share their end points). In the same process, with the same model, images,
maps and steps, this times:

- ``floor``: the model alone on 2·N·B ready-made images, in the same batches as ours (no image
  building, no softmax): what any implementation must pay;
- ``ours``: :func:`convlens.trust.deletion_insertion` as a user calls it;
- ``per-image loop``: how such metrics are usually written (Quantus-style): for every image
  and every step, build the perturbed image and run the model on it alone. It is timed on
  ``--loop-images`` images and scaled to B (its cost is linear in the number of images; said
  in the output).

Each timing is the median of ``--repeats`` runs (the minimum in brackets), the order
alternating between repeats. Targets (issue 11): ours ≤ 1.2× the floor and ≥ 10× faster than
the per-image loop on mnist-cnn, B=256.

Run: ``.venv/bin/python bench/trust.py [--batch 256] [--steps 28] [--device cpu|cuda] [--threads 2]``
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from collections.abc import Callable

import torch

from convlens._hooks import inspecting
from convlens._runner import ModelRunner
from convlens.data.sample import sample_splits
from convlens.models import create_model
from convlens.trust import deletion_insertion, random_maps
from convlens.trust.faithfulness import copies_per_pass, pixel_ranks


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(fn: Callable[[], object], device: torch.device) -> float:
    _sync(device)
    start = time.perf_counter()
    fn()
    _sync(device)
    return time.perf_counter() - start


def per_image_loop(model: torch.nn.Module, x: torch.Tensor, maps: torch.Tensor, steps: int) -> torch.Tensor:
    """Deletion and insertion one image and one step at a time (the usual way)."""
    out = []
    pixels = x.shape[2] * x.shape[3]
    with torch.no_grad():
        for b in range(x.shape[0]):
            image = x[b : b + 1]
            order = maps[b].sum(0).flatten().argsort(descending=True, stable=True)
            cls = int(model(image).argmax(1))
            for insert in (False, True):
                for k in range(steps + 1):
                    mask = torch.zeros(pixels, dtype=torch.bool, device=x.device)
                    mask[order[: k * pixels // steps]] = True
                    mask = mask.view(1, 1, *x.shape[2:])
                    copy = torch.where(mask, image, 0.0) if insert else torch.where(mask, 0.0, image)
                    out.append(torch.softmax(model(copy), 1)[0, cls])
    return torch.stack(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--steps", type=int, default=28)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--loop-images", type=int, default=16)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    torch.manual_seed(0)
    model = create_model("mnist-cnn").to(device).eval()  # speed does not depend on the weights
    x, _ = sample_splits().test.batch(torch.arange(args.batch) * 3)
    x = x.to(device)
    maps = random_maps(x, seed=1)
    n, b = args.steps, args.batch

    # the floor: ready-made copies, same batches as ours
    with inspecting(model):
        run = ModelRunner(model, x)
        ranks = pixel_ranks(maps, x).view(b, 1, 28, 28)
        copies = torch.where(ranks < 392, x, 0.0).repeat(2 * n, 1, 1, 1)
        size = copies_per_pass(run, x, None)[0]

    def floor() -> None:
        with inspecting(model), torch.no_grad():
            for start in range(0, copies.shape[0], size):
                run(copies[start : start + size])

    def ours() -> None:
        deletion_insertion(model, x, maps, steps=n)

    sub = args.loop_images

    def loop() -> None:
        per_image_loop(model, x[:sub], maps[:sub], n)

    # correctness of the loop against ours (same curves)
    ref = deletion_insertion(model, x[:4], maps[:4], steps=n)
    lp = per_image_loop(model, x[:4], maps[:4], n).view(4, 2, n + 1)
    err = max(float((lp[:, 0] - ref.deletion).abs().max()), float((lp[:, 1] - ref.insertion).abs().max()))

    if device.type == "cuda":  # the device computes what the CPU computes
        cpu_model = create_model("mnist-cnn")
        cpu_model.load_state_dict({k: v.cpu() for k, v in model.state_dict().items()})
        on_cpu = deletion_insertion(cpu_model.eval(), x[:16].cpu(), maps[:16].cpu(), steps=n)
        on_dev = deletion_insertion(model, x[:16], maps[:16], steps=n)
        gap = float((on_cpu.deletion - on_dev.deletion.cpu()).abs().max())
        print(f"{device} curves agree with the CPU's to {gap:.1e}")

    fns = {"floor": floor, "ours": ours, "loop": loop}
    for fn in fns.values():  # warm-up
        fn()
    times: dict[str, list[float]] = {k: [] for k in fns}
    for r in range(args.repeats):
        for name in list(fns) if r % 2 == 0 else list(reversed(fns)):
            times[name].append(timed(fns[name], device))
    med = {k: statistics.median(v) for k, v in times.items()}
    low = {k: min(v) for k, v in times.items()}
    scale = b / sub
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, threads {args.threads}, "
          f"device {device}, torch {torch.__version__}, load {os.getloadavg()[0]:.1f}")  # fmt: skip
    print(f"mnist-cnn, B={b}, N={n} steps: 2·N·B = {2 * n * b} image forward passes; {size} copies per pass")
    print(f"per-image loop agrees with ours to {err:.1e}")
    print(f"floor            {1e3 * med['floor']:9.1f} ms ({1e3 * low['floor']:.1f})")
    print(f"ours             {1e3 * med['ours']:9.1f} ms ({1e3 * low['ours']:.1f})")
    print(f"per-image loop   {1e3 * med['loop'] * scale:9.1f} ms ({1e3 * low['loop'] * scale:.1f})  "
          f"[timed on {sub} images × {scale:.0f}]")  # fmt: skip
    r_floor = med["ours"] / med["floor"]
    r_loop = med["loop"] * scale / med["ours"]
    print(f"ours / floor     {r_floor:9.2f}  (target <= 1.2: {'met' if r_floor <= 1.2 else 'MISSED'})")
    print(f"loop / ours      {r_loop:9.1f}  (target >= 10: {'met' if r_loop >= 10 else 'MISSED'})")


if __name__ == "__main__":
    main()
