"""How many fine-tuning steps the default fit needs.

    python benchmarks/studies/finetune_length.py DATASET SEEDS MEMORY_DIR [STEPS]

For each seed and each ``max_iter`` in STEPS (default 0,30,60,100), a
default fit with ``memory=MEMORY_DIR`` (backbone, search and start read from
the cache after the first) prints the ACC of ``labels_`` and of
``init_labels_``, the share of samples whose label is the start's, the
steps taken and the fine-tuning time. With the target held at the start,
fine-tuning teaches the U-Net and the centres to reproduce the start: this
measures how soon they do. The labels only score.
"""

import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent), str(HERE.parents[1])]

from skdiec import DiEC  # noqa: E402
from skdiec.metrics import clustering_accuracy  # noqa: E402


def main(dataset, seeds, memory, steps="0,30,60,100"):
    from _data import load

    X, y = load(dataset)
    X = np.asarray(X, dtype=np.float32)
    k = int(np.unique(y).size)
    for seed in [int(s) for s in seeds.split(",")]:
        for max_iter in [int(s) for s in steps.split(",")]:
            est = DiEC(n_clusters=k, random_state=seed, max_iter=max_iter, device="cpu",
                       memory=memory).fit(X)
            print(f"{dataset} seed {seed} max_iter {max_iter:3d}: ACC "
                  f"{clustering_accuracy(y, est.labels_):.4f} (start "
                  f"{clustering_accuracy(y, est.init_labels_):.4f}), start's label kept "
                  f"{np.mean(est.labels_ == est.init_labels_):.3f}, {est.n_iter_} steps, "
                  f"fine-tuning {est.timings_['fine_tune']:.1f} s", flush=True)


if __name__ == "__main__":
    main(*sys.argv[1:])
