"""The start's rule before and after k-means runs were chosen by modularity.

    python benchmarks/exploration/start_rules.py BANK.npz [BANK.npz ...]
    python benchmarks/exploration/start_rules.py --memory DIR --dataset NAME

Takes clustering spaces ``Z`` kept by ``start_bank.py`` (``.npz``) or the
search-and-start entries of a ``memory`` folder (a harness run's
``--backbone-dir``), and prints, for UMAP seeds 0, 1 and 2, the ACC of

- the former rule: in each neighbourhood size's UMAP embedding, k-means
  with ``n_init=10`` (the run of lowest inertia), then the size of best
  modularity;
- the current rule, ``skdiec._init._umap_kmeans``: every k-means run of
  every size a candidate, the best modularity wins.

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

from skdiec import _init  # noqa: E402
from skdiec.metrics import clustering_accuracy  # noqa: E402

UMAP_SEEDS = (0, 1, 2)


def former_rule(Z, k, seed):
    import umap

    sizes = _init._neighbourhood_sizes(Z.shape[0])
    dist, idx = _init._nearest(Z, max(sizes[-1], _init.GRAPH_N_NEIGHBORS + 1))
    graph = _init._knn_graph(idx[:, 1:_init.GRAPH_N_NEIGHBORS + 1])
    best, best_score = None, -np.inf
    for n_neighbors in sizes:
        embedding = umap.UMAP(n_components=min(_init.UMAP_MAX_COMPONENTS, k), min_dist=0.0,
                              n_neighbors=n_neighbors, init="spectral", random_state=seed,
                              n_jobs=1, precomputed_knn=(idx[:, :n_neighbors],
                                                         dist[:, :n_neighbors], None)
                              ).fit_transform(Z)
        labels = KMeans(k, n_init=10, random_state=seed).fit_predict(embedding)
        score = _init._modularity(graph, labels)
        if score > best_score:
            best, best_score = labels, score
    return best


def spaces(args):
    if args.memory:
        import joblib
        from _data import load

        y = load(args.dataset)[1]
        pattern = f"{args.memory}/joblib/skdiec/_start/_start_entry/*/output.pkl"
        for path in sorted(glob.glob(pattern)):
            start = joblib.load(path)["start"]
            yield (f"{args.dataset} {start.search.col}@{start.search.cot}",
                   start.embedding.numpy().astype(np.float64), y)
    for path in args.banks:
        d = np.load(path)
        yield f"{d['dataset']} seed {int(d['seed'])} {d['col']}@{int(d['cot'])}", d["Z"], d["y"]


def main(argv=None):
    parser = argparse.ArgumentParser()
    parser.add_argument("banks", nargs="*")
    parser.add_argument("--memory")
    parser.add_argument("--dataset")
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore", module="umap")
    for name, Z, y in spaces(args):
        k = int(np.unique(y).size)
        former = [clustering_accuracy(y, former_rule(Z, k, s)) for s in UMAP_SEEDS]
        current = [clustering_accuracy(y, _init._umap_kmeans(Z, k, s)) for s in UMAP_SEEDS]
        print(f"{name}: ACC at UMAP seeds {UMAP_SEEDS}: former rule "
              f"{np.round(former, 3).tolist()}, current rule {np.round(current, 3).tolist()}",
              flush=True)


if __name__ == "__main__":
    main()
