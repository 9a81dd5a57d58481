"""Checkpoint errors are one complete line that states the cause and the fix."""

from __future__ import annotations

import pickle

import pytest
import torch

from convlens.errors import DataFileError
from convlens.models import create_model, load_model
from convlens.models.checkpoint import save_model


def test_weights_that_do_not_fit_name_the_keys(tmp_path):
    path = save_model(create_model("mnist-cnn"), tmp_path / "ok.pt")
    payload = torch.load(path, weights_only=True)
    del payload["state_dict"]["classifier.1.weight"]
    payload["state_dict"]["extra.weight"] = torch.zeros(1)
    torch.save(payload, tmp_path / "bad.pt")
    with pytest.raises(DataFileError) as info:
        load_model(tmp_path / "bad.pt")
    message = str(info.value)
    assert "1 missing key(s), e.g. classifier.1.weight" in message and "1 unexpected key(s)" in message
    assert "\n" not in message and message.endswith(")")


def test_a_hostile_pickle_is_refused_without_advice_to_disable_safety(tmp_path):
    class Evil:
        def __reduce__(self):  # type: ignore[no-untyped-def]
            return (print, ("pwned",))

    path = tmp_path / "evil.pt"
    path.write_bytes(pickle.dumps({"format": Evil()}))
    with pytest.raises(DataFileError) as info:
        load_model(path)
    message = str(info.value)
    assert "weights_only=False" not in message and "\n" not in message
    assert "convlens train" in message


def test_a_training_folder_is_a_model_spec(tmp_path):
    save_model(create_model("mnist-cnn"), tmp_path / "checkpoint.pt")
    model = load_model(tmp_path)
    from convlens.models import get_info

    info = get_info(model)
    assert info is not None and info.weights == f"checkpoint {tmp_path / 'checkpoint.pt'}" and info.trained
    assert not get_info(create_model("mnist-cnn")).trained  # type: ignore[union-attr]
    with pytest.raises(DataFileError, match="holds no checkpoint.pt"):
        load_model(tmp_path / "..")
