"""``convlens dream``: the image each class (or an inner channel) wants most, per preset, with cost curves."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import click

from ..errors import InputError, UnknownNameError
from ._common import device_option, load_cli_model, out_option, prepare_out, wrote


def parse_indices(text: str, what: str, names: Sequence[str] | None = None) -> list[int]:
    """``"0-9"``, ``"1,3,5"``, ``"2-4,7"`` (or class names) as a list of indices."""
    found: list[int] = []
    for part in (p.strip() for p in text.split(",")):
        if names is not None and part in names:
            found.append(list(names).index(part))
        elif part.replace("-", "").isdigit() and part.count("-") <= 1 and not part.startswith("-"):
            low, _, high = part.partition("-")
            first, last = int(low), int(high or low)
            if last < first:
                raise InputError(f"--{what} {part}: the range runs backwards; write {last}-{first}")
            found += range(first, last + 1)
        else:
            raise UnknownNameError(
                f"--{what} {part!r} is not an index, a range like 0-9{', or a class name' if names else ''}"
            )
    return list(dict.fromkeys(found))


@click.command("dream")
@click.argument("model_spec", metavar="MODEL")
@click.option("--classes", default=None, help="Classes: 0-9, 1,3,5 or class names.  [default: 0-9]")
@click.option(
    "--per-class",
    type=click.IntRange(1, 64),
    default=1,
    show_default=True,
    help="Images per class (or channel), one per seed.",
)
@click.option(
    "--preset",
    default=None,
    help="simonyan2014, yosinski2015, fourier, a comma-separated list, or 'all'.  [default: fourier]",
)
@click.option("--layer", default=None, help="Maximize a channel of this inner layer instead of a class.")
@click.option("--channel", default=None, help="With --layer: channels, e.g. 0-7.")
@click.option("--neuron", default=None, help="With --layer: 'center' or y,x: one unit of the channel, not its mean.")
@click.option("--steps", type=click.IntRange(1), default=None, help="Steps per preset.  [default: the preset's]")
@click.option(
    "--size", type=click.IntRange(8, 1024), default=None, help="Image side in pixels.  [default: the model's]"
)
@click.option("--seed", type=int, default=0, show_default=True, help="First seed (image k of a class gets seed+k).")
@click.option("--pretrained", is_flag=True, help="With a registry name: download the published weights.")
@device_option()
@out_option("dream-output")
def command(model_spec: str, classes: str | None, per_class: int, preset: str | None, layer: str | None,
            channel: str | None, neuron: str | None, steps: int | None, size: int | None, seed: int, pretrained: bool,
            device: str, out: Path) -> int:  # fmt: skip
    """Synthesize the image each class of MODEL wants most (class model visualization), or with
    --layer/--channel the image that excites an inner channel most, by gradient ascent with image
    priors; several presets side by side.

    \b
    Writes dream.png (images with the probability of their class), curves.png (the objective per
    step), one PNG per image under images/, dream.html and dream.pt (images and histories).
    """
    from tqdm import tqdm

    from ..data.images import save_image
    from ..models.checkpoint import atomic_save
    from ..report.html import Section, paragraph, write_report
    from ..report.synthesis import presets_table, synthesis_html
    from ..synthesis import DEFAULT_PRESET, check_unit, class_visualization, get_preset, list_presets, maximize
    from ..viz.figures import save_png

    if (channel is not None or neuron is not None) and layer is None:
        raise InputError("--channel and --neuron need --layer")
    if layer is not None and classes is not None:
        raise InputError("give --classes (class visualization) or --layer/--channel (channel maximization), not both")
    presets = [p.name for p in list_presets()] if preset == "all" else (preset or DEFAULT_PRESET).split(",")
    presets = [get_preset(p.strip()).name for p in presets]  # unknown names list the valid ones
    loaded = load_cli_model(model_spec, pretrained=pretrained, device=device)
    if loaded.warning:
        click.echo(f"convlens: warning: {loaded.warning}", err=True)
    names = loaded.class_names
    seeds = list(range(seed, seed + per_class))
    image_size = size if size is None else (loaded.input_size[0], size, size)
    targets = parse_indices(classes or "0-9", "classes", names) if layer is None else []
    if names is not None and any(t >= len(names) for t in targets):
        bad = next(t for t in targets if t >= len(names))
        raise InputError(f"--classes {bad} is out of range: the model has classes 0..{len(names) - 1}")
    units = parse_indices(channel, "channel") if layer is not None and channel is not None else None
    where = None if neuron is None else "center" if neuron == "center" else _position(neuron)
    if layer is not None:  # an unknown layer or channel fails now, before any step, saying what exists
        check_unit(loaded.model, layer, units, where, image_size or loaded.input_size)
    rows = []
    for name in presets:
        total = steps or get_preset(name).steps
        with tqdm(total=total, desc=name, unit="step", leave=False) as bar:
            tick = lambda k: bar.update(1)  # noqa: E731
            options = dict(preset=name, steps=steps, seed=seeds, image_size=image_size or loaded.input_size,
                           progress=tick)  # fmt: skip
            if layer is not None:
                result = maximize(loaded.model, layer, channel=units, neuron=where, **options)  # type: ignore[arg-type]
            else:
                result = class_visualization(loaded.model, targets, **options)  # type: ignore[arg-type]
        rows.append((name, result))
    out = prepare_out(out)
    what = "The image each class wants most" if layer is None else f"The images that excite {layer} most"
    html, grid, curves = synthesis_html(rows, names if layer is None else None, what)
    wrote(save_png(grid, out / "dream.png"), "figure")
    wrote(save_png(curves, out / "curves.png"), "cost curves")
    for name, result in rows:
        for img, t, s in zip(result.images, result.targets.tolist(), result.seeds.tolist(), strict=True):
            save_image(img, out / "images" / f"{name}-{'class' if layer is None else 'channel'}{t}-seed{s}.png")
    click.echo(f"wrote {sum(len(r.images) for _, r in rows)} images under {out / 'images'}")
    payload = {n: {"images": r.images.cpu(), "history": r.history.cpu(), "targets": r.targets.cpu(),
                   "seeds": r.seeds.cpu(), "score": r.score.cpu()} for n, r in rows}  # fmt: skip
    wrote(atomic_save(payload, out / "dream.pt"), "images and histories")
    body = ([paragraph(f"Warning: {loaded.warning}")] if loaded.warning else []) + [presets_table(presets), html]
    wrote(write_report(out / "dream.html", "convlens dream", [Section(what, "".join(body))], loaded.label), "page")
    return 0


def _position(text: str) -> tuple[int, int]:
    parts = text.split(",")
    if len(parts) != 2 or not all(p.strip().isdigit() for p in parts):
        raise InputError(f"--neuron must be 'center' or y,x (two non-negative integers), got {text!r}")
    return int(parts[0]), int(parts[1])
