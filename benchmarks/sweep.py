"""Parameter sweep for choosing DiEC's defaults: one JSON line per (config, seed).

Each config is a dict of DiEC parameters; a config may name ``"_reuse"``, the
name of an earlier config whose *pretrained, not fine-tuned* U-Net it starts
from (pretraining then is skipped), so that fine-tuning settings are compared
on one backbone.

With ``--oracle``, every (layer, timestep) cell of the search grid is also
scored with the labels (ACC of k-means on the cell's projected features), to
see how close the unsupervised search lands to the best cell.

Usage::

    python benchmarks/sweep.py --dataset digits --configs benchmarks/configs/digits_sweep.json \
        --seeds 0 --out results.jsonl [--oracle]
"""

import argparse
import copy
import json
import sys
import time
from pathlib import Path

import numpy as np
from sklearn.cluster import KMeans
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from skdiec import DiEC  # noqa: E402
from skdiec import _features, _search  # noqa: E402
from skdiec.metrics import clustering_accuracy  # noqa: E402

from _data import load  # noqa: E402


def oracle_grid(est, X, y, seed):
    """ACC of k-means at every cell of ``est``'s search grid (uses labels)."""
    X_img = est._layout.to_tensor(X.reshape(len(X), -1))
    rows = {}
    for t in est.search_timesteps_:
        feats = _features.extract_features(est.unet_, est._scheduler, X_img, int(t),
                                           est.search_layers_, est._noise_bank, est.pooling,
                                           est.batch_size, est._noise_bank.device)
        for name in est.search_layers_:
            Z = _search.project(feats[name], est.n_components, seed)
            labels = KMeans(est.n_clusters, n_init=10, random_state=seed).fit_predict(Z)
            rows.setdefault(name, {})[int(t)] = round(clustering_accuracy(y, labels), 4)
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser()
    parser.add_argument("--dataset", default="digits")
    parser.add_argument("--configs", required=True)
    parser.add_argument("--seeds", default="0")
    parser.add_argument("--out", required=True)
    parser.add_argument("--oracle", action="store_true")
    parser.add_argument("--only", default=None, help="comma-separated config names")
    args = parser.parse_args(argv)

    X, y = load(args.dataset)
    n_clusters = len(np.unique(y))
    configs = json.loads(Path(args.configs).read_text())
    only = set(args.only.split(",")) if args.only else None
    backbones = {}
    for seed in [int(s) for s in args.seeds.split(",")]:
        for cfg in configs:
            name = cfg["name"]
            if only and name not in only:
                continue
            params = {k: v for k, v in cfg.items() if not k.startswith("_") and k != "name"}
            for key in ("unet_channels", "timesteps"):
                if key in params:
                    params[key] = tuple(params[key])
            if "_reuse" in cfg:
                params["unet"] = backbones[(cfg["_reuse"], seed)]
                params.setdefault("pretrain_epochs", 0)
            pretrain_s = 0.0
            if cfg.get("_keep_backbone"):
                # Pretrain once with no fine-tuning, keep that U-Net for the
                # configs that reuse it, and fine-tune from it here too.
                raw = DiEC(n_clusters=n_clusters, random_state=seed,
                           **dict(params, max_iter=0)).fit(X)
                backbones[(name, seed)] = copy.deepcopy(raw.unet_).cpu()
                pretrain_s = raw.timings_["pretrain"]
                params = dict(params, unet=backbones[(name, seed)], pretrain_epochs=0)
            est = DiEC(n_clusters=n_clusters, random_state=seed, **params)
            tic = time.perf_counter()
            est.fit(X)
            elapsed = time.perf_counter() - tic + pretrain_s
            row = {
                "config": name, "dataset": args.dataset, "seed": seed,
                "col": est.col_, "cot": est.cot_,
                "acc": round(clustering_accuracy(y, est.labels_), 4),
                "nmi": round(normalized_mutual_info_score(y, est.labels_), 4),
                "ari": round(adjusted_rand_score(y, est.labels_), 4),
                "acc_init": round(clustering_accuracy(y, est.init_labels_), 4),
                "n_iter": est.n_iter_, "fit_s": round(elapsed, 1),
                "timings": {k: round(v, 1) for k, v in est.timings_.items()},
                "search": {layer: {int(t): (None if np.isnan(v) else round(float(v), 4))
                                   for t, v in zip(est.search_timesteps_, row_scores)}
                           for layer, row_scores in zip(est.search_layers_, est.search_scores_)},
            }
            if args.oracle and cfg.get("_keep_backbone"):
                row["oracle"] = oracle_grid(raw, X, y, seed)
            print(json.dumps({k: v for k, v in row.items() if k not in ("search", "oracle")}),
                  flush=True)
            with open(args.out, "a") as fh:
                fh.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
