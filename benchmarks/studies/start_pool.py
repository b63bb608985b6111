"""Modularity over several UMAP draws instead of one, on kept clustering spaces.

    python benchmarks/studies/start_pool.py [--n-epochs=N] OUT.npz [OUT.npz ...]

Reads what ``start_bank.py`` kept (a fit's clustering space ``Z``, the
labels and the start's own partition) and redraws the start's candidates
(k-means in UMAP at each neighbourhood size) at the fit's own UMAP seed and
at ``N_DRAWS - 1`` more. For 1, 2 and 3 draws it prints the ACC of the
candidate with the best modularity on the kNN graph of ``Z`` (1 draw is
today's rule: the first line must match the start's ACC) and the seconds
the draws took. ``--n-epochs`` sets UMAP's layout epochs (its default: 500
below 10,000 samples, 200 above). The labels only score.
"""

import json
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent), str(HERE.parents[1])]

from skdiec import _graph, _init, _seeding  # noqa: E402
from skdiec.metrics import clustering_accuracy  # noqa: E402

N_DRAWS = 3


def main(paths, n_epochs=None):
    for path in paths:
        d = np.load(path)
        Z, y, seed = d["Z"], d["y"], int(d["seed"])
        k = int(np.unique(y).size)
        rng = np.random.RandomState(_seeding.int_seed(_seeding.phase_seeds(seed).init))
        umap_seed = rng.randint(np.iinfo(np.int32).max)
        sizes = _init._neighbourhood_sizes(Z.shape[0], k)
        g = _graph.graph_neighbours(Z.shape[0], k)
        neighbours = _graph.nearest(Z, max(sizes[-1], g + 1))
        graph = _graph.knn_graph(neighbours[1][:, 1:g + 1])
        cands, seconds = [], []
        for draw in range(N_DRAWS):
            tic = time.perf_counter()
            for n_neighbors, labels in _init._umap_candidates(
                    Z, k, (umap_seed + draw) % np.iinfo(np.int32).max, neighbours=neighbours,
                    n_epochs=n_epochs):
                cands.append({"draw": draw, "n_neighbors": n_neighbors,
                              "modularity": round(_graph.modularity(graph, labels), 4),
                              "acc": round(clustering_accuracy(y, labels), 4)})
            seconds.append(time.perf_counter() - tic)
        for c in cands:
            print(json.dumps({"file": Path(path).name, "n_epochs": n_epochs, **c}))
        for n in range(1, N_DRAWS + 1):
            pool = [c for c in cands if c["draw"] < n]
            best = max(pool, key=lambda c: c["modularity"])
            print(json.dumps({"file": Path(path).name, "n_epochs": n_epochs, "draws": n,
                              "pick_acc": best["acc"],
                              "best_acc": max(c["acc"] for c in pool),
                              "seconds": round(sum(seconds[:n]), 1),
                              "start_acc": round(clustering_accuracy(y, d["start"]), 4)}),
                  flush=True)


if __name__ == "__main__":
    args = sys.argv[1:]
    epochs = int(args.pop(0).split("=")[1]) if args[0].startswith("--n-epochs=") else None
    main(args, epochs)
