set -u
export PYTHONPATH="$PWD/src:/tmp/site" PYTHONUNBUFFERED=1 MPLBACKEND=Agg
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site .whl/*.whl
echo "=== gpu_check TF32 off"; timeout 90 python3 bench/gpu_check.py --tf32 off 2>&1 | tee $OUT/gpu_check_tf32_off.txt
echo "=== style"; timeout 200 python3 bench/style.py --device cuda --size 512 --steps 300 --extractor vgg16 2>&1 | tee $OUT/style.txt | tail -30
