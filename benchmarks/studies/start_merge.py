"""Not adopted: the start over-clusters and merges by the graph.

    python benchmarks/studies/start_merge.py MEMORY_DIR DATASET

Reads the search-and-start entries of DATASET in a ``memory`` folder (see
``start_adaptive.py``) and, at UMAP seeds 0-2 and the start's (capped)
neighbourhood sizes, compares today's k-means in the UMAP embedding with
k-means into 2k (``merge2k``) or 3k (``merge3k``) pieces merged back to k,
each time joining the two pieces whose edges in the kNN graph of the
clustering space make the largest share of the smaller one's edges.
Modularity picks the size in each rule. The labels only score.
BENCHMARKS.md, "The development suite", has what it measured.
"""

import sys
import warnings
from pathlib import Path

import numpy as np
from scipy import sparse
from sklearn.cluster import KMeans
from sklearn.metrics import normalized_mutual_info_score as nmi

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent), str(HERE.parents[1])]

from start_adaptive import spaces  # noqa: E402

from skdiec import _graph, _init  # noqa: E402
from skdiec.metrics import clustering_accuracy  # noqa: E402

warnings.filterwarnings("ignore")


def merge(A, labels, k):
    """Join pieces of ``labels`` until ``k`` remain: each time the two whose
    edges in ``A`` make the largest share of the smaller one's edges."""
    labels = labels.copy()
    member = sparse.csr_matrix((np.ones(labels.size), (np.arange(labels.size), labels)),
                               shape=(labels.size, labels.max() + 1))
    edges = (member.T @ A @ member).toarray()
    active = list(range(edges.shape[0]))
    while len(active) > k:
        volume = edges.sum(axis=1)
        pairs = [(i, j) for a, i in enumerate(active) for j in active[a + 1:]]
        i, j = max(pairs, key=lambda p: edges[p] / max(min(volume[p[0]], volume[p[1]]), 1e-12))
        edges[i] += edges[j]
        edges[:, i] += edges[:, j]
        edges[j] = 0
        edges[:, j] = 0
        labels[labels == j] = i
        active.remove(j)
    return np.unique(labels, return_inverse=True)[1]


def start_graph(Z, k):
    """The start's capped neighbourhood sizes, ``(dist, idx)`` of the
    nearest rows of ``Z`` and the kNN graph modularity is measured on."""
    n = Z.shape[0]
    sizes = _init._neighbourhood_sizes(n, k)
    g = _graph.graph_neighbours(n, k)
    dist, idx = _graph.nearest(Z, max(max(sizes), g + 1))
    return sizes, dist, idx, _graph.knn_graph(idx[:, 1:g + 1])


def main(memory, dataset):
    import umap

    for name, Z, y in spaces(memory, dataset):
        n, k = Z.shape[0], int(np.unique(y).size)
        sizes, dist, idx, A = start_graph(Z, k)
        res = {"kmeans": [], "merge2k": [], "merge3k": []}
        for seed in (0, 1, 2):
            cands = {}
            for s in sizes:
                emb = umap.UMAP(n_components=min(10, k), n_neighbors=s, min_dist=0.0,
                                random_state=seed, n_jobs=1,
                                precomputed_knn=(idx[:, :s], dist[:, :s], None)).fit_transform(Z)
                cands[(s, "kmeans")] = KMeans(k, n_init=10, random_state=seed).fit_predict(emb)
                for f in (2, 3):
                    pieces = KMeans(f * k, n_init=10, random_state=seed).fit_predict(emb)
                    cands[(s, f"merge{f}k")] = merge(A, pieces, k)
            for rule in res:
                keys = [key for key in cands if key[1] == rule]
                best = max(keys, key=lambda key: _graph.modularity(A, cands[key]))
                res[rule].append((clustering_accuracy(y, cands[best]), nmi(y, cands[best]),
                                  best[0]))
        print(name, n, k, sizes, flush=True)
        for rule, v in res.items():
            acc = [round(a, 3) for a, _, _ in v]
            nmis = [b for _, b, _ in v]
            print(f"  {rule:8s} ACC {np.mean(acc):.3f} {acc} NMI {np.mean(nmis):.3f} "
                  f"sizes {[s for *_, s in v]}", flush=True)


if __name__ == "__main__":
    main(*sys.argv[1:3])
