"""Training loop with per-epoch validation, atomic checkpoints and exact resume."""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import nn
from torch.nn import functional as F
from tqdm.auto import tqdm

from .._io import folder_lock, remove_stale_temporaries
from ..data.dataset import ImageDataset, Splits, train_val_test
from ..errors import DataFileError, InputError
from ..models.checkpoint import CHECKPOINT_NAME, read_checkpoint, save_model
from ..models.info import get_info
from .evaluate import Evaluation, evaluate

if TYPE_CHECKING:  # imported lazily: convlens.adversarial builds on the compute packages, not the reverse
    from ..adversarial.training import AdversarialTraining


@dataclass(frozen=True)
class TrainConfig:
    """Everything that decides the result of a run (a resumed run must use the same)."""

    epochs: int = 10
    batch_size: int = 64
    lr: float = 1e-3
    weight_decay: float = 0.0
    seed: int = 0
    schedule: str = "cosine"  # or "constant"
    adversarial: AdversarialTraining | None = None  # train on FGSM-RS or PGD examples (convlens.adversarial)

    def __post_init__(self) -> None:
        if self.epochs < 1 or self.batch_size < 1 or self.lr <= 0 or self.weight_decay < 0:
            raise InputError("epochs and batch size must be at least 1, lr positive, weight decay non-negative")
        if self.schedule not in ("cosine", "constant"):
            raise InputError(f"schedule must be 'cosine' or 'constant', got {self.schedule!r}")

    def lr_at(self, epoch: int) -> float:
        """Learning rate of epoch ``epoch`` (1-based): cosine decay from ``lr`` towards 0, or constant."""
        if self.schedule == "constant":
            return self.lr
        return self.lr * 0.5 * (1.0 + math.cos(math.pi * (epoch - 1) / self.epochs))


@dataclass(frozen=True)
class EpochRecord:
    """Loss and accuracy of one epoch on the training and validation parts."""

    epoch: int
    train_loss: float
    train_accuracy: float
    val_loss: float
    val_accuracy: float
    seconds: float


@dataclass
class FitResult:
    """What :func:`fit` returns: the trained model, its history and its test evaluation."""

    model: nn.Module
    history: list[EpochRecord]
    test: Evaluation
    config: TrainConfig
    seconds: float  # wall time of all epochs, including those of an interrupted earlier run
    device: str
    checkpoint: Path | None = None
    resumed_from: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def test_accuracy(self) -> float:
        return self.test.accuracy

    def history_rows(self) -> list[dict[str, float]]:
        return [asdict(r) for r in self.history]


def default_device() -> torch.device:
    """CUDA when present, else the CPU."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def _epoch_order(n: int, seed: int, epoch: int) -> torch.Tensor:
    """The shuffling of one epoch depends only on (seed, epoch): resume needs no hidden state."""
    return torch.randperm(n, generator=torch.Generator().manual_seed(seed * 100_003 + epoch))


def _rng_state() -> dict[str, Any]:
    state: dict[str, Any] = {"torch": torch.get_rng_state(), "python": random.getstate()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    random.setstate(state["python"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


RUN_FILES = (CHECKPOINT_NAME, "curves.png", "test_samples.png", "confusion.png", "history.csv", "history.json")
"""What one training run writes into its folder (``--overwrite`` removes these before starting)."""


def fit(
    model: nn.Module,
    data: Splits | ImageDataset,
    config: TrainConfig | None = None,
    *,
    out: str | Path | None = None,
    resume: bool = False,
    overwrite: bool = False,
    device: str | torch.device | None = None,
    progress: bool = True,
    label: str = "",
    on_epoch_end: Callable[[EpochRecord], None] | None = None,
) -> FitResult:
    """Train ``model`` in place with Adam and cross-entropy; evaluate on the test part at the end.

    The learning rate follows ``config.schedule`` (cosine decay over ``config.epochs`` by default) and depends only
    on the epoch number. With ``config.adversarial`` every training batch is replaced by
    adversarial examples of the current model before the step (adversarial training: FGSM with
    random start, Wong et al. 2020, or PGD, Madry et al. 2018); the training loss and accuracy
    are then those on the adversarial batches, validation and test stay on clean images.

    Every epoch a checkpoint (model, optimizer, epoch, history, RNG state) is written
    atomically to ``out/checkpoint.pt``. With ``resume=True`` an interrupted run continues from
    its last finished epoch and ends with exactly the weights an uninterrupted run would have
    (on the CPU; shuffling depends only on the seed and the epoch number).

    The output folder is protected: while ``fit`` runs it holds a lock on ``out`` (a second
    process is refused), removes temporary files that a killed run left there, and refuses
    to start over a folder that already holds a run unless ``resume`` or ``overwrite`` says
    what to do with it. Ctrl-C (``KeyboardInterrupt``) propagates after the last finished
    epoch's checkpoint is safely on disk.

    The initial weights are the model's: for the same weights on every run, call
    ``torch.manual_seed(seed)`` before creating the model (``convlens train --seed`` does).

    Args:
        model: a model from :func:`convlens.models.create_model` (needed for checkpoints) or any
            classifier (then ``out`` must be ``None``). It is moved to ``device`` and trained.
        data: train/validation/test parts, or one data set that is split 70/10/20
            (stratified, seeded with ``config.seed``).
        config: epochs, batch size, learning rate, weight decay, seed.
        out: folder for the checkpoint; ``None`` writes nothing.
        resume: continue the run in ``out`` (its checkpoint must exist, and the settings, epochs
            included for the cosine schedule, must match).
        overwrite: delete the run in ``out`` (:data:`RUN_FILES`) and start afresh.
        device: default CUDA when available, else CPU.
        progress: show a progress bar per epoch and one line per finished epoch.
        label: prefix of the progress lines (e.g. ``"with BatchNorm"`` when two runs alternate).
        on_epoch_end: called after each epoch's checkpoint is written.

    Returns:
        A :class:`FitResult`.

    Raises:
        InputError: ``out`` holds a run and neither ``resume`` nor ``overwrite`` is given,
            ``resume`` finds nothing to resume or different settings, or ``out`` is in use.
    """
    config = config or TrainConfig()
    if resume and overwrite:
        raise InputError("resume and overwrite exclude each other: continue the run or replace it, not both")
    if out is None:
        if resume:
            raise InputError("resume needs the folder of the run to continue (out=..., --out)")
        return _train(model, data, config, None, False, device, progress, label, on_epoch_end)
    if get_info(model) is None:
        raise InputError("checkpoints need a model from convlens.models.create_model; pass out=None")
    with folder_lock(out):
        remove_stale_temporaries(out)
        _check_run_folder(Path(out), resume, overwrite)
        return _train(model, data, config, Path(out), resume, device, progress, label, on_epoch_end)


def _check_run_folder(out: Path, resume: bool, overwrite: bool) -> None:
    """Refuse to mix two runs in one folder: resume needs a run, a plain start needs none."""
    ckpt = out / CHECKPOINT_NAME
    if resume and not ckpt.exists():
        raise InputError(f"nothing to resume: {out} holds no {CHECKPOINT_NAME}; drop --resume to start a new run")
    if overwrite:
        for name in RUN_FILES:
            (out / name).unlink(missing_ok=True)
    elif not resume and ckpt.exists():
        try:
            payload = read_checkpoint(ckpt)
            done = f"{payload.get('epoch', '?')} of {payload.get('config', {}).get('epochs', '?')} epochs"
        except DataFileError:
            done = "unreadable"
        raise InputError(
            f"{out} already holds a training run ({CHECKPOINT_NAME}, {done}); continue it with --resume, "
            "replace it with --overwrite (resume=True / overwrite=True in Python), or choose another --out folder"
        )


def _train(
    model: nn.Module, data: Splits | ImageDataset, config: TrainConfig, out: Path | None, resume: bool,
    device: str | torch.device | None, progress: bool, label: str,
    on_epoch_end: Callable[[EpochRecord], None] | None,
) -> FitResult:  # fmt: skip
    """The training loop of :func:`fit`, once the output folder is settled."""
    if isinstance(data, ImageDataset):
        data = train_val_test(data, seed=config.seed)
    device = torch.device(device) if device is not None else default_device()
    if device.type == "cuda" and not torch.cuda.is_available():
        raise InputError("device cuda: no CUDA GPU is available here; use device='cpu' (--device cpu)")
    ckpt_path = out / CHECKPOINT_NAME if out is not None else None
    prefix = f"[{label}] " if label else ""
    torch.manual_seed(config.seed)
    random.seed(config.seed)
    model.to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    history: list[EpochRecord] = []
    start_epoch, previous_seconds = 1, 0.0
    if resume and ckpt_path is not None:
        start_epoch, previous_seconds, history = _restore(ckpt_path, model, optimizer, config, device)
        if progress:
            left = "nothing left to train" if start_epoch > config.epochs else f"continuing with epoch {start_epoch}"
            tqdm.write(f"{prefix}resuming {ckpt_path}: epoch {start_epoch - 1} of {config.epochs} done, {left}")
    resumed_from = start_epoch - 1

    train = data.train
    run_start = time.perf_counter()
    for epoch in range(start_epoch, config.epochs + 1):
        t0 = time.perf_counter()
        for group in optimizer.param_groups:
            group["lr"] = config.lr_at(epoch)
        model.train()
        loss_sum = torch.zeros((), dtype=torch.float64, device=device)
        correct = torch.zeros((), dtype=torch.long, device=device)
        order = _epoch_order(len(train), config.seed, epoch)
        bar = tqdm(total=len(train), desc=f"{prefix}epoch {epoch}/{config.epochs}", unit="img",
                   disable=not progress, leave=False, mininterval=0.5)  # fmt: skip
        for x, y in train.batches(config.batch_size, order):
            x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
            if config.adversarial is not None:
                from ..adversarial.training import adversarial_batch

                x = adversarial_batch(model, x, y, config.adversarial)
            logits = model(x)
            loss = F.cross_entropy(logits, y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            loss_sum += loss.detach().double() * len(y)
            correct += (logits.detach().argmax(1) == y).sum()
            bar.update(len(y))
        bar.close()
        if not math.isfinite(float(loss_sum)):
            raise InputError(
                f"training diverged in epoch {epoch} (the loss became NaN or infinite, lr {config.lr_at(epoch):g}); "
                "lower the learning rate (--lr)"
                + (" and start again with --overwrite" if ckpt_path and ckpt_path.exists() else "")
            )
        val = evaluate(model, data.val)
        record = EpochRecord(
            epoch, float(loss_sum) / len(train), int(correct) / len(train), val.loss, val.accuracy,
            time.perf_counter() - t0,
        )  # fmt: skip
        history.append(record)
        if progress:
            tqdm.write(
                f"{prefix}epoch {epoch}/{config.epochs}: train loss {record.train_loss:.4f} "
                f"acc {record.train_accuracy:.2%} | val loss {record.val_loss:.4f} acc {record.val_accuracy:.2%} "
                f"| {record.seconds:.1f}s"
            )
        if ckpt_path is not None:
            save_model(
                model, ckpt_path, optimizer=optimizer.state_dict(), epoch=epoch, config=asdict(config),
                history=[asdict(r) for r in history], rng=_rng_state(),
                seconds=previous_seconds + time.perf_counter() - run_start,
            )  # fmt: skip
        if on_epoch_end is not None:
            on_epoch_end(record)
    model.eval()
    test = evaluate(model, data.test)
    return FitResult(
        model, history, test, config, previous_seconds + time.perf_counter() - run_start, str(device),
        ckpt_path, resumed_from,
    )  # fmt: skip


def _restore(
    path: Path, model: nn.Module, optimizer: torch.optim.Optimizer, config: TrainConfig, device: torch.device
) -> tuple[int, float, list[EpochRecord]]:
    """Load a checkpoint into model and optimizer; returns (next epoch, seconds so far, history)."""
    payload = read_checkpoint(path)
    info = get_info(model)
    if (
        info is None
        or payload["model"].get("name") != info.name
        or payload["model"] != {"name": info.name, **info.options}
    ):
        raise DataFileError(f"{path} was written for {payload['model']}, not this model; use another --out folder")
    saved = payload.get("config", {})
    for key in ("batch_size", "lr", "weight_decay", "seed", "schedule"):
        if saved.get(key) != getattr(config, key):
            raise InputError(
                f"{path} was trained with {key}={saved.get(key)}, not {getattr(config, key)}; "
                "resume with the same settings or use another --out folder"
            )
    if config.schedule == "cosine" and saved.get("epochs") not in (None, config.epochs):
        raise InputError(
            f"{path} follows a cosine schedule over {saved['epochs']} epochs, not {config.epochs} (the learning "
            f"rate of every epoch depends on that count); resume with --epochs {saved['epochs']} or start again "
            "with --overwrite"
        )
    adversarial = None if config.adversarial is None else asdict(config.adversarial)
    if saved.get("adversarial") != adversarial:  # checkpoints older than adversarial training have none
        raise InputError(
            f"{path} was trained with adversarial={saved.get('adversarial')}, not {adversarial}; "
            "resume with the same settings or use another --out folder"
        )
    model.load_state_dict(payload["state_dict"])
    optimizer.load_state_dict(payload["optimizer"])
    for state in optimizer.state.values():
        for key, value in state.items():
            if isinstance(value, torch.Tensor) and key != "step":
                state[key] = value.to(device)
    _set_rng_state(payload["rng"])
    history = [EpochRecord(**r) for r in payload["history"]]
    return int(payload["epoch"]) + 1, float(payload.get("seconds", 0.0)), history
