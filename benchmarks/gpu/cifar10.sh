#!/bin/bash
# DiEC on all of CIFAR-10 (train and test, 60,000 JPEG images) on one GPU,
# with a wider U-Net whose pretraining is sized to the card by a measured
# budget (pretrain_budget.py). On the GPU machine, from the repository root,
# with .gpu/ made by prepare.sh:
#
#   bash benchmarks/gpu/cifar10.sh [OUT_DIR]
#
# Appends run.py's line to OUT_DIR/cifar10_gpu.jsonl and the log to
# OUT_DIR/cifar10_gpu.log (OUT_DIR: $OUT where set, else benchmarks/results).
# SEED, UNET_CHANNELS, PRETRAIN_BATCH and PRETRAIN_SECONDS override the
# settings below; everything else is DiEC's default. DEVICE=cpu RUN_ARGS=--quick
# UNET_CHANNELS=8,16 PRETRAIN_BATCH=16 PRETRAIN_SECONDS=1 tries the script out
# on a CPU in a few minutes (300 images, a tiny U-Net: not a result).
set -euo pipefail
out=${1:-${OUT:-benchmarks/results}}
seed=${SEED:-0}
channels=${UNET_CHANNELS:-64,128,256}
batch=${PRETRAIN_BATCH:-256}
budget=${PRETRAIN_SECONDS:-150}
device=${DEVICE:-cuda}
mkdir -p "$out" /tmp/datasets

python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/site .gpu/wheels/*.whl
export PYTHONPATH=/tmp/site PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1
tar xzf .gpu/cifar10-jpg.tar.gz -C /tmp/datasets
(cd /tmp/datasets/cifar10-jpg && md5sum --check --quiet MD5SUMS)

{
    if command -v nvidia-smi >/dev/null; then
        nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
    fi
    epochs=$(python3 benchmarks/gpu/pretrain_budget.py --n-samples 60000 \
        --unet-channels "$channels" --batch-size "$batch" --seconds "$budget" \
        --min-epochs 5 --device "$device")
    python3 benchmarks/run.py --dataset cifar10 --data-dir /tmp/datasets --methods diec \
        --seeds "$seed" --device "$device" ${RUN_ARGS:-} --param "unet_channels=($channels)" \
        --param "pretrain_epochs=$epochs" --param "pretrain_batch_size=$batch" \
        --param "batch_size=1024" --param "n_jobs=-1" --param "verbose=1" \
        --out "$out/cifar10_gpu.jsonl"
} 2>&1 | tee -a "$out/cifar10_gpu.log"
