"""Presets: the settings of classic papers and a stronger default, side by side.

A preset fixes every option of :func:`convlens.synthesis.class_visualization` and
:func:`convlens.synthesis.maximize`; options passed explicitly override it. Presets are kept in a
:class:`convlens.registry.Registry`, so a new one is one :func:`register_preset` call.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..registry import Registry

PIXEL = "pixel"
FOURIER = "fourier"


@dataclass(frozen=True)
class Preset:
    """Settings of one way of synthesizing images.

    Attributes:
        name: the public name.
        summary: one line for tables and ``--help``.
        paper: where the settings come from.
        param: ``"pixel"`` (optimize the pixels; normalized gradient ascent) or ``"fourier"``
            (optimize a decorrelated Fourier spectrum with Adam; Olah et al. 2017).
        steps: optimization steps.
        lr: step size; for pixels, the RMS change of a pixel per step (the gradient is normalized
            per image), for the spectrum, Adam's learning rate.
        l2: weight λ of the L2 penalty λ‖I‖² subtracted from the objective, for a 28×28 image; at
            other sizes the preset's λ is scaled by 784/(H·W), so that the penalty keeps the same
            weight against the class score (an explicit ``l2=`` is used as given).
        blur_every: blur the image every this many steps (0: never; pixel presets only).
        blur_sigma: the blur's standard deviation, in pixels.
        jitter: the largest random shift per step, as a fraction of the image side (0: none).
        start: ``"zeros"`` (a black image; for the spectrum, uniform gray) or ``"noise"``.
        clamp: clamp pixels to [0,1] after every step (returned images are always clamped).
        scale: largest random zoom per step, relative (fourier preset; 0.1 = 0.9..1.1).
        rotate: largest random rotation per step, in degrees (fourier preset).
        decay: the spectrum's 1/f^decay weighting (fourier preset).
    """

    name: str
    summary: str
    paper: str
    param: str = PIXEL
    steps: int = 200
    lr: float = 0.05
    l2: float = 0.0
    blur_every: int = 0
    blur_sigma: float = 0.0
    jitter: float = 0.0
    start: str = "zeros"
    clamp: bool = True
    scale: float = 0.0
    rotate: float = 0.0
    decay: float = 1.0


PRESETS: Registry[Preset] = Registry("preset")
DEFAULT_PRESET = "fourier"


def register_preset(preset: Preset) -> Preset:
    """Add a preset (a name registered twice raises ``ValueError``)."""
    return PRESETS.add(preset.name, preset)


def get_preset(name: str) -> Preset:
    """The preset called ``name``; an unknown name lists the valid ones."""
    return PRESETS.get(name)


def list_presets() -> list[Preset]:
    """Every preset, in registration order."""
    return PRESETS.values()


register_preset(Preset(
    "simonyan2014", "gradient ascent on the class score with an L2 penalty, from a zero image; no other prior",
    "Simonyan, Vedaldi & Zisserman 2014, Deep Inside Convolutional Networks: Visualising Image "
    "Classification Models and Saliency Maps",
    steps=200, lr=0.02, l2=0.003, start="zeros", clamp=False,
))  # fmt: skip
register_preset(Preset(
    "yosinski2015", "L2 penalty, periodic Gaussian blur, random jitter and clipping to [0,1], from a zero image",
    "Yosinski, Clune, Nguyen, Fuchs & Lipson 2015, Understanding Neural Networks Through Deep Visualization",
    steps=200, lr=0.02, l2=0.003, blur_every=4, blur_sigma=0.5, jitter=0.04, start="zeros", clamp=True,
))  # fmt: skip
register_preset(Preset(
    "fourier", "decorrelated Fourier parameterization (1/f spectrum, decorrelated colours, sigmoid) optimized "
    "with Adam under random shifts, zooms and rotations",
    "Olah, Mordvintsev & Schubert 2017, Feature Visualization (Distill)",
    param=FOURIER, steps=200, lr=0.05, l2=0.0, jitter=0.06, start="noise", scale=0.1, rotate=5.0, decay=1.0,
))  # fmt: skip


__all__ = ["DEFAULT_PRESET", "FOURIER", "PIXEL", "PRESETS", "Preset", "get_preset", "list_presets", "register_preset"]
