"""HTML for the trust checks: the Captum comparison, the sanity checks and faithfulness.

Section builders read result objects of :mod:`convlens.trust`; :func:`trust_section` is the demo
report's "Can you trust these maps?" section (it runs the checks on the demo's model). The
commands ``convlens sanity`` and ``convlens faithfulness`` and ``convlens explain
--compare-captum`` use the same builders.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import torch
from matplotlib.figure import Figure
from torch import nn

from ..data.dataset import Splits
from ..registry import list_methods
from ..trust.captum import CaptumComparison
from ..trust.faithfulness import DeletionInsertion, MethodsFaithfulness
from ..trust.randomization import DataRandomizationResult, RandomizationResult
from ..trust.similarity import METRIC_TITLES, METRICS
from ..viz.figures import png_bytes
from ..viz.trust import captum_figure, faithfulness_figure, randomization_figure, similarity_figure
from .html import Section, image, paragraph, table

READING_METRIC = "spearman_abs"
MUCH_LESS = 0.15  # similarity margin over saliency that counts as "changes much less"


def signed_methods() -> dict[str, bool]:
    """Method name → whether its map is signed, from the registry."""
    return {s.name: s.signed for s in list_methods("attribution")}


Pngs = list[tuple[str, bytes]]


def _figure(fig: Figure, caption: str, name: str, pngs: Pngs | None) -> str:
    """The figure as embedded HTML; its PNG is also appended to ``pngs`` (for commands that save files)."""
    png = png_bytes(fig)
    if pngs is not None:
        pngs.append((name, png))
    return image(png, caption)


def _num(value: float, digits: int = 2) -> str:
    return "n/a" if value is None or math.isnan(value) else f"{value:.{digits}f}"


# --------------------------------------------------------------------------- Captum


def captum_html(comparison: CaptumComparison, images: int = 3, pngs: Pngs | None = None) -> str:
    """The comparison with Captum: a table of the differences, the figure, and what was skipped.

    Args:
        comparison: a :class:`convlens.trust.CaptumComparison`.
        images: how many images the figure shows.
        pngs: if given, receives ``(name, png)`` of each figure.
    """
    rows = []
    for r in comparison.rows:
        if r.statistical:
            verdict = f"statistical: correlation of the mean maps {r.correlation:.3f}"
        else:
            verdict = "agrees" if r.max_rel_diff < 1e-4 else "DIFFERS"
        rows.append((r.method, r.captum_call, f"{r.max_abs_diff:.2e}", f"{r.max_rel_diff:.2e}", verdict))
    parts = [
        paragraph(
            f"Every method that Captum {comparison.captum_version} also implements, computed both ways on the same "
            f"model, {comparison.images.shape[0]} images, classes and settings. Relative difference = "
            "max |ours − Captum| / max |Captum|; below 1e-4 the two agree to float32 rounding. SmoothGrad draws "
            "its own noise, so only its mean maps can be compared (their correlation)."
        ),
        table(
            ("method", "Captum call (equal settings)", "max abs diff", "max rel diff", "verdict"), rows, numeric=(2, 3)
        ),
    ]
    if comparison.rows:
        fig = captum_figure(comparison, signed_methods(), images=images)
        parts.append(_figure(fig, "For each method: our map, Captum's, and their difference on our map's colour "
                                  "scale (blank = no visible difference).", "captum", pngs))  # fmt: skip
    if comparison.skipped:
        parts.append(paragraph("No Captum counterpart (not compared): " + ", ".join(comparison.skipped) + "."))
    return "".join(parts)


def captum_section(
    comparison: CaptumComparison, title: str = "Compared with Captum", images: int = 3, pngs: Pngs | None = None
) -> Section:
    """:func:`captum_html` as a section (for ``convlens explain --compare-captum``).

    Args:
        comparison: a :class:`convlens.trust.CaptumComparison`.
        title: the section title.
        images: how many images the figure shows (ours, Captum's and the difference for each).
        pngs: if given, receives ``("captum", png)`` for the figure.
    """
    return Section(title, captum_html(comparison, images, pngs))


# --------------------------------------------------------------------------- sanity checks


def _resilience(result: RandomizationResult, method: str, metric: str = READING_METRIC) -> float:
    """Mean similarity to the original maps over every randomized stage."""
    return float(result.mean_similarity(method, metric)[1:].nanmean())


def adebayo_reading(result: RandomizationResult) -> str:
    """Plain sentences on whether the maps depend on the weights, and whether the paper's finding reproduces.

    Adebayo et al. 2018 found that gradient maps change as layers are randomized while guided
    backprop and guided Grad-CAM change much less. The sentences are written from the numbers.
    """
    names = list(result.maps)
    mode = result.mode
    score = {n: _resilience(result, n) for n in names}
    ranked = sorted(names, key=lambda n: -score[n] if not math.isnan(score[n]) else 0.0)
    text = [
        f"Averaged over the {len(result.stages) - 1} {mode} randomization stages, the rank correlation of |map| with "
        "the trained model's maps is: " + ", ".join(f"{n} {_num(score[n])}" for n in ranked) + " (1 = unchanged, "
        "0 = unrelated)."
    ]
    if "saliency" in score:
        base = score["saliency"]
        text.append(f"Gradient maps do change as the layers are randomized: saliency falls to {_num(base)} on average.")
        for name in ("guided-backprop", "guided-grad-cam"):
            if name not in score:
                continue
            if score[name] > base + MUCH_LESS:
                text.append(f"{name} changes much less ({_num(score[name])}): this reproduces the paper's finding that "
                            f"{name} is largely insensitive to the model's weights.")  # fmt: skip
            else:
                text.append(f"{name} changes about as much as saliency or more ({_num(score[name])}): on this model "
                            f"the paper's finding does NOT reproduce for {name}.")  # fmt: skip
    if "integrated-gradients" in score and score["integrated-gradients"] > 0.8:
        text.append("Integrated gradients stay rank-similar because they are multiplied by the image: every black "
                    "background pixel is exactly zero in every stage, so the digit's outline dominates the ranks "
                    "(SSIM and HOG, which look at the structure inside the digit, drop further).")  # fmt: skip
    return " ".join(text)


def sanity_html(result: RandomizationResult, image_indices: tuple[int, ...] = (0,), pngs: Pngs | None = None) -> str:
    """Figures, similarity curves, a table and plain reading of a randomization test.

    Args:
        result: a :class:`convlens.trust.RandomizationResult`.
        image_indices: the images whose maps are shown stage by stage.
        pngs: if given, receives ``(name, png)`` of each figure.
    """
    signed = signed_methods()
    parts = [paragraph(adebayo_reading(result))]
    for i in image_indices:
        fig = randomization_figure(result, signed, image=i)
        parts.append(_figure(fig, f"Image {i}: each method's |map| (scaled on its own) as the layers are "
                                  "re-initialized, from the output down. A trustworthy map turns to noise.",
                             f"{result.mode}-maps-{i}", pngs))  # fmt: skip
    parts.append(_figure(similarity_figure(result, METRICS, METRIC_TITLES),
                         "Similarity of each stage's maps to the trained model's, averaged over the images; "
                         "a falling curve means the method notices that the weights changed.",
                         f"{result.mode}-similarity", pngs))  # fmt: skip
    header = ("method", *(f"{METRIC_TITLES[m]}, last stage" for m in METRICS))
    rows = [(name, *(_num(float(result.mean_similarity(name, m)[-1])) for m in METRICS)) for name in result.maps]
    parts.append(table(header, rows, numeric=(1, 2, 3, 4)))
    return "".join(parts)


def data_randomization_html(result: DataRandomizationResult) -> str:
    """The data randomization test: similarity of the real model's maps to the random-label model's."""
    rows = [(name, *(_num(float(v[m].nanmean())) for m in METRICS)) for name, v in result.similarity.items()]
    return "".join([
        paragraph(f"The same architecture trained on permuted labels reaches {result.train_accuracy:.1%} on its "
                  f"(random) training labels and {result.test_accuracy:.1%} on the real test labels. Maps that still "
                  "resemble the real model's explain the images, not what the model learnt."),
        table(("method", *(METRIC_TITLES[m] for m in METRICS)), rows, numeric=(1, 2, 3, 4)),
    ])  # fmt: skip


# --------------------------------------------------------------------------- faithfulness


def faithfulness_html(result: MethodsFaithfulness, pngs: Pngs | None = None) -> str:
    """Deletion/insertion curves with the random-order baseline, and a table of AUCs and drop/increase.

    Args:
        result: a :class:`convlens.trust.MethodsFaithfulness`.
        pngs: if given, receives ``(name, png)`` of each figure.
    """
    curves: Mapping[str, DeletionInsertion] = result.curves
    baseline = result.baseline
    base = curves[baseline]
    rows = []
    for name, c in curves.items():
        d = result.drop[name]
        dele, ins = float(c.deletion_auc.mean()), float(c.insertion_auc.mean())
        beats = name != baseline and dele < float(base.deletion_auc.mean()) and ins > float(base.insertion_auc.mean())
        rows.append((name, f"{dele:.3f}", f"{ins:.3f}", f"{d.average_drop:.1f}", f"{d.increase_in_confidence:.1f}",
                     "—" if name == baseline else ("yes" if beats else "no")))  # fmt: skip
    count = base.deletion.shape[0]
    parts = [
        paragraph(
            f"Deletion removes the pixels a map ranks highest first (they become black) and tracks the probability "
            f"of the class; insertion puts them back into a black image. {count} images, {result.steps} steps "
            "each, every copy in batched forward passes. A faithful map has a low deletion AUC and a high insertion "
            "AUC; the random order (dashed) is what a map that knows nothing scores."
        ),
        _figure(
            faithfulness_figure(curves, baseline),
            "Mean deletion and insertion curves per method.",
            "deletion-insertion",
            pngs,
        ),
        table(
            (
                "method",
                "deletion AUC ↓",
                "insertion AUC ↑",
                "average drop % ↓",
                "increase in confidence % ↑",
                "beats random order on both",
            ),
            rows,
            numeric=(1, 2, 3, 4),
        ),  # fmt: skip
    ]
    if result.skipped:
        parts.append(paragraph("Not ranked (their output is a probability grid, not an importance map): "
                               + ", ".join(result.skipped) + "."))  # fmt: skip
    return "".join(parts)


# --------------------------------------------------------------------------- the demo's section


def trust_section(
    model: nn.Module, data: Splits, *, seed: int = 0, captum_images: int = 2, sanity_images: int = 6,
    faithfulness_images: int = 16, steps: int = 10,
) -> Section:  # fmt: skip
    """The demo report's "Can you trust these maps?" section.

    Runs, on a few test images: the comparison with Captum, the cascading randomization test
    and deletion/insertion with the random baseline. Sized to take a few seconds on two CPU
    cores.

    Args:
        model: the trained classifier (``mnist-cnn`` in the demo); never modified.
        data: its splits (``sample_splits()`` in the demo); the test images are used.
        seed: seed of the picks, the randomization and the noise.
        captum_images, sanity_images, faithfulness_images: images per check.
        steps: deletion/insertion steps.
    """
    from ..trust import CaptumNotInstalled, compare_with_captum, methods_faithfulness, randomization_test

    gen = torch.Generator().manual_seed(seed + 11)
    index = torch.randperm(len(data.test), generator=gen)[: max(captum_images, sanity_images, faithfulness_images)]
    images, _ = data.test.batch(index)
    parts = [paragraph(
        "Three checks of the explanations above. Does our code compute what a trusted implementation computes? Do "
        "the maps depend on what the model learnt (Adebayo et al. 2018, \"Sanity Checks for Saliency Maps\")? "
        "Do they point at pixels the prediction really needs (Petsiuk et al. 2018)?"
    )]  # fmt: skip
    parts.append("<h3>Compared with Captum</h3>")
    try:
        parts.append(captum_html(compare_with_captum(model, images[:captum_images], seed=seed)))
    except CaptumNotInstalled as exc:
        parts.append(paragraph(str(exc)))
    parts.append("<h3>Sanity check: cascading model parameter randomization</h3>")
    result = randomization_test(model, images[:sanity_images], mode="cascading", seed=seed)
    parts.append(sanity_html(result, image_indices=(0,)))
    parts.append("<h3>Faithfulness: deletion and insertion</h3>")
    faith = methods_faithfulness(model, images[:faithfulness_images], steps=steps, seed=seed)
    parts.append(faithfulness_html(faith))
    return Section("Can you trust these maps?", "".join(parts))


__all__ = [
    "adebayo_reading", "captum_html", "captum_section", "data_randomization_html", "faithfulness_html",
    "sanity_html", "signed_methods", "trust_section",
]  # fmt: skip
