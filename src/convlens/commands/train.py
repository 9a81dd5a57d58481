"""``convlens train``: train a model with curves, checkpoints and resume."""

from __future__ import annotations

from pathlib import Path

import click
import torch

from .._io import folder_lock
from ..data import load_dataset, load_image_folder, sample_splits, stratified_split, train_val_test
from ..data.dataset import Splits
from ..errors import InputError
from ..models import create_model, list_models
from ..train import BatchNormComparison, TrainConfig, compare_batchnorm, fit
from ..viz import save_png
from ..viz.training import comparison_figure
from ..viz.training_files import write_training_outputs
from ._common import TRAIN_OUT, device_option, out_option, prepare_out, resolve_device, wrote


def load_splits(
    dataset: str, root: Path, download: bool, seed: int, input_size: tuple[int, int, int] = (3, 32, 32)
) -> Splits:
    """The train/validation/test parts of a named data set (70/10/20 of ``train`` for the sample and
    folders; MNIST and CIFAR-10 keep their official test set and hold out 10% for validation).

    An image folder is read at ``input_size`` (C, H, W): the model's, so any model can train on it."""
    if dataset == "sample":
        return sample_splits(seed)
    if dataset in ("mnist", "cifar10"):
        train = load_dataset(dataset, root, "train", download)
        test = load_dataset(dataset, root, "test", download)
        val, rest = stratified_split(train, [0.1], seed)
        return Splits(rest, val, test)
    if Path(dataset).is_dir():
        channels, height, width = input_size
        return train_val_test(load_image_folder(dataset, (height, width), channels), seed=seed)
    return train_val_test(load_dataset(dataset, root), seed=seed)


@click.command("train")
@click.argument("model", type=click.Choice(list_models(), case_sensitive=False), default="mnist-cnn")
@click.option("--dataset", default="sample", show_default=True,
              help="sample (bundled MNIST digits, offline), mnist, cifar10, or an image folder (one sub-folder "
                   "per class; images are scaled on the shorter side and centre-cropped to the model's "
                   "input size).")  # fmt: skip
@click.option("--data-root", type=click.Path(file_okay=False, path_type=Path), default=Path("data"),
              show_default=True, help="Where MNIST/CIFAR-10 files are (or are downloaded to).")  # fmt: skip
@click.option("--download", is_flag=True, help="Download missing MNIST/CIFAR-10 files (checksums verified).")
@click.option("--epochs", type=click.IntRange(1), default=10, show_default=True)
@click.option("--batch-size", type=click.IntRange(1), default=64, show_default=True)
@click.option("--lr", type=click.FloatRange(0, min_open=True), default=1e-3, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True,
              help="Seeds the initial weights, the split and the shuffling: same seed, same weights.")  # fmt: skip
@click.option("--batchnorm", is_flag=True, help="Add BatchNorm after each convolution.")
@click.option("--compare-batchnorm", is_flag=True,
              help="Train with and without BatchNorm (sub-folders with-batchnorm/ and without-batchnorm/) and "
                   "compare them in comparison.png.")  # fmt: skip
@click.option("--resume", is_flag=True, help="Continue the interrupted run in --out from its last finished epoch.")
@click.option("--overwrite", is_flag=True, help="Replace the run that --out already holds.")
@click.option(
    "--adversarial",
    type=click.Choice(["fgsm-rs", "pgd"]),
    default=None,
    help="Adversarial training: each batch replaced by FGSM-with-random-start (Wong et al. 2020) or PGD "
    "(Madry et al. 2018) examples of the current model.",
)
@click.option(
    "--adversarial-eps",
    type=click.FloatRange(0, 1, min_open=True),
    default=0.3,
    show_default=True,
    help="The L-infinity budget of the training attack, in [0,1] pixel units.",
)
@device_option()
@out_option(str(TRAIN_OUT))
def command(model: str, dataset: str, data_root: Path, download: bool, epochs: int, batch_size: int,
            lr: float, seed: int, batchnorm: bool, compare_batchnorm: bool, resume: bool, overwrite: bool,
            adversarial: str | None, adversarial_eps: float, device: str, out: Path) -> None:  # fmt: skip
    """Train MODEL, saving a checkpoint every epoch, loss and accuracy curves, random test images
    with labels, a confusion matrix and the history. A folder that holds a run is not replaced
    unless you pass --resume (continue it; Ctrl-C is safe) or --overwrite (start again)."""
    target = resolve_device(device)
    if resume and overwrite:
        raise InputError("--resume and --overwrite exclude each other: continue the run or replace it")
    with folder_lock(prepare_out(out)):
        size = _input_size(model)
        data = load_splits(dataset, data_root, download, seed, size)
        _check_fits(model, size, data)
        attack = None
        if adversarial is not None:
            from ..adversarial import AdversarialTraining

            attack = AdversarialTraining(method=adversarial, eps=adversarial_eps)
        config = TrainConfig(epochs=epochs, batch_size=batch_size, lr=lr, seed=seed, adversarial=attack)
        click.echo(f"training {model} on {data.train.name}: {len(data.train)} train, {len(data.val)} validation, "
                   f"{len(data.test)} test images")  # fmt: skip
        if compare_batchnorm:
            click.echo(compare_batchnorm_run(model, data, config, out, resume, overwrite, target).table())
            return
        torch.manual_seed(seed)  # before building the model: the seed decides the initial weights
        net = create_model(model, batchnorm=batchnorm, num_classes=len(data.train.classes))
        result = fit(net, data, config, out=out, resume=resume, overwrite=overwrite, device=target)
        click.echo(f"test accuracy {result.test_accuracy:.2%} (loss {result.test.loss:.4f}) after {result.seconds:.1f}s"
                   f" on {result.device}")  # fmt: skip
        files = write_training_outputs(result, data.test, out, title=model)
    wrote(result.checkpoint, "checkpoint")  # type: ignore[arg-type]
    for path in (files.curves, files.samples, files.confusion, files.history_csv, files.history_json):
        wrote(path)


def _input_size(model: str) -> tuple[int, int, int]:
    """The (C, H, W) input size of a registered model."""
    from ..models import get_info

    info = get_info(create_model(model))
    return (3, 32, 32) if info is None else tuple(info.input_size)  # type: ignore[return-value]


def _check_fits(model: str, want: tuple[int, int, int], data: Splits) -> None:
    """The data's image size must be the model's input size (before any training starts)."""
    have = tuple(data.train.image_size)
    if want != have:
        raise InputError(
            f"{model} takes {'x'.join(map(str, want))} images but {data.train.name} holds "
            f"{'x'.join(map(str, have))} images; pick a model for this data (mnist-cnn: 1x28x28, cifar-cnn: 3x32x32)"
        )


def compare_batchnorm_run(
    model: str, data: Splits, config: TrainConfig, out: Path, resume: bool, overwrite: bool, device: torch.device
) -> BatchNormComparison:
    """Both runs, their outputs, and a side-by-side figure; prints every file written."""
    from ..train.compare import RUNS

    result = compare_batchnorm(model, data, config, out=out, resume=resume, overwrite=overwrite, device=device)
    for (label, sub), run in zip(RUNS, (result.without, result.with_bn), strict=True):
        files = write_training_outputs(run, data.test, out / sub, title=f"{model} ({label})")
        wrote(run.checkpoint, f"{label} checkpoint")  # type: ignore[arg-type]
        for path in (files.curves, files.samples, files.confusion, files.history_csv, files.history_json):
            wrote(path)
    rows = result.rows()
    figure = comparison_figure([label for label, _ in RUNS], [r[1] for r in rows], [r[3] for r in rows])
    wrote(save_png(figure, out / "comparison.png"), "comparison")
    return result
