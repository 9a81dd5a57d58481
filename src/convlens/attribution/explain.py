"""Several attribution methods at once, with what a figure needs to be titled."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import nn

from .._checks import Target, is_multi, target_matrix
from .._hooks import inspecting
from .._outputs import OutputSpec
from ..errors import InputError
from ..models import get_info
from ..registry import MethodSpec, get_method, list_methods
from ._camgrad import sharing_passes
from ._common import ModelRunner, finish, outside_inference_mode, prepare_input
from .gradcam import gradcam_layer

# not options of explain: return_delta would turn a map into a tuple; output and top are explain's own
_NOT_OPTIONS = ("return_delta", "output", "top")


@dataclass(frozen=True)
class Explanation:
    """The maps of several methods for one batch, and the predictions they explain.

    Attributes:
        images: a detached copy of the images, (B,C,H,W), on the input's device.
        maps: method name → its result ((B,C,H,W), (B,1,H,W) or (B,rows,cols) for
            ``"occlusion-sensitivity"``), in the order the methods were asked for; with K
            classes per image (``top=K`` or a (B, K) target) each map has a K dimension after
            the batch: (B,K,C,H,W), (B,K,1,H,W), (B,K,rows,cols).
        target: the explained class of each image, (B,) long (or (B,K)); -1 for a callable target.
        target_probability: softmax probability of that class, (B,) (or (B,K)); NaN for a callable target.
        predicted: the predicted class, (B,) long.
        probability: its probability, (B,).
        class_names: the model's class names when it carries :class:`convlens.models.ModelInfo`.
        layer: the Grad-CAM layer used, or None when no Grad-CAM method ran.
    """

    images: torch.Tensor
    maps: dict[str, torch.Tensor]
    target: torch.Tensor
    target_probability: torch.Tensor
    predicted: torch.Tensor
    probability: torch.Tensor
    class_names: tuple[str, ...] | None
    layer: str | None

    def rows(self, index: slice | torch.Tensor) -> Explanation:
        """The explanation of some of the images (a slice or an index tensor)."""
        pick = (lambda t: t[index]) if isinstance(index, slice) else (lambda t: t[index.to(t.device)])
        return Explanation(
            pick(self.images), {k: pick(v) for k, v in self.maps.items()}, pick(self.target),
            pick(self.target_probability), pick(self.predicted), pick(self.probability), self.class_names, self.layer,
        )  # fmt: skip

    def raw(self) -> dict[str, torch.Tensor]:
        """Every map on the CPU, keyed by method name (for saving)."""
        return {name: m.detach().cpu() for name, m in self.maps.items()}

    @property
    def classes_per_image(self) -> int:
        """K when several classes per image were explained (``top=K`` or a (B, K) target), else 1."""
        return self.target.shape[1] if self.target.dim() == 2 else 1

    def per_class_rows(self) -> Explanation:
        """One row per (image, class): with K classes per image, B·K rows (image-major); else itself.

        Figures and reports draw one row per image and class this way without knowing about K.
        """
        if self.target.dim() != 2:
            return self
        k = self.target.shape[1]

        def repeat(t: torch.Tensor) -> torch.Tensor:
            return t.repeat_interleave(k, dim=0)

        return Explanation(
            repeat(self.images), {n: m.flatten(0, 1) for n, m in self.maps.items()}, self.target.flatten(),
            self.target_probability.flatten(), repeat(self.predicted), repeat(self.probability), self.class_names,
            self.layer,
        )  # fmt: skip


def _parameters(spec: MethodSpec) -> set[str]:
    return {n for n in spec.parameters if n not in _NOT_OPTIONS}


@outside_inference_mode
def explain(
    model: nn.Module,
    x: torch.Tensor,
    methods: str | Sequence[str],
    target: Target = None,
    *,
    top: int | None = None,
    output: OutputSpec = None,
    progress: Callable[[int, int, str], None] | None = None,
    **options: object,
) -> Explanation:
    """Run registered attribution methods on one batch and collect their maps.

    Each method is called as ``spec.func(model, x, target, **kwargs)`` where ``kwargs`` are
    the method's own defaults overridden by those of ``options`` it accepts (so
    ``steps=100`` reaches integrated gradients and ``layer=...`` both Grad-CAM methods). An
    option that no registered attribution method accepts is an error (a typo); one that only
    unselected methods accept is ignored. The Grad-CAM layer is resolved once, so every CAM
    method looks at the same layer, and the gradient CAMs (Grad-CAM, Grad-CAM++, XGrad-CAM,
    LayerCAM, HiRes-CAM) share one forward and one backward pass
    (:func:`convlens.attribution._camgrad.sharing_passes`).

    Args:
        model: any classifier taking [0,1] images; given back unchanged.
        x: images in [0,1].
        methods: registry names (``"saliency"``, ``"grad-cam"`` ...) or one name.
        target: None (the predicted class), an int, one class per image, a (B, K) tensor of K
            classes per image, or a callable.
        top: explain each image's ``top`` highest-scoring classes (then ``target`` must be None).
        output: where the logits are in the model's output (:mod:`convlens._outputs`).
        progress: called as ``progress(i, count, name)`` before the i-th method (1-based) runs.
        **options: method options (``layer``, ``steps``, ``window`` ...).

    Returns:
        An :class:`Explanation`.

    Shape:
        ``x``: (B,C,H,W).
    """
    names = [methods] if isinstance(methods, str) else list(dict.fromkeys(methods))
    if not names:
        raise InputError("pass at least one method name, e.g. methods=['saliency', 'grad-cam']")
    specs = [get_method(name, kind="attribution") for name in names]
    known = set().union(*(_parameters(s) for s in list_methods("attribution")))
    unknown = sorted(set(options) - known)
    if unknown:
        valid = ", ".join(sorted(known))
        raise InputError(f"unknown option(s) {', '.join(unknown)}; attribution methods accept: {valid}")

    xin = prepare_input(model, x)
    with inspecting(model), torch.no_grad():
        logits = ModelRunner(model, xin, output)(xin)
    probs = torch.softmax(logits.double(), dim=1)
    probability, predicted = probs.max(dim=1)
    if callable(target) and not isinstance(target, torch.Tensor):
        classes = torch.full_like(predicted, -1)
        class_probability = torch.full_like(probability, float("nan"))
        passed: Target = target
    else:
        matrix = target_matrix(target, logits, top)
        multi = is_multi(target, top)
        classes = matrix if multi else matrix[:, 0]
        class_probability = probs.gather(1, matrix)
        class_probability = class_probability if multi else class_probability[:, 0]
        passed = classes

    layer = None
    if any(s.takes_layer for s in specs):
        with inspecting(model):
            layer, _ = gradcam_layer(model, options.get("layer", None), xin, output)  # type: ignore[arg-type]
    maps: dict[str, torch.Tensor] = {}
    with sharing_passes():
        for i, spec in enumerate(specs, start=1):
            accepted = _parameters(spec)
            kwargs = {k: v for k, v in options.items() if k in accepted}
            if progress is not None:
                progress(i, len(specs), spec.name)
            if spec.takes_layer:
                kwargs["layer"] = layer
            if "output" in spec.parameters:
                kwargs["output"] = output
            maps[spec.name] = spec.func(model, x, passed, **kwargs)

    def out(t: torch.Tensor) -> torch.Tensor:
        return t.detach().to(x.device)

    return Explanation(
        images=x.detach().clone(), maps=maps, target=out(classes), target_probability=finish(class_probability, x),
        predicted=out(predicted), probability=finish(probability, x),
        class_names=_class_names(model), layer=layer,
    )  # fmt: skip


def _class_names(model: nn.Module) -> tuple[str, ...] | None:
    info = get_info(model)
    return None if info is None else tuple(info.class_names)
