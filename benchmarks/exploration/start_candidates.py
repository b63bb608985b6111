"""The UMAP start's candidates, one per neighbourhood size, on a kept backbone.

Fits DiEC with ``max_iter=0`` on a backbone kept by
``run.py --reuse-backbone --backbone-dir`` (its U-Net and generator state, so
the search draws the noise the harness run drew and picks the same cell),
then redoes the start's choice in the estimator's clustering space
(``transform``): for each neighbourhood size, k-means in UMAP's embedding,
with its silhouette in that space (what the start maximised until it
chose by modularity, see ``start_choice.py``) and its ACC and NMI against
the labels (which only score). One JSON line per candidate.

    python benchmarks/exploration/start_candidates.py DATASET BACKBONE SEED [LAYER ...]

LAYERs, when given, restrict the search (as ``layers=``).
"""

import json
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent), str(HERE.parents[1])]

from sklearn.metrics import normalized_mutual_info_score, silhouette_score  # noqa: E402

from _data import load  # noqa: E402
from run import _PretrainHook  # noqa: E402
from skdiec import DiEC, _init  # noqa: E402
from skdiec.metrics import clustering_accuracy  # noqa: E402


def silhouette(Z, labels, seed):
    """Silhouette of ``labels`` in ``Z`` on at most 3,000 samples, -inf where
    undefined: the start's former choice between candidates."""
    if not 2 <= np.unique(labels).size <= Z.shape[0] - 1:
        return -np.inf
    return float(silhouette_score(Z, labels, sample_size=min(Z.shape[0], 3000),
                                  random_state=seed))


def main(dataset, backbone, seed, layers):
    X, y = load(dataset)
    X = np.asarray(X, dtype=np.float32)
    k = int(np.unique(y).size)
    params = {"layers": layers} if layers else {}
    est = DiEC(n_clusters=k, random_state=seed, max_iter=0, device="cpu", **params)
    with _PretrainHook(mode="load", path=backbone):
        est.fit(X)
    Z = est.transform(X).astype(np.float64)
    base = {"dataset": dataset, "seed": seed, "cell": f"{est.col_}@{int(est.cot_)}",
            "acc_start": round(clustering_accuracy(y, est.init_labels_), 4)}
    # The estimator's own candidates (skdiec._init), at two UMAP seeds.
    for umap_seed in (0, 1):
        for n_neighbors, labels in _init._umap_candidates(Z, k, umap_seed):
            print(json.dumps(dict(
                base, n_neighbors=n_neighbors, umap_seed=umap_seed,
                silhouette_z=round(silhouette(Z, labels, umap_seed), 4),
                acc=round(clustering_accuracy(y, labels), 4),
                nmi=round(normalized_mutual_info_score(y, labels), 4),
                sizes=sorted(np.bincount(labels, minlength=k).tolist()))), flush=True)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4:] or None)
