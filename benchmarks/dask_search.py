"""A GridSearchCV of DiEC on a Dask cluster against the same search run serially.

On scikit-learn's digits (1,797 images of 8x8), DiEC's defaults, 4 settings
of later-stage parameters (``alpha`` x ``learning_rate``) and ``cv`` = 2
shuffled splits, refit included, each search with ``memory`` on its own
empty cache:

1. serially, in this process (torch on all its threads);
2. through ``joblib.parallel_backend("dask")`` on a ``LocalCluster`` of
   ``--workers`` worker processes of one thread each (torch on one thread
   per worker, as Dask's nanny sets it), all sharing one cache folder; the
   cluster's start is included in the time.

It reports each time, how many U-Nets each search pretrained (fits whose
pretraining took more than a second: a cache read takes a fraction of one;
and the entries left in the cache), the best parameters, and whether the
two searches' scores agree (they need not to the last bit: float rounding
depends on torch's thread count). Appends one JSON line to ``--out``.

Usage::

    python benchmarks/dask_search.py --seed 0 --out benchmarks/results/dask_search_digits.jsonl
"""

import argparse
import contextlib
from pathlib import Path
import sys
import tempfile
import time

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import joblib  # noqa: E402
from sklearn.datasets import load_digits  # noqa: E402
from sklearn.model_selection import GridSearchCV, ParameterGrid  # noqa: E402
import torch  # noqa: E402

import _record  # noqa: E402
from memory_search import CV, GRID, _entries  # noqa: E402  (the same search)
from skdiec import DiEC  # noqa: E402

# A fit that read its U-Net from the cache spent well under this in "pretrain".
PRETRAINED_S = 1.0


def _score(est, X, y=None):
    return est.score(X)


def _pretrain_s(est, X, y=None):
    return est.timings_["pretrain"]


def _search(seed, cache, backend=None):
    """Time of the search, the search, and the U-Nets its fits pretrained."""
    search = GridSearchCV(DiEC(n_clusters=10, random_state=seed, memory=cache), GRID,
                          cv=CV, scoring={"score": _score, "pretrain_s": _pretrain_s},
                          refit="score")
    tic = time.perf_counter()
    with joblib.parallel_backend(backend) if backend else contextlib.nullcontext():
        search.fit(load_digits().images)
    seconds = time.perf_counter() - tic
    results = search.cv_results_
    split_pretrain = np.concatenate([results[f"split{i}_test_pretrain_s"] for i in range(2)])
    pretrained = int((split_pretrain > PRETRAINED_S).sum())
    pretrained += int(search.best_estimator_.timings_["pretrain"] > PRETRAINED_S)
    return seconds, search, pretrained


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--out", help="JSON-lines file the result is appended to")
    args = parser.parse_args(argv)
    from distributed import Client, LocalCluster

    row = {"dataset": "digits", "n_samples": 1797, "seed": args.seed, "grid": GRID,
           "cv": repr(CV), "fits": len(ParameterGrid(GRID)) * CV.get_n_splits() + 1,
           "workers": args.workers, "threads": torch.get_num_threads()}
    with tempfile.TemporaryDirectory(prefix="skdiec-serial-") as cache:
        row["serial_s"], serial, row["serial_pretrainings"] = _search(args.seed, cache)
        row["serial_cache_entries"] = _entries(cache)
    print(f"serial: {row['serial_s']:.1f} s, {row['serial_pretrainings']} pretrainings",
          flush=True)

    with tempfile.TemporaryDirectory(prefix="skdiec-dask-") as cache:
        tic = time.perf_counter()
        with LocalCluster(n_workers=args.workers, threads_per_worker=1,
                          dashboard_address=None) as cluster, Client(cluster) as client:
            row["worker_torch_threads"] = sorted(set(client.run(torch.get_num_threads)
                                                     .values()))
            row["cluster_start_s"] = time.perf_counter() - tic
            seconds, on_dask, row["dask_pretrainings"] = _search(args.seed, cache, "dask")
        row["dask_s"] = time.perf_counter() - tic
        row["dask_search_s"] = seconds
        row["dask_cache_entries"] = _entries(cache)
    print(f"on {args.workers} Dask workers: {row['dask_s']:.1f} s (search {seconds:.1f} s), "
          f"{row['dask_pretrainings']} pretrainings", flush=True)

    row["serial_best_params"], row["dask_best_params"] = serial.best_params_, on_dask.best_params_
    a, b = (s.cv_results_["mean_test_score"] for s in (serial, on_dask))
    row["serial_mean_test_score"], row["dask_mean_test_score"] = a.tolist(), b.tolist()
    row["same_scores"] = bool(np.array_equal(a, b))
    row["dask_over_serial"] = row["dask_s"] / row["serial_s"]
    _record.append(row, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
