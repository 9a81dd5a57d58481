"""Adversarial examples for HTML pages: the demo report's "Adversarial examples" section and ``convlens attack``.

Each ``*_html`` function turns one result object into figures (returned as PNG bytes too, so
that a command can also save them) and one or two plain sentences per figure. The demo section
builder runs the attacks with small step budgets on the demo's trained model and uses the same
functions.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import torch
from torch import nn

from ..adversarial import AttackResult, NoiseResult, RobustnessResult, TransferResult
from ..data.dataset import ImageDataset, Splits
from ..viz.adversarial import attack_figure, cost_figure, image_row_figure, robustness_figure, transfer_figure
from ..viz.figures import Figure, png_bytes
from .html import Section, image, paragraph, table


@dataclass
class Page:
    """HTML built from results, and the same figures as PNG files to save (name -> bytes)."""

    html: list[str] = field(default_factory=list)
    files: dict[str, bytes] = field(default_factory=dict)

    def figure(self, name: str, fig: Figure, caption: str) -> None:
        png = png_bytes(fig)
        self.files[f"{name}.png"] = png
        self.html.append(image(png, caption))

    def text(self, text: str) -> None:
        self.html.append(paragraph(text))

    def heading(self, text: str) -> None:
        from .html import esc

        self.html.append(f"<h3>{esc(text)}</h3>")

    def extend(self, other: Page) -> None:
        self.html += other.html
        self.files.update(other.files)

    def body(self) -> str:
        return "".join(self.html)


def _name(names: Sequence[str] | None, index: int) -> str:
    return names[index] if names is not None and 0 <= index < len(names) else str(index)


def _list(values: torch.Tensor | None) -> list[int] | None:
    return None if values is None else [int(v) for v in values.tolist()]


def _nan_mean(values: torch.Tensor) -> float:
    finite = values[torch.isfinite(values)]
    return float(finite.mean()) if finite.numel() else float("nan")


def examples_html(
    result: AttackResult, clean: tuple[torch.Tensor, torch.Tensor], name: str, what: str,
    class_names: Sequence[str] | None = None,
) -> Page:  # fmt: skip
    """Original, adversarial and amplified difference of every image, with a success summary.

    Args:
        result: any attack that changed given images (fooling, FGSM, PGD).
        clean: the model's class and confidence on ``result.original`` (:func:`convlens.adversarial.predict`).
        name: file stem of the figure.
        what: a short description of the attack and its budget, for the caption.
    """
    page = Page()
    goal = "predicts its target" if result.targeted else "no longer predicts the true class"
    fig = attack_figure(
        result.original, result.images, original_predicted=clean[0].tolist(), original_probability=clean[1].tolist(),
        predicted=result.predicted.tolist(), probability=result.probability.tolist(), success=result.success.tolist(),
        class_names=class_names,
    )  # fmt: skip
    size = result.perturbation.flatten(1)
    page.figure(name, fig, (
        f"{what}: original, adversarial and their difference (amplified to full contrast; grey = unchanged). "
        f"The model {goal} for {int(result.success.sum())} of {len(result)} images (red captions), "
        f"after {result.steps.float().mean():.1f} steps on average; the largest pixel change is "
        f"{float(size.abs().max()):.3f} and the mean L2 norm of a change {float(size.norm(dim=1).mean()):.2f}."
    ))  # fmt: skip
    return page


def from_noise_html(result: AttackResult, class_names: Sequence[str] | None = None) -> Page:
    """The class images grown from noise, their confidence, and the cost curves."""
    page = Page()
    titles = [
        f"{_name(class_names, int(t))}: {p:.0%}"
        for t, p in zip(result.target.tolist(), result.target_probability.tolist(), strict=True)
    ]
    colors = ["black" if s else "crimson" for s in result.success.tolist()]
    page.figure("from-noise", image_row_figure(result.images, titles, colors=colors), (
        f"One image per class grown from mid-grey noise in {int(result.steps.max())} gradient steps on the class "
        f"score, with the model's confidence in that class ({int(result.success.sum())} of {len(result)} classified "
        "as intended). The model is very confident, yet the images mostly do not look like the digits: "
        "what raises a class score is not what a person sees as that digit."
    ))  # fmt: skip
    labels = [_name(class_names, int(t)) for t in result.target.tolist()]
    history = result.history if result.history is not None else torch.zeros(len(result), 0)
    page.figure("from-noise-cost", cost_figure(history, labels, ylabel="class score (logit)"), (
        "Cost curves: the class score at every step, one line per class; it keeps rising long after the "
        "model is sure of the class."
    ))  # fmt: skip
    return page


def lookalike_html(result: AttackResult, class_names: Sequence[str] | None = None) -> Page:
    """Look-alike images: what they imitate, the result, its class and its distance."""
    page = Page()
    mse = result.perturbation.pow(2).flatten(1).mean(dim=1)
    titles = [
        f"→ {_name(class_names, int(t))}: {p:.0%}\nMSE {m:.3f}"
        for t, p, m in zip(result.target.tolist(), result.target_probability.tolist(), mse.tolist(), strict=True)
    ]
    colors = ["black" if s else "crimson" for s in result.success.tolist()]
    first = result.original[:1]
    images = torch.cat([first, result.images])
    page.figure("lookalike", image_row_figure(images, ["imitated", *titles], columns=11, colors=["black", *colors]), (
        "Look-alikes: the first image is the one imitated; each other one ascends the target's score minus "
        f"β·MSE to it, and is classified as the class in its caption (with its confidence) although it still "
        f"looks like the first ({int(result.success.sum())} of {len(result)} reach their class; mean MSE "
        f"{float(mse.mean()):.3f} in [0,1] pixels)."
    ))  # fmt: skip
    return page


def noise_html(result: NoiseResult, transfer: TransferResult, class_names: Sequence[str] | None = None) -> Page:
    """Each class's noise, its success on the images it was learned on, and the transfer table."""
    page = Page()
    batch = len(result) // len(result.noise)
    rate = result.success.view(len(result.noise), batch).float().mean(dim=1)
    pairs = zip(result.noise_target.tolist(), rate.tolist(), strict=True)
    titles = [f"→ {_name(class_names, int(t))}: {r:.0%}" for t, r in pairs]
    limit = float(result.noise.abs().max())
    page.figure("noise", image_row_figure(result.noise, titles, signed=True), (
        f"One additive noise per target class, learned on {batch} images of one class (grey = 0, white/black = "
        f"±{limit:.2f}); the caption gives the share of those images classified as the target with the noise added."
    ))  # fmt: skip
    hits = transfer.predicted == result.noise_target[None, :].to(transfer.predicted.device)
    if transfer.labels is not None:  # a noise's own class says nothing about transfer
        hits = hits[transfer.labels[:, None] != result.noise_target[None, :].to(transfer.labels.device)]
    fig = transfer_figure(transfer.predicted, result.noise_target.tolist(), _list(transfer.labels), class_names)
    page.figure("noise-transfer", fig, (
        "Transfer table: each row is a fixed test image, each column a class's noise added to it; the cell is the "
        f"predicted class, green where it is the noise's target. The noises move {float(hits.float().mean()):.0%} of "
        "these images (of other classes than the target, never seen while learning) to their target."
    ))  # fmt: skip
    truth = _list(transfer.labels)
    header = [
        "image",
        "true class",
        "clean",
        *(f"noise → {_name(class_names, int(t))}" for t in result.noise_target.tolist()),
    ]
    rows = [
        [f"#{i}", "" if truth is None else _name(class_names, truth[i]), _name(class_names, int(transfer.clean[i])),
         *(_name(class_names, int(p)) for p in transfer.predicted[i].tolist())]
        for i in range(len(transfer.clean))
    ]  # fmt: skip
    page.html.append(table(header, rows))
    return page


def robustness_html(curves: Sequence[tuple[str, RobustnessResult]]) -> Page:
    """Robustness curves of one or more models, and the table of their values."""
    page = Page()
    first = curves[0][1]
    lines = [(label, r.eps.tolist(), r.accuracy.tolist()) for label, r in curves]
    page.figure("robustness", robustness_figure(lines), (
        f"Accuracy under {first.attack} against the budget eps, on {first.images} test images; eps 0 is the clean "
        "accuracy. An image counts only if the attack fails on it at that budget."
    ))  # fmt: skip
    header = ["eps", *(label for label, _ in curves)]
    rows = [[f"{e:g}", *(f"{r.accuracy[i]:.1%}" for _, r in curves)] for i, e in enumerate(first.eps.tolist())]
    page.html.append(table(header, rows, numeric=range(1, len(header))))
    options = ", ".join(f"{k}={v}" for k, v in first.options.items())
    if options:
        page.text(f"Attack options: {options}.")
    return page


# --------------------------------------------------------------------------- the demo section


def one_per_class(data: ImageDataset, classes: int = 10) -> tuple[torch.Tensor, torch.Tensor]:
    """The first image of each class (a fixed set for figures and the transfer table)."""
    labels = data.labels
    index = torch.stack([torch.nonzero(labels == c)[0, 0] for c in range(classes)])
    return data.batch(index)


def adversarial_section(model: nn.Module, splits: Splits, *, robust_images: int = 100) -> Section:
    """The demo's "Adversarial examples": every attack on the demo model with small step budgets.

    Args:
        model: the trained demo model (left unchanged).
        splits: the data; test images are attacked.
        robust_images: test images of the robustness curves.
    """
    from .. import adversarial as A

    names = splits.test.classes
    x, y = one_per_class(splits.test, len(names))
    clean = A.predict(model, x)
    page = Page()
    page.text(
        "Adversarial examples change an image a little so that the model changes its answer. All budgets are in "
        "[0,1] pixel units (normalization is inside the model). Success is always re-checked with a fresh forward pass."
    )
    page.heading("Fooling images")
    fooled = A.fooling_image(model, x[:6], (y[:6] + 1) % 10)
    page.extend(examples_html(fooled, (clean[0][:6], clean[1][:6]), "fooling",
                              "Fooling images (Szegedy et al. 2014), target = true class + 1", names))  # fmt: skip
    page.heading("FGSM and PGD")
    fast = A.fgsm(model, x[:6], y[:6], eps=0.2)
    page.extend(examples_html(fast, (clean[0][:6], clean[1][:6]), "fgsm", "FGSM, eps 0.2 (L∞)", names))
    strong = A.pgd(model, x[:6], y[:6], eps=0.2, steps=10, seed=0)
    page.extend(examples_html(strong, (clean[0][:6], clean[1][:6]), "pgd", "PGD, eps 0.2 (L∞), 10 steps", names))
    page.heading("A class image from noise")
    page.extend(from_noise_html(A.image_from_noise(model, steps=30, step=0.15), names))
    page.heading("Look-alikes")
    targets = [0, 3, 5, 7, 8]
    page.extend(lookalike_html(A.lookalike(model, targets, x[2:3].expand(len(targets), -1, -1, -1)), names))
    page.heading("Additive noise per class, and its transfer")
    test_x, test_y = splits.test.batch(slice(None))
    source = test_x[test_y == 7][1:7]
    noise = A.additive_noise(model, source, list(range(10)), steps=15)
    page.extend(noise_html(noise, A.noise_transfer(model, noise, x, labels=y), names))
    page.heading("Robustness curves")
    subset = splits.test.subset(torch.linspace(0, len(splits.test) - 1, robust_images).long())
    eps = (0.0, 0.05, 0.1, 0.2, 0.3)
    curves = [
        ("FGSM", A.robustness(model, subset, "fgsm", eps, progress=False)),
        ("PGD, 5 steps", A.robustness(model, subset, "pgd", eps, steps=5, seed=0, progress=False)),
    ]
    page.extend(robustness_html(curves))
    page.text(
        "Defence: adversarial training (TrainConfig(adversarial=AdversarialTraining(...)) in convlens.train.fit) "
        "measurably raises robust accuracy at a small cost in clean accuracy; see bench/RESULTS.md. Input "
        "transformations (blur, JPEG, bit-depth reduction) often only hide the gradient: judge any defence with "
        "PGD with several random restarts, never with FGSM alone."
    )
    return Section("Adversarial examples", page.body())


__all__ = [
    "Page", "adversarial_section", "examples_html", "from_noise_html", "lookalike_html", "noise_html",
    "one_per_class", "robustness_html",
]  # fmt: skip
