"""The start's choice between k-means runs: inertia (the default) or modularity.

    python benchmarks/studies/start_rules.py BANK.npz [BANK.npz ...]
    python benchmarks/studies/start_rules.py --memory DIR --dataset NAME

Takes clustering spaces ``Z`` kept by ``start_bank.py`` (``.npz``) or the
search-and-start entries of a ``memory`` folder (a harness run's
``--backbone-dir``). For UMAP seeds 0, 1 and 2 it embeds ``Z`` as the
default start does (15, 30 and 50 neighbours) and runs k-means 10 times
(``n_init=1``) in each embedding, then prints the ACC of two choices among
those runs:

- ``inertia``, the default rule (``skdiec._init``): in each embedding the
  run of lowest inertia (what ``KMeans(n_init=10)`` keeps), then the
  neighbourhood size of best modularity on the 15-NN graph of ``Z``;
- ``modularity``, not adopted: the run of best modularity among all 30.

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

from skdiec import _graph, _init  # noqa: E402
from skdiec.metrics import clustering_accuracy  # noqa: E402

UMAP_SEEDS = (0, 1, 2)
N_RUNS = 10


def runs(Z, k, seed):
    """``(n_neighbors, inertia, modularity, labels)`` of every k-means run."""
    import umap

    sizes = _init._neighbourhood_sizes(Z.shape[0], k)
    g = _graph.graph_neighbours(Z.shape[0], k)
    dist, idx = _graph.nearest(Z, max(sizes[-1], g + 1))
    graph = _graph.knn_graph(idx[:, 1:g + 1])
    out = []
    for n_neighbors in sizes:
        embedding = umap.UMAP(n_components=min(_init.UMAP_MAX_COMPONENTS, k), min_dist=0.0,
                              n_neighbors=n_neighbors, init="spectral", random_state=seed,
                              n_jobs=1, precomputed_knn=(idx[:, :n_neighbors],
                                                         dist[:, :n_neighbors], None)
                              ).fit_transform(Z)
        for run_seed in np.random.RandomState(seed).randint(2 ** 31 - 1, size=N_RUNS):
            km = KMeans(k, n_init=1, random_state=run_seed).fit(embedding)
            out.append((n_neighbors, km.inertia_, _graph.modularity(graph, km.labels_),
                        km.labels_))
    return out


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
        acc = {"inertia": [], "modularity": []}
        for seed in UMAP_SEEDS:
            cands = runs(Z, k, seed)
            per_size = [min((c for c in cands if c[0] == n), key=lambda c: c[1])
                        for n in sorted({c[0] for c in cands})]
            acc["inertia"].append(clustering_accuracy(y, max(per_size, key=lambda c: c[2])[3]))
            acc["modularity"].append(clustering_accuracy(y, max(cands, key=lambda c: c[2])[3]))
        print(f"{name}: ACC at UMAP seeds {UMAP_SEEDS}: "
              + ", ".join(f"{rule} {np.round(v, 3).tolist()}" for rule, v in acc.items()),
              flush=True)


if __name__ == "__main__":
    main()
