"""Speed of convlens's attribution methods against the model's own forward+backward and Captum.

For each model and method, in the same process, with the same inputs, targets and method
settings (window, stride, fill, steps, quadrature, samples, noise, layer, interpolation), it times:

- ``fwd+bwd``: one forward pass plus one backward pass computing the gradients of the target
  scores with respect to the input AND every parameter, on the same images;
- ``ours``: the convlens method as a user calls it (default batching: copies per forward pass
  bounded by convlens's memory budget);
- ``ours, Captum's batching``: for integrated gradients, occlusion and SmoothGrad, convlens given
  the same number of copies per forward pass as Captum's default (all steps / all samples at once,
  one patch position per pass) — this is the comparison at fully equal settings;
- ``Captum``: Captum's equivalent as a user calls it.

Captum equivalents: Saliency(abs=True) + max over channels; GuidedBackprop; LayerGradCam
(relu_attributions=True) + LayerAttribution.interpolate(bilinear); GuidedGradCam(bilinear);
IntegratedGradients (Gauss-Legendre, convlens's quadrature too); Occlusion (window (C,w,w),
stride (C,s,s), baseline 0); NoiseTunnel(Saliency(abs=True), smoothgrad, stdevs = noise × the
batch's value range; convlens uses each image's range, and the inputs span [0,1]) + max over
channels.

Every function first runs once on one image (warm-up); then the functions of a method run in
turn, the order alternating every repeat so that load from other processes hits all alike. Each
cell shows the median of ``--repeats`` runs or more (cheap methods get up to 15 within
``--budget`` seconds) and, in brackets, the minimum (on a shared machine
the minimum is the better estimate of the uncontended cost). Targets are judged on the medians.
The Captum calls here give the same maps as convlens (checked: max difference < 1e-6 of the
maps' scale), except SmoothGrad, whose random noise differs. Targets (issue 4): every gradient method at most
Captum's time; Grad-CAM at most 0.5× fwd+bwd; guided Grad-CAM at most 0.7× Captum; occlusion and
integrated gradients at least 1.3× faster than Captum.

Run: ``.venv/bin/python bench/attribution.py [--repeats 3] [--models mnist-cnn,squeezenet1_1]``
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import nn

from convlens import attribution as A
from convlens.models import create_model, last_conv_name

try:
    from captum import attr as C
except ImportError as exc:  # pragma: no cover - the bench needs the test extra
    raise SystemExit(f"bench/attribution.py needs captum (pip install -e '.[test]'): {exc}") from None

GRADIENT_METHODS = {"saliency", "guided-backprop", "grad-cam", "guided-grad-cam", "integrated-gradients", "smoothgrad"}
Fn = Callable[[], object]
MAX_ROUNDS = 15


@dataclass
class Setting:
    """What one model is benchmarked with: B images for single-pass methods, fewer for the heavy ones."""

    batch: int
    heavy_batch: int
    ig_steps: int = 50
    window: int = 8
    stride: int = 4
    occ_batch: int | None = None  # default heavy_batch
    samples: int = 25
    noise: float = 0.15
    notes: list[str] = field(default_factory=list)


def settings_for(name: str, device: torch.device) -> Setting:
    """Batch sizes and method settings per model; the CPU ones keep the run near 3 minutes."""
    gpu = device.type == "cuda"
    if name == "mnist-cnn":
        if gpu:
            return Setting(batch=256, heavy_batch=256)
        s = Setting(batch=256, heavy_batch=64, ig_steps=8, samples=8)
        s.notes.append(
            "CPU: single-pass methods on 256 images; integrated gradients (8 steps, not 50), occlusion "
            "and SmoothGrad (8 samples, not 25) on 64 images, to fit the time budget"
        )
        return s
    if gpu:
        return Setting(batch=64, heavy_batch=16, window=32, stride=16)
    s = Setting(batch=16, heavy_batch=2, ig_steps=4, window=56, stride=56, occ_batch=1, samples=4)
    s.notes.append(
        "CPU: single-pass methods on 16 images; integrated gradients (4 steps) and SmoothGrad "
        "(4 samples) on 2 images, occlusion (56×56 window, stride 56: 16 patches) on 1 image, so that "
        "each heavy call costs about half a batch-16 forward(+backward)"
    )
    return s


@dataclass
class Case:
    """One method: its functions and what the table says about it."""

    method: str
    settings: str
    images: int
    ours: Fn
    captum: Fn
    ours_same: Fn | None = None  # ours with Captum's default batching, where ours' default differs


def cases(model: nn.Module, x: torch.Tensor, target: torch.Tensor, s: Setting, layer_name: str) -> list[Case]:
    """One :class:`Case` per method, on ``x`` (the heavy methods on its first images)."""
    from convlens.attribution._common import batch_size_for

    layer = dict(model.named_modules())[layer_name]
    channels, size = x.shape[1], tuple(x.shape[-2:])
    b = x.shape[0]
    per_image = activation_elements(model, x[:1])
    grad_auto = batch_size_for(None, per_image, grad=True)
    nograd_auto = batch_size_for(None, per_image, grad=False)
    out = [
        Case("saliency", f"B={b}", b, lambda: A.saliency(model, x, target),
             lambda: C.Saliency(model).attribute(x, target=target, abs=True).amax(1, keepdim=True)),
        Case("guided-backprop", f"B={b}", b, lambda: A.guided_backprop(model, x, target),
             lambda: C.GuidedBackprop(model).attribute(x, target=target)),
        Case("grad-cam", f"B={b}, layer {layer_name}, bilinear", b,
             lambda: A.grad_cam(model, x, target, layer=layer_name),
             lambda: C.LayerAttribution.interpolate(
                 C.LayerGradCam(model, layer).attribute(x, target=target, relu_attributions=True), size, "bilinear")),
        Case("guided-grad-cam", f"B={b}, layer {layer_name}, bilinear", b,
             lambda: A.guided_grad_cam(model, x, target, layer=layer_name),
             lambda: C.GuidedGradCam(model, layer).attribute(x, target=target, interpolate_mode="bilinear")),
    ]  # fmt: skip

    bi = min(s.heavy_batch, b)
    xi, ti = x[:bi], target[:bi]
    ig = C.IntegratedGradients(model)
    out.append(Case(
        "integrated-gradients",
        f"B={bi}, {s.ig_steps} steps Gauss-Legendre; ours {grad_auto} copies/pass, Captum {bi * s.ig_steps} (all)", bi,
        lambda: A.integrated_gradients(model, xi, ti, steps=s.ig_steps),
        lambda: ig.attribute(xi, baselines=0.0, target=ti, n_steps=s.ig_steps, method="gausslegendre"),
        lambda: A.integrated_gradients(model, xi, ti, steps=s.ig_steps, batch_size=bi * s.ig_steps),
    ))  # fmt: skip

    bo = min(s.occ_batch or s.heavy_batch, b)
    xo, to = x[:bo], target[:bo]
    out.append(Case(
        "occlusion",
        f"B={bo}, window {s.window}, stride {s.stride}, fill 0; ours {nograd_auto} copies/pass, Captum {bo}",
        bo, lambda: A.occlusion(model, xo, to, window=s.window, stride=s.stride),
        lambda: C.Occlusion(model).attribute(
            xo, sliding_window_shapes=(channels, s.window, s.window), strides=(channels, s.stride, s.stride),
            baselines=0.0, target=to),
        lambda: A.occlusion(model, xo, to, window=s.window, stride=s.stride, batch_size=bo),
    ))  # fmt: skip

    bs = min(s.heavy_batch, b)
    xs, ts = x[:bs], target[:bs]
    sigma = s.noise * float(xs.max() - xs.min())
    out.append(Case(
        "smoothgrad",
        f"B={bs}, {s.samples} samples, noise {s.noise}; ours {grad_auto} copies/pass, "
        f"Captum {bs * s.samples} (all)",
        bs, lambda: A.smoothgrad(model, xs, ts, samples=s.samples, noise=s.noise, seed=0),
        lambda: C.NoiseTunnel(C.Saliency(model)).attribute(
            xs, nt_type="smoothgrad", nt_samples=s.samples, stdevs=sigma, target=ts, abs=True).amax(1, keepdim=True),
        lambda: A.smoothgrad(model, xs, ts, samples=s.samples, noise=s.noise, seed=0, batch_size=bs * s.samples),
    ))  # fmt: skip
    # where ours' default batching already equals Captum's, one "ours" run is enough
    same_batching = {"integrated-gradients": grad_auto >= bi * s.ig_steps, "occlusion": nograd_auto == bo,
                     "smoothgrad": grad_auto >= bs * s.samples}  # fmt: skip
    for case in out:
        if same_batching.get(case.method, False):
            case.ours_same = None
    return out


def activation_elements(model: nn.Module, x1: torch.Tensor) -> int:
    """Activation elements one image produces (what convlens sizes its batches by)."""
    from convlens._hooks import activation_size

    with torch.no_grad(), activation_size(model) as total:
        model(x1)
    return max(1, total[0])


def forward_backward(model: nn.Module, x: torch.Tensor, target: torch.Tensor) -> Fn:
    """The model's own forward + backward (input and parameter gradients)."""
    params = [p for p in model.parameters() if p.requires_grad]

    def run() -> object:
        xin = x.detach().clone().requires_grad_(True)
        score = model(xin).gather(1, target[:, None]).sum()
        return torch.autograd.grad(score, [xin, *params])

    return run


def forward(model: nn.Module, x: torch.Tensor) -> Fn:
    def run() -> object:
        with torch.no_grad():
            return model(x)

    return run


def timed(fn: Fn, device: torch.device) -> float:
    """Seconds one call takes (synchronising the GPU)."""
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    fn()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - start


def race(
    fns: dict[str, Fn], repeats: int, device: torch.device, budget_s: float = 0.0
) -> tuple[dict[str, float], dict[str, float]]:
    """Median and minimum milliseconds of each function over interleaved rounds (order alternating).

    Runs at least ``repeats`` rounds, and more (up to MAX_ROUNDS) while the rounds so far took
    less than ``budget_s`` in all: cheap methods get more samples on a noisy machine.
    """
    times: dict[str, list[float]] = {k: [] for k in fns}
    spent, r = 0.0, 0
    while r < repeats or (spent < budget_s and r < MAX_ROUNDS):
        for key in list(fns) if r % 2 == 0 else list(reversed(fns)):
            took = timed(fns[key], device)
            times[key].append(took)
            spent += took
        r += 1
    return ({k: 1000 * statistics.median(v) for k, v in times.items()}, {k: 1000 * min(v) for k, v in times.items()})


def checks(method: str, ours: float, fb: float, captum: float) -> list[tuple[str, bool]]:
    """Issue 4's targets that apply to this method (at equal settings), each with whether it was met."""
    out = []
    if method in GRADIENT_METHODS:
        out.append(("≤ Captum", ours <= captum))
    if method == "grad-cam":
        out.append(("≤ 0.5× fwd+bwd", ours <= 0.5 * fb))
    if method == "guided-grad-cam":
        out.append(("≤ 0.7× Captum", ours <= 0.7 * captum))
    if method in ("occlusion", "integrated-gradients"):
        out.append(("≥ 1.3× faster than Captum", captum >= 1.3 * ours))
    return out


def verdict(method: str, med: dict[str, float], low: dict[str, float]) -> str:
    """Targets judged on the medians; where the minimums disagree, they are named too."""
    equal = "same" if "same" in med else "ours"
    by_median = checks(method, med[equal], med["fwd+bwd"], med["captum"])
    by_min = checks(method, low[equal], low["fwd+bwd"], low["captum"])
    parts = []
    for (name, ok), (_, ok_min) in zip(by_median, by_min, strict=False):
        text = f"{name}: {'met' if ok else 'MISSED'}"
        if ok_min != ok:
            text += f" (by min: {'met' if ok_min else 'missed'})"
        parts.append(text)
    return "; ".join(parts)


def cell(med: dict[str, float], low: dict[str, float], key: str) -> str:
    return f"{med[key]:.1f} ({low[key]:.1f})"


def ratio(med: dict[str, float], low: dict[str, float], a: str, b: str) -> str:
    return f"{med[a] / med[b]:.2f} ({low[a] / low[b]:.2f})"


def bench_model(name: str, device: torch.device, repeats: int, budget: float) -> list[list[str]]:
    torch.manual_seed(0)
    model = create_model(name).to(device).eval()
    s = settings_for(name, device)
    c, h, w = model.convlens_info.input_size  # type: ignore[union-attr]
    x = torch.rand(s.batch, c, h, w, device=device)
    with torch.no_grad():
        target = model(x).argmax(1)
    layer = last_conv_name(model)
    assert layer is not None
    started = time.perf_counter()
    for case in cases(model, x[:1], target[:1], s, layer):  # warm-up: every code path once, cheaply
        for fn in (case.ours, case.captum, case.ours_same):
            if fn is not None:
                fn()
    med, low = race({"fwd": forward(model, x), "fwd+bwd": forward_backward(model, x, target)}, repeats, device, budget)
    print(f"# {name}: B={s.batch}: forward {cell(med, low, 'fwd')} ms, "
          f"forward+backward {cell(med, low, 'fwd+bwd')} ms, "
          f"forward/fwd+bwd {ratio(med, low, 'fwd', 'fwd+bwd')}", flush=True)  # fmt: skip
    rows = []
    for case in cases(model, x, target, s, layer):
        fns = {"fwd+bwd": forward_backward(model, x[: case.images], target[: case.images]),
               "ours": case.ours, "captum": case.captum}  # fmt: skip
        if case.ours_same is not None:
            fns["same"] = case.ours_same
        med, low = race(fns, repeats, device, budget)
        equal = "same" if "same" in med else "ours"
        rows.append([
            name, case.method, case.settings, cell(med, low, "fwd+bwd"), cell(med, low, "ours"),
            cell(med, low, "same") if "same" in med else "(as ours)", cell(med, low, "captum"),
            ratio(med, low, "ours", "fwd+bwd"), ratio(med, low, equal, "captum"), ratio(med, low, "ours", "captum"),
            verdict(case.method, med, low),
        ])  # fmt: skip
        print("| " + " | ".join(rows[-1]) + " |", flush=True)
    print(f"# {name}: {time.perf_counter() - started:.0f} s, load average {load()}", flush=True)
    for note in s.notes:
        print(f"# note: {note}", flush=True)
    return rows


def machine(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=False).stdout
        model = next((line.split(":", 1)[1].strip() for line in out.splitlines() if line.startswith("Model name")), "")
    except OSError:
        model = ""
    return f"{model or platform.processor() or 'unknown CPU'}, {torch.get_num_threads()} threads"


def load() -> str:
    """The 1, 5 and 15 minute load averages (other processes on a shared machine skew timings)."""
    try:
        return " ".join(f"{v:.1f}" for v in os.getloadavg())
    except OSError:
        return "n/a"


HEADER = [
    "model", "method", "settings", "fwd+bwd ms", "ours ms", "ours, Captum's batching ms", "Captum ms",
    "ours/fwd+bwd", "ours/Captum (equal settings)", "ours/Captum (each default)", "targets (equal settings)",
]  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="at least this many rounds per method")
    parser.add_argument(
        "--budget",
        type=float,
        default=4.0,
        help=f"more rounds (up to {MAX_ROUNDS}) while a method's rounds took less than this many seconds",
    )
    parser.add_argument("--models", default="mnist-cnn,squeezenet1_1")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    args = parser.parse_args()
    if args.device == "auto":
        device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    else:
        device = torch.device(args.device)
    if device.type == "cpu":
        torch.set_num_threads(args.threads)
    import warnings

    warnings.filterwarnings("ignore", module="captum")  # its "Setting backward hooks on ReLU" notices
    print(f"# machine: {machine(device)}; torch {torch.__version__}; captum {__import__('captum').__version__}; "
          f"median (min) of {args.repeats}+ runs, ms; load average before: {load()}")  # fmt: skip
    started = time.perf_counter()
    rows = []
    for name in args.models.split(","):
        rows += bench_model(name.strip(), device, args.repeats, args.budget)
    print(f"\n# total {time.perf_counter() - started:.0f} s; load average after: {load()}")
    print("| " + " | ".join(HEADER) + " |")
    print("|" + "---|" * len(HEADER))
    for row in rows:
        print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
