"""How a layer's map becomes a vector: kept whole, or pooled over space?

    python benchmarks/studies/pooling.py fit DATASET SEED MEMORY_DIR OUT.jsonl POOLING[,...] \
        [NAME=VALUE ...]
    python benchmarks/studies/pooling.py render FILE.jsonl [FILE.jsonl ...]

``fit`` runs, for each ``POOLING`` in turn (``flatten``, ``avg``, ``max``,
``avgmax`` or a grid side such as ``2``), ``DiEC(max_iter=0,
pooling=POOLING, memory=MEMORY_DIR)`` with the defaults otherwise: the
search and the start as a default fit makes them, on one pretrained U-Net
(the first fit pretrains it into ``MEMORY_DIR``, the others read it). Each
appends one line to ``OUT.jsonl``: ACC and NMI of the start against the
classes (which only score), the searched cell, the score used and the
seconds of the fit. ``NAME=VALUE`` pairs set other estimator parameters of every fit (a
literal, e.g. ``search_score='consensus'``), recorded as ``params``.
``render`` prints one row per (dataset, parameters, pooling) of the files: the
start's ACC per seed, its mean ACC and NMI, and the mean gain in ACC over
``flatten`` on the same seeds.

Why ask: ``"flatten"`` keeps where a feature lies. Digits, faces and the
objects of a turntable are centred, so position carries class information;
in natural photos the object moves, and a vector that keeps position is
closer to the pixels than to the object.
"""

import json
import sys
import time
import warnings
from collections import defaultdict
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent), str(HERE.parents[1])]


def _pooling(text):
    return int(text) if text.isdigit() else text


def fit(dataset, seed, memory, out, poolings, pairs=()):
    import numpy as np
    from sklearn.metrics import normalized_mutual_info_score as nmi

    import _params
    from _data import load_for_fit
    from _record import append
    from skdiec import DiEC
    from skdiec.metrics import clustering_accuracy as acc

    warnings.filterwarnings("ignore")
    X, y = load_for_fit(dataset)
    params = _params.parse(pairs)
    for pooling in poolings:
        tic = time.perf_counter()
        est = DiEC(n_clusters=int(np.unique(y).size), random_state=seed, max_iter=0,
                   pooling=pooling, memory=memory, **params).fit(X)
        fit_s = time.perf_counter() - tic
        append({"study": "pooling", "dataset": dataset, "seed": seed, "pooling": pooling,
                "params": {name: repr(value) for name, value in params.items()},
                "fit_s": round(fit_s, 1), "col": est.col_, "cot": int(est.cot_),
                "search_score_used": est.search_score_,
                "search_agreement": round(float(est.search_agreement_), 4),
                "acc_init": round(acc(y, est.init_labels_), 4),
                "nmi_init": round(nmi(y, est.init_labels_), 4)}, out)
        print(f"{dataset} seed {seed} pooling={pooling} {pairs}: start ACC "
              f"{acc(y, est.init_labels_):.4f} NMI {nmi(y, est.init_labels_):.4f} "
              f"at {est.col_}@{est.cot_} ({est.search_score_}), {fit_s:.0f} s", flush=True)


def render(paths):
    rows = [json.loads(line) for path in paths for line in open(path)]
    runs = {}
    for r in rows:
        if r.get("study") == "pooling":
            params = " ".join(f"{k}={v}" for k, v in sorted(r.get("params", {}).items()))
            runs[(r["dataset"], params, str(r["pooling"]), r["seed"])] = r  # the last counts
    table = defaultdict(dict)
    for (dataset, params, pooling, seed), r in runs.items():
        table[(dataset, params, pooling)][seed] = r
    print("| data | other parameters | pooling | start ACC per seed | mean ACC | mean NMI |"
          " gain over flatten | cells (score) | seconds per fit |")
    print("|---|---|---|---|---|---|---|---|---|")
    for (dataset, params, pooling), by_seed in sorted(table.items()):
        seeds = sorted(by_seed)
        accs = [by_seed[s]["acc_init"] for s in seeds]
        nmis = [by_seed[s]["nmi_init"] for s in seeds]
        base = table.get((dataset, params, "flatten"), {})
        paired = [by_seed[s]["acc_init"] - base[s]["acc_init"] for s in seeds if s in base]
        gain = f"{sum(paired) / len(paired):+.3f}" if paired and pooling != "flatten" else "–"
        cells = ", ".join(f"{r['col']}@{r['cot']} ({r['search_score_used']})"
                          for r in (by_seed[s] for s in seeds))
        secs = ", ".join(f"{by_seed[s]['fit_s']:.0f}" for s in seeds)
        print(f"| {dataset} | {params or 'defaults'} | {pooling} | "
              f"{', '.join(f'{a:.3f}' for a in accs)} | {sum(accs) / len(accs):.3f} | "
              f"{sum(nmis) / len(nmis):.3f} | {gain} | {cells} | {secs} |")


if __name__ == "__main__":
    if sys.argv[1] == "fit":
        dataset, seed, memory, out, poolings = sys.argv[2:7]
        fit(dataset, int(seed), memory, out, [_pooling(p) for p in poolings.split(",")],
            sys.argv[7:])
    elif sys.argv[1] == "render":
        render(sys.argv[2:])
    else:
        sys.exit(__doc__)
