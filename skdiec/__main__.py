"""Command line: ``python -m skdiec demo`` clusters scikit-learn's digits with DiEC."""

import argparse
import sys
import time


def demo(args):
    from sklearn.datasets import load_digits
    from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

    from . import DiEC
    from .metrics import clustering_accuracy

    digits = load_digits()
    X, y = digits.images, digits.target
    print(f"digits: {X.shape[0]} images of {X.shape[1]}x{X.shape[2]}, 10 classes")
    est = DiEC(n_clusters=10, random_state=args.seed, device=args.device, verbose=args.verbose)
    tic = time.perf_counter()
    labels = est.fit_predict(X)
    elapsed = time.perf_counter() - tic
    print(f"COL  {est.col_}")
    print(f"COT  {est.cot_}")
    print(f"ACC  {clustering_accuracy(y, labels):.4f}")
    print(f"NMI  {normalized_mutual_info_score(y, labels):.4f}")
    print(f"ARI  {adjusted_rand_score(y, labels):.4f}")
    print(f"ACC before fine-tuning ({est.init} start at COL/COT)  "
          f"{clustering_accuracy(y, est.init_labels_):.4f}")
    print(f"time {elapsed:.1f} s  (" + ", ".join(
        f"{k} {v:.1f} s" for k, v in est.timings_.items()) + ")")
    return 0


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m skdiec", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("demo", help="DiEC with its defaults on scikit-learn's digits")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="auto")
    p.add_argument("--verbose", type=int, default=0)
    args = parser.parse_args(argv)
    return demo(args)


if __name__ == "__main__":
    sys.exit(main())
