#!/usr/bin/env bash
# Train rayleigh_cifar's recipe on a GPU machine that receives this tree and .gpu/ (prepare.sh), then test the
# result on the pixel-exact test_batch. Everything worth keeping lands in $OUT (8 files at most):
# recipe.json (commands, planned and done steps, wall times, validation), recipe.log, final.safetensors (the
# system), codec.safetensors (the codec stage's best, for the symbol classifier), histories.tar (learning
# curves), test.json (link results at 0-20 dB), env.txt.
# Usage (repository root): bash docs/gpu/run_recipe.sh [TIME_BUDGET_S]
# Environment: DEVICE (cuda), BATCH (512), CALIBRATION (20 steps), RUN (runs/gpu-recipe), EXTRA (more recipe
# options, e.g. "--resume", "--num-train 512", "--classifier-width 32", "--decoder-csi" or "--codec-channels 96 96"),
# SKIP_TEST=1 (no test sweep).
set -euo pipefail
cd "$(dirname "$0")/../.."
BUDGET=${1:-420}
DEVICE=${DEVICE:-cuda} BATCH=${BATCH:-512} CALIBRATION=${CALIBRATION:-20} RUN=${RUN:-runs/gpu-recipe}
OUT=${OUT:-runs/gpu-out}
mkdir -p "$OUT"
if ! python3 -c "import sionna, pytorch_msssim" 2>/dev/null; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .gpu/whl/*.whl
  export PYTHONPATH=/tmp/site
fi
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1
DATA=.gpu/data
if [ ! -d "$DATA/cifar-10-jpeg/train" ]; then
  python3 -m sionna_semcomm.data.jpegpack unpack .gpu/cifar-10-jpeg-train.npz "$DATA/cifar-10-jpeg/train"
fi
mkdir -p "$DATA/cifar-10-batches-py" && cp .gpu/cifar-10-batches-py/* "$DATA/cifar-10-batches-py/"
{ date -u; python3 -c "import torch, sys; print(sys.version.split()[0], 'torch', torch.__version__, torch.cuda.get_device_name(0) if torch.cuda.is_available() else 'no cuda')"; nproc; } > "$OUT/env.txt"
set -o pipefail
python3 -m sionna_semcomm.recipe --data-dir "$DATA" --out-dir "$RUN" --device "$DEVICE" --batch-size "$BATCH" \
  $([ "${DEVICE%%:*}" = cuda ] && echo --amp bf16 --channels-last) --time-budget "$BUDGET" \
  --calibration-steps "$CALIBRATION" --no-progress ${EXTRA:-} 2>&1 | tee "$OUT/recipe.log"
cp "$RUN/recipe.json" "$OUT/"
cp "$RUN/final/best.safetensors" "$OUT/final.safetensors"
cp "$RUN/codec/best.safetensors" "$OUT/codec.safetensors"
tar -cf "$OUT/histories.tar" -C "$RUN" codec/history.json classifier/history.json final/history.json \
  codec/learning_curve.png classifier/learning_curve.png final/learning_curve.png
if [ -z "${SKIP_TEST:-}" ]; then
  python3 -m sionna_semcomm.link --scenario rayleigh_cifar --systems mobilesc --checkpoint "$OUT/final.safetensors" \
    --snr-db 0 5 10 15 20 --data-dir "$DATA" --device "$DEVICE" --no-progress --out "$OUT/test.json" 2>&1 | tail -20
fi
