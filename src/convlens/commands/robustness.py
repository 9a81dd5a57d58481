"""``convlens robustness MODEL``: accuracy against the attack budget, for one model or several side by side."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import click
import torch

from ..errors import InputError
from ._common import device_option, load_cli_model, out_option, prepare_out, wrote


def _budgets(text: str) -> list[float]:
    try:
        values = [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise InputError(f"--eps must be comma-separated numbers such as 0,0.05,0.1, got {text!r}") from None
    if not values:
        raise InputError("--eps is empty; give budgets such as 0,0.05,0.1,0.2,0.3")
    return values


@click.command("robustness")
@click.argument("model")
@click.option("--attack", type=click.Choice(["pgd", "fgsm"]), default="pgd", show_default=True)
@click.option("--eps", default="0,0.05,0.1,0.2,0.3", show_default=True, help="Budgets in [0,1] pixel units.")
@click.option(
    "--compare", "others", multiple=True, help="Another model (checkpoint or folder) to draw beside; repeatable."
)
@click.option("--steps", type=int, default=None, help="pgd steps per restart.  [default: pgd's]")
@click.option("--restarts", type=int, default=None, help="pgd random restarts.  [default: pgd's]")
@click.option("--norm", type=click.Choice(["inf", "2"]), default=None, help="pgd: L∞ or L2 ball.")
@click.option("--dataset", default="sample", show_default=True, help="'sample' (bundled MNIST), 'mnist' or 'cifar10'.")
@click.option("--data-root", type=click.Path(file_okay=False, path_type=Path), default=Path("data"), show_default=True)
@click.option(
    "-n",
    "--count",
    type=click.IntRange(1),
    default=None,
    help="Evaluate this many test images (spread over the set).  [default: all]",
)
@click.option("--batch-size", type=click.IntRange(1), default=256, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of pgd's random starts.")
@device_option()
@out_option("robustness-output")
def command(model: str, attack: str, eps: str, others: tuple[str, ...], steps: int | None, restarts: int | None,
            norm: str | None, dataset: str, data_root: Path, count: int | None, batch_size: int, seed: int,
            device: str, out: Path) -> int:  # fmt: skip
    """Accuracy of MODEL (and of each --compare model) under --attack at every --eps, on test images.

    Writes robustness.png, robustness.csv, robustness.json and robustness.html to --out. An image
    counts as robust at a budget only if it is classified correctly and the attack fails on it;
    eps 0 is the clean accuracy. Judge a defence with pgd and several --restarts."""
    from ..adversarial import robustness
    from ..report.adversarial import robustness_html
    from ..report.html import Section, key_values, paragraph, write_report
    from ..viz.figures import save_png
    from .attack import _test_data

    budgets = _budgets(eps)
    options: dict[str, Any] = {}
    if attack == "pgd":
        options = {k: v for k, v in (("steps", steps), ("restarts", restarts), ("norm", norm)) if v is not None}
        options["seed"] = seed
    elif steps is not None or restarts is not None or norm is not None:
        click.echo("convlens: note: fgsm ignores --steps, --restarts and --norm", err=True)
    data = _test_data(dataset, data_root, 0)
    if count is not None and count < len(data):
        data = data.subset(torch.linspace(0, len(data) - 1, count).long())
    curves, warnings = [], []
    for spec in (model, *others):
        loaded = load_cli_model(spec, device=device)
        if loaded.warning:
            click.echo(f"convlens: warning: {loaded.warning}", err=True)
            warnings.append(loaded.warning)
        click.echo(f"{loaded.label}: {attack} at eps {', '.join(f'{b:g}' for b in budgets)} on {len(data)} images")
        result = robustness(loaded.model, data, attack, budgets, batch_size=batch_size, **options)
        click.echo("  " + ", ".join(f"eps {e:g}: {a:.1%}" for e, a in result.rows()))
        curves.append((loaded.label, result))
    prepare_out(out)
    page = robustness_html(curves)
    for name, png in page.files.items():
        wrote(save_png(png, out / name), "figure")
    with open(out / "robustness.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["eps", *(label for label, _ in curves)])
        for i, e in enumerate(curves[0][1].eps.tolist()):
            writer.writerow([e, *(float(r.accuracy[i]) for _, r in curves)])
    wrote(out / "robustness.csv", "table")
    payload = [
        {"model": label, "attack": r.attack, "options": {k: str(v) for k, v in r.options.items()},
         "images": r.images, "eps": r.eps.tolist(), "accuracy": r.accuracy.tolist()}
        for label, r in curves
    ]  # fmt: skip
    (out / "robustness.json").write_text(json.dumps(payload, indent=2))
    wrote(out / "robustness.json", "data")
    facts = key_values([("models", ", ".join(label for label, _ in curves)), ("attack", attack),
                        ("images", f"{len(data)} test images of {dataset}")])  # fmt: skip
    note = "".join(paragraph(f"Warning: {w}") for w in warnings)
    wrote(
        write_report(
            out / "robustness.html", "convlens robustness", [Section("Robustness", note + facts + page.body())]
        ),
        "page",
    )
    return 0
