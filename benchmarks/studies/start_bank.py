"""Keep the clustering space of kept backbones, to compare start rules on it.

    python benchmarks/studies/start_bank.py DATASET SEED MEMORY_DIR OUT.npz

Fits DiEC with default parameters, ``max_iter=0`` and ``memory=MEMORY_DIR``
(a backbone and start already in that cache are read, not recomputed), and
keeps ``Z = transform(X)`` (the COL/COT clustering space the start
partitions), the true labels, the start's own labels (the default
``init="umap"`` rule, redrawn from the fit's seed) and the COL/COT cell.
The labels only score: see ``start_rules.py``.
"""

import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent), str(HERE.parents[1])]

from skdiec import DiEC, _init, _seeding  # noqa: E402
from skdiec.metrics import clustering_accuracy  # noqa: E402


def main(dataset, seed, memory, out):
    from _data import load

    X, y = load(dataset)
    X = np.asarray(X, dtype=np.float32)
    k = int(np.unique(y).size)
    seed = int(seed)
    est = DiEC(n_clusters=k, random_state=seed, max_iter=0, device="cpu", memory=memory)
    tic = time.perf_counter()
    est.fit(X)
    fit_s = time.perf_counter() - tic
    Z = est.transform(X).astype(np.float64)
    rng = np.random.RandomState(_seeding.int_seed(_seeding.phase_seeds(seed).init))
    start, _ = _init.initial_partition(Z, k, "umap", rng)
    print(f"{dataset} seed {seed}: {fit_s:.0f} s ({est.timings_}), "
          f"cell {est.col_}@{int(est.cot_)}, "
          f"start ACC {clustering_accuracy(y, start):.4f}", flush=True)
    np.savez_compressed(out, Z=Z, y=y, start=start, col=est.col_, cot=int(est.cot_),
                        dataset=dataset, seed=seed)


if __name__ == "__main__":
    main(*sys.argv[1:])
