"""Every sub-command through ``convlens.cli.main`` on the offline sample, and its errors."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from convlens.cli import main
from convlens.models import save_model


def test_help_lists_every_command(capsys):
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    for name in ("summary", "train", "demo"):
        assert name in out
    for name in ("summary", "train", "demo"):
        assert main([name, "--help"]) == 0


def test_python_dash_m_works():
    done = subprocess.run([sys.executable, "-m", "convlens", "--version"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and "convlens" in done.stdout


def test_summary_prints_and_exports(tmp_path, capsys):
    assert main(["summary", "mnist-cnn", "--csv", str(tmp_path / "s.csv"), "--json", str(tmp_path / "s.json")]) == 0
    out = capsys.readouterr().out
    assert "799,078 total = 9,568 conv + 789,510 fully connected" in out
    assert "31,360 conv + 510 fully connected" in out
    assert json.loads((tmp_path / "s.json").read_text())["conv_neurons"] == 31360
    assert main(["summary", "squeezenet1_1", "--input-size", "3x64x64"]) == 0


def test_summary_of_a_checkpoint(tmp_path, trained_mnist, capsys):
    save_model(trained_mnist, tmp_path / "m.pt")
    assert main(["summary", str(tmp_path / "m.pt")]) == 0
    assert "classifier.3" in capsys.readouterr().out


@pytest.mark.parametrize(
    "argv,message",
    [
        (["summary", "resnet-9000"], "unknown model"),
        (["summary", "nothere/model.pt"], "does not exist"),
        (["summary", "mnist-cnn", "--input-size", "28x28"], "--input-size"),
        (["train", "mnist-cnn", "--dataset", "imagenet"], "unknown data set"),
        (["train", "mnist-cnn", "--dataset", "mnist", "--data-root", "/nonexistent"], "--download"),
    ],
)
def test_user_errors_are_one_line_without_traceback(argv, message, capsys, tmp_path):
    code = main(argv + (["--out", str(tmp_path)] if argv[0] == "train" else []))
    err = capsys.readouterr().err.strip()
    assert code != 0
    assert message in err and "Traceback" not in err and len(err.splitlines()) == 1


def test_bad_option_values_are_rejected(capsys):
    assert main(["train", "--epochs", "0"]) == 2
    assert "Invalid value" in capsys.readouterr().err


def test_train_writes_everything_and_resumes(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", "mnist-cnn", "--epochs", "1", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "test accuracy" in text and f"wrote checkpoint {out / 'checkpoint.pt'}" in text
    for name in ("checkpoint.pt", "curves.png", "test_samples.png", "confusion.png", "history.csv", "history.json"):
        assert (out / name).is_file(), name
    assert main(["train", "mnist-cnn", "--epochs", "2", "--resume", "--out", str(out)]) == 2  # another schedule
    assert "cosine schedule over 1 epochs, not 2" in capsys.readouterr().err
    assert main(["train", "mnist-cnn", "--epochs", "1", "--resume", "--out", str(out)]) == 0
    assert "epoch 1 of 1 done, nothing left to train" in capsys.readouterr().out
    history = json.loads((out / "history.json").read_text())["history"]
    assert [h["epoch"] for h in history] == [1]


def test_train_compare_batchnorm(tmp_path, capsys):
    assert main(["train", "mnist-cnn", "--compare-batchnorm", "--epochs", "1", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "without BatchNorm" in out and "with BatchNorm" in out
    assert (tmp_path / "comparison.png").is_file()
    assert (tmp_path / "without-batchnorm" / "checkpoint.pt").is_file()
    assert (tmp_path / "with-batchnorm" / "checkpoint.pt").is_file()


def test_demo_writes_a_self_contained_report(tmp_path, capsys):
    assert main(["demo", "--epochs", "1", "--out", str(tmp_path)]) == 0
    html = (tmp_path / "report" / "index.html").read_text()
    assert "Model summary" in html and "Training" in html and "data:image/png;base64," in html
    assert 'src="http' not in html
    assert f"wrote report {tmp_path / 'report' / 'index.html'}" in capsys.readouterr().out
