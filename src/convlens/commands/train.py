"""``convlens train``: train a model with curves, checkpoints and resume."""

from __future__ import annotations

from pathlib import Path

import click

from ..data import load_dataset, sample_splits, stratified_split, train_val_test
from ..data.dataset import Splits
from ..models import create_model, list_models
from ..train import TrainConfig, compare_batchnorm, fit
from ..viz.training_files import write_training_outputs
from ..viz import save_png
from ..viz.training import comparison_figure
from ._common import TRAIN_OUT, out_option, prepare_out, wrote


def load_splits(dataset: str, root: Path, download: bool, seed: int) -> Splits:
    """The train/validation/test parts of a named data set (70/10/20 of ``train`` for the sample and
    folders; MNIST and CIFAR-10 keep their official test set and hold out 10% for validation)."""
    if dataset == "sample":
        return sample_splits(seed)
    if dataset in ("mnist", "cifar10"):
        train = load_dataset(dataset, root, "train", download)
        test = load_dataset(dataset, root, "test", download)
        val, rest = stratified_split(train, [0.1], seed)
        return Splits(rest, val, test)
    return train_val_test(load_dataset(dataset, root), seed=seed)


@click.command("train")
@click.argument("model", type=click.Choice(list_models(), case_sensitive=False), default="mnist-cnn")
@click.option("--dataset", default="sample", show_default=True,
              help="sample (bundled MNIST digits, offline), mnist, cifar10, or an image folder.")  # fmt: skip
@click.option("--data-root", type=click.Path(file_okay=False, path_type=Path), default=Path("data"),
              show_default=True, help="Where MNIST/CIFAR-10 files are (or are downloaded to).")  # fmt: skip
@click.option("--download", is_flag=True, help="Download missing MNIST/CIFAR-10 files (checksums verified).")
@click.option("--epochs", type=click.IntRange(1), default=10, show_default=True)
@click.option("--batch-size", type=click.IntRange(1), default=64, show_default=True)
@click.option("--lr", type=click.FloatRange(0, min_open=True), default=1e-3, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--batchnorm", is_flag=True, help="Add BatchNorm after each convolution.")
@click.option("--compare-batchnorm", is_flag=True, help="Train with and without BatchNorm and compare.")
@click.option("--resume", is_flag=True, help="Continue from the checkpoint in --out.")
@click.option("--device", default=None, help="cpu or cuda (default: cuda when present).")
@out_option(str(TRAIN_OUT))
def command(model: str, dataset: str, data_root: Path, download: bool, epochs: int, batch_size: int,
            lr: float, seed: int, batchnorm: bool, compare_batchnorm: bool, resume: bool,
            device: str | None, out: Path) -> None:  # fmt: skip
    """Train MODEL, saving a checkpoint every epoch (resume with --resume), loss and accuracy
    curves, random test images with labels, a confusion matrix and the history."""
    out = prepare_out(out)
    data = load_splits(dataset, data_root, download, seed)
    config = TrainConfig(epochs=epochs, batch_size=batch_size, lr=lr, seed=seed)
    click.echo(f"training {model} on {data.train.name}: {len(data.train)} train, {len(data.val)} validation, "
               f"{len(data.test)} test images")  # fmt: skip
    if compare_batchnorm:
        result = compare_batchnorm_run(model, data, config, out, resume, device)
        click.echo(result.table())
        return
    net = create_model(model, batchnorm=batchnorm, num_classes=len(data.train.classes))
    result = fit(net, data, config, out=out, resume=resume, device=device)
    click.echo(f"test accuracy {result.test_accuracy:.2%} (loss {result.test.loss:.4f}) after {result.seconds:.1f}s"
               f" on {result.device}")  # fmt: skip
    files = write_training_outputs(result, data.test, out, title=model)
    wrote(result.checkpoint, "checkpoint")  # type: ignore[arg-type]
    for path in (files.curves, files.samples, files.confusion, files.history_csv, files.history_json):
        wrote(path)


def compare_batchnorm_run(  # type: ignore[no-untyped-def]
    model: str, data: Splits, config: TrainConfig, out: Path, resume: bool, device: str | None
):
    """Both runs, their outputs, and a side-by-side figure."""
    result = compare_batchnorm(model, data, config, out=out, resume=resume, device=device)
    for sub, run in (("plain", result.without), ("batchnorm", result.with_bn)):
        write_training_outputs(run, data.test, out / sub, title=f"{model} ({sub})")
    labels = ["without BN", "with BN"]
    rows = result.rows()
    path = save_png(comparison_figure(labels, [r[1] for r in rows], [r[3] for r in rows]), out / "batchnorm.png")
    wrote(path)
    return result
