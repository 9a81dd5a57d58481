"""``convlens attack``, ``convlens robustness``, the figures and the demo's section."""

from __future__ import annotations

import json

import torch
from matplotlib.figure import Figure

import convlens.adversarial as A
from convlens.cli import main
from convlens.models.checkpoint import save_model
from convlens.viz.adversarial import amplified, attack_figure, cost_figure, robustness_figure, transfer_figure


def checkpoint(model, tmp_path):
    return str(save_model(model, tmp_path / "model.pt"))


def test_attack_command_writes_figures_page_and_tensors(trained_mnist, tmp_path, capsys):
    path = checkpoint(trained_mnist, tmp_path)
    out = tmp_path / "pgd"
    assert main(["attack", path, "--method", "pgd", "--eps", "0.3", "--steps", "5", "-n", "4", "--out", str(out)]) == 0
    assert (out / "pgd.png").stat().st_size > 1000 and (out / "attack.html").is_file()
    saved = torch.load(out / "adversarial.pt", weights_only=True)
    assert saved["images"].shape == (4, 1, 28, 28) and saved["success"].dtype == torch.bool
    assert "success: " in capsys.readouterr().out
    out = tmp_path / "noise"
    assert main(["attack", path, "--method", "noise", "--steps", "3", "-n", "3", "--out", str(out)]) == 0
    assert (out / "noise.png").is_file() and (out / "noise-transfer.png").is_file()
    out = tmp_path / "look"
    assert main(["attack", path, "--method", "lookalike", "--target", "5", "--steps", "20", "--out", str(out)]) == 0
    assert main(["attack", path, "--method", "fgsm", "--steps", "3", "--out", str(tmp_path / "f")]) == 0
    assert "fgsm ignores --steps" in capsys.readouterr().err


def test_attack_command_errors_are_one_line(trained_mnist, tmp_path, capsys):
    path = checkpoint(trained_mnist, tmp_path)
    assert main(["attack", path, "--method", "pgd", "--eps", "-1", "--out", str(tmp_path)]) == 2
    assert main(["attack", path, "--method", "fooling", "--target", "12", "--out", str(tmp_path)]) == 2
    assert main(["attack", path, "--method", "pgd", "--targeted", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 3 and all(line.startswith("convlens: error:") for line in err)
    assert "eps must be >= 0" in err[0] and "out of range" in err[1] and "--target" in err[2]


def test_robustness_command_compares_models(trained_mnist, tmp_path, capsys):
    path = checkpoint(trained_mnist, tmp_path)
    out = tmp_path / "rob"
    args = [
        "robustness",
        path,
        "--compare",
        "mnist-cnn",
        "--eps",
        "0,0.1",
        "--steps",
        "3",
        "-n",
        "40",
        "--out",
        str(out),
    ]
    assert main(args) == 0
    rows = json.loads((out / "robustness.json").read_text())
    assert [r["eps"] for r in rows] == [[0.0, 0.1], [0.0, 0.1]] and rows[0]["accuracy"][0] > 0.8
    assert (out / "robustness.png").is_file() and (out / "robustness.csv").read_text().startswith("eps,")
    assert "RANDOM weights" in capsys.readouterr().err
    assert main(["robustness", path, "--eps", "0,a", "--out", str(out)]) == 2


def test_figures_draw_results_without_running_a_model(trained_mnist, test_digits):
    x, y = test_digits[0][:3], test_digits[1][:3]
    result = A.fgsm(trained_mnist, x, y, eps=0.1)
    clean = A.predict(trained_mnist, x)
    fig = attack_figure(x, result.images, original_predicted=clean[0].tolist(), original_probability=clean[1].tolist(),
                        predicted=result.predicted.tolist(), probability=result.probability.tolist())  # fmt: skip
    assert isinstance(fig, Figure)
    shown, factor = amplified(result.images[0] - x[0])
    assert shown.min() >= 0 and shown.max() <= 1 and abs(float((shown - 0.5).abs().max()) - 0.5) < 1e-6
    assert factor > 0
    assert isinstance(cost_figure(torch.tensor([[1.0, 2.0, float("nan")]]), ["a"], ylabel="score"), Figure)
    assert isinstance(transfer_figure(torch.tensor([[1, 2], [2, 2]]), [1, 2], [0, 1]), Figure)
    assert isinstance(robustness_figure([("m", [0.0, 0.1], [0.9, 0.5])]), Figure)


def test_train_command_trains_adversarially(tmp_path):
    from convlens.cli import main
    from convlens.models.checkpoint import read_checkpoint

    out = tmp_path / "adv"
    argv = ["train", "--epochs", "1", "--adversarial", "fgsm-rs", "--adversarial-eps", "0.1", "--out", str(out)]
    assert main(argv) == 0
    saved = read_checkpoint(out / "checkpoint.pt")["config"]["adversarial"]
    assert saved["method"] == "fgsm-rs" and saved["eps"] == 0.1
