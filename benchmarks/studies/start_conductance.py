"""Unequal cluster sizes: can a label-free score tell a split cluster?

    python benchmarks/studies/start_conductance.py MEMORY_DIR DATASET [...]

Reads the search-and-start entries of each DATASET in a ``memory`` folder
(see ``start_adaptive.py``) and, at UMAP seeds 0-2 and the start's capped
neighbourhood sizes, builds three kinds of candidate partition of the
clustering space: k-means in the UMAP embedding (today's), a Gaussian
mixture started from it, and k-means into 2k pieces merged back to k by the
kNN graph (``start_merge.py``). For every candidate it prints the ACC and
two label-free scores on the kNN graph of the clustering space:

- modularity (today's choice between neighbourhood sizes);
- the worst cluster's conductance: the share of a cluster's edge ends that
  leave it, maximised over clusters. A cluster that k-means cut in two
  leaves two halves joined by many edges (high conductance); merging two
  small clusters does not raise it. It does not reward equal sizes.
- the largest pair share: over pairs of clusters, the share of the smaller
  one's edge ends that go to the other.

and which candidate each rule picks. The labels only score.
"""

import sys
import warnings
from pathlib import Path

import numpy as np
from scipy import sparse
from sklearn.cluster import KMeans
from sklearn.mixture import GaussianMixture

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent), str(HERE.parents[1])]

from start_adaptive import spaces  # noqa: E402
from start_merge import merge, start_graph  # noqa: E402

from skdiec import _graph, _init  # noqa: E402
from skdiec.metrics import clustering_accuracy  # noqa: E402

warnings.filterwarnings("ignore")


def conductance(A, labels):
    """Largest share of a cluster's edge ends that leave it."""
    degrees = np.asarray(A.sum(axis=1)).ravel()
    edges = A.tocoo()
    inside = np.bincount(labels[edges.row], weights=edges.data * (
        labels[edges.row] == labels[edges.col]), minlength=labels.max() + 1)
    volume = np.bincount(labels, weights=degrees, minlength=labels.max() + 1)
    keep = volume > 0
    return float(np.max(1 - inside[keep] / volume[keep]))


def pair_share(A, labels):
    """Largest share of the smaller cluster's edge ends that go to one other
    cluster, over all pairs: high when k-means cut one cluster in two."""
    member = sparse.csr_matrix((np.ones(labels.size), (np.arange(labels.size), labels)),
                               shape=(labels.size, labels.max() + 1))
    edges = (member.T @ A @ member).toarray()
    volume = edges.sum(axis=1)
    between = edges - np.diag(np.diag(edges))
    smaller = np.minimum(volume[:, None], volume[None, :])
    return float(np.max(between / np.maximum(smaller, 1e-12)))


def candidates(Z, k, seed, sizes, idx, dist):
    import umap

    n = Z.shape[0]
    for s in sizes:
        emb = umap.UMAP(n_components=max(1, min(_init.UMAP_MAX_COMPONENTS, max(2, k), n - 2)),
                        n_neighbors=s, min_dist=0.0, random_state=seed, n_jobs=1,
                        precomputed_knn=(idx[:, :s], dist[:, :s], None)).fit_transform(Z)
        km = KMeans(k, n_init=10, random_state=seed).fit(emb)
        try:
            gmm = GaussianMixture(k, covariance_type="full", reg_covar=1e-4, random_state=seed,
                                  means_init=km.cluster_centers_).fit(emb).predict(emb)
        except ValueError:
            gmm = km.labels_
        yield s, emb, {(s, "kmeans"): km.labels_, (s, "gmm"): gmm}


def main(memory, *datasets):
    for dataset in datasets:
        for name, Z, y in spaces(memory, dataset):
            n, k = Z.shape[0], int(np.unique(y).size)
            sizes, dist, idx, A = start_graph(Z, k)
            print(f"{name} (n={n}, k={k}, sizes {sizes})", flush=True)
            rules = {}
            for seed in (0, 1, 2):
                cands = {}
                for s, emb, found in candidates(Z, k, seed, sizes, idx, dist):
                    cands.update(found)
                    pieces = KMeans(2 * k, n_init=10, random_state=seed).fit_predict(emb)
                    cands[(s, "merge2k")] = merge(A, pieces, k)
                rows = {key: (clustering_accuracy(y, lab), _graph.modularity(A, lab),
                              conductance(A, lab), pair_share(A, lab))
                        for key, lab in cands.items()}
                for key, (acc, mod, cond, share) in sorted(rows.items()):
                    print(f"  seed {seed} {key[0]:2d} {key[1]:8s} ACC {acc:.3f} "
                          f"modularity {mod:.3f} worst conductance {cond:.3f} "
                          f"pair share {share:.3f}", flush=True)
                km_keys = [key for key in rows if key[1] == "kmeans"]
                default = max(km_keys, key=lambda key: rows[key][1])
                picks = {
                    "default (kmeans, modularity)": default,
                    "any, modularity": max(rows, key=lambda key: rows[key][1]),
                    "any, min worst conductance": min(rows, key=lambda key: rows[key][2]),
                    "kmeans|merge2k, min worst conductance": min(
                        (key for key in rows if key[1] != "gmm"), key=lambda key: rows[key][2]),
                    "any, min pair share": min(rows, key=lambda key: rows[key][3]),
                    "kmeans|merge2k, min pair share": min(
                        (key for key in rows if key[1] != "gmm"), key=lambda key: rows[key][3]),
                }
                for rule, key in picks.items():
                    rules.setdefault(rule, []).append((rows[key][0], key))
            for rule, picked in rules.items():
                accs = [a for a, _ in picked]
                print(f"  {rule:40s} ACC {np.mean(accs):.3f} {np.round(accs, 3).tolist()} "
                      f"picks {[f'{s}/{p}' for _, (s, p) in picked]}", flush=True)


if __name__ == "__main__":
    main(*sys.argv[1:])
