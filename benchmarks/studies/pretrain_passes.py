"""Pretraining passes on sets of about 10,000 images: does a longer
pretraining than 1,000 steps give cells that cluster better?

    python benchmarks/studies/pretrain_passes.py fit DATASET SEED EPOCHS MEMORY_DIR OUT.jsonl \
        [NAME=VALUE ...]
    python benchmarks/studies/pretrain_passes.py render FILE.jsonl [FILE.jsonl ...]

``fit`` runs one DiEC fit from scratch with its defaults but
``pretrain_epochs=EPOCHS`` (``pretrain_epochs="auto"`` gave the USPS and
the MNIST test split 7 epochs, about 1,000 steps, until this study made it
10), keeps the pretrained U-Net and the start in ``MEMORY_DIR``, and
appends one line to ``OUT.jsonl``: ACC and NMI of the fit and of its
start, the searched cell, the seconds of every phase and the peak resident
memory of this process. Run one fit per process, so that the peak is the
fit's own. ``NAME=VALUE`` pairs set other estimator parameters (a literal,
e.g. ``search_score='consensus'``), so that a later fit can read the
kept U-Net with another search.

``render`` prints one row per (dataset, epochs, seed) of the lines of
this study and of ``run.py`` (whose ``diec`` lines give the default's
epochs as ``pretrain_epochs_run``), the last line of each counting.
"""

import json
import sys
import time
import warnings
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent), str(HERE.parents[1])]


def fit(dataset, seed, epochs, memory, out, params=()):
    import numpy as np
    from sklearn.metrics import normalized_mutual_info_score as nmi

    import _params
    from _data import load_for_fit
    from _record import append
    from run import _maxrss_mb
    from skdiec import DiEC
    from skdiec.metrics import clustering_accuracy as acc

    warnings.filterwarnings("ignore")
    X, y = load_for_fit(dataset)
    params = _params.parse(params)
    tic = time.perf_counter()
    est = DiEC(n_clusters=int(np.unique(y).size), random_state=seed, pretrain_epochs=epochs,
               memory=memory, **params).fit(X)
    fit_s = time.perf_counter() - tic
    append({"study": "pretrain_passes", "dataset": dataset, "seed": seed,
            "pretrain_epochs": epochs, "fit_s": round(fit_s, 1), "peak_rss_mb": _maxrss_mb(),
            "col": est.col_, "cot": int(est.cot_), "n_iter": int(est.n_iter_),
            "search_score_used": est.search_score_,
            "search_agreement": round(float(est.search_agreement_), 4),
            "acc": round(acc(y, est.labels_), 4), "nmi": round(nmi(y, est.labels_), 4),
            "acc_init": round(acc(y, est.init_labels_), 4),
            "nmi_init": round(nmi(y, est.init_labels_), 4),
            "timings": {k: round(v, 1) for k, v in est.timings_.items()},
            "final_pretrain_loss": round(float(est.pretrain_loss_[-1]), 4),
            "params": params}, out)


def render(paths):
    rows, other = {}, []  # the defaults' lines by (dataset, epochs, seed); the rest
    for path in paths:
        for text in open(path):
            r = json.loads(text)
            if r.get("study") == "pretrain_passes":
                if r.get("params"):
                    other.append(r)
                    continue
                epochs = r["pretrain_epochs"]
            elif r.get("method") == "diec" and not r.get("quick"):
                epochs = r.get("pretrain_epochs_run")
            else:
                continue
            rows[(r["dataset"], epochs, r["seed"])] = r
    print("| data | pretraining epochs | seed | COL@COT | start ACC | ACC | NMI "
          "| pretraining / whole fit (s) |")
    print("|---|---|---|---|---|---|---|---|")
    for (dataset, epochs, seed), r in sorted(rows.items()):
        print(f"| {dataset} | {epochs} | {seed} | {r['col']}@{r['cot']} | {r['acc_init']:.3f} "
              f"| {r['acc']:.3f} | {r['nmi']:.3f} | {r['timings']['pretrain']:.0f} / "
              f"{r['fit_s']:.0f} |")
    if other:
        print("\n| data | pretraining epochs | seed | other parameters | COL@COT | start ACC "
              "| ACC |")
        print("|---|---|---|---|---|---|---|")
        for r in other:
            params = ", ".join(f"{k}={v!r}" for k, v in r["params"].items())
            print(f"| {r['dataset']} | {r['pretrain_epochs']} | {r['seed']} | {params} "
                  f"| {r['col']}@{r['cot']} | {r['acc_init']:.3f} | {r['acc']:.3f} |")


if __name__ == "__main__":
    if sys.argv[1] == "fit":
        dataset, seed, epochs, memory, out = sys.argv[2:7]
        fit(dataset, int(seed), int(epochs), memory, out, sys.argv[7:])
    else:
        render(sys.argv[2:])
