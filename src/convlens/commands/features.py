"""``convlens features``: feature maps of every conv and pool layer for a few images, and activation statistics."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import click
import torch

from ..errors import DataFileError
from ._common import device_option, load_cli_model, out_option, prepare_out, wrote


@click.command("features")
@click.argument("model_spec", metavar="MODEL")
@click.option(
    "--images",
    "image_paths",
    multiple=True,
    type=click.Path(path_type=Path),
    help="An image file or a folder of images; repeat for more.  [default: 3 digits of the bundled "
    "MNIST sample, for 1x28x28 models]",
)
@click.option(
    "--channels",
    "-k",
    type=click.IntRange(1, 64),
    default=5,
    show_default=True,
    help="Channels shown per layer (the first K).",
)
@click.option("--layer", "layers", multiple=True, help="Layer to show (repeat).  [default: every conv and pool layer]")
@click.option("--pretrained", is_flag=True, help="With a registry name: download the published weights.")
@device_option()
@out_option("features-output")
def command(model_spec: str, image_paths: Sequence[Path], channels: int, layers: Sequence[str], pretrained: bool,
            device: str, out: Path) -> int:  # fmt: skip
    """Show what every conv and pool layer of MODEL computes for some images: the first K channels
    of each layer, each scaled to [0,1] on its own, one figure per image, and activation
    statistics (mean, spread, dead units) per layer.

    \b
    Writes features-N.png per image, features.html and feature_maps.pt (the raw activations).
    """
    from tqdm import tqdm

    from ..inspect import activation_stats, feature_maps
    from ..models.checkpoint import atomic_save
    from ..report.html import Section, paragraph, write_report
    from ..report.inspect import feature_maps_html, stats_html
    from ..viz.figures import save_png

    loaded = load_cli_model(model_spec, pretrained=pretrained, device=device)
    if loaded.warning:
        click.echo(f"convlens: warning: {loaded.warning}", err=True)
    images, titles = _images(image_paths, loaded.input_size)
    maps = feature_maps(loaded.model, images, list(layers) or None)
    stats = activation_stats(loaded.model, images, list(layers) or None)
    out = prepare_out(out)
    body = [paragraph(f"Warning: {loaded.warning}")] if loaded.warning else []
    figures = []
    for i, title in enumerate(tqdm(titles, desc="figures", unit="image", leave=False)):
        html, pngs = feature_maps_html({k: v[i : i + 1] for k, v in maps.items()}, images[i : i + 1], [title],
                                       channels=channels)  # fmt: skip
        body.append(html)
        figures.append(save_png(pngs[0], out / f"features-{i + 1}.png"))
    for path in figures:
        wrote(path, "figure")
    body.append(stats_html(stats, len(images)))
    wrote(atomic_save({"maps": {k: v.cpu() for k, v in maps.items()}, "images": titles}, out / "feature_maps.pt"),
          "activations")  # fmt: skip
    page = write_report(out / "features.html", "convlens features", [Section("Feature maps", "".join(body))],
                        loaded.label)  # fmt: skip
    wrote(page, "page")
    return 0


def _images(paths: Sequence[Path], input_size: tuple[int, int, int]) -> tuple[torch.Tensor, list[str]]:
    """The images (resized to the model's input) and their titles."""
    from ..data.images import IMAGE_SUFFIXES, load_images

    if not paths:
        if tuple(input_size) != (1, 28, 28):
            raise DataFileError("pass --images FILE (the bundled sample has 1x28x28 digits; this model expects "
                                f"{'x'.join(map(str, input_size))})")  # fmt: skip
        from ..data import sample_splits

        test = sample_splits().test
        _, labels = test.batch(slice(None))
        pick = [int((labels == c).nonzero()[0]) for c in (0, 4, 7)]
        images, _ = test.batch(pick)
        return images, [f"sample test digit #{i} (a {int(labels[i])})" for i in pick]
    files: list[Path] = []
    for p in paths:
        if p.is_dir():
            inside = sorted(f for f in p.iterdir() if f.is_file() and f.suffix.lower() in IMAGE_SUFFIXES)
            if not inside:
                raise DataFileError(f"folder {p} holds no image files ({', '.join(sorted(IMAGE_SUFFIXES))})")
            files += inside
        else:
            files.append(p)
    channels, height, width = input_size
    return load_images(files, (height, width), channels), [f.name for f in files]
