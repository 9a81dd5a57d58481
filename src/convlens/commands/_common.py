"""Options and helpers shared by the sub-commands."""

from __future__ import annotations

from pathlib import Path

import click

TRAIN_OUT = Path("runs/train")  # where `convlens train` writes by default; `explain` looks there


def out_option(default: str):  # type: ignore[no-untyped-def]
    """``--out DIR``: where the command writes (created if missing)."""
    return click.option(
        "--out", "out", type=click.Path(file_okay=False, path_type=Path), default=Path(default),
        show_default=True, help="Folder to write results to (created if missing).",
    )  # fmt: skip


def prepare_out(out: Path) -> Path:
    """Create the output folder and return it."""
    out.mkdir(parents=True, exist_ok=True)
    return out


def wrote(path: Path, what: str = "") -> None:
    """Tell the user where a file went."""
    click.echo(f"wrote {what + ' ' if what else ''}{path}")
