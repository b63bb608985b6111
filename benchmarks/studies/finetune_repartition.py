"""A new start in the fine-tuned space, kept only where modularity prefers it.

    python benchmarks/studies/finetune_repartition.py DATASET SEEDS MEMORY_DIR OUT.jsonl

For each seed, a default fit reads its backbone from ``MEMORY_DIR`` (a
suite or harness run's ``--backbone-dir``) and runs as today: fine-tuning
teaches the U-Net and the centres the start's partition. Then the start's
rule (UMAP + k-means, modularity choosing the neighbourhood size; the fit's
start seed) partitions the *tuned* clustering space ``transform(X)`` again.
The rule that would keep it: its modularity on the kNN graph of the tuned
space above that of ``labels_`` on the same graph (else keep ``labels_``:
"keep the start when unsure"). A new partition would then be taught by
held fine-tuning, as the start is, which reproduces it (Design notes,
"Fine-tuning"); its ACC is what that would reach. Appends one line per
seed: ACC and NMI of the start, of ``labels_``, of the new partition and
of the rule's choice, the modularities, and the new start's seconds. The
labels only score.
"""

import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent), str(HERE.parents[1])]

from skdiec import DiEC, _graph, _init, _seeding  # noqa: E402
from skdiec.metrics import clustering_accuracy  # noqa: E402
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score  # noqa: E402


def main(dataset, seeds, memory, out):
    from _data import load
    from _record import append

    X, y = load(dataset)
    k = int(np.unique(y).size)
    for seed in [int(s) for s in seeds.split(",")]:
        est = DiEC(n_clusters=k, random_state=seed, memory=memory).fit(X)
        tic = time.perf_counter()
        Z = est.transform(X)
        init_seed = _seeding.int_seed(_seeding.phase_seeds(seed).init)
        new, _ = _init.initial_partition(Z, k, "umap", np.random.RandomState(init_seed))
        neighbours = _graph.nearest(Z, _graph.graph_neighbours(len(Z), k) + 1)[1]
        graph = _graph.neighbour_graph(neighbours, k)
        modularity = {name: _graph.modularity(graph, labels) for name, labels in
                      (("labels", est.labels_), ("new", new), ("init", est.init_labels_))}
        chosen = new if modularity["new"] > modularity["labels"] else est.labels_
        row = {"study": "finetune_repartition", "dataset": dataset, "seed": seed,
               "cell": f"{est.col_}@{est.cot_}", "n_iter": est.n_iter_,
               "restart_s": round(time.perf_counter() - tic, 2),
               "modularity": {name: round(v, 4) for name, v in modularity.items()},
               "new_ari_with_labels": round(float(adjusted_rand_score(est.labels_, new)), 4)}
        for name, labels in (("init", est.init_labels_), ("labels", est.labels_), ("new", new),
                             ("chosen", chosen)):
            row[f"{name}_acc"] = round(float(clustering_accuracy(y, labels)), 4)
            row[f"{name}_nmi"] = round(float(normalized_mutual_info_score(y, labels)), 4)
        append(row, out)


if __name__ == "__main__":
    main(*sys.argv[1:5])
