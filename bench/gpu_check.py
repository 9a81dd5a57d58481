"""CUDA paths: every registered attribution method on the GPU against the same call on the CPU.

Not a test (CI has no GPU): run on a machine with CUDA, ``python bench/gpu_check.py``. Prints,
per method, the relative difference ``max|gpu - cpu| / max|cpu|`` and the GPU time per call, and
checks that the model comes back untouched and on its device. Exits non-zero if a method fails
or differs by more than the tolerance.
"""

from __future__ import annotations

import argparse
import copy
import sys
import time

import torch

from convlens.models import create_model
from convlens.registry import list_methods

SMALL = {"steps": 16, "samples": 8, "window": 16, "stride": 16, "seed": 0}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", default="squeezenet1_1")
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--tolerance", type=float, default=2e-3)
    parser.add_argument("--tf32", choices=["on", "off"], default="off",
                        help="cuDNN/cuBLAS TF32 (PyTorch lets cuDNN convolutions use it by default)")  # fmt: skip
    args = parser.parse_args()
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = args.tf32 == "on"
    if not torch.cuda.is_available():
        print("no CUDA device: nothing to check")
        return 0
    torch.manual_seed(0)
    cpu_model = create_model(args.model).eval()
    gpu_model = copy.deepcopy(cpu_model).cuda()
    before = {k: v.clone() for k, v in gpu_model.state_dict().items()}
    x = torch.rand(args.batch, 3, args.size, args.size)
    bad = 0
    print(f"{'method':26s} {'rel diff':>10s} {'gpu ms':>9s}  {torch.cuda.get_device_name()}, TF32 {args.tf32}")
    for spec in list_methods("attribution"):
        options = {k: v for k, v in SMALL.items() if k in spec.parameters}
        try:
            ref = spec.func(cpu_model, x, 1, **options)
            out = spec.func(gpu_model, x.cuda(), 1, **options)
            torch.cuda.synchronize()
            start = time.perf_counter()
            out = spec.func(gpu_model, x.cuda(), 1, **options)
            torch.cuda.synchronize()
            ms = (time.perf_counter() - start) * 1e3
            rel = float((out.cpu().double() - ref.double()).abs().max() / ref.double().abs().max().clamp_min(1e-12))
            if "samples" in spec.parameters and "seed" in spec.parameters:  # noise drawn on another device
                corr = float(torch.corrcoef(torch.stack([out.cpu().double().flatten(), ref.double().flatten()]))[0, 1])
                print(f"{spec.name:26s} corr {corr:6.3f} {'':9s}  statistical (the noise differs by device)")
                bad += corr < 0.9
                continue
            ok = out.is_cuda and rel <= args.tolerance
        except Exception as exc:  # report and go on: this is a check script
            print(f"{spec.name:26s} FAILED: {type(exc).__name__}: {exc}")
            bad += 1
            continue
        bad += not ok
        print(f"{spec.name:26s} {rel:10.2e} {ms:9.1f}  {'ok' if ok else 'DIFFERS'}")
    untouched = all(torch.equal(before[k], v) for k, v in gpu_model.state_dict().items())
    on_device = all(p.is_cuda for p in gpu_model.parameters())
    print(f"model untouched: {untouched}; still on the GPU: {on_device}")
    return 1 if bad or not (untouched and on_device) else 0


if __name__ == "__main__":
    sys.exit(main())
