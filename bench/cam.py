"""Speed of the CAM family and the perturbation engine against torchcam (and pytorch-grad-cam).

For each model, in the same process, on the same images, targets and layer, it times:

- one Grad-CAM, and the five gradient CAMs (Grad-CAM, Grad-CAM++, XGrad-CAM, LayerCAM,
  HiRes-CAM) computed together (one shared forward/backward pass, as ``explain`` does), and
  the same five through torchcam (one forward/backward each; torchcam has no HiRes-CAM, so its
  Grad-CAM is counted twice);
- Grad-CAM for the top-5 classes of each image against Grad-CAM for one class;
- Score-CAM against torchcam's ScoreCAM with its default ``batch_size=32`` (convlens both
  with its memory-sized default chunks and with 32 copies per pass: the equal-settings figure);
- images per second of Ablation-CAM, Shap-CAM, RISE and occlusion (no peer has Shap-CAM; the
  others are there to show the engine's throughput);
- pytorch-grad-cam, when it can be imported (it needs torchvision and OpenCV: without them the
  table says so and the ratios are against torchcam only).

Models: ``squeezenet1_1`` (convlens's own, random weights) and a ResNet-50-shaped network
defined here (bottleneck blocks 3-4-6-3, no torchvision); ``--width`` scales its channels
(the CPU default 0.25 keeps a Score-CAM run within minutes: layer4 then has 512 channels).
Every function runs once first (warm-up); then functions alternate, ``--repeats`` times; each
cell is the median (minimum in brackets).

Run: ``.venv/bin/python bench/cam.py [--device cuda] [--repeats 3] [--size 112]``
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
import warnings
from collections.abc import Callable

import torch
from torch import nn

from convlens import attribution as A
from convlens.attribution._camgrad import sharing_passes
from convlens.models import create_model

try:
    import torchcam.methods as TC
except ImportError as exc:  # pragma: no cover - the bench needs the test extra
    raise SystemExit(f"bench/cam.py needs torchcam (pip install -e '.[test]'): {exc}") from None

try:  # pytorch-grad-cam imports torchvision and OpenCV at import time
    import pytorch_grad_cam as PGC  # type: ignore[import-not-found]

    PGC_ERROR = ""
except Exception as exc:  # noqa: BLE001 - any import failure means: not benchmarked
    PGC, PGC_ERROR = None, f"{type(exc).__name__}: {exc}"


class Bottleneck(nn.Module):
    """1×1 reduce, 3×3, 1×1 expand (×4), with a projection shortcut where the shape changes."""

    def __init__(self, inplanes: int, planes: int, stride: int) -> None:
        super().__init__()
        out = planes * 4
        self.conv1 = nn.Conv2d(inplanes, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, out, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(out)
        self.relu = nn.ReLU(inplace=True)
        self.down = None
        if stride != 1 or inplanes != out:
            self.down = nn.Sequential(nn.Conv2d(inplanes, out, 1, stride=stride, bias=False), nn.BatchNorm2d(out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.relu(self.bn1(self.conv1(x)))
        h = self.relu(self.bn2(self.conv2(h)))
        h = self.bn3(self.conv3(h))
        return self.relu(h + (x if self.down is None else self.down(x)))


class ResNet50Shaped(nn.Module):
    """ResNet-50's layout (stem, bottleneck stages 3-4-6-3, global pool, linear), channels × ``width``."""

    def __init__(self, width: float = 1.0, classes: int = 1000) -> None:
        super().__init__()
        base = max(8, int(64 * width))
        self.stem = nn.Sequential(
            nn.Conv2d(3, base, 7, stride=2, padding=3, bias=False), nn.BatchNorm2d(base), nn.ReLU(inplace=True),
            nn.MaxPool2d(3, stride=2, padding=1),
        )  # fmt: skip
        stages, inplanes = [], base
        for i, blocks in enumerate((3, 4, 6, 3)):
            planes = base * 2**i
            layers = []
            for j in range(blocks):
                layers.append(Bottleneck(inplanes, planes, 2 if j == 0 and i > 0 else 1))
                inplanes = planes * 4
            stages.append(nn.Sequential(*layers))
        self.layer1, self.layer2, self.layer3, self.layer4 = stages
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(inplanes, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.layer4(self.layer3(self.layer2(self.layer1(self.stem(x)))))
        return self.fc(torch.flatten(self.pool(x), 1))


def build(name: str, width: float, device: torch.device) -> tuple[nn.Module, str]:
    torch.manual_seed(0)
    if name == "squeezenet1_1":
        return create_model("squeezenet1_1").to(device).eval(), "features.12"
    model = ResNet50Shaped(width).to(device).eval()
    for m in model.modules():  # non-trivial BatchNorm statistics, so activations are not degenerate
        if isinstance(m, nn.BatchNorm2d):
            m.running_var.uniform_(0.5, 1.5)
    return model, "layer4"


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(fns: dict[str, Callable[[], object]], repeats: int, device: torch.device) -> dict[str, list[float]]:
    """Seconds per call of each function: one warm-up each, then ``repeats`` alternating rounds."""
    for fn in fns.values():
        fn()
    sync(device)
    times: dict[str, list[float]] = {k: [] for k in fns}
    names = list(fns)
    for r in range(repeats):
        for k in names if r % 2 == 0 else reversed(names):
            start = time.perf_counter()
            fns[k]()
            sync(device)
            times[k].append(time.perf_counter() - start)
    return times


def torchcam_fn(cls: type, model: nn.Module, layer: str, x: torch.Tensor, classes: list[int], **kw: object):
    def run() -> torch.Tensor:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with cls(model, target_layer=layer, input_shape=tuple(x.shape[1:]), **kw) as extractor:
                scores = model(x)
                return extractor(class_idx=classes, scores=scores, normalized=False)[0]

    return run


def pgc_fn(cls_name: str, model: nn.Module, layer: str, x: torch.Tensor, classes: list[int], **kw: object):
    assert PGC is not None
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget  # type: ignore[import-not-found]

    module = dict(model.named_modules())[layer]
    targets = [ClassifierOutputTarget(c) for c in classes]

    def run() -> object:
        with getattr(PGC, cls_name)(model=model, target_layers=[module], **kw) as cam:
            return cam(input_tensor=x, targets=targets)

    return run


def fmt(ts: list[float], images: int) -> str:
    med, low = statistics.median(ts), min(ts)
    return f"{images / med:9.2f} img/s ({med * 1e3:8.1f} ms, min {low * 1e3:8.1f})"


def bench_model(name: str, args: argparse.Namespace, device: torch.device) -> list[str]:
    gpu = device.type == "cuda"
    width = args.width if args.width is not None else (1.0 if gpu else 0.25)
    size = args.size if args.size is not None else (224 if gpu else 112)
    model, layer = build(name, width, device)
    gen = torch.Generator().manual_seed(1)
    batch = args.batch if args.batch is not None else (32 if gpu else 4)
    x = torch.rand(batch, 3, size, size, generator=gen).to(device)
    with torch.no_grad():
        classes = model(x).argmax(1).tolist()
    target = torch.tensor(classes, device=device)
    heavy = args.heavy_batch if args.heavy_batch is not None else (8 if gpu else 1)
    xh, th, ch = x[:heavy], target[:heavy], classes[:heavy]
    lines = [f"### {name} (width {width:g}, {size}×{size}, layer {layer}, batch {batch}; heavy methods on {heavy})", ""]

    five = (A.grad_cam, A.grad_cam_pp, A.xgrad_cam, A.layer_cam, A.hires_cam)

    def five_together() -> None:
        with sharing_passes():
            for f in five:
                f(model, x, target, layer=layer)

    tc_five = [torchcam_fn(c, model, layer, x, classes) for c in (TC.GradCAM, TC.GradCAMpp, TC.XGradCAM, TC.LayerCAM)]
    fns: dict[str, Callable[[], object]] = {
        "grad-cam (one class)": lambda: A.grad_cam(model, x, target, layer=layer),
        "five gradient CAMs together": five_together,
        "grad-cam top-5 classes": lambda: A.grad_cam(model, x, top=5, layer=layer),
        "explain(five CAMs)": lambda: A.explain(
            model, x, ["grad-cam", "grad-cam++", "xgrad-cam", "layer-cam", "hires-cam"], target, layer=layer
        ),
        "torchcam grad-cam": tc_five[0],
        "torchcam five CAMs": lambda: [f() for f in tc_five + tc_five[:1]],
    }
    if PGC is not None:
        fns["pytorch-grad-cam grad-cam"] = pgc_fn("GradCAM", model, layer, x, classes)
    t = timed(fns, args.repeats, device)
    med = {k: statistics.median(v) for k, v in t.items()}
    one = med["grad-cam (one class)"]
    five_r, explain_r = med["five gradient CAMs together"] / one, med["explain(five CAMs)"] / one
    top_r = med["grad-cam top-5 classes"] / one
    lines += ["| gradient CAMs | speed |", "| --- | --- |"]
    lines += [f"| {k} | {fmt(v, batch)} |" for k, v in t.items()]
    lines += [
        "",
        f"- five gradient CAMs together / one Grad-CAM: **{five_r:.2f}×** (goal ≤ 1.3×); "
        f"via explain (adds its prediction pass): {explain_r:.2f}×",
        f"- Grad-CAM top-5 classes / one class: **{top_r:.2f}×** (goal ≤ 2×)",
        f"- torchcam's five CAMs / ours together: {med['torchcam five CAMs'] / med['five gradient CAMs together']:.2f}×; "  # noqa: E501
        f"torchcam Grad-CAM / ours: {med['torchcam grad-cam'] / med['grad-cam (one class)']:.2f}×",
        "",
    ]

    fns = {
        "score-cam (ours, default chunks)": lambda: A.score_cam(model, xh, th, layer=layer),
        "score-cam (ours, batch_size=32)": lambda: A.score_cam(model, xh, th, layer=layer, batch_size=32),
        "torchcam ScoreCAM (batch_size=32)": torchcam_fn(TC.ScoreCAM, model, layer, xh, ch, batch_size=32),
    }
    if PGC is not None:
        fns["pytorch-grad-cam ScoreCAM (its batch of 16)"] = pgc_fn("ScoreCAM", model, layer, xh, ch)
    t2 = timed(fns, max(1, args.repeats // 2), device)
    m2 = {k: statistics.median(v) for k, v in t2.items()}
    lines += ["| Score-CAM | speed |", "| --- | --- |"]
    lines += [f"| {k} | {fmt(v, heavy)} |" for k, v in t2.items()]
    ref = m2["torchcam ScoreCAM (batch_size=32)"]
    lines += [
        "",
        f"- Score-CAM vs torchcam: **{ref / m2['score-cam (ours, default chunks)']:.1f}×** faster "
        f"({ref / m2['score-cam (ours, batch_size=32)']:.1f}× at equal batch size 32) (goal ≥ 3×)",
    ]
    if PGC is not None:
        pref = m2["pytorch-grad-cam ScoreCAM (its batch of 16)"]
        lines.append(
            f"- Score-CAM vs pytorch-grad-cam: **{pref / m2['score-cam (ours, default chunks)']:.1f}×** (goal ≥ 10×)"
        )
    else:
        lines.append(f"- pytorch-grad-cam not benchmarked: it does not import here ({PGC_ERROR[:120]})")
    lines.append("")

    window = max(8, size // 4)
    fns = {
        "ablation-cam": lambda: A.ablation_cam(model, xh, th, layer=layer),
        "shap-cam (samples=2)": lambda: A.shap_cam(model, xh, th, layer=layer, samples=2),
        "rise (masks=500)": lambda: A.rise(model, xh, th, masks=500),
        f"occlusion (window {window}, stride {window // 2})": lambda: A.occlusion(
            model, xh, th, window=window, stride=window // 2
        ),
    }
    t3 = timed(fns, 1, device)
    lines += ["| other perturbation methods | speed |", "| --- | --- |"]
    lines += [f"| {k} | {fmt(v, heavy)} |" for k, v in t3.items()]
    lines.append("")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="cpu", help="cpu or cuda (default cpu)")
    parser.add_argument("--models", default="squeezenet1_1,resnet50-shaped")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--size", type=int, default=None, help="image side (default 112 on CPU, 224 on GPU)")
    parser.add_argument("--width", type=float, default=None, help="ResNet channel multiplier (0.25 CPU, 1 GPU)")
    parser.add_argument("--batch", type=int, default=None, help="images for gradient CAMs (4 CPU, 32 GPU)")
    parser.add_argument("--heavy-batch", type=int, default=None, help="images for perturbation methods (1 CPU, 8 GPU)")
    args = parser.parse_args()
    device = torch.device(args.device)
    where = torch.cuda.get_device_name(device) if device.type == "cuda" else f"{os.cpu_count()}-core CPU"
    print(f"# bench/cam.py on {where}, torch {torch.__version__}, {platform.python_version()}, "
          f"threads {torch.get_num_threads()}, load {os.getloadavg()[0]:.1f}\n")  # fmt: skip
    for name in args.models.split(","):
        print("\n".join(bench_model(name, args, device)), flush=True)


if __name__ == "__main__":
    main()
