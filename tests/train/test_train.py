"""Training: determinism, checkpoint/resume equivalence, safe checkpoints, outputs, BatchNorm comparison."""

from __future__ import annotations

import pickle

import pytest
import torch

from convlens.data.dataset import Splits
from convlens.errors import DataFileError, InputError
from convlens.models import create_model, load_model, read_checkpoint
from convlens.train import TrainConfig, compare_batchnorm, evaluate, fit
from convlens.viz.training_files import write_training_outputs


@pytest.fixture(scope="module")
def small(mnist_splits):
    every = lambda part, step: part.subset(torch.arange(0, len(part), step))  # noqa: E731  (all classes)
    return Splits(every(mnist_splits.train, 5), every(mnist_splits.val, 2), every(mnist_splits.test, 4))


def run(data, out=None, resume=False, on_epoch_end=None, epochs=3, batchnorm=False):
    torch.manual_seed(0)
    model = create_model("mnist-cnn", batchnorm=batchnorm)
    cfg = TrainConfig(epochs=epochs, batch_size=50, seed=3)
    return fit(model, data, cfg, out=out, resume=resume, progress=False, on_epoch_end=on_epoch_end, device="cpu")


def test_training_learns_and_is_deterministic(small):
    a, b = run(small, epochs=2), run(small, epochs=2)
    assert a.test_accuracy > 0.8
    assert [r.train_loss for r in a.history] == [r.train_loss for r in b.history]
    for p, q in zip(a.model.parameters(), b.model.parameters(), strict=False):
        assert torch.equal(p, q)
    assert a.history[0].train_loss > a.history[-1].train_loss
    assert a.test.accuracy == evaluate(a.model, small.test).accuracy


def test_interrupted_run_resumes_to_the_same_result(small, tmp_path):
    full = run(small, batchnorm=True)

    def stop_after_first(record):
        if record.epoch == 1:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run(small, out=tmp_path, on_epoch_end=stop_after_first, batchnorm=True)
    assert read_checkpoint(tmp_path / "checkpoint.pt")["epoch"] == 1
    resumed = run(small, out=tmp_path, resume=True, batchnorm=True)
    assert resumed.resumed_from == 1
    assert [r.val_loss for r in resumed.history] == [r.val_loss for r in full.history]
    for (name, p), q in zip(resumed.model.state_dict().items(), full.model.state_dict().values(), strict=False):
        assert torch.equal(p, q), name
    assert read_checkpoint(tmp_path / "checkpoint.pt")["epoch"] == 3
    reloaded = load_model(tmp_path / "checkpoint.pt")
    assert torch.equal(reloaded(small.test.batch(slice(0, 4))[0]), full.model(small.test.batch(slice(0, 4))[0]))


def test_resume_with_other_settings_is_refused(small, tmp_path):
    run(small, out=tmp_path, epochs=1)
    model = create_model("mnist-cnn")
    with pytest.raises(InputError, match="batch_size"):
        fit(model, small, TrainConfig(epochs=2, batch_size=32, seed=3), out=tmp_path, resume=True, progress=False)
    with pytest.raises(DataFileError, match="not this model"):
        fit(create_model("mnist-cnn", batchnorm=True), small, TrainConfig(epochs=2, batch_size=50, seed=3),
            out=tmp_path, resume=True, progress=False)  # fmt: skip


def test_checkpoints_never_unpickle_code(tmp_path):
    class Evil:
        def __reduce__(self):
            return (exec, ("open('%s', 'w').write('ran')" % (tmp_path / "owned"),))

    path = tmp_path / "evil.pt"
    with open(path, "wb") as handle:
        pickle.dump({"format": "convlens-checkpoint-v1", "x": Evil()}, handle)
    with pytest.raises(DataFileError, match="evil.pt"):
        load_model(path)
    assert not (tmp_path / "owned").exists()
    (tmp_path / "junk.pt").write_bytes(b"junk")
    with pytest.raises(DataFileError, match="junk.pt"):
        read_checkpoint(tmp_path / "junk.pt")
    torch.save({"state_dict": {}}, tmp_path / "foreign.pt")
    with pytest.raises(DataFileError, match="not a convlens checkpoint"):
        read_checkpoint(tmp_path / "foreign.pt")


def test_training_outputs_are_written(small, tmp_path):
    result = run(small, epochs=1)
    files = write_training_outputs(result, small.test, tmp_path)
    for path in (files.curves, files.samples, files.confusion):
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert files.history_csv.read_text().startswith("epoch,train_loss,train_accuracy,val_loss,val_accuracy")
    assert int(result.test.confusion(10).sum()) == len(small.test)
    assert not list(tmp_path.glob(".*tmp"))


def test_compare_batchnorm_trains_both_with_the_same_seed(small):
    result = compare_batchnorm("mnist-cnn", small, TrainConfig(epochs=1, batch_size=50), progress=False, device="cpu")
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in result.without.model.modules())
    assert any(isinstance(m, torch.nn.BatchNorm2d) for m in result.with_bn.model.modules())
    assert [r[0] for r in result.rows()] == ["without BatchNorm", "with BatchNorm"]
    assert "with BatchNorm" in result.table()


def test_bad_config():
    with pytest.raises(InputError):
        TrainConfig(epochs=0)
    with pytest.raises(InputError):
        TrainConfig(schedule="linear")


def test_default_settings_reach_95_percent_on_the_held_out_sample(mnist_splits):
    torch.manual_seed(0)
    result = fit(create_model("mnist-cnn"), mnist_splits, TrainConfig(), progress=False, device="cpu")
    assert len(result.history) == 10
    assert result.test_accuracy >= 0.95
