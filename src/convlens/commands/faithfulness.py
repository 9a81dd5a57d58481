"""``convlens faithfulness MODEL``: do the maps point at pixels the prediction needs? (deletion/insertion)"""

from __future__ import annotations

import time
from pathlib import Path

import click
import torch

from ._common import device_option, load_cli_model, out_option, prepare_out, wrote
from .sanity import progress_bar, sample_images, save_figures, split_methods


@click.command("faithfulness")
@click.argument("model")
@click.option("--methods", default=None, help="Comma-separated attribution methods.  [default: all]")
@click.option(
    "-n",
    "--count",
    type=click.IntRange(1, 4096),
    default=64,
    show_default=True,
    help="Test images of the bundled sample.",
)
@click.option(
    "--steps",
    type=click.IntRange(1),
    default=28,
    show_default=True,
    help="Steps of each deletion/insertion curve (28 = one row of a 28x28 digit per step).",
)
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the image pick and the random baseline.")
@click.option("--pretrained", is_flag=True, help="With a registry name: download the published weights.")
@device_option()
@out_option("faithfulness-output")
def command(model: str, methods: str | None, count: int, steps: int, seed: int, pretrained: bool, device: str,
            out: Path) -> None:  # fmt: skip
    """Faithfulness of attribution maps for MODEL: a registry name, a checkpoint file or a
    training folder.

    \b
    Deletion and insertion curves (Petsiuk et al. 2018): the pixels each method ranks highest
    are removed first (set to black), or inserted first into a black image, and the probability
    of the predicted class is tracked; a random pixel order is the baseline. Also average drop
    and increase in confidence (Chattopadhyay et al. 2018). Every perturbed copy runs in
    batched forward passes on --device. Writes faithfulness.html, the curves as PNG and
    faithfulness.pt to --out. Runs offline on the bundled MNIST sample."""
    from ..attribution.examples import attribution_methods
    from ..registry import list_methods
    from ..report.html import Section, write_report
    from ..report.trust import faithfulness_html
    from ..trust import methods_faithfulness

    started = time.perf_counter()
    loaded = load_cli_model(model, pretrained=pretrained, device=device)
    if loaded.warning:
        click.echo(f"convlens: warning: {loaded.warning}", err=True)
    x = sample_images(loaded, count, seed)
    names = split_methods(methods)
    if names is not None:
        attribution_methods(names)  # an unknown name fails now, before any work, listing the valid ones
    out = prepare_out(out)
    ranked = [s for s in list_methods("attribution") if s.output != "grid" and (names is None or s.name in names)]
    total = len(ranked) + 2  # the maps, each method, the random baseline
    with progress_bar(total, "deletion/insertion") as step:
        result = methods_faithfulness(loaded.model, x, names, steps=steps, seed=seed, progress=step)
    pngs: list[tuple[str, bytes]] = []
    section = Section("Deletion and insertion", faithfulness_html(result, pngs))
    torch.save({
        name: {"deletion": c.deletion, "insertion": c.insertion, "deletion_auc": c.deletion_auc,
               "insertion_auc": c.insertion_auc, "average_drop": result.drop[name].average_drop,
               "increase_in_confidence": result.drop[name].increase_in_confidence}
        for name, c in result.curves.items()
    }, out / "faithfulness.pt")  # fmt: skip
    save_figures(pngs, out)
    wrote(out / "faithfulness.pt", "curves and AUCs")
    subtitle = f"{loaded.label}, {count} test digits of the bundled sample" + (
        " — RANDOM WEIGHTS" if loaded.warning else ""
    )
    wrote(write_report(out / "faithfulness.html", "convlens faithfulness", [section], subtitle), "page")
    for name, c in result.curves.items():
        click.echo(f"  {name:24s} deletion AUC {float(c.deletion_auc.mean()):.3f}   "
                   f"insertion AUC {float(c.insertion_auc.mean()):.3f}")  # fmt: skip
    click.echo(f"done in {time.perf_counter() - started:.0f}s")
