"""Core benchmark: DiEC with its defaults against k-means, on one dataset.

For each seed it fits ``DiEC(n_clusters=k, random_state=seed)`` with every
other parameter at its default and records ACC (Hungarian-matched), NMI, ARI,
fit time and peak memory; ACC of the k-means-style start at COL/COT before
fine-tuning (``init_labels_``, what fine-tuning adds); and, on the fitted
U-Net, the two-stage COL/COT search against scoring every cell of the same
grid (time and chosen cell). k-means on pixels runs beside it.

Usage (appends JSON lines to --out)::

    python benchmarks/bench_core.py --dataset digits --seeds 0,1,2 \
        --out benchmarks/results/core_digits.jsonl
"""

import argparse
import ast
import json
import platform
import resource
import sys
import time
from pathlib import Path

import numpy as np
import torch
from sklearn.cluster import KMeans
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from skdiec import DiEC, _backbone, _search  # noqa: E402
from skdiec.metrics import clustering_accuracy  # noqa: E402

from _data import load  # noqa: E402


def scores(y, labels):
    return {
        "acc": round(clustering_accuracy(y, labels), 4),
        "nmi": round(normalized_mutual_info_score(y, labels), 4),
        "ari": round(adjusted_rand_score(y, labels), 4),
    }


def search_both_ways(est, X):
    """Two-stage search versus every cell, on the fitted U-Net and subset size."""
    X_img = est._layout.to_tensor(X.reshape(len(X), -1))
    rng = np.random.RandomState(0)
    subset = np.sort(rng.choice(len(X), min(len(X), est.search_n_samples), replace=False))
    common = dict(layers=est.search_layers_, n_clusters=est.n_clusters,
                  score=est.search_score, n_components=est.n_components,
                  noise_bank=est._noise_bank, pooling=est.pooling, batch_size=est.batch_size,
                  device=est._noise_bank.device, random_state=0, method=est.init)
    # The fit's own coarse grid: only timesteps the U-Net was pretrained on.
    max_t = _backbone.trained_max_timestep(est.unet_)
    coarse = [t for t in est.timesteps if t < max_t]
    tic = time.perf_counter()
    two = _search.search(est.unet_, est._scheduler, X_img[subset], timesteps=coarse,
                         n_refine=est.n_refine_timesteps, max_timestep=max_t, **common)
    two_s = time.perf_counter() - tic
    tic = time.perf_counter()
    full = _search.search(est.unet_, est._scheduler, X_img[subset],
                          timesteps=list(two.timesteps), n_refine=0, **common)
    full_s = time.perf_counter() - tic
    # The best cell of the full table, not COL's best timestep.
    i, j = np.unravel_index(np.nanargmax(full.scores), full.scores.shape)
    return {
        "two_stage": {"cells": two.n_evaluated, "seconds": round(two_s, 1),
                      "col": two.col, "cot": two.cot},
        "full_grid": {"cells": full.n_evaluated, "seconds": round(full_s, 1),
                      "col": full.layers[i], "cot": int(full.timesteps[j])},
    }


def main(argv=None):
    parser = argparse.ArgumentParser()
    parser.add_argument("--dataset", default="digits")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--out", required=True)
    parser.add_argument("--no-search-comparison", action="store_true")
    parser.add_argument("--set", action="append", default=[], metavar="PARAM=VALUE",
                        help="override one DiEC parameter (a Python literal), e.g. "
                             "--set pretrain_max_timestep=300; recorded as 'params'")
    args = parser.parse_args(argv)

    params = {key: ast.literal_eval(value)
              for key, value in (item.split("=", 1) for item in args.set)}
    X, y = load(args.dataset)
    k = len(np.unique(y))
    machine = {"cpu_threads": torch.get_num_threads(), "platform": platform.platform(),
               "torch": torch.__version__,
               "gpu": torch.cuda.get_device_name() if torch.cuda.is_available() else None}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    for seed in [int(s) for s in args.seeds.split(",")]:
        tic = time.perf_counter()
        km = KMeans(k, n_init=10, random_state=seed).fit_predict(X.reshape(len(X), -1))
        rows = [{"method": "kmeans_pixels", **scores(y, km),
                 "fit_s": round(time.perf_counter() - tic, 1)}]

        est = DiEC(n_clusters=k, random_state=seed, **params)
        tic = time.perf_counter()
        est.fit(X)
        fit_s = time.perf_counter() - tic
        method = "diec_defaults" if not params else "diec " + " ".join(
            f"{key}={value!r}" for key, value in params.items())
        row = {"method": method, "params": params, **scores(y, est.labels_),
               "fit_s": round(fit_s, 1),
               "col": est.col_, "cot": est.cot_,
               "acc_before_fine_tuning": round(clustering_accuracy(y, est.init_labels_), 4),
               "nmi_before_fine_tuning": round(
                   normalized_mutual_info_score(y, est.init_labels_), 4),
               "timings": {key: round(v, 1) for key, v in est.timings_.items()},
               "n_iter": est.n_iter_,
               "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)}
        if not args.no_search_comparison:
            row["search"] = search_both_ways(est, X)
        rows.append(row)
        with open(args.out, "a") as fh:
            for r in rows:
                r.update(dataset=args.dataset, n=len(X), seed=seed, machine=machine)
                print(json.dumps(r), flush=True)
                fh.write(json.dumps(r) + "\n")


if __name__ == "__main__":
    main()
