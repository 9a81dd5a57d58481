"""Our maps beside Captum's, computed with equal settings on the same model, images and classes.

Captum (Kokhlikyan et al. 2020, "Captum: A unified and generic model interpretability library
for PyTorch") is the reference implementation most people trust. :data:`CAPTUM_CALLS` maps a
registered method name to the Captum call with the same settings; a method without an entry
(occlusion sensitivity, the CAM variants Captum lacks) is listed as skipped. SmoothGrad draws
its own noise, so it cannot match Captum draw for draw: its row compares the mean maps
statistically (their correlation) and is marked ``statistical=True``.

Captum is optional for library users; without it :func:`compare_with_captum` raises
:class:`CaptumNotInstalled`, whose one-line message says how to install it.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from .._checks import Target, check_images
from .._hooks import inspecting
from .._outputs import OutputSpec
from .._runner import ModelRunner, outside_inference_mode, prepare_input
from ..errors import ConvlensError
from ._common import class_targets, compute_maps, method_specs, option_settings
from .similarity import pearson

INSTALL_HINT = "pip install 'convlens[captum]'  (or: pip install captum)"


class CaptumNotInstalled(ConvlensError, ImportError):
    """Captum is needed for the comparison but is not installed."""


@dataclass(frozen=True)
class CaptumCall:
    """How to compute one registered method with Captum.

    Attributes:
        describe: the Captum call as text, with the settings filled in.
        run: ``run(captum_attr, model, x, classes, settings, layer_module)`` → Captum's map, shaped like ours.
        statistical: the two cannot agree draw for draw (random noise); compare the mean maps.
    """

    describe: Callable[[dict[str, Any], str | None], str]
    run: Callable[[Any, nn.Module, torch.Tensor, torch.Tensor, dict[str, Any], Any], torch.Tensor]
    statistical: bool = False


def _pair(value: object) -> tuple[int, int]:
    return (value, value) if isinstance(value, int) else tuple(value)  # type: ignore[return-value, arg-type]


def _saliency(
    ca: Any, model: nn.Module, x: torch.Tensor, t: torch.Tensor, s: dict, layer: nn.Module | None
) -> torch.Tensor:
    return ca.Saliency(model).attribute(x, target=t, abs=True).amax(dim=1, keepdim=True)


def _guided(
    ca: Any, model: nn.Module, x: torch.Tensor, t: torch.Tensor, s: dict, layer: nn.Module | None
) -> torch.Tensor:
    return ca.GuidedBackprop(model).attribute(x, target=t)


def _deconv(
    ca: Any, model: nn.Module, x: torch.Tensor, t: torch.Tensor, s: dict, layer: nn.Module | None
) -> torch.Tensor:
    return ca.Deconvolution(model).attribute(x, target=t)


def _grad_cam(
    ca: Any, model: nn.Module, x: torch.Tensor, t: torch.Tensor, s: dict, layer: nn.Module | None
) -> torch.Tensor:
    heat = ca.LayerGradCam(model, layer).attribute(x, target=t, relu_attributions=True)
    if s.get("upsample", True):
        heat = ca.LayerAttribution.interpolate(heat, tuple(x.shape[-2:]), interpolate_mode=s["interpolation"])
    return heat


def _guided_grad_cam(
    ca: Any, model: nn.Module, x: torch.Tensor, t: torch.Tensor, s: dict, layer: nn.Module | None
) -> torch.Tensor:
    ggc = ca.GuidedGradCam(model, layer)
    return ggc.attribute(x, target=t, interpolate_mode=s["interpolation"])


def _integrated(
    ca: Any, model: nn.Module, x: torch.Tensor, t: torch.Tensor, s: dict, layer: nn.Module | None
) -> torch.Tensor:
    ig = ca.IntegratedGradients(model)
    return ig.attribute(x, baselines=s["baseline"], target=t, n_steps=s["steps"], method=s["method"])


def _occlusion(
    ca: Any, model: nn.Module, x: torch.Tensor, t: torch.Tensor, s: dict, layer: nn.Module | None
) -> torch.Tensor:
    channels = x.shape[1]
    window, stride = _pair(s["window"]), _pair(s["stride"])
    return ca.Occlusion(model).attribute(
        x, target=t, sliding_window_shapes=(channels, *window), strides=(channels, *stride), baselines=s["fill"],
        perturbations_per_eval=max(1, 1024 // x.shape[0]),  # batching only: the same values, fewer passes
    )  # fmt: skip


def _smoothgrad(
    ca: Any, model: nn.Module, x: torch.Tensor, t: torch.Tensor, s: dict, layer: nn.Module | None
) -> torch.Tensor:
    # Captum takes one noise level per input tensor; ours is relative to each image's range,
    # so images that share a level run together.
    sigma = s["noise"] * (x.amax(dim=(1, 2, 3)) - x.amin(dim=(1, 2, 3)))
    out = torch.zeros((x.shape[0], 1, *x.shape[2:]), dtype=x.dtype, device=x.device)
    tunnel = ca.NoiseTunnel(ca.Saliency(model))
    for level in torch.unique(sigma):
        rows = (sigma == level).nonzero()[:, 0]
        maps = tunnel.attribute(
            x[rows], nt_type="smoothgrad", nt_samples=s["samples"], stdevs=float(level), target=t[rows], abs=True
        )
        out[rows] = maps.amax(dim=1, keepdim=True)
    return out


# Registered method name -> the Captum call with equal settings. A new method with a Captum
# counterpart is one entry here (and is then compared everywhere: tests, reports, the CLI).
CAPTUM_CALLS: dict[str, CaptumCall] = {
    "saliency": CaptumCall(lambda s, _: "Saliency(model).attribute(x, target, abs=True), max over channels", _saliency),
    "guided-backprop": CaptumCall(lambda s, _: "GuidedBackprop(model).attribute(x, target)", _guided),
    "deconvnet": CaptumCall(lambda s, _: "Deconvolution(model).attribute(x, target)", _deconv),
    "grad-cam": CaptumCall(
        lambda s, layer: (
            f"LayerGradCam(model, {layer}).attribute(x, target, relu_attributions=True)"
            + (f" + LayerAttribution.interpolate({s['interpolation']})" if s.get("upsample", True) else "")
        ),
        _grad_cam,
    ),
    "guided-grad-cam": CaptumCall(
        lambda s, layer: f"GuidedGradCam(model, {layer}).attribute(x, target, interpolate_mode='{s['interpolation']}')",
        _guided_grad_cam,
    ),
    "integrated-gradients": CaptumCall(
        lambda s, _: (
            f"IntegratedGradients(model).attribute(x, baselines={s['baseline']!r}, target, "
            f"n_steps={s['steps']}, method='{s['method']}')"
        ),
        _integrated,
    ),
    "occlusion": CaptumCall(
        lambda s, _: (
            f"Occlusion(model).attribute(x, target, sliding_window_shapes=(C, {_pair(s['window'])}), "
            f"strides=(C, {_pair(s['stride'])}), baselines={s['fill']!r})"
        ),
        _occlusion,
    ),
    "smoothgrad": CaptumCall(
        lambda s, _: (
            f"NoiseTunnel(Saliency(model)).attribute(x, nt_type='smoothgrad', nt_samples={s['samples']}, "
            f"stdevs={s['noise']}·(max-min), target, abs=True), max over channels"
        ),
        _smoothgrad,
        statistical=True,
    ),
}


@dataclass(frozen=True)
class CaptumRow:
    """One method compared with Captum.

    Attributes:
        method: the registered name.
        captum_call: the Captum call used, with its settings.
        max_abs_diff: ``max |ours − Captum|`` over the batch.
        max_rel_diff: ``max |ours − Captum| / max |Captum|``.
        correlation: the smallest per-image Pearson correlation of the two maps.
        statistical: the maps come from different random draws (SmoothGrad): judge by ``correlation``.
        ours: our maps, detached, on the input's device.
        theirs: Captum's maps, same shape and dtype.
    """

    method: str
    captum_call: str
    max_abs_diff: float
    max_rel_diff: float
    correlation: float
    statistical: bool
    ours: torch.Tensor
    theirs: torch.Tensor

    @property
    def difference(self) -> torch.Tensor:
        """``ours − theirs``, shaped like the maps."""
        return self.ours - self.theirs


@dataclass(frozen=True)
class CaptumComparison:
    """Every shared method compared with Captum on one batch.

    Attributes:
        images: the images, (B,C,H,W).
        target: the class each image was explained for, (B,).
        rows: one :class:`CaptumRow` per method that Captum also implements, in registry order.
        skipped: the requested methods without a Captum counterpart.
        layer: the CAM layer both sides used, or None.
        captum_version: Captum's version.
    """

    images: torch.Tensor
    target: torch.Tensor
    rows: tuple[CaptumRow, ...]
    skipped: tuple[str, ...]
    layer: str | None
    captum_version: str

    def row(self, method: str) -> CaptumRow:
        """The row of one method (KeyError if it was not compared)."""
        for r in self.rows:
            if r.method == method:
                return r
        raise KeyError(method)


class _Logits(nn.Module):
    """The caller's model as Captum sees it: run by the same :class:`ModelRunner` as ours.

    So both sides feed the model the same memory layout and do the same floating-point
    arithmetic; otherwise rounding differences of 1e-7 can flip a ReLU whose input is near zero
    at one point of an integrated-gradients path and change a patch of the map (measured).
    """

    def __init__(self, model: nn.Module, runner: ModelRunner) -> None:
        super().__init__()
        self.model = model
        self.runner = runner

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.runner(x)


def captum_attr() -> Any:
    """``captum.attr``, or :class:`CaptumNotInstalled` saying how to install it."""
    try:
        import captum.attr as ca
    except ImportError:
        raise CaptumNotInstalled(f"the comparison with Captum needs Captum: {INSTALL_HINT}") from None
    return ca


def _compare(ours: torch.Tensor, theirs: torch.Tensor) -> tuple[float, float, float]:
    theirs = theirs.to(ours.dtype)
    diff = float((ours - theirs).abs().max())
    scale = float(theirs.abs().max())
    rel = diff / scale if scale > 0 else (0.0 if diff == 0 else float("inf"))
    corr = pearson(ours.flatten(1), theirs.flatten(1))
    return diff, rel, float(corr.nan_to_num(nan=1.0 if diff == 0 else 0.0).min())


@outside_inference_mode
def compare_with_captum(
    model: nn.Module,
    x: torch.Tensor,
    methods: str | Sequence[str] | None = None,
    target: Target = None,
    *,
    seed: int = 0,
    output: OutputSpec = None,
    **options: object,
) -> CaptumComparison:
    """Compute every method that Captum also implements both ways and measure the differences.

    Both sides see the same model (in eval mode, given back unchanged), the same images, the
    same classes and the same settings: our method's defaults overridden by ``options`` (the
    CAM layer is resolved once and given to both). Captum's guided backprop and Deconvolution
    only see ``nn.ReLU`` modules, so a model with functional ReLUs differs there (ours sees them).

    Args:
        model: any classifier taking [0,1] images.
        x: images in [0,1].
        methods: registered attribution names, or None for every registered one; those without
            a Captum counterpart are listed in ``skipped``.
        target: None (each image's predicted class), an int or one class per image.
        seed: seed of SmoothGrad's noise on both sides.
        output: where the logits are in the model's output.
        **options: method options (``layer``, ``steps`` ...), as for :func:`convlens.attribution.explain`.

    Returns:
        A :class:`CaptumComparison`.

    Raises:
        CaptumNotInstalled: Captum is missing (the message says how to install it).

    Shape:
        ``x``: (B,C,H,W).
    """
    ca = captum_attr()
    import captum

    check_images(x)
    specs = method_specs(methods)
    shared = [s for s in specs if s.name in CAPTUM_CALLS]
    skipped = tuple(s.name for s in specs if s.name not in CAPTUM_CALLS)
    classes = class_targets(model, x, target, output)
    ours, layer = compute_maps(model, x, shared, classes, output, {**options, "seed": seed}) if shared else ({}, None)
    rows = []
    module = dict(model.named_modules())[layer] if layer is not None else None
    xin = prepare_input(model, x)
    with inspecting(model):
        wrapped = _Logits(model, ModelRunner(model, xin, output))
    for spec in shared:
        call = CAPTUM_CALLS[spec.name]
        settings = option_settings(spec, {**options, "seed": seed})
        with inspecting(model), warnings.catch_warnings(), torch.random.fork_rng(devices=_devices(xin)):
            warnings.simplefilter("ignore")
            torch.manual_seed(seed)
            theirs = call.run(ca, wrapped, xin.clone(), classes, settings, module).detach()
        mine = ours[spec.name]
        theirs = theirs.to(device=mine.device, dtype=mine.dtype)
        diff, rel, corr = _compare(mine, theirs)
        rows.append(
            CaptumRow(spec.name, call.describe(settings, layer), diff, rel, corr, call.statistical, mine, theirs)
        )
    return CaptumComparison(
        x.detach().clone(), classes.to(x.device), tuple(rows), skipped, layer, str(getattr(captum, "__version__", "?"))
    )


def _devices(x: torch.Tensor) -> list[int]:
    return [x.device.index or 0] if x.device.type == "cuda" else []


__all__ = ["CAPTUM_CALLS", "CaptumCall", "CaptumComparison", "CaptumNotInstalled", "CaptumRow", "captum_attr",
           "compare_with_captum"]  # fmt: skip
