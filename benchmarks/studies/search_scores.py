"""Search scores on every cell of kept backbones: which cell each would pick,
and how well that cell clusters.

    python benchmarks/studies/search_scores.py DATASET SEEDS MEMORY_DIR [OUT.jsonl]

For each seed, ``DiEC(max_iter=0, memory=MEMORY_DIR)`` reads the kept
backbone and start (nothing is pretrained when the suite kept them), then on
the fit's own search subset and noise bank every (layer, timestep) cell of
``TIMESTEPS`` is projected (PCA, 32 dimensions), partitioned by Ward (as the
search does) and scored by:

- ``size_entropy``: the default (assumes clusters of about equal size);
- ``modularity``: Newman's modularity of the Ward partition on the cell's own
  ``m``-nearest-neighbour graph, ``m = min(15, n / (2 k))`` (no size prior
  beyond the graph's);
- ``silhouette``;
- ``umap_modularity``: modularity, on the same graph, of UMAP + k-means'
  partition of the cell (below) instead of Ward's.

Each cell's quality is the ACC of Ward's partition and of UMAP + k-means on
the subset (15 neighbours, capped as above). Prints the cell each score
picks by the search's rule (COL: best mean over the coarse timesteps; COT:
COL's best timestep) and its quality, against the best cell. The labels only
score.
"""

import json
import sys
import warnings
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent), str(HERE.parents[1])]

from scipy.stats import spearmanr  # noqa: E402
from sklearn.cluster import KMeans  # noqa: E402
from sklearn.metrics import silhouette_score  # noqa: E402

from skdiec import DiEC, _backbone, _features, _graph, _search, _seeding  # noqa: E402
from skdiec.metrics import clustering_accuracy  # noqa: E402

TIMESTEPS = (1, 10, 25, 50, 100, 150, 200, 250)
COARSE = (1, 25, 50, 100, 200)


def umap_kmeans(Z, k, m, seed=0):
    import umap

    emb = umap.UMAP(n_components=min(10, k), n_neighbors=m, min_dist=0.0, random_state=seed,
                    n_jobs=1).fit_transform(Z)
    return KMeans(k, n_init=10, random_state=seed).fit_predict(emb)


def projected_cells(dataset, seed, memory):
    """Read a seed's kept backbone (``DiEC(max_iter=0, memory=memory)``) and
    project every cell of ``TIMESTEPS`` on the fit's own search subset and
    noise bank (PCA to 32 dimensions, as the search does).

    Returns ``(est, ys, k, cells)``: the fitted estimator, the subset's
    classes (only to score), the number of classes, and an iterator of
    ``(layer, t, Z)`` timestep by timestep.
    """
    from _data import load_for_fit

    X, y = load_for_fit(dataset)
    k = int(np.unique(y).size)
    est = DiEC(n_clusters=k, random_state=seed, max_iter=0, device="cpu", memory=memory).fit(X)
    subset_seed, _ = _seeding.ints(_seeding.phase_seeds(seed).search, 2)
    subset = _search.draw_subset(est.search_n_samples, len(X), k, subset_seed)
    images = est._model.layout.to_tensor(X[subset].reshape(len(subset), -1))
    sched = _backbone.make_scheduler()
    names = list(est.search_layers_)

    def cells():
        for t in TIMESTEPS:
            feats = _features.extract_features(est.unet_, sched, images, t, names,
                                               est._model.noise_bank, est.pooling, 256, "cpu")
            for name in names:
                yield name, t, _search.project(feats.pop(name), 32, 0)
            print(f"  {dataset} seed {seed} t={t} done", flush=True)

    return est, y[subset], k, cells()


def cells(dataset, seed, memory):
    est, ys, k, projected = projected_cells(dataset, seed, memory)
    names = list(est.search_layers_)
    m = _graph.graph_neighbours(len(ys), k)
    rows = {}
    for name, t, Z in projected:
        labels = _search.partition(Z, k, "ward", 0)
        graph = _graph.knn_graph(_graph.nearest(Z, m + 1)[1][:, 1:])
        umap_labels = umap_kmeans(Z, k, m)
        rows[(name, t)] = {
            "size_entropy": _search._size_entropy(Z, labels, 0),
            "modularity": _graph.modularity(graph, labels),
            "silhouette": silhouette_score(Z, labels),
            "ward_acc": clustering_accuracy(ys, labels),
            "umap_modularity": _graph.modularity(graph, umap_labels),
            "umap_acc": clustering_accuracy(ys, umap_labels),
        }
    return est, names, rows


def pick(names, rows, score):
    col = max(names, key=lambda name: np.mean([rows[(name, t)][score] for t in COARSE]))
    cot = max(TIMESTEPS, key=lambda t: rows[(col, t)][score])
    return col, cot


def main(dataset, seeds, memory, out=None):
    warnings.filterwarnings("ignore")
    for seed in [int(s) for s in seeds.split(",")]:
        est, names, rows = cells(dataset, seed, memory)
        if out:
            with open(out, "a") as f:
                for (name, t), row in rows.items():
                    f.write(json.dumps({"dataset": dataset, "seed": seed, "layer": name, "t": t,
                                        "fit_cell": f"{est.col_}@{int(est.cot_)}",
                                        **{k: float(v) for k, v in row.items()}}) + "\n")
        best_w = max(rows, key=lambda c: rows[c]["ward_acc"])
        best_u = max(rows, key=lambda c: rows[c]["umap_acc"])
        print(f"{dataset} seed {seed}: fit's cell {est.col_}@{int(est.cot_)}; best Ward cell "
              f"{best_w} {rows[best_w]['ward_acc']:.3f}; best UMAP cell {best_u} "
              f"{rows[best_u]['umap_acc']:.3f}", flush=True)
        for score in ("size_entropy", "modularity", "silhouette", "umap_modularity"):
            cell = pick(names, rows, score)
            vals = np.array([rows[c][score] for c in rows])
            w = np.array([rows[c]["ward_acc"] for c in rows])
            u = np.array([rows[c]["umap_acc"] for c in rows])
            print(f"  {score:12s} picks {cell[0]}@{cell[1]}: Ward {rows[cell]['ward_acc']:.3f} "
                  f"UMAP {rows[cell]['umap_acc']:.3f}; rank corr. with Ward "
                  f"{spearmanr(vals, w)[0]:+.2f}, UMAP {spearmanr(vals, u)[0]:+.2f}", flush=True)


if __name__ == "__main__":
    main(*sys.argv[1:5])
