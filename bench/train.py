"""Throughput of ``convlens.train.fit`` against a minimal hand-written PyTorch loop.

Both train ``mnist-cnn`` on the bundled sample with the same optimizer, batch size and data,
in the same process, alternating runs so that machine noise hits both alike. The hand loop
also evaluates on the validation part after each epoch, as ``fit`` does; a second reference
without that evaluation is printed for information. Overhead target: under 10%.

Run: ``.venv/bin/python bench/train.py [--epochs 3] [--repeats 5] [--threads 2]``
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from torch.nn import functional as F

from convlens.data import sample_splits
from convlens.models import create_model
from convlens.train import TrainConfig, fit


def hand_loop(data, epochs: int, batch_size: int, validate: bool, device: torch.device) -> float:
    """The loop a user would write: float tensors prepared once, Adam, cross-entropy."""
    torch.manual_seed(0)
    model = create_model("mnist-cnn").to(device)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    x_train = data.train.images.float().div(255).to(device)
    y_train = data.train.labels.to(device)
    x_val = data.val.images.float().div(255).to(device)
    start = time.perf_counter()
    for _ in range(epochs):
        model.train()
        order = torch.randperm(len(y_train))
        for i in range(0, len(order), batch_size):
            idx = order[i : i + batch_size]
            loss = F.cross_entropy(model(x_train[idx]), y_train[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
        if validate:
            model.eval()
            with torch.inference_mode():
                for i in range(0, len(x_val), 500):
                    model(x_val[i : i + 500]).argmax(1)
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - start


def convlens_fit(data, epochs: int, batch_size: int, device: torch.device) -> float:
    torch.manual_seed(0)
    model = create_model("mnist-cnn")
    start = time.perf_counter()
    fit(model, data, TrainConfig(epochs=epochs, batch_size=batch_size), progress=True, device=device)
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - start  # includes fit's final test evaluation; main() subtracts it


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    data = sample_splits()
    images = args.epochs * len(data.train)

    # fit's single test evaluation at the end is not part of the epochs: measure it to subtract.
    model = create_model("mnist-cnn").to(device)
    from convlens.train import evaluate

    evaluate(model, data.test)
    test_eval = statistics.median(_timed(lambda: evaluate(model, data.test)) for _ in range(5))

    hand_loop(data, 1, args.batch_size, True, device)  # warm-up
    fits, hands, bare = [], [], []
    for _ in range(args.repeats):
        fits.append(convlens_fit(data, args.epochs, args.batch_size, device) - test_eval)
        hands.append(hand_loop(data, args.epochs, args.batch_size, True, device))
        bare.append(hand_loop(data, args.epochs, args.batch_size, False, device))
    f, h, b = (statistics.median(v) for v in (fits, hands, bare))
    print(f"device {device}, threads {torch.get_num_threads()}, {args.epochs} epochs x {len(data.train)} images, "
          f"batch {args.batch_size}, median of {args.repeats}")  # fmt: skip
    print(f"{'run':<40}{'seconds':>9}{'images/s':>10}{'ratio':>8}")
    for label, sec in (("hand loop + validation (reference)", h), ("convlens fit", f), ("hand loop, no validation", b)):
        print(f"{label:<40}{sec:>9.2f}{images / sec:>10.0f}{sec / h:>8.3f}")
    print(f"fit overhead vs reference: {100 * (f / h - 1):+.1f}% (target < +10%)")


def _timed(fn) -> float:  # type: ignore[no-untyped-def]
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


if __name__ == "__main__":
    main()
