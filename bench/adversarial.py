"""Speed of convlens's attacks, and the measured effect of adversarial training.

``--part speed`` (default), for ``mnist-cnn`` (B=256) and ``squeezenet1_1`` (B=16 on the CPU, 64
on a GPU), in one process on the same images and labels, times:

- ``floor``: 10 × (one forward + one backward of the cross-entropy to the INPUT only, parameters
  frozen), in the model's fastest layout: the least work any 10-step PGD must do;
- ``ours``: ``convlens.adversarial.pgd`` with 10 steps, no random start (so both do identical
  arithmetic), L∞, eps 8/255 (squeezenet) or 0.3 (mnist), step 2.5·eps/10; it includes the
  fresh forward pass that re-checks success;
- ``torchattacks``: ``torchattacks.PGD`` at the same eps, step, steps and random_start=False
  (installed with ``pip install --no-deps torchattacks``);
- fooling images for 64 digits (mnist-cnn): batched (one call) against one call per image.

Goals (issue 9, CPU): ours ≤ 0.8 × torchattacks, ours ≤ 1.1 × floor. Each cell is the median
of ``--repeats`` interleaved runs (minimum in brackets).

``--part training`` trains ``mnist-cnn`` on the bundled sample twice with the same seed and
epochs, plainly and adversarially (``--adv-method fgsm-rs|pgd``, ``--adv-eps``), and evaluates
both on the sample's test images with PGD (``--eval-steps`` steps, ``--restarts`` random
restarts, L∞) at several budgets: clean accuracy, robust accuracy, and the time of each run.

Run: ``.venv/bin/python bench/adversarial.py [--part speed|training|all] [--device cpu|cuda]``
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from collections.abc import Callable

import torch
from torch import nn
from torch.nn import functional as F

import convlens.adversarial as A
from convlens._hooks import inspecting
from convlens._runner import ModelRunner
from convlens.models import create_model

Fn = Callable[[], object]


def timed(fns: dict[str, Fn], repeats: int, device: torch.device) -> dict[str, list[float]]:
    """Run every function once (warm-up), then ``repeats`` rounds, alternating the order."""
    times: dict[str, list[float]] = {k: [] for k in fns}
    for fn in fns.values():
        fn()
    names = list(fns)
    for r in range(repeats):
        for name in names if r % 2 == 0 else names[::-1]:
            if device.type == "cuda":
                torch.cuda.synchronize()
            t0 = time.perf_counter()
            fns[name]()
            if device.type == "cuda":
                torch.cuda.synchronize()
            times[name].append(time.perf_counter() - t0)
    return times


def floor_fn(model: nn.Module, x: torch.Tensor, y: torch.Tensor, steps: int) -> Fn:
    """``steps`` forward+backward passes to the input, parameters frozen, fastest layout."""

    def run() -> object:
        with inspecting(model):
            runner = ModelRunner(model, x)
            for _ in range(steps):
                leaf = runner.layout(x).requires_grad_(True)
                loss = F.cross_entropy(runner(leaf), y, reduction="sum")
                torch.autograd.grad(loss, leaf)
        return None

    return run


def cell(values: list[float]) -> str:
    return f"{statistics.median(values) * 1e3:.1f} ({min(values) * 1e3:.1f})"


def speed(device: torch.device, repeats: int, models: list[str]) -> None:
    try:
        import torchattacks
    except ImportError as exc:  # pragma: no cover
        raise SystemExit(f"the speed part needs torchattacks (pip install --no-deps torchattacks): {exc}") from None
    print("| model | batch | floor: 10×fwd+bwd ms | ours PGD-10 ms | torchattacks PGD-10 ms | ours/floor | "
          "ours/torchattacks | images/s ours | images/s torchattacks |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|")
    for name in models:
        torch.manual_seed(0)
        model = create_model(name).to(device).eval()
        if name == "mnist-cnn":
            batch, eps = 256, 0.3
            from convlens.data import sample_splits

            x, y = sample_splits().test.batch(slice(0, batch))
        else:
            batch, eps = (64 if device.type == "cuda" else 16), 8 / 255
            x = torch.rand(batch, 3, 224, 224, generator=torch.Generator().manual_seed(0))
            y = torch.randint(0, 1000, (batch,), generator=torch.Generator().manual_seed(1))
        x, y = x.to(device), y.to(device)
        step = 2.5 * eps / 10
        theirs = torchattacks.PGD(model, eps=eps, alpha=step, steps=10, random_start=False)
        fns = {
            "floor": floor_fn(model, x, y, 10),
            "ours": lambda m=model, x=x, y=y, e=eps, s=step: A.pgd(
                m, x, y, eps=e, step=s, steps=10, random_start=False
            ),
            "torchattacks": lambda t=theirs, x=x, y=y: t(x, y),
        }
        t = timed(fns, repeats, device)
        med = {k: statistics.median(v) for k, v in t.items()}
        print(f"| {name} | {batch} | {cell(t['floor'])} | {cell(t['ours'])} | {cell(t['torchattacks'])} | "
              f"{med['ours'] / med['floor']:.2f} | {med['ours'] / med['torchattacks']:.2f} | "
              f"{batch / med['ours']:.0f} | {batch / med['torchattacks']:.0f} |", flush=True)  # fmt: skip
    if "mnist-cnn" in models:
        fooling(device, repeats)


def fooling(device: torch.device, repeats: int) -> None:
    from convlens.data import sample_splits
    from convlens.train import TrainConfig, fit

    data = sample_splits()
    torch.manual_seed(0)
    model = create_model("mnist-cnn")
    fit(model, data, TrainConfig(epochs=1), device=device, progress=False)
    x, y = data.test.batch(slice(0, 64 * 15, 15))
    x, y = x.to(device), y.to(device)
    target = (y + 3) % 10
    fns = {
        "batched": lambda: A.fooling_image(model, x, target),
        "one at a time": lambda: [A.fooling_image(model, x[i : i + 1], target[i : i + 1]) for i in range(len(x))],
    }
    t = timed(fns, repeats, device)
    ratio = statistics.median(t["one at a time"]) / statistics.median(t["batched"])
    print(f"\nfooling images, 64 digits, mnist-cnn (1 epoch): batched {cell(t['batched'])} ms, "
          f"one at a time {cell(t['one at a time'])} ms: batched is {ratio:.1f}× faster")  # fmt: skip


def training(device: torch.device, args: argparse.Namespace) -> None:
    from convlens.data import sample_splits
    from convlens.train import TrainConfig, fit

    data = sample_splits()
    eps_list = [float(e) for e in args.eval_eps.split(",")]
    test = (
        data.test
        if args.eval_images <= 0
        else data.test.subset(torch.arange(0, len(data.test), max(1, len(data.test) // args.eval_images)))
    )
    adv = A.AdversarialTraining(method=args.adv_method, eps=args.adv_eps, steps=args.adv_steps)
    rows = []
    for label, config in (("plain", TrainConfig(epochs=args.epochs)),
                          (f"adversarial ({adv.method}, eps {adv.eps})",
                           TrainConfig(epochs=args.epochs, adversarial=adv))):  # fmt: skip
        torch.manual_seed(0)
        model = create_model("mnist-cnn")
        t0 = time.perf_counter()
        result = fit(model, data, config, device=device, progress=False)
        train_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        curve = A.robustness(model, test, "pgd", eps_list, steps=args.eval_steps, restarts=args.restarts, seed=0,
                             progress=False)  # fmt: skip
        eval_s = time.perf_counter() - t0
        rows.append((label, result.test_accuracy, curve, train_s, eval_s))
        print(
            f"{label}: test accuracy {result.test_accuracy:.2%} (all {len(data.test)}), train {train_s:.0f}s, "
            f"robustness eval {eval_s:.0f}s: " + ", ".join(f"eps {e:g}: {a:.1%}" for e, a in curve.rows()),
            flush=True,
        )
    print(f"\n| model | clean test accuracy ({len(data.test)}) | " + " | ".join(f"PGD eps {e:g}" for e in eps_list)
          + " | train s | eval s |")  # fmt: skip
    print("|---|---|" + "---|" * len(eps_list) + "---|---|")
    for label, acc, curve, train_s, eval_s in rows:
        print(f"| {label} | {acc:.1%} | " + " | ".join(f"{a:.1%}" for a in curve.accuracy.tolist())
              + f" | {train_s:.0f} | {eval_s:.0f} |")  # fmt: skip
    print(f"(robust accuracy on {len(test)} test images: PGD L∞, {args.eval_steps} steps of 2.5·eps/{args.eval_steps}, "
          f"random start, {args.restarts} restarts, eps 0 = clean)")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", choices=["speed", "training", "all"], default="speed")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--models", default="mnist-cnn,squeezenet1_1", help="speed part: models to time")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--adv-method", default="fgsm-rs")
    parser.add_argument("--adv-eps", type=float, default=0.3)
    parser.add_argument("--adv-steps", type=int, default=7)
    parser.add_argument("--eval-eps", default="0,0.05,0.1,0.2,0.3")
    parser.add_argument("--eval-steps", type=int, default=20)
    parser.add_argument("--restarts", type=int, default=3)
    parser.add_argument("--eval-images", type=int, default=500, help="test images for robustness (0: all 1,000)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    print(f"# {platform.processor() or platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}, "
          f"device {device}, threads {args.threads}, load {os.getloadavg()[0]:.1f}")  # fmt: skip
    if args.part in ("speed", "all"):
        speed(device, args.repeats, args.models.split(","))
    if args.part in ("training", "all"):
        training(device, args)
    print(f"# load {os.getloadavg()[0]:.1f} at the end")


if __name__ == "__main__":
    main()
