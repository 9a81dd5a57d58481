"""``convlens summary MODEL``: the layer table with parameter, neuron and multiply-add totals."""

from __future__ import annotations

from pathlib import Path

import click

from .._io import atomic_write_text
from ..errors import InputError
from ..models import summary
from ._common import load_cli_model, wrote


def _size(text: str | None) -> tuple[int, int, int] | None:
    if text is None:
        return None
    try:
        parts = tuple(int(p) for p in text.lower().replace(",", "x").split("x"))
    except ValueError:
        parts = ()
    if len(parts) != 3:
        raise InputError(f"--input-size must look like 3x224x224 (C x H x W), got {text!r}")
    return parts[0], parts[1], parts[2]


@click.command("summary")
@click.argument("model")
@click.option("--input-size", help="C x H x W, e.g. 3x224x224 (default: the model's own).")
@click.option("--csv", "csv_path", type=click.Path(dir_okay=False, path_type=Path), help="Also write the rows as CSV.")
@click.option(
    "--json", "json_path", type=click.Path(dir_okay=False, path_type=Path), help="Also write everything as JSON."
)
def command(model: str, input_size: str | None, csv_path: Path | None, json_path: Path | None) -> None:
    """Print every layer of MODEL (a registry name, a checkpoint file or a training folder) with
    its input and output shape per image (C x H x W, without the batch) and parameters, then
    totals of parameters and neurons split into convolutional and fully connected, and
    multiply-adds per image."""
    result = summary(load_cli_model(model).model, _size(input_size))
    click.echo(result.table())
    for path, text in ((csv_path, result.to_csv), (json_path, result.to_json)):
        if path is not None:
            wrote(atomic_write_text(path, text() + ("" if path == csv_path else "\n")))
