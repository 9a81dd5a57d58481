"""``convlens summary MODEL``: the layer table with parameter, neuron and multiply-add totals."""

from __future__ import annotations

from pathlib import Path

import click

from ..models import load_model, summary
from ..errors import InputError
from ._common import wrote


def _size(text: str | None) -> tuple[int, int, int] | None:
    if text is None:
        return None
    try:
        parts = tuple(int(p) for p in text.lower().replace(",", "x").split("x"))
    except ValueError:
        parts = ()
    if len(parts) != 3:
        raise InputError(f"--input-size must look like 3x224x224 (C x H x W), got {text!r}")
    return parts  # type: ignore[return-value]


@click.command("summary")
@click.argument("model")
@click.option("--input-size", help="C x H x W, e.g. 3x224x224 (default: the model's own).")
@click.option("--csv", "csv_path", type=click.Path(dir_okay=False, path_type=Path), help="Also write the rows as CSV.")
@click.option("--json", "json_path", type=click.Path(dir_okay=False, path_type=Path), help="Also write everything as JSON.")
def command(model: str, input_size: str | None, csv_path: Path | None, json_path: Path | None) -> None:
    """Print every layer of MODEL (a registry name or checkpoint file) with its input and output
    shape and parameters, then totals of parameters and neurons split into convolutional and
    fully connected, and multiply-adds per image."""
    result = summary(load_model(model), _size(input_size))
    click.echo(result.table())
    for path, write in ((csv_path, result.to_csv), (json_path, result.to_json)):
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            write(path)
            wrote(path)
