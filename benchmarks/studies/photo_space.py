"""Is CIFAR-10's start held back by the clustering space or by the features?

    python benchmarks/studies/photo_space.py fit DATASET SEED MEMORY_DIR OUT.jsonl [NAME=VALUE ...]
    python benchmarks/studies/photo_space.py render FILE.jsonl

``fit`` reads a default fit's search and start from ``MEMORY_DIR``
(``DiEC(max_iter=0, memory=MEMORY_DIR)``, the parameters ``NAME=VALUE``
added, as ``pooling.py fit`` made them) and builds other clustering spaces
from the same cell (COL/COT) of the same U-Net:

- ``library``: the fit's own space (its cell's features projected on the
  leading ``n_components`` principal components of the search's subset);
- ``flip``: the mean of the embeddings of each image and of its mirror
  image (left and right swapped), a space in which an image and its mirror
  are one point;
- ``pcaK``: the cell's features of all images on their leading ``K``
  principal components (K = 16, 32, 64, 128), and ``whiten32`` the same
  32 scaled to unit variance each;
- ``pixels32``: the pixels' 32 leading principal components.

Each space gets the library's start (``_init.initial_partition``, UMAP +
k-means chosen by modularity) drawn with ``SEED`` itself, not the seed the
fit derives from it, so ``library`` redraws the fit's start (whose ACC is
``acc_fit_start``) and every space of a seed shares one draw; and a diagnostic
that reads the classes: the mean 3-fold accuracy of a logistic regression
from the space to the classes (``probe``), how much class information the
space holds linearly, whatever a clustering makes of it. One line per
space is appended to ``OUT.jsonl``.
"""

import json
import re
import sys
import time
import warnings
from collections import defaultdict
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent), str(HERE.parents[1])]

SPACES = ("library", "flip", "pca16", "pca32", "pca64", "pca128", "whiten32", "pixels32")


def fit(dataset, seed, memory, out, pairs=()):
    import numpy as np
    from sklearn.decomposition import PCA
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import normalized_mutual_info_score as nmi
    from sklearn.model_selection import cross_val_score

    import _params
    from _data import load_for_fit
    from _record import append
    from skdiec import DiEC, _features, _init, _input
    from skdiec.metrics import clustering_accuracy as acc

    warnings.filterwarnings("ignore")
    X, y = load_for_fit(dataset)
    params = _params.parse(pairs)
    n_clusters = int(np.unique(y).size)
    est = DiEC(n_clusters=n_clusters, random_state=seed, max_iter=0, memory=memory,
               **params).fit(X)
    model = est._model
    images = est._images(X)

    def cell_features():
        return _features.extract_features(model.unet, model.scheduler, images, est.cot_,
                                          [est.col_], model.noise_bank, est.pooling,
                                          est.batch_size, "cpu")[est.col_]

    def mirrored():  # left and right swapped, in the layout the estimator read X in
        last = X.ndim == 4 and _input.channels_last(X.shape, est.channel_axis)
        return np.flip(X, axis=X.ndim - 2 if last else X.ndim - 1).copy()

    done = {}  # the spaces built so far: flip reuses the library's embedding
    spaces = {
        "library": lambda: est.transform(X),
        "flip": lambda: (done["library"] + est.transform(mirrored())) / 2,
        "pixels32": lambda: PCA(32, random_state=0).fit_transform(X.reshape(len(X), -1)),
    }
    features = None
    for name in SPACES:
        tic = time.perf_counter()
        if name in spaces:
            Z = spaces[name]()
        else:
            if features is None:
                features = cell_features()
            k = int(re.sub(r"\D", "", name))
            Z = PCA(k, whiten=name.startswith("whiten"), random_state=0).fit_transform(features)
        done[name] = Z
        embed_s = time.perf_counter() - tic
        probe = cross_val_score(LogisticRegression(max_iter=300), Z, y, cv=3).mean()
        tic = time.perf_counter()
        labels, _ = _init.initial_partition(np.asarray(Z, dtype=np.float64), n_clusters,
                                            "umap", np.random.RandomState(seed))
        append({"study": "photo_space", "dataset": dataset, "seed": seed, "space": name,
                "params": {k_: repr(v) for k_, v in params.items()},
                "col": est.col_, "cot": int(est.cot_), "search_score_used": est.search_score_,
                "acc_fit_start": round(acc(y, est.init_labels_), 4),
                "probe": round(float(probe), 4), "acc": round(acc(y, labels), 4),
                "nmi": round(nmi(y, labels), 4), "embed_s": round(embed_s, 1),
                "start_s": round(time.perf_counter() - tic, 1)}, out)


def render(path):
    rows = {}
    for line in open(path):
        r = json.loads(line)
        if r.get("study") == "photo_space":
            params = " ".join(f"{k}={v}" for k, v in sorted(r["params"].items()))
            rows[(r["dataset"], params, r["space"], r["seed"])] = r  # the last counts
    table = defaultdict(dict)
    for (dataset, params, space, seed), r in rows.items():
        table[(dataset, params, space)][seed] = r
    print("| data | U-Net | space | seeds | probe | start ACC / NMI per seed | mean ACC / NMI |")
    print("|---|---|---|---|---|---|---|")
    for (dataset, params, space), by_seed in sorted(
            table.items(), key=lambda item: (item[0][:2], SPACES.index(item[0][2]))):
        seeds = sorted(by_seed)
        rs = [by_seed[s] for s in seeds]
        mean = lambda key: sum(r[key] for r in rs) / len(rs)  # noqa: E731
        per_seed = ", ".join(f"{r['acc']:.3f} / {r['nmi']:.3f}" for r in rs)
        print(f"| {dataset} | {params or 'defaults'} | {space} | {', '.join(map(str, seeds))} | "
              f"{mean('probe'):.3f} | {per_seed} | {mean('acc'):.3f} / {mean('nmi'):.3f} |")


if __name__ == "__main__":
    if len(sys.argv) > 5 and sys.argv[1] == "fit":
        fit(sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5], sys.argv[6:])
    elif len(sys.argv) == 3 and sys.argv[1] == "render":
        render(sys.argv[2])
    else:
        sys.exit(__doc__)
