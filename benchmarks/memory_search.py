"""What the ``memory`` cache saves: a second fit and a GridSearchCV on digits.

In one process, on scikit-learn's digits (1,797 images of 8x8), with DiEC's
defaults:

1. one fit from scratch, without ``memory``;
2. a fit with ``memory`` on an empty cache (it pretrains and stores), then
   the same fit again (it reads the U-Net);
3. ``GridSearchCV`` over 4 settings of later-stage parameters
   (``alpha`` x ``learning_rate``), ``cv`` = 2 shuffled splits, with
   ``memory`` on an empty cache, refit on all images included: each split
   and the refit train on other images, so it pretrains 3 U-Nets;
4. the same search on a U-Net pretrained once on all images with
   ``pretrain_unet`` and passed as ``unet=`` (no labels are involved, so
   the backbone may see every image), its pretraining time included.

It reports each time (and each fit's ``timings_``), the ratios the cost
issue sets bars for (the search against one fit, the second fit against the
first), how many U-Nets each
step pretrained (the entries added to the cache), and checks that the
cached fit gave the labels of the fit from scratch. Appends one JSON line to
``--out``.

Usage::

    python benchmarks/memory_search.py --seed 0 --out benchmarks/results/memory_search.jsonl
"""

import argparse
from pathlib import Path
import sys
import tempfile
import time

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from sklearn.datasets import load_digits  # noqa: E402
from sklearn.model_selection import GridSearchCV, KFold  # noqa: E402

import _record  # noqa: E402
from run import _cache_entries as _entries  # noqa: E402
from skdiec import DiEC, pretrain_unet  # noqa: E402

GRID = {"alpha": [1.0, 2.0], "learning_rate": [1e-3, 3e-4]}
CV = KFold(2, shuffle=True, random_state=0)  # stateless: every search gets the same splits


def _timed_fit(est, X):
    tic = time.perf_counter()
    est.fit(X)
    return time.perf_counter() - tic


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", help="JSON-lines file the result is appended to")
    args = parser.parse_args(argv)
    X = load_digits().images
    row = {"dataset": "digits", "n_samples": len(X), "seed": args.seed, "grid": GRID,
           "cv": repr(CV)}

    scratch = DiEC(n_clusters=10, random_state=args.seed)
    row["one_fit_s"] = _timed_fit(scratch, X)
    row["one_fit_timings"] = scratch.timings_
    print(f"one fit from scratch: {row['one_fit_s']:.1f} s", flush=True)

    with tempfile.TemporaryDirectory(prefix="skdiec-memory-") as cache:
        first = DiEC(n_clusters=10, random_state=args.seed, memory=cache)
        row["first_fit_memory_s"] = _timed_fit(first, X)
        row["first_fit_pretrainings"] = _entries(cache)
        second = DiEC(n_clusters=10, random_state=args.seed, memory=cache)
        row["second_fit_memory_s"] = _timed_fit(second, X)
        row["second_fit_pretrainings"] = _entries(cache) - row["first_fit_pretrainings"]
        row["first_fit_timings"], row["second_fit_timings"] = first.timings_, second.timings_
        row["second_fit_same_labels"] = bool(np.array_equal(second.labels_, scratch.labels_))
        print(f"with memory: first {row['first_fit_memory_s']:.1f} s, second "
              f"{row['second_fit_memory_s']:.1f} s", flush=True)

    with tempfile.TemporaryDirectory(prefix="skdiec-memory-") as cache:
        search = GridSearchCV(DiEC(n_clusters=10, random_state=args.seed, memory=cache), GRID,
                              cv=CV)
        row["grid_search_s"] = _timed_fit(search, X)
        row["grid_search_pretrainings"] = _entries(cache)
        row["grid_search_fits"] = len(search.cv_results_["params"]) * CV.get_n_splits() + 1
        row["best_params"] = search.best_params_
    print(f"GridSearchCV: {row['grid_search_s']:.1f} s, {row['grid_search_fits']} fits, "
          f"{row['grid_search_pretrainings']} pretrainings", flush=True)

    tic = time.perf_counter()
    unet = pretrain_unet(X, random_state=args.seed)
    search = GridSearchCV(DiEC(n_clusters=10, random_state=args.seed, unet=unet), GRID,
                          cv=CV).fit(X)
    row["grid_search_shared_unet_s"] = time.perf_counter() - tic
    row["grid_search_shared_unet_best_params"] = search.best_params_
    print(f"GridSearchCV on one pretrained U-Net: {row['grid_search_shared_unet_s']:.1f} s",
          flush=True)

    row["grid_search_over_one_fit"] = row["grid_search_s"] / row["one_fit_s"]
    row["grid_search_shared_unet_over_one_fit"] = (row["grid_search_shared_unet_s"]
                                                   / row["one_fit_s"])
    row["second_over_first"] = row["second_fit_memory_s"] / row["first_fit_memory_s"]
    _record.append(row, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
