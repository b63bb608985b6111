"""Pretraining batch size: ACC, start ACC and times.

Usage: ``python benchmarks/studies/pretrain_batch.py DATASET SEED:BATCH:LR:EPOCHS [...]``
(DATASET as in ``benchmarks/_data.py``) prints one JSON line per fit. Each
pretrains with ``pretrain_unet`` at that batch size, peak learning rate and
number of epochs ("auto": about 1,000 steps; on digits 35 epochs at batch
64 and 18 at batch 32), then fits DiEC with its defaults on that U-Net, so
that only pretraining differs (the later phases are seeded as in a default
fit, which this reproduces bit for bit at the default pretraining).
Larger batches with the same epochs (fewer steps) and smaller batches with
the same steps (fewer images) were compared.
"""
import json
from pathlib import Path
import sys
import time

import numpy as np

from skdiec import DiEC, pretrain_unet
from skdiec.metrics import clustering_accuracy
from sklearn.metrics import normalized_mutual_info_score

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from _data import load  # noqa: E402

dataset = sys.argv[1]
X, y = load(dataset)
n_clusters = int(np.unique(y).size)
for spec in sys.argv[2:]:
    seed, batch, lr, epochs = spec.split(":")
    seed, batch, lr = int(seed), int(batch), float(lr)
    epochs = epochs if epochs == "auto" else int(epochs)
    tic = time.perf_counter()
    unet = pretrain_unet(X, batch_size=batch, learning_rate=lr, epochs=epochs,
                         random_state=seed)
    pretrain_s = time.perf_counter() - tic
    est = DiEC(n_clusters=n_clusters, unet=unet, random_state=seed).fit(X)
    fit_s = time.perf_counter() - tic
    print(json.dumps({
        "dataset": dataset, "seed": seed, "batch": batch, "lr": lr, "epochs": epochs,
        "acc": round(clustering_accuracy(y, est.labels_), 4),
        "nmi": round(normalized_mutual_info_score(y, est.labels_), 4),
        "acc_init": round(clustering_accuracy(y, est.init_labels_), 4),
        "pretrain_s": round(pretrain_s, 1), "fit_s": round(fit_s, 1),
        "col": est.col_, "cot": int(est.cot_),
        "timings": {k: round(v, 1) for k, v in est.timings_.items()},
    }), flush=True)
