"""Fine-tuning length and learning rate from one start, on a kept backbone.

Usage::

    python benchmarks/studies/finetune_schedule.py DATASET BACKBONE CELL LR:STEPS [LR:STEPS ...]

``BACKBONE`` is a U-Net kept by ``run.py --reuse-backbone --backbone-dir``, or
``digits:SEED``, which pretrains one on digits with the estimator's defaults
(as the harness's ``diec`` line of that seed does). ``CELL`` is ``layer@timestep``,
the one cell searched, so every arm starts from the same UMAP partition
(same ``random_state``) and differs only in fine-tuning. Prints one JSON line
per arm: ACC of the start, of nearest-centroid labels before fine-tuning
(an arm with 0 steps) and after.
"""
import json
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from _data import load  # noqa: E402

from skdiec import DiEC  # noqa: E402
from skdiec._backbone import build_unet  # noqa: E402
from skdiec._input import fit_layout  # noqa: E402
from skdiec.metrics import clustering_accuracy  # noqa: E402

dataset, backbone, cell, *arms = sys.argv[1:]
X, y = load(dataset)
k = len(set(y.tolist()))
if backbone.startswith("digits:"):
    seed = int(backbone.split(":")[1])
    unet = DiEC(n_clusters=k, random_state=seed, max_iter=0).fit(X).unet_
else:
    X2 = X.reshape(len(X), -1)
    layout = fit_layout(X2, None, 4)
    unet = build_unet(layout.image_shape[0], layout.padded_shape, (32, 64, 64), 1, 0)
    unet.load_state_dict(torch.load(backbone, weights_only=True)["unet"])
col, cot = cell.split("@")
for arm in arms:
    lr, steps = arm.split(":")
    est = DiEC(n_clusters=k, unet=unet, layers=[col], timesteps=[int(cot)],
               n_refine_timesteps=0, learning_rate=float(lr), max_iter=int(steps),
               random_state=0)
    tic = time.perf_counter()
    est.fit(X)
    print(json.dumps({
        "dataset": dataset, "backbone": backbone, "cell": cell, "learning_rate": float(lr),
        "max_iter": int(steps), "n_iter": est.n_iter_,
        "acc_start": round(clustering_accuracy(y, est.init_labels_), 4),
        "acc": round(clustering_accuracy(y, est.labels_), 4),
        "fit_s": round(time.perf_counter() - tic, 1),
    }), flush=True)
