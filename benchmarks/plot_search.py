"""Fit DiEC with its defaults and save the search heat map as a PNG.

Usage::

    python benchmarks/plot_search.py --dataset digits --seed 0 \
        --out benchmarks/figures/search_digits.png
"""

import argparse
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from skdiec import DiEC  # noqa: E402
from skdiec.metrics import clustering_accuracy  # noqa: E402
from skdiec.plotting import plot_search_scores  # noqa: E402

from _data import load  # noqa: E402


def main(argv=None):
    parser = argparse.ArgumentParser()
    parser.add_argument("--dataset", default="digits")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    X, y = load(args.dataset)
    est = DiEC(n_clusters=len(set(y)), random_state=args.seed).fit(X)
    ax = plot_search_scores(est)
    ax.set_title(f"{args.dataset}: COL={est.col_}, COT={est.cot_}, "
                 f"ACC={clustering_accuracy(y, est.labels_):.3f}")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    ax.figure.savefig(args.out, dpi=120, bbox_inches="tight")
    print("wrote", args.out)


if __name__ == "__main__":
    main()
