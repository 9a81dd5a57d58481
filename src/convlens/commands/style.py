"""``convlens style``: repaint a photograph in the style of one or more images (Gatys et al. 2016)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import click
import torch

from ..errors import InputError
from ._common import device_option, resolve_device, wrote

SAMPLE_PREFIX = "sample:"

HELP = """Repaint CONTENT in the style of STYLE (several STYLE images are blended).

\b
Images are files (PNG, JPEG, ...; grey, RGBA and palette images work, any size and aspect
ratio) or bundled samples, written sample:NAME (hopper, chelsea, coffee, ihc, hubble, brick):
  convlens style sample:hopper sample:ihc -o hopper.png --size 256

\b
Writes OUT.png, OUT-losses.png (the loss curves), OUT-snapshots.png with --snapshots, and
OUT.html (pictures, curves and settings). The extractor is said in the output: 'auto' uses
SqueezeNet 1.1's published weights when they are cached and otherwise a random-weight
multi-scale network that needs no download; naming squeezenet1_1, vgg16 or vgg19 downloads
their published ImageNet weights (checksum verified).
"""


def _image(spec: str) -> torch.Tensor:
    from ..data.images import load_image
    from ..style.samples import sample_path

    path = sample_path(spec[len(SAMPLE_PREFIX) :]) if spec.startswith(SAMPLE_PREFIX) else Path(spec)
    return load_image(path, channels=3).unsqueeze(0)


def _floats(text: str | None, option: str) -> list[float] | None:
    if text is None:
        return None
    try:
        return [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise InputError(f"{option} takes comma-separated numbers such as 0.7,0.3, got {text!r}") from None


def _name(spec: str) -> str:
    return spec[len(SAMPLE_PREFIX) :] if spec.startswith(SAMPLE_PREFIX) else Path(spec).stem


# fmt: off
@click.command("style", help=HELP)
@click.argument("content")
@click.argument("styles", nargs=-1, required=True)
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), default=Path("stylized.png"),
              show_default=True, help="The picture to write (PNG); the other files go next to it.")
@click.option("--size", type=click.IntRange(16), default=512, show_default=True, help="Longer side of the output.")
@click.option("--steps", type=click.IntRange(1), default=200, show_default=True, help="Evaluations per level.")
@click.option("--extractor", default="auto", show_default=True,
              help="auto, random, squeezenet1_1, vgg16 or vgg19 (the last three download published weights).")
@click.option("--keep-colors", is_flag=True, help="Stylize the luminance only and keep the content's colours.")
@click.option("--style-weights", default=None, help="Blend weights of the STYLE images, e.g. 0.7,0.3.")
@click.option("--style-weight", type=click.FloatRange(0), default=20.0, show_default=True,
              help="Strength of the style against the content (content weight 1).")
@click.option("--tv-weight", type=click.FloatRange(0), default=0.2, show_default=True, help="Smoothness.")
@click.option("--style-scale", type=click.FloatRange(0.05), default=1.0, show_default=True,
              help="Style image size relative to the output (larger: bigger strokes).")
@click.option("--levels", type=click.IntRange(1, 5), default=1, show_default=True,
              help="Coarse to fine: optimize at this many resolutions, each twice the previous.")
@click.option("--optimizer", type=click.Choice(["lbfgs", "adam"]), default="lbfgs", show_default=True)
@click.option("--init", type=click.Choice(["content", "noise"]), default="content", show_default=True)
@click.option("--snapshots", type=click.IntRange(0, 50), default=0, show_default=True,
              help="Keep this many intermediate images (OUT-snapshots.png).")
@click.option("--precision", type=click.Choice(["auto", "fp32", "bf16"]), default="auto", show_default=True,
              help="bf16: convolutions in bfloat16 (auto: where the hardware has it).")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the noise for --init noise.")
@device_option()
# fmt: on
def command(
    content: str, styles: Sequence[str], output: Path, size: int, steps: int, extractor: str, keep_colors: bool,
    style_weights: str | None, style_weight: float, tv_weight: float, style_scale: float, levels: int,
    optimizer: str, init: str, snapshots: int, precision: str, seed: int, device: str,
) -> int:  # fmt: skip
    from tqdm import tqdm

    from ..data.images import save_image
    from ..report.html import write_report
    from ..report.style import style_section
    from ..style import get_extractor, style_transfer
    from ..viz.figures import save_png
    from ..viz.style import losses_figure, snapshots_figure

    if output.suffix.lower() != ".png":
        raise InputError(f"-o must name a .png file, got {output}")
    content_img = _image(content)
    style_imgs = [_image(s) for s in styles]
    blend = _floats(style_weights, "--style-weights")
    if blend is not None and len(blend) != len(styles):
        raise InputError(f"--style-weights has {len(blend)} numbers for {len(styles)} style images; give one per image")
    target = resolve_device(device)
    ex = get_extractor(extractor, download=True)
    click.echo(f"extractor: {ex.label}")
    if ex.weights == "random":
        click.echo("  (offline fallback; --extractor squeezenet1_1, vgg16 or vgg19 downloads published weights)")
    total = steps * levels
    with tqdm(total=total, desc="style", unit="step", dynamic_ncols=True) as bar:

        def progress(step: int, _total: int, losses: Mapping[str, float]) -> None:
            bar.update(1)
            bar.set_postfix(
                loss=f"{losses['total']:.4g}", style=f"{losses['style']:.3g}", content=f"{losses['content']:.3g}"
            )

        result = style_transfer(
            content_img, style_imgs, extractor=ex, steps=steps, size=size, keep_colors=keep_colors, blend=blend,
            style_weight=style_weight, tv_weight=tv_weight, style_scale=style_scale, levels=levels,
            optimizer=optimizer, init=init, snapshots=snapshots, precision=precision, seed=seed, device=target,
            callback=progress,
        )  # fmt: skip
    stem = output.with_suffix("")
    wrote(save_image(result.image[0], output), "picture")
    wrote(save_png(losses_figure([result], [_name(content)]), Path(f"{stem}-losses.png")), "loss curves")
    if result.snapshots:
        wrote(save_png(snapshots_figure(result), Path(f"{stem}-snapshots.png")), "snapshots")
    section = style_section(result, _name(content), [_name(s) for s in styles])
    page = write_report(Path(f"{stem}.html"), "convlens style", [section], subtitle=result.extractor)
    wrote(page, "page")
    final = result.history["total"][-1].item()
    click.echo(f"{result.extractor}: final loss {final:.4g} after {total} steps in {result.settings.seconds:.1f}s")
    return 0
