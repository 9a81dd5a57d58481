"""Attribution: which pixels a CNN's decision depends on.

saliency, guided backprop, Grad-CAM, guided Grad-CAM, integrated gradients, occlusion,
occlusion sensitivity and SmoothGrad; every one is batched, leaves the model exactly as it was,
and is registered in :mod:`convlens.registry` (kind ``"attribution"``) on import.
"""

from . import _registry as _registry  # registers the methods
from .explain import Explanation, explain
from .gradcam import grad_cam, guided_grad_cam
from .gradients import guided_backprop, saliency
from .integrated import integrated_gradients
from .occlusion import occlusion, occlusion_sensitivity
from .smoothgrad import smoothgrad

__all__ = [
    "Explanation", "explain", "grad_cam", "guided_backprop", "guided_grad_cam",
    "integrated_gradients", "occlusion", "occlusion_sensitivity", "saliency", "smoothgrad",
]  # fmt: skip
