"""Fine-tuning on the start's confident rows only, SCAN's self-labelling
(Van Gansbeke et al., 2020), and a k-nearest-neighbour vote of the start.

    python benchmarks/studies/finetune_confident.py DATASET SEEDS MEMORY_DIR [THRESHOLDS]

For each seed, a default fit reads its backbone (and start) from
``MEMORY_DIR`` and a fit with ``max_iter=0`` gives the start and the
untouched U-Net. A row is confident where at least THRESHOLD (default
0.8 and 1.0) of its 15 nearest rows in the clustering space share its start
label. Fine-tuning, as today's (target held, one pass and on to 98 %
agreement of the checked rows, at most 300 steps), then sees only the
confident rows, from their centroids; every row is labelled by the tuned
centres, so that the unsure rows are labelled by what the U-Net learnt
from the others. Printed: the ACC of the start, of the default fit, of the
vote of each row's 15 neighbours, and of each threshold. The labels only
score.
"""
import copy
import sys
import time
from pathlib import Path
import numpy as np
import torch
HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent), str(HERE.parents[1])]
from skdiec import DiEC, _dec, _model  # noqa
from skdiec._graph import nearest  # noqa
from skdiec._torch_utils import make_generator  # noqa
from skdiec.metrics import clustering_accuracy  # noqa
from sklearn.metrics import normalized_mutual_info_score as nmi  # noqa


def knn_agreement(Z, labels, k=15):
    dist, idx = nearest(Z, k + 1)
    nb = labels[idx[:, 1:]]
    return (nb == labels[:, None]).mean(axis=1), nb


def run(dataset, seed, memory, thresholds):
    from _data import load
    X, y = load(dataset)
    X = np.asarray(X, dtype=np.float32)
    k = int(np.unique(y).size)
    tic = time.perf_counter()
    base = DiEC(n_clusters=k, random_state=seed, memory=memory).fit(X)
    start_acc = clustering_accuracy(y, base.init_labels_)
    print(f"{dataset} s{seed} {base.col_}@{int(base.cot_)} start {start_acc:.4f} "
          f"default {clustering_accuracy(y, base.labels_):.4f} nmi {nmi(y, base.labels_):.4f} "
          f"({base.n_iter_} steps, {time.perf_counter()-tic:.0f} s)", flush=True)
    est = DiEC(n_clusters=k, random_state=seed, memory=memory, max_iter=0).fit(X)
    start = est.init_labels_
    X_img = est._model.layout.to_tensor(X.reshape(len(X), -1))
    Z = est.transform(X)
    agree, nb = knn_agreement(Z, start)
    # kNN vote of the start
    vote = np.array([np.bincount(r, minlength=k).argmax() for r in nb])
    print(f"  knn-vote relabel ACC {clustering_accuracy(y, vote):.4f}", flush=True)
    for thr in thresholds:
        conf = np.flatnonzero(agree >= thr)
        # ACC of start on confident rows vs others
        acc_c = clustering_accuracy(y[conf], start[conf])
        m = est._model
        embedder = _model.Embedder(copy.deepcopy(m.unet), m.scheduler, m.head, m.col, m.cot,
                                   m.noise_bank, m.pooling)
        # centres: centroids of the confident rows (of all rows for a label without any)
        centers0 = np.stack([Z[conf][start[conf] == j].mean(0) if np.any(start[conf] == j)
                             else Z[start == j].mean(0) for j in range(k)])
        centers = torch.nn.Parameter(torch.as_tensor(centers0, dtype=torch.float32))
        target = _dec.smoothed_onehot(start[conf], k)
        check = _dec.check_rows(np.arange(len(conf)))
        Xc = X_img[torch.as_tensor(conf)]
        t0 = time.perf_counter()
        n_iter, hist = _dec.fine_tune(
            embedder, Xc, centers, m.scheduler, alpha=est.alpha, max_iter=_dec.HELD_MAX_STEPS,
            update_interval=est.update_interval, tol=est.tol, denoising_weight=est.denoising_weight,
            target=target, check_index=check,
            initial_embedding=torch.as_tensor(Z[conf][check], dtype=torch.float32),
            min_agreement=_dec.REPRODUCED, min_steps=_dec.auto_steps(len(conf), 64),
            learning_rate=est.learning_rate, batch_size=est.batch_size, train_batch_size=64,
            generator=make_generator(seed + 100), device="cpu")
        Zt = embedder.embed(X_img, est.batch_size, "cpu")
        labels = _model.soft_assignment(Zt, centers.detach(), est.alpha).argmax(dim=1).numpy()
        unsure = np.setdiff1d(np.arange(len(X)), conf)
        moved_unsure = np.mean(labels[unsure] != start[unsure]) if len(unsure) else 0.0
        print(f"  thr {thr}: {len(conf)}/{len(X)} confident (start ACC there {acc_c:.4f}), "
              f"{n_iter} steps {time.perf_counter()-t0:.0f} s -> "
              f"ACC {clustering_accuracy(y, labels):.4f} nmi {nmi(y, labels):.4f}; moved vs "
              f"start {np.mean(labels != start):.3f} (on unsure {moved_unsure:.3f})", flush=True)


if __name__ == "__main__":
    dataset, seeds, memory = sys.argv[1:4]
    thresholds = [float(t) for t in (sys.argv[4] if len(sys.argv) > 4 else "0.8,1.0").split(",")]
    for s in seeds.split(","):
        run(dataset, int(s), memory, thresholds)
