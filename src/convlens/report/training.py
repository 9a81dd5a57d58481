"""Report sections of the foundation: model summary and training results."""

from __future__ import annotations

from pathlib import Path

from ..models.summary import ModelSummary
from ..train.fit import FitResult
from ..viz.training_files import TrainingFiles
from .html import Section, image, key_values, paragraph, table


def summary_section(result: ModelSummary) -> Section:
    """Layer table plus parameter and neuron totals split into convolutional and fully connected."""
    rows = [
        (r.name, r.type, "×".join(map(str, r.input_shape[1:])), "×".join(map(str, r.output_shape[1:])),
         f"{r.params:,}", f"{r.neurons:,}" if r.neurons else "", f"{r.mult_adds:,}" if r.mult_adds else "")
        for r in result.rows
    ]  # fmt: skip
    totals = key_values([
        ("parameters", f"{result.total_params:,}"),
        ("· in convolutional layers", f"{result.conv_params:,}"),
        ("· in fully connected layers", f"{result.fc_params:,}"),
        ("· elsewhere (BatchNorm ...)", f"{result.other_params:,}"),
        ("neurons (conv + fc output units)", f"{result.total_neurons:,}"),
        ("· in convolutional layers", f"{result.conv_neurons:,}"),
        ("· in fully connected layers", f"{result.fc_neurons:,}"),
        ("multiply-adds per image", f"{result.mult_adds:,}"),
    ])  # fmt: skip
    layers = table(
        ("layer", "type", "input", "output", "parameters", "neurons", "multiply-adds"), rows, numeric=(4, 5, 6)
    )
    intro = paragraph(
        f"{result.model_name} on a {'×'.join(map(str, result.input_size))} input (shapes without the batch)."
    )
    return Section("Model summary", intro + totals + layers)


def training_section(result: FitResult, files: TrainingFiles, data_name: str) -> Section:
    """Curves, test accuracy, confusion matrix and random labelled test images of one run."""
    last = result.history[-1]
    facts = key_values([
        ("data", data_name),
        ("epochs", f"{len(result.history)} (batch {result.config.batch_size}, Adam, lr {result.config.lr:g}, "
                   f"{result.config.schedule} schedule, seed {result.config.seed})"),
        ("training time", f"{result.seconds:.1f} s on {result.device}"),
        ("final train accuracy", f"{last.train_accuracy:.2%}"),
        ("final validation accuracy", f"{last.val_accuracy:.2%}"),
        ("test accuracy", f"{result.test_accuracy:.2%} ({len(result.test.labels)} held-out images)"),
    ])  # fmt: skip
    body = facts + "".join(
        image(Path(path).read_bytes(), caption)
        for path, caption in (
            (files.curves, "Loss and accuracy per epoch, training vs validation."),
            (files.confusion, "Confusion matrix on the test part (rows: true class, columns: predicted)."),
            (files.samples, "Random test images with true and predicted labels (wrong ones in red)."),
        )
    )
    return Section("Training", body)
