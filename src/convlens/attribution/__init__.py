"""Attribution: which pixels a CNN's decision depends on.

Gradients (saliency, guided backprop, Deconvnet, integrated gradients, SmoothGrad), the CAM
family (Grad-CAM, guided Grad-CAM, Grad-CAM++, XGrad-CAM, LayerCAM, HiRes-CAM, Score-CAM,
Ablation-CAM, Shap-CAM) and perturbations (occlusion, occlusion sensitivity, RISE). Every method
is batched, leaves the model exactly as it was, takes ``output=`` for models that return more
than logits, and is registered in :mod:`convlens.registry` (kind ``"attribution"``) by a
decorator where it is defined. Importing this package imports every public module in it, so a
new method is one new file: it is registered and reachable as ``convlens.attribution.NAME``.
"""

# The import order is the order of the methods in tables and figures.
# isort: off
from .gradients import guided_backprop, saliency
from .gradcam import grad_cam, guided_grad_cam
from .integrated import integrated_gradients
from .occlusion import occlusion, occlusion_sensitivity
from .smoothgrad import smoothgrad
from .explain import Explanation, explain

# isort: on

__all__ = [
    "Explanation", "explain", "grad_cam", "guided_backprop", "guided_grad_cam",
    "integrated_gradients", "occlusion", "occlusion_sensitivity", "saliency", "smoothgrad",
]  # fmt: skip


def _import_method_modules() -> None:
    """Import every public module of the package: a method registers itself where it is defined,
    so a new method is one new file (and its public function is reachable from this package)."""
    import importlib
    import pkgutil

    from ..registry import list_methods

    for module in pkgutil.iter_modules(__path__):
        if not module.name.startswith("_"):
            importlib.import_module(f"{__name__}.{module.name}")
    for spec in list_methods("attribution"):
        globals().setdefault(spec.func.__name__, spec.func)


_import_method_modules()
