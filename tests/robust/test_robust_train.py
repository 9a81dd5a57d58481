"""Training runs are reproducible and never overwritten, mixed or lost by accident."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch
from PIL import Image

from convlens.cli import main
from convlens.data import load_image_folder, train_val_test
from convlens.errors import InputError
from convlens.models import create_model, read_checkpoint
from convlens.train import TrainConfig, fit


@pytest.fixture(scope="module")
def tiny_folder(tmp_path_factory):
    """20 random 32x32 colour images in two class folders: cifar-cnn trains on it in a blink."""
    root = tmp_path_factory.mktemp("tiny")
    rng = np.random.default_rng(0)
    for cls in ("a", "b"):
        (root / cls).mkdir()
        for i in range(10):
            pixels = rng.integers(0, 128 if cls == "a" else 256, (32, 32, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(root / cls / f"{i}.png")
    return root


def _train(folder, out, *extra: str) -> int:
    return main(["train", "cifar-cnn", "--dataset", str(folder), "--epochs", "1", "--batch-size", "4",
                 "--out", str(out), *extra])  # fmt: skip


def _weights(out):
    return read_checkpoint(out / "checkpoint.pt")["state_dict"]


def test_same_seed_same_weights_through_the_cli(tiny_folder, tmp_path):
    assert _train(tiny_folder, tmp_path / "one", "--seed", "3") == 0
    assert _train(tiny_folder, tmp_path / "two", "--seed", "3") == 0
    assert _train(tiny_folder, tmp_path / "other", "--seed", "4") == 0
    one, two, other = _weights(tmp_path / "one"), _weights(tmp_path / "two"), _weights(tmp_path / "other")
    assert all(torch.equal(one[k], two[k]) for k in one)
    assert not all(torch.equal(one[k], other[k]) for k in one)


def test_a_folder_with_a_run_is_refused_then_resumed_or_overwritten(tiny_folder, tmp_path, capsys):
    out = tmp_path / "run"
    assert _train(tiny_folder, out, "--epochs", "2") == 0  # the later --epochs wins
    before = _weights(out)
    capsys.readouterr()
    assert _train(tiny_folder, out) != 0
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "already holds a training run" in err and "2 of 2 epochs" in err
    assert "--resume" in err and "--overwrite" in err
    assert all(torch.equal(before[k], v) for k, v in _weights(out).items())  # untouched
    assert _train(tiny_folder, out, "--resume") != 0  # 1 epoch would follow another cosine schedule
    assert "cosine schedule over 2 epochs" in capsys.readouterr().err
    (out / ".checkpoint.pt.x1y2.tmp").write_bytes(b"left by a killed run")
    assert _train(tiny_folder, out, "--overwrite") == 0
    assert read_checkpoint(out / "checkpoint.pt")["epoch"] == 1
    assert not list(out.glob(".*.tmp"))


def test_resume_says_where_it_starts_and_refuses_an_empty_folder(tiny_folder, tmp_path, capsys):
    assert _train(tiny_folder, tmp_path / "empty", "--resume") != 0
    assert "nothing to resume" in capsys.readouterr().err
    data = train_val_test(load_image_folder(tiny_folder, (32, 32), 3))
    config = TrainConfig(epochs=2, batch_size=4)

    def stop(record):
        raise KeyboardInterrupt

    torch.manual_seed(0)
    with pytest.raises(KeyboardInterrupt):  # Ctrl-C propagates, after the epoch's checkpoint
        fit(create_model("cifar-cnn", num_classes=2), data, config, out=tmp_path / "r", on_epoch_end=stop)
    assert read_checkpoint(tmp_path / "r" / "checkpoint.pt")["epoch"] == 1
    capsys.readouterr()
    result = fit(create_model("cifar-cnn", num_classes=2), data, config, out=tmp_path / "r", resume=True)
    assert result.resumed_from == 1 and len(result.history) == 2
    assert "epoch 1 of 2 done, continuing with epoch 2" in capsys.readouterr().out
    with pytest.raises(InputError, match="cosine schedule over 2 epochs, not 3"):
        fit(create_model("cifar-cnn", num_classes=2), data, TrainConfig(epochs=3, batch_size=4),
            out=tmp_path / "r", resume=True)  # fmt: skip
    with pytest.raises(InputError, match="exclude each other"):
        fit(create_model("cifar-cnn", num_classes=2), data, config, out=tmp_path / "r", resume=True, overwrite=True)


@pytest.mark.skipif(os.name != "posix", reason="flock and signals are POSIX")
def test_a_second_concurrent_training_run_is_refused(tiny_folder, tmp_path, capsys):
    out = tmp_path / "busy"
    script = textwrap.dedent(f"""
        import time
        from convlens._io import folder_lock
        with folder_lock({str(out)!r}):
            print("READY", flush=True)
            time.sleep(60)
    """)
    child = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "READY"
        assert _train(tiny_folder, out) != 0
        assert "in use by another convlens run" in capsys.readouterr().err
        assert not (out / "checkpoint.pt").exists()
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
    assert _train(tiny_folder, out) == 0  # the dead holder's lock is taken over


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_device_cuda_without_a_gpu_is_one_line(tiny_folder, tmp_path, capsys):
    assert _train(tiny_folder, tmp_path / "gpu", "--device", "cuda") != 0
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "no CUDA GPU is available here; use --device cpu" in err


def test_compare_batchnorm_labels_runs_and_lists_every_file(tiny_folder, tmp_path, capsys):
    out = tmp_path / "cmp"
    assert _train(tiny_folder, out, "--compare-batchnorm") == 0
    printed = capsys.readouterr()
    lines = printed.out + printed.err
    assert "[without BatchNorm] epoch 1/1" in lines and "[with BatchNorm] epoch 1/1" in lines
    written = {line.split()[-1] for line in printed.out.splitlines() if line.startswith("wrote ")}
    on_disk = {str(p) for p in out.rglob("*") if p.is_file() and not p.name.startswith(".")}
    assert written == on_disk and len(on_disk) == 13
    assert (out / "comparison.png").exists() and not (out / "batchnorm.png").exists()


def test_wrong_image_size_for_the_model_is_refused_before_training(tiny_folder, tmp_path, capsys):
    assert main(["train", "cifar-cnn", "--dataset", "sample", "--out", str(tmp_path / "x")]) != 0
    assert "cifar-cnn takes 3x32x32 images but MNIST sample train holds 1x28x28 images" in capsys.readouterr().err
    assert not (tmp_path / "x" / "checkpoint.pt").exists()
    # an image folder is read at the model's own input size, so any model trains on it
    assert (
        main(["train", "mnist-cnn", "--dataset", str(tiny_folder), "--epochs", "1", "--out", str(tmp_path / "m")]) == 0
    )
    assert read_checkpoint(tmp_path / "m" / "checkpoint.pt")["model"] == {"name": "mnist-cnn", "batchnorm": False,
                                                                         "num_classes": 2}  # fmt: skip


def test_a_diverging_run_stops_with_advice(tiny_folder, tmp_path):
    data = train_val_test(load_image_folder(tiny_folder, (32, 32), 3))
    torch.manual_seed(0)
    with pytest.raises(InputError, match=r"training diverged in epoch 1 .*lower the learning rate"):
        fit(
            create_model("cifar-cnn", num_classes=2), data, TrainConfig(epochs=1, batch_size=4, lr=1e30), progress=False
        )


def test_resuming_a_comparison_interrupted_in_its_second_run(tiny_folder, tmp_path):
    from convlens.train import compare_batchnorm

    data = train_val_test(load_image_folder(tiny_folder, (32, 32), 3))
    config = TrainConfig(epochs=1, batch_size=4)
    with pytest.raises(InputError, match="nothing to resume: neither run"):
        compare_batchnorm("cifar-cnn", data, config, out=tmp_path, resume=True, progress=False)
    first = compare_batchnorm("cifar-cnn", data, config, out=tmp_path, progress=False)
    (tmp_path / "with-batchnorm" / "checkpoint.pt").unlink()  # killed before its first epoch ended
    again = compare_batchnorm("cifar-cnn", data, config, out=tmp_path, resume=True, progress=False)
    assert again.without.resumed_from == 1 and again.with_bn.resumed_from == 0
    for a, b in zip(first.with_bn.model.state_dict().values(), again.with_bn.model.state_dict().values(), strict=True):
        assert torch.equal(a, b)  # the fresh second run is the run it replaces
