"""Start rules on kept clustering spaces: fixed or adaptive neighbourhoods,
k-means or a Gaussian mixture in the UMAP embedding.

    python benchmarks/studies/start_adaptive.py --memory DIR --dataset NAME [...]

Reads the search-and-start entries of a ``memory`` folder (a suite or
harness run's ``--backbone-dir``; every kept entry of DATASET, which may be
several seeds), i.e. the clustering space ``Z`` at the searched cell, and for
UMAP seeds 0-2 prints the ACC and NMI of each rule's start:

- ``fixed``: today's default (15, 30, 50 neighbours; k-means with 10 runs;
  modularity on the 15-NN graph of ``Z`` picks the size);
- ``capped``: every neighbourhood (the UMAP sizes and the modularity graph)
  capped at half the mean cluster size ``n / (2 k)``, at least 3 (the
  default since, ``skdiec._init.neighbourhood_cap``);
- ``*_gmm``: the same sizes, each embedding partitioned by k-means and by a
  Gaussian mixture with full covariances started from k-means' partition
  (free weights: clusters of unequal size); modularity picks among all;
- ``capped_gmm_only``: capped sizes, the Gaussian mixture's partition only;
- ``best``: the best candidate of ``capped_gmm`` by ACC (an oracle, not a rule).

The labels only score.
"""

import argparse
import glob
import sys
import warnings
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent), str(HERE.parents[1])]

from sklearn.cluster import KMeans  # noqa: E402
from sklearn.metrics import normalized_mutual_info_score  # noqa: E402
from sklearn.mixture import GaussianMixture  # noqa: E402

from skdiec import _graph, _init  # noqa: E402
from skdiec.metrics import clustering_accuracy  # noqa: E402

UMAP_SEEDS = (0, 1, 2)
FIXED = (15, 30, 50)


def candidates(Z, k, seed, sizes):
    """``{(n_neighbors, partitioner): labels}`` for every size in ``sizes``."""
    import umap

    n = Z.shape[0]
    dist, idx = _graph.nearest(Z, max(sizes))
    out = {}
    for s in sizes:
        emb = umap.UMAP(n_components=max(1, min(_init.UMAP_MAX_COMPONENTS, max(2, k), n - 2)),
                        n_neighbors=s, min_dist=0.0, init="spectral", random_state=seed,
                        n_jobs=1, precomputed_knn=(idx[:, :s], dist[:, :s], None)
                        ).fit_transform(Z)
        km = KMeans(k, n_init=10, random_state=seed).fit(emb)
        out[(s, "kmeans")] = km.labels_
        resp = np.eye(k)[km.labels_]
        weights = resp.mean(axis=0)
        means = km.cluster_centers_
        try:
            gmm = GaussianMixture(k, covariance_type="full", reg_covar=1e-4, random_state=seed,
                                  weights_init=np.clip(weights, 1e-3, None) / np.clip(
                                      weights, 1e-3, None).sum(),
                                  means_init=means).fit(emb)
            out[(s, "gmm")] = gmm.predict(emb)
        except ValueError:
            out[(s, "gmm")] = km.labels_
    return out


def pick(cands, keys, graph):
    best = max(keys, key=lambda key: _graph.modularity(graph, cands[key]))
    return cands[best], best


def spaces(memory, dataset):
    import joblib
    from _data import load

    y = load(dataset)[1]
    pattern = f"{memory}/joblib/skdiec/_start/_start_entry/*/output.pkl"
    for path in sorted(glob.glob(pattern)):
        start = joblib.load(path)["start"]
        Z = start.embedding.numpy().astype(np.float64)
        if Z.shape[0] != y.size:
            continue
        yield f"{dataset} {start.search.col}@{start.search.cot}", Z, y


def main(argv=None):
    parser = argparse.ArgumentParser()
    parser.add_argument("--memory", required=True)
    parser.add_argument("--dataset", required=True, nargs="+")
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore")
    for dataset in args.dataset:
        for name, Z, y in spaces(args.memory, dataset):
            n, k = Z.shape[0], int(np.unique(y).size)
            fixed, cap = list(FIXED), _init._neighbourhood_sizes(n, k)
            scores = {}
            for seed in UMAP_SEEDS:
                cands = candidates(Z, k, seed, sorted(set(fixed) | set(cap)))
                g_fixed, g_cap = (_graph.knn_graph(_graph.nearest(Z, g + 1)[1][:, 1:])
                                  for g in (_graph.GRAPH_N_NEIGHBORS,
                                            _graph.graph_neighbours(n, k)))
                rules = {
                    "fixed": pick(cands, [(s, "kmeans") for s in fixed], g_fixed),
                    "capped": pick(cands, [(s, "kmeans") for s in cap], g_cap),
                    "fixed_gmm": pick(cands, [(s, p) for s in fixed for p in ("kmeans", "gmm")],
                                      g_fixed),
                    "capped_gmm": pick(cands, [(s, p) for s in cap for p in ("kmeans", "gmm")],
                                       g_cap),
                    "capped_gmm_only": pick(cands, [(s, "gmm") for s in cap], g_cap),
                }
                keys = [(s, p) for s in cap for p in ("kmeans", "gmm")]
                rules["best"] = max(((cands[key], key) for key in keys),
                                    key=lambda c: clustering_accuracy(y, c[0]))
                for rule, (labels, key) in rules.items():
                    scores.setdefault(rule, []).append(
                        (clustering_accuracy(y, labels), normalized_mutual_info_score(y, labels),
                         key))
            print(f"{name} (n={n}, k={k}, capped sizes {cap}):", flush=True)
            for rule, vals in scores.items():
                acc = np.array([v[0] for v in vals])
                nmi = np.array([v[1] for v in vals])
                picks = " ".join(f"{v[2][0]}/{v[2][1]}" for v in vals)
                print(f"  {rule:11s} ACC {acc.mean():.3f} {np.round(acc, 3).tolist()} "
                      f"NMI {nmi.mean():.3f}  picks {picks}", flush=True)


if __name__ == "__main__":
    main()
