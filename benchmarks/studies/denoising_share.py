"""Fine-tuning with the denoising loss on a share of each batch.

    python benchmarks/studies/denoising_share.py OUT.jsonl \
        DATASET:SEED:MEMORY_DIR:LEARNING_RATE:SHARE ...

Fits DiEC with its defaults on a kept backbone (``MEMORY_DIR``, as
``run.py --backbone-dir`` fills it) with ``skdiec._dec.DENOISING_SHARE``
set to ``SHARE`` and the fine-tuning ``learning_rate`` given, and appends
one line per fit: the cell, the start's and the final ACC, the steps, the
fine-tuning time and the agreement with the start at every check.
"""

import json
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent), str(HERE.parents[1])]

from skdiec import DiEC, _dec  # noqa: E402
from skdiec.metrics import clustering_accuracy  # noqa: E402


def fit(dataset, seed, memory, learning_rate, share):
    from _data import load_for_fit

    X, y = load_for_fit(dataset)
    k = int(np.unique(y).size)
    _dec.DENOISING_SHARE = share
    tic = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est = DiEC(n_clusters=k, random_state=seed, device="cpu", memory=memory,
                   learning_rate=learning_rate).fit(X)
    return {"dataset": dataset, "seed": seed, "lr": learning_rate, "share": share,
            "cell": f"{est.col_}@{est.cot_}",
            "start": round(clustering_accuracy(y, est.init_labels_), 4),
            "acc": round(clustering_accuracy(y, est.labels_), 4), "steps": est.n_iter_,
            "ft_s": round(est.timings_["fine_tune"], 1),
            "wall": round(time.perf_counter() - tic, 1),
            "agree": [h.get("target_agreement") for h in est.fine_tune_history_]}


if __name__ == "__main__":
    out = Path(sys.argv[1])
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True, cwd=HERE).stdout.strip()
    for spec in sys.argv[2:]:
        dataset, seed, memory, learning_rate, share = spec.split(":")
        line = fit(dataset, int(seed), memory, float(learning_rate), float(share))
        line.update(command="python benchmarks/studies/" + Path(__file__).name + " "
                    + " ".join(sys.argv[1:]), git_commit=commit)
        print(json.dumps(line), flush=True)
        with out.open("a") as f:
            f.write(json.dumps(line) + "\n")
