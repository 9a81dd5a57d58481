"""Registers the attribution methods in the shared registry (CLI, report and web app read it)."""

from __future__ import annotations

from ..registry import MethodSpec, register_method
from .gradcam import grad_cam, guided_grad_cam
from .gradients import guided_backprop, saliency
from .integrated import integrated_gradients
from .occlusion import occlusion, occlusion_sensitivity
from .smoothgrad import smoothgrad

SPECS = (
    MethodSpec(
        "saliency", saliency, "attribution",
        "largest absolute input gradient of the class score over the channels",
        "Simonyan, Vedaldi & Zisserman 2014, Deep Inside Convolutional Networks", "map",
    ),
    MethodSpec(
        "guided-backprop", guided_backprop, "attribution",
        "input gradient with negative gradients stopped at every ReLU",
        "Springenberg et al. 2015, Striving for Simplicity: The All Convolutional Net", "pixel",
    ),
    MethodSpec(
        "grad-cam", grad_cam, "attribution",
        "a conv layer's channels weighted by their mean gradient, rectified and upsampled",
        "Selvaraju et al. 2017, Grad-CAM: Visual Explanations from Deep Networks", "map",
        {"layer": None},
    ),
    MethodSpec(
        "guided-grad-cam", guided_grad_cam, "attribution",
        "guided backprop times the upsampled Grad-CAM map",
        "Selvaraju et al. 2017, Grad-CAM: Visual Explanations from Deep Networks", "pixel",
        {"layer": None},
    ),
    MethodSpec(
        "integrated-gradients", integrated_gradients, "attribution",
        "gradients integrated along the straight path from a baseline image",
        "Sundararajan, Taly & Yan 2017, Axiomatic Attribution for Deep Networks", "pixel",
        {"baseline": 0.0, "steps": 50},
    ),
    MethodSpec(
        "occlusion", occlusion, "attribution",
        "average drop of the class score when a sliding patch covers each pixel",
        "Zeiler & Fergus 2014, Visualizing and Understanding Convolutional Networks", "pixel",
        {"window": 8, "stride": 4, "fill": 0.0},
    ),
    MethodSpec(
        "smoothgrad", smoothgrad, "attribution",
        "saliency averaged over copies of the image with Gaussian noise",
        "Smilkov et al. 2017, SmoothGrad: removing noise by adding noise", "map",
        {"samples": 25, "noise": 0.15, "seed": 0},
    ),
    MethodSpec(
        "occlusion-sensitivity", occlusion_sensitivity, "attribution",
        "probability of the class for each position of an occluding patch",
        "Zeiler & Fergus 2014, Visualizing and Understanding Convolutional Networks", "grid",
        {"window": 8, "stride": 4, "fill": 0.0},
    ),
)  # fmt: skip

for _spec in SPECS:
    register_method(_spec)
