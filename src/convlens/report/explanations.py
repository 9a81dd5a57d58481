"""Attribution pictures for HTML pages: the demo report's "Explanations" and ``convlens explain``.

The demo and the command use the same builders. Methods, their papers and how to read each
map (signed or magnitude) come from the registry (kind ``"attribution"``), never from a
hand-kept list: a method registered tomorrow shows up here without a change.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from ..attribution.examples import ExampleExplanations
from ..attribution.explain import Explanation
from ..data.inputs import Inputs
from ..registry import MethodSpec
from ..viz.attribution import explanation_figure, format_probability, occlusion_figure
from ..viz.figures import png_bytes
from .html import Section, esc, image, key_values, paragraph, table

GRID_OUTPUT = "grid"


@dataclass(frozen=True)
class Picture:
    """One rendered figure: a file stem for the PNG, its bytes, and its caption."""

    stem: str
    png: bytes
    caption: str


def reading_guide(specs: Sequence[MethodSpec]) -> str:
    """How to read the maps of ``specs``, from each method's registered ``signed`` flag (HTML)."""
    magnitude = [s.name for s in specs if not s.signed and s.output != GRID_OUTPUT]
    signed = [s.name for s in specs if s.signed]
    grids = [s.name for s in specs if s.output == GRID_OUTPUT]
    parts = ["How to read the pictures. Each map is scaled on its own."]
    if magnitude:
        parts.append(
            f"Magnitudes ({', '.join(magnitude)}) are laid over the image: bright = the class score is sensitive here."
        )
    if signed:
        parts.append(
            f"Signed maps ({', '.join(signed)}): red pixels are evidence for the explained class, blue pixels "
            "evidence against it, white is neutral."
        )
    if grids:
        parts.append(
            f"Patch grids ({', '.join(grids)}): one cell per patch position, the colour is the probability of "
            "the class with the patch covered (dark = covering there hurts the class)."
        )
    legend = (
        '<p class=legend><span style="color:#b2182b">■ evidence for</span> · '
        '<span style="color:#2166ac">■ evidence against</span> · <span>□ neutral</span></p>'
        if signed
        else ""
    )
    return paragraph(" ".join(parts)) + legend


def methods_table(specs: Sequence[MethodSpec]) -> str:
    """A table of the methods shown: name, what it shows, how to read it, the paper."""
    rows = [
        (s.name, s.summary, "patch grid" if s.output == GRID_OUTPUT else "signed" if s.signed else "magnitude", s.paper)
        for s in specs
    ]
    return table(("method", "what it shows", "values", "paper"), rows)


def warning_html(text: str) -> str:
    """A warning banner (random weights ...), shown at the top of a page."""
    return f'<p class=warning style="background:#fde2e1;padding:.6em;border-left:4px solid #c0392b">{esc(text)}</p>'


def class_titles(explanation: Explanation, names: Sequence[str] | None = None) -> list[str]:
    """ "class: p=0.97" per image, for the explained class ("custom score" for a callable target)."""
    classes = explanation.class_names
    titles = []
    for t, p in zip(explanation.target.tolist(), explanation.target_probability.tolist(), strict=False):
        if t < 0:
            titles.append("custom score")
        else:
            titles.append(f"{classes[t] if classes else t}: p={format_probability(p)}")
    if names is not None:
        titles = [f"{n[:14]}\n{t}" for n, t in zip(names, titles, strict=False)]
    return titles


def group_pictures(
    explanation: Explanation,
    specs: Sequence[MethodSpec],
    stem: str,
    caption: str,
    *,
    truth: torch.Tensor | None = None,
    names: Sequence[str] | None = None,
    warning: str = "",
) -> list[Picture]:
    """The figures of one explained group: one grid of per-pixel maps, one figure per patch-grid method.

    Args:
        explanation: from :func:`convlens.attribution.explain`.
        specs: the methods to show (those in ``explanation.maps``).
        stem: the file stem of the PNGs (``"correct"`` → ``correct.png``, ``correct-occlusion-sensitivity.png``).
        caption: what the group is.
        truth: the true classes, if known (wrong predictions are captioned in red).
        names: a name per image (file names), if any.
        warning: put in each figure's title (random weights ...).

    Returns:
        The pictures, in order.
    """
    pictures = []
    k = explanation.classes_per_image
    if k > 1:  # one row per image and class
        explanation = explanation.per_class_rows()
        truth = None if truth is None else truth.repeat_interleave(k)
        names = None if names is None else [n for n in names for _ in range(k)]
    pixel = {s.name for s in specs if s.output != GRID_OUTPUT and s.name in explanation.maps}
    if pixel:
        view = dataclasses.replace(explanation, maps={k: v for k, v in explanation.maps.items() if k in pixel})
        fig = explanation_figure(view, truth=truth, signed={s.name: s.signed for s in specs}, names=names)
        if warning:
            fig.suptitle(warning, color="crimson", fontsize=8)
        pictures.append(Picture(stem, png_bytes(fig), caption))
    for spec in (s for s in specs if s.output == GRID_OUTPUT and s.name in explanation.maps):
        fig = occlusion_figure(explanation.images, explanation.maps[spec.name], titles=class_titles(explanation, names))
        if warning:
            fig.suptitle(warning, color="crimson", fontsize=8)
        what = f"{spec.name}: {spec.summary} (colour scale follows the data); {caption}"
        pictures.append(Picture(f"{stem}-{spec.name}", png_bytes(fig), what))
    return pictures


def pictures_html(pictures: Sequence[Picture]) -> str:
    return "".join(image(p.png, p.caption) for p in pictures)


def example_sections(
    examples: ExampleExplanations, specs: Sequence[MethodSpec], source: str, seed: int, *, warning: str = ""
) -> tuple[list[Section], list[Picture]]:
    """Sections for correctly classified and misclassified examples of a data set, and their pictures."""
    accuracy = paragraph(f"Accuracy on {source}: {examples.accuracy:.1%} of {examples.count} images.")
    sections = [Section("Methods", reading_guide(specs) + methods_table(specs) + accuracy)]
    pictures: list[Picture] = []
    groups = (
        ("correct", "Correctly classified", examples.correct, examples.correct_truth, examples.correct_index),
        ("misclassified", "Misclassified", examples.wrong, examples.wrong_truth, examples.wrong_index),
    )
    for stem, title, expl, truth, index in groups:
        if expl is None:
            sections.append(Section(title, paragraph(f"No {title.lower()} images in {source}: nothing to show.")))
            continue
        caption = f"{len(index)} {title.lower()} images of {source}, picked at random (seed {seed})"
        group = group_pictures(expl, specs, stem, caption, truth=truth, warning=warning)
        sections.append(Section(title, pictures_html(group)))
        pictures += group
    return sections, pictures


def file_sections(
    explanation: Explanation, specs: Sequence[MethodSpec], names: Sequence[str], *, rows: int = 16, warning: str = ""
) -> tuple[list[Section], list[Picture]]:
    """Sections for explained image files, ``rows`` images per figure, and their pictures."""
    pictures: list[Picture] = []
    for k, start in enumerate(range(0, len(names), rows), start=1):
        part = slice(start, start + rows)
        stem = "explanations" if len(names) <= rows else f"explanations-{k}"
        pictures += group_pictures(
            explanation.rows(part), specs, stem, ", ".join(names[part]), names=names[part], warning=warning
        )
    body = reading_guide(specs) + methods_table(specs) + pictures_html(pictures)
    return [Section("Explanations", body)], pictures


def input_sections(
    result: Explanation | ExampleExplanations,
    specs: Sequence[MethodSpec],
    inputs: Inputs,
    seed: int,
    *,
    rows: int = 16,
    warning: str = "",
) -> tuple[list[Section], list[Picture]]:
    """The sections of :func:`convlens.attribution.examples.explain_inputs`'s result: files or a data set."""
    if isinstance(result, ExampleExplanations):
        return example_sections(result, specs, inputs.source, seed, warning=warning)
    return file_sections(result, specs, inputs.names, rows=rows, warning=warning)


def explain_page(sections: Sequence[Section], run: Sequence[tuple[str, object]], warning: str = "") -> list[Section]:
    """The sections of ``explain.html``: a warning first when there is one, the run's facts last."""
    top = [Section("Warning", warning_html(warning))] if warning else []
    return [*top, *sections, Section("Run", key_values(run))]


def explanations_section(examples: ExampleExplanations, specs: Sequence[MethodSpec], source: str, seed: int) -> Section:
    """The demo report's "Explanations" section: every method on correct and misclassified test images."""
    sections, _ = example_sections(examples, specs, source, seed)
    return Section("Explanations", "".join(f"<h3>{esc(s.title)}</h3>{s.body}" for s in sections), anchor="explanations")


__all__ = [
    "Picture", "class_titles", "example_sections", "explain_page", "explanations_section", "file_sections",
    "input_sections",
    "group_pictures", "methods_table",
    "pictures_html", "reading_guide", "warning_html",
]  # fmt: skip
