"""Is a weak searched cell the cell or the UMAP draw? The start redrawn there.

    python benchmarks/studies/search_cell_or_draw.py DATASET SEED MEMORY_DIR OUT.jsonl

With a kept backbone (``MEMORY_DIR``), fits ``DiEC(max_iter=0)`` with the
size-entropy and the modularity search, then draws the start's UMAP
candidates (every neighbourhood size) again at UMAP seeds 101 and 202 in each
fit's clustering space: their ACC, and their modularity on the graph the
start judges by. If every draw at a cell scores alike, the cell decides, not
the draw. Appends one line per search score to ``OUT.jsonl``.
"""

import json
import sys
import time
import warnings
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent), str(HERE.parents[1])]

from skdiec import DiEC, _graph, _init  # noqa: E402
from skdiec.metrics import clustering_accuracy  # noqa: E402

UMAP_SEEDS = (101, 202)


def main(dataset, seed, memory, out):
    from _data import load_for_fit

    warnings.filterwarnings("ignore")
    seed = int(seed)
    X, y = load_for_fit(dataset)
    k = int(np.unique(y).size)
    for score in ("size_entropy", "modularity"):
        tic = time.time()
        est = DiEC(n_clusters=k, random_state=seed, max_iter=0, device="cpu", memory=memory,
                   search_score=score).fit(X)
        Z = est.transform(X)
        graph = _graph.neighbour_graph(
            _graph.nearest(Z, _graph.graph_neighbours(len(Z), k) + 1)[1], k)
        line = {"dataset": dataset, "seed": seed, "score": score,
                "cell": f"{est.col_}@{int(est.cot_)}",
                "start_acc": clustering_accuracy(y, est.init_labels_),
                "start_mod": _graph.modularity(graph, est.init_labels_),
                "fit_s": time.time() - tic, "draws": [],
                "command": " ".join(["python", "benchmarks/studies/search_cell_or_draw.py"]
                                    + sys.argv[1:])}
        for umap_seed in UMAP_SEEDS:
            sizes = _init._neighbourhood_sizes(len(Z), k)
            for size, labels in _init._umap_candidates(Z, k, umap_seed, sizes=sizes):
                line["draws"].append((umap_seed, size, round(clustering_accuracy(y, labels), 4),
                                      round(_graph.modularity(graph, labels), 4)))
                print(score, line["draws"][-1], flush=True)
        with open(out, "a") as f:
            f.write(json.dumps(line) + "\n")


if __name__ == "__main__":
    main(*sys.argv[1:5])
