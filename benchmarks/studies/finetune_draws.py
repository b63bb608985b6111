"""Fine-tuning's KL term on fewer draws of the noise bank than the
embedding averages over (``skdiec._dec.FINE_TUNE_DRAWS``).

    python benchmarks/studies/finetune_draws.py DATASET SEEDS MEMORY_DIR DRAWS OUT

Each fine-tuning step forwards and back-propagates its batch through the
U-Net up to COL once per noise draw; the search, the start, fine-tuning's
checks and prediction keep averaging over all ``n_noise_draws``. For each
seed and each value of ``DRAWS`` (comma-separated; 4 is today's, all of
the bank), a default fit reads its pretrained U-Net and its start from
``MEMORY_DIR`` (a harness or suite run's ``--backbone-dir``), so that only
fine-tuning differs, and one JSON line goes to ``OUT``: ACC and NMI of
``labels_`` and ``init_labels_``, steps and fine-tuning seconds. Each step
reads a random subset of the draws. The labels only score.
"""

import sys
import time
from pathlib import Path

import numpy as np
from sklearn.metrics import normalized_mutual_info_score

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent), str(HERE.parents[1])]

import _record  # noqa: E402
from skdiec import DiEC, _dec  # noqa: E402
from skdiec.metrics import clustering_accuracy  # noqa: E402


def main(dataset, seeds, memory, draws, out):
    from _data import load

    X, y = load(dataset)
    k = int(np.unique(y).size)
    for seed in [int(s) for s in seeds.split(",")]:
        for n_draws in [int(d) for d in draws.split(",")]:
            _dec.FINE_TUNE_DRAWS = n_draws
            tic = time.perf_counter()
            est = DiEC(n_clusters=k, random_state=seed, memory=memory).fit(X)
            row = {"study": "finetune_draws.py", "dataset": dataset, "seed": seed,
                   "fine_tune_draws": n_draws, "n_noise_draws": est.n_noise_draws,
                   "col": est.col_, "cot": int(est.cot_), "n_iter": int(est.n_iter_),
                   "acc": clustering_accuracy(y, est.labels_),
                   "nmi": normalized_mutual_info_score(y, est.labels_),
                   "init_acc": clustering_accuracy(y, est.init_labels_),
                   "init_nmi": normalized_mutual_info_score(y, est.init_labels_),
                   "fit_s": time.perf_counter() - tic, "timings": est.timings_,
                   "command": "python benchmarks/studies/finetune_draws.py "
                              + " ".join(sys.argv[1:])}
            print(f"{dataset} seed {seed} draws {n_draws}: {est.col_}@{int(est.cot_)} start "
                  f"{row['init_acc']:.4f} ACC {row['acc']:.4f} NMI {row['nmi']:.4f}, "
                  f"{row['n_iter']} steps, fine-tuning {est.timings_['fine_tune']:.1f} s",
                  flush=True)
            _record.append(row, out)


if __name__ == "__main__":
    main(*sys.argv[1:])
