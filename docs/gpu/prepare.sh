#!/usr/bin/env bash
# Build .gpu/ (git-ignored) for run_recipe.sh, on a machine with the data and the package registries:
# the CIFAR-10 training JPEGs packed byte for byte (python -m sionna_semcomm.data.jpegpack, ~13 MB instead of
# 45 MB), the pixel-exact python batches, and the wheels a GPU machine with PyTorch but without this project's
# other dependencies needs. Usage (repository root): bash docs/gpu/prepare.sh [DATA_DIR]
set -euo pipefail
cd "$(dirname "$0")/../.."
DATA=${1:-../shared/data}
rm -rf .gpu && mkdir -p .gpu/whl .gpu/cifar-10-batches-py
python -m sionna_semcomm.data.jpegpack pack "$DATA/cifar-10-jpeg/train" .gpu/cifar-10-jpeg-train.npz
cp "$DATA"/cifar-10-batches-py/{batches.meta,data_batch_*,test_batch} .gpu/cifar-10-batches-py/
python -m pip download -q --no-deps --only-binary=:all: -d .gpu/whl "sionna-no-rt==2.2.0" importlib-resources pytorch-msssim
du -sh .gpu
