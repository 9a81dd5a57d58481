#!/usr/bin/env bash
# Every GPU figure in one run on a lent CUDA machine (see bench/RESULTS.md): run from the repository
# root with OUT set to a folder for the logs. Wheels of the peer libraries the machine lacks travel in
# .whl/ (torchcam, torchattacks, captum, pytorch-grad-cam and ttach; pip download --no-deps).
set -u
export PYTHONPATH="$PWD/src:/tmp/site" PYTHONUNBUFFERED=1 MPLBACKEND=Agg
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site .whl/*.whl
python3 -m pip install -q --no-index --no-deps --no-build-isolation --no-cache-dir --target /tmp/site .whl/*.tar.gz \
  || echo "pytorch-grad-cam did not install"
nvidia-smi -L; python3 -c "import torch; print(torch.__version__, torch.cuda.get_device_name())"
run() { local name=$1 limit=$2; shift 2; echo "=== $name"; timeout "$limit" "$@" > "$OUT/$name.txt" 2>&1; echo "exit $?"; tail -n 25 "$OUT/$name.txt"; }
run gpu_check 90 python3 bench/gpu_check.py
run cam 130 python3 bench/cam.py --device cuda --repeats 3
run adversarial 70 python3 bench/adversarial.py --device cuda --part speed --repeats 3
run synthesis 50 python3 bench/synthesis.py --device cuda --model squeezenet1_1 --repeats 2 --steps 30
run trust 45 python3 bench/trust.py --device cuda --repeats 3
run style 100 python3 bench/style.py --device cuda --size 512 --steps 300 --extractor vgg16
