"""Seconds per optimization step of ``convlens.style.style_transfer`` against a tutorial-style loop.

The reference follows the structure of the PyTorch neural-style tutorial: a copy of the network
with non-inplace ReLUs, ContentLoss/StyleLoss modules inserted after the chosen layers (targets
computed once, while building), the copy trimmed after the last loss module, frozen parameters,
and L-BFGS whose closure clamps the image, runs the model, sums the losses and calls
``backward``. Its loss weights are set so that it minimizes EXACTLY the same objective as
convlens (relative content and style terms; no total variation on either side), so the final
losses compare directly; both final images are re-scored with one float32 evaluator.

Both use the same extractor, image pair, size and number of evaluations, in the same process,
alternating. convlens runs twice: ``fp32`` (channels-last, truncated network, one forward per
evaluation) and ``auto`` (bfloat16 convolutions where the hardware has them).

Run: ``.venv/bin/python bench/style.py [--size 256] [--steps 20] [--device cpu|cuda] [--extractor vgg16]``
(on a GPU: ``--device cuda --size 512 --steps 300``).
"""

from __future__ import annotations

import argparse
import copy
import statistics
import time

import torch
import torch.nn.functional as F
from torch import nn

from convlens.data.transforms import Normalize
from convlens.style import LayerTap, gram_matrix, sample_image, style_transfer
from convlens.style.colors import resize_long_side
from convlens.style.extractors import VGG_URLS, Extractor, _vgg_layers, cached_weights, get_extractor


def bench_extractor(name: str) -> Extractor:
    """The named extractor; VGG with random weights (fixed seed) when its published file is not cached."""
    if name in VGG_URLS and cached_weights(VGG_URLS[name]) is None:
        torch.manual_seed(0)
        style = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
        mean, std = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
        return Extractor(name, _vgg_layers(name), mean, std, "relu4_2", style, (1.0,) * 5, "random")
    return get_extractor(name, download=False)


# --------------------------------------------------------------------------- the tutorial loop


class ContentLoss(nn.Module):
    def __init__(self, target: torch.Tensor, weight: float) -> None:
        super().__init__()
        self.target, self.weight = target.detach(), weight
        self.loss = torch.zeros(())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.loss = self.weight * F.mse_loss(x, self.target)
        return x


def tutorial_gram(x: torch.Tensor) -> torch.Tensor:
    a, b, c, d = x.size()
    features = x.view(a * b, c * d)
    return torch.mm(features, features.t()).div(a * b * c * d)


class StyleLoss(nn.Module):
    def __init__(self, target_feature: torch.Tensor, weight: float) -> None:
        super().__init__()
        self.target, self.weight = tutorial_gram(target_feature).detach(), weight
        self.loss = torch.zeros(())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.loss = self.weight * F.mse_loss(tutorial_gram(x), self.target)
        return x


def tutorial_model(ex: Extractor, content: torch.Tensor, style: torch.Tensor, style_weight: float):
    """A copy of the network with loss modules inserted; weights chosen to match convlens' objective."""
    cnn = copy.deepcopy(ex.layers)
    model = nn.Sequential(Normalize(ex.mean, ex.std).to(content.device))
    content_losses, style_losses = [], []
    for name, layer in cnn.named_children():
        model.add_module(name, nn.ReLU(inplace=False) if isinstance(layer, nn.ReLU) else layer)
        if name == ex.content_layer:
            target = model(content).detach()
            loss = ContentLoss(target, target.numel() / float(target.pow(2).sum()))  # = Σ(F-P)² / ΣP²
            model.add_module(f"content_loss_{name}", loss)
            content_losses.append(loss)
        if name in ex.style_layers:
            feats = model(style).detach()
            gram = tutorial_gram(feats)
            loss = StyleLoss(feats, style_weight * gram.numel() / float(gram.pow(2).sum()))  # = w·Σ(G-A)² / ΣA²
            model.add_module(f"style_loss_{name}", loss)
            style_losses.append(loss)
    last = max(i for i, m in enumerate(model) if isinstance(m, (ContentLoss, StyleLoss)))
    return model[: last + 1], content_losses, style_losses


def run_tutorial(
    ex: Extractor, content: torch.Tensor, style: torch.Tensor, steps: int, style_weight: float, same: bool
):
    """The tutorial's loop. ``same``: convlens' L-BFGS settings (strong-Wolfe line search, no clamping
    between steps) so that both run one algorithm; otherwise the tutorial's (no line search, the
    image clamped before every evaluation)."""
    model, content_losses, style_losses = tutorial_model(ex, content, style, style_weight)
    x = content.clone().requires_grad_(True)
    model.eval()
    model.requires_grad_(False)
    # one iteration per optimizer.step (the state carries over between calls), history as convlens'
    optimizer = torch.optim.LBFGS([x], max_iter=1, history_size=50, line_search_fn="strong_wolfe" if same else None)
    stamps: list[tuple[float, float]] = []
    losses: list[float] = []

    def closure() -> torch.Tensor:
        if not same:
            with torch.no_grad():
                x.clamp_(0, 1)
        optimizer.zero_grad()
        model(x)
        loss = sum(sl.loss for sl in style_losses) + sum(cl.loss for cl in content_losses)
        loss.backward()
        losses.append(loss.item())
        stamps.append((time.perf_counter(), time.process_time()))
        return loss

    while len(stamps) < steps:
        optimizer.step(closure)  # with a line search an iteration may take several evaluations
    with torch.no_grad():
        x.clamp_(0, 1)
    return x.detach(), stamps, losses


# --------------------------------------------------------------------------- convlens


def run_convlens(ex, content, style, steps, style_weight, precision, line_search=True):
    stamps: list[tuple[float, float]] = []
    losses: list[float] = []

    def callback(step, total, terms):
        losses.append(terms["total"])
        stamps.append((time.perf_counter(), time.process_time()))

    result = style_transfer(
        content, style, extractor=ex, steps=steps, style_weight=style_weight, tv_weight=0.0,
        precision=precision, callback=callback, line_search=line_search,
    )  # fmt: skip
    return result.image, stamps, losses, result.settings.precision


def objective(ex: Extractor, image, content, style, style_weight: float) -> float:
    """convlens' objective (relative content + style terms), in float32, for any image."""
    layers = [*ex.style_layers, ex.content_layer]
    with torch.no_grad():
        tap = LayerTap(ex, layers).to(image.device)
        fi, fc, fs = tap(image), tap(content), tap(style)
        total = (fi[-1] - fc[-1]).pow(2).sum() / fc[-1].pow(2).sum()
        for a, b in zip(fi[:-1], fs[:-1], strict=True):
            target = gram_matrix(b)
            total += style_weight * (gram_matrix(a) - target).pow(2).sum() / target.pow(2).sum()
    return float(total)


def per_step(stamps: list[tuple[float, float]], column: int) -> float:
    """Seconds per evaluation after the first (wall clock, or this process's CPU time)."""
    return (stamps[-1][column] - stamps[0][column]) / (len(stamps) - 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--extractor", default="vgg16", help="vgg16, vgg19, squeezenet1_1 or random")
    parser.add_argument("--style-weight", type=float, default=20.0)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: leave the default)")
    parser.add_argument(
        "--tutorial-optimizer", choices=["same", "tutorial"], default="same",
        help="same: the tutorial loop uses convlens' L-BFGS settings; tutorial: its own (clamping, no line search)",
    )  # fmt: skip
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    ex = bench_extractor(args.extractor)
    ex = Extractor(**{**ex.__dict__, "layers": ex.layers.to(device)})
    content = resize_long_side(sample_image("hopper"), args.size).to(device)
    # the tutorial needs both images at one size
    style = F.interpolate(sample_image("ihc"), size=content.shape[-2:], mode="bilinear", antialias=True).to(device)
    name = f"{ex.name} ({'published' if ex.weights == 'published' else 'random'} weights)"
    threads = torch.get_num_threads()
    print(f"{name}, content {tuple(content.shape[-2:])}, {args.steps} steps, {device}, threads {threads}, "
          f"tutorial optimizer: {args.tutorial_optimizer}")  # fmt: skip
    keys = ("tutorial", "convlens fp32", "convlens auto", "convlens auto, no line search")
    times: dict[str, list[float]] = {k: [] for k in keys}
    cpu: dict[str, list[float]] = {k: [] for k in keys}
    final: dict[str, float] = {}
    runs: dict[str, str] = {}
    for _ in range(args.repeats):
        same = args.tutorial_optimizer == "same"
        image, stamps, _ = run_tutorial(ex, content, style, args.steps, args.style_weight, same)
        times["tutorial"].append(per_step(stamps, 0))
        cpu["tutorial"].append(per_step(stamps, 1))
        final["tutorial"] = objective(ex, image, content, style, args.style_weight)
        runs["tutorial"] = f"{len(stamps)} evaluations"
        for precision, search in (("fp32", True), ("auto", True), ("auto", False)):
            image, stamps, _, used = run_convlens(ex, content, style, args.steps, args.style_weight, precision, search)
            key = f"convlens {precision}" + ("" if search else ", no line search")
            times[key].append(per_step(stamps, 0))
            cpu[key].append(per_step(stamps, 1))
            final[key] = objective(ex, image, content, style, args.style_weight)
            runs[key] = f"{len(stamps)} evaluations, {used} convolutions"
    ref, ref_cpu = statistics.median(times["tutorial"]), statistics.median(cpu["tutorial"])
    print(
        f"{'loop':30s} {'s/step':>8s} {'speed-up':>9s} {'CPU s/step':>11s} {'speed-up':>9s} "
        f"{f'{args.steps} steps (s)':>14s} {'final loss':>11s}  notes"
    )
    for key in keys:
        t, c = statistics.median(times[key]), statistics.median(cpu[key])
        print(
            f"{key:30s} {t:8.4f} {ref / t:8.2f}x {c:11.4f} {ref_cpu / c:8.2f}x {t * args.steps:14.1f} "
            f"{final[key]:11.4f}  {runs[key]}"
        )


if __name__ == "__main__":
    main()
