"""Fine-tuning's course: at every check, the agreement of the checked rows'
labels with the start's, and their ACC.

    python benchmarks/studies/finetune_agreement.py OUT.jsonl \
        DATASET:SEED:MEMORY_DIR:SEARCH_N_SAMPLES:MAX_ITER ...

Fits DiEC on a kept backbone with ``tol=0`` (no early stop) and reads the
labels fine-tuning computes at its checks (every ``update_interval`` steps).
Appends one line per fit.
"""

import json
import sys
import warnings
from pathlib import Path

import numpy as np
import torch

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent), str(HERE.parents[1])]

from skdiec import DiEC, _dec, _search, _seeding  # noqa: E402
from skdiec.metrics import clustering_accuracy  # noqa: E402


def course(dataset, seed, memory, n_search, max_iter):
    from _data import load_for_fit

    X, y = load_for_fit(dataset)
    k = int(np.unique(y).size)
    subset_seed, _ = _seeding.ints(_seeding.phase_seeds(seed).search, 2)
    subset = _search.draw_subset(n_search, len(X), k, subset_seed)
    rows = _dec.check_rows(subset)
    seen = []
    soft_assignment = _dec.soft_assignment

    def spy(Z, centers, alpha):  # the checks embed the rows without gradients
        q = soft_assignment(Z, centers, alpha)
        if not torch.is_grad_enabled() and Z.shape[0] == len(rows):
            seen.append(q.argmax(1).cpu().numpy())
        return q

    _dec.soft_assignment = spy
    try:
        est = DiEC(n_clusters=k, random_state=seed, device="cpu", memory=memory,
                   search_n_samples=n_search, max_iter=max_iter, tol=0.0).fit(X)
    finally:
        _dec.soft_assignment = soft_assignment
    start = est.init_labels_[rows]
    return {"dataset": dataset, "seed": seed, "n_search": n_search,
            "cell": f"{est.col_}@{est.cot_}",
            "start_acc_rows": round(clustering_accuracy(y[rows], start), 4),
            "start_acc": round(clustering_accuracy(y, est.init_labels_), 4),
            "final_acc": round(clustering_accuracy(y, est.labels_), 4),
            # (step, agreement with the start, ACC) on the checked rows
            "curve": [(est.update_interval * i, round(float((labels == start).mean()), 4),
                       round(clustering_accuracy(y[rows], labels), 4))
                      for i, labels in enumerate(seen)],
            "fine_tune_s": round(est.timings_["fine_tune"], 1)}


def main(out, *specs):
    warnings.filterwarnings("ignore")
    for spec in specs:
        dataset, seed, memory, n_search, max_iter = spec.split(":")
        line = course(dataset, int(seed), memory, int(n_search), int(max_iter))
        line["command"] = " ".join(["python", "benchmarks/studies/finetune_agreement.py",
                                    out, *specs])
        print(json.dumps(line), flush=True)
        with open(out, "a") as f:
            f.write(json.dumps(line) + "\n")


if __name__ == "__main__":
    main(*sys.argv[1:])
