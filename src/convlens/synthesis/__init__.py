"""Synthesis: the images a network wants most, for a class (class model visualization) or for a
channel or unit of an inner layer, with the classic settings and a stronger default side by side.

Presets (:mod:`.presets`): ``simonyan2014`` (L2 only, from zeros), ``yosinski2015`` (L2, blur,
jitter, clipping) and ``fourier`` (the default: decorrelated Fourier parameterization with
transformation robustness, Olah et al. 2017). Operators (blur, jitter, clamping, random
transformations) are in :mod:`.ops`. Figures: :mod:`convlens.viz.synthesis`; report sections:
:mod:`convlens.report.synthesis`.
"""

from .ops import clamp_pixels, gaussian_blur, jitter, transform
from .presets import DEFAULT_PRESET, PRESETS, Preset, get_preset, list_presets, register_preset
from .visualize import SynthesisResult, check_unit, class_visualization, maximize

__all__ = [
    "DEFAULT_PRESET", "PRESETS", "Preset", "SynthesisResult", "check_unit", "clamp_pixels", "class_visualization",
    "gaussian_blur", "get_preset", "jitter", "list_presets", "maximize", "register_preset", "transform",
]  # fmt: skip
