#!/bin/bash
# Settle the CIFAR-10 masking sign with more generator seeds (README "Robustness matrix", masking test).
# Trains the reproduction's fine-tuning control of the shipped system (400 steps) and the reproduction's SemAdv
# generators (1,000 steps, PSR -6 dB) for target classes 0-4, training seeds 0 and 1, against the shipped system
# (worker B) and against the control (worker A), into a reproduction-style cache that
# docs/diagnostics/masking_transfer.py reads. Run the two workers side by side, 1 thread each, from the
# repository root (resumable: a finished generator is skipped, an interrupted one resumes):
#   bash docs/diagnostics/masking_seeds.sh A & bash docs/diagnostics/masking_seeds.sh B & wait
#   python docs/diagnostics/masking_transfer.py --scenario rayleigh_cifar --cache runs/masking-seeds --attacks semadv \
#       --classes 0 1 2 3 4 --threads 2 --out docs/diagnostics/masking_seeds_cifar10.json \
#       control=runs/masking-seeds/cache/rayleigh_cifar/defenses/finetune-control/best.safetensors
# `bash docs/diagnostics/masking_seeds.sh semmixed SEED` trains the class-2 generator against the shipped SemMixed.
set -e
cd "$(dirname "$0")/../.."
R=runs/masking-seeds; C=$R/cache/rayleigh_cifar; mkdir -p $C/generators $C/defenses
SHIPPED=sionna_semcomm/assets/weights/rayleigh_cifar-mobilesc.safetensors
COMMON="--seed 0 --device cpu --data-dir ../shared/data --no-progress"
gen() {  # gen SYSNAME CKPT SEED T
  local out=$C/generators/semadv-t$4-$1-seed$3
  [ -f $out/done ] && return 0
  python -m sionna_semcomm.attack train --scenario rayleigh_cifar --attack semadv --psr-db -6 --epochs 5 \
     --checkpoint $2 --seed $3 --device cpu --data-dir ../shared/data --no-progress --target-class $4 \
     --max-steps 1000 --threads 1 --out-dir $out $( [ -f $out/resume.pt ] && echo --resume )
  python - "$out" "$2" "$3" "$4" <<'PY'
import sys
from sionna_semcomm.atomic import atomic_write_json
from sionna_semcomm.checkpoints import sha256_file
out, ckpt, seed, t = sys.argv[1:]
argv = ["train", "--scenario", "rayleigh_cifar", "--attack", "semadv", "--psr-db", "-6", "--epochs", "5", "--seed", seed,
        "--device", "cpu", "--data-dir", "../shared/data", "--target-class", t, "--max-steps", "1000"]
atomic_write_json(f"{out}/config.json", {"argv": argv, "system": sha256_file(ckpt)})
PY
  touch $out/done
}
if [ "$1" = semmixed ]; then  # semmixed SEED: the adaptive class-2 SemAdv generator against the shipped SemMixed
  gen semmixed sionna_semcomm/assets/weights/rayleigh_cifar-mobilesc-semmixed.safetensors $2 2
elif [ "$1" = A ]; then
  D=$C/defenses/finetune-control
  if [ ! -f $D/done ]; then
    python -m sionna_semcomm.defense --scenario rayleigh_cifar --variant finetune --checkpoint $SHIPPED --epochs 10 \
      --psr-db -6 $COMMON --max-steps 400 --threads 1 --out-dir $D $( [ -f $D/resume.pt ] && echo --resume )
    touch $D/done
  fi
  for s in 0 1; do for t in 0 1 2 3 4; do gen control $D/best.safetensors $s $t; done; done
else
  for s in 0 1; do for t in 0 1 2 3 4; do gen shipped $SHIPPED $s $t; done; done
fi
echo finished $1
