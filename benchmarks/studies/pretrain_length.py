"""DiEC on digits with an explicit pretraining length: ACC, start ACC and phase times.

Usage: ``python benchmarks/studies/pretrain_length.py SEED:EPOCHS [SEED:EPOCHS ...]``
prints one JSON line per fit. Every other parameter is the estimator's default,
so ``SEED:35`` is what ``pretrain_epochs="auto"`` gives on digits since the
default became about 1,000 steps, and ``SEED:52`` what it gave before (the
lines of ``benchmarks/results/digits.jsonl``).
"""
import json
import sys
import time

from skdiec import DiEC
from skdiec.datasets import load_digits_images
from skdiec.metrics import clustering_accuracy

X, y = load_digits_images(return_X_y=True)
for spec in sys.argv[1:]:
    seed, epochs = map(int, spec.split(":"))
    tic = time.perf_counter()
    est = DiEC(n_clusters=10, random_state=seed, pretrain_epochs=epochs).fit(X)
    fit_s = time.perf_counter() - tic
    print(json.dumps({
        "seed": seed, "epochs": epochs, "acc": round(clustering_accuracy(y, est.labels_), 4),
        "acc_init": round(clustering_accuracy(y, est.init_labels_), 4), "fit_s": round(fit_s, 1),
        "col": est.col_, "cot": int(est.cot_),
        "timings": {k: round(v, 1) for k, v in est.timings_.items()},
    }), flush=True)
