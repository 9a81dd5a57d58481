"""HTML sections for style transfer: the same builders serve ``convlens style`` and the demo."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from ..style.transfer import StyleResult
from ..viz.figures import png_bytes
from ..viz.style import losses_figure, snapshots_figure, transfer_figure
from .html import Section, image, key_values, paragraph

INTRO = (
    "Neural style transfer (Gatys, Ecker and Bethge 2016) repaints a photograph by optimizing its pixels: "
    "the features of a CNN at one deep layer must stay those of the photograph (content), while the Gram "
    "matrices of several layers (which features occur together, wherever they are) must become those of the "
    "style image, and a total-variation term keeps the picture smooth."
)


def settings_table(result: StyleResult) -> str:
    """The settings a transfer ran with, as a two-column table."""
    s = result.settings
    final = {k: float(v[-1]) for k, v in result.history.items()}
    pairs = zip(s.style_layers, s.style_weights, strict=True)
    return key_values([
        ("extractor", s.extractor),
        ("content layer", s.content_layer),
        ("style layers (weights)", ", ".join(f"{n} ({w:g})" for n, w in pairs)),
        ("weights: content / style / tv", f"{s.content_weight:g} / {s.style_weight:g} / {s.tv_weight:g}"),
        ("optimizer", f"{s.optimizer}, lr {s.lr:g}, {s.steps} steps x {s.levels} level(s), init {s.init}"),
        ("output size", f"{s.size[1]}x{s.size[0]} px"),
        ("options", ", ".join(filter(None, [
            "colours kept" if s.keep_colors else "", f"style scale {s.style_scale:g}" if s.style_scale != 1 else "",
            f"blend {', '.join(f'{b:.2f}' for b in s.blend)}" if len(s.blend) > 1 else "",
        ])) or "none"),
        ("final loss: content / style / tv / total",
         " / ".join(f"{final[k]:.4g}" for k in ("content", "style", "tv", "total"))),
        ("time", f"{s.seconds:.1f} s on {s.device} ({s.precision} convolutions)"),
    ])  # fmt: skip


def transfer_html(result: StyleResult, content_name: str, style_names: Sequence[str], caption: str = "") -> str:
    """One transfer: the content, style and result figure with a one-line caption."""
    png = png_bytes(transfer_figure(result, content_name, style_names))
    text = caption or (
        f"{content_name} repainted in the style of {' and '.join(style_names)} ({result.settings.extractor})."
    )
    return image(png, text)


def style_section(
    result: StyleResult,
    content_name: str = "content",
    style_names: Sequence[str] = ("style",),
    title: str = "Style transfer",
) -> Section:
    """A section for one transfer: pictures, loss curves, snapshots and the settings."""
    parts = [paragraph(INTRO), transfer_html(result, content_name, style_names)]
    parts.append(image(
        png_bytes(losses_figure([result], [content_name])),
        "Weighted loss terms per evaluation (log scale): the style term falls by orders of magnitude while the "
        "content term, zero at the start, rises to what the compromise costs.",
    ))  # fmt: skip
    if result.snapshots:
        parts.append(image(png_bytes(snapshots_figure(result)), "Intermediate images, evenly spaced over the steps."))
    parts.append(settings_table(result))
    return Section(title, "".join(parts))


# (content, style(s), options, caption) of the demo; the images ship with convlens
DEMO_RUNS: tuple[tuple[str, tuple[str, ...], dict, str], ...] = (
    ("hopper", ("ihc",), {}, "Grace Hopper repainted with the brown and blue strokes of a stained tissue sample."),
    ("chelsea", ("brick",), {"style_weight": 5.0},
     "Chelsea the cat drawn in a grey brick-wall texture (a lighter style weight, 5)."),
    ("hopper", ("brick",), {"keep_colors": True},
     "Keep the colours: only the luminance is stylized, the photograph's colours are put back (Gatys et al. 2016b)."),
)  # fmt: skip


def style_demo_section(model: object = None, data: object = None, *, size: int = 112, steps: int = 60) -> Section:
    """The demo report's "Style transfer" section, on the photographs and textures that ship with convlens.

    Runs offline with the random-weight extractor unless SqueezeNet 1.1's published weights are
    already cached (then those are used); the extractor is named under every picture.

    Args:
        model: unused (the demo passes its trained classifier; style transfer needs an ImageNet-scale
            feature network instead).
        data: unused.
        size: the longer side of the outputs in pixels.
        steps: L-BFGS evaluations per picture.
    """
    from ..style import sample_image, sample_images, style_transfer

    described = sample_images()
    parts = [paragraph(INTRO)]
    results: list[StyleResult] = []
    threads = torch.get_num_threads()
    try:
        # Pictures this small are thousands of tiny operations: one thread avoids the waits at
        # every parallel region, which on a busy 2-core machine cost more than the arithmetic.
        torch.set_num_threads(1)
        for content, styles, options, _ in DEMO_RUNS:
            images = [sample_image(s) for s in styles]
            results.append(style_transfer(sample_image(content), images, size=size, steps=steps, seed=0, **options))
    finally:
        torch.set_num_threads(threads)
    for result, (content, styles, _, caption) in zip(results, DEMO_RUNS, strict=False):
        parts.append(transfer_html(result, content, styles, f"{caption} Extractor: {result.settings.extractor}."))
    labels = [f"{c} x {'+'.join(s)}{' (colours kept)' if o.get('keep_colors') else ''}" for c, s, o, _ in DEMO_RUNS]
    parts.append(image(
        png_bytes(losses_figure(results, labels)),
        "Weighted loss terms per L-BFGS evaluation (log scale): the style term drops by two to three orders of "
        "magnitude; the content term rises from zero as the picture gives way to the style.",
    ))  # fmt: skip
    parts.append(settings_table(results[0]))
    sources = "; ".join(f"{name}: {what}" for name, what in described.items() if any(
        name == c or name in s for c, s, _, _ in DEMO_RUNS))  # fmt: skip
    parts.append(paragraph(f"Images (bundled, public domain or CC0): {sources}."))
    return Section("Style transfer", "".join(parts))


__all__ = ["DEMO_RUNS", "settings_table", "style_demo_section", "style_section", "transfer_html"]
