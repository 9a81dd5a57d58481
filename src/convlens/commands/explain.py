"""``convlens explain``: attribution maps for image files or a data set, as PNGs and one HTML page."""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click
import torch

from ..data.inputs import Inputs
from ..errors import InputError
from ..models.checkpoint import CHECKPOINT_NAME
from ..registry import list_methods
from ..report.html import Section
from ._common import TRAIN_OUT, LoadedModel, device_option, load_cli_model, out_option, split_names, wrote

DEFAULT_MODEL = "mnist-cnn"
TRAIN_CHECKPOINT = TRAIN_OUT / CHECKPOINT_NAME  # where `convlens train` writes by default
ROWS_PER_FIGURE = 16

HELP = f"""Explain a model's decisions with attribution maps (saliency, Grad-CAM, ...).

\b
Writes to --out: one PNG grid per group of images (image, prediction, truth and one column per
method), a figure per patch-grid method, explain.html with all of them, and attributions.pt with
the raw maps.

\b
With --images, each file (or every image in a folder) is converted to the model's channels and
size. With --dataset (default: 'sample', the bundled real MNIST test digits, offline), --count
correctly classified and --count misclassified images are picked at random.

\b
--model is a registry name (mnist-cnn, squeezenet1_1, ...), a checkpoint written by `convlens
train`, or its folder. Without --model: {TRAIN_CHECKPOINT} when it exists, else {DEFAULT_MODEL}.
A registry name alone has RANDOM weights: the command runs, says so loudly and marks the page.
"""


def build_command() -> click.Command:
    """The command, with the method choices of the registry as it is now (a new method shows up)."""
    names = [s.name for s in list_methods("attribution")]
    layered = [s.name for s in list_methods("attribution") if s.takes_layer]

    @click.command("explain", help=HELP)
    @click.option("--model", "model_spec", default=None, help="Registry name, checkpoint file or training folder.")
    @click.option("--pretrained", is_flag=True, help="With a registry name: download the published weights.")
    @click.option(
        "--images",
        "image_paths",
        multiple=True,
        type=click.Path(path_type=Path),
        help="An image file or a folder of images; repeat for more. Not with --dataset.",
    )
    @click.option(
        "--dataset",
        default=None,
        help="sample, mnist, cifar10 (test split under --data-root) or a "
        "folder with one sub-folder per class.  [default: sample]",
    )
    @click.option(
        "--data-root",
        type=click.Path(file_okay=False, path_type=Path),
        default=Path("data"),
        show_default=True,
        help="Where the mnist/cifar10 files live.",
    )
    @click.option("--methods", default=None, help=f"Comma-separated methods, from: {', '.join(names)}.  [default: all]")
    @click.option("--layer", default=None, help=f"Layer for {', '.join(layered)} (default: the last feature map).")
    @click.option("--target", default=None, help="Class to explain, index or name.  [default: each prediction]")
    @click.option(
        "--top",
        type=click.IntRange(1, 20),
        default=None,
        help="Explain each image's K most likely classes (one row per image and class).",
    )
    @click.option(
        "-n",
        "--count",
        default=10,
        show_default=True,
        type=click.IntRange(1, 500),
        help="With a data set: how many correct and how many misclassified images.",
    )
    @click.option("--seed", default=0, show_default=True, help="Seed of the random pick and of noisy methods.")
    @click.option(
        "--compare-captum",
        is_flag=True,
        help="Also compute every method Captum has with Captum: maps, "
        "difference maps and a table of the differences (needs `pip install captum`).",
    )
    @device_option()
    @out_option("explain-output")
    def command(**kw: object) -> int:
        return run(**kw)  # type: ignore[arg-type]

    return command


def run(
    model_spec: str | None, pretrained: bool, image_paths: Sequence[Path], dataset: str | None, data_root: Path,
    methods: str | None, layer: str | None, target: str | None, top: int | None, count: int, seed: int,
    compare_captum: bool,
    device: str, out: Path,
) -> int:  # fmt: skip
    from .._checks import parse_class
    from .._probe import check_spatial_layer
    from ..attribution.examples import ExampleExplanations, attribution_methods, explain_inputs
    from ..report.explanations import input_sections

    started = time.perf_counter()
    specs = attribution_methods(None if methods is None else split_names(methods, "--methods"))
    if image_paths and dataset is not None:
        raise InputError("give either --images or --dataset, not both")
    if model_spec is None:
        model_spec = str(TRAIN_CHECKPOINT) if TRAIN_CHECKPOINT.is_file() and not pretrained else DEFAULT_MODEL
        if model_spec != DEFAULT_MODEL:
            click.echo(f"convlens: using {model_spec} (the last default `convlens train` run); pass --model to choose")
    loaded = load_cli_model(model_spec, pretrained=pretrained, device=device)
    if loaded.warning:
        click.echo(f"convlens: warning: {loaded.warning}", err=True)
    options: dict[str, Any] = {} if layer is None else {"layer": layer}
    if layer is not None:
        check_spatial_layer(loaded.model, torch.zeros(1, *loaded.input_size), layer)
        if not any(s.takes_layer for s in specs):
            click.echo("convlens: note: --layer is used by none of the chosen methods; ignored", err=True)
    class_index = None if target is None else parse_class(target, loaded.class_names)
    if top is not None:
        if class_index is not None:
            raise InputError("give either --target or --top, not both")
        options["top"] = top
    inputs = _read(image_paths, dataset or "sample", data_root, loaded.input_size)
    click.echo(f"explaining {inputs.source} with {len(specs)} methods"
               + ("" if inputs.labels is None else f": {count} correct and {count} misclassified images"))  # fmt: skip
    result = explain_inputs(loaded.model, inputs, [s.name for s in specs], n=count, seed=seed, target=class_index,
                            progress=_progress, **options)  # fmt: skip
    warning = "RANDOM WEIGHTS: these maps mean nothing" if loaded.warning else ""
    sections, pictures = input_sections(result, specs, inputs, seed, rows=ROWS_PER_FIGURE, warning=warning)
    raw: dict[str, object] = {"maps": result.raw()}
    if inputs.labels is None:
        raw["images"] = inputs.names
    if compare_captum and top is not None:
        raise InputError("--compare-captum explains one class per image; drop --top")
    if compare_captum:
        images = result.images() if isinstance(result, ExampleExplanations) else result.images
        sections.append(_captum(loaded, images, [s.name for s in specs], class_index, seed, options, pictures))
    run_facts = [("model", loaded.label), ("methods", ", ".join(s.name for s in specs)),
                 ("layer", layer or "default (the last feature map)"), ("target", target or "each image's prediction"),
                 ("seconds", f"{time.perf_counter() - started:.1f}")]  # fmt: skip
    _write(out, loaded, sections, pictures, raw, run_facts)
    return 0


def _progress(i: int, total: int, name: str) -> None:
    click.echo(f"      [{i}/{total}] {name}")


def _read(image_paths: Sequence[Path], dataset: str, data_root: Path, size: tuple[int, int, int]) -> Inputs:
    from ..data.inputs import read_dataset, read_image_files

    return read_image_files(image_paths, size) if image_paths else read_dataset(dataset, size, data_root)


def _captum(loaded: LoadedModel, images: torch.Tensor, names: list[str], target: int | None, seed: int,
            options: dict, pictures: list) -> Section:  # fmt: skip
    """The "Compared with Captum" section; its figure joins the pictures to save."""
    from ..report.explanations import Picture
    from ..report.trust import captum_section
    from ..trust import compare_with_captum

    click.echo(f"comparing with Captum on {len(images)} images")
    pngs: list[tuple[str, bytes]] = []
    section = captum_section(compare_with_captum(loaded.model, images, names, target, seed=seed, **options),
                             images=min(4, len(images)), pngs=pngs)  # fmt: skip
    pictures += [Picture(name, png, "compared with Captum") for name, png in pngs]
    return section


def _write(out: Path, loaded: LoadedModel, sections: list, pictures: list, raw: dict, run_facts: list) -> None:
    """Build the whole output set in a stage and swap it in: an interrupted run leaves the old set whole."""
    from .._io import staged_folder
    from ..models.checkpoint import atomic_save
    from ..report.explanations import explain_page
    from ..report.html import write_report
    from ..viz.figures import save_png

    with staged_folder(out) as stage:
        for picture in pictures:
            save_png(picture.png, stage / f"{picture.stem}.png")
            wrote(out / f"{picture.stem}.png", "figure")
        atomic_save(raw, stage / "attributions.pt")
        wrote(out / "attributions.pt", "raw maps")
        subtitle = loaded.label + (" — RANDOM WEIGHTS" if loaded.warning else "")
        write_report(
            stage / "explain.html", "convlens explain", explain_page(sections, run_facts, loaded.warning), subtitle
        )
        wrote(out / "explain.html", "page")
