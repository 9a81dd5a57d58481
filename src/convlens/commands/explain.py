"""``convlens explain``: attribution maps for image files or a data set, as PNGs and one HTML page."""

from __future__ import annotations

import difflib
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import click
import torch
from torch import nn

from ..errors import DataFileError, InputError, UnknownNameError
from ..train.fit import CHECKPOINT_NAME
from ._common import TRAIN_OUT, LoadedModel, load_cli_model, out_option, prepare_out, wrote

DEFAULT_MODEL = "mnist-cnn"
TRAIN_CHECKPOINT = TRAIN_OUT / CHECKPOINT_NAME  # where `convlens train` writes by default
DEFAULT_DATASET = "sample"
ROWS_PER_FIGURE = 16
GRID_OUTPUT = "grid"


@dataclass(frozen=True)
class _Images:
    """What to explain: images, their names, and (for a data set) their labels."""

    images: torch.Tensor
    names: list[str]
    labels: torch.Tensor | None
    source: str


def _method_names() -> list[str]:
    from ..registry import list_methods

    return [s.name for s in list_methods("attribution")]


HELP = f"""Explain a model's decisions with attribution maps (saliency, Grad-CAM, ...).

\b
Writes to --out: one PNG grid per group of images (image, prediction, truth and one column per
method), occlusion-sensitivity grids when that method is chosen, explain.html with all of
them, and attributions.pt with the raw maps.

\b
With --images, each file (or every image in a folder) is converted to the model's channels and
resized to its input size. With --dataset (default: '{DEFAULT_DATASET}', the bundled real
MNIST test digits, offline), --count correctly classified and --count misclassified images are
picked at random and shown side by side.

\b
--model is a registry name (mnist-cnn, cifar-cnn, squeezenet1_1, ...) or a checkpoint written by
`convlens train` (a .pt file, or the folder that holds its checkpoint.pt). Without --model, the
checkpoint of a default `convlens train` run ({TRAIN_CHECKPOINT}) is used when it exists, else
{DEFAULT_MODEL}. A registry name alone builds a network with RANDOM weights (squeezenet with
--pretrained downloads the published ones): the command still runs, says so loudly and marks the
page, but the maps of an untrained network mean nothing.
"""


@click.command("explain", help=HELP)
@click.option("--model", "model_spec", default=None,
              help=f"Registry name, checkpoint .pt file, or a training folder holding checkpoint.pt.  "
                   f"[default: {TRAIN_CHECKPOINT} if it exists, else {DEFAULT_MODEL}]")
@click.option("--pretrained", is_flag=True, help="With a registry name: download the published weights.")
@click.option("--images", "image_paths", multiple=True, type=click.Path(path_type=Path),
              help="An image file or a folder of images; repeat for more. Not with --dataset.")
@click.option("--dataset", default=None,
              help=f"'{DEFAULT_DATASET}' (bundled MNIST test digits), 'mnist', 'cifar10' (test split under "
                   "--data-root) or a folder with one sub-folder per class.  [default: sample]")
@click.option("--data-root", type=click.Path(file_okay=False, path_type=Path), default=Path("data"),
              show_default=True, help="Where the mnist/cifar10 files live.")
@click.option("--methods", default=None,
              help=f"Comma-separated attribution methods, from: {', '.join(_method_names())}.  [default: all]")
@click.option("--layer", default=None, help="Layer for grad-cam/guided-grad-cam (default: the last convolution).")
@click.option("--target", default=None,
              help="Class to explain, as an index or a class name.  [default: each image's prediction]")
@click.option("-n", "--count", default=10, show_default=True, type=click.IntRange(1, 500),
              help="With a data set: how many correct and how many misclassified images.")
@click.option("--seed", default=0, show_default=True, help="Seed of the random pick from a data set.")
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto", show_default=True,
              help="Where to compute (auto: the GPU when there is one).")
@out_option("explain-output")
def command(
    model_spec: str | None, pretrained: bool, image_paths: Sequence[Path], dataset: str | None, data_root: Path,
    methods: str | None, layer: str | None, target: str | None, count: int, seed: int, device: str, out: Path,
) -> int:  # fmt: skip
    from ..attribution.report import attribution_methods

    started = time.perf_counter()
    specs = attribution_methods(_split_methods(methods))
    if model_spec is None:
        model_spec = str(TRAIN_CHECKPOINT) if TRAIN_CHECKPOINT.is_file() and not pretrained else DEFAULT_MODEL
        if model_spec != DEFAULT_MODEL:
            click.echo(f"convlens: using {model_spec} (the last default `convlens train` run); pass --model to choose")
    loaded = load_cli_model(model_spec, pretrained=pretrained, device=device)
    options: dict[str, object] = {}
    if layer is not None:
        _check_layer(loaded, layer)
        if not any(_takes_layer(s) for s in specs):
            click.echo(f"convlens: note: --layer is used only by {', '.join(_layer_methods())}; ignored", err=True)
        options["layer"] = layer
    class_index = _parse_target(target, loaded.class_names)
    if image_paths and dataset is not None:
        raise InputError("give either --images or --dataset, not both")
    if image_paths:
        data = _read_image_files(image_paths, loaded.input_size)
    else:
        data = _read_dataset(dataset or DEFAULT_DATASET, data_root, loaded)
    if loaded.warning:
        click.echo(f"convlens: warning: {loaded.warning}", err=True)
    prepare_out(out)
    if image_paths:
        sections, files = _explain_files(loaded, data, specs, class_index, options, out)
    else:
        sections, files = _explain_dataset(loaded, data, specs, class_index, options, count, seed, out)
    sections.append(_run_section(loaded, data, specs, layer, target, time.perf_counter() - started))
    from ..report.html import write_report

    subtitle = f"{loaded.label} on {data.source}" + (" — UNTRAINED WEIGHTS" if loaded.warning else "")
    for path, what in files:
        wrote(path, what)
    wrote(write_report(out / "explain.html", "convlens explain", sections, subtitle), "page")
    return 0


# --------------------------------------------------------------------------- inputs


def _split_methods(methods: str | None) -> list[str] | None:
    if methods is None:
        return None
    names = [m.strip() for m in methods.split(",") if m.strip()]
    if not names:
        raise InputError("--methods is empty; give comma-separated names such as saliency,grad-cam")
    return names


def _parse_target(target: str | None, class_names: tuple[str, ...] | None) -> int | None:
    """``--target`` as a class index: a number, or a class name of the model."""
    if target is None:
        return None
    text = target.strip()
    if class_names is not None and text in class_names:
        return class_names.index(text)
    if text.lstrip("-").isdigit():
        index = int(text)
        count = len(class_names) if class_names is not None else None
        if index < 0 or (count is not None and index >= count):
            raise InputError(f"--target {index} is out of range: the model has classes 0..{(count or 1) - 1}")
        return index
    if class_names is None:
        raise InputError(f"--target must be a class index for this model, got {target!r}")
    close = difflib.get_close_matches(text, class_names, n=5, cutoff=0.5)
    listing = ", ".join(close) if close else ", ".join(class_names[:20]) + (" ..." if len(class_names) > 20 else "")
    raise UnknownNameError(f"unknown class {target!r}; {'closest' if close else 'valid'} names: {listing}")


def _takes_layer(spec: object) -> bool:
    return "layer" in getattr(spec, "options", {}) or "cam" in getattr(spec, "name", "")


def _layer_methods() -> list[str]:
    from ..registry import list_methods

    return [s.name for s in list_methods("attribution") if _takes_layer(s)]


def _check_layer(loaded: LoadedModel, layer: str) -> None:
    """An unknown or non-spatial --layer lists the layers Grad-CAM can use (those with (B,C,H,W) output)."""
    valid = _spatial_layers(loaded)
    if layer in valid:
        return
    exists = layer in dict(loaded.model.named_modules()) and layer != ""
    problem = f"layer {layer!r} has no (B,C,H,W) output" if exists else f"unknown layer {layer!r}"
    if len(valid) > 25:
        close = difflib.get_close_matches(layer, valid, n=10, cutoff=0.0)
        listing = f"closest of {len(valid)}: {', '.join(close)}"
    else:
        listing = ", ".join(valid)
    raise UnknownNameError(f"{problem}; layers with spatial outputs ({listing})")


def _spatial_layers(loaded: LoadedModel) -> list[str]:
    """Names of the modules whose output is a (B,C,H,W) map, found with one forward pass of a blank image."""
    from .._checks import model_device

    found: dict[str, None] = {}
    handles = []

    def make_hook(name: str):  # type: ignore[no-untyped-def]
        def hook(_m: nn.Module, _i: object, output: object) -> None:
            if isinstance(output, torch.Tensor) and output.dim() == 4:
                found.setdefault(name, None)

        return hook

    try:
        for name, module in loaded.model.named_modules():
            if name:
                handles.append(module.register_forward_hook(make_hook(name)))
        with torch.no_grad():
            loaded.model(torch.zeros(1, *loaded.input_size, device=model_device(loaded.model)))
    finally:
        for handle in handles:
            handle.remove()
    return [name for name, _ in loaded.model.named_modules() if name in found]


def _image_files(paths: Sequence[Path]) -> list[Path]:
    from ..data.images import IMAGE_SUFFIXES

    files: list[Path] = []
    for p in paths:
        if p.is_dir():
            inside = sorted(f for f in p.iterdir() if f.suffix.lower() in IMAGE_SUFFIXES and f.is_file())
            if not inside:
                raise DataFileError(f"folder {p} holds no image files ({', '.join(sorted(IMAGE_SUFFIXES))})")
            files += inside
        elif not p.is_file():
            raise DataFileError(f"image file {p} does not exist")
        else:
            files.append(p)
    return files


def _read_image_files(paths: Sequence[Path], input_size: tuple[int, int, int]) -> _Images:
    from ..data.images import load_images

    files = _image_files(paths)
    channels, height, width = input_size
    images = load_images(files, (height, width), channels)
    source = files[0].name if len(files) == 1 else f"{len(files)} image files"
    return _Images(images, [f.name for f in files], None, source)


def _read_dataset(name: str, root: Path, loaded: LoadedModel) -> _Images:
    """The test part of a data set, checked against the model's input size."""
    from ..data import DATASETS, load_dataset, sample_splits
    from ..data.folder import load_image_folder

    if name == "sample":
        data = sample_splits().test
        source = "the bundled MNIST sample (test split)"
    elif name in DATASETS:
        data = load_dataset(name, root, split="test")
        source = f"{name} test set"
    elif Path(name).is_dir():
        channels, height, width = loaded.input_size
        data = load_image_folder(name, (height, width), channels)
        source = f"image folder {name}"
    else:
        raise UnknownNameError(f"unknown data set {name!r}; choose from {', '.join(DATASETS)} or a folder of class folders")
    if tuple(data.image_size) != tuple(loaded.input_size):
        shape = "x".join(map(str, data.image_size))
        want = "x".join(map(str, loaded.input_size))
        raise InputError(
            f"{name} has {shape} images but {loaded.label} expects {want}; use a matching model or pass --images"
        )
    images, labels = data.batch(slice(None))
    return _Images(images, [f"#{i}" for i in range(len(labels))], labels, source)


# --------------------------------------------------------------------------- work


def _explain_files(
    loaded: LoadedModel, data: _Images, specs: list, target: int | None, options: dict, out: Path
) -> tuple[list, list[tuple[Path, str]]]:  # fmt: skip
    """Explain image files, ROWS_PER_FIGURE rows per figure."""
    from ..attribution import explain
    from ..attribution.report import methods_table
    from ..report.html import Section

    names = [s.name for s in specs]
    body = [methods_table(specs)]
    files: list[tuple[Path, str]] = []
    saved: dict[str, list[torch.Tensor]] = {n: [] for n in names}
    starts = range(0, len(data.names), ROWS_PER_FIGURE)
    for k, start in enumerate(starts, start=1):
        rows = slice(start, start + ROWS_PER_FIGURE)
        expl = explain(loaded.model, data.images[rows], names, target=target, **options)
        stem = "explanations" if len(starts) == 1 else f"explanations-{k}"
        html, written = _render_group(expl, specs, None, data.names[rows], stem, out, ", ".join(data.names[rows]))
        body.append(html)
        files += written
        for n in names:
            saved[n].append(expl.maps[n].cpu())
    files.append((_save_maps({n: torch.cat(v) for n, v in saved.items()}, data.names, out), "raw maps"))
    return [Section("Explanations", "".join(body))], files


def _explain_dataset(
    loaded: LoadedModel, data: _Images, specs: list, target: int | None, options: dict, count: int, seed: int, out: Path
) -> tuple[list, list[tuple[Path, str]]]:  # fmt: skip
    """Explain ``count`` correctly classified and ``count`` misclassified images of a data set."""
    from ..attribution.report import explain_examples, methods_table
    from ..data.dataset import ImageDataset
    from ..report.html import Section, paragraph

    assert data.labels is not None
    classes = loaded.class_names or tuple(str(i) for i in range(int(data.labels.max()) + 1))
    dataset = ImageDataset(data.images, data.labels, classes, data.source)
    ex = explain_examples(loaded.model, dataset, [s.name for s in specs], n=count, seed=seed, target=target, **options)
    accuracy = paragraph(f"Accuracy on {data.source}: {ex.accuracy:.1%} of {len(data.labels)} images.")
    sections = [Section("Methods", methods_table(specs) + accuracy)]
    files: list[tuple[Path, str]] = []
    saved: dict[str, torch.Tensor] = {}
    for stem, title, expl, truth, index in (
        ("correct", "Correctly classified", ex.correct, ex.correct_truth, ex.correct_index),
        ("misclassified", "Misclassified", ex.wrong, ex.wrong_truth, ex.wrong_index),
    ):
        if expl is None:
            sections.append(Section(title, paragraph(f"No {title.lower()} images in {data.source}.")))
            continue
        caption = f"{len(index)} {title.lower()} images of {data.source}, picked at random (seed {seed})"
        html, written = _render_group(expl, specs, truth, None, stem, out, caption)
        sections.append(Section(title, html))
        files += written
        saved.update({f"{stem}/{n}": m.cpu() for n, m in expl.maps.items()})  # type: ignore[attr-defined]
        saved[f"{stem}/index"] = index
    files.append((_save_maps(saved, None, out), "raw maps"))
    return sections, files


def _render_group(
    expl: object, specs: list, truth: torch.Tensor | None, names: Sequence[str] | None, stem: str, out: Path,
    caption: str,
) -> tuple[str, list[tuple[Path, str]]]:  # fmt: skip
    """Render one group once: PNG files in ``out`` and the same pictures as HTML."""
    import dataclasses

    from ..attribution.report import signed_methods
    from ..report.html import image
    from ..viz.attribution import explanation_figure, occlusion_figure
    from ..viz.figures import png_bytes, save_png

    html: list[str] = []
    files: list[tuple[Path, str]] = []
    pixel = {s.name for s in specs if s.output != GRID_OUTPUT}
    maps = {k: v for k, v in expl.maps.items() if k in pixel}  # type: ignore[attr-defined]
    if maps:
        view = dataclasses.replace(expl, maps=maps)  # type: ignore[type-var]
        png = png_bytes(explanation_figure(view, truth=truth, signed=signed_methods(specs), names=names))
        files.append((save_png(png, out / f"{stem}.png"), "figure"))
        html.append(image(png, caption))
    for s in (s for s in specs if s.output == GRID_OUTPUT):
        titles = _class_titles(expl)
        if names is not None:
            titles = [f"{n[:14]}\n{t}" for n, t in zip(names, titles)]
        png = png_bytes(occlusion_figure(expl.images, expl.maps[s.name], titles=titles))  # type: ignore[attr-defined]
        files.append((save_png(png, out / f"{stem}-{s.name}.png"), f"{s.name} figure"))
        html.append(image(png, f"{s.name}: probability of the explained class for each patch position; {caption}"))
    return "".join(html), files


def _class_titles(expl: object) -> list[str]:
    """"class: p=0.97" per image, for the explained class."""
    names = expl.class_names  # type: ignore[attr-defined]
    pairs = zip(expl.target.tolist(), expl.target_probability.tolist())  # type: ignore[attr-defined]
    return [f"{names[t] if names and t >= 0 else t}: p={p:.2f}" for t, p in pairs]


def _save_maps(maps: dict[str, torch.Tensor], names: list[str] | None, out: Path) -> Path:
    from ..models.checkpoint import atomic_save

    payload: dict[str, object] = {"maps": maps}
    if names is not None:
        payload["images"] = list(names)
    return atomic_save(payload, out / "attributions.pt")


def _run_section(loaded: LoadedModel, data: _Images, specs: list, layer: str | None, target: str | None, seconds: float):  # type: ignore[no-untyped-def]
    from ..report.html import Section, key_values, paragraph

    warning = paragraph(f"Warning: {loaded.warning}") if loaded.warning else ""
    rows = [
        ("model", loaded.label), ("images", data.source), ("methods", ", ".join(s.name for s in specs)),
        ("layer", layer or "default (last convolution)"), ("target", target or "each image's predicted class"),
        ("seconds", f"{seconds:.1f}"),
    ]  # fmt: skip
    return Section("Run", warning + key_values(rows))
