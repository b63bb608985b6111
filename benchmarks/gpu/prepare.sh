#!/bin/bash
# Packs into .gpu/ (git-ignored) what benchmarks/gpu/cifar10.sh needs on a GPU
# machine that has torch, scikit-learn, numba and Pillow but no internet: the
# wheels of skdiec's other dependencies, at the versions installed here, and
# CIFAR-10's JPEG copy as one archive (about 20 MB: the images' repeated JPEG
# headers compress well). Run here, from the repository root:
#
#   bash benchmarks/gpu/prepare.sh [DATASETS_DIR]   # default ../shared/datasets
set -euo pipefail
datasets=${1:-../shared/datasets}
python=${PYTHON:-python3}
version() { "$python" -c "import importlib.metadata as m; print(m.version('$1'))"; }

rm -rf .gpu && mkdir -p .gpu/wheels
# The GPU machine's Python is 3.12; these three are pure Python.
"$python" -m pip download --quiet --no-deps --only-binary=:all: --python-version 3.12 \
    --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux2014_x86_64 \
    -d .gpu/wheels "diffusers==$(version diffusers)" "umap-learn==$(version umap-learn)" \
    "pynndescent==$(version pynndescent)"
tar czf .gpu/cifar10-jpg.tar.gz -C "$datasets" cifar10-jpg
du -sh .gpu/wheels .gpu/cifar10-jpg.tar.gz
