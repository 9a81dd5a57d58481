"""``convlens attack MODEL --method ...``: adversarial examples of test images, as PNGs and one HTML page."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
import torch

from ..data.dataset import ImageDataset
from ..errors import InputError
from ._common import device_option, load_cli_model, out_option, prepare_out, wrote

METHODS = ("fooling", "from-noise", "lookalike", "noise", "fgsm", "pgd")


@click.command("attack")
@click.argument("model")
@click.option("--method", type=click.Choice(METHODS), required=True, help="Which attack (see README).")
@click.option("--dataset", default="sample", show_default=True, help="'sample' (bundled MNIST), 'mnist' or 'cifar10'.")
@click.option("--data-root", type=click.Path(file_okay=False, path_type=Path), default=Path("data"), show_default=True)
@click.option("-n", "--count", type=click.IntRange(1, 256), default=8, show_default=True, help="Test images to attack.")
@click.option("--target", type=int, default=None,
              help="Target class (fooling: default true class + 1; from-noise/lookalike/noise: default every class; "
                   "fgsm/pgd: with --targeted).")  # fmt: skip
@click.option("--targeted", is_flag=True, help="fgsm/pgd: move towards --target instead of away from the true class.")
@click.option(
    "--look-like", "look_like", type=int, default=2, show_default=True, help="lookalike: class of the imitated image."
)
@click.option(
    "--source-class", type=int, default=7, show_default=True, help="noise: class of the images it is learned on."
)
@click.option("--eps", type=float, default=None, help="fgsm/pgd budget in [0,1] pixel units.  [default: the method's]")
@click.option("--steps", type=int, default=None, help="Iterations (pgd, from-noise, lookalike, noise).")
@click.option("--step", type=float, default=None, help="Step size (pgd, fooling, from-noise, lookalike).")
@click.option("--norm", type=click.Choice(["inf", "2"]), default=None, help="pgd: L∞ or L2 ball.")
@click.option("--restarts", type=int, default=None, help="pgd: random restarts.")
@click.option("--seed", type=int, default=0, show_default=True)
@device_option()
@out_option("attack-output")
def command(model: str, method: str, dataset: str, data_root: Path, count: int, target: int | None, targeted: bool,
            look_like: int, source_class: int, eps: float | None, steps: int | None, step: float | None,
            norm: str | None, restarts: int | None, seed: int, device: str, out: Path) -> int:  # fmt: skip
    """Attack test images with one method and write its figures, attack.html and adversarial.pt to --out.

    MODEL is a registry name, a checkpoint file or a training folder; budgets are in [0,1] pixels."""
    from .. import adversarial as A
    from ..models.checkpoint import atomic_save
    from ..registry import get_method
    from ..report.adversarial import examples_html, from_noise_html, lookalike_html, noise_html, one_per_class
    from ..report.html import Section, key_values, paragraph, write_report
    from ..viz.figures import save_png

    loaded = load_cli_model(model, device=device)
    data = _test_data(dataset, data_root, seed)
    names = loaded.class_names or data.classes
    given = {"eps": eps, "steps": steps, "step": step, "norm": norm, "restarts": restarts}
    accepted = get_method(method, "attack").parameters
    options: dict[str, Any] = {k: v for k, v in given.items() if v is not None and k in accepted}
    ignored = [f"--{k}" for k, v in given.items() if v is not None and k not in accepted]
    if ignored:
        click.echo(f"convlens: note: {method} ignores {', '.join(ignored)}", err=True)
    if loaded.warning:
        click.echo(f"convlens: warning: {loaded.warning}", err=True)
    pick = torch.linspace(0, len(data) - 1, min(count, len(data))).long()
    x, y = (t.to(next(loaded.model.parameters()).device) for t in data.batch(pick))
    m = loaded.model
    torch.manual_seed(seed)
    if method in ("fooling", "fgsm", "pgd"):
        if method == "fooling":
            result = A.fooling_image(m, x, (y + 1) % len(names) if target is None else target, **options)
        elif targeted and target is None:
            raise InputError("--targeted needs --target CLASS")
        else:
            fn = A.fgsm if method == "fgsm" else A.pgd
            extra = {"seed": seed} if method == "pgd" else {}
            result = fn(m, x, target if targeted else y, targeted=targeted, **options, **extra)
        page = examples_html(result, A.predict(m, x), method, f"{method} on {len(y)} test images", names)
    elif method == "from-noise":
        result = A.image_from_noise(m, target, seed=seed, **options)
        page = from_noise_html(result, names)
    elif method == "lookalike":
        imitated = _first_of(data, look_like).to(x.device)
        targets = [target] if target is not None else [c for c in range(len(names)) if c != look_like]
        result = A.lookalike(m, targets, imitated.expand(len(targets), -1, -1, -1), **options)
        page = lookalike_html(result, names)
    else:
        images, labels = data.batch(torch.nonzero(data.labels == source_class)[:count, 0])
        if len(labels) == 0:
            raise InputError(f"--source-class {source_class}: no test image of that class")
        targets = list(range(len(names))) if target is None else [target]
        result = A.additive_noise(m, images.to(x.device), targets, **options)
        fixed_x, fixed_y = one_per_class(data, len(names))
        page = noise_html(result, A.noise_transfer(m, result, fixed_x.to(x.device), labels=fixed_y), names)
    prepare_out(out)
    for name, png in page.files.items():
        wrote(save_png(png, out / name), "figure")
    tensors = {k: v.cpu() for k, v in vars(result).items() if isinstance(v, torch.Tensor)}
    wrote(atomic_save(tensors, out / "adversarial.pt"), "tensors")
    used = ", ".join(f"{k}={v}" for k, v in options.items()) or "defaults"
    success = f"{int(result.success.sum())} of {len(result)}"
    facts = key_values([("model", loaded.label), ("method", method), ("options", used), ("success", success)])
    warning = paragraph(f"Warning: {loaded.warning}") if loaded.warning else ""
    page_path = write_report(out / "attack.html", f"convlens attack: {method}", [Section("Run", warning + facts),
                             Section("Results", page.body())], loaded.label)  # fmt: skip
    wrote(page_path, "page")
    click.echo(f"success: {int(result.success.sum())} of {len(result)} images")
    return 0


def _test_data(name: str, root: Path, seed: int) -> ImageDataset:
    """The test images of a data set (the bundled sample's test part by default)."""
    from ..data import load_dataset, sample_splits

    if name == "sample":
        return sample_splits(seed).test
    return load_dataset(name, root, split="test")


def _first_of(data: Any, cls: int) -> torch.Tensor:
    index = torch.nonzero(data.labels == cls)[:1, 0]
    if len(index) == 0:
        raise InputError(f"no test image of class {cls}; choose another --look-like")
    return data.batch(index)[0]
