"""``convlens filters``: a model's learned filters as labelled grids (PNG and one HTML page)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import click

from ._common import device_option, load_cli_model, out_option, prepare_out, wrote


@click.command("filters")
@click.argument("model_spec", metavar="MODEL")
@click.option(
    "--layer", "layers", multiple=True, help="A conv layer (repeat for more).  [default: the first two convolutions]"
)
@click.option(
    "--inputs",
    type=click.IntRange(1, 64),
    default=None,
    help="Show the first K input channels of each filter instead of their average.",
)
@click.option(
    "--limit", type=click.IntRange(1, 1024), default=64, show_default=True, help="At most this many filters per layer."
)
@click.option("--pretrained", is_flag=True, help="With a registry name: download the published weights.")
@device_option()
@out_option("filters-output")
def command(model_spec: str, layers: Sequence[str], inputs: int | None, limit: int, pretrained: bool, device: str,
            out: Path) -> int:  # fmt: skip
    """Draw the filters (weights) of MODEL's conv layers: the first layer of an RGB model in colour,
    deeper layers one tile per filter (input channels averaged, or the first K with --inputs).

    \b
    MODEL is a registry name (mnist-cnn, squeezenet1_1, ...), a checkpoint written by
    `convlens train`, or its folder. Writes one PNG per layer, filters.html and filters.pt (the weights).
    """
    import torch

    from ..inspect import conv_layers, filters
    from ..models.checkpoint import atomic_save
    from ..report.html import Section, paragraph, write_report
    from ..report.inspect import filters_html
    from ..viz.figures import save_png

    loaded = load_cli_model(model_spec, pretrained=pretrained, device=device)
    if loaded.warning:
        click.echo(f"convlens: warning: {loaded.warning}", err=True)
    names = list(layers) or conv_layers(loaded.model)[:2]
    found = [filters(loaded.model, name) for name in names]  # unknown or non-conv layers fail here, before writing
    out = prepare_out(out)
    body = [paragraph(f"Warning: {loaded.warning}")] if loaded.warning else []
    weights: dict[str, torch.Tensor] = {}
    for f in found:
        html, png = filters_html(f, inputs=inputs, limit=limit)
        body.append(html)
        wrote(save_png(png, out / f"filters-{_safe(f.name)}.png"), "figure")
        weights[f.name] = f.weight.cpu()
    wrote(atomic_save(weights, out / "filters.pt"), "weights")
    page = write_report(out / "filters.html", "convlens filters", [Section("Filters", "".join(body))], loaded.label)
    wrote(page, "page")
    return 0


def _safe(name: str) -> str:
    """A layer name as a file name part (``features.0`` stays, odd characters become ``_``)."""
    return "".join(c if c.isalnum() or c in "._-" else "_" for c in name) or "layer"
