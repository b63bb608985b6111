"""What fine-tuning could do after the default one: DEC's self-training
target once the start is distilled, or a new start in the tuned space.

    python benchmarks/studies/finetune_variants.py DATASET SEEDS MEMORY_DIR [STEPS]

For each seed, a default fit reads its backbone and start from
``MEMORY_DIR`` (a suite or harness run's ``--backbone-dir``) and fine-tunes
as today (target held at the start, ``max_iter`` steps). From its end, two
continuations of ``STEPS`` (default 150) more steps, on copies of the
fine-tuned U-Net and centres, print the ACC every ``update_interval`` steps:

- ``dec``: DEC's own target (``Q`` sharpened, refreshed from all samples),
  the paper's self-training, now that ``Q``'s argmax agrees with the start;
- ``restart``: the UMAP start again, in the clustering space of the tuned
  U-Net, then that partition held as the target.

The labels only score.
"""

import copy
import sys
import time
from pathlib import Path

import numpy as np
import torch

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent), str(HERE.parents[1])]

from skdiec import DiEC, _dec, _init, _model  # noqa: E402
from skdiec._torch_utils import make_generator  # noqa: E402
from skdiec.metrics import clustering_accuracy  # noqa: E402


def labels_of(embedder, X_img, centers, est):
    Z = embedder.embed(X_img, est.batch_size, "cpu")
    return _model.soft_assignment(Z, centers.detach(), est.alpha).argmax(dim=1).numpy(), Z


def continue_tuning(est, X_img, y, steps, variant):
    unet = copy.deepcopy(est.unet_)
    embedder = _model.Embedder(unet, est._model.scheduler, est._model.head, est.col_,
                               est.cot_, est._model.noise_bank, est.pooling)
    centers = torch.nn.Parameter(torch.as_tensor(est.cluster_centers_, dtype=torch.float32))
    labels, Z = labels_of(embedder, X_img, centers, est)
    target = None
    if variant == "restart":
        new, new_centers = _init.initial_partition(Z.numpy().astype(np.float64), est.n_clusters,
                                                   "umap", np.random.RandomState(0))
        print(f"    restart: new start ACC {clustering_accuracy(y, new):.4f} "
              f"(agrees with labels_ on {np.mean(new == est.labels_):.3f})", flush=True)
        centers = torch.nn.Parameter(torch.as_tensor(new_centers, dtype=torch.float32))
        target = _dec.smoothed_onehot(new, est.n_clusters)
    accs = []
    generator = make_generator(1)
    for done in range(0, steps, est.update_interval):
        _dec.fine_tune(embedder, X_img, centers, est._model.scheduler, alpha=est.alpha,
                       max_iter=est.update_interval, update_interval=est.update_interval,
                       tol=0.0, denoising_weight=est.denoising_weight, target=target,
                       learning_rate=est.learning_rate, batch_size=est.batch_size,
                       train_batch_size=est.train_batch_size, generator=generator,
                       device="cpu")
        labels, _ = labels_of(embedder, X_img, centers, est)
        accs.append((done + est.update_interval, clustering_accuracy(y, labels),
                     float(np.mean(labels != est.labels_))))
    return accs


def main(dataset, seeds, memory, steps="150"):
    from _data import load

    X, y = load(dataset)
    X = np.asarray(X, dtype=np.float32)
    k = int(np.unique(y).size)
    for seed in [int(s) for s in seeds.split(",")]:
        tic = time.perf_counter()
        est = DiEC(n_clusters=k, random_state=seed, device="cpu", memory=memory).fit(X)
        X_img = est._model.layout.to_tensor(X.reshape(len(X), -1))
        fit_s = time.perf_counter() - tic
        print(f"{dataset} seed {seed} ({est.col_}@{int(est.cot_)}, {fit_s:.0f} s): "
              f"start {clustering_accuracy(y, est.init_labels_):.4f}, default "
              f"{clustering_accuracy(y, est.labels_):.4f} after {est.n_iter_} steps", flush=True)
        for variant in ("dec", "restart"):
            tic = time.perf_counter()
            accs = continue_tuning(est, X_img, y, int(steps), variant)
            print(f"  {variant:8s} " + " ".join(f"+{s}: {a:.4f} ({c:.3f} moved)"
                                                for s, a, c in accs)
                  + f"  [{time.perf_counter() - tic:.0f} s]", flush=True)


if __name__ == "__main__":
    main(*sys.argv[1:])
