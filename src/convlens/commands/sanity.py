"""``convlens sanity MODEL``: do the maps depend on the model? (Adebayo et al. 2018 sanity checks)"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import click
import torch

from ..errors import InputError
from ._common import LoadedModel, device_option, load_cli_model, out_option, prepare_out, wrote


def split_methods(methods: str | None) -> list[str] | None:
    """``--methods a,b`` as a list (None: every registered method)."""
    if methods is None:
        return None
    names = [m.strip() for m in methods.split(",") if m.strip()]
    if not names:
        raise InputError("--methods is empty; give comma-separated names such as saliency,grad-cam")
    return names


def sample_images(loaded: LoadedModel, count: int, seed: int) -> torch.Tensor:
    """``count`` random test digits of the bundled offline sample, on the model's device."""
    from .._checks import model_device
    from ..data import sample_splits

    test = sample_splits().test
    if tuple(test.image_size) != tuple(loaded.input_size):
        want = "x".join(map(str, loaded.input_size))
        raise InputError(f"{loaded.label} expects {want} images; the bundled sample holds 1x28x28 MNIST digits")
    index = torch.randperm(len(test), generator=torch.Generator().manual_seed(seed))[:count]
    return test.batch(index)[0].to(model_device(loaded.model))


@contextmanager
def progress_bar(total: int, desc: str) -> Iterator[Callable[[str], None]]:
    """A tqdm bar of ``total`` steps, as a ``progress(label)`` callback for the trust functions."""
    from tqdm.auto import tqdm

    bar = tqdm(total=total, desc=desc, leave=False)

    def step(label: str) -> None:
        bar.set_postfix_str(label)
        bar.update(1)

    try:
        yield step
    finally:
        bar.close()


def save_figures(pngs: list[tuple[str, bytes]], out: Path) -> None:
    """Write each collected figure as ``out/NAME.png``."""
    from ..viz.figures import save_png

    for name, png in pngs:
        wrote(save_png(png, out / f"{name}.png"), "figure")


@click.command("sanity")
@click.argument("model")
@click.option("--methods", default=None, help="Comma-separated attribution methods.  [default: all]")
@click.option(
    "--mode",
    type=click.Choice(["cascading", "independent", "both"]),
    default="both",
    show_default=True,
    help="Re-initialize layers from the output down, one at a time, or run both tests.",
)
@click.option(
    "-n",
    "--count",
    type=click.IntRange(1, 256),
    default=8,
    show_default=True,
    help="Test images of the bundled sample to explain.",
)
@click.option(
    "--data-randomization",
    "epochs",
    type=click.IntRange(0),
    default=0,
    show_default=True,
    help="Also train the architecture on permuted labels for this many epochs and compare (0: skip).",
)
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the image pick and the random weights.")
@click.option("--pretrained", is_flag=True, help="With a registry name: download the published weights.")
@device_option()
@out_option("sanity-output")
def command(model: str, methods: str | None, mode: str, count: int, epochs: int, seed: int, pretrained: bool,
            device: str, out: Path) -> None:  # fmt: skip
    """Sanity checks of attribution maps (Adebayo et al. 2018) for MODEL: a registry name, a
    checkpoint file or a training folder.

    \b
    On a copy of the model, the layers are re-initialized with random weights from the output
    down (cascading) and one at a time (independent); every method explains the same test
    digits at every stage, and the maps are compared with the trained model's (Spearman rank
    correlation with and without absolute values, SSIM, HOG similarity). A method whose maps
    barely change does not explain the model. Writes sanity.html, one PNG per figure and
    sanity.pt (maps and similarities) to --out. Runs offline on the bundled MNIST sample."""
    from ..report.html import Section, write_report
    from ..report.trust import data_randomization_html, sanity_html
    from ..trust import data_randomization_test, randomizable_layers, randomization_test

    started = time.perf_counter()
    loaded = load_cli_model(model, pretrained=pretrained, device=device)
    if loaded.warning:
        click.echo(f"convlens: warning: {loaded.warning}", err=True)
    x = sample_images(loaded, count, seed)
    names = split_methods(methods)
    out = prepare_out(out)
    sections, saved, pngs = [], {}, []  # type: ignore[var-annotated]
    stages = len(randomizable_layers(loaded.model, x)) + 1
    for each in ["cascading", "independent"] if mode == "both" else [mode]:
        with progress_bar(stages, f"{each} randomization") as step:
            result = randomization_test(loaded.model, x, names, mode=each, seed=seed, progress=step)
        sections.append(Section(f"{each.capitalize()} randomization", sanity_html(result, (0,), pngs)))
        saved[each] = {"stages": result.stages, "maps": result.maps, "similarity": result.similarity}
    if epochs:
        from ..data import sample_splits
        from ..train import TrainConfig

        click.echo(f"training {loaded.label} on permuted labels for {epochs} epoch(s)")
        config = TrainConfig(epochs=epochs, seed=seed)
        data_result = data_randomization_test(
            loaded.model, x, sample_splits(seed), names, config=config, seed=seed, progress=True
        )
        sections.append(Section("Data randomization", data_randomization_html(data_result)))
        saved["data"] = {"maps": data_result.maps, "similarity": data_result.similarity}
    subtitle = f"{loaded.label}, {count} test digits of the bundled sample" + (
        " — RANDOM WEIGHTS" if loaded.warning else ""
    )
    torch.save(saved, out / "sanity.pt")
    save_figures(pngs, out)
    wrote(out / "sanity.pt", "maps and similarities")
    wrote(write_report(out / "sanity.html", "convlens sanity", sections, subtitle), "page")
    click.echo(f"done in {time.perf_counter() - started:.0f}s")
