"""The start with and without redrawing its chosen neighbourhood size, on
the suite's sets where no clustering space is kept.

    python benchmarks/studies/start_redraw.py [--seeds=N] OUT.jsonl DATASET [DATASET ...]

No DiEC backbone is kept for the long-tailed and face sets (each costs
7-50 minutes to pretrain here), so this measures the start's rule in a
stand-in clustering space: the leading 32 principal components of the
pixels (DiEC's own clustering space has 32 dimensions too). For UMAP seeds
0 to N-1 (3 by default) it runs the start (``skdiec._init.initial_partition``, ``"umap"``)
once with no redraw and once with the default ``REDRAWS`` redraws of the
chosen size, whatever the number of samples, and appends each one's ACC,
NMI, cluster sizes and seconds to OUT.jsonl. The labels only score.
"""

import json
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent), str(HERE.parents[1])]

from sklearn.decomposition import PCA  # noqa: E402
from sklearn.metrics import normalized_mutual_info_score  # noqa: E402

import _data  # noqa: E402
from skdiec import _init  # noqa: E402
from skdiec.metrics import clustering_accuracy  # noqa: E402

N_SEEDS = 3
N_COMPONENTS = 32


def main(out, names, n_seeds=N_SEEDS):
    redraws, max_samples = _init.REDRAWS, _init.REDRAW_MAX_SAMPLES
    _init.REDRAW_MAX_SAMPLES = np.inf  # the rule under study, at every size
    try:
        run(out, names, n_seeds, redraws)
    finally:
        _init.REDRAWS, _init.REDRAW_MAX_SAMPLES = redraws, max_samples


def run(out, names, n_seeds, redraws):
    for name in names:
        X, y = _data.load(name)
        X = np.asarray(X, dtype=np.float32).reshape(len(X), -1)
        k = int(np.unique(y).size)
        Z = PCA(N_COMPONENTS, random_state=0).fit_transform(X)
        for seed in range(n_seeds):
            for n_redraws in (0, redraws):
                _init.REDRAWS = n_redraws
                tic = time.perf_counter()
                labels, _ = _init.initial_partition(Z, k, "umap", np.random.RandomState(seed))
                line = {"dataset": name, "n_samples": len(y), "space": f"pca{N_COMPONENTS}",
                        "seed": seed, "redraws": n_redraws,
                        "acc": round(clustering_accuracy(y, labels), 4),
                        "nmi": round(normalized_mutual_info_score(y, labels), 4),
                        "sizes": sorted(np.bincount(labels, minlength=k).tolist(),
                                        reverse=True),
                        "seconds": round(time.perf_counter() - tic, 1)}
                print(json.dumps(line), flush=True)
                with open(out, "a") as f:
                    f.write(json.dumps(line) + "\n")


if __name__ == "__main__":
    args = sys.argv[1:]
    n_seeds = N_SEEDS
    if args and args[0].startswith("--seeds="):
        n_seeds = int(args.pop(0).split("=", 1)[1])
    main(args[0], args[1:], n_seeds)
