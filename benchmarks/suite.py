"""The development suite: DiEC beside k-means and UMAP + k-means on pixels,
on balanced digits, long-tailed digits and faces, several seeds.

A default of DiEC changes only if it helps on the suite as a whole and hurts
none of its members by more than noise. The datasets are those of
``_data.SUITE`` (``_data.py`` says how the long-tailed subsets are drawn);
every (dataset, method, seed) is one line appended to ``--out`` by
``run.py``, so a run can be split by dataset and seed across sessions into
one file. DiEC's backbones are kept in ``--backbone-dir`` (one per dataset
and seed), so that a later variant of the later phases
(``run.py --load-backbones``) needs no pretraining.

Usage::

    python benchmarks/suite.py --seeds 0,1,2 --out benchmarks/results/suite.jsonl
    python benchmarks/suite.py --datasets yale,lt_usps --seeds 0 \\
        --out benchmarks/results/suite.jsonl
    python benchmarks/suite.py --render benchmarks/results/suite.jsonl

The rendered table shows, per dataset, mean ACC and NMI over the seeds of
each method, DiEC's start (``acc_init``: its labels before fine-tuning) and
fine-tuning's gain (ACC of ``labels_`` minus ACC of ``init_labels_``), DiEC's
fit time, and whether DiEC is at or above UMAP + k-means.
"""

import argparse
from pathlib import Path
import sys

HERE = Path(__file__).resolve().parent
METHODS = ("kmeans", "umap_kmeans", "diec")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--datasets", help="comma-separated (default: the whole suite)")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--methods", default=",".join(METHODS),
                        help="comma-separated run.py methods (diec runs first)")
    parser.add_argument("--out", help="JSON-lines file the results are appended to")
    parser.add_argument("--backbone-dir", default=str(HERE.parent / "backbones" / "suite"),
                        help="where DiEC's pretrained U-Nets are kept (default: backbones/suite, "
                             "ignored by git)")
    parser.add_argument("--quick", action="store_true",
                        help="tiny settings to test the command; not benchmark numbers")
    parser.add_argument("--render", nargs="+", metavar="FILE",
                        help="print the suite table of these results files and exit")
    parser.add_argument("--also", default="",
                        help="comma-separated DiEC variants (run.py methods) shown beside DiEC "
                             "in the table, e.g. diec_consensus")
    args = parser.parse_args(argv)
    if str(HERE) not in sys.path:
        sys.path.insert(0, str(HERE))
    from _data import SUITE
    from render import read_lines, suite_table
    import run

    also = [m for m in args.also.split(",") if m]
    unknown = [m for m in also if m == "diec" or m not in run.DIEC_METHODS]
    if unknown:
        parser.error(f"--also: {unknown} are not DiEC variants of run.py")
    if args.render:
        print(suite_table(read_lines(args.render), also=also))
        return 0
    if not args.out:
        parser.error("--out is required (or --render)")
    datasets = args.datasets.split(",") if args.datasets else list(SUITE)
    unknown = sorted(set(datasets) - set(SUITE))
    if unknown:
        parser.error(f"unknown dataset(s) {unknown}; the suite is {', '.join(SUITE)}")
    status = 0
    for dataset in datasets:
        print(f"\n=== {dataset} ===", flush=True)
        argv_run = ["--dataset", dataset, "--methods", args.methods, "--seeds", args.seeds,
                    "--out", args.out]
        if "diec" in args.methods.split(","):
            argv_run += ["--reuse-backbone", "--backbone-dir", args.backbone_dir]
        if args.quick:
            argv_run.append("--quick")
        status |= run.main(argv_run)
    rows = read_lines([args.out])
    print()
    print(suite_table([r for r in rows if r.get("quick", False) == args.quick],
                      include_quick=args.quick, also=also))
    return status


if __name__ == "__main__":
    sys.exit(main())
