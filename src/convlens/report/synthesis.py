"""HTML for synthesis: the images each class (or channel) wants most, per preset, and the cost curves.

The demo's "What each class looks like" section and ``convlens dream`` use the same builders.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from ..synthesis import SynthesisResult, class_visualization, get_preset
from ..viz.figures import png_bytes
from ..viz.synthesis import cost_curves, synthesis_grid
from .html import Section, image, paragraph, table


def presets_table(names: Sequence[str]) -> str:
    """The presets compared, with their settings and papers."""
    rows = []
    for name in names:
        p = get_preset(name)
        prior = [
            f"L2 {p.l2:g}" if p.l2 else "",
            f"blur σ={p.blur_sigma:g} every {p.blur_every}" if p.blur_every else "",
            "jitter" if p.jitter else "",
            "sigmoid (pixels in (0,1))" if p.param == "fourier" else "clamp each step" if p.clamp else "",
            f"zoom ±{p.scale:g}, rotate ±{p.rotate:g}°" if p.scale or p.rotate else "",
        ]
        rows.append((p.name, p.param, f"{p.steps}", f"{p.lr:g}", ", ".join(x for x in prior if x), p.paper))
    return table(("preset", "optimizes", "default steps", "lr", "priors", "paper"), rows, numeric=(2, 3))


def synthesis_html(
    rows: Sequence[tuple[str, SynthesisResult]], class_names: Sequence[str] | None, what: str
) -> tuple[str, bytes, bytes]:
    """The image grid and the cost curves of several results, with a sentence under each.

    Returns:
        The HTML, the grid PNG and the curves PNG.
    """
    grid = png_bytes(synthesis_grid(rows, class_names))
    curves = png_bytes(cost_curves(rows, class_names))
    first = rows[0][1]
    if first.probability is not None:
        label = "the probability the model gives that class"
    else:
        label = f"the activation reached ({first.objective})"
    html = image(grid, f"{what}, one row per setting; above each image, its target and {label}.") + image(
        curves, "The objective (score minus the L2 penalty) at every step, one line per image: it should rise and "
        "level off. Jitter and random transformations make the curves noisy."
    )  # fmt: skip
    return html, grid, curves


def class_images_section(
    model: nn.Module, classes: Sequence[int], *, presets: Sequence[str], class_names: Sequence[str] | None = None,
    steps: int | None = None, seed: int = 0, title: str = "What each class looks like",
) -> tuple[Section, list[tuple[str, SynthesisResult]]]:  # fmt: skip
    """One image per class and preset, side by side, with probabilities and cost curves.

    Args:
        model: the classifier (only read).
        classes: the classes to visualize (one batch per preset).
        presets: preset names, one row each.
        class_names: names for captions.
        steps: steps per preset (default: each preset's own).
        seed: the seed of every image.
        title: the section title.

    Returns:
        The section and the results, one per preset.
    """
    rows = [(name, class_visualization(model, list(classes), preset=name, steps=steps, seed=seed)) for name in presets]
    html, _, _ = synthesis_html(rows, class_names, "The image each class wants most")
    hits = "; ".join(f"{n}: {_hits(r)}/{len(r.targets)} predicted as their class, {r.seconds:.1f}s" for n, r in rows)
    intro = paragraph(
        "Class model visualization: starting from a blank (or noisy) image, gradient ascent changes the pixels to "
        "raise the raw score of one class, with priors that keep the image natural. The classic settings and a "
        f"stronger default side by side{f', {steps} steps each' if steps else ''}. {hits}."
    )
    return Section(title, intro + presets_table(presets) + html), rows


def _hits(result: SynthesisResult) -> int:
    """How many images the model predicts as their own class."""
    return 0 if result.predicted is None else int(torch.eq(result.predicted, result.targets).sum())


def demo_synthesis_section(model: nn.Module, data: object, *, steps: int = 50) -> Section:
    """The demo's "What each class looks like": every digit with every preset (few steps, to stay fast)."""
    from ..synthesis import list_presets

    names = getattr(data.test, "classes", None)  # type: ignore[attr-defined]
    section, _ = class_images_section(model, range(10), presets=[p.name for p in list_presets()],
                                      class_names=names, steps=steps)  # fmt: skip
    return section


__all__ = ["class_images_section", "demo_synthesis_section", "presets_table", "synthesis_html"]
