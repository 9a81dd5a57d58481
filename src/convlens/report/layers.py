"""The "From-scratch layers" section of the HTML report."""

from __future__ import annotations

from ..layers.compare import DiffStats, LayersComparison
from .html import Section, esc, key_values, paragraph, table


def layers_section(result: LayersComparison, title: str = "From-scratch layers") -> Section:
    """A report section: which layers were rebuilt, how far the outputs differ, accuracy and time.

    Args:
        result: from :func:`convlens.layers.compare_layers`.
        title: the section's heading.

    Returns:
        The section.
    """
    intro = paragraph(
        f"{result.model_name} rebuilt with convlens.layers.Linear and Conv2d "
        f"({result.implementation} implementation), written without torch.nn.Linear/Conv2d or their "
        "functional forms, with the same weights. The twin must predict what the original predicts; "
        "the differences below are float32 rounding."
    )
    layers = table(("layer", "replaced by"), result.replaced)
    diffs = [_diff_row("random inputs in [0,1]", result.random)]
    if result.real is not None:
        diffs.append(_diff_row(result.data_name, result.real))
    diff_table = table(("inputs", "images", "mean |Δ|", "max |Δ|", "same prediction"), diffs, numeric=(1, 2, 3, 4))
    pairs: list[tuple[str, object]] = []
    if result.weights:
        pairs.append(("weights", result.weights))
    if result.accuracy_default is not None and result.accuracy_own is not None and result.real is not None:
        on = f"{result.data_name}, {result.real.images} images"
        pairs.append((f"accuracy torch.nn ({on})", f"{result.accuracy_default:.2%}"))
        pairs.append((f"accuracy convlens.layers ({on})", f"{result.accuracy_own:.2%}"))
    pairs += [
        (f"time per batch of {result.timing_batch}, torch.nn", f"{result.time_default_ms:.2f} ms"),
        (f"time per batch of {result.timing_batch}, convlens.layers", f"{result.time_own_ms:.2f} ms"),
        ("time ratio own/default", f"{result.time_ratio:.2f}×"),
        ("time ratio of the medians", f"{result.time_own_median_ms / result.time_default_median_ms:.2f}×"),
        ("measured", f"{result.repeats} passes each, alternating, {result.threads} thread(s), {result.device}"),
    ]
    notes = "".join(f"<p class=meta>{esc(note)}</p>" for note in result.notes)
    body = intro + layers + diff_table + key_values(pairs) + notes
    return Section(title, body, anchor="layers")


def _diff_row(what: str, diff: DiffStats) -> tuple[object, ...]:
    return (what, diff.images, f"{diff.mean_abs:.3g}", f"{diff.max_abs:.3g}", f"{diff.same_prediction:.2%}")
